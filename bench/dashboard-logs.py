"""bench/dashboard-logs.py - the log half of bench/dashboard.sh: berthd's CPU
while 20 tabs follow one job's log, and the API meanwhile.

    dashboard-logs.py BASE EMAIL PASSWORD BERTHD_PID SERVER [TABS] [HOLD_S] [LINES_PER_S]

A script job on SERVER (a real berth-runner) prints LINES_PER_S lines a
second (about 100 bytes each) for as long as the bench runs; its log is
what a deployment's is to berthd (a deployment's log is its deploy job's
log, fed by the same job.c intake and the same event-stream
subscription). Then, each over HOLD_S seconds, berthd's CPU (utime +
stime from /proc/PID/stat):

  1. nobody follows the log (the job's intake alone);
  2. TABS real Chromium tabs on the job's page (/o/default/jobs/ID), one
     browser: its SharedWorker holds one event stream and one log
     subscription for all of them; every tab is checked to show the
     newest lines;
  3. TABS event streams opened and subscribed the way a browser without
     SharedWorker drives them (each tab its own stream: GET .../events,
     then POST .../events/{stream}/logs from seq 0), read in full;
  4. TABS `GET .../jobs/ID/logs?follow=1` readers (the CLI's way, and the
     dashboard's before), for comparison;

and during 2 the API targets (bench/api.sh: wrk -t1 -c32 on GET
/api/v1/me for 10 s, >= 20,000 req/s with p99 < 5 ms on 2 cores).
"""
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE, EMAIL, PASSWORD, PID, SERVER = sys.argv[1:6]
PID = int(PID)
TABS = int(sys.argv[6]) if len(sys.argv) > 6 else 20
HOLD = int(sys.argv[7]) if len(sys.argv) > 7 else 30
RATE = int(sys.argv[8]) if len(sys.argv) > 8 else 100
HOST, PORT = BASE.split("//")[1].split(":")
PORT = int(PORT)


def api(method, path, token, body=None):
    req = urllib.request.Request(BASE + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bearer " + token,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def login():
    req = urllib.request.Request(BASE + "/api/v1/auth/login", method="POST",
                                 data=json.dumps({"email": EMAIL, "password": PASSWORD}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())["token"]


def cpu_ticks():
    with open("/proc/%d/stat" % PID) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_pct(seconds, during=None):
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.time(), cpu_ticks()
    out = during() if during else None
    rest = seconds - (time.time() - t0)
    if rest > 0:
        time.sleep(rest)
    return 100.0 * (cpu_ticks() - c0) / hz / (time.time() - t0), out


def prefix(token, job, newest=False):
    """The job's stored log: its last seq and byte count (and its newest
    "line N")."""
    req = urllib.request.Request(BASE + "/api/v1/orgs/default/jobs/%d/logs" % job,
                                 headers={"Authorization": "Bearer " + token,
                                          "Accept": "application/x-ndjson"})
    with urllib.request.urlopen(req) as r:
        body = r.read()
    last, data = 0, ""
    for line in body.splitlines():
        if line.strip():
            c = json.loads(line)
            last, data = c["seq"], c["data"]
    if not newest:
        return last, len(body)
    tail = data[data.rfind("line ", 0, max(0, len(data) - 2)):] if "line " in data else ""
    return last, len(body), tail.split(":")[0]


class Reader(threading.Thread):
    """One HTTP stream read in full off a raw socket: an event stream that
    subscribes itself to the job's log, or a ?follow=1 reader."""

    def __init__(self, token, job, mode):
        super().__init__(daemon=True)
        self.token, self.job, self.mode = token, job, mode
        self.bytes = 0
        self.last_seq = 0
        self.stop = False
        self.error = None

    def run(self):
        try:
            s = socket.create_connection((HOST, PORT), timeout=5)
            path = ("/api/v1/orgs/default/events" if self.mode == "sse" else
                    "/api/v1/orgs/default/jobs/%d/logs?follow=1" % self.job)
            accept = "text/event-stream" if self.mode == "sse" else "application/x-ndjson"
            s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nAccept: %s"
                       "\r\n\r\n" % (path, HOST, self.token, accept)).encode())
            buf = b""
            subscribed = False
            s.settimeout(1)
            while not self.stop:
                try:
                    chunk = s.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    break
                self.bytes += len(chunk)
                buf += chunk
                if self.mode == "sse":
                    while b"\n\n" in buf:
                        block, _, buf = buf.partition(b"\n\n")
                        ev = data = None
                        for line in block.split(b"\n"):
                            if line.startswith(b"event: "):
                                ev = line[7:].decode()
                            elif line.startswith(b"data: "):
                                data = line[6:]
                        if ev == "hello" and not subscribed:
                            sid = json.loads(data)["stream"]
                            api("POST", "/api/v1/orgs/default/events/%d/logs" % sid, self.token,
                                {"job": self.job, "after": 0})
                            subscribed = True
                        elif ev == "log":
                            self.last_seq = max(self.last_seq, json.loads(data)["seq"])
                else:
                    lines = buf.split(b"\n")
                    buf = lines.pop()
                    for line in lines:
                        if line.startswith(b"{") and b'"seq"' in line:
                            try:
                                self.last_seq = max(self.last_seq, json.loads(line)["seq"])
                            except ValueError:
                                pass
            s.close()
        except Exception as e:  # noqa: BLE001 - reported
            self.error = repr(e)


