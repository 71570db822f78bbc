"""Terminals end to end: a real berthd, a real berth-runner on this host,
and the terminal WebSocket (berth-terminal.v1) driven by a raw client
(rawrunner.py), so the test sees every frame.

- a host shell as admin: `stty size` shows the size asked for, a resize is
  seen inside, `exit 3` comes back as the exit code, audited open/close;
- who may not: no token (401), a viewer (403, no container:exec), a
  developer on the host (403, no terminal:open), an API token holding
  every scope but terminal:open (403), another organization's server (404),
  a plain GET (426); nothing was opened for any of them;
- berthd dies mid-session: the runner's link goes, the shell's whole
  session (a background job included) is killed on the host;
- 100 MB through one terminal arrives whole while the runner's heartbeats
  keep their period and a script job on the same runner finishes on time;
- POST .../exec: stdout, stderr and the exit code; no input (cat ends);
  a timeout kills it; output past 1 MiB is cut and flagged; the same
  refusals (a host command needs server:exec).
"""
import json
import os
import re
import time
import unittest

from harness import Berthd, RunnerCase, wait_for
from rawrunner import Closed, RawRunner



class Term:
    """One terminal session: keystrokes in, output collected."""

    def __init__(self, b, token, org, server, query="", cols=80, rows=24):
        q = "cols=%d&rows=%d%s" % (cols, rows, "&" + query if query else "")
        self.ws = RawRunner(b.port, token,
                            path="/api/v1/orgs/%s/servers/%s/terminal?%s" % (org, server, q),
                            subprotocol="berth-terminal.v1")
        self.status = self.ws.status
        self.out = b""
        self.exit = None
        self.opened = False

    def error_code(self):
        return json.loads(self.ws.body)["error"]["code"]

    def type(self, text):
        self.ws.send_raw(text.encode(), 2)

    def pump(self, timeout):
        """Reads one frame: output, opened, or exit."""
        op, data = self.ws.recv_frame(timeout)
        if op == 2:
            self.out += data
        else:
            m = json.loads(data)
            if m["type"] == "opened":
                self.opened = True
            elif m["type"] == "exit":
                self.exit = m

    def until(self, pred, timeout=15):
        deadline = time.time() + timeout
        while not pred():
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError("timed out; output so far: %r" % self.out[-2000:])
            try:
                self.pump(left)
            except Closed:
                if not pred():
                    raise
                return

    def until_text(self, text, timeout=15):
        self.until(lambda: text.encode() in self.out, timeout)

    def close(self):
        self.ws.close()


