"""Hostile input against the dashboard's surface: the session cookie, the
CSRF token and Origin checks on cookie mutations, and the static files.

Each test sends what a forged or broken request sends and checks the
refusal and that nothing changed. Run with /usr/bin/python3; ctest sets
PYTHONPATH so `import harness` works. Promises: docs/security.md (the
dashboard rows) and docs/dashboard.md.
"""
import json
import os
import socket
import subprocess
import tempfile
import unittest

import harness

code = harness.err_code


class CookieSession(harness.ApiCase):
    """One berthd; the admin signs in the way the dashboard does."""

    def session(self, email=harness.ADMIN_EMAIL, password=harness.ADMIN_PASSWORD):
        """(session secret, csrf token) from a cookie login, read from the
        Set-Cookie lines as a browser would."""
        conn = self.d.connection()
        try:
            conn.request("POST", "/api/v1/auth/login", body=json.dumps(
                {"email": email, "password": password, "cookie": True}),
                headers={"Content-Type": "application/json"})
            resp = conn.getresponse()
            body = json.loads(resp.read())
            cookies = resp.msg.get_all("Set-Cookie")
        finally:
            conn.close()
        self.assertEqual(resp.status, 200, body)
        self.assertNotIn("token", body)  # the page never sees the session secret
        sess = [c for c in cookies if c.startswith("berth_session=")][0]
        csrf = [c for c in cookies if c.startswith("berth_csrf=")][0]
        self.assertIn("HttpOnly", sess)
        self.assertIn("SameSite=Strict", sess)
        self.assertIn("Path=/", sess)
        self.assertNotIn("Secure", sess)  # plain HTTP here (test_tls: Secure)
        self.assertNotIn("HttpOnly", csrf)
        secret = sess.split(";")[0].split("=", 1)[1]
        token = csrf.split(";")[0].split("=", 1)[1]
        self.assertEqual(token, body["csrf"])
        return secret, token

    def with_cookie(self, method, path, secret, csrf=None, origin="self", body=None,
                    extra=None):
        h = {"Cookie": "berth_session=" + secret}
        if csrf is not None:
            h["X-CSRF-Token"] = csrf
        if origin == "self":
            h["Origin"] = self.d.url
        elif origin:
            h["Origin"] = origin
        h.update(extra or {})
        return self.d.request(method, "/api/v1" + path, headers=h, body=body)

    def org_names(self):
        return [o["name"] for o in self.req("GET", "/orgs", token=self.admin).json["items"]]

    # reads and writes that work

    def test_cookie_reads_and_same_origin_writes(self):
        secret, csrf = self.session()
        r = self.with_cookie("GET", "/me", secret, origin=None)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["token"]["kind"], "session")
        r = self.with_cookie("POST", "/orgs", secret, csrf, body={"name": "made-by-cookie"})
        self.assertEqual(r.status, 201, r)
        # no Origin at all (an older client): the CSRF token alone suffices
        r = self.with_cookie("POST", "/orgs", secret, csrf, origin=None,
                             body={"name": "made-without-origin"})
        self.assertEqual(r.status, 201, r)

    # forged mutations: 403 and nothing changes

    def test_missing_or_bad_csrf_token_is_403_and_changes_nothing(self):
        secret, csrf = self.session()
        before = self.org_names()
        bad = [None, "", "0" * 64, csrf[:-1], csrf[:-1] + ("0" if csrf[-1] != "0" else "1"),
               csrf.upper() if csrf.upper() != csrf else "A" * 64, csrf + "00", "x" * 300]
        for i, tok in enumerate(bad):
            r = self.with_cookie("POST", "/orgs", secret, tok, body={"name": "forged-%d" % i})
            self.assertEqual(r.status, 403, (tok, r))
            self.assertEqual(code(r), "csrf", r)
        # another session's token does not fit this session
        _, other = self.session()
        r = self.with_cookie("POST", "/orgs", secret, other, body={"name": "forged-other"})
        self.assertEqual((r.status, code(r)), (403, "csrf"), r)
        for method, path, body in (("DELETE", "/tokens/1", None),
                                   ("PATCH", "/orgs/default/members/1", {"role": "viewer"}),
                                   ("POST", "/auth/logout", None)):
            r = self.with_cookie(method, path, secret, None, body=body)
            self.assertEqual((r.status, code(r)), (403, "csrf"), (method, path, r))
        self.assertEqual(self.org_names(), before)
        # the session still works (logout was refused too)
        self.assertEqual(self.with_cookie("GET", "/me", secret).status, 200)

    def test_cross_origin_cookie_request_is_refused_even_with_the_token(self):
        secret, csrf = self.session()
        before = self.org_names()
        for origin in ("http://evil.example", "null", self.d.url + ".evil.example",
                       "https://127.0.0.1:%d" % self.d.port, self.d.url + "/",
                       "http://127.0.0.1:%d" % (self.d.port + 1)):
            r = self.with_cookie("POST", "/orgs", secret, csrf, origin=origin,
                                 body={"name": "cross"})
            self.assertEqual((r.status, code(r)), (403, "csrf"), (origin, r))
        r = self.with_cookie("POST", "/orgs", secret, csrf, body={"name": "cross-site"},
                             extra={"Sec-Fetch-Site": "cross-site"})
        self.assertEqual((r.status, code(r)), (403, "csrf"), r)
        self.assertEqual(self.org_names(), before)

    def test_cookie_goes_through_the_same_scopes(self):
        """A viewer's cookie with a valid CSRF token: the role decides (403)."""
        self.d.add_user(self.admin, "default", "viewer@example.com", "viewer")
        secret, csrf = self.session("viewer@example.com", "user-password-1")
        r = self.with_cookie("POST", "/orgs/default/servers", secret, csrf, body={"name": "nope"})
        self.assertEqual((r.status, code(r)), (403, "forbidden"), r)
        r = self.with_cookie("POST", "/orgs", secret, csrf, body={"name": "viewer-org"})
        self.assertEqual((r.status, code(r)), (403, "forbidden"), r)
        items = self.req("GET", "/orgs/default/servers", token=self.admin).json["items"]
        self.assertEqual([s for s in items if s["name"] == "nope"], [])
        # another organization's objects stay 404
        self.req("POST", "/orgs", token=self.admin, body={"name": "elsewhere"})
        r = self.with_cookie("GET", "/orgs/elsewhere/servers", secret)
        self.assertEqual(r.status, 404, r)

    # broken cookies

    def test_malformed_and_planted_cookies_are_401(self):
        secret, csrf = self.session()
        api = self.admin  # an API token is not a session: it never works as the cookie
        tok = self.d.create_token(self.admin, ["server:read"])["token"]
        for cookie in ("berth_session=", "berth_session=%s%%00" % secret,
                       "berth_session=\"%s\"" % secret, "berth_session=" + "a" * 100,
                       "berth_session=bts_" + "A" * 43,
                       "berth_session=%s; berth_session=bts_planted" % secret,
                       "berth_session=bts_planted; berth_session=%s" % secret,
                       "berth_session=" + tok, "berth_session=bad value"):
            r = self.d.request("GET", "/api/v1/me", headers={"Cookie": cookie})
            self.assertEqual(r.status, 401, (cookie, r))
            self.assertEqual(code(r), "unauthorized")
        # other cookies beside it, odd spacing, junk pairs: still found
        for cookie in ("a=b; berth_session=%s" % secret, "junk;;; berth_session=%s ;x" % secret,
                       "=; berth_session=%s" % secret, "berth_sessionx=1; berth_session=%s" % secret):
            r = self.d.request("GET", "/api/v1/me", headers={"Cookie": cookie})
            self.assertEqual(r.status, 200, (cookie, r))
        self.assertTrue(api)

    def test_oversized_cookie_header(self):
        secret, _ = self.session()
        big = "pad=" + "x" * 9000 + "; berth_session=" + secret
        r = self.d.request("GET", "/api/v1/me", headers={"Cookie": big})
        self.assertEqual((r.status, code(r)), (431, "header_too_large"), r)
        # a bearer client never pays for a browser's cookie jar
        r = self.d.request("GET", "/api/v1/me", token=self.admin, headers={"Cookie": big})
        self.assertEqual(r.status, 200, r)
        # berthd lives
        self.assertEqual(self.d.request("GET", "/healthz").status, 200)

    def test_nul_in_cookie(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=15)
        try:
            s.sendall(b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nCookie: berth_session=bts_a\x00b\r\n\r\n")
            data = b""
            while True:
                try:
                    chunk = s.recv(4096)
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
        finally:
            s.close()
        # lws may drop it itself; if berthd answers, it is a 400 or 401, never 200
        if data:
            status = int(data.split(b" ", 2)[1])
            self.assertIn(status, (400, 401), data[:300])
        self.assertEqual(self.d.request("GET", "/healthz").status, 200)

    def test_bearer_wins_over_a_cookie(self):
        """With an Authorization header the cookie is not read: the API for
        tokens is unchanged, and a cookie cannot lend a bearer client the
        session's rights or a CSRF refusal."""
        secret, _ = self.session()
        r = self.d.request("POST", "/api/v1/orgs", token=self.admin, body={"name": "bearer-ok"},
                           headers={"Cookie": "berth_session=" + secret, "Origin": "http://evil.example"})
        self.assertEqual(r.status, 201, r)
        r = self.d.request("GET", "/api/v1/me", headers={"Authorization": "Bearer bad",
                                                         "Cookie": "berth_session=" + secret})
        self.assertEqual(r.status, 401, r)

    def test_logout_clears_the_cookie_and_revokes_the_session(self):
        secret, csrf = self.session()
        conn = self.d.connection()
        try:
            conn.request("POST", "/api/v1/auth/logout", body=b"", headers={
                "Cookie": "berth_session=" + secret, "X-CSRF-Token": csrf, "Origin": self.d.url})
            resp = conn.getresponse()
            resp.read()
            cookies = resp.msg.get_all("Set-Cookie") or []
        finally:
            conn.close()
        self.assertEqual(resp.status, 204)
        self.assertTrue(any(c.startswith("berth_session=;") and "Max-Age=0" in c for c in cookies), cookies)
        self.assertTrue(any(c.startswith("berth_csrf=;") and "Max-Age=0" in c for c in cookies), cookies)
        r = self.with_cookie("GET", "/me", secret)
        self.assertEqual(r.status, 401, r)
        r = self.with_cookie("POST", "/orgs", secret, csrf, body={"name": "after-logout"})
        self.assertEqual(r.status, 401, r)

    def test_cookie_login_from_another_site_is_refused(self):
        """Login CSRF: a page elsewhere posting the attacker's credentials
        would sign the victim's browser in to the attacker's account."""
        body = {"email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD, "cookie": True}
        for extra in ({"Origin": "http://evil.example"}, {"Origin": "null"},
                      {"Sec-Fetch-Site": "cross-site"}, {"Origin": "x" * 2000}):
            r = self.d.request("POST", "/api/v1/auth/login", body=body, headers=extra)
            self.assertEqual((r.status, code(r)), (403, "csrf"), (extra, r))
            self.assertNotIn("set-cookie", r.headers)
        r = self.d.request("POST", "/api/v1/auth/login", body=body,
                           headers={"Origin": self.d.url, "Sec-Fetch-Site": "same-origin"})
        self.assertEqual(r.status, 200, r)
        # the bearer login is unchanged (no cookie asked for)
        r = self.d.request("POST", "/api/v1/auth/login", headers={"Origin": "http://evil.example"},
                           body={"email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD})
        self.assertEqual(r.status, 200, r)
        self.assertIn("token", r.json)

    def test_login_cookie_field_is_typed(self):
        r = self.d.request("POST", "/api/v1/auth/login", body={
            "email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD, "cookie": "yes"})
        self.assertEqual((r.status, code(r)), (400, "invalid_field"), r)
        self.assertNotIn("set-cookie", r.headers)


class SecureUnderTLS(unittest.TestCase):
    """Served over TLS, both cookies are Secure, and the Origin that
    matches is the https one."""

    def test_secure_cookies_and_https_origin(self):
        with tempfile.TemporaryDirectory(prefix="berth-tls-") as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
                            "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
            d = harness.Berthd(tls=(cert, key)).start()
            try:
                conn = d.connection()
                conn.request("POST", "/api/v1/auth/login", body=json.dumps(
                    {"email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD,
                     "cookie": True}), headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                body = json.loads(resp.read())
                cookies = resp.msg.get_all("Set-Cookie")
                conn.close()
                self.assertEqual(len(cookies), 2)
                for c in cookies:
                    self.assertIn("; Secure", c)
                secret = [c for c in cookies if c.startswith("berth_session=")][0].split(";")[0][14:]
                base = {"Cookie": "berth_session=" + secret, "X-CSRF-Token": body["csrf"]}
                r = d.request("POST", "/api/v1/orgs", body={"name": "over-http-origin"},
                              headers=dict(base, Origin="http://127.0.0.1:%d" % d.port))
                self.assertEqual((r.status, code(r)), (403, "csrf"), r)
                r = d.request("POST", "/api/v1/orgs", body={"name": "over-tls"},
                              headers=dict(base, Origin=d.url))
                self.assertEqual(r.status, 201, r)
            finally:
                d.close()


class StaticSurface(harness.ApiCase):
    """/static/ names never leave web/, and the page is always served with
    its CSP."""

    def test_static_names_stay_inside_web(self):
        for path in ("/static/", "/static/%2e%2e/CMakeLists.txt", "/static/..%2fscripts/install.sh",
                     "/static/.", "/static/%00", "/static/js/../../x",
                     "/static/" + "a" * 300, "/static/install.sh", "/static/../scripts/install.sh",
                     "/static/web/index.html"):
            r = self.d.request("GET", path)
            self.assertIn(r.status, (400, 404), (path, r))
            self.assertNotIn("#!/bin/sh", r.body)
        self.assertEqual(self.d.request("GET", "/healthz").status, 200)

    def test_every_page_answer_carries_the_csp(self):
        for path in ("/", "/login", "/o/default/servers", "/static/js/main.js", "/static/app.css"):
            r = self.d.request("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertIn("script-src 'self'", r.headers.get("content-security-policy", ""), path)
            self.assertEqual(r.headers.get("x-frame-options"), "DENY")

    def test_304_only_for_the_representation_served(self):
        conn = self.d.connection()
        try:
            conn.request("GET", "/static/app.css", headers={"Accept-Encoding": "gzip"})
            resp = conn.getresponse()
            resp.read()
            gz_tag = resp.getheader("etag")
        finally:
            conn.close()
        r = self.d.request("GET", "/static/app.css", headers={"If-None-Match": gz_tag})
        self.assertEqual(r.status, 200)  # no gzip asked for: the plain copy, in full
        self.assertNotEqual(r.headers["etag"], gz_tag)

    def test_if_none_match_junk(self):
        for inm in ("", "*", '"' * 400, "W/\"x\"", "\x7f" * 10):
            r = self.d.request("GET", "/static/app.css", headers={"If-None-Match": inm})
            self.assertIn(r.status, (200, 304), (inm, r))
        self.assertEqual(self.d.request("GET", "/healthz").status, 200)


if __name__ == "__main__":
    unittest.main()
