"""The runner link end to end: a real berthd and the real berth-runner.

Registration (and refused reuse / expiry), liveness (kill -9, SIGSTOP /
SIGCONT, berthd restart), a script run with its output streamed live and
every seq stored once and in order.
"""
import http.client
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Berthd, BERTHD

RUNNER = os.environ.get("BERTH_RUNNER",
                        os.path.join(os.path.dirname(BERTHD), "berth-runner"))
HB = 1  # heartbeat seconds berthd tells runners to keep


def wait_for(fn, timeout, step=0.05):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.time() > deadline:
            return v
        time.sleep(step)


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
class RunnerLink(unittest.TestCase):
    def setUp(self):
        self.b = Berthd(env={"BERTH_HEARTBEAT_S": str(HB)}).start()
        self.tok = self.b.login()
        self.org = "/api/v1/orgs/%s" % self.b.org
        self.state = tempfile.TemporaryDirectory(prefix="berth-runner-")
        self.runners = []

    def tearDown(self):
        for p in self.runners:
            if p.poll() is None:
                p.send_signal(signal.SIGCONT)
                p.kill()
                p.wait()
        self.b.close()
        self.state.cleanup()

    # helpers

    def api(self, method, path, body=None, headers=None):
        return self.b.request(method, self.org + path, token=self.tok, body=body,
                              headers=headers)

    def add_server(self, name="web-1", **kw):
        r = self.api("POST", "/servers", dict(name=name, **kw))
        self.assertEqual(r.status, 201, r)
        return r.json

    def runner(self, token=None, state=None, cwd=None, url=None):
        env = dict(os.environ)
        if token:
            env["BERTH_RUNNER_TOKEN"] = token
        args = [RUNNER, "--url", url or "ws://127.0.0.1:%d/runner/v1" % self.b.port,
                "--state-dir", state or self.state.name, "--min-free-disk", "0"]
        log = open(os.path.join(self.b.tmp.name, "runner-%d.log" % len(self.runners)), "ab")
        p = subprocess.Popen(args, env=env, stdout=log, stderr=log, cwd=cwd)
        log.close()
        self.runners.append(p)
        return p

    def logs(self):
        out = "berthd:\n" + self.b.log_text()[-4000:]
        for i in range(len(self.runners)):
            with open(os.path.join(self.b.tmp.name, "runner-%d.log" % i), "rb") as f:
                out += "\nrunner %d:\n" % i + f.read().decode("utf-8", "replace")[-3000:]
        return out

    def server(self, sid):
        r = self.api("GET", "/servers/%d" % sid)
        self.assertEqual(r.status, 200, r)
        return r.json

    def status_is(self, sid, status):
        return self.server(sid)["status"] == status

    def register(self):
        s = self.add_server()
        p = self.runner(s["registration_token"])
        self.assertTrue(wait_for(lambda: self.status_is(s["id"], "ACTIVE"), 10),
                        self.server(s["id"]))
        return s, p

    def upgrade(self, secret):
        """A raw WebSocket upgrade to /runner/v1: returns (status, body)."""
        c = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=10)
        try:
            c.request("GET", "/runner/v1", headers={
                "Upgrade": "websocket", "Connection": "Upgrade",
                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version": "13",
                "Sec-WebSocket-Protocol": "berth-runner.v1",
                "Authorization": "Bearer " + secret})
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace")
        finally:
            c.close()

    # tests

    def test_registration_then_token_reuse_refused(self):
        s, p = self.register()
        got = self.server(s["id"])
        self.assertTrue(got["registered"])
        self.assertTrue(got["connected"])
        self.assertIsNotNone(got["fingerprint"])
        self.assertTrue(got["precheck"]["ok"])
        cred = os.path.join(self.state.name, "credential")
        self.assertEqual(os.stat(cred).st_mode & 0o777, 0o600)
        # the one-time token is spent
        status, body = self.upgrade(s["registration_token"])
        self.assertEqual(status, 401)
        self.assertIn("already used", body)
        other = tempfile.TemporaryDirectory(prefix="berth-runner-")
        try:
            q = self.runner(s["registration_token"], state=other.name)
            self.assertEqual(q.wait(15), 3)
        finally:
            other.cleanup()
        # a bogus credential is refused too
        self.assertEqual(self.upgrade("brc_nope")[0], 401)
        # the state transition is audited
        a = self.api("GET", "/audit?action=server.status")
        self.assertEqual(a.status, 200, a)
        self.assertTrue(any(e["target"] == "server:%d" % s["id"] for e in a.json["items"]))

    def test_expired_token_refused(self):
        s = self.add_server(expires_in=1)
        time.sleep(2.1)
        status, body = self.upgrade(s["registration_token"])
        self.assertEqual(status, 401)
        self.assertIn("expired", body)
        self.assertEqual(self.runner(s["registration_token"]).wait(15), 3)
        self.assertEqual(self.server(s["id"])["status"], "PROVISIONING")

    def test_kill_marks_unreachable_at_once(self):
        s, p = self.register()
        p.kill()
        t0 = time.time()
        self.assertTrue(wait_for(lambda: self.status_is(s["id"], "UNREACHABLE"), 1.0))
        self.assertLess(time.time() - t0, 1.0)
        got = self.server(s["id"])
        self.assertFalse(got["connected"])
        self.assertIn("closed", got["status_reason"])
        # it comes back on its credential
        self.runner()
        self.assertTrue(wait_for(lambda: self.status_is(s["id"], "ACTIVE"), 10))

    def test_silent_runner_unreachable_then_back(self):
        s, p = self.register()
        p.send_signal(signal.SIGSTOP)
        t0 = time.time()
        # 3 missed beats, plus the 1 s sweep and the beat already in flight
        self.assertTrue(wait_for(lambda: self.status_is(s["id"], "UNREACHABLE"), 3 * HB + 2))
        self.assertLessEqual(time.time() - t0, 3 * HB + 2)
        self.assertIn("no heartbeat", self.server(s["id"])["status_reason"])
        p.send_signal(signal.SIGCONT)
        self.assertTrue(wait_for(lambda: self.status_is(s["id"], "ACTIVE"), 20),
                        self.logs())

    def test_berthd_restart_active_again(self):
        s, p = self.register()
        self.b.stop()
        self.b.start()
        self.tok = self.b.login()
        # ACTIVE right after the restart (grace) and still after the grace
        # because the runner reconnected on its credential
        self.assertTrue(wait_for(lambda: self.server(s["id"])["connected"], 10))
        time.sleep(3 * HB + 1.5)
        got = self.server(s["id"])
        self.assertEqual(got["status"], "ACTIVE", got)
        self.assertTrue(got["connected"])

    def test_script_run_streams_output_in_order(self):
        s, p = self.register()
        body = "for i in $(seq 1 40); do echo line $i; sleep 0.02; done; echo oops >&2; exit 4"
        sc = self.api("POST", "/scripts", {"name": "count", "body": body})
        self.assertEqual(sc.status, 201, sc)
        t0 = time.time()
        r = self.api("POST", "/scripts/count/runs", {"server": s["id"]})
        self.assertEqual(r.status, 201, r)
        job = r.json["id"]
        # follow the log live, as NDJSON
        c = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=30)
        c.request("GET", "%s/jobs/%d/logs?follow=1" % (self.org, job),
                  headers={"Authorization": "Bearer " + self.tok,
                           "Accept": "application/x-ndjson"})
        resp = c.getresponse()
        self.assertEqual(resp.status, 200)
        self.assertIn("ndjson", resp.getheader("content-type"))
        lines = [json.loads(l) for l in resp.read().decode().splitlines() if l.strip()]
        c.close()
        self.assertLess(time.time() - t0, 20)
        seqs = [l["seq"] for l in lines]
        self.assertEqual(seqs, list(range(1, len(seqs) + 1)))
        out = "".join(l["data"] for l in lines if l["stream"] == "stdout")
        self.assertEqual(out, "".join("line %d\n" % i for i in range(1, 41)))
        self.assertIn("oops", "".join(l["data"] for l in lines if l["stream"] == "stderr"))
        j = self.api("GET", "/jobs/%d" % job).json
        self.assertEqual(j["status"], "FAILED")
        self.assertEqual(j["exit_code"], 4)
        # the stored log is the same, once each
        whole = self.api("GET", "/jobs/%d/logs" % job,
                         headers={"Accept": "application/x-ndjson"})
        stored = [json.loads(l) for l in whole.body.splitlines() if l.strip()]
        self.assertEqual([l["seq"] for l in stored], seqs)
        text = self.api("GET", "/jobs/%d/logs" % job)
        self.assertIn("line 40\n", text.body)
        m = self.b.request("GET", "/metrics").body
        self.assertIn('berth_jobs{status="FAILED"} 1', m)
        self.assertIn("berth_runners_connected 1", m)

    def run_script(self, sid, name, body, **kw):
        """Creates script NAME, runs it on server SID, waits for the end;
        returns (job, stdout text, stderr text)."""
        sc = self.api("POST", "/scripts", {"name": name, "body": body})
        self.assertEqual(sc.status, 201, sc)
        r = self.api("POST", "/scripts/%s/runs" % name, dict({"server": sid}, **kw))
        self.assertEqual(r.status, 201, r)
        job = r.json["id"]
        j = wait_for(lambda: (lambda x: x if x["status"] in ("SUCCEEDED", "FAILED") else None)(
            self.api("GET", "/jobs/%d" % job).json), 30)
        self.assertTrue(j, self.logs())
        whole = self.api("GET", "/jobs/%d/logs" % job, headers={"Accept": "application/x-ndjson"})
        lines = [json.loads(l) for l in whole.body.splitlines() if l.strip()]
        self.assertEqual([l["seq"] for l in lines], list(range(1, len(lines) + 1)))
        out = "".join(l["data"] for l in lines if l["stream"] == "stdout")
        err = "".join(l["data"] for l in lines if l["stream"] == "stderr")
        return j, out, err

    def test_script_timeout_signal_utf8_and_volume(self):
        """What a script job reports: a timeout kills its whole process
        group, a signal is named, a character split across two writes
        arrives whole, and 2 MB of output arrive complete (chunked)."""
        s, p = self.register()
        marker = "sleep %d" % (300000 + os.getpid() % 100000)  # a command line of its own
        # timeout: the background child in the same group goes too
        j, out, _ = self.run_script(
            s["id"], "slow", "%s & echo started; pgrep -f '%s' >/dev/null && echo seen; sleep 30"
            % (marker, marker), timeout_s=1)
        self.assertEqual(j["status"], "FAILED")
        self.assertIn("timed out after 1 s", j["error"])
        self.assertIn("started\nseen\n", out)
        self.assertTrue(wait_for(lambda: subprocess.run(["pgrep", "-f", marker],
                                                        capture_output=True).returncode == 1, 10),
                        "the script's background child outlived the timeout")
        # a signal is reported as such
        j, _, _ = self.run_script(s["id"], "selfkill", "echo bye; kill -9 $$")
        self.assertEqual(j["status"], "FAILED")
        self.assertEqual(j["exit_code"], 137)
        self.assertIn("killed by signal 9", j["error"])
        # a multi-byte character cut between two reads
        j, out, _ = self.run_script(s["id"], "euro", r"printf '\342\202'; sleep 0.3; printf '\254\n'")
        self.assertEqual(j["status"], "SUCCEEDED", out)
        self.assertEqual(out, "\u20ac\n")
        # volume: every byte, in job.log chunks of at most 16 KiB
        j, out, _ = self.run_script(s["id"], "bulk", "head -c 2000000 /dev/zero | tr '\\0' a; echo")
        self.assertEqual(j["status"], "SUCCEEDED")
        self.assertEqual(out, "a" * 2000000 + "\n")

    def test_output_after_the_script_exits_is_kept(self):
        """The script exits while a child it left keeps writing for 3 s:
        every line comes (the end waits for the pipes while output still
        comes, not a fixed 2 s after the exit: output waiting in the pipe
        while the runner paused reading for a slow link was cut that way);
        a child that holds the pipes and writes nothing ends it 2 s later."""
        s, p = self.register()
        j, out, _ = self.run_script(
            s["id"], "late", "(for i in 1 2 3; do sleep 1; echo late-$i; done) & echo main")
        self.assertEqual(j["status"], "SUCCEEDED", out)
        self.assertEqual(out, "main\nlate-1\nlate-2\nlate-3\n")
        t0 = time.time()
        j, out, _ = self.run_script(s["id"], "holder", "(exec sleep 20) & echo main")
        self.assertEqual(out, "main\n")
        self.assertLess(time.time() - t0, 15, "a silent child holding the pipes kept the job")

    def test_relative_state_dir(self):
        """A relative --state-dir is resolved at start: a script job (run in
        STATE/work, naming its script by path) still finds its script."""
        s = self.add_server()
        os.mkdir(os.path.join(self.state.name, "var"))
        p = self.runner(s["registration_token"], state="./var/runner", cwd=self.state.name)
        self.assertTrue(wait_for(lambda: self.status_is(s["id"], "ACTIVE"), 10), self.logs())
        sc = self.api("POST", "/scripts", {"name": "pwd", "body": "pwd; echo ran"})
        self.assertEqual(sc.status, 201, sc)
        r = self.api("POST", "/scripts/pwd/runs", {"server": s["id"]})
        self.assertEqual(r.status, 201, r)
        job = r.json["id"]
        j = wait_for(lambda: (lambda x: x if x["status"] in ("SUCCEEDED", "FAILED") else None)(
            self.api("GET", "/jobs/%d" % job).json), 20)
        text = self.api("GET", "/jobs/%d/logs" % job).body
        self.assertEqual(j and j["status"], "SUCCEEDED", (j, text, self.logs()))
        work = os.path.join(os.path.realpath(self.state.name), "var", "runner", "work")
        self.assertIn(work + "\nran\n", text)
        self.assertNotIn("cannot open", text)
        # the runner says where its state is, absolute
        with open(os.path.join(self.b.tmp.name, "runner-0.log"), "rb") as f:
            self.assertIn(b"(state " + os.path.realpath(os.path.join(self.state.name, "var", "runner")).encode()
                          + b")", f.read())
        self.assertTrue(os.path.exists(os.path.join(self.state.name, "var", "runner", "credential")))

    def test_url_as_a_person_types_it(self):
        """--url http://HOST:PORT (berthd's base URL, what `make up` prints)
        registers like ws://HOST:PORT/runner/v1; a path prefix goes before
        /runner/v1; what is not a URL is a usage error (exit 2)."""
        s = self.add_server()
        p = self.runner(s["registration_token"], url="http://127.0.0.1:%d/" % self.b.port)
        self.assertTrue(wait_for(lambda: self.status_is(s["id"], "ACTIVE"), 10), self.logs())
        with open(os.path.join(self.state.name, "state.json")) as f:
            self.assertEqual(json.load(f)["url"], "ws://127.0.0.1:%d/runner/v1" % self.b.port)
        # a later start with the base URL again (it replaces the saved one)
        p.terminate()
        self.assertEqual(p.wait(10), 0)
        p = self.runner(url="HTTP://127.0.0.1:%d" % self.b.port)
        self.assertTrue(wait_for(lambda: self.server(s["id"])["connected"], 10), self.logs())
        self.assertTrue(wait_for(lambda: self.status_is(s["id"], "ACTIVE"), 10), self.logs())
        # a prefix (berthd behind a proxy at /berth): the link goes under it
        other = tempfile.TemporaryDirectory(prefix="berth-runner-")
        try:
            q = self.runner("brg_nothing", state=other.name,
                            url="http://127.0.0.1:%d/berth/" % self.b.port)
            self.assertTrue(wait_for(lambda: os.path.exists(os.path.join(other.name, "state.json")), 10))
            with open(os.path.join(other.name, "state.json")) as f:
                self.assertEqual(json.load(f)["url"], "ws://127.0.0.1:%d/berth/runner/v1" % self.b.port)
            q.kill()
            q.wait()
            for bad in ("127.0.0.1:%d" % self.b.port, "ftp://127.0.0.1/", "http:///runner/v1"):
                q = self.runner("brg_nothing", state=other.name, url=bad)
                self.assertEqual(q.wait(10), 2, bad)
        finally:
            other.cleanup()

    def test_noop_job_dispatch_is_fast(self):
        s, p = self.register()
        self.assertEqual(self.api("POST", "/scripts", {"name": "noop", "body": "true"}).status,
                         201)
        times = []
        for _ in range(10):
            t0 = time.time()
            r = self.api("POST", "/scripts/noop/runs", {"server": s["id"]})
            self.assertEqual(r.status, 201, r)
            ok = wait_for(lambda: self.api("GET", "/jobs/%d" % r.json["id"]).json["status"]
                          == "SUCCEEDED", 10, step=0.005)
            self.assertTrue(ok)
            times.append(time.time() - t0)
        # end to end through HTTP polling; dispatch itself is a fraction
        self.assertLess(sorted(times)[len(times) // 2], 1.0, times)

    def test_decommissioned_refuses_everything(self):
        s, p = self.register()
        r = self.api("POST", "/servers/%d/decommission" % s["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "DECOMMISSIONED")
        # the runner's link is closed and its credential refused
        self.assertTrue(wait_for(lambda: not self.server(s["id"])["connected"], 5))
        with open(os.path.join(self.state.name, "credential")) as f:
            cred = f.read().strip()
        status, body = self.upgrade(cred)
        self.assertEqual(status, 401)
        self.assertIn("decommissioned", body)
        self.assertEqual(self.server(s["id"])["status"], "DECOMMISSIONED")


if __name__ == "__main__":
    unittest.main()
