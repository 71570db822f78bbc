"""HTTPS on the edge with ACME certificates, on the real engine: a real
berthd (--acme-directory pointed at Debian's pebble), the real
berth-runner (--edge-http-port / --edge-https-port on free high ports),
a real git server, Docker, HAProxy and lego (docs/deploy.md "HTTPS").

pebble's HTTP-01 checks go to the edge's HTTP port (pebble-challtestsrv
answers every name with 127.0.0.1), so a certificate is issued through
the edge itself, as on a real server.

In order: two apps get certificates for their names when deployed and
serve HTTPS by SNI (verified against pebble's root, h2 by ALPN), HTTP
redirects to HTTPS, a wildcard is told it cannot be issued, HSTS by the
app's option; a name whose challenge cannot be reached fails with lego's
reason and keeps serving HTTP; a renewal forced by --acme-renew-days
under keep-alive HTTPS load fails 0 requests and needs no reload;
hostile input for the new fields.

Needs root, Docker, HAProxy, lighttpd, lego, pebble (scripts/deps.sh,
scripts/test-fixtures.sh). Run with Debian's /usr/bin/python3.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import ssl
import tempfile
import time
import unittest
import urllib.request

import pebble
import test_domains_edge as tde
from rawrunner import RawRunner, register
from harness import BERTH, Berthd, docker_ok, free_port, git, listen_port, wait_for
from test_deploy import FIXTURE_APP, RUNNER, GitServer, Load, docker

DE = tde.DomainsEdge.__dict__


def https_conn(port, name, cafile=None, alpn=("http/1.1",)):
    """An HTTPS connection to the edge for name (SNI and Host)."""
    ctx = ssl.create_default_context(cafile=cafile) if cafile else ssl._create_unverified_context()
    ctx.set_alpn_protocols(list(alpn))

    class Conn(http.client.HTTPSConnection):
        def connect(self):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.sock = ctx.wrap_socket(sock, server_hostname=name)

    return Conn(name, port, context=ctx, timeout=10)


def https_get(port, name, cafile, path="/version"):
    c = https_conn(port, name, cafile)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode().strip(), dict((k.lower(), v) for k, v in r.getheaders())
    finally:
        c.close()


def served_cert(port, name):
    """(DER of the certificate served for SNI name, ALPN chosen with h2 offered)."""
    ctx = ssl._create_unverified_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            return t.getpeercert(binary_form=True), t.selected_alpn_protocol()


class HTTPSLoad(Load):
    def __init__(self, port, name, cafile, **kw):
        Load.__init__(self, port, **kw)
        self.name, self.cafile = name, cafile

    def connect(self):
        return https_conn(self.port, self.name, self.cafile)


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
@unittest.skipUnless(shutil.which("docker") and docker_ok(), "no Docker engine")
@unittest.skipUnless(shutil.which("lego") and shutil.which("pebble"), "no lego or pebble")
class HTTPSEdge(unittest.TestCase):
    api = DE["api"]
    commit = DE["commit"]
    deploy = DE["deploy"]
    stop_runner = DE["stop_runner"]
    master = DE["master"]

    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(tde.ROOT, "scripts", "test-fixtures.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.tmp = tempfile.mkdtemp(prefix="berth-https-")
        os.chmod(cls.tmp, 0o700)
        cls.state = os.path.join(cls.tmp, "state")
        cls.edge_dir = os.path.join(cls.state, "edge")
        cls.git = GitServer(os.path.join(cls.tmp, "git"))
        cls.work = os.path.join(cls.tmp, "work")
        shutil.copytree(FIXTURE_APP, cls.work)
        git("init", "-q", "-b", "main", cls.work)
        bare = os.path.join(cls.git.root, "repos", "app.git")
        git("init", "-q", "--bare", "-b", "main", bare)
        git("remote", "add", "origin", bare, cwd=cls.work)
        cls.http = free_port()
        cls.https = free_port()
        cls.acme = listen_port()
        cls.pebble = pebble.start(cls.tmp, cls.http)
        cls.root = os.path.join(cls.tmp, "pebble-root.pem")
        with open(cls.root, "w") as f:
            f.write(cls.pebble.root_pem())
        cls.runner = None
        cls.one_id = cls.two_id = 0
        cls.b = Berthd(env={"BERTH_HEARTBEAT_S": "1", "BERTH_ACME_DIRECTORY": cls.pebble.directory_url,
                            "BERTH_ACME_EMAIL": "ops@example.test",
                            "BERTH_ACME_CA_FILE": cls.pebble.ca_file}).start()
        cls.tok = cls.b.login()
        cls.org = "/api/v1/orgs/%s" % cls.b.org
        r = cls.api("POST", "/servers", {"name": "web-1"})
        assert r.status == 201, r
        cls.server_id = r.json["id"]
        cls.start_runner(r.json["registration_token"])
        if not wait_for(lambda: cls.api("GET", "/servers/%d" % cls.server_id).json["status"] == "ACTIVE", 20):
            raise RuntimeError("runner not ACTIVE: " + cls.b.log_text()[-2000:])
        common = {"server": "web-1", "repo_url": cls.git.url("app.git"), "container_port": 8080,
                  "health_path": "/health", "drain_seconds": 5, "keep_images": 2, "health_timeout": 30}
        r = cls.api("POST", "/apps", dict(common, name="one", domains=["one.example.test"], hsts=True))
        assert r.status == 201, r
        cls.one_id = r.json["id"]
        r = cls.api("POST", "/apps", dict(common, name="two",
                                          domains=["two.example.test", "*.wild.example.test"]))
        assert r.status == 201, r
        cls.two_id = r.json["id"]

    @classmethod
    def start_runner(cls, token=None, renew_days=30):
        env = dict(os.environ)
        if token:
            env["BERTH_RUNNER_TOKEN"] = token
        log = open(os.path.join(cls.tmp, "runner.log"), "ab")
        cls.runner = subprocess.Popen(
            [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % cls.b.port, "--state-dir", cls.state,
             "--min-free-disk", "0", "--edge-bind", "127.0.0.1", "--edge-http-port", str(cls.http),
             "--edge-https-port", str(cls.https), "--acme-http-port", str(cls.acme),
             "--acme-renew-days", str(renew_days), "--heartbeat", "1", "--log-level", "debug"],
            env=env, stdout=log, stderr=log)
        log.close()

    @classmethod
    def tearDownClass(cls):
        try:
            DE["tearDownClass"].__func__(cls)
        finally:
            cls.pebble.stop()

    def runner_log(self):
        with open(os.path.join(self.tmp, "runner.log"), errors="replace") as f:
            return f.read()

    def cert_status(self, app, name):
        r = self.api("GET", "/apps/%s/domains" % app)
        self.assertEqual(r.status, 200, r)
        for it in r.json["items"]:
            if it["name"] == name:
                return it["certificate"]
        self.fail("%s has no domain %s: %s" % (app, name, r.json))

    def wait_status(self, app, name, status, timeout=90):
        got = wait_for(lambda: self.cert_status(app, name)["status"] == status or None, timeout, 0.3)
        self.assertTrue(got, "%s %s: want %s, got %s\nrunner:\n%s" % (
            app, name, status, self.cert_status(app, name), self.runner_log()[-4000:]))
        return self.cert_status(app, name)

    # --- in order ---

    def test_1_issued_and_served(self):
        self.deploy("one", "v-one-1")
        # its options apply from its first deploy, before any other change
        self.wait_status("one", "one.example.test", "issued")
        self.assertIn("strict-transport-security", https_get(self.https, "one.example.test", self.root)[2])
        self.deploy("two", "v-two-1")
        for app, name in (("one", "one.example.test"), ("two", "two.example.test")):
            st = self.wait_status(app, name, "issued")
            self.assertIn("Pebble", st["issuer"])
            self.assertTrue(st["expires_at"])
        # verified against pebble's root, by SNI, each app its own
        self.assertEqual(https_get(self.https, "one.example.test", self.root)[:2], (200, "v-one-1"))
        self.assertEqual(https_get(self.https, "two.example.test", self.root)[:2], (200, "v-two-1"))
        der, alpn = served_cert(self.https, "one.example.test")
        self.assertEqual(alpn, "h2")
        self.assertNotEqual(der, served_cert(self.https, "two.example.test")[0])
        # HSTS for one (its option), not for two
        self.assertIn("strict-transport-security", https_get(self.https, "one.example.test", self.root)[2])
        self.assertNotIn("strict-transport-security", https_get(self.https, "two.example.test", self.root)[2])
        # HTTP redirects once a certificate is served
        status, _ = tde.get(self.http, "one.example.test")
        self.assertEqual(status, 301)
        # a wildcard is told clearly, and still served over HTTP
        st = self.wait_status("two", "*.wild.example.test", "failed", 10)
        self.assertEqual(st["error"], "HTTP-01 cannot issue a wildcard; upload a certificate")
        self.assertEqual(tde.get(self.http, "a.wild.example.test"), (200, "v-two-1"))
        # an unknown name over HTTPS: the default certificate, the edge's 404
        c = https_conn(self.https, "nobody.example.test")
        c.request("GET", "/")
        self.assertEqual(c.getresponse().status, 404)
        c.close()
        # keys stay on the host, 0600
        for f in os.listdir(os.path.join(self.edge_dir, "certs")):
            self.assertEqual(os.stat(os.path.join(self.edge_dir, "certs", f)).st_mode & 0o777, 0o600)
        for top in (os.path.join(self.state, "acme"), self.edge_dir):
            self.assertEqual(os.stat(top).st_mode & 0o777, 0o700)
            for d, _, files in os.walk(os.path.join(self.state, "acme")):
                for f in files:
                    if f.endswith((".key", ".pem", ".json")):
                        self.assertEqual(os.stat(os.path.join(d, f)).st_mode & 0o077, 0, os.path.join(d, f))
        # the CLI shows it, in a table and with --json
        env = dict(os.environ, BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org,
                   HOME=self.tmp, BERTH_CONFIG=os.path.join(self.tmp, "cli.json"))
        out = subprocess.run([BERTH, "domain", "list", "two"], env=env, capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out)
        self.assertIn("CERTIFICATE", out.stdout)
        self.assertRegex(out.stdout, r"two\.example\.test\s+no\s+issued\s+\S+\s+Pebble")
        self.assertIn("HTTP-01 cannot issue a wildcard", out.stdout)
        out = subprocess.run([BERTH, "domain", "list", "two", "--json"], env=env, capture_output=True, text=True,
                             timeout=30)
        items = json.loads(out.stdout)["data"]["items"]
        self.assertEqual({i["name"]: i["certificate"]["status"] for i in items},
                         {"two.example.test": "issued", "*.wild.example.test": "failed"})
        # the audit says so
        r = self.b.request("GET", self.org + "/audit?limit=100", token=self.tok)
        actions = [e["action"] for e in r.json["items"]]
        self.assertIn("domain.cert.issue", actions)
        self.assertIn("domain.cert.fail", actions)

    def test_2_challenge_unreachable(self):
        # pebble's DNS answers this name with an address nothing listens on
        req = urllib.request.Request("http://127.0.0.1:%d/add-a" % self.pebble.chall_mgmt, method="POST",
                                     data=json.dumps({"host": "bad.example.test.",
                                                      "addresses": ["127.0.0.9"]}).encode())
        urllib.request.urlopen(req, timeout=5).read()
        r = self.api("POST", "/apps/one/domains", {"name": "bad.example.test"})
        self.assertEqual(r.status, 201, r)
        st = self.wait_status("one", "bad.example.test", "failed", 120)
        self.assertIn("bad.example.test", st["error"])
        self.assertLessEqual(len(st["error"]), 1024)
        self.assertNotIn("PRIVATE KEY", st["error"])
        # still served over HTTP, not redirected (no certificate)
        self.assertEqual(tde.get(self.http, "bad.example.test"), (200, "v-one-1"))
        r = self.api("DELETE", "/apps/one/domains/bad.example.test")
        self.assertEqual(r.status, 204, r)

    def test_2b_added_to_a_running_app_and_redeploy_under_https_load(self):
        """A name added to an app that runs gets its certificate and
        serves HTTPS without a deploy; a redeploy under keep-alive HTTPS
        load (clients that do not retry) fails no request."""
        r = self.api("POST", "/apps/two/domains", {"name": "late.example.test"})
        self.assertEqual(r.status, 201, r)
        self.wait_status("two", "late.example.test", "issued")
        self.assertEqual(https_get(self.https, "late.example.test", self.root)[:2], (200, "v-two-1"))
        load = HTTPSLoad(self.https, "one.example.test", self.root, keepalive=8, fresh=2).start()
        time.sleep(1)
        self.deploy("one", "v-one-1")  # a new commit: a new container, the same answer
        time.sleep(1)
        load.finish()
        self.assertGreater(load.ok, 50)
        self.assertEqual(load.failed, 0, load.errors[:5])
        self.assertEqual(https_get(self.https, "one.example.test", self.root)[:2], (200, "v-one-1"))
        late = served_cert(self.https, "late.example.test")[0]
        r = self.api("DELETE", "/apps/two/domains/late.example.test")
        self.assertEqual(r.status, 204, r)
        # a removed name's certificate is no longer served (nor kept on disk)
        gone = wait_for(lambda: served_cert(self.https, "late.example.test")[0] != late or None, 30, 0.3)
        self.assertTrue(gone, "late.example.test's certificate is still served after its removal")
        self.assertFalse(os.path.exists(os.path.join(self.edge_dir, "certs", "late.example.test.pem")))

    def test_3_renewal_under_load(self):
        pid_before, reloads_before = self.master()
        before, _ = served_cert(self.https, "one.example.test")
        load = HTTPSLoad(self.https, "one.example.test", self.root, keepalive=8, fresh=2).start()
        time.sleep(1)
        self.stop_runner()
        self.start_runner(renew_days=3650)  # every certificate is due: renewed at start
        renewed = wait_for(lambda: served_cert(self.https, "one.example.test")[0] != before or None, 120, 0.5)
        time.sleep(1)
        load.finish()
        self.assertTrue(renewed, "not renewed:\n" + self.runner_log()[-4000:])
        self.assertGreater(load.ok, 50)
        self.assertEqual(load.failed, 0, load.errors[:5])
        self.assertEqual(self.master(), (pid_before, reloads_before))  # no reload
        self.assertEqual(https_get(self.https, "one.example.test", self.root)[:2], (200, "v-one-1"))
        ok = wait_for(lambda: "domain.cert.renew" in [
            e["action"] for e in self.b.request("GET", self.org + "/audit?limit=100", token=self.tok).json["items"]]
            or None, 30, 0.5)
        self.assertTrue(ok, "no domain.cert.renew audit entry")
        self.stop_runner()
        self.start_runner()

    def test_3b_uploaded_wildcard_served(self):
        """An uploaded certificate serves the wildcard HTTP-01 could not
        issue: loaded at runtime by the edge job its upload queues, the
        name's status issued with the upload's issuer; removing it (forced:
        it is in use) leaves no file of it on the host."""
        crt, key = os.path.join(self.tmp, "wild.crt"), os.path.join(self.tmp, "wild.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-out", crt, "-days", "30", "-subj", "/CN=Berth Test Wildcard",
                        "-addext", "subjectAltName=DNS:*.wild.example.test"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(crt) as f:
            chain = f.read()
        with open(key) as f:
            pkey = f.read()
        r = self.api("POST", "/certificates", {"name": "wild", "certificate": chain, "private_key": pkey})
        self.assertEqual(r.status, 201, r)
        cid = r.json["id"]
        st = self.wait_status("two", "*.wild.example.test", "issued", 60)
        self.assertIn("Berth Test Wildcard", st["issuer"])
        der = ssl.PEM_cert_to_DER_cert(chain)
        self.assertEqual(served_cert(self.https, "a.wild.example.test")[0], der)
        self.assertEqual(https_get(self.https, "b.wild.example.test", crt)[:2], (200, "v-two-1"))
        # the ACME names keep their own certificates
        self.assertNotEqual(served_cert(self.https, "two.example.test")[0], der)
        self.assertEqual(https_get(self.https, "two.example.test", self.root)[:2], (200, "v-two-1"))
        r = self.api("DELETE", "/certificates/%s?force=true" % cid)
        self.assertEqual(r.status, 204, r)
        gone = wait_for(lambda: not [f for _, _, fs in os.walk(os.path.join(self.state, "certs")) for f in fs]
                        or None, 30, 0.3)
        self.assertTrue(gone, "the uploaded certificate's file is still on the host")
        # and the edge no longer serves it: the wildcard is back to "upload a certificate"
        st = self.wait_status("two", "*.wild.example.test", "failed", 30)
        self.assertEqual(st["error"], "HTTP-01 cannot issue a wildcard; upload a certificate")
        self.assertNotEqual(served_cert(self.https, "a.wild.example.test")[0], der)
        self.assertFalse(os.path.exists(os.path.join(self.edge_dir, "certs", "_.wild.example.test.pem")))

    def test_4_hostile_fields(self):
        # (null is "not given", as for every other app field)
        for body in ({"https_redirect": "yes"}, {"hsts": 1}, {"hsts": "true"}, {"https_redirect": [True]},
                     {"hsts": {"a": 1}}):
            r = self.api("PATCH", "/apps/one", body)
            self.assertIn(r.status, (400, 422), (body, r))
        r = self.api("PATCH", "/apps/one", {"https_redirect": False})
        self.assertEqual(r.status, 200, r)
        self.assertIs(r.json["https_redirect"], False)
        # the edge stops redirecting, by map (no reload)
        got = wait_for(lambda: tde.get(self.http, "one.example.test") == (200, "v-one-1") or None, 20, 0.2)
        self.assertTrue(got, tde.get(self.http, "one.example.test"))
        # the CLI sets them too (and refuses contradictions without sending)
        env = dict(os.environ, BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org,
                   HOME=self.tmp, BERTH_CONFIG=os.path.join(self.tmp, "cli.json"))
        out = subprocess.run([BERTH, "app", "set", "two", "--hsts", "--no-hsts", "--yes"], env=env,
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 2, out)
        out = subprocess.run([BERTH, "app", "set", "two", "--hsts", "--yes", "--json"], env=env,
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out)
        self.assertIs(json.loads(out.stdout)["data"]["hsts"], True)
        got = wait_for(lambda: "strict-transport-security" in https_get(self.https, "two.example.test", self.root)[2]
                       or None, 20, 0.2)
        self.assertTrue(got, "no HSTS on two after app set --hsts")
        r = self.api("GET", "/apps/999999/domains")
        self.assertEqual(r.status, 404)
        # from another organization, our app and its certificates are not there
        r = self.b.request("POST", "/api/v1/orgs", token=self.tok, body={"name": "elsewhere"})
        self.assertEqual(r.status, 201, r)
        other = "/api/v1/orgs/elsewhere"
        for method, path, body in (("GET", "/apps/%d/domains" % self.one_id, None),
                                   ("PATCH", "/apps/%d" % self.one_id, {"hsts": True}),
                                   ("PATCH", "/apps/%d" % self.one_id, {"https_redirect": "x"})):
            r = self.b.request(method, other + path, token=self.tok, body=body)
            self.assertEqual(r.status, 404, (method, path, r))
            self.assertNotIn("one.example.test", r.body)


    def test_5_hostile_frames(self):
        r = self.api("POST", "/servers", {"name": "raw-1"})
        self.assertEqual(r.status, 201, r)
        link = RawRunner(self.b.port, r.json["registration_token"])
        cred = register(link)
        before = self.cert_status("one", "one.example.test")
        self.assertEqual(before["status"], "issued")
        # well formed, but app one is web-1's, not raw-1's: dropped, link kept
        link.send({"type": "domain.cert", "app_id": str(self.one_id), "name": "one.example.test",
                   "status": "failed", "error": "forged"})
        link.send({"type": "domain.cert", "app_id": "999999", "name": "x.example.test", "status": "pending"})
        link.send({"type": "heartbeat", "metrics": {}})
        time.sleep(0.5)
        self.assertEqual(self.cert_status("one", "one.example.test"), before)
        link.close()
        bad = [
            {"app_id": self.one_id, "name": "one.example.test", "status": "pending"},          # number
            {"app_id": "1", "name": "ONE.example.test", "status": "pending"},                   # upper case
            {"app_id": "1", "name": "one.example.test", "status": "revoked"},                   # unknown
            {"app_id": "1", "name": "one.example.test", "status": "failed", "error": "x" * 2000},  # oversized
            {"app_id": "1", "name": "one.example.test", "status": "issued", "expires_at": "soon",
             "issuer": "me"},                                                                   # wrong type
            {"app_id": "1" * 40, "name": "one.example.test", "status": "pending"},              # oversized id
            {"app_id": "1", "name": "a" * 300 + ".test", "status": "pending"},                  # oversized name
            {"app_id": "1", "name": "one.example.test", "status": "pending", "renewal": "yes"},
        ]
        for msg in bad:
            link = RawRunner(self.b.port, cred)
            link.hello()
            link.expect("welcome")
            link.send(dict(msg, type="domain.cert"))
            got = link.expect_close()
            link.close()
            self.assertTrue(got and got[0] == 1003, (msg, got))
        self.assertEqual(self.cert_status("one", "one.example.test"), before)
        self.assertEqual(self.b.request("GET", "/healthz").status, 200)

    def test_6_haproxy_restart_serves_certificates(self):
        """certs.list is on disk: HAProxy started again serves what it had."""
        with open(os.path.join(self.edge_dir, "haproxy.pid")) as f:
            pid = int(f.read().split()[0])
        os.kill(pid, signal.SIGKILL)
        def served():
            try:
                return https_get(self.https, "two.example.test", self.root)[:2] == (200, "v-two-1") or None
            except (OSError, http.client.HTTPException):
                return None
        time.sleep(1)
        got = wait_for(served, 30, 0.5)
        self.assertTrue(got, "not served after HAProxy's restart:\n" + self.runner_log()[-3000:])


if __name__ == "__main__":
    unittest.main()
