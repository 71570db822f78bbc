"""Application logs (docs/app-logs.md) end to end: a real berthd, a real
berth-runner, the real Docker engine.

AppLogs (this file's quick half): containers started here with berth's
labels (berth.app, berth.deployment, berth.runner = the runner's state
dir) FROM the busybox fixture image, so the runner collects them as it
collects a deployed app's:
- lines come back in order with since/until/tail/q/stream/deployment,
  as text and as NDJSON; a line over 64 KiB is split and marked; invalid
  UTF-8 is replaced;
- the runner killed -9 mid-stream and started again: no line lost, none
  twice; a container restarted: its lines go on;
- follow sees a line within 1 s of the app printing it;
- the store's disk use reaches the server's metrics (logs_bytes);
- retention by size trims the oldest segment;
- hostile query parameters are 400 with a message; another org's app is
  404; a viewer may read (deploy:read); no token 401; a server whose
  runner is gone answers 503 with the reason.
AppLogsDeploy (test_app_logs_deploy.py) redeploys a real app through the
pipeline.
"""
import http.client
import json
import os
import signal
import subprocess
import time
import unittest
import uuid

from harness import BERTH, RUNNER, RunnerCase, docker_ok, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def docker(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check)


@unittest.skipUnless(docker_ok(), "needs Docker")
class AppLogs(RunnerCase):
    state_prefix = "berth-al-"
    runner_env = {"BERTH_APPLOGS_LIST_MS": "300"}

    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(ROOT, "scripts", "test-fixtures.sh")], check=True,
                       capture_output=True)

    def setUp(self):
        self.saved_env = dict(os.environ)
        os.environ.update(self.runner_env)
        try:
            super().setUp()
        finally:
            os.environ.clear()
            os.environ.update(self.saved_env)
        self.tag = uuid.uuid4().hex[:8]
        self.made = []
        r = self.api("POST", "/apps", {"name": "web", "server": "host-1",
                                       "repo_url": "https://git.example.com/web.git",
                                       "container_port": 8080})
        self.assertEqual(r.status, 201, r)
        self.app_id = r.json["id"]

    def tearDown(self):
        for name in self.made:
            docker("rm", "-f", name, check=False)
        # the runner stopped here, so its log can be read for a sanitizer
        # report (an ASan build) before the state dir goes
        if self.runner.poll() is None:
            self.runner.send_signal(signal.SIGTERM)
            try:
                self.runner.wait(15)
            except subprocess.TimeoutExpired:
                self.runner.kill()
                self.runner.wait()
        with open(self.runner_log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        super().tearDown()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(bad, text, text[-4000:])

    # --- helpers ---

    def state_dir(self):
        return os.path.join(self.state.name, "state")

    def run_app(self, script, deployment=1, name=None, app_id=None, tty=False):
        name = name or "berth-al-%s-%d" % (self.tag, len(self.made))
        args = ["run", "-d", "--name", name,
                "--label", "berth.app=%d" % (app_id or self.app_id),
                "--label", "berth.deployment=%d" % deployment,
                "--label", "berth.runner=" + self.state_dir()]
        if tty:
            args.append("-t")
        docker(*(args + ["berth-fixture-base", "/bin/sh", "-c", script]))
        self.made.append(name)
        return name

    def logs(self, query="", token=None, accept=None):
        h = {"Accept": accept} if accept else None
        return self.b.request("GET", self.org + "/apps/web/logs" + query, token=token or self.tok,
                              headers=h)

    def lines(self, query=""):
        r = self.logs(query)
        self.assertEqual(r.status, 200, r)
        return r.body.splitlines() if isinstance(r.body, str) else r.body.decode().splitlines()

    def records(self, query=""):
        sep = "&" if "?" in query else "?"
        r = self.logs(query + sep + "format=ndjson")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["content-type"].startswith("application/x-ndjson"), r.headers)
        body = r.body if isinstance(r.body, str) else r.body.decode()
        return [json.loads(l) for l in body.splitlines() if l.strip()]

    def wait_lines(self, query, n, timeout=40):
        got = wait_for(lambda: len(self.lines(query)) >= n or None, timeout, 0.2)
        self.assertTrue(got, "fewer than %d lines for %s: %s\n%s" % (
            n, query, self.lines(query)[-5:], self.logs_text()))

    def logs_text(self):
        return RunnerCase.logs(self)

    def restart_runner(self, sig=signal.SIGTERM):
        self.runner.send_signal(sig)
        self.runner.wait(15)
        env = dict(os.environ, **self.runner_env)
        with open(self.runner_log, "ab") as log:
            self.runner = subprocess.Popen(
                [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % self.b.port, "--state-dir",
                 self.state_dir(), "--min-free-disk", "0"], env=env, stdout=log, stderr=log)
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/host-1").json["status"]
                                 == "ACTIVE", 20), self.logs_text())

    # --- tests ---

    def test_lines_filters_and_formats(self):
        self.run_app("i=0; while [ $i -lt 50 ]; do i=$((i+1)); echo out $i; "
                     "[ $((i % 10)) -eq 0 ] && echo err $i needle >&2; done; sleep 3600")
        self.wait_lines("", 55)
        lines = self.lines("")
        outs = [l for l in lines if l.startswith("out ")]
        self.assertEqual(outs, ["out %d" % i for i in range(1, 51)])
        self.assertEqual(self.lines("?q=needle"), ["err %d needle" % i for i in (10, 20, 30, 40, 50)])
        self.assertEqual(self.lines("?q=err%2010+needle"), ["err 10 needle"])  # URL-decoded
        # re: a POSIX extended regular expression, with q and the other filters
        self.assertEqual(self.lines("?re=%5Eerr%20%5B13%5D0%20"), ["err 10 needle", "err 30 needle"])
        self.assertEqual(self.lines("?re=%5Eout%20(7%7C1%5B12%5D)%24&q=out"),
                         ["out 7", "out 11", "out 12"])
        self.assertEqual(self.lines("?re=needle%24&stream=stderr&tail=1"), ["err 50 needle"])
        self.assertEqual(self.lines("?re=%5Eout%20%5B0-9%5D%7B3%7D"), [])
        self.assertEqual(self.lines("?stream=stderr&tail=2"), ["err 40 needle", "err 50 needle"])
        self.assertEqual(self.lines("?tail=3&stream=stdout"), ["out 48", "out 49", "out 50"])
        self.assertEqual(self.lines("?deployment=2"), [])
        self.assertEqual(len(self.lines("?deployment=1")), 55)
        recs = self.records("?tail=1&stream=stdout")
        self.assertEqual(len(recs), 1)
        rec = recs[0]
        self.assertEqual((rec["text"], rec["stream"], rec["deployment"]), ("out 50", "stdout", 1))
        self.assertTrue(rec["time"].endswith("Z") and len(rec["container"]) == 12, rec)
        # since/until by the lines' own times (ns precision) and by RFC 3339
        allr = self.records("")
        t10 = allr[9]["ts"]
        sub = self.records("?since=%d.%09d&until=%d.%09d" % (t10 // 10**9, t10 % 10**9,
                                                          t10 // 10**9, t10 % 10**9))
        self.assertIn(allr[9]["text"], [x["text"] for x in sub])
        self.assertTrue(all(x["ts"] == t10 for x in sub))
        self.assertEqual(self.lines("?since=" + allr[-1]["time"].replace(":", "%3A"))[-1:],
                         [allr[-1]["text"]])
        self.assertEqual(self.lines("?until=2001-01-01T00:00:00Z"), [])
        self.assertEqual(len(self.lines("?since=1h")), 55)
        # Accept picks NDJSON too; a limit truncates with a last word
        r = self.logs("?tail=2", accept="application/x-ndjson")
        self.assertTrue(r.headers["content-type"].startswith("application/x-ndjson"))
        lines = self.lines("?limit=5")
        self.assertEqual(len(lines), 6)
        self.assertTrue(lines[-1].startswith("berth: more lines match"), lines)

    def test_disk_use_in_server_metrics(self):
        # the store's bytes on disk reach the server's metrics (heartbeat
        # logs_bytes, counted at most every 10 s) and the CLI
        self.run_app("i=0; while [ $i -lt 200 ]; do i=$((i+1)); echo disk line $i; done; "
                     "sleep 3600")
        self.wait_lines("?q=disk%20line", 200)

        def logs_bytes():
            m = self.api("GET", "/servers/host-1").json.get("metrics") or {}
            return m.get("logs_bytes") or None
        n = wait_for(logs_bytes, 40, 0.5)
        self.assertTrue(n and n > 0, self.api("GET", "/servers/host-1").json)
        appdir = os.path.join(self.state_dir(), "applogs", str(self.app_id))
        on_disk = sum(os.path.getsize(os.path.join(appdir, f)) for f in os.listdir(appdir)
                      if f.endswith(".seg"))
        self.assertLessEqual(n, on_disk)
        r = self.cli("server", "show", "host-1")
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("app logs ", r.stdout)

    def test_long_lines_and_bad_utf8(self):
        # 70,000 bytes on one line, then a byte that is not UTF-8
        self.run_app("i=0; s=x; while [ $i -lt 16 ]; do s=$s$s; i=$((i+1)); done; "
                     "echo ${s}${s:0:4464}; printf 'bad \\377 byte\\n'; echo done; sleep 3600")
        self.wait_lines("?q=done", 1)
        recs = self.records("")
        self.assertEqual(len(recs), 4, [(len(r["text"]), r.get("partial")) for r in recs])
        self.assertEqual((len(recs[0]["text"]), recs[0].get("partial")), (65536, True))
        self.assertEqual(len(recs[1]["text"]), 70000 - 65536)
        self.assertNotIn("partial", recs[1])
        # Docker's json-file driver already replaces it (U+FFFD); the runner
        # would put '?' (logparse.c, unit-fuzzed): either way, valid UTF-8
        self.assertIn(recs[2]["text"], ("bad ? byte", "bad \ufffd byte"))

    def test_runner_killed_and_restarted(self):
        c = self.run_app("i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.02; done")
        self.wait_lines("?q=tick", 30)
        self.restart_runner(signal.SIGKILL)  # mid-stream, with a block not yet written
        time.sleep(2)
        self.restart_runner(signal.SIGKILL)
        time.sleep(1)
        docker("restart", "-t", "0", c)  # the container restarts: its count starts over
        time.sleep(1.5)
        self.restart_runner(signal.SIGTERM)
        time.sleep(2)
        docker("stop", "-t", "0", c)
        # stopped while the runner looks away: its last lines still come
        time.sleep(1)
        texts = [l for l in self.lines("") if l.startswith("tick ")]
        seen = [int(t.split()[1]) for t in texts]
        # two runs of the container: 1..a then 1..b, each without a gap or a twin
        cut = next(i for i in range(1, len(seen)) if seen[i] == 1)
        first, second = seen[:cut], seen[cut:]
        self.assertEqual(first, list(range(1, len(first) + 1)), self.logs_text())
        self.assertEqual(second, list(range(1, len(second) + 1)), self.logs_text())
        self.assertGreater(len(first), 30)
        # what docker itself kept agrees, line for line
        dk = [l for l in docker("logs", c).stdout.splitlines() if l.startswith("tick ")]
        self.assertEqual(texts, dk)

    def test_follow_latency(self):
        fifo_dir = self.state.name
        self.run_app("i=0; while :; do i=$((i+1)); echo beat $i; sleep 0.25; done")
        self.wait_lines("", 2)
        conn = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=10)
        conn.request("GET", self.org + "/apps/web/logs?follow=1&tail=1&format=ndjson",
                     headers={"Authorization": "Bearer " + self.tok})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        lags = []
        deadline = time.time() + 6
        while time.time() < deadline:
            line = resp.readline()
            self.assertTrue(line, "the follow ended")
            rec = json.loads(line)
            lags.append(time.time() - rec["ts"] / 1e9)
        conn.close()
        self.assertGreater(len(lags), 10, lags)
        self.assertLess(max(lags[2:]), 1.0, lags)
        del fifo_dir

    def test_retention_by_size(self):
        pass  # AppLogsSmall below

    def cli_env(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env.update(HOME=self.state.name, BERTH_CONFIG=os.path.join(self.state.name, "c.json"),
                   BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org)
        return env

    def cli(self, *args, timeout=30):
        return subprocess.run([BERTH] + list(args), capture_output=True, text=True,
                              env=self.cli_env(), timeout=timeout)

    def test_cli(self):
        # stdout and stderr are copied by two goroutines in dockerd: only
        # lines some time apart have a sure order
        self.run_app("echo one; echo two needle; sleep 0.5; echo three >&2; sleep 3600")
        self.wait_lines("", 3)
        r = self.cli("app", "logs", "web")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "one\ntwo needle\n", "three\n"))
        r = self.cli("app", "logs", "web", "--tail", "1")
        self.assertEqual((r.stdout, r.stderr), ("", "three\n"))
        r = self.cli("app", "logs", "web", "--grep", "two needle", "--since", "1h")
        self.assertEqual(r.stdout, "two needle\n", r)
        r = self.cli("app", "logs", "web", "--regex", "^t(wo|hree)")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "two needle\n", "three\n"))
        r = self.cli("app", "logs", "web", "--regex", "(o)\\1")
        self.assertEqual(r.returncode, 2, r)
        self.assertIn("back-references", r.stderr)
        r = self.cli("app", "logs", "web", "--deployment", "1", "--json")
        self.assertEqual(r.returncode, 0, r)
        doc = json.loads(r.stdout)
        self.assertEqual([i["text"] for i in doc["data"]["items"]], ["one", "two needle", "three"])
        r = self.cli("app", "logs", "web", "--tail", "x")
        self.assertNotEqual(r.returncode, 0)
        r = self.cli("app", "logs", "nope")
        self.assertEqual(r.returncode, 4, r)
        # -f: the history asked for, then new lines as they come
        c = self.run_app("sleep 2; echo later; sleep 3600", deployment=2)
        p = subprocess.Popen([BERTH, "app", "logs", "web", "-f", "--deployment", "2"],
                             stdout=subprocess.PIPE, text=True, env=self.cli_env())
        try:
            self.assertEqual(p.stdout.readline(), "later\n")
        finally:
            p.kill()
            p.wait()
            p.stdout.close()
        del c

    def test_hostile_queries(self):
        bad = ["?since=yesterday", "?until=2026-13-01T00:00:00Z", "?tail=-1", "?tail=100001",
               "?tail=1e3", "?limit=0", "?q=", "?q=a%09b", "?q=a%01b", "?q=" + "x" * 300,
               "?stream=stdin", "?deployment=abc", "?deployment=-1", "?follow=yes",
               "?format=xml", "?color=1", "?tail=1&tail=2", "?since=2h&until=3h",
               "?follow=1&until=1h", "?since=99999999999999", "?q=%ff%fe",
               "?since=" + "9" * 60,
               # re: not a pattern, back-references, too costly, too long, not text, twice
               "?re=", "?re=(unclosed", "?re=%5Bz-a%5D", "?re=(a)%5C1", "?re=a%7B1,99%7D",
               "?re=a%7B1%7Db%7B1%7Dc%7B1%7D", "?re=" + "x" * 257, "?re=%ff", "?re=a%09",
               "?re=a&re=b", "?re%5B%5D=a"]
        for q in bad:
            try:
                r = self.logs(q)
            except Exception as e:
                self.fail("%s: %s\n%s" % (q, e, self.logs_text()))
            self.assertEqual(r.status, 400, (q, r))
            self.assertEqual(r.json["error"]["code"], "invalid_query", (q, r))
            self.assertTrue(r.json["error"]["message"], (q, r))
        for q, why in (("?re=(a)%5C1", "back-references"), ("?re=(unclosed", "not a regular"),
                       ("?re=a%7B1,99%7D", "up to 16"), ("?re=", "1 to 256")):
            self.assertIn(why, self.logs(q).json["error"]["message"], q)

    def test_access(self):
        self.run_app("echo hello; sleep 3600")
        self.wait_lines("", 1)
        viewer = self.b.add_user(self.tok, self.b.org, "viewer@example.com", "viewer")
        self.assertEqual(self.lines("")[-1], "hello")
        self.assertEqual(self.logs("", token=viewer).status, 200)
        r = self.b.request("GET", self.org + "/apps/web/logs")
        self.assertEqual(r.status, 401, r)
        # another organization's app is 404, with the same name or the id
        r = self.b.request("POST", "/api/v1/orgs", token=self.tok, body={"name": "other"})
        self.assertEqual(r.status, 201, r)
        for ref in ("web", str(self.app_id), "nope"):
            r = self.b.request("GET", "/api/v1/orgs/other/apps/%s/logs" % ref, token=self.tok)
            self.assertEqual(r.status, 404, r)

    def test_unreachable_server_503(self):
        self.runner.send_signal(signal.SIGTERM)
        self.runner.wait(15)
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/host-1").json["status"]
                                 == "UNREACHABLE", 20))
        r = self.logs("")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json["error"]["code"], "server_unreachable")
        self.assertIn("host-1", r.json["error"]["message"])