def readers(token, job, mode, seconds):
    rs = [Reader(token, job, mode) for _ in range(TABS)]
    for r in rs:
        r.start()
    time.sleep(3)  # connected and caught up with what was stored
    pct, _ = cpu_pct(seconds)
    last, _ = prefix(token, job)
    for r in rs:
        r.stop = True
    for r in rs:
        r.join(5)
    behind = [max(0, last - r.last_seq) for r in rs]
    errors = [r.error for r in rs if r.error]
    return pct, sum(r.bytes for r in rs), max(behind), errors


def wrk(token):
    lua = "/tmp/berth-dashlogs-%d.lua" % os.getpid()
    with open(lua, "w") as f:
        f.write('wrk.headers["Authorization"] = "Bearer %s"\n' % token)
    try:
        out = subprocess.run(["wrk", "-t1", "-c32", "-d10s", "--latency", "-s", lua,
                              BASE + "/api/v1/me"], capture_output=True, text=True).stdout
    finally:
        os.unlink(lua)
    rps = p99 = "?"
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            rps = line.split()[1]
        if line.strip().startswith("99%"):
            p99 = line.split()[1]
    return rps, p99


def browser():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(90)
    return drv


def metric(name):
    with urllib.request.urlopen(BASE + "/metrics") as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    return None


def main():
    token = login()
    body = ("i=0; while :; do i=$((i+1)); echo \"line $i: the quick brown fox jumps over the lazy "
            "dog, 0123456789 abcdefghij\"; [ $((i %% %d)) = 0 ] && sleep 0.1; done"
            % max(1, RATE // 10))
    api("POST", "/api/v1/orgs/default/scripts", token, {"name": "bench-log", "body": body})
    job = api("POST", "/api/v1/orgs/default/scripts/bench-log/runs", token,
              {"server": SERVER, "timeout_s": 3600})["id"]
    time.sleep(5)
    s0, b0 = prefix(token, job)
    t0 = time.time()
    pct0, _ = cpu_pct(HOLD)
    s1, b1 = prefix(token, job)
    rate = (s1 - s0) / (time.time() - t0)
    print("job %d prints about %d lines/s; stored %.1f chunks/s, %.1f KB/s of NDJSON" %
          (job, RATE, rate, (b1 - b0) / 1000 / (time.time() - t0)))
    print("berthd CPU, the job's log with nobody following, %d s: %.1f %%" % (HOLD, pct0))
    rps0, p990 = wrk(token)
    print("  then wrk GET /api/v1/me (-t1 -c32, 10 s), no tab open: %s req/s, p99 %s" % (rps0, p990))

    drv = browser()
    try:
        drv.get(BASE + "/login")
        WebDriverWait(drv, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#login-form"))
        drv.find_element(By.CSS_SELECTOR, "#login-form input[name=email]").send_keys(EMAIL)
        drv.find_element(By.CSS_SELECTOR, "#login-form input[name=password]").send_keys(PASSWORD)
        drv.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
        WebDriverWait(drv, 90).until(lambda d: "/login" not in d.current_url)
        page = BASE + "/o/default/jobs/%d" % job
        drv.get(page)
        for _ in range(TABS - 1):
            drv.switch_to.new_window("tab")
            drv.get(page)
        for h in drv.window_handles:
            drv.switch_to.window(h)
            WebDriverWait(drv, 90).until(lambda d: "line " in d.find_element(By.ID, "log").text)
        time.sleep(3)
        streams = metric("berth_event_streams")
        pct, _ = cpu_pct(HOLD)
        rps, p99 = wrk(token)
        last, _, newest = prefix(token, job, True)
        time.sleep(2)
        behind = []
        for h in drv.window_handles:  # each tab shows the log up to its newest lines
            drv.switch_to.window(h)
            time.sleep(0.3)  # a tab shown draws what it queued (one append a frame)
            text = drv.execute_script("const t = document.getElementById('log').textContent;"
                                      " return t.slice(t.lastIndexOf('line ', t.length - 2))")
            behind.append(text.split(":")[0])
        print("%d Chromium tabs on the job's page (one browser): %s event stream(s) open" %
              (len(drv.window_handles), int(streams) if streams is not None else "?"))
        print("berthd CPU, %d tabs following the log, %d s: %.1f %% (%.1f %% over nobody following)"
              % (len(drv.window_handles), HOLD, pct, pct - pct0))
        print("  meanwhile wrk GET /api/v1/me (-t1 -c32, 10 s): %s req/s, p99 %s"
              " (target >= 20,000 req/s, p99 < 5 ms)" % (rps, p99))
        print("  each tab's newest line, read one tab after the other from 2 s after the"
              " stored log's newest was %s: %s" % (newest, ", ".join(behind)))
    finally:
        drv.quit()

    for mode, label in (("sse", "event streams, each subscribed (a browser without SharedWorker)"),
                        ("follow", "?follow=1 readers (the CLI's way)")):
        pct, nbytes, behind, errors = readers(token, job, mode, HOLD)
        print("berthd CPU, %d %s, %d s: %.1f %% (%.1f %% over nobody following); %.1f MB read,"
              " the furthest behind %d chunks at the end%s"
              % (TABS, label, HOLD, pct, pct - pct0, nbytes / 1e6, behind,
                 ("; errors: %s" % errors[:3]) if errors else ""))
    # the job runs on until bench/dashboard.sh stops the runner


if __name__ == "__main__":
    main()
