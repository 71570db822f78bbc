"""The API's error contract: every bad request gets the right status and a
JSON error that names the problem, and changes nothing.

"Nothing changed" is checked by comparing a snapshot (members of both
organizations, the admin's and the viewer's tokens, the organizations, and
every successful audit entry) before and after each bad request. A refused
or failed mutation does leave an audit entry of its own, with outcome
"denied" or "failure": that is the audit trail doing its job, and it is
checked too.
"""
import socket
import time
import unittest

import harness

ORG = "default"
OTHER = "other"


def err(r):
    return r.json.get("error", {}) if isinstance(r.json, dict) else {}


class Base(unittest.TestCase):
    env = None

    @classmethod
    def setUpClass(cls):
        d = cls.d = harness.Berthd(env=cls.env).start()
        cls.admin = d.login()
        cls.viewer = d.add_user(cls.admin, ORG, "viewer@example.com", "viewer", password="viewer-pass")
        assert d.request("POST", "/api/v1/orgs", token=cls.admin, body={"name": OTHER}).status == 201
        cls.stranger = d.add_user(cls.admin, OTHER, "stranger@example.com", "admin",
                                  password="stranger-pass")
        cls.stranger_token = d.create_token(cls.stranger, ["app:read"], name="theirs")

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def req(self, method, path, token=None, **kw):
        return self.d.request(method, "/api/v1" + path, token=token, **kw)

    def get_json(self, path, token=None):
        r = self.req("GET", path, token=token or self.admin)
        self.assertEqual(r.status, 200, r)
        return r.json

    def audit(self):
        out, cursor = [], None
        for _ in range(100):
            page = self.get_json("/orgs/%s/audit?limit=500%s" % (ORG, "&cursor=" + cursor if cursor else ""))
            out += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
        return out

    def snapshot(self):
        audit = self.audit()
        return {
            "members": self.get_json("/orgs/%s/members" % ORG),
            "other_members": self.get_json("/orgs/%s/members" % OTHER),
            "orgs": self.get_json("/orgs"),
            "tokens": self.get_json("/tokens"),
            "viewer_tokens": self.get_json("/tokens", token=self.viewer),
            "stranger_tokens": self.get_json("/tokens", token=self.stranger),
            "audit_success": [e for e in audit if e["outcome"] == "success"],
            "audit_ids": {e["id"] for e in audit},
        }

    def assertUnchanged(self, before, r):
        after = self.snapshot()
        for key in before:
            if key == "audit_ids":
                continue
            self.assertEqual(before[key], after[key], "%s changed after %r" % (key, r))
        new = [e for e in self.audit() if e["id"] not in before["audit_ids"]]
        for e in new:
            self.assertIn(e["outcome"], ("denied", "failure"), e)
            self.assertEqual(e["status"], r.status, e)

    def expect(self, status, method, path, token="admin", contains=None, code=None, **kw):
        """Sends a request that must fail with status and change nothing."""
        tok = self.admin if token == "admin" else token
        before = self.snapshot()
        r = self.req(method, path, token=tok, **kw)
        self.assertEqual(r.status, status, r)
        e = err(r)
        self.assertTrue(e.get("code") and e.get("message"), "no JSON error: %r" % r)
        if code:
            self.assertEqual(e["code"], code, r)
        for word in ([contains] if isinstance(contains, str) else contains or []):
            self.assertIn(word, e["message"], r)
        self.assertUnchanged(before, r)
        return r


