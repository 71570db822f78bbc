"""Role x route access matrix, generated from `berthd routes`.

For every route berthd lists and every kind of caller (admin, manager,
developer, viewer; no token; a member of another organization only; an
expired token; a revoked token) the answer must be what the access rules
say:

  public routes   -> never 401 (and, with the valid inputs given here, 2xx)
  user routes     -> 401 without a live token; 403 when no role the caller
                     holds has the route's scope; allowed otherwise
  org routes      -> 401 without a live token; 404 for an organization the
                     caller is not in; 403 when the caller's role there lacks
                     the route's scope; allowed otherwise

The role -> scope table is written out below from the access rules, not
read from berthd. Mutating routes get fresh targets for every cell, so no
cell changes what a later cell sees.
"""
import itertools
import time
import unittest

import harness

ALL_SCOPES = [
    "server:read", "server:write", "app:read", "app:write", "deploy:read", "deploy:write",
    "env:write", "script:run", "terminal:open", "token:write", "user:write", "org:write",
    "audit:read", "container:exec", "server:exec", "schedule:read", "schedule:write",
]
_VIEWER = {"server:read", "app:read", "deploy:read", "token:write", "schedule:read"}
_DEVELOPER = _VIEWER | {"app:write", "deploy:write", "env:write", "script:run",
                        "container:exec", "schedule:write"}
_MANAGER = _DEVELOPER | {"server:write", "audit:read"}
ROLE_SCOPES = {
    "viewer": _VIEWER,
    "developer": _DEVELOPER,
    "manager": _MANAGER,
    "admin": set(ALL_SCOPES),
}
ROLES = ["admin", "manager", "developer", "viewer"]
ORG = "default"
OTHER = "elsewhere"

_seq = itertools.count(1)


def fresh(prefix):
    return "%s-%d-%d" % (prefix, int(time.time() * 1000) % 100000000, next(_seq))


class Caller:
    """One row of the matrix: a credential and the org it targets."""

    def __init__(self, name, token, org, kind, held=frozenset(), email=None, password=None):
        self.name = name
        self.token = token
        self.org = org          # organization put in {org}
        self.kind = kind        # "member", "outsider", "anonymous", "dead"
        self.held = set(held)   # union of the scopes of every role the caller holds
        self.role_in_org = None
        self.email = email
        self.password = password


