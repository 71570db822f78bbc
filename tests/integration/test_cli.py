"""The berth CLI against a real berthd: the CLI runs as a subprocess with its
own temporary config (BERTH_CONFIG), and every check goes through what a
script sees: exit codes, the one JSON document on stdout, the config file.

Run: BERTHD=build-cli/berthd BERTH=build-cli/berth /usr/bin/python3 -m unittest -v \
         tests/integration/test_cli.py        (from the repository root)
"""
import json
import os
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import ADMIN_EMAIL, ADMIN_PASSWORD, BERTH, Berthd, free_port  # noqa: E402

# Environment the CLI must not inherit from whoever runs the tests.
SCRUB = ("BERTH_URL", "BERTH_TOKEN", "BERTH_ORG", "BERTH_CACERT", "BERTH_CONFIG",
         "BERTH_PASSWORD", "BERTH_EMAIL", "BERTH_INVITE_TOKEN", "XDG_CONFIG_HOME")

COMMANDS = [["login"], ["logout"], ["whoami"], ["accept-invite"], ["org", "list"],
            ["org", "create"], ["org", "use"], ["member", "list"], ["member", "add"],
            ["member", "set-role"], ["member", "remove"], ["token", "create"],
            ["token", "list"], ["token", "revoke"], ["audit", "list"], ["version"],
            ["invite", "list"], ["invite", "accept"], ["invite", "decline"]]


class Result:
    def __init__(self, p):
        self.rc = p.returncode
        self.out = p.stdout
        self.err = p.stderr

    @property
    def doc(self):
        """stdout must be exactly one JSON document on one line."""
        lines = self.out.strip().split("\n")
        assert len(lines) == 1, "expected one JSON line, got %r" % self.out
        return json.loads(lines[0])

    def __repr__(self):
        return "<rc=%d out=%r err=%r>" % (self.rc, self.out[:400], self.err[:400])


