"""The organization's live event stream (GET /api/v1/orgs/{org}/events,
Server-Sent Events; src/berthd/events.c): what it carries, to whom, and
what it refuses, against a real berthd and, for server and job events, a
real runner.

Run with /usr/bin/python3; ctest sets PYTHONPATH so `import harness` works.
"""
import json
import socket
import time
import unittest

import harness


class Stream:
    """One SSE stream read off a raw socket: events() parses what arrived
    into (event, data) pairs."""

    def __init__(self, d, org, token, headers=None):
        self.sock = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        h = {"Host": "127.0.0.1", "Accept": "text/event-stream"}
        if token:
            h["Authorization"] = "Bearer " + token
        h.update(headers or {})
        req = "GET /api/v1/orgs/%s/events HTTP/1.1\r\n" % org + "".join(
            "%s: %s\r\n" % kv for kv in h.items()) + "\r\n"
        self.sock.sendall(req.encode())
        self.raw = b""
        self.got = []
        self.closed = False
        while b"\r\n\r\n" not in self.raw:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.raw += chunk
        head, _, self.raw = self.raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in
                        (line.partition(":") for line in lines[1:])}

    def pump(self, seconds):
        end = time.time() + seconds
        while time.time() < end and not self.closed:
            self.sock.settimeout(max(0.05, end - time.time()))
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                self.closed = True
                break
            self.raw += chunk
        self._parse()

    def _parse(self):
        while b"\n\n" in self.raw:
            block, _, self.raw = self.raw.partition(b"\n\n")
            ev, data = "message", []
            for line in block.decode().split("\n"):
                if line.startswith("event: "):
                    ev = line[7:]
                elif line.startswith("data: "):
                    data.append(line[6:])
            if data:
                self.got.append((ev, json.loads("\n".join(data))))

    def wait(self, pred, timeout=10):
        end = time.time() + timeout
        while time.time() < end:
            for e in self.got:
                if pred(e):
                    return e
            if self.closed:
                break
            self.pump(0.2)
        return None

    def body(self):
        self.pump(1)
        return self.raw

    def close(self):
        self.sock.close()


