#!/usr/bin/env bash
# bench/job-latency.sh - a script job's round trip with a real runner.
#
#   bench/job-latency.sh [RUNS]        (default 50)
#
# Starts a fresh berthd (SQLite, temp dir, loopback) and a real
# berth-runner registered to it, creates a script `true`, then runs it
# RUNS times one after another: POST .../scripts/{id}/runs, then GET the
# job every 2 ms over one kept-alive connection until it is SUCCEEDED.
# Prints p50/p90/max of POST sent -> SUCCEEDED seen: dispatch, fork/exec
# of /bin/sh, the exit noticed, job.done back and stored (plus up to 2 ms
# of polling).
#
# Env: BUILD (default build), BERTHD, RUNNER.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
BUILD=${BUILD:-build}
BERTHD=${BERTHD:-$BUILD/berthd}
RUNNER=${RUNNER:-$BUILD/berth-runner}
PY=/usr/bin/python3
[ -x "$BERTHD" ] && [ -x "$RUNNER" ] || {
  echo "build first: make build (or cmake -S . -B $BUILD && make -C $BUILD berthd berth-runner)" >&2; exit 1; }

. bench/lib.sh
bench_tmp joblat
bench_berthd "$BERTHD"
token=$(bench_login)
bench_runner "$RUNNER" lat-1 "$token"

echo "== script job round trip: $RUNS runs of \`true\`, one at a time"
echo "machine: $(nproc) cores, $(uname -r); runner: $RUNNER"
$PY - "$port" "$token" "$sid" "$RUNS" <<'PYEOF'
import http.client, json, sys, time
port, token, sid, runs = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
H = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
def call(method, path, body=None):
    c.request(method, "/api/v1/orgs/default" + path, body=json.dumps(body) if body else None, headers=H)
    r = c.getresponse()
    return r.status, json.loads(r.read() or b"null")
t0 = time.time()
while call("GET", "/servers/%d" % sid)[1]["status"] != "ACTIVE":
    if time.time() - t0 > 60:
        sys.exit("the runner did not turn ACTIVE in 60 s")
    time.sleep(0.1)
st, sc = call("POST", "/scripts", {"name": "noop", "body": "true"})
assert st == 201, sc
lat = []
for i in range(runs + 3):
    t = time.perf_counter()
    st, job = call("POST", "/scripts/%d/runs" % sc["id"], {"server": sid})
    assert st == 201, job
    while True:
        j = call("GET", "/jobs/%d" % job["id"])[1]
        if j["status"] in ("SUCCEEDED", "FAILED"):
            break
        time.sleep(0.002)
    assert j["status"] == "SUCCEEDED", j
    if i >= 3:  # the first runs warm caches
        lat.append((time.perf_counter() - t) * 1000)
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("POST sent -> SUCCEEDED seen: n=%d p50 %.1f ms  p90 %.1f ms  max %.1f ms"
      % (len(lat), pick(0.5), pick(0.9), lat[-1]))
PYEOF
