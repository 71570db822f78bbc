"""Identity and access under attack, against a real berthd (issue 12, items
5-8): another organization's admin taking over an invited account, the
member-add answer telling whether an email has an account, parallel wrong
passwords racing the failed-login limit, and API tokens outliving the
session or token that minted them.

Run with /usr/bin/python3; ctest sets PYTHONPATH so `import harness` works.
"""
import json
import os
import subprocess
import tempfile
import threading
import time
import unittest

import harness

ORG = "default"


code = harness.err_code


class Base(harness.ApiCase):
    def add(self, org, email, role, token=None):
        r = self.req("POST", "/orgs/%s/members" % org, token=token or self.admin,
                     body={"email": email, "role": role})
        self.assertEqual(r.status, 201, r)
        return r.json

    def accept_token(self, token, password):
        return self.req("POST", "/auth/accept-invite", body={"token": token, "password": password})

    def login_status(self, email, password):
        return self.req("POST", "/auth/login", body={"email": email, "password": password}).status


class TestCrossOrgTakeover(Base):
    """Item 5: org B's admin adds the email of a user still invited in org A."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.d
        assert d.request("POST", "/api/v1/orgs", token=cls.admin, body={"name": "org-b"}).status == 201
        cls.mallory = d.add_user(cls.admin, "org-b", "mallory@example.com", "admin",
                                 password="mallory-password")

    def test_second_invitation_cannot_set_the_password(self):
        victim = "victim@example.com"
        tok_a = self.add(ORG, victim, "admin")["invite_token"]
        tok_b = self.add("org-b", victim, "viewer", token=self.mallory)["invite_token"]
        self.assertEqual(self.accept_token(tok_a, "victim-password-1").status, 200)
        session = self.d.login(victim, "victim-password-1")

        r = self.accept_token(tok_b, "mallory-owns-you")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(code(r), "invalid_invite")
        # The victim's password is unchanged, Mallory cannot log in as her,
        # and her session still works.
        self.assertEqual(self.login_status(victim, "mallory-owns-you"), 401)
        self.assertEqual(self.login_status(victim, "victim-password-1"), 200)
        me = self.req("GET", "/me", token=session)
        self.assertEqual(me.status, 200, me)
        self.assertEqual([o["name"] for o in me.json["orgs"]], [ORG])
        # Accepting A voided B's invitation: she has nothing pending.
        self.assertEqual(self.req("GET", "/invites", token=session).json["items"], [])

    def test_race_both_tokens_at_once(self):
        """Both invitations redeemed together: exactly one sets a password."""
        victim = "racer@example.com"
        tok_a = self.add(ORG, victim, "viewer")["invite_token"]
        tok_b = self.add("org-b", victim, "viewer", token=self.mallory)["invite_token"]
        out = {}

        def go(name, tok, pw):
            out[name] = self.accept_token(tok, pw).status

        ts = [threading.Thread(target=go, args=("a", tok_a, "racer-password-a")),
              threading.Thread(target=go, args=("b", tok_b, "racer-password-b"))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(sorted(out.values()), [200, 401], out)
        ok = [self.login_status(victim, "racer-password-" + k) for k in "ab"]
        self.assertEqual(sorted(ok), [200, 401], ok)

    def test_invite_token_of_an_active_account_sets_nothing(self):
        """Adding an active account hands out a token that cannot set its password."""
        tok = self.add(ORG, "mallory@example.com", "viewer")["invite_token"]
        r = self.accept_token(tok, "someone-else-pw")
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.login_status("mallory@example.com", "mallory-password"), 200)
        self.assertEqual(self.login_status("mallory@example.com", "someone-else-pw"), 401)


class TestAddMemberOracle(Base):
    """Item 8: same answer with or without an account, and no membership
    without the account's consent."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d = cls.d
        assert d.request("POST", "/api/v1/orgs", token=cls.admin, body={"name": "home"}).status == 201
        cls.erin = d.add_user(cls.admin, "home", "erin@example.com", "admin", password="erin-password")
        assert d.request("POST", "/api/v1/orgs", token=cls.admin, body={"name": "probe"}).status == 201

    def shape(self, j):
        return {k: (type(v).__name__ if k in ("invite_token", "invite_expires_at") else v)
                for k, v in j.items() if k != "email"}

    def test_same_answer_and_consent(self):
        r1 = self.req("POST", "/orgs/probe/members", token=self.admin,
                      body={"email": "erin@example.com", "role": "viewer"})
        r2 = self.req("POST", "/orgs/probe/members", token=self.admin,
                      body={"email": "nobody-yet@example.com", "role": "viewer"})
        self.assertEqual(r1.status, 201, r1)
        self.assertEqual(r2.status, r1.status, r2)
        self.assertEqual(self.shape(r1.json), self.shape(r2.json))
        self.assertEqual(r1.json["status"], "invited")
        self.assertIsNone(r1.json["user_id"])
        members = {m["email"]: m for m in
                   self.req("GET", "/orgs/probe/members", token=self.admin).json["items"]}
        a, b = members["erin@example.com"], members["nobody-yet@example.com"]
        self.assertEqual({k: v for k, v in a.items() if k != "email"},
                         {k: v for k, v in b.items() if k != "email"})
        # Erin is not a member until she accepts.
        self.assertEqual(self.req("GET", "/orgs/probe", token=self.erin).status, 404)
        self.assertNotIn("probe", [o["name"] for o in
                                   self.req("GET", "/me", token=self.erin).json["orgs"]])
        mine = self.req("GET", "/invites", token=self.erin).json["items"]
        self.assertEqual([(i["org"]["name"], i["role"]) for i in mine], [("probe", "viewer")])
        inv = mine[0]["id"]
        # A token bound to one organization sees no invitations to others.
        bound = self.d.create_token(self.erin, ["app:read"], org="home")["token"]
        self.assertEqual(self.req("GET", "/invites", token=bound).json["items"], [])
        self.assertEqual(self.req("DELETE", "/invites/%d" % inv, token=bound).status, 404)
        # Only her login session accepts, not an API token; not someone else.
        api = self.d.create_token(self.erin, ["app:read"])["token"]
        r = self.req("POST", "/invites/%d/accept" % inv, token=api)
        self.assertEqual(r.status, 403, r)
        r = self.req("POST", "/invites/%d/accept" % inv, token=self.admin)
        self.assertEqual(r.status, 404, r)
        r = self.req("POST", "/invites/%d/accept" % inv, token=self.erin)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["org"]["name"], "probe")
        self.assertEqual(self.req("GET", "/orgs/probe", token=self.erin).status, 200)
        r = self.req("POST", "/invites/%d/accept" % inv, token=self.erin)
        self.assertEqual(r.status, 404, r)  # once

    def test_decline_and_withdraw(self):
        # The admin withdraws an invitation like removing a member.
        self.add("home", "gone@example.com", "viewer", token=self.erin)
        r = self.req("DELETE", "/orgs/home/members/gone@example.com", token=self.erin)
        self.assertEqual(r.status, 204, r)
        emails = [m["email"] for m in
                  self.req("GET", "/orgs/home/members", token=self.erin).json["items"]]
        self.assertNotIn("gone@example.com", emails)
        # The invitee declines.
        self.assertEqual(self.req("POST", "/orgs", token=self.admin, body={"name": "spam"}).status, 201)
        self.add("spam", "erin@example.com", "viewer")
        inv = [i["id"] for i in self.req("GET", "/invites", token=self.erin).json["items"]
               if i["org"]["name"] == "spam"][0]
        self.assertEqual(self.req("DELETE", "/invites/%d" % inv, token=self.erin).status, 204)
        self.assertEqual(self.req("POST", "/invites/%d/accept" % inv, token=self.erin).status, 404)
        self.assertNotIn("erin@example.com", [m["email"] for m in self.req(
            "GET", "/orgs/spam/members", token=self.admin).json["items"]])

    def test_cli_accepts_as_an_existing_user(self):
        self.assertEqual(self.req("POST", "/orgs", token=self.admin, body={"name": "cli-org"}).status, 201)
        self.add("cli-org", "erin@example.com", "developer")
        with tempfile.TemporaryDirectory() as tmp:
            env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
            env.update(BERTH_CONFIG=os.path.join(tmp, "config.json"), BERTH_PASSWORD="erin-password")

            def berth(*args):
                p = subprocess.run([harness.BERTH] + list(args) + ["--json"], env=env,
                                   capture_output=True, text=True, timeout=60)
                return p.returncode, json.loads(p.stdout.strip().split("\n")[-1])

            rc, _ = berth("login", "--url", self.d.url, "--email", "erin@example.com")
            self.assertEqual(rc, 0)
            rc, doc = berth("invite", "list")
            self.assertEqual(rc, 0, doc)
            self.assertIn("cli-org", [i["org"]["name"] for i in doc["data"]["items"]])
            rc, doc = berth("invite", "accept", "cli-org")
            self.assertEqual(rc, 0, doc)
            self.assertEqual(doc["data"]["org"]["name"], "cli-org")
            rc, doc = berth("invite", "accept", "cli-org")
            self.assertEqual(rc, 4, doc)  # nothing pending any more
        self.assertEqual(self.req("GET", "/orgs/cli-org", token=self.erin).status, 200)