class CliCase(unittest.TestCase):
    """One berthd per class; one config directory per test."""

    @classmethod
    def setUpClass(cls):
        cls.d = Berthd().start()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="berth-cli-")
        self.cfg = os.path.join(self.tmp.name, "cfg", "config.json")

    def tearDown(self):
        self.tmp.cleanup()

    def env(self, **extra):
        e = {k: v for k, v in os.environ.items() if k not in SCRUB}
        e["HOME"] = self.tmp.name
        e["BERTH_CONFIG"] = self.cfg
        for k, v in extra.items():
            if v is None:
                e.pop(k, None)
            else:
                e[k] = v
        return e

    def berth(self, *args, stdin="", **env):
        p = subprocess.run([BERTH] + list(args), input=stdin, capture_output=True, text=True,
                           env=self.env(**env), timeout=60)
        return Result(p)

    def ok(self, *args, **kw):
        r = self.berth(*args, "--json", **kw)
        self.assertEqual(r.rc, 0, r)
        doc = r.doc
        self.assertIs(doc["ok"], True, r)
        self.assertIn("data", doc)
        return doc["data"]

    def fails(self, code, *args, **kw):
        r = self.berth(*args, "--json", **kw)
        self.assertEqual(r.rc, code, r)
        doc = r.doc
        self.assertIs(doc["ok"], False, r)
        self.assertIsInstance(doc["error"]["code"], str)
        self.assertIsInstance(doc["error"]["message"], str)
        return doc["error"]

    def login(self, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
        return self.ok("login", "--url", self.d.url, "--email", email, stdin=password + "\n")

    def config(self):
        with open(self.cfg) as f:
            return json.load(f)


class TestSession(CliCase):
    def test_login_stores_token_in_a_private_config(self):
        data = self.login()
        self.assertEqual(data["user"]["email"], ADMIN_EMAIL)
        self.assertEqual(data["org"], "default")
        self.assertNotIn("token", data)
        cfg = self.config()
        self.assertTrue(cfg["token"].startswith("bts_"))
        self.assertEqual(cfg["url"], self.d.url)
        self.assertEqual(cfg["org"], "default")
        self.assertEqual(stat.S_IMODE(os.stat(self.cfg).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(self.cfg)).st_mode), 0o700)
        me = self.ok("whoami")
        self.assertEqual(me["user"]["email"], ADMIN_EMAIL)
        self.assertEqual(me["current_org"], "default")

    def test_login_password_from_env(self):
        data = self.ok("login", "--url", self.d.url, "--email", ADMIN_EMAIL,
                       BERTH_PASSWORD=ADMIN_PASSWORD)
        self.assertEqual(data["user"]["email"], ADMIN_EMAIL)

    def test_config_honours_xdg_config_home(self):
        xdg = os.path.join(self.tmp.name, "xdg")
        r = self.berth("login", "--url", self.d.url, "--email", ADMIN_EMAIL, "--json",
                       stdin=ADMIN_PASSWORD + "\n", BERTH_CONFIG=None, XDG_CONFIG_HOME=xdg)
        self.assertEqual(r.rc, 0, r)
        path = os.path.join(xdg, "berth", "config.json")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode), 0o700)
        self.assertFalse(os.path.exists(self.cfg))

    def test_secrets_are_never_arguments(self):
        for args in (["login", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD],
                     ["login", "--email", ADMIN_EMAIL, "--password=" + ADMIN_PASSWORD],
                     ["accept-invite", "--token", "bti_x"],
                     ["whoami", "--token", "bts_x"]):
            err = self.fails(2, *args, "--url", self.d.url)
            self.assertEqual(err["code"], "usage")
            self.assertNotIn(ADMIN_PASSWORD, err["message"])
        self.assertFalse(os.path.exists(self.cfg), "nothing may be stored")
        help_text = self.berth("login", "--help").out
        self.assertNotIn("--password", help_text)

    def test_wrong_password_is_exit_3(self):
        err = self.fails(3, "login", "--url", self.d.url, "--email", ADMIN_EMAIL,
                         stdin="not-the-password\n")
        self.assertEqual(err["code"], "invalid_credentials")
        self.assertFalse(os.path.exists(self.cfg))

    def test_bad_token_is_exit_3(self):
        err = self.fails(3, "whoami", "--url", self.d.url, BERTH_TOKEN="bts_bogus")
        self.assertEqual(err["code"], "unauthorized")
        err = self.fails(3, "org", "list", "--url", self.d.url)
        self.assertEqual(err["code"], "unauthenticated")

    def test_logout_revokes_and_forgets(self):
        self.login()
        token = self.config()["token"]
        self.ok("logout")
        self.assertNotIn("token", self.config())
        self.assertEqual(self.d.request("GET", "/api/v1/me", token=token).status, 401)
        self.fails(3, "whoami")

    def test_login_dry_run_hides_the_password_and_sends_nothing(self):
        data = self.ok("login", "--url", self.d.url, "--email", ADMIN_EMAIL, "--dry-run",
                       stdin=ADMIN_PASSWORD + "\n")
        self.assertIs(data["dry_run"], True)
        self.assertEqual(data["request"]["method"], "POST")
        self.assertNotIn(ADMIN_PASSWORD, json.dumps(data))
        self.assertFalse(os.path.exists(self.cfg))

    def test_unreachable_names_the_url(self):
        url = "http://127.0.0.1:%d" % free_port()
        err = self.fails(1, "whoami", "--url", url, BERTH_TOKEN="bts_x")
        self.assertEqual(err["code"], "unreachable")
        self.assertIn(url, err["message"])
        self.assertNotIn("bts_x", err["message"])