class RoleRouteMatrix(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = harness.Berthd().start()
        d = cls.d
        cls.admin = d.login()
        cls.callers = []
        cls.passwords = {harness.ADMIN_EMAIL: harness.ADMIN_PASSWORD}
        for role in ROLES:
            if role == "admin":
                email, tok = harness.ADMIN_EMAIL, cls.admin
            else:
                email = "%s@example.com" % role
                cls.passwords[email] = "pw-%s-123" % role
                tok = d.add_user(cls.admin, ORG, email, role, password=cls.passwords[email])
            c = Caller(role, tok, ORG, "member", ROLE_SCOPES[role], email, cls.passwords[email])
            c.role_in_org = role
            cls.callers.append(c)

        # A member of another organization only (its admin).
        r = d.request("POST", "/api/v1/orgs", token=cls.admin, body={"name": OTHER})
        assert r.status == 201, r
        out_email = "outsider@example.com"
        cls.passwords[out_email] = "pw-outsider-123"
        out_tok = d.add_user(cls.admin, OTHER, out_email, "admin", password=cls.passwords[out_email])
        cls.callers.append(Caller("outsider", out_tok, ORG, "outsider", ROLE_SCOPES["admin"],
                                  out_email, cls.passwords[out_email]))
        # A default-only member aiming at the other organization.
        viewer = next(c for c in cls.callers if c.name == "viewer")
        cls.callers.append(Caller("viewer-in-other-org", viewer.token, OTHER, "outsider",
                                  ROLE_SCOPES["viewer"], viewer.email, viewer.password))

        cls.callers.append(Caller("no-token", None, ORG, "anonymous"))

        revoked = d.create_token(cls.admin, ALL_SCOPES, name="to-revoke")
        assert d.request("GET", "/api/v1/me", token=revoked["token"]).status == 200
        r = d.request("DELETE", "/api/v1/tokens/%d" % revoked["id"], token=cls.admin)
        assert r.status == 204, r
        cls.callers.append(Caller("revoked", revoked["token"], ORG, "dead"))

        expired = d.create_token(cls.admin, ALL_SCOPES, name="to-expire", expires_in=2)
        assert d.request("GET", "/api/v1/me", token=expired["token"]).status == 200
        deadline = time.time() + 6
        while d.request("GET", "/api/v1/me", token=expired["token"]).status != 401:
            assert time.time() < deadline, "a 2 s token did not expire"
            time.sleep(0.2)
        cls.callers.append(Caller("expired", expired["token"], ORG, "dead"))
        cls.routes = d.routes()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    # ---- fixtures: a valid request for each known route ----

    def _member_target(self, org):
        """A fresh invitee of org (viewer), added by the admin; returns its email
        (the answer carries no user id: it would tell whether the account existed)."""
        email = fresh("target") + "@example.com"
        r = self.d.request("POST", "/api/v1/orgs/%s/members" % org, token=self.admin,
                           body={"email": email, "role": "viewer"})
        self.assertEqual(r.status, 201, r)
        return email

    def _own_token_id(self, caller):
        """A token id the caller owns (or, for a caller without a live
        token, one of the admin's)."""
        tok = caller.token if caller.kind in ("member", "outsider") else self.admin
        return self.d.create_token(tok, ["app:read"], name=fresh("victim"))["id"]

    def fixture(self, route, caller):
        """(path, body, token) for one cell; None for a route this test does
        not know (then only the refusals are checked exactly)."""
        d = self.d
        method, pattern = route["method"], route["path"]
        org = caller.org
        key = (method, pattern)
        tok = caller.token
        if key == ("GET", "/healthz") or key == ("GET", "/metrics"):
            return pattern, None, tok
        if key == ("POST", "/api/v1/auth/login"):
            return pattern, {"email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD}, tok
        if key == ("POST", "/api/v1/auth/logout"):
            # Log out a fresh session, never the one later cells use.
            if caller.password:
                tok = d.login(caller.email, caller.password)
            return pattern, None, tok
        if key == ("POST", "/api/v1/auth/accept-invite"):
            r = d.request("POST", "/api/v1/orgs/%s/members" % ORG, token=self.admin,
                          body={"email": fresh("invitee") + "@example.com", "role": "viewer"})
            self.assertEqual(r.status, 201, r)
            return pattern, {"token": r.json["invite_token"], "password": "invitee-pass-1"}, tok
        if key in (("GET", "/api/v1/me"), ("GET", "/api/v1/orgs"), ("GET", "/api/v1/tokens")):
            return pattern, None, tok
        if key == ("POST", "/api/v1/orgs"):
            return pattern, {"name": fresh("org")}, tok
        if key in (("GET", "/api/v1/orgs/{org}"), ("GET", "/api/v1/orgs/{org}/members"),
                   ("GET", "/api/v1/orgs/{org}/audit")):
            return pattern.replace("{org}", org), None, tok
        if key == ("POST", "/api/v1/orgs/{org}/members"):
            return (pattern.replace("{org}", org),
                    {"email": fresh("new") + "@example.com", "role": "viewer"}, tok)
        if key == ("PATCH", "/api/v1/orgs/{org}/members/{user}"):
            uid = self._member_target(org)
            return (pattern.replace("{org}", org).replace("{user}", str(uid)),
                    {"role": "developer"}, tok)
        if key == ("DELETE", "/api/v1/orgs/{org}/members/{user}"):
            uid = self._member_target(org)
            return pattern.replace("{org}", org).replace("{user}", str(uid)), None, tok
        if key == ("POST", "/api/v1/tokens"):
            return pattern, {"name": fresh("tok"), "scopes": ["app:read"]}, tok
        if key == ("DELETE", "/api/v1/tokens/{id}"):
            return pattern.replace("{id}", str(self._own_token_id(caller))), None, tok
        return None

    def generic_request(self, route, caller):
        path = route["path"].replace("{org}", caller.org)
        while "{" in path:
            a = path.index("{")
            path = path[:a] + "1" + path[path.index("}", a) + 1:]
        body = {} if route["method"] in ("POST", "PUT", "PATCH") else None
        return path, body, caller.token

    # ---- the rules ----

    def expected(self, route, caller):
        """'ok', 401, 403 or 404."""
        auth, scope = route["auth"], route.get("scope")
        if auth == "public":
            return "ok"
        if caller.kind in ("anonymous", "dead"):
            return 401
        if auth == "user":
            if scope and scope not in caller.held:
                return 403
            return "ok"
        if auth == "org":
            if caller.kind == "outsider":
                return 404
            if scope and scope not in ROLE_SCOPES[caller.role_in_org]:
                return 403
            return "ok"
        self.fail("unknown auth kind %r for %s %s" % (auth, route["method"], route["path"]))

    def test_route_listing_is_complete(self):
        by_key = {(r["method"], r["path"]): r for r in self.routes}
        # The table must at least hold the identity API; each row is well formed.
        for key, auth, scope in [
                (("POST", "/api/v1/auth/login"), "public", None),
                (("GET", "/api/v1/me"), "user", None),
                (("POST", "/api/v1/orgs"), "user", "org:write"),
                (("POST", "/api/v1/orgs/{org}/members"), "org", "user:write"),
                (("DELETE", "/api/v1/tokens/{id}"), "user", "token:write"),
                (("GET", "/api/v1/orgs/{org}/audit"), "org", "audit:read")]:
            self.assertIn(key, by_key)
            self.assertEqual(by_key[key]["auth"], auth, key)
            self.assertEqual(by_key[key].get("scope"), scope, key)
        for r in self.routes:
            self.assertIn(r["method"], ("GET", "POST", "PUT", "PATCH", "DELETE"), r)
            self.assertIn(r["auth"], ("public", "user", "org"), r)
            if r.get("scope"):
                self.assertIn(r["scope"], ALL_SCOPES, r)
            if r["auth"] == "org":
                self.assertTrue(r["path"].startswith("/api/v1/orgs/{org}"), r)

    def test_matrix(self):
        cells = 0
        for route in self.routes:
            for caller in self.callers:
                cells += 1
                name = "%s %s as %s" % (route["method"], route["path"], caller.name)
                with self.subTest(cell=name):
                    self.check_cell(route, caller)
        self.assertEqual(cells, len(self.routes) * len(self.callers))
        self.assertGreaterEqual(len(self.callers), 9)

    def stream_head(self, path, token):
        """A GET of a streamed answer (the event stream): its status and
        headers, the body only when it is an error (it then ends)."""
        conn = self.d.connection()
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
            resp = conn.getresponse()
            body = resp.read().decode() if resp.status >= 300 else ""
            return harness.Response(resp.status, {k.lower(): v for k, v in resp.getheaders()},
                                    body)
        finally:
            conn.close()

    def check_cell(self, route, caller):
        want = self.expected(route, caller)
        fx = self.fixture(route, caller)
        known = fx is not None
        path, body, token = fx if known else self.generic_request(route, caller)
        if route["path"].endswith("/events"):  # a stream that does not end: its head only
            r = self.stream_head(path, token)
        else:
            r = self.d.request(route["method"], path, token=token, body=body)
        code = (r.json or {}).get("error", {}).get("code") if isinstance(r.json, dict) else None
        if want == 401:
            self.assertEqual(r.status, 401, r)
            self.assertEqual(code, "unauthorized", r)
        elif want == 403:
            self.assertEqual(r.status, 403, r)
            self.assertEqual(code, "forbidden", r)
            self.assertIn(route["scope"], r.json["error"]["message"])
        elif want == 404:
            self.assertEqual(r.status, 404, r)
            self.assertEqual(code, "not_found", r)
        elif known:
            self.assertTrue(200 <= r.status < 300, r)
        else:
            self.assertNotIn(r.status, (401, 403), r)
            if r.status == 404:
                self.assertNotIn("organization", r.body, r)
            self.assertLess(r.status, 500, r)


if __name__ == "__main__":
    unittest.main()
