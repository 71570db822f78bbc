"""The job spine (src/berthd/job.c) as a client sees it, with the runner
played by a raw link (rawrunner.py) so a job can be held without running:

- a log follow (`?follow=1`) ends when its job ends, whoever ends it: here
  a deployment cancelled before the runner accepted its job (the follow
  used to stay open forever: only a runner's result closed followers);
- the plain-text log puts the runner's own lines (stream "system", sent
  without a newline) on lines of their own, whole and followed alike
  (`running script s (timeout 3600 s)line-1` before);
- `berth job logs --follow` whose connection dies without a FIN (a cut
  the CLI cannot see) looks again after BERTH_FOLLOW_IDLE_S and finishes
  (it used to wait forever: the stream had no deadline).
"""
import os
import select
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BERTH, Berthd, wait_for
from rawrunner import RawRunner, register


class CutProxy(threading.Thread):
    """A TCP proxy to berthd whose existing connections can be made to
    go silent at once (nothing forwarded either way, nothing closed): a
    network cut as a client sees it. New connections pass."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.to = port
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.pairs = []
        self.start()

    def run(self):
        while True:
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            b = socket.create_connection(("127.0.0.1", self.to))
            pair = {"socks": (a, b), "dead": False}
            self.pairs.append(pair)
            threading.Thread(target=self.pump, args=(pair,), daemon=True).start()

    def pump(self, pair):
        a, b = pair["socks"]
        peer = {a: b, b: a}
        while not pair["dead"]:
            r, _, _ = select.select([a, b], [], [], 0.1)
            for s in r:
                if pair["dead"]:
                    break
                try:
                    data = s.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    a.close()
                    b.close()
                    return
                peer[s].sendall(data)
        # dead: hold both sockets open, silently, until the test ends

    def cut(self):
        for p in self.pairs:
            p["dead"] = True

    def close(self):
        self.lsock.close()
        for p in self.pairs:
            for s in p["socks"]:
                s.close()


class Follow(threading.Thread):
    """GET path with follow=1 in the background: body, or the error, and
    when it ended."""

    def __init__(self, b, token, path, headers=None):
        super().__init__(daemon=True)
        self.b, self.token, self.path, self.headers = b, token, path, headers or {}
        self.body = self.error = self.ended_at = None
        self.status = None
        self.start()

    def run(self):
        conn = self.b.connection()
        conn.timeout = 20
        try:
            h = dict(self.headers, Authorization="Bearer " + self.token)
            conn.request("GET", self.path, headers=h)
            resp = conn.getresponse()
            self.status = resp.status
            self.body = resp.read().decode("utf-8", "replace")
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.error = e
        finally:
            self.ended_at = time.time()
            conn.close()


class JobBase(unittest.TestCase):
    env = {}

    def setUp(self):
        self.b = Berthd(env=dict({"BERTH_HEARTBEAT_S": "5"}, **self.env)).start()
        self.tok = self.b.login()
        self.org = "/api/v1/orgs/%s" % self.b.org
        self.links = []

    def tearDown(self):
        for l in self.links:
            l.close()
        self.b.close()

    def api(self, method, path, body=None, headers=None):
        return self.b.request(method, self.org + path, token=self.tok, body=body,
                              headers=headers)

    def register(self, name="raw-1"):
        r = self.api("POST", "/servers", {"name": name})
        self.assertEqual(r.status, 201, r)
        l = RawRunner(self.b.port, r.json["registration_token"])
        self.links.append(l)
        self.cred = register(l)
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/%s" % name)
                                 .json["status"] == "ACTIVE", 10))
        return r.json, l

    def script_job(self, l, name="count"):
        self.assertEqual(self.api("POST", "/scripts", {"name": name, "body": "echo"}).status,
                         201)
        r = self.api("POST", "/scripts/%s/runs" % name, {"server": "raw-1"})
        self.assertEqual(r.status, 201, r)
        job = l.expect("job", 15)
        self.assertEqual(job["job"], str(r.json["id"]))
        return r.json["id"], job["job"]


class Jobs(JobBase):
    def test_follow_ends_when_a_pending_deployment_is_cancelled(self):
        s, l = self.register()
        r = self.api("POST", "/apps", {"name": "web", "server": "raw-1",
                                       "repo_url": "https://git.example.com/a/web.git",
                                       "container_port": 8080})
        self.assertEqual(r.status, 201, r)
        r = self.api("POST", "/apps/web/deployments", {})
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]
        job = l.expect("job", 15)  # held: never accepted
        f = Follow(self.b, self.tok, self.org + "/deployments/%d/logs?follow=1" % did)
        time.sleep(0.5)
        self.assertIsNone(f.ended_at, "the follow ended before the job did")
        asked = time.time()
        r = self.api("POST", "/deployments/%d/cancel" % did)
        self.assertIn(r.status, (200, 202), r)
        self.assertEqual(l.expect("job.cancel")["job"], job["job"])
        f.join(15)
        self.assertIsNotNone(f.ended_at, "the follow of a cancelled job never ended")
        self.assertIsNone(f.error, f.error)
        self.assertEqual(f.status, 200)
        self.assertLess(f.ended_at - asked, 5)
        d = self.api("GET", "/deployments/%d" % did).json
        self.assertEqual(d["status"], "CANCELLED", d)
        self.assertIn("before the runner started it", d["reason"])
        j = self.api("GET", "/jobs/%s" % job["job"]).json
        self.assertEqual((j["status"], j["error"]), ("FAILED", "cancelled"))
        # the slot is free again: the next deployment is sent
        r = self.api("POST", "/apps/web/deployments", {})
        self.assertEqual(r.status, 201, r)
        self.assertNotEqual(l.expect("job", 15)["job"], job["job"])

    def test_plain_text_log_puts_system_lines_on_their_own(self):
        s, l = self.register()
        jid, job = self.script_job(l)
        f = Follow(self.b, self.tok, self.org + "/jobs/%d/logs?follow=1" % jid)
        time.sleep(0.3)
        l.send({"type": "job.accepted", "job": job})
        chunks = [("system", "running script count (timeout 3600 s)"),
                  ("stdout", "line-1\n"), ("stdout", "no newline"),
                  ("system", "exit 0")]
        for seq, (stream, data) in enumerate(chunks, 1):
            l.send({"type": "job.log", "job": job, "seq": seq, "stream": stream,
                    "ts": 1000 + seq, "data": data})
            l.expect("ack")
        l.send({"type": "job.done", "job": job, "last_seq": len(chunks),
                "status": "SUCCEEDED", "exit_code": 0, "error": None})
        l.expect("ack.done")
        want = "running script count (timeout 3600 s)\nline-1\nno newline\nexit 0\n"
        whole = self.api("GET", "/jobs/%d/logs" % jid)
        self.assertEqual(whole.status, 200, whole)
        self.assertEqual(whole.body, want)
        f.join(15)
        self.assertIsNone(f.error, f.error)
        self.assertEqual(f.body, want)
        # NDJSON keeps each chunk as it came
        nd = self.api("GET", "/jobs/%d/logs" % jid, headers={"Accept": "application/x-ndjson"})
        self.assertEqual(nd.body.count("\n"), len(chunks))
        self.assertIn('"data":"running script count (timeout 3600 s)"', nd.body)

    def test_cli_follow_survives_a_silent_cut(self):
        s, l = self.register()
        jid, job = self.script_job(l)
        l.send({"type": "job.accepted", "job": job})
        l.send({"type": "job.log", "job": job, "seq": 1, "stream": "stdout", "ts": 1,
                "data": "before the cut\n"})
        l.expect("ack")
        proxy = CutProxy(self.b.port)
        self.addCleanup(proxy.close)
        home = tempfile.TemporaryDirectory(prefix="berth-cli-")
        self.addCleanup(home.cleanup)
        env = dict(os.environ, HOME=home.name, BERTH_CONFIG=os.path.join(home.name, "c.json"),
                   BERTH_URL="http://127.0.0.1:%d" % proxy.port, BERTH_TOKEN=self.tok,
                   BERTH_ORG=self.b.org, BERTH_FOLLOW_IDLE_S="2")
        out = open(os.path.join(home.name, "out"), "w+")
        self.addCleanup(out.close)

        def text_now():
            with open(out.name) as f:
                return f.read()
        p = subprocess.Popen([BERTH, "job", "logs", str(jid), "--follow"], env=env,
                             stdout=out, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertTrue(wait_for(lambda: "before the cut" in text_now(), 10))
        proxy.cut()  # the follow's connection is dead now, and nobody says so
        l.send({"type": "job.log", "job": job, "seq": 2, "stream": "stdout", "ts": 2,
                "data": "after the cut\n"})
        l.expect("ack")
        l.send({"type": "job.done", "job": job, "last_seq": 2, "status": "SUCCEEDED",
                "exit_code": 0, "error": None})
        l.expect("ack.done")
        try:
            rc = p.wait(20)
        except subprocess.TimeoutExpired:
            self.fail("berth job logs --follow still waits on a dead connection: " + text_now())
        text = text_now()
        self.assertEqual(rc, 0, text)
        self.assertEqual(text.count("before the cut"), 1, text)
        self.assertEqual(text.count("after the cut"), 1, text)


class OutputCap(JobBase):
    """A job's stored output is capped (BERTH_JOB_OUTPUT_MAX): past it one
    mark is stored and the rest of stdout/stderr is acked and dropped; the
    runner's own lines still land (a deploy's steps must), up to 1 MiB."""
    env = {"BERTH_JOB_OUTPUT_MAX": "65536"}

    def test_output_past_the_cap_is_dropped_after_one_mark(self):
        s, l = self.register()
        jid, job = self.script_job(l)
        l.send({"type": "job.accepted", "job": job})
        piece = "x" * 16383 + "\n"
        n = 40  # 640 KiB against a 64 KiB cap
        for seq in range(1, n + 1):
            l.send({"type": "job.log", "job": job, "seq": seq, "stream": "stdout", "ts": seq,
                    "data": piece})
            self.assertEqual(l.expect("ack")["seq"], seq)  # every chunk acked, in order
        l.send({"type": "job.log", "job": job, "seq": n + 1, "stream": "system", "ts": n + 1,
                "data": "exit 0"})
        self.assertEqual(l.expect("ack")["seq"], n + 1)
        l.send({"type": "job.done", "job": job, "last_seq": n + 1, "status": "SUCCEEDED",
                "exit_code": 0, "error": None})
        l.expect("ack.done")
        self.assertEqual(self.api("GET", "/jobs/%d" % jid).json["status"], "SUCCEEDED")
        text = self.api("GET", "/jobs/%d/logs" % jid).body
        self.assertEqual(text.count(piece), 4, len(text))  # 4 x 16 KiB fit in 64 KiB
        self.assertEqual(text.count("berth: output truncated: over 65536 bytes"), 1)
        self.assertTrue(text.endswith("exit 0\n"), text[-100:])
        self.assertLess(len(text), 65536 + 200)
        # a reconnecting runner that replays everything changes nothing
        l.close()
        l2 = RawRunner(self.b.port, self.cred)
        self.links.append(l2)
        l2.hello([{"job": job, "last_seq": n + 1, "done": True}])
        w = l2.expect("welcome")
        self.assertEqual(w["jobs"], [{"job": job, "acked_seq": 5, "done_acked": True}])
        self.assertEqual(self.api("GET", "/jobs/%d/logs" % jid).body, text)


if __name__ == "__main__":
    unittest.main()
