"""The runner link over wss://: berthd with a certificate, the real
berth-runner verifying it against a pinned CA file (--ca-file), or without
one against the "system" CAs in a hashed directory (SSL_CERT_DIR). A runner
that does not trust the certificate never registers; one that does goes
ACTIVE and runs a script over the encrypted link."""
import os
import signal
import subprocess
import tempfile
import time
import unittest

import harness

RUNNER = os.environ.get("BERTH_RUNNER",
                        os.path.join(os.path.dirname(harness.BERTHD), "berth-runner"))


def wait_for(fn, timeout, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
class RunnerOverTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="berth-rtls-")
        cls.cert = os.path.join(cls.tmp.name, "cert.pem")
        cls.key = os.path.join(cls.tmp.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", cls.key,
                        "-out", cls.cert], check=True, capture_output=True)
        # A second, unrelated CA the untrusting runner pins instead.
        cls.other = os.path.join(cls.tmp.name, "other.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=other",
                        "-keyout", os.path.join(cls.tmp.name, "other.key"), "-out", cls.other],
                       check=True, capture_output=True)
        cls.d = harness.Berthd(tls=(cls.cert, cls.key)).start()
        cls.tok = cls.d.login()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()
        cls.tmp.cleanup()

    def setUp(self):
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    def api(self, method, path, body=None):
        return self.d.request(method, "/api/v1/orgs/default" + path, token=self.tok, body=body)

    def start_runner(self, name, ca, cert_dir=None):
        """ca: --ca-file; or cert_dir: no --ca-file, the "system" CAs are
        that hashed directory (SSL_CERT_DIR, SSL_CERT_FILE unset)."""
        r = self.api("POST", "/servers", {"name": name})
        self.assertEqual(r.status, 201, r)
        state = os.path.join(self.tmp.name, name)
        log = open(os.path.join(self.tmp.name, name + ".log"), "ab")
        env = dict(os.environ, BERTH_RUNNER_TOKEN=r.json["registration_token"])
        pin = ["--ca-file", ca] if ca else []
        if cert_dir:
            env.pop("SSL_CERT_FILE", None)
            env["SSL_CERT_DIR"] = cert_dir
        p = subprocess.Popen([RUNNER, "--url", "wss://127.0.0.1:%d/runner/v1" % self.d.port]
                             + pin + ["--state-dir", state, "--min-free-disk", "0"],
                             env=env, stdout=log, stderr=log)
        log.close()
        self.procs.append(p)
        return r.json["id"], p

    def status(self, sid):
        return self.api("GET", "/servers/%d" % sid).json["status"]

    def test_pinned_ca_registers_and_runs_a_script(self):
        sid, _ = self.start_runner("tls-ok", self.cert)
        self.assertEqual(wait_for(lambda: self.status(sid) == "ACTIVE" and "ACTIVE", 20), "ACTIVE",
                         self.d.log_text()[-2000:])
        s = self.api("POST", "/scripts", {"name": "hello-tls", "body": "echo over-tls"})
        self.assertEqual(s.status, 201, s)
        job = self.api("POST", "/scripts/%d/runs" % s.json["id"], {"server": sid})
        self.assertEqual(job.status, 201, job)
        jid = job.json["id"]
        done = wait_for(lambda: self.d.request("GET", "/api/v1/orgs/default/jobs/%s" % jid,
                                               token=self.tok).json["status"]
                        in ("SUCCEEDED", "FAILED"), 20)
        self.assertTrue(done)
        logs = self.d.request("GET", "/api/v1/orgs/default/jobs/%s/logs" % jid, token=self.tok)
        self.assertIn("over-tls", logs.body)

    def test_untrusted_certificate_never_registers(self):
        sid, p = self.start_runner("tls-bad", self.other)
        time.sleep(3)
        self.assertEqual(self.status(sid), "PROVISIONING")
        r = self.api("GET", "/servers/%d" % sid).json
        self.assertFalse(r.get("registered"), r)

    def hashed_dir(self, name, cert):
        """A CA directory as update-ca-certificates leaves it: CERT under
        its subject hash."""
        d = os.path.join(self.tmp.name, name)
        os.makedirs(d)
        h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", cert], check=True,
                           capture_output=True, text=True).stdout.strip()
        with open(cert) as src, open(os.path.join(d, h + ".0"), "w") as dst:
            dst.write(src.read())
        return d

    def test_system_cas_from_the_hashed_directory(self):
        # No --ca-file: the CA is found by subject hash in the directory.
        sid, _ = self.start_runner("tls-sys", None, self.hashed_dir("sys-ok", self.cert))
        self.assertEqual(wait_for(lambda: self.status(sid) == "ACTIVE" and "ACTIVE", 20), "ACTIVE",
                         self.d.log_text()[-2000:])

    def test_system_cas_without_the_ca_never_register(self):
        # The directory holds only an unrelated CA: no trust, as pinned.
        sid, _ = self.start_runner("tls-sys-bad", None, self.hashed_dir("sys-bad", self.other))
        time.sleep(3)
        self.assertEqual(self.status(sid), "PROVISIONING")
        self.assertFalse(self.api("GET", "/servers/%d" % sid).json.get("registered"))


if __name__ == "__main__":
    unittest.main()
