"""`berth cert list|show|upload|rm` against a real berthd (docs/cli.md):
exit codes, the one JSON document under --json, what people see, and
that the private key (read from --key FILE only) appears nowhere in the
CLI's output, in --dry-run's, or in berthd's log.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_certs import Material, key_body  # noqa: E402
from test_cli_apps import Base  # noqa: E402


class CertCommands(Base):
    @classmethod
    def setUpClass(cls):
        cls.m = Material()

    @classmethod
    def tearDownClass(cls):
        cls.m.close()

    def f(self, name):
        return os.path.join(self.m.d, name)

    def test_upload_list_show_rm(self):
        r = self.api("POST", "/servers", {"name": "web-1"})
        self.assertEqual(r.status, 201, r)
        r = self.api("POST", "/apps", {"name": "shop", "server": "web-1", "container_port": 8080,
                                       "repo_url": "https://git.example.com/acme/shop.git",
                                       "domains": ["shop.example.com"]})
        self.assertEqual(r.status, 201, r)
        # dry run: nothing sent, the key masked
        r = self.ok("cert", "upload", "--name", "shop", "--cert", self.f("ss.pem"), "--key",
                    self.f("ss.key"), "--dry-run")
        self.assertEqual(self.jok("cert", "list")["items"], [])
        d = self.jok("cert", "upload", "--name", "shop", "--cert", self.f("ss.pem"), "--key",
                     self.f("ss.key"))
        self.assertEqual(d["name"], "shop")
        self.assertEqual(d["serving"], ["shop.example.com"])
        r = self.ok("cert", "upload", "--name", "api", "--cert", self.f("leaf.pem"), "--key",
                    self.f("leaf.key"))
        self.assertIn("Uploaded certificate api", r.out)
        r = self.ok("cert", "list")
        self.assertIn("shop.example.com", r.out)
        self.assertIn("api.example.com", r.out)
        items = self.jok("cert", "list")["items"]
        self.assertEqual(sorted(i["name"] for i in items), ["api", "shop"])
        r = self.ok("cert", "show", "shop")
        self.assertIn("CN=shop.example.com", r.out)
        self.assertIn("serving      shop.example.com", r.out)
        self.assertEqual(self.jok("cert", "show", str(d["id"]))["fingerprint_sha256"],
                         d["fingerprint_sha256"])
        # refusals: usage 2, mismatched key 2 (422), taken name 5, unknown 4
        self.fails(2, "usage", "cert", "upload", "--name", "x", "--cert", self.f("ss.pem"))
        self.fails(2, "usage", "cert", "upload", "--name", "x", "--cert", self.f("nope.pem"),
                   "--key", self.f("ss.key"))
        e = self.fails(2, "invalid_certificate", "cert", "upload", "--name", "x", "--cert",
                       self.f("ss.pem"), "--key", self.f("leaf.key"))
        self.assertIn("does not match", e["message"])
        self.fails(5, "certificate_exists", "cert", "upload", "--name", "shop", "--cert",
                   self.f("ss.pem"), "--key", self.f("ss.key"))
        self.fails(4, None, "cert", "show", "nope")
        # in use: kept without --force (exit 5)
        self.fails(5, "certificate_in_use", "cert", "rm", "shop", "--yes")
        self.jok("cert", "rm", "api", "--yes")
        self.jok("cert", "rm", "shop", "--force", "--yes")
        self.assertEqual(self.jok("cert", "list")["items"], [])
        blob = "\n".join(self.outputs) + self.b.log_text()
        for line in key_body(self.m.ss_key) + key_body(self.m.leaf_key):
            self.assertFalse(line in blob, "a key line shows: " + line[:12])

    def api(self, method, path, body=None):
        return self.b.request(method, self.org + path, token=self.tok, body=body)


if __name__ == "__main__":
    unittest.main()