def parallel(n, fn):
    """Runs fn(i) in n threads released together; returns the results."""
    out = [None] * n
    gate = threading.Barrier(n)

    def run(i):
        gate.wait()
        out[i] = fn(i)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


class TestLoginLimitInFlight(Base):
    """Item 6: 40 parallel wrong passwords against 5 per account, 20 per address."""
    env = {"BERTH_LOGIN_MAX_ACCOUNT": "5", "BERTH_LOGIN_MAX_ADDRESS": "20"}

    def wrong(self, email, source):
        return self.d.request("POST", "/api/v1/auth/login", source=source,
                              body={"email": email, "password": "wrong-password"}).status

    def test_account_limit_counts_attempts_in_flight(self):
        st = parallel(40, lambda i: self.wrong(harness.ADMIN_EMAIL, "127.0.0.3"))
        self.assertEqual(set(st) - {401, 429}, set(), st)
        self.assertLessEqual(st.count(401), 5, st)
        self.assertGreaterEqual(st.count(401), 1, st)
        # The account is now held for the window, right password or not.
        r = self.d.request("POST", "/api/v1/auth/login", source="127.0.0.4",
                           body={"email": harness.ADMIN_EMAIL, "password": harness.ADMIN_PASSWORD})
        self.assertEqual(r.status, 429, r)
        self.assertTrue(r.headers.get("retry-after"))

    def test_address_limit_counts_attempts_in_flight(self):
        st = parallel(40, lambda i: self.wrong("user%d@example.com" % i, "127.0.0.5"))
        self.assertEqual(set(st) - {401, 429}, set(), st)
        self.assertLessEqual(st.count(401), 20, st)
        self.assertGreaterEqual(st.count(401), 1, st)

    def test_success_frees_its_reservation(self):
        """Reservations settle: sequential logins never pile up, a success resets."""
        self.d.add_user(self.admin, ORG, "sam@example.com", "viewer", password="sam-password")
        for _ in range(3):
            for _ in range(4):
                self.assertEqual(self.wrong("sam@example.com", "127.0.0.6"), 401)
            r = self.d.request("POST", "/api/v1/auth/login", source="127.0.0.6",
                               body={"email": "sam@example.com", "password": "sam-password"})
            self.assertEqual(r.status, 200, r)


