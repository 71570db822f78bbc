"""Secrets stay secret: after users, invitations, tokens and logins, no
password, bearer token, invitation token or master key appears in berthd's
log (at debug level, with the access log on), in any later API answer, in
the process table, or in the database files; and the data directory and
its files are private to the owner.
"""
import os
import stat
import subprocess
import tempfile
import unittest

import harness

ORG = "default"


class TestSecrets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = d = harness.Berthd(env={"BERTH_LOG_LEVEL": "debug", "BERTH_ACCESS_LOG": "1"}).start()
        cls.secrets = {"admin password": harness.ADMIN_PASSWORD}
        with open(os.path.join(d.data, "master.key")) as f:
            cls.secrets["master key"] = f.read().strip()
        cls.admin = d.login()
        cls.secrets["admin session"] = cls.admin

        # an invitation, accepted
        r = d.request("POST", "/api/v1/orgs/%s/members" % ORG, token=cls.admin,
                      body={"email": "dev@example.com", "role": "developer"})
        assert r.status == 201, r
        cls.secrets["invite token"] = r.json["invite_token"]
        cls.secrets["dev password"] = "dev-secret-password-42"
        r = d.request("POST", "/api/v1/auth/accept-invite",
                      body={"token": r.json["invite_token"], "password": cls.secrets["dev password"]})
        assert r.status == 200, r
        cls.dev = d.login("dev@example.com", cls.secrets["dev password"])
        cls.secrets["dev session"] = cls.dev
        # an invitation left pending
        r = d.request("POST", "/api/v1/orgs/%s/members" % ORG, token=cls.admin,
                      body={"email": "pending@example.com", "role": "viewer"})
        cls.secrets["pending invite token"] = r.json["invite_token"]

        # API tokens, one of them revoked, one of them used for a request
        t1 = d.create_token(cls.admin, ["app:read", "audit:read"], name="ci")
        t2 = d.create_token(cls.dev, ["app:read"], name="dev-token")
        cls.secrets["api token"] = t1["token"]
        cls.secrets["dev api token"] = t2["token"]
        assert d.request("GET", "/api/v1/orgs/%s/audit" % ORG, token=t1["token"]).status == 200
        assert d.request("DELETE", "/api/v1/tokens/%d" % t2["id"], token=cls.dev).status == 204
        assert d.request("GET", "/api/v1/me", token=t2["token"]).status == 401

        # failures carry secrets too: a wrong password, a wrong token, a
        # used invitation
        cls.secrets["mistyped password"] = "Admin-Password-Typo-9"
        r = d.request("POST", "/api/v1/auth/login",
                      body={"email": harness.ADMIN_EMAIL, "password": cls.secrets["mistyped password"]})
        assert r.status == 401, r
        cls.secrets["forged token"] = "bta_ForgedTokenValueThatShouldNeverBeLogged0001"
        assert d.request("GET", "/api/v1/me", token=cls.secrets["forged token"]).status == 401
        r = d.request("POST", "/api/v1/auth/accept-invite",
                      body={"token": cls.secrets["invite token"], "password": "second-try-password"})
        assert r.status == 401, r
        cls.secrets["second try password"] = "second-try-password"

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def assertNoSecret(self, where, text):
        for name, value in self.secrets.items():
            self.assertTrue(value and len(value) >= 8, name)
            self.assertNotIn(value, text, "%s found in %s" % (name, where))

    def test_setup_really_logged(self):
        # the check below only means something if the log is busy
        log = self.d.log_text()
        self.assertIn("/api/v1/auth/login", log)
        self.assertIn("/api/v1/auth/accept-invite", log)
        self.assertIn("/api/v1/tokens", log)

    def test_not_in_log(self):
        self.assertNoSecret("the log", self.d.log_text())

    def test_not_in_api_answers(self):
        d = self.d
        for tok in (self.admin, self.dev):
            for path in ["/api/v1/me", "/api/v1/tokens", "/api/v1/orgs", "/api/v1/orgs/%s" % ORG,
                         "/api/v1/orgs/%s/members" % ORG]:
                r = d.request("GET", path, token=tok)
                self.assertEqual(r.status, 200, (path, r))
                self.assertNoSecret(path, r.body)
        r = d.request("GET", "/api/v1/orgs/%s/audit?limit=500" % ORG, token=self.admin)
        self.assertEqual(r.status, 200, r)
        self.assertGreaterEqual(len(r.json["items"]), 3)
        self.assertNoSecret("the audit list", r.body)
        r = d.request("GET", "/metrics")
        self.assertNoSecret("/metrics", r.body)

    def test_token_list_shows_prefix_only(self):
        r = self.d.request("GET", "/api/v1/tokens", token=self.admin)
        items = r.json["items"]
        self.assertTrue(items)
        for it in items:
            self.assertLessEqual(len(it["prefix"]), 12)
            self.assertTrue(self.secrets["api token"].startswith(it["prefix"]))

    def test_not_in_process_table(self):
        out = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True, check=True).stdout
        self.assertIn(harness.BERTHD, out)  # berthd is there to be seen
        self.assertNoSecret("ps", out)
        with open("/proc/%d/cmdline" % self.d.proc.pid, "rb") as f:
            self.assertNoSecret("berthd's argv", f.read().replace(b"\0", b" ").decode())

    def test_not_in_database_files(self):
        found = 0
        for name in os.listdir(self.d.data):
            if name.startswith("berth.db"):
                found += 1
                with open(os.path.join(self.d.data, name), "rb") as f:
                    blob = f.read().decode("latin-1")
                secrets = {k: v for k, v in self.secrets.items() if k != "master key"}
                for label, value in secrets.items():
                    self.assertNotIn(value, blob, "%s stored in %s" % (label, name))
                self.assertNotIn(self.secrets["master key"], blob)
        self.assertGreater(found, 0)

    def test_file_modes(self):
        data = self.d.data
        self.assertEqual(stat.S_IMODE(os.stat(data).st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(data, "master.key")).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.join(data, "berth.db")).st_mode), 0o600)
        for name in os.listdir(data):
            mode = stat.S_IMODE(os.stat(os.path.join(data, name)).st_mode)
            self.assertEqual(mode & 0o077, 0, "%s is mode %o" % (name, mode))

    def test_modes_do_not_depend_on_the_callers_umask(self):
        # a careless umask (0) when running init must not widen anything
        tmp = tempfile.TemporaryDirectory(prefix="berth-umask-")
        try:
            data = os.path.join(tmp.name, "data")
            env = dict(os.environ, BERTH_ADMIN_PASSWORD="umask-password-1")
            subprocess.run(["sh", "-c", 'umask 000; exec "$0" "$@"', harness.BERTHD, "init", "--data", data,
                            "--admin-email", "u@example.com"], env=env, check=True, capture_output=True)
            self.assertEqual(stat.S_IMODE(os.stat(data).st_mode), 0o700)
            for name in os.listdir(data):
                mode = stat.S_IMODE(os.stat(os.path.join(data, name)).st_mode)
                self.assertEqual(mode & 0o077, 0, "%s is mode %o" % (name, mode))
        finally:
            tmp.cleanup()


if __name__ == "__main__":
    unittest.main()