@unittest.skipUnless(docker_ok(), "needs Docker")
class AppLogsSmall(AppLogs):
    """A runner with a 1 MiB per-app budget in 64 KiB segments, trimmed
    every second. The container's 10 MB of output also crosses Docker's
    json-file rotation (max-size 10m here), where Docker 20.10's follow
    may hang: the runner's idle restart (3 s) reads on from the cursor."""
    state_prefix = "berth-als-"
    runner_env = {"BERTH_APPLOGS_LIST_MS": "300", "BERTH_APPLOGS_MAX_APP_MB": "1",
                  "BERTH_APPLOGS_SEGMENT_KB": "64", "BERTH_APPLOGS_TRIM_S": "1",
                  "BERTH_APPLOGS_IDLE_S": "3"}

    def test_retention_by_size(self):
        # hex of random bytes: compresses about 2:1, so 4 MiB of it is over 1 MiB on disk
        self.run_app("echo first-line; od -An -tx1 -N 1500000 /dev/urandom; echo last-line; "
                     "sleep 3600")
        self.wait_lines("?q=last-line", 1, timeout=60)
        appdir = os.path.join(self.state_dir(), "applogs", str(self.app_id))

        def trimmed():
            segs = sorted(f for f in os.listdir(appdir) if f.endswith(".seg"))
            size = sum(os.path.getsize(os.path.join(appdir, f)) for f in segs)
            return segs if size <= 1 << 20 and segs[0] != "%016x.seg" % 1 else None
        segs = wait_for(trimmed, 20, 0.5)
        self.assertTrue(segs, os.listdir(appdir))
        self.assertEqual(self.lines("?q=first-line"), [])  # the oldest segment went
        self.assertEqual(self.lines("?tail=1"), ["last-line"])

    # the other tests run once, in AppLogs
    test_lines_filters_and_formats = test_long_lines_and_bad_utf8 = None
    test_runner_killed_and_restarted = test_follow_latency = test_hostile_queries = None
    test_access = test_unreachable_server_503 = test_cli = test_disk_use_in_server_metrics = None


if __name__ == "__main__":
    unittest.main()