class TestUsage(CliCase):
    def test_help_on_every_command(self):
        for cmd in [[]] + [["org"], ["member"], ["token"], ["audit"], ["invite"]] + COMMANDS:
            r = self.berth(*cmd, "--help")
            self.assertEqual(r.rc, 0, (cmd, r))
            self.assertTrue(r.out.startswith("usage: berth"), (cmd, r))
            data = self.ok(*cmd, "--help")
            self.assertIn("usage: berth", data["usage"])

    def test_usage_errors_are_exit_2(self):
        cases = [[], ["frobnicate"], ["org"], ["org", "frob"], ["org", "list", "extra"],
                 ["org", "create"], ["org", "list", "--bogus"], ["org", "list", "--role", "x"],
                 ["member", "add", "x@example.com"], ["member", "add", "x@example.com",
                                                      "--role", "emperor"],
                 ["token", "create", "--name", "n"], ["token", "revoke", "abc"],
                 ["audit", "list", "--org", "default", "--limit", "0"],
                 ["whoami", "--url", "ftp://example.com"]]
        for args in cases:
            err = self.fails(2, *args, BERTH_TOKEN="bts_x")
            self.assertEqual(err["code"], "usage", args)

    def test_version(self):
        self.assertRegex(self.ok("version")["version"], r"^\d+\.\d+\.\d+$")
        self.assertTrue(self.berth("version").out.startswith("berth "))


class TestOrgsAndMembers(CliCase):
    def setUp(self):
        super().setUp()
        self.login()

    def test_org_create_use_and_conflicts(self):
        data = self.ok("org", "create", "cli-one")
        self.assertEqual(data["role"], "admin")
        err = self.fails(5, "org", "create", "cli-one")
        self.assertEqual(err["code"], "conflict")
        self.fails(4, "org", "use", "no-such-org")
        self.assertEqual(self.config()["org"], "default")
        self.ok("org", "use", "cli-one")
        self.assertEqual(self.config()["org"], "cli-one")
        names = {o["name"]: o for o in self.ok("org", "list")["items"]}
        self.assertIn("cli-one", names)
        human = self.berth("org", "list").out
        self.assertRegex(human, r"\*\s+\d+\s+cli-one")

    def test_unknown_org_is_exit_4(self):
        self.fails(4, "member", "list", "--org", "no-such-org")
        self.fails(4, "audit", "list", "--org", "no-such-org")

    def test_dry_run_sends_nothing(self):
        data = self.ok("org", "create", "cli-dry", "--dry-run")
        self.assertIs(data["dry_run"], True)
        self.assertTrue(data["request"]["url"].endswith("/api/v1/orgs"))
        self.assertEqual(data["request"]["body"], {"name": "cli-dry"})
        names = [o["name"] for o in self.ok("org", "list")["items"]]
        self.assertNotIn("cli-dry", names)

    def test_member_invite_accept_set_role_remove(self):
        self.ok("org", "create", "cli-team")
        added = self.ok("member", "add", "Dana@Example.com", "--role", "developer",
                        "--org", "cli-team")
        self.assertEqual(added["email"], "dana@example.com")
        invite = added["invite_token"]
        self.assertTrue(invite.startswith("bti_"))
        self.assertIn("accept-invite", added["accept_command"])
        self.assertNotIn(invite, added["accept_command"])
        self.fails(5, "member", "add", "dana@example.com", "--role", "viewer",
                   "--org", "cli-team")

        # Dana accepts on her own machine: token and password on stdin.
        dana = os.path.join(self.tmp.name, "dana", "config.json")
        r = self.berth("accept-invite", "--url", self.d.url, "--json",
                       stdin=invite + "\ndana-password-1\n", BERTH_CONFIG=dana)
        self.assertEqual(r.rc, 0, r)
        self.assertIs(r.doc["data"]["logged_in"], True)
        r = self.berth("whoami", "--json", BERTH_CONFIG=dana)
        self.assertEqual(r.doc["data"]["user"]["email"], "dana@example.com")
        self.assertEqual(r.doc["data"]["current_org"], "cli-team")
        r = self.berth("accept-invite", "--url", self.d.url, "--json",
                       BERTH_CONFIG=dana, BERTH_INVITE_TOKEN=invite,
                       BERTH_PASSWORD="dana-password-2")
        self.assertEqual(r.rc, 3, r)  # an invitation works once

        # A developer may not read the audit trail: permission is exit 3.
        r = self.berth("audit", "list", "--json", BERTH_CONFIG=dana)
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(r.doc["error"]["code"], "forbidden")

        data = self.ok("member", "set-role", "dana@example.com", "--role", "manager",
                       "--org", "cli-team")
        self.assertEqual(data["role"], "manager")
        data = self.ok("member", "set-role", "dana@example.com", "developer",
                       "--org", "cli-team")
        self.assertEqual(data["role"], "developer")
        self.fails(2, "member", "set-role", "dana@example.com", "viewer", "--role", "admin",
                   "--org", "cli-team")
        err = self.fails(5, "member", "set-role", ADMIN_EMAIL, "viewer", "--org", "cli-team")
        self.assertEqual(err["code"], "last_admin")
        self.fails(4, "member", "set-role", "nobody@example.com", "--role", "viewer",
                   "--org", "cli-team")
        # Destructive without --yes and without a terminal: refused, nothing done.
        self.fails(2, "member", "remove", "dana@example.com", "--org", "cli-team")
        emails = [m["email"] for m in
                  self.ok("member", "list", "--org", "cli-team")["items"]]
        self.assertIn("dana@example.com", emails)
        self.ok("member", "remove", "dana@example.com", "--org", "cli-team", "--yes")
        emails = [m["email"] for m in
                  self.ok("member", "list", "--org", "cli-team")["items"]]
        self.assertNotIn("dana@example.com", emails)