class TestTokenLineage(Base):
    """Item 7: a child token never outlives its parent."""

    def test_expiry_capped_at_the_parent(self):
        parent = self.d.create_token(self.admin, ["token:write", "app:read"], expires_in=60)
        child = self.d.create_token(parent["token"], ["app:read"], expires_in=366 * 24 * 3600)
        self.assertLessEqual(child["expires_at"], parent["expires_at"])
        short = self.d.create_token(self.admin, ["token:write", "app:read"], expires_in=2)
        kid = self.d.create_token(short["token"], ["app:read"], expires_in=3600)
        self.assertEqual(self.req("GET", "/me", token=kid["token"]).status, 200)
        time.sleep(3.2)
        r = self.req("GET", "/me", token=kid["token"])
        self.assertEqual(r.status, 401, r)

    def test_revoking_the_parent_revokes_the_children(self):
        parent = self.d.create_token(self.admin, ["token:write", "app:read"], expires_in=60)
        child = self.d.create_token(parent["token"], ["token:write", "app:read"],
                                    expires_in=366 * 24 * 3600)
        grandchild = self.d.create_token(child["token"], ["app:read"])
        sibling = self.d.create_token(self.admin, ["app:read"])
        for t in (child, grandchild):  # warm the lookup cache
            self.assertEqual(self.req("GET", "/me", token=t["token"]).status, 200)
        r = self.req("DELETE", "/tokens/%d" % parent["id"], token=self.admin)
        self.assertEqual(r.status, 204, r)
        for t in (parent, child, grandchild):
            r = self.req("GET", "/me", token=t["token"])
            self.assertEqual(r.status, 401, r)
        self.assertEqual(self.req("GET", "/me", token=sibling["token"]).status, 200)
        listed = [i["id"] for i in self.req("GET", "/tokens", token=self.admin).json["items"]]
        self.assertNotIn(child["id"], listed)
        self.assertIn(sibling["id"], listed)

    def test_logout_ends_the_session_not_its_api_tokens(self):
        """A login mints the account's own (root) API tokens: a CI token
        outlives the login it was made in; the session itself ends."""
        session = self.d.login()
        t = self.d.create_token(session, ["app:read"], expires_in=366 * 24 * 3600)
        a_year = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 365 * 24 * 3600))
        self.assertGreater(t["expires_at"], a_year)
        self.assertEqual(self.req("GET", "/me", token=t["token"]).status, 200)
        self.assertEqual(self.req("POST", "/auth/logout", token=session).status, 204)
        self.assertEqual(self.req("GET", "/me", token=session).status, 401)
        self.assertEqual(self.req("GET", "/me", token=t["token"]).status, 200)

if __name__ == "__main__":
    unittest.main()