class TestEvents(harness.ApiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.viewer = cls.d.add_user(cls.admin, "default", "vera@example.com", "viewer")
        assert cls.d.request("POST", "/api/v1/orgs", token=cls.admin,
                             body={"name": "other"}).status == 201
        cls.outsider = cls.d.add_user(cls.admin, "other", "otto@example.com", "admin")

    def test_hello_then_audit_events_by_scope(self):
        adm = Stream(self.d, "default", self.admin)
        view = Stream(self.d, "default", self.viewer)
        other = Stream(self.d, "other", self.outsider)
        try:
            for s in (adm, view, other):
                self.assertEqual(s.status, 200)
                self.assertTrue(s.headers["content-type"].startswith("text/event-stream"))
                self.assertEqual(s.headers.get("cache-control"), "no-store")
                self.assertTrue(s.wait(lambda e: e[0] == "hello"))
            r = self.req("POST", "/orgs/default/servers", token=self.admin,
                         body={"name": "ev-1"})
            self.assertEqual(r.status, 201, r)
            e = adm.wait(lambda e: e[0] == "audit" and e[1]["action"] == "server.create")
            self.assertIsNotNone(e, adm.got)
            self.assertEqual(e[1]["outcome"], "success")
            self.assertEqual(e[1]["actor"]["email"], harness.ADMIN_EMAIL)
            self.assertNotIn("registration_token", json.dumps(e[1]))
            # the viewer has no audit:read, another org sees nothing of it
            view.pump(1)
            other.pump(0.5)
            self.assertEqual([x for x in view.got if x[0] == "audit"], [])
            self.assertEqual([x for x in other.got if x[0] != "hello"], [])
        finally:
            for s in (adm, view, other):
                s.close()

    def test_refusals(self):
        s = Stream(self.d, "default", None)
        self.assertEqual(s.status, 401)
        s.close()
        s = Stream(self.d, "default", self.outsider)  # not a member: 404
        self.assertEqual(s.status, 404)
        s.close()
        s = Stream(self.d, "no-such-org", self.admin)
        self.assertEqual(s.status, 404)
        s.close()
        s = Stream(self.d, "default", "berth_notatoken")
        self.assertEqual(s.status, 401)
        s.close()
        r = self.req("POST", "/orgs/default/events", token=self.admin, body={})
        self.assertIn(r.status, (404, 405), r)

    def test_per_user_cap(self):
        tok = self.d.add_user(self.admin, "default", "capped@example.com", "viewer")
        open_ = []
        try:
            for _ in range(32):
                s = Stream(self.d, "default", tok)
                open_.append(s)
                self.assertEqual(s.status, 200)
            extra = Stream(self.d, "default", tok)
            self.assertEqual(extra.status, 429)
            self.assertIn(b"too_many_streams", extra.body())
            extra.close()
        finally:
            for s in open_:
                s.close()
        # closed streams are found by the next peek (2 s): a new one opens
        self.assertTrue(harness.wait_for(
            lambda: Stream(self.d, "default", tok).status == 200, 10))

    def test_a_client_that_never_reads_does_not_hold_berthd(self):
        """A subscriber that stops reading does not hold berthd: while 300
        audit events queue for it, berthd answers everyone else. (That it
        is cut past EVENTS_LAG_MAX is not shown here: loopback socket
        buffers hold more than 300 events.)"""
        s = Stream(self.d, "default", self.admin)
        s.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        for i in range(300):
            self.req("POST", "/orgs/default/servers", token=self.admin,
                     body={"name": "lag-%d" % i})
        self.assertEqual(self.req("GET", "/me", token=self.admin).status, 200)
        s.close()


class TestServerAndJobEvents(harness.RunnerCase):
    def test_status_metrics_and_job(self):
        s = Stream(self.b, self.b.org, self.tok)
        try:
            self.assertTrue(s.wait(lambda e: e[0] == "hello"))
            m = s.wait(lambda e: e[0] == "server.metrics" and e[1]["id"] == self.sid, 10)
            self.assertIsNotNone(m, s.got)
            self.assertGreaterEqual(m[1]["mem_pct"], 0)
            self.assertEqual(self.api("POST", "/scripts", {"name": "hi", "body": "echo hi"}).status,
                             201)
            r = self.api("POST", "/scripts/hi/runs", {"server": "host-1"})
            self.assertEqual(r.status, 201, r)
            jid = r.json["id"]
            done = s.wait(lambda e: e[0] == "job" and e[1]["id"] == jid and
                          e[1]["status"] == "SUCCEEDED", 20)
            self.assertIsNotNone(done, s.got)
            self.assertEqual(done[1]["exit_code"], 0)
            # the runner goes: the server turns UNREACHABLE on the stream
            self.runner.kill()
            self.runner.wait()
            st = s.wait(lambda e: e[0] == "server" and e[1]["id"] == self.sid and
                        e[1]["status"] == "UNREACHABLE", 15)
            self.assertIsNotNone(st, [x for x in s.got if x[0] != "server.metrics"])
        finally:
            s.close()

    def _ndjson(self, path):
        r = self.b.request("GET", self.org + path, token=self.tok,
                           headers={"Accept": "application/x-ndjson"})
        self.assertEqual(r.status, 200, r)
        return [json.loads(x) for x in r.body.splitlines() if x.strip()]

    def test_log_lines_on_the_stream_after_what_was_read(self):
        """A job's log read as NDJSON, then followed on the event stream
        from its last seq: every chunk once, in order, up to log.end, on two
        streams at once (one read of the store feeds both)."""
        body = "for i in $(seq 1 400); do echo line $i; [ $((i % 40)) = 0 ] && sleep 0.2; done; echo end"
        self.assertEqual(self.api("POST", "/scripts", {"name": "lines", "body": body}).status, 201)
        a, b = Stream(self.b, self.b.org, self.tok), Stream(self.b, self.b.org, self.tok)
        try:
            ha = a.wait(lambda e: e[0] == "hello")
            hb = b.wait(lambda e: e[0] == "hello")
            self.assertNotEqual(ha[1]["stream"], hb[1]["stream"])
            r = self.api("POST", "/scripts/lines/runs", {"server": "host-1"})
            self.assertEqual(r.status, 201, r)
            jid = r.json["id"]
            deadline = time.time() + 20
            first = []
            while time.time() < deadline:  # read while it runs: some lines, not all
                first = self._ndjson("/jobs/%d/logs" % jid)
                if len(first) >= 3:
                    break
                time.sleep(0.1)
            after = first[-1]["seq"] if first else 0
            for st, h in ((a, ha), (b, hb)):
                r = self.api("POST", "/events/%d/logs" % h[1]["stream"],
                             {"job": jid, "after": after if st is a else 0})
                self.assertEqual(r.status, 200, r)
                self.assertEqual(r.json["job"], jid)
            for st, start in ((a, after), (b, 0)):
                end = st.wait(lambda e: e[0] == "log.end" and e[1]["job"] == jid, 30)
                self.assertIsNotNone(end, st.got[-5:])
                seqs = [e[1]["seq"] for e in st.got if e[0] == "log" and e[1]["job"] == jid]
                self.assertEqual(seqs, list(range(start + 1, end[1]["seq"] + 1)))
            whole = self._ndjson("/jobs/%d/logs" % jid)
            got = [c for c in first] + [e[1] for e in a.got if e[0] == "log"]
            self.assertEqual([(c["seq"], c["stream"], c["data"]) for c in got],
                             [(c["seq"], c["stream"], c["data"]) for c in whole])
            self.assertIn("line 400\n", "".join(c["data"] for c in got))
            # another user's stream is not there; a bad body is 400
            other = self.b.add_user(self.tok, self.b.org, "olga@example.com", "admin")
            r = self.api("POST", "/events/%d/logs" % ha[1]["stream"], {"job": jid}, token=other)
            self.assertEqual(r.status, 404, r)
            r = self.api("POST", "/events/%d/logs" % ha[1]["stream"], {"job": jid, "deployment": 1})
            self.assertEqual(r.status, 400, r)
            r = self.api("POST", "/events/%d/logs" % 999999, {"job": jid})
            self.assertEqual(r.status, 404, r)
        finally:
            a.close()
            b.close()


if __name__ == "__main__":
    unittest.main()