class TestTokens(CliCase):
    def setUp(self):
        super().setUp()
        self.login()

    def test_token_secret_is_shown_once(self):
        made = self.ok("token", "create", "--name", "ci", "--scope", "app:read",
                       "--scope", "deploy:read", "--org", "default", "--expires-in", "3600")
        secret = made["token"]
        self.assertTrue(secret.startswith("bta_"))
        self.assertEqual(sorted(made["scopes"]), ["app:read", "deploy:read"])
        self.assertTrue(secret.startswith(made["prefix"]))

        listed = self.ok("token", "list")["items"]
        mine = [t for t in listed if t["id"] == made["id"]]
        self.assertEqual(len(mine), 1)
        self.assertEqual(mine[0]["prefix"], made["prefix"])
        for r in (self.berth("token", "list", "--json"), self.berth("token", "list"),
                  self.berth("token", "list", "--verbose")):
            self.assertEqual(r.rc, 0, r)
            self.assertNotIn(secret, r.out + r.err)
            self.assertNotIn(self.config()["token"], r.out + r.err)
            self.assertNotIn("Authorization", r.err)
        self.assertIn(made["prefix"], self.berth("token", "list").out)

        # The new token works through BERTH_TOKEN, within its scopes.
        r = self.berth("whoami", "--json", BERTH_TOKEN=secret, BERTH_URL=self.d.url,
                       BERTH_CONFIG=os.path.join(self.tmp.name, "none.json"))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.doc["data"]["token"]["kind"], "api")

        self.fails(2, "token", "revoke", str(made["id"]))  # no --yes, no terminal
        dry = self.ok("token", "revoke", str(made["id"]), "--dry-run")
        self.assertEqual(dry["request"]["method"], "DELETE")
        self.assertEqual(self.d.request("GET", "/api/v1/me", token=secret).status, 200)
        self.ok("token", "revoke", str(made["id"]), "--yes")
        self.fails(4, "token", "revoke", str(made["id"]), "--yes")
        r = self.berth("whoami", "--json", BERTH_TOKEN=secret)
        self.assertEqual(r.rc, 3, r)

    def test_token_scope_beyond_role_is_forbidden(self):
        self.ok("org", "create", "cli-narrow")
        added = self.ok("member", "add", "vic@example.com", "--role", "viewer",
                        "--org", "cli-narrow")
        vic = os.path.join(self.tmp.name, "vic", "config.json")
        r = self.berth("accept-invite", "--url", self.d.url, "--json", BERTH_CONFIG=vic,
                       BERTH_INVITE_TOKEN=added["invite_token"],
                       BERTH_PASSWORD="vic-password-1")
        self.assertEqual(r.rc, 0, r)
        r = self.berth("token", "create", "--name", "x", "--scope", "audit:read", "--json",
                       BERTH_CONFIG=vic)
        self.assertEqual(r.rc, 3, r)
        self.assertEqual(r.doc["error"]["code"], "forbidden")
        r = self.berth("token", "create", "--name", "x", "--scope", "app:read", "--json",
                       BERTH_CONFIG=vic)
        self.assertEqual(r.rc, 0, r)
        err = self.fails(2, "token", "create", "--name", "x", "--scope", "no:such")
        self.assertEqual(err["code"], "invalid_field")


