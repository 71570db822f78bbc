"""bench/terminal.sh's driver: port, token, runner pid, round trips, MB."""
import json
import sys
import time

from rawrunner import RawRunner

port, token, rpid, n, mb = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                            int(sys.argv[4]), int(sys.argv[5]))
PATH = "/api/v1/orgs/default/servers/term-1/terminal?cols=120&rows=40"


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_term():
    t = RawRunner(port, token, path=PATH, subprotocol="berth-terminal.v1")
    if t.status != 101:
        sys.exit("terminal refused: %d %s" % (t.status, t.body))
    while True:
        op, data = t.recv_frame(10)
        if op == 1 and json.loads(data)["type"] == "opened":
            return t
        if op == 1 and json.loads(data)["type"] == "exit":
            sys.exit("terminal ended: %s" % json.loads(data)["reason"])


def read_until(t, marker, timeout=30):
    got = b""
    deadline = time.time() + timeout
    while marker not in got:
        op, data = t.recv_frame(max(0.1, deadline - time.time()))
        if op == 2:
            got = (got + data)[-4096:]
    return got


idle_rss = rss_kib(rpid)
t = open_term()
# 1. echo round trips: a raw, non-echoing tty and cat -u mirroring bytes
t.send_raw(b"stty raw -echo; echo ready-$((40+2)); exec cat -u\n", 2)
read_until(t, b"ready-42")
time.sleep(0.3)
lat = []
for i in range(n):
    b = bytes([97 + i % 26])
    t0 = time.perf_counter()
    t.send_raw(b, 2)
    got = b""
    while b not in got:
        op, data = t.recv_frame(10)
        if op == 2:
            got += data
    lat.append((time.perf_counter() - t0) * 1000)
lat.sort()
p50, p99 = lat[len(lat) // 2], lat[int(len(lat) * 0.99)]
print("keystroke echo round trip (%d): p50 %.2f ms, p99 %.2f ms (target p99 < 5 ms)"
      % (n, p50, p99))
t.close()

# 2. bulk output through one channel
t = open_term()
t.send_raw(b"stty -echo; echo quiet-$((2+2))\n", 2)
read_until(t, b"quiet-4")
size = mb * 1000 * 1000
t.send_raw(("head -c %d /dev/zero | tr '\\0' x; echo end-$((1+1))\n" % size).encode(), 2)
xs, tail = 0, b""
t0 = time.perf_counter()
while b"end-2" not in tail:
    op, data = t.recv_frame(60)
    if op == 2:
        xs += data.count(b"x")
        tail = (tail + data)[-64:]
dt = time.perf_counter() - t0
if xs != size:
    sys.exit("bulk: %d of %d bytes arrived" % (xs, size))
print("bulk output, one channel: %d MB in %.2f s = %.1f MB/s (target >= 50 MB/s)"
      % (mb, dt, size / 1e6 / dt))
t.close()

# 3. the runner's memory with 10 terminals open
terms = [open_term() for _ in range(10)]
for k, tt in enumerate(terms):
    tt.send_raw(("echo up-%d-$((1))\n" % k).encode(), 2)
    read_until(tt, ("up-%d-1" % k).encode())
time.sleep(1)
print("berth-runner RSS: idle %.2f MiB, with 10 terminals open %.2f MiB (target <= 6 MiB)"
      % (idle_rss / 1024, rss_kib(rpid) / 1024))
for tt in terms:
    tt.close()