class TestBodies(Base):
    def test_malformed_json(self):
        self.expect(400, "POST", "/orgs/%s/members" % ORG, raw=b'{"email": "a@example.com", "role": ',
                    headers={"Content-Type": "application/json"}, code="invalid_json",
                    contains="malformed JSON")
        self.expect(400, "POST", "/orgs", raw=b"{name: 'x'}", code="invalid_json")
        self.expect(400, "POST", "/tokens", raw=b"\xff\xfe{}", code="invalid_json")

    def test_empty_body(self):
        self.expect(400, "POST", "/orgs", raw=b"", code="invalid_json", contains="empty")

    def test_body_not_an_object(self):
        for raw in [b"[]", b'"acme"', b"42", b"null"]:
            self.expect(400, "POST", "/orgs", raw=raw, code="invalid_json", contains="object")

    def test_duplicate_keys(self):
        self.expect(400, "POST", "/orgs/%s/members" % ORG,
                    raw=b'{"email":"dup@example.com","role":"viewer","role":"admin"}',
                    code="invalid_json", contains="role")

    def test_wrong_types_name_the_field(self):
        cases = [
            ("/orgs", {"name": 42}, "name"),
            ("/orgs/%s/members" % ORG, {"email": ["a@example.com"], "role": "viewer"}, "email"),
            ("/orgs/%s/members" % ORG, {"email": "a@example.com", "role": 3}, "role"),
            ("/tokens", {"name": "t", "scopes": "app:read"}, "scopes"),
            ("/tokens", {"name": "t", "scopes": [1, 2]}, "scopes"),
            ("/tokens", {"name": "t", "scopes": ["app:read"], "expires_in": "60"}, "expires_in"),
            ("/tokens", {"name": "t", "scopes": ["app:read"], "org": True}, "org"),
            ("/auth/login", {"email": "a@example.com", "password": 12345678}, "password"),
            ("/auth/accept-invite", {"token": None, "password": "x"}, "token"),
        ]
        for path, body, field in cases:
            with self.subTest(path=path, field=field):
                status = 422 if body.get(field, 0) is None else 400
                self.expect(status, "POST", path, body=body, contains=field)

    def test_wrong_type_in_patch(self):
        uid = self.get_json("/me", token=self.viewer)["user"]["id"]
        self.expect(400, "PATCH", "/orgs/%s/members/%d" % (ORG, uid), body={"role": ["admin"]},
                    code="invalid_field", contains="role")

    def test_unknown_field(self):
        self.expect(400, "POST", "/orgs", body={"name": "fine", "owner": "me"}, code="unknown_field",
                    contains="owner")
        self.expect(400, "POST", "/orgs/%s/members" % ORG,
                    body={"email": "u@example.com", "role": "viewer", "admin": True},
                    code="unknown_field", contains="admin")
        self.expect(400, "POST", "/auth/login",
                    body={"email": "viewer@example.com", "password": "viewer-pass", "otp": 1},
                    code="unknown_field", contains="otp")

    def test_missing_field(self):
        self.expect(422, "POST", "/orgs", body={}, code="missing_field", contains="name")
        self.expect(422, "POST", "/orgs/%s/members" % ORG, body={"email": "m@example.com"},
                    code="missing_field", contains="role")
        self.expect(422, "POST", "/tokens", body={"name": "t"}, code="missing_field", contains="scopes")
        self.expect(422, "POST", "/auth/login", body={"email": "viewer@example.com"},
                    code="missing_field", contains="password")
        uid = self.get_json("/me", token=self.viewer)["user"]["id"]
        self.expect(422, "PATCH", "/orgs/%s/members/%d" % (ORG, uid), body={}, contains="role")

    def test_invalid_values(self):
        self.expect(422, "POST", "/orgs", body={"name": "Not A Slug"}, contains="name")
        self.expect(422, "POST", "/tokens", body={"name": "t", "scopes": ["root"]}, contains="root")


class TestLookups(Base):
    def test_unknown_ids_404(self):
        self.expect(404, "GET", "/orgs/no-such-org")
        self.expect(404, "GET", "/orgs/987654")
        self.expect(404, "GET", "/orgs/no-such-org/members")
        self.expect(404, "PATCH", "/orgs/%s/members/987654" % ORG, body={"role": "viewer"})
        self.expect(404, "DELETE", "/orgs/%s/members/ghost@example.com" % ORG)
        self.expect(404, "DELETE", "/tokens/987654")
        self.expect(404, "DELETE", "/tokens/not-a-number")
        r = self.d.request("GET", "/api/v1/no/such/endpoint", token=self.admin)
        self.assertEqual(r.status, 404, r)
        r = self.d.request("GET", "/nowhere")
        self.assertEqual(r.status, 404, r)

    def test_another_orgs_objects_are_404_never_403(self):
        # the viewer could not write even in their own org, yet another
        # org's objects answer 404: their existence is not revealed
        other_id = self.get_json("/orgs/%s" % OTHER)["id"]
        stranger_id = self.get_json("/me", token=self.stranger)["user"]["id"]
        for ref in (OTHER, str(other_id)):
            self.expect(404, "GET", "/orgs/%s" % ref, token=self.viewer)
            self.expect(404, "GET", "/orgs/%s/members" % ref, token=self.viewer)
            self.expect(404, "GET", "/orgs/%s/audit" % ref, token=self.viewer)
            self.expect(404, "POST", "/orgs/%s/members" % ref, token=self.viewer,
                        body={"email": "x@example.com", "role": "admin"})
            self.expect(404, "PATCH", "/orgs/%s/members/%d" % (ref, stranger_id), token=self.viewer,
                        body={"role": "viewer"})
            self.expect(404, "DELETE", "/orgs/%s/members/%d" % (ref, stranger_id), token=self.viewer)
        # and a member of another org is not a member here
        self.expect(404, "PATCH", "/orgs/%s/members/%d" % (ORG, stranger_id), body={"role": "admin"})
        self.expect(404, "DELETE", "/orgs/%s/members/stranger@example.com" % ORG)
        # someone else's token
        self.expect(404, "DELETE", "/tokens/%d" % self.stranger_token["id"])
        self.expect(404, "DELETE", "/tokens/%d" % self.stranger_token["id"], token=self.viewer)

    def test_405(self):
        for method, path in [("PUT", "/orgs"), ("DELETE", "/me"), ("GET", "/auth/login"),
                             ("POST", "/orgs/%s" % ORG), ("PUT", "/tokens/1")]:
            r = self.expect(405, method, path, body={} if method in ("PUT", "POST") else None,
                            code="method_not_allowed")
            self.assertIn(method, err(r)["message"])

    def test_414_long_path(self):
        self.expect(414, "GET", "/orgs/" + "a" * 600, code="uri_too_long")

    def test_409(self):
        self.expect(409, "POST", "/orgs", body={"name": OTHER}, code="conflict")
        self.expect(409, "POST", "/orgs/%s/members" % ORG, body={"email": "viewer@example.com", "role": "admin"},
                    code="conflict")
        me = self.get_json("/me")["user"]["id"]
        self.expect(409, "DELETE", "/orgs/%s/members/%d" % (ORG, me), code="last_admin")

    def test_403_changes_nothing(self):
        self.expect(403, "POST", "/orgs/%s/members" % ORG, token=self.viewer,
                    body={"email": "w@example.com", "role": "admin"}, code="forbidden", contains="user:write")
        self.expect(403, "POST", "/orgs", token=self.viewer, body={"name": "viewer-org"}, code="forbidden")