class TestAudit(CliCase):
    def setUp(self):
        super().setUp()
        self.login()

    def test_audit_pages_and_filters(self):
        self.ok("org", "create", "cli-audit")
        self.ok("org", "use", "cli-audit")
        for i in range(3):
            self.ok("member", "add", "audited%d@example.com" % i, "--role", "viewer")
        page = self.ok("audit", "list", "--limit", "1")
        self.assertEqual(len(page["items"]), 1)
        self.assertIsInstance(page["next_cursor"], str)
        nxt = self.ok("audit", "list", "--limit", "1", "--cursor", page["next_cursor"])
        self.assertLess(nxt["items"][0]["id"], page["items"][0]["id"])
        everything = self.ok("audit", "list", "--limit", "1", "--all")
        self.assertIsNone(everything["next_cursor"])
        self.assertGreaterEqual(len(everything["items"]), 4)  # org.create + 3 member.add
        ids = [e["id"] for e in everything["items"]]
        self.assertEqual(ids, sorted(ids, reverse=True))
        adds = self.ok("audit", "list", "--action", "member.*", "--since", "1h",
                       "--actor", ADMIN_EMAIL)
        self.assertEqual(len(adds["items"]), 3)
        self.assertTrue(all(e["action"] == "member.add" for e in adds["items"]))
        self.assertEqual(self.ok("audit", "list", "--until", "1970-01-02T00:00:00Z")["items"],
                         [])
        self.fails(2, "audit", "list", "--since", "yesterday-ish")
        human = self.berth("audit", "list")
        self.assertEqual(human.rc, 0, human)
        self.assertTrue(human.out.startswith("ID"), human)
        self.assertIn("member.add", human.out)


def make_cert(directory):
    cert = os.path.join(directory, "cert.pem")
    key = os.path.join(directory, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


class TestTls(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.certdir = tempfile.TemporaryDirectory(prefix="berth-cli-tls-")
        cls.cert = make_cert(cls.certdir.name)
        cls.d = Berthd(tls=cls.cert).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()
        cls.certdir.cleanup()

    def test_https_needs_the_ca(self):
        err = self.fails(1, "login", "--url", self.d.url, "--email", ADMIN_EMAIL,
                         stdin=ADMIN_PASSWORD + "\n")
        self.assertEqual(err["code"], "tls")
        self.assertIn(self.d.url, err["message"])
        self.ok("login", "--url", self.d.url, "--email", ADMIN_EMAIL, "--cacert", self.cert[0],
                stdin=ADMIN_PASSWORD + "\n")
        self.assertEqual(self.ok("whoami", BERTH_CACERT=self.cert[0])["user"]["email"],
                         ADMIN_EMAIL)


if __name__ == "__main__":
    unittest.main()
