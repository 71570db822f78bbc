"""Uploaded TLS certificates over HTTP against a real berthd and a real
runner (docs/deploy.md, "Certificates").

Certificates are made here with the openssl command: a self-signed EC
P-256 one, a CA-signed RSA chain, and the hostile ones (a key that does
not match, expired, garbage, oversized, wrong JSON types, unknown fields,
an encrypted key, RSA 1024, Ed25519, a chain in the wrong order). Each
refusal is a 4xx that changes nothing. Another organization's id is 404,
a viewer reads and cannot upload. The private key is never in any answer,
the audit, the logs, the job's stored spec, or the database file in
clear. The runner writes the chain and key 0600 under its state dir for
each app domain the certificate covers, and removes it when the
certificate goes.
"""
import json
import os
import subprocess
import tempfile
import unittest

from harness import Berthd, RunnerCase, err_code, wait_for


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def read(d, name):
    with open(os.path.join(d, name)) as f:
        return f.read()


def key_body(pem):
    """The base64 lines of a PEM key: what must never show up anywhere."""
    return [l for l in pem.splitlines() if l and not l.startswith("-----")]


class Material:
    """Every certificate the tests upload, made once in a temp dir."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="berth-certs-")
        d = self.d = self.tmp.name
        with open(os.path.join(d, "ext"), "w") as f:
            f.write("subjectAltName=DNS:api.example.com,DNS:www.api.example.com\n")
        # self-signed EC P-256 for shop.example.com and *.example.com
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "ss.key", "-out", "ss.pem", "-days", "30", "-subj",
                "/CN=shop.example.com", "-addext",
                "subjectAltName=DNS:shop.example.com,DNS:*.example.com", cwd=d)
        # a CA and an RSA leaf it signs
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
                "ca.pem", "-days", "30", "-subj", "/CN=Berth Test CA", cwd=d)
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "leaf.key", "-out", "leaf.csr",
                "-subj", "/CN=api.example.com", cwd=d)
        openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "leaf.pem", "-days", "30", "-extfile", "ext", cwd=d)
        # expired: valid for no time at all
        openssl("x509", "-req", "-in", "leaf.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                "-CAcreateserial", "-out", "old.pem", "-days", "0", "-extfile", "ext", cwd=d)
        # weak and unsupported keys
        openssl("req", "-x509", "-newkey", "rsa:1024", "-nodes", "-keyout", "weak.key", "-out",
                "weak.pem", "-days", "30", "-subj", "/CN=weak.example.com", "-addext",
                "subjectAltName=DNS:weak.example.com", cwd=d)
        openssl("req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", "ed.key", "-out",
                "ed.pem", "-days", "30", "-subj", "/CN=ed.example.com", "-addext",
                "subjectAltName=DNS:ed.example.com", cwd=d)
        # no DNS names at all
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                "-nodes", "-keyout", "nosan.key", "-out", "nosan.pem", "-days", "30", "-subj",
                "/CN=nosan.example.com", cwd=d)
        # the self-signed key, encrypted
        openssl("pkey", "-in", "ss.key", "-out", "enc.key", "-aes256", "-passout", "pass:secret",
                cwd=d)
        self.ss_cert, self.ss_key = read(d, "ss.pem"), read(d, "ss.key")
        self.leaf, self.leaf_key = read(d, "leaf.pem"), read(d, "leaf.key")
        self.ca = read(d, "ca.pem")
        self.old = read(d, "old.pem")
        self.weak, self.weak_key = read(d, "weak.pem"), read(d, "weak.key")
        self.ed, self.ed_key = read(d, "ed.pem"), read(d, "ed.key")
        self.nosan, self.nosan_key = read(d, "nosan.pem"), read(d, "nosan.key")
        self.enc_key = read(d, "enc.key")
        self.secrets = (key_body(self.ss_key) + key_body(self.leaf_key) + key_body(self.weak_key)
                        + key_body(self.ca and read(d, "ca.key")))

    def close(self):
        self.tmp.cleanup()


class Certificates(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.m = Material()
        cls.b = Berthd().start()
        cls.tok = cls.b.login()
        cls.org = "/api/v1/orgs/%s" % cls.b.org
        cls.answers = []
        r = cls.api("POST", "/servers", {"name": "web-1"})
        assert r.status == 201, r
        r = cls.api("POST", "/apps", {"name": "shop", "server": "web-1", "container_port": 8080,
                                      "repo_url": "https://git.example.com/acme/shop.git",
                                      "domains": ["shop.example.com", "a.b.example.com",
                                                  "api.example.com"]})
        assert r.status == 201, r
        cls.viewer = cls.b.add_user(cls.tok, cls.b.org, "viewer@example.com", "viewer")
        r = cls.b.request("POST", "/api/v1/orgs", token=cls.tok, body={"name": "other"})
        assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        cls.b.close()
        cls.m.close()

    @classmethod
    def api(cls, method, path, body=None, token=None, org=None):
        r = cls.b.request(method, (org or cls.org) + path, token=token or cls.tok, body=body)
        cls.answers.append(r.body)
        return r

    def upload(self, name, cert, key, **kw):
        return self.api("POST", "/certificates", {"name": name, "certificate": cert,
                                                  "private_key": key}, **kw)

    def count(self):
        r = self.api("GET", "/certificates")
        self.assertEqual(r.status, 200, r)
        return len(r.json["items"])

    def test_a_self_signed_upload_show_list(self):
        r = self.upload("shop-ss", self.m.ss_cert, self.m.ss_key)
        self.assertEqual(r.status, 201, r)
        c = r.json
        self.assertEqual(c["name"], "shop-ss")
        self.assertEqual(c["names"], ["shop.example.com", "*.example.com"])
        self.assertEqual(c["key_type"], "ec-p256")
        self.assertEqual(c["chain_length"], 1)
        self.assertIn("CN=shop.example.com", c["subject"])
        self.assertEqual(len(c["fingerprint_sha256"]), 64)
        # *.example.com covers one label only: not a.b.example.com
        self.assertEqual(sorted(c["domains"]), ["api.example.com", "shop.example.com"])
        self.assertFalse(c["expired"])
        self.assertNotIn("private_key", c)
        r = self.api("GET", "/certificates/%d" % c["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["fingerprint_sha256"], c["fingerprint_sha256"])
        r = self.api("GET", "/certificates/shop-ss")  # by name too
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["id"], c["id"])
        r = self.upload("shop-ss", self.m.ss_cert, self.m.ss_key)
        self.assertEqual(r.status, 409, r)
        self.assertEqual(err_code(r), "certificate_exists")
        # an upload queues edge jobs for the covered apps' server
        jobs = self.api("GET", "/servers/web-1/jobs").json["items"]
        self.assertGreaterEqual(sum(1 for j in jobs if j["kind"] == "edge"), 2, jobs)

    def test_b_ca_signed_chain_and_order(self):
        r = self.upload("api", self.m.leaf + self.m.ca, self.m.leaf_key)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["chain_length"], 2)
        self.assertEqual(r.json["key_type"], "rsa")
        self.assertEqual(r.json["key_bits"], 2048)
        self.assertIn("Berth Test CA", r.json["issuer"])
        # the exact name wins over the self-signed wildcard
        self.assertEqual(r.json["serving"], ["api.example.com"])
        n = self.count()
        r = self.upload("api-reversed", self.m.ca + self.m.leaf, self.m.leaf_key)
        self.assertEqual(r.status, 422, r)
        r = self.upload("api-ca-only", self.m.ca, self.m.leaf_key)
        self.assertEqual(r.status, 422, r)
        self.assertEqual(self.count(), n)

    def test_c_hostile_inputs_change_nothing(self):
        n = self.count()
        m = self.m
        cases = [
            ("mismatch", m.ss_cert, m.leaf_key, 422, "does not match"),
            ("expired", m.old, m.leaf_key, 422, "expired"),
            ("garbage", "hello, world", m.ss_key, 422, None),
            ("garbage-key", m.ss_cert, "not a key", 422, None),
            ("broken-pem", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
             m.ss_key, 422, None),
            ("key-as-cert", m.ss_key, m.ss_key, 422, None),
            ("cert-as-key", m.ss_cert, m.ss_cert, 422, None),
            ("oversized", m.ss_cert + "\n" + "A" * (70 * 1024), m.ss_key, 422, "larger"),
            ("encrypted", m.ss_cert, m.enc_key, 422, "encrypted"),
            ("rsa-1024", m.weak, m.weak_key, 422, "RSA"),
            ("ed25519", m.ed, m.ed_key, 422, "RSA"),
            ("nosan", m.nosan, m.nosan_key, 422, "DNS"),
            ("nul", m.ss_cert + "\u0000", m.ss_key, 400, None),  # JSON refuses NUL
            ("", m.ss_cert, m.ss_key, 422, None),
            ("bad/name", m.ss_cert, m.ss_key, 422, None),
            ("x" * 101, m.ss_cert, m.ss_key, 422, None),
        ]
        for name, cert, key, status, text in cases:
            r = self.upload(name, cert, key)
            self.assertEqual(r.status, status, (name, r))
            if text:
                self.assertIn(text, r.json["error"]["message"], name)
        long_chain = (m.leaf + m.ca) * 5
        r = self.upload("long", long_chain, m.leaf_key)
        self.assertEqual(r.status, 422, r)
        # wrong types, unknown and missing fields
        for body, status in (
                ({"name": "t", "certificate": 5, "private_key": m.ss_key}, 400),
                ({"name": ["t"], "certificate": m.ss_cert, "private_key": m.ss_key}, 400),
                ({"name": "t", "certificate": m.ss_cert, "private_key": None}, 422),
                ({"name": "t", "certificate": m.ss_cert, "private_key": m.ss_key, "x": 1}, 400),
                ({"name": "t", "certificate": m.ss_cert}, 422),
                ({"name": "t", "private_key": m.ss_key}, 422),
                ([], 400)):
            r = self.api("POST", "/certificates", body)
            self.assertEqual(r.status, status, (body if not isinstance(body, dict)
                                                else sorted(body), r))
        r = self.b.request("POST", self.org + "/certificates", token=self.tok,
                           raw=b"{not json", headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400, r)
        try:  # berthd may answer 413 and close before the body is all sent
            r = self.b.request("POST", self.org + "/certificates", token=self.tok,
                               raw=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                               headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, 413, r)
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertEqual(self.count(), n)
        for ref in ("999999", "nope", "0"):
            r = self.api("GET", "/certificates/" + ref)
            self.assertEqual(r.status, 404, r)
            r = self.api("DELETE", "/certificates/" + ref)
            self.assertEqual(r.status, 404, r)

    def test_d_other_org_and_viewer(self):
        r = self.upload("theirs", self.m.ss_cert, self.m.ss_key, org="/api/v1/orgs/other")
        self.assertEqual(r.status, 201, r)
        theirs = r.json["id"]
        self.assertEqual(r.json["domains"], [])  # the other org has no apps
        for method in ("GET", "DELETE"):
            r = self.api(method, "/certificates/%d" % theirs)
            self.assertEqual(r.status, 404, r)
        self.assertNotIn(theirs, [c["id"] for c in self.api("GET", "/certificates").json["items"]])
        r = self.api("GET", "/certificates", token=self.viewer)
        self.assertEqual(r.status, 200, r)
        r = self.upload("viewer", self.m.ss_cert, self.m.ss_key, token=self.viewer)
        self.assertEqual(r.status, 403, r)
        r = self.api("DELETE", "/certificates/shop-ss", token=self.viewer)
        self.assertEqual(r.status, 403, r)
        self.assertEqual(self.api("GET", "/certificates/shop-ss").status, 200)

    def test_e_delete_in_use_needs_force(self):
        r = self.upload("spare", self.m.ss_cert, self.m.ss_key)
        self.assertEqual(r.status, 201, r)
        spare = r.json
        # two certificates for the same names: the newest serves; the other
        # one is removed freely
        r = self.api("GET", "/certificates/shop-ss")
        self.assertEqual(r.json["serving"], [], r)
        self.assertEqual(spare["serving"], ["shop.example.com"])
        r = self.api("DELETE", "/certificates/shop-ss")
        self.assertEqual(r.status, 204, r)
        r = self.api("DELETE", "/certificates/spare")
        self.assertEqual(r.status, 409, r)
        self.assertEqual(err_code(r), "certificate_in_use")
        self.assertIn("shop.example.com", r.json["error"]["message"])
        r = self.api("DELETE", "/certificates/spare?force=maybe")
        self.assertEqual(r.status, 400, r)
        r = self.api("DELETE", "/certificates/spare?force=true")
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.api("GET", "/certificates/spare").status, 404)

    def test_z_key_never_shown(self):
        r = self.api("GET", "/audit?limit=500")
        self.assertEqual(r.status, 200, r)
        acts = [(e["action"], e["outcome"]) for e in r.json["items"]]
        self.assertIn(("cert.upload", "success"), acts)
        self.assertIn(("cert.delete", "success"), acts)
        self.answers.append(r.body)
        self.answers.append(self.b.log_text())
        for f in os.listdir(self.b.data):
            with open(os.path.join(self.b.data, f), "rb") as fh:
                self.answers.append(fh.read().decode("latin-1"))
        blob = "\n".join(self.answers)
        for line in self.m.secrets:
            self.assertFalse(line in blob, "a key line shows: " + line[:12])
        self.assertFalse("-----BEGIN PRIVATE KEY" in blob)
        self.assertFalse("-----BEGIN RSA PRIVATE KEY" in blob)


class CertificatesOnTheHost(RunnerCase):
    """The runner writes the serving certificate for each app domain."""

    def test_written_0600_and_removed(self):
        m = Material()
        self.addCleanup(m.close)
        r = self.api("POST", "/certificates", {"name": "api", "certificate": m.leaf + m.ca,
                                               "private_key": m.leaf_key})
        self.assertEqual(r.status, 201, r)
        r = self.api("POST", "/apps", {"name": "api", "server": "host-1", "container_port": 8080,
                                       "repo_url": "https://git.example.com/acme/api.git",
                                       "domains": ["api.example.com", "plain.example.org"]})
        self.assertEqual(r.status, 201, r)
        app_dir = os.path.join(self.state.name, "state", "certs", "a%d" % r.json["id"])
        path = os.path.join(app_dir, "api.example.com.pem")
        self.assertTrue(wait_for(lambda: os.path.exists(path), 20), self.logs())
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        self.assertEqual(os.stat(os.path.dirname(path)).st_mode & 0o777, 0o700)
        with open(path) as f:
            self.assertEqual(f.read(), m.leaf + m.ca + m.leaf_key)
        self.assertFalse(os.path.exists(os.path.join(os.path.dirname(path),
                                                     "plain.example.org.pem")))
        # the stored spec and the job's record never hold the key
        jobs = self.api("GET", "/servers/host-1/jobs").json["items"]
        edge = [j for j in jobs if j["kind"] == "edge"]
        self.assertTrue(edge, jobs)
        blob = json.dumps(jobs)
        for j in edge:
            blob += self.api("GET", "/jobs/%s" % j["id"]).body
        # a domain added gets its file; removed from the app, the file goes
        www = os.path.join(app_dir, "www.api.example.com.pem")
        r = self.api("POST", "/apps/api/domains", {"name": "www.api.example.com"})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(wait_for(lambda: os.path.exists(www), 20), self.logs())
        r = self.api("DELETE", "/apps/api/domains/www.api.example.com")
        self.assertEqual(r.status, 204, r)
        self.assertTrue(wait_for(lambda: not os.path.exists(www), 20), self.logs())
        self.assertTrue(os.path.exists(path))
        # removing it (in use: force) removes the file at the next edge job
        r = self.api("DELETE", "/certificates/api?force=true")
        self.assertEqual(r.status, 204, r)
        self.assertTrue(wait_for(lambda: not os.path.exists(path), 20), self.logs())
        with open(self.runner_log, "rb") as f:
            blob += f.read().decode("utf-8", "replace")
        blob += self.b.log_text()
        for line in key_body(m.leaf_key):
            self.assertFalse(line in blob, "a key line shows: " + line[:12])
        self.assertNotIn("Sanitizer", blob)
        self.assertNotIn("runtime error:", blob)


class CertsInFrames(unittest.TestCase):
    """berthd's side, with a runner-protocol peer: the frames carry the
    serving certificates with their keys, at every delivery; nothing
    stored holds a key."""

    def setUp(self):
        from test_apps import Base, DeployContract
        self.m = Material()
        self.addCleanup(self.m.close)
        self.b = Berthd().start()
        self.addCleanup(self.b.close)
        self.tok = self.b.login()
        self.org = "/api/v1/orgs/%s" % self.b.org
        self.bodies = []
        # the contract test's helpers, borrowed (its tests are not rerun)
        for name in ("api", "add_server", "app_body"):
            setattr(self, name, getattr(Base, name).__get__(self))
        for name in ("hello", "connect"):
            setattr(self, name, getattr(DeployContract, name).__get__(self))

    def test_frames_carry_certs_stored_specs_do_not(self):
        m = self.m
        s, p = self.connect()
        self.addCleanup(p.close)
        r = self.api("POST", "/certificates", {"name": "shop", "certificate": m.ss_cert,
                                               "private_key": m.ss_key})
        self.assertEqual(r.status, 201, r)
        cid = r.json["id"]
        r = self.api("POST", "/apps", self.app_body(domains=["shop.example.com",
                                                             "other.example.org"]))
        self.assertEqual(r.status, 201, r)
        want = [{"id": str(cid), "domains": ["shop.example.com"], "chain": m.ss_cert,
                 "key": m.ss_key}]
        ej = p.expect("job")
        self.assertEqual(ej["kind"], "edge")
        self.assertEqual(ej["spec"]["certs"], want)
        p.send({"type": "job.accepted", "job": ej["job"]})
        p.done(ej["job"], 0, True)
        r = self.api("POST", "/apps/web/deployments", {})
        self.assertEqual(r.status, 201, r)
        job = p.expect("job")
        self.assertEqual(job["kind"], "deploy")
        self.assertEqual(job["spec"]["certs"], want)
        # redelivered after a reconnect: the certificates again
        p.close()
        p2 = self.hello(self.cred)
        self.addCleanup(p2.close)
        p2.expect("welcome")
        again = p2.expect("job", job["job"])
        self.assertEqual(again["spec"]["certs"], want)
        # nothing stored holds the key: not the jobs, not the database
        blob = "\n".join(self.bodies) + self.b.log_text()
        for f in os.listdir(self.b.data):
            with open(os.path.join(self.b.data, f), "rb") as fh:
                blob += fh.read().decode("latin-1")
        for line in key_body(m.ss_key):
            self.assertFalse(line in blob, "a key line shows: " + line[:12])


if __name__ == "__main__":
    unittest.main()
