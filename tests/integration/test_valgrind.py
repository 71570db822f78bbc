"""berthd and the CLI under valgrind: no invalid reads/writes, no use of
uninitialised memory, no definite leaks, across a session of real requests
(login with argon2id on the worker pool, org and member changes, tokens,
audit, errors, logout) and a clean shutdown."""
import os
import shutil
import subprocess
import time
import unittest

import harness

# Valgrind cannot run binaries built with AddressSanitizer.
VALGRIND = None if os.environ.get("BERTH_SANITIZED") == "ON" else shutil.which("valgrind")
VG_ARGS = ["--error-exitcode=99", "--leak-check=full", "--errors-for-leak-kinds=definite",
           "--track-origins=no", "-q"]


@unittest.skipUnless(VALGRIND, "valgrind not installed, or a sanitizer build")
class BerthdUnderValgrind(unittest.TestCase):
    def test_session_is_clean(self):
        d = harness.Berthd()
        self.addCleanup(d.close)
        log = open(d.log_path, "ab")
        proc = subprocess.Popen([VALGRIND] + VG_ARGS + [harness.BERTHD, "serve", "--data", d.data,
                                 "--listen", "127.0.0.1:%d" % d.port],
                                stdout=log, stderr=log, env=d.env)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if d.request("GET", "/healthz").status == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            self.fail("berthd under valgrind did not come up: " + d.log_text())

        tok = d.login()
        self.assertEqual(d.request("GET", "/api/v1/me", token=tok).status, 200)
        self.assertEqual(d.request("POST", "/api/v1/orgs", token=tok, body={"name": "vg"}).status, 201)
        r = d.request("POST", "/api/v1/orgs/vg/members", token=tok,
                      body={"email": "vg@example.com", "role": "viewer"})
        self.assertEqual(r.status, 201)
        self.assertEqual(d.request("POST", "/api/v1/auth/accept-invite",
                                   body={"token": r.json["invite_token"],
                                         "password": "vg-password-1"}).status, 200)
        self.assertEqual(d.request("PATCH", "/api/v1/orgs/vg/members/vg@example.com", token=tok,
                                   body={"role": "developer"}).status, 200)
        t = d.request("POST", "/api/v1/tokens", token=tok,
                      body={"name": "vg", "scopes": ["app:read"], "org": "vg"})
        self.assertEqual(t.status, 201)
        self.assertEqual(d.request("GET", "/api/v1/tokens", token=tok).status, 200)
        self.assertEqual(d.request("DELETE", "/api/v1/tokens/%d" % t.json["id"], token=tok).status, 204)
        self.assertEqual(d.request("GET", "/api/v1/orgs/vg/audit?limit=2", token=tok).status, 200)
        self.assertEqual(d.request("POST", "/api/v1/orgs", token=tok, raw=b"{bad").status, 400)
        self.assertEqual(d.request("GET", "/metrics").status, 200)
        self.assertEqual(d.request("DELETE", "/api/v1/orgs/vg/members/vg@example.com",
                                   token=tok).status, 204)
        self.assertEqual(d.request("POST", "/api/v1/auth/logout", token=tok).status, 204)

        proc.terminate()
        rc = proc.wait(60)
        log.close()
        self.assertEqual(rc, 0, "valgrind reported errors:\n" + d.log_text()[-4000:])


@unittest.skipUnless(VALGRIND and os.path.exists(harness.BERTH), "valgrind or berth missing")
class CliUnderValgrind(unittest.TestCase):
    def test_commands_are_clean(self):
        d = harness.Berthd().start()
        self.addCleanup(d.close)
        cfg = os.path.join(d.tmp.name, "cli.json")
        env = dict(os.environ, BERTH_CONFIG=cfg, BERTH_PASSWORD=harness.ADMIN_PASSWORD)
        cmds = [["login", "--url", d.url, "--email", harness.ADMIN_EMAIL],
                ["whoami", "--json"], ["org", "list"], ["member", "list", "--json"],
                ["token", "list"], ["audit", "list", "--limit", "3"], ["org", "get", "nope"],
                ["logout"]]
        for c in cmds:
            p = subprocess.run([VALGRIND] + VG_ARGS + [harness.BERTH] + c, env=env,
                               capture_output=True, timeout=120)
            self.assertNotEqual(p.returncode, 99, "valgrind errors in %s:\n%s" %
                                (c, p.stderr.decode()[-3000:]))


if __name__ == "__main__":
    unittest.main()
