"""The identity API end to end against a real berthd: sessions, orgs,
members and invitations, API tokens, the audit trail, login rate limits.

Each class runs its own berthd; sessions are made once per class (argon2id
makes each login cost about 100 ms).
"""
import time
import unittest

import harness

ORG = "default"


err_code = harness.err_code


class Base(harness.ApiCase):
    def members(self, org=ORG, token=None):
        r = self.req("GET", "/orgs/%s/members" % org, token=token or self.admin)
        self.assertEqual(r.status, 200, r)
        return {m["email"]: m for m in r.json["items"]}


class TestAuth(Base):
    def test_login_returns_session_and_user(self):
        r = self.req("POST", "/auth/login",
                     body={"email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["token"].startswith("bts_"), r)
        self.assertEqual(r.json["user"]["email"], harness.ADMIN_EMAIL)
        self.assertRegex(r.json["expires_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_login_email_is_case_insensitive(self):
        tok = self.d.login(harness.ADMIN_EMAIL.upper(), harness.ADMIN_PASSWORD)
        self.assertEqual(self.req("GET", "/me", token=tok).status, 200)

    def test_wrong_password_and_unknown_user_look_the_same(self):
        a = self.req("POST", "/auth/login", body={"email": harness.ADMIN_EMAIL, "password": "nope-nope"})
        b = self.req("POST", "/auth/login", body={"email": "ghost@example.com", "password": "nope-nope"})
        self.assertEqual(a.status, 401, a)
        self.assertEqual(b.status, 401, b)
        self.assertEqual(a.json, b.json)
        self.assertNotIn("token", a.json)

    def test_me(self):
        r = self.req("GET", "/me", token=self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user"]["email"], harness.ADMIN_EMAIL)
        self.assertEqual(r.json["token"]["kind"], "session")
        self.assertEqual([o["name"] for o in r.json["orgs"]], [ORG])
        self.assertEqual(r.json["orgs"][0]["role"], "admin")
        self.assertNotIn("password_hash", r.body)

    def test_me_without_token(self):
        r = self.req("GET", "/me")
        self.assertEqual(r.status, 401, r)
        self.assertIn("bearer", r.headers.get("www-authenticate", "").lower())
        r = self.req("GET", "/me", token="bts_not-a-real-token")
        self.assertEqual(r.status, 401, r)
        r = self.req("GET", "/me", headers={"Authorization": "Basic YWRtaW46YWRtaW4="})
        self.assertEqual(r.status, 401, r)

    def test_logout_revokes_only_that_session(self):
        t1 = self.d.login()
        t2 = self.d.login()
        self.assertEqual(self.req("GET", "/me", token=t1).status, 200)
        r = self.req("POST", "/auth/logout", token=t1)
        self.assertEqual(r.status, 204, r)
        r = self.req("GET", "/me", token=t1)
        self.assertEqual(r.status, 401, r)
        self.assertIn("revoked", r.json["error"]["message"])
        self.assertEqual(self.req("GET", "/me", token=t2).status, 200)
        self.assertEqual(self.req("POST", "/auth/logout", token=t1).status, 401)


class TestOrgs(Base):
    def test_create_list_get(self):
        r = self.req("POST", "/orgs", token=self.admin, body={"name": "acme"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["role"], "admin")
        oid = r.json["id"]
        r = self.req("GET", "/orgs", token=self.admin)
        self.assertEqual(r.status, 200, r)
        names = {o["name"]: o for o in r.json["items"]}
        self.assertIn("acme", names)
        self.assertIn(ORG, names)
        by_name = self.req("GET", "/orgs/acme", token=self.admin)
        by_id = self.req("GET", "/orgs/%d" % oid, token=self.admin)
        self.assertEqual(by_name.status, 200, by_name)
        self.assertEqual(by_name.json, by_id.json)
        self.assertEqual(by_name.json["role"], "admin")
        self.assertIn("user:write", by_name.json["scopes"])

    def test_duplicate_name_conflicts(self):
        self.assertEqual(self.req("POST", "/orgs", token=self.admin, body={"name": "dup"}).status, 201)
        r = self.req("POST", "/orgs", token=self.admin, body={"name": "dup"})
        self.assertEqual(r.status, 409, r)
        r = self.req("POST", "/orgs", token=self.admin, body={"name": ORG})
        self.assertEqual(r.status, 409, r)

    def test_bad_names(self):
        for name in ["", "UPPER", "-lead", "trail-", "42", "a b", "x" * 64, "sl/ash"]:
            r = self.req("POST", "/orgs", token=self.admin, body={"name": name})
            self.assertEqual(r.status, 422, (name, r))
            self.assertIn("name", r.json["error"]["message"])

    def test_unknown_org(self):
        self.assertEqual(self.req("GET", "/orgs/nope", token=self.admin).status, 404)
        self.assertEqual(self.req("GET", "/orgs/99999", token=self.admin).status, 404)


class TestMembers(Base):
    def invite(self, email, role, org=ORG, token=None):
        r = self.req("POST", "/orgs/%s/members" % org, token=token or self.admin,
                     body={"email": email, "role": role})
        self.assertEqual(r.status, 201, r)
        return r.json

    def test_invite_accept_login(self):
        m = self.invite("Carol@Example.com", "developer")
        self.assertEqual(m["email"], "carol@example.com")
        self.assertEqual(m["status"], "invited")
        self.assertTrue(m["invite_token"].startswith("bti_"))
        self.assertEqual(self.members()["carol@example.com"]["status"], "invited")
        # An invited user cannot log in before accepting.
        r = self.req("POST", "/auth/login", body={"email": "carol@example.com", "password": "whatever-1"})
        self.assertEqual(r.status, 401)
        r = self.req("POST", "/auth/accept-invite", body={"token": m["invite_token"], "password": "short"})
        self.assertEqual(r.status, 422, r)
        r = self.req("POST", "/auth/accept-invite",
                     body={"token": m["invite_token"], "password": "carol-password"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["user"]["status"], "active")
        r = self.req("POST", "/auth/accept-invite",
                     body={"token": m["invite_token"], "password": "another-password"})
        self.assertEqual(r.status, 401, r)  # single use
        tok = self.d.login("carol@example.com", "carol-password")
        with self.assertRaises(AssertionError):
            self.d.login("carol@example.com", "another-password")
        me = self.req("GET", "/me", token=tok).json
        self.assertEqual(me["orgs"][0]["role"], "developer")
        self.assertEqual(self.members()["carol@example.com"]["status"], "active")

    def test_bogus_invite_token(self):
        r = self.req("POST", "/auth/accept-invite", body={"token": "bti_forged", "password": "password-1"})
        self.assertEqual(r.status, 401, r)

    def test_add_existing_member_conflicts(self):
        self.invite("dup@example.com", "viewer")
        r = self.req("POST", "/orgs/%s/members" % ORG, token=self.admin,
                     body={"email": "DUP@example.com", "role": "admin"})
        self.assertEqual(r.status, 409, r)
        self.assertEqual(self.members()["dup@example.com"]["role"], "viewer")

    def test_bad_role_and_email(self):
        r = self.req("POST", "/orgs/%s/members" % ORG, token=self.admin,
                     body={"email": "x@example.com", "role": "owner"})
        self.assertEqual(r.status, 422, r)
        r = self.req("POST", "/orgs/%s/members" % ORG, token=self.admin,
                     body={"email": "not-an-email", "role": "viewer"})
        self.assertEqual(r.status, 422, r)
        self.assertNotIn("x@example.com", self.members())

    def test_set_role_and_remove(self):
        tok = self.d.add_user(self.admin, ORG, "dave@example.com", "viewer", password="dave-password")
        uid = self.members()["dave@example.com"]["user_id"]
        # by id
        r = self.req("PATCH", "/orgs/%s/members/%d" % (ORG, uid), token=self.admin, body={"role": "manager"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["role"], "manager")
        self.assertEqual(self.members()["dave@example.com"]["role"], "manager")
        # the new role applies to the existing session at once
        self.assertEqual(self.req("GET", "/orgs/%s/audit" % ORG, token=tok).status, 200)
        # by email, in any case (emails are case-insensitive everywhere)
        r = self.req("PATCH", "/orgs/%s/members/Dave@Example.COM" % ORG, token=self.admin,
                     body={"role": "viewer"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.req("GET", "/orgs/%s/audit" % ORG, token=tok).status, 403)
        r = self.req("DELETE", "/orgs/%s/members/%d" % (ORG, uid), token=self.admin)
        self.assertEqual(r.status, 204, r)
        self.assertNotIn("dave@example.com", self.members())
        # removed: the org no longer exists for them
        self.assertEqual(self.req("GET", "/orgs/%s" % ORG, token=tok).status, 404)
        r = self.req("DELETE", "/orgs/%s/members/%d" % (ORG, uid), token=self.admin)
        self.assertEqual(r.status, 404, r)
        r = self.req("PATCH", "/orgs/%s/members/%d" % (ORG, uid), token=self.admin, body={"role": "admin"})
        self.assertEqual(r.status, 404, r)

    def test_last_admin_is_kept(self):
        self.assertEqual(self.req("POST", "/orgs", token=self.admin, body={"name": "solo"}).status, 201)
        me = self.req("GET", "/me", token=self.admin).json["user"]["id"]
        r = self.req("PATCH", "/orgs/solo/members/%d" % me, token=self.admin, body={"role": "manager"})
        self.assertEqual(r.status, 409, r)
        self.assertEqual(err_code(r), "last_admin")
        r = self.req("DELETE", "/orgs/solo/members/%d" % me, token=self.admin)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(self.members("solo")[harness.ADMIN_EMAIL]["role"], "admin")
        # With a second admin, the first may step down.
        self.d.add_user(self.admin, "solo", "second@example.com", "admin", password="second-admin-pw")
        r = self.req("PATCH", "/orgs/solo/members/%d" % me, token=self.admin, body={"role": "viewer"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.members("solo")[harness.ADMIN_EMAIL]["role"], "viewer")

    def test_multi_org_user_has_a_role_per_org(self):
        self.assertEqual(self.req("POST", "/orgs", token=self.admin, body={"name": "alpha"}).status, 201)
        self.assertEqual(self.req("POST", "/orgs", token=self.admin, body={"name": "beta"}).status, 201)
        tok = self.d.add_user(self.admin, "alpha", "erin@example.com", "admin", password="erin-password")
        # Already a user: joining beta is an invitation too, answered as for anyone
        # (issue 12 item 8), which she accepts while logged in as herself.
        m = self.invite("erin@example.com", "viewer", org="beta")
        self.assertIn("invite_token", m)
        self.assertEqual(m["status"], "invited")
        self.assertEqual(self.req("GET", "/orgs/beta", token=tok).status, 404)
        inv = self.req("GET", "/invites", token=tok).json["items"][0]["id"]
        self.assertEqual(self.req("POST", "/invites/%d/accept" % inv, token=tok).status, 200)
        roles = {o["name"]: o["role"] for o in self.req("GET", "/orgs", token=tok).json["items"]}
        self.assertEqual(roles, {"alpha": "admin", "beta": "viewer"})
        r = self.req("POST", "/orgs/alpha/members", token=tok, body={"email": "f@example.com", "role": "viewer"})
        self.assertEqual(r.status, 201, r)
        r = self.req("POST", "/orgs/beta/members", token=tok, body={"email": "g@example.com", "role": "viewer"})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.req("GET", "/orgs/beta/audit", token=tok).status, 403)
        self.assertEqual(self.req("GET", "/orgs/alpha/audit", token=tok).status, 200)
        self.assertEqual(self.req("GET", "/orgs/%s" % ORG, token=tok).status, 404)

    def test_viewer_cannot_manage_members(self):
        tok = self.d.add_user(self.admin, ORG, "vic@example.com", "viewer", password="vic-password")
        before = self.members()
        r = self.req("POST", "/orgs/%s/members" % ORG, token=tok, body={"email": "h@example.com", "role": "admin"})
        self.assertEqual(r.status, 403, r)
        uid = before[harness.ADMIN_EMAIL]["user_id"]
        r = self.req("PATCH", "/orgs/%s/members/%d" % (ORG, uid), token=tok, body={"role": "viewer"})
        self.assertEqual(r.status, 403, r)
        r = self.req("DELETE", "/orgs/%s/members/%d" % (ORG, uid), token=tok)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.members(), before)
        # and cannot create organizations either
        self.assertEqual(self.req("POST", "/orgs", token=tok, body={"name": "vic-org"}).status, 403)


class TestTokens(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.d
        cls.viewer = d.add_user(cls.admin, ORG, "viewer@example.com", "viewer", password="viewer-pass")
        assert d.request("POST", "/api/v1/orgs", token=cls.admin, body={"name": "other"}).status == 201

    def tokens(self, token):
        r = self.req("GET", "/tokens", token=token)
        self.assertEqual(r.status, 200, r)
        return r.json["items"]

    def test_create_list_revoke(self):
        t = self.d.create_token(self.admin, ["app:read", "deploy:write"], name="ci")
        self.assertTrue(t["token"].startswith("bta_"))
        self.assertEqual(sorted(t["scopes"]), ["app:read", "deploy:write"])
        self.assertTrue(t["token"].startswith(t["prefix"]))
        items = {i["id"]: i for i in self.tokens(self.admin)}
        self.assertIn(t["id"], items)
        self.assertEqual(items[t["id"]]["name"], "ci")
        self.assertNotIn("token", items[t["id"]])  # shown once, never listed
        me = self.req("GET", "/me", token=t["token"]).json
        self.assertEqual(me["token"]["kind"], "api")
        self.assertEqual(sorted(me["token"]["scopes"]), ["app:read", "deploy:write"])
        r = self.req("DELETE", "/tokens/%d" % t["id"], token=self.admin)
        self.assertEqual(r.status, 204, r)
        self.assertNotIn(t["id"], [i["id"] for i in self.tokens(self.admin)])
        r = self.req("GET", "/me", token=t["token"])
        self.assertEqual(r.status, 401, r)
        r = self.req("DELETE", "/tokens/%d" % t["id"], token=self.admin)
        self.assertEqual(r.status, 404, r)

    def test_token_scope_limits_what_it_can_do(self):
        t = self.d.create_token(self.admin, ["app:read"], name="ro")
        self.assertEqual(self.req("GET", "/orgs/%s/members" % ORG, token=t["token"]).status, 200)
        r = self.req("POST", "/orgs/%s/members" % ORG, token=t["token"],
                     body={"email": "x@example.com", "role": "viewer"})
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.req("GET", "/orgs/%s/audit" % ORG, token=t["token"]).status, 403)
        # no token:write: cannot mint or revoke
        r = self.req("POST", "/tokens", token=t["token"], body={"name": "x", "scopes": ["app:read"]})
        self.assertEqual(r.status, 403, r)

    def test_viewer_gets_only_a_subset_of_viewer_scopes(self):
        t = self.d.create_token(self.viewer, ["app:read", "deploy:read"])
        self.assertEqual(sorted(t["scopes"]), ["app:read", "deploy:read"])
        for scope in ["app:write", "user:write", "audit:read", "org:write"]:
            r = self.req("POST", "/tokens", token=self.viewer, body={"name": "x", "scopes": [scope]})
            self.assertEqual(r.status, 403, (scope, r))
            self.assertIn(scope, r.json["error"]["message"])

    def test_token_cannot_mint_more_than_it_holds(self):
        parent = self.d.create_token(self.admin, ["app:read", "token:write"], name="parent")
        r = self.req("POST", "/tokens", token=parent["token"], body={"name": "c", "scopes": ["app:write"]})
        self.assertEqual(r.status, 403, r)
        child = self.d.create_token(parent["token"], ["app:read"], name="child")
        self.assertEqual(child["scopes"], ["app:read"])

    def test_bad_token_requests(self):
        for body, status in [({"name": "x", "scopes": []}, 422),
                             ({"name": "x", "scopes": ["nope:read"]}, 422),
                             ({"name": "", "scopes": ["app:read"]}, 422),
                             ({"name": "x", "scopes": ["app:read"], "expires_in": 0}, 422),
                             ({"name": "x", "scopes": ["app:read"], "expires_in": 10 ** 9}, 422)]:
            r = self.req("POST", "/tokens", token=self.admin, body=body)
            self.assertEqual(r.status, status, (body, r))

    def test_cannot_revoke_another_users_token(self):
        t = self.d.create_token(self.viewer, ["app:read"])
        r = self.req("DELETE", "/tokens/%d" % t["id"], token=self.admin)
        self.assertEqual(r.status, 404, r)
        self.assertEqual(self.req("GET", "/me", token=t["token"]).status, 200)
        self.assertIn(t["id"], [i["id"] for i in self.tokens(self.viewer)])
        self.assertNotIn(t["id"], [i["id"] for i in self.tokens(self.admin)])

    def test_org_bound_token(self):
        t = self.d.create_token(self.admin, ["app:read", "token:write"], org=ORG, name="bound")
        self.assertIsInstance(t["org"], int)
        self.assertEqual(self.req("GET", "/orgs/%s" % ORG, token=t["token"]).status, 200)
        r = self.req("GET", "/orgs/other", token=t["token"])
        self.assertEqual(r.status, 404, r)  # admin of 'other', but not with this token
        orgs = self.req("GET", "/orgs", token=t["token"]).json["items"]
        self.assertEqual([o["name"] for o in orgs], [ORG])
        # what it mints is bound too, and it cannot mint for another org
        child = self.d.create_token(t["token"], ["app:read"], name="child")
        self.assertEqual(child["org"], t["org"])
        r = self.req("POST", "/tokens", token=t["token"],
                     body={"name": "x", "scopes": ["app:read"], "org": "other"})
        self.assertEqual(r.status, 404, r)

    def test_org_bound_scopes_follow_the_role_in_that_org(self):
        # the viewer is not in 'other'
        r = self.req("POST", "/tokens", token=self.viewer,
                     body={"name": "x", "scopes": ["app:read"], "org": "other"})
        self.assertEqual(r.status, 404, r)
        # a bound token for ORG narrows to the viewer's role there
        r = self.req("POST", "/tokens", token=self.viewer,
                     body={"name": "x", "scopes": ["app:write"], "org": ORG})
        self.assertEqual(r.status, 403, r)

    def test_demotion_narrows_existing_tokens(self):
        tok = self.d.add_user(self.admin, ORG, "demoted@example.com", "admin", password="demoted-pass")
        t = self.d.create_token(tok, ["audit:read", "user:write"], name="wide")
        self.assertEqual(self.req("GET", "/orgs/%s/audit" % ORG, token=t["token"]).status, 200)
        r = self.req("PATCH", "/orgs/%s/members/demoted@example.com" % ORG, token=self.admin,
                     body={"role": "viewer"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(self.req("GET", "/orgs/%s/audit" % ORG, token=t["token"]).status, 403)

    def test_short_lived_token_expires(self):
        t = self.d.create_token(self.admin, ["app:read"], expires_in=1)
        deadline = time.time() + 5
        while True:
            r = self.req("GET", "/me", token=t["token"])
            if r.status == 401:
                break
            self.assertEqual(r.status, 200, r)
            self.assertLess(time.time(), deadline, "token did not expire")
            time.sleep(0.2)
        self.assertIn("expired", r.json["error"]["message"])


class TestAudit(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.d
        cls.viewer = d.add_user(cls.admin, ORG, "aud-viewer@example.com", "viewer", password="viewer-pass")
        cls.manager = d.add_user(cls.admin, ORG, "aud-manager@example.com", "manager", password="manager-pass")
        for i in range(5):
            r = d.request("POST", "/api/v1/orgs/%s/members" % ORG, token=cls.admin,
                          body={"email": "bulk%d@example.com" % i, "role": "viewer"})
            assert r.status == 201, r

    def audit(self, query="", token=None):
        r = self.req("GET", "/orgs/%s/audit%s" % (ORG, query), token=token or self.admin)
        self.assertEqual(r.status, 200, r)
        return r.json

    def all_entries(self, query=""):
        sep = "&" if query else "?"
        out, cursor, pages = [], None, 0
        while True:
            q = query + ((sep + "cursor=" + cursor) if cursor else "")
            page = self.audit(q)
            out += page["items"]
            pages += 1
            cursor = page["next_cursor"]
            if not cursor:
                return out, pages
            self.assertLess(pages, 100)

    def test_mutations_are_recorded(self):
        entries = self.audit("?action=member.add&actor=" + harness.ADMIN_EMAIL)["items"]
        emails = [e["target"] for e in entries]
        self.assertGreaterEqual(len(entries), 7)
        e = entries[0]
        self.assertEqual(e["outcome"], "success")
        self.assertEqual(e["status"], 201)
        self.assertEqual(e["actor"]["email"], harness.ADMIN_EMAIL)
        self.assertEqual(e["detail"], {"role": "viewer"})
        self.assertTrue(all(t.startswith("user:") for t in emails))
        self.assertEqual(e["ip"], "127.0.0.1")

    def test_reads_are_not_recorded(self):
        before = len(self.all_entries()[0])
        for _ in range(3):
            self.assertEqual(self.req("GET", "/orgs/%s/members" % ORG, token=self.admin).status, 200)
            # HEAD is a read too (it runs the GET route)
            self.assertEqual(self.req("HEAD", "/orgs/%s/members" % ORG, token=self.admin).status, 200)
        self.assertEqual(len(self.all_entries()[0]), before)

    def test_filters(self):
        everything, _ = self.all_entries()
        by_actor, _ = self.all_entries("?actor=" + harness.ADMIN_EMAIL)
        self.assertTrue(by_actor)
        self.assertTrue(all((e["actor"] or {}).get("email") == harness.ADMIN_EMAIL for e in by_actor))
        self.assertLess(len(by_actor), len(everything))
        admin_id = by_actor[0]["actor"]["id"]
        by_id, _ = self.all_entries("?actor=%d" % admin_id)
        self.assertEqual([e["id"] for e in by_id], [e["id"] for e in by_actor])
        prefix, _ = self.all_entries("?action=member.*")
        self.assertTrue(prefix)
        self.assertTrue(all(e["action"].startswith("member.") for e in prefix))
        self.assertEqual(self.audit("?action=member")["items"], [])
        self.assertEqual(self.audit("?actor=nobody@example.com")["items"], [])
        newest = everything[0]["at"]
        self.assertEqual(self.audit("?since=2000-01-01T00:00:00Z&until=2000-01-02T00:00:00Z")["items"], [])
        since_all, _ = self.all_entries("?since=2000-01-01T00:00:00Z")
        self.assertEqual(len(since_all), len(everything))
        until_newest, _ = self.all_entries("?until=" + newest)
        self.assertEqual(len(until_newest), len(everything))
        self.assertEqual(self.audit("?since=" + str(int(time.time()) + 3600))["items"], [])

    def test_cursor_pagination(self):
        everything, _ = self.all_entries()
        self.assertGreaterEqual(len(everything), 7)
        paged, pages = self.all_entries("?limit=2")
        self.assertEqual([e["id"] for e in paged], [e["id"] for e in everything])
        self.assertEqual(pages, (len(everything) + 1) // 2)
        ids = [e["id"] for e in paged]
        self.assertEqual(ids, sorted(ids, reverse=True))  # newest first, no repeats
        self.assertEqual(len(set(ids)), len(ids))
        filtered, _ = self.all_entries("?action=member.add&limit=3")
        self.assertEqual([e["id"] for e in filtered],
                         [e["id"] for e in everything if e["action"] == "member.add"])

    def test_bad_queries(self):
        for q in ["?limit=0", "?limit=501", "?limit=x", "?cursor=abc", "?cursor=-5",
                  "?since=yesterday", "?until=2026-99-99"]:
            r = self.req("GET", "/orgs/%s/audit%s" % (ORG, q), token=self.admin)
            self.assertEqual(r.status, 400, (q, r))

    def test_denied_attempts_are_recorded(self):
        r = self.req("POST", "/orgs/%s/members" % ORG, token=self.viewer,
                     body={"email": "sneaky@example.com", "role": "admin"})
        self.assertEqual(r.status, 403, r)
        entries = self.audit("?actor=aud-viewer@example.com")["items"]
        self.assertTrue(entries, "the refused attempt left no audit entry")
        e = entries[0]
        self.assertEqual(e["action"], "member.add")
        self.assertEqual(e["outcome"], "denied")
        self.assertEqual(e["status"], 403)
        self.assertNotIn("sneaky@example.com", self.members())

    def test_outsider_probing_is_recorded(self):
        d = self.d
        self.assertEqual(self.req("POST", "/orgs", token=self.admin, body={"name": "outside"}).status, 201)
        out = d.add_user(self.admin, "outside", "prober@example.com", "admin", password="prober-pass")
        r = self.req("GET", "/orgs/%s/members" % ORG, token=out)
        self.assertEqual(r.status, 404, r)
        entries = self.audit("?actor=prober@example.com")["items"]
        self.assertTrue(entries)
        self.assertEqual(entries[0]["outcome"], "denied")
        self.assertEqual(entries[0]["status"], 404)
        # ... and the prober sees nothing of ORG's audit
        self.assertEqual(self.req("GET", "/orgs/%s/audit" % ORG, token=out).status, 404)

    def test_audit_needs_audit_read(self):
        self.assertEqual(self.req("GET", "/orgs/%s/audit" % ORG, token=self.viewer).status, 403)
        self.audit(token=self.manager)


def bad_login(d, email, source=None):
    return d.request("POST", "/api/v1/auth/login", body={"email": email, "password": "wrong-password"},
                     source=source)


class TestLoginRateLimitPerAccount(Base):
    env = {"BERTH_LOGIN_MAX_ACCOUNT": "3", "BERTH_LOGIN_MAX_ADDRESS": "100",
           "BERTH_LOGIN_WINDOW": "3"}

    def test_account_blocked_then_released(self):
        d = self.d
        d.add_user(self.admin, ORG, "target@example.com", "viewer", password="target-pass")
        for _ in range(3):
            self.assertEqual(bad_login(d, "target@example.com").status, 401)
        r = bad_login(d, "target@example.com")
        self.assertEqual(r.status, 429, r)
        retry = int(r.headers["retry-after"])
        self.assertTrue(1 <= retry <= 3, retry)
        # even the right password waits, from any address
        r = self.req("POST", "/auth/login", body={"email": "TARGET@example.com", "password": "target-pass"},
                     source="127.0.0.2")
        self.assertEqual(r.status, 429, r)
        # other accounts are unaffected
        self.d.login()
        time.sleep(retry + 0.5)
        self.d.login("target@example.com", "target-pass")

    def test_success_resets_the_count(self):
        d = self.d
        d.add_user(self.admin, ORG, "resets@example.com", "viewer", password="resets-pass")
        for _ in range(2):
            self.assertEqual(bad_login(d, "resets@example.com").status, 401)
        d.login("resets@example.com", "resets-pass")
        for _ in range(2):
            self.assertEqual(bad_login(d, "resets@example.com").status, 401)
        d.login("resets@example.com", "resets-pass")

    def test_unknown_account_is_limited_the_same(self):
        # otherwise the limit would tell which accounts exist
        d = self.d
        for _ in range(3):
            self.assertEqual(bad_login(d, "ghost-x@example.com").status, 401)
        r = bad_login(d, "ghost-x@example.com")
        self.assertEqual(r.status, 429, r)


class TestLoginRateLimitPerAddress(Base):
    env = {"BERTH_LOGIN_MAX_ACCOUNT": "100", "BERTH_LOGIN_MAX_ADDRESS": "4",
           "BERTH_LOGIN_WINDOW": "60"}

    def test_address_blocked_across_accounts(self):
        d = self.d
        for i in range(4):
            self.assertEqual(bad_login(d, "spray%d@example.com" % i).status, 401)
        r = bad_login(d, "spray-next@example.com")
        self.assertEqual(r.status, 429, r)
        retry = int(r.headers["retry-after"])
        self.assertTrue(1 <= retry <= 60, retry)
        r = self.req("POST", "/auth/login",
                     body={"email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD})
        self.assertEqual(r.status, 429, r)
        # another address is not blocked
        r = self.req("POST", "/auth/login",
                     body={"email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD},
                     source="127.0.0.3")
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