class Terminal(RunnerCase):
    state_prefix = "berth-term-"

    def setUp(self):
        super().setUp()
        self.terms = []

    def tearDown(self):
        for t in self.terms:
            t.close()
        super().tearDown()

    def term(self, token=None, server="host-1", **kw):
        t = Term(self.b, token or self.tok, self.b.org, server, **kw)
        self.terms.append(t)
        return t

    def audit(self, action):
        r = self.api("GET", "/audit?action=" + action)
        self.assertEqual(r.status, 200, r)
        return r.json["items"]

    def test_host_shell_size_resize_exit(self):
        t = self.term(cols=100, rows=30)
        self.assertEqual(t.status, 101, t.ws.head + t.ws.body.decode())
        t.until(lambda: t.opened)
        t.type("stty size; echo mark-$((6*7))\n")
        t.until_text("mark-42")
        self.assertIn(b"30 100", t.out)
        t.ws.send({"type": "resize", "cols": 132, "rows": 43})
        t.type("stty size; echo mark-$((6*8))\n")
        t.until_text("mark-48")
        self.assertIn(b"43 132", t.out)
        t.type("exit 3\n")
        t.until(lambda: t.exit is not None)
        self.assertEqual(t.exit["exit_code"], 3, t.exit)
        self.assertEqual(t.ws.expect_close(5)[0], 1000)
        opened = self.audit("server.terminal.open")
        self.assertEqual(len(opened), 1, opened)
        self.assertEqual(opened[0]["target"], "server:%d" % self.sid)
        closed = wait_for(lambda: self.audit("server.terminal.close"), 5)
        self.assertTrue(closed)
        detail = closed[0]["detail"]
        detail = json.loads(detail) if isinstance(detail, str) else detail
        self.assertGreater(detail["bytes_in"], 20)
        self.assertGreater(detail["bytes_out"], 20)
        self.assertEqual(detail["exit_code"], 3)

    def test_who_may_not(self):
        viewer = self.b.add_user(self.tok, self.b.org, "viewer@example.com", "viewer")
        dev = self.b.add_user(self.tok, self.b.org, "dev@example.com", "developer")
        every = ["server:read", "server:write", "app:read", "app:write", "deploy:read",
                 "deploy:write", "env:write", "script:run", "container:exec", "token:write",
                 "user:write", "org:write", "audit:read"]
        no_terminal = self.b.create_token(self.tok, every)["token"]
        cases = [(None, 401), (viewer, 403), (dev, 403), (no_terminal, 403)]
        for tok, want in cases:
            t = Term(self.b, tok, self.b.org, "host-1")
            self.assertEqual(t.status, want, (tok, t.ws.body))
            t.close()
        # a developer may open a container's shell (the scope), not the host's
        t = Term(self.b, dev, self.b.org, "host-1", query="container=nosuch")
        self.assertEqual(t.status, 101, t.ws.body)
        t.until(lambda: t.exit is not None)  # docker exec fails: no such container
        self.assertNotEqual(t.exit["exit_code"], 0)
        t.close()
        r = self.b.request("POST", "/api/v1/orgs", token=self.tok, body={"name": "other"})
        self.assertEqual(r.status, 201, r)
        r = self.b.request("POST", "/api/v1/orgs/other/servers", token=self.tok,
                           body={"name": "theirs"})
        self.assertEqual(r.status, 201, r)
        t = Term(self.b, dev, "other", "theirs")
        self.assertEqual(t.status, 404, t.ws.body)
        t.close()
        t = Term(self.b, self.tok, self.b.org, "host-1", cols=0)
        self.assertEqual((t.status, t.error_code()), (400, "invalid_query"))
        t.close()
        r = self.api("GET", "/servers/host-1/terminal")
        self.assertEqual(r.status, 426, r)
        for proto in (None, "http", "berth-runner.v1"):  # only our subprotocol binds
            w = RawRunner(self.b.port, self.tok, subprotocol=proto,
                          path="/api/v1/orgs/%s/servers/host-1/terminal" % self.b.org)
            self.assertEqual(w.status, 400, (proto, w.head))
            w.close()
        opened = self.audit("server.terminal.open")  # only the developer's container shell
        self.assertEqual([(e["target"], e["actor"]["email"]) for e in opened],
                         [("server:%d/nosuch" % self.sid, "dev@example.com")], opened)

    def test_browser_session_cookie(self):
        """The dashboard's cookie opens a terminal from berthd's own origin
        only (cross-site WebSocket hijacking); never from elsewhere."""
        from harness import ADMIN_EMAIL, ADMIN_PASSWORD
        conn = self.b.connection()
        conn.request("POST", "/api/v1/auth/login", body=json.dumps(
            {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "cookie": True}),
            headers={"Origin": self.b.url, "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        self.assertEqual(resp.status, 200)
        cookie = [v.split(";")[0] for k, v in resp.getheaders()
                  if k.lower() == "set-cookie" and v.startswith("berth_session=")][0]
        conn.close()
        path = "/api/v1/orgs/%s/servers/host-1/terminal" % self.b.org
        for origin, want in [(self.b.url, 101), ("http://evil.example", 403), (None, 403)]:
            h = {"Cookie": cookie}
            if origin:
                h["Origin"] = origin
            w = RawRunner(self.b.port, None, path=path, subprotocol="berth-terminal.v1",
                          headers=h)
            self.assertEqual(w.status, want, (origin, w.head, w.body))
            w.close()
        self.assertEqual(len([e for e in self.audit("server.terminal.open")]), 1)

    def test_berthd_gone_kills_the_session(self):
        t = self.term()
        t.until(lambda: t.opened)
        t.type("sleep 1000 & echo bg-$! sh-$$ .\n")
        pat = re.compile(rb"bg-(\d+) sh-(\d+) \.")
        t.until(lambda: pat.search(t.out))
        bg, sh = (int(x) for x in pat.search(t.out).groups())
        self.assertTrue(os.path.exists("/proc/%d" % bg))
        self.b.proc.kill()  # the link goes with berthd
        self.b.proc.wait()
        gone = wait_for(lambda: not os.path.exists("/proc/%d" % bg) and
                        not os.path.exists("/proc/%d" % sh), 10)
        self.assertTrue(gone, "a shell outlived its link: %s" % self.logs())
        self.assertIsNone(self.runner.poll())  # the runner itself lives on
        self.b.start()  # for tearDown's checks

    def test_bulk_output_keeps_the_link_alive(self):
        self.api("POST", "/scripts", {"name": "quick", "body": "echo quick"})
        t = self.term()
        t.until(lambda: t.opened)
        size = 100 * 1000 * 1000
        t.type("stty -echo; echo quiet-$((2+2))\n")
        t.until_text("quiet-4")
        t.type("head -c %d /dev/zero | tr '\\0' x; echo; echo end-$((1+1))\n" % size)
        xs, tail, job, worst = 0, b"", None, 0.0
        started = last_check = time.time()
        while b"end-2" not in tail:
            op, data = t.ws.recv_frame(30)
            if op != 2:
                continue
            xs += data.count(b"x")
            tail = (tail + data)[-64:]
            if job is None and xs > size // 10:  # well into the stream
                job = self.api("POST", "/scripts/quick/runs", {"server": "host-1"})
                self.assertEqual(job.status, 201, job)
            now = time.time()
            if now - last_check > 0.5:  # the link's liveness holds meanwhile
                s = self.api("GET", "/servers/host-1").json
                self.assertEqual(s["status"], "ACTIVE", s)
                last_check = now
        elapsed = time.time() - started
        self.assertEqual(xs, size)  # whole: not one byte lost or added
        j = self.api("GET", "/jobs/%d" % job.json["id"]).json
        self.assertEqual(j["status"], "SUCCEEDED", j)
        t.type("exit\n")
        t.until(lambda: t.exit is not None, 30)
        self.assertEqual(t.exit["exit_code"], 0)
        print("\n100 MB through one terminal in %.1f s (%.0f MB/s)" % (elapsed, size / 1e6 / elapsed))
    def exec_(self, body, token=None, server="host-1"):
        return self.api("POST", "/servers/%s/exec" % server, body, token=token)

    def test_exec(self):
        r = self.exec_({"command": ["sh", "-c", "echo out; echo err >&2; exit 7"]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["exit_code"], r.json["stdout"], r.json["stderr"]),
                         (7, "out\n", "err\n"), r.json)
        self.assertFalse(r.json["truncated"] or r.json["timed_out"])
        r = self.exec_({"command": ["cat"], "timeout_s": 10})
        self.assertEqual((r.json["exit_code"], r.json["stdout"]), (0, ""), r.json)
        t0 = time.time()
        r = self.exec_({"command": ["sleep", "30"], "timeout_s": 1})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["timed_out"], r.json)
        self.assertIsNone(r.json["exit_code"])
        self.assertLess(time.time() - t0, 5)
        r = self.exec_({"command": ["sh", "-c", "head -c 2000000 /dev/zero | tr '\\0' y"]})
        self.assertEqual(len(r.json["stdout"]), 1024 * 1024, len(r.json["stdout"]))
        self.assertTrue(r.json["truncated"])
        self.assertEqual(r.json["exit_code"], 0)
        r = self.exec_({"command": ["true"], "container": "nosuch"})
        self.assertEqual(r.status, 200, r)
        self.assertNotEqual(r.json["exit_code"], 0)
        self.assertIn("nosuch", r.json["stderr"])
        audit = self.audit("server.exec")
        self.assertEqual(len(audit), 5, audit)
        self.assertNotIn("err >&2", json.dumps(audit))  # arguments are never recorded

    def test_exec_refusals(self):
        dev = self.b.add_user(self.tok, self.b.org, "dev@example.com", "developer")
        viewer = self.b.add_user(self.tok, self.b.org, "viewer@example.com", "viewer")
        self.assertEqual(self.exec_({"command": ["id"]}, token=dev).status, 403)
        self.assertEqual(self.exec_({"command": ["id"], "container": "c"}, token=viewer).status,
                         403)
        for body in [{}, {"command": []}, {"command": [1]}, {"command": [""]},
                     {"command": ["id"], "timeout_s": 0}, {"command": ["id"], "timeout_s": 901},
                     {"command": ["id"], "container": "a", "app": "b"},
                     {"command": ["id"], "container": "../x"}, {"command": "id"},
                     {"command": ["id"], "extra": 1}]:
            r = self.exec_(body)
            self.assertIn(r.status, (400, 422), (body, r))
        self.assertEqual(self.exec_({"command": ["id"]}, server="nosuch").status, 404)
        # refusals are recorded as such; nothing ran
        self.assertEqual([e for e in self.audit("server.exec") if e["outcome"] == "success"], [])


if __name__ == "__main__":
    unittest.main()