def raw_http(port, data, timeout=10):
    """Sends raw bytes, returns (status, whole answer)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        while b"\r\n\r\n" not in out:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        head = out.split(b"\r\n", 1)[0].decode()
        return int(head.split()[1]), out
    finally:
        s.close()


class TestTransport(Base):
    env = {"BERTH_BODY_MAX": "2048"}

    def test_411_chunked_body(self):
        before = self.snapshot()
        body = b'{"name":"chunked-org"}'
        req = ("POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n"
               % (self.admin, len(body))).encode() + body + b"\r\n0\r\n\r\n"
        status, out = raw_http(self.d.port, req)
        self.assertEqual(status, 411, out)
        self.assertIn(b"length_required", out)
        self.assertUnchanged(before, type("R", (), {"status": 411})())

    def test_no_length_is_an_empty_body_answered_at_once(self):
        # No Content-Length and no Transfer-Encoding means no body (RFC 9112
        # 6.3): answered at once as an empty body, never left waiting.
        before = self.snapshot()
        req = ("POST /api/v1/orgs HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
               % self.admin).encode()
        t0 = time.time()
        status, out = raw_http(self.d.port, req, timeout=5)
        self.assertLess(time.time() - t0, 3)
        self.assertEqual(status, 400, out)
        self.assertIn(b"empty", out)
        self.assertUnchanged(before, type("R", (), {"status": 400})())

    def test_413_oversized_body(self):
        big = {"email": "big@example.com", "role": "viewer", "pad": "x" * 4000}
        r = self.expect(413, "POST", "/orgs/%s/members" % ORG, body=big, code="payload_too_large")
        self.assertIn("2048", err(r)["message"])
        # just under the limit is read (and then judged on its content)
        fits = {"name": "fits", "pad": "y" * 1900}
        self.expect(400, "POST", "/orgs", body=fits, code="unknown_field")


class TestDeadTokens(Base):
    def test_expired_token_401(self):
        t = self.d.create_token(self.admin, ["app:read", "user:write"], expires_in=1)
        deadline = time.time() + 5
        while self.req("GET", "/me", token=t["token"]).status == 200:
            self.assertLess(time.time(), deadline)
            time.sleep(0.2)
        r = self.expect(401, "POST", "/orgs/%s/members" % ORG, token=t["token"],
                        body={"email": "late@example.com", "role": "viewer"}, code="unauthorized",
                        contains="expired")
        self.assertIn("bearer", r.headers.get("www-authenticate", "").lower())

    def test_revoked_token_401(self):
        t = self.d.create_token(self.admin, ["app:read", "user:write", "token:write"])
        self.assertEqual(self.req("DELETE", "/tokens/%d" % t["id"], token=self.admin).status, 204)
        self.expect(401, "POST", "/orgs/%s/members" % ORG, token=t["token"],
                    body={"email": "late@example.com", "role": "viewer"}, code="unauthorized",
                    contains="revoked")
        self.expect(401, "POST", "/tokens", token=t["token"], body={"name": "n", "scopes": ["app:read"]},
                    contains="revoked")

    def test_garbage_tokens_401(self):
        for tok in ["x", "bta_" + "A" * 43, "bta_" + "A" * 200, "bts_\u00e9"]:
            self.expect(401, "GET", "/orgs/%s" % ORG, token=tok, code="unauthorized")


if __name__ == "__main__":
    unittest.main()
