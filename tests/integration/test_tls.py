"""berthd over TLS: a self-signed certificate made with the openssl CLI,
and a client that verifies the server against it."""
import http.client
import os
import socket
import ssl
import subprocess
import tempfile
import unittest

import harness


class TestTLS(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="berth-tls-")
        cls.cert = os.path.join(cls.tmp.name, "cert.pem")
        cls.key = os.path.join(cls.tmp.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", cls.key, "-out", cls.cert], check=True, capture_output=True)
        cls.d = harness.Berthd(tls=(cls.cert, cls.key)).start()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()
        cls.tmp.cleanup()

    def verified_context(self):
        ctx = ssl.create_default_context(cafile=self.cert)
        ctx.check_hostname = True  # the certificate names 127.0.0.1
        return ctx

    def get(self, ctx, path, token=None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.d.port, timeout=10, context=ctx)
        try:
            conn.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
            r = conn.getresponse()
            return r.status, r.read(), conn.sock.getpeercert()
        finally:
            conn.close()

    def test_https_request_verified_against_the_cert(self):
        status, body, peer = self.get(self.verified_context(), "/healthz")
        self.assertEqual(status, 200)
        self.assertIn(b"ok", body)
        self.assertIn(("IP Address", "127.0.0.1"), peer["subjectAltName"])

    def test_login_and_api_over_tls(self):
        self.assertTrue(self.d.url.startswith("https://"))
        tok = self.d.login()  # the harness verifies against the same cert
        status, body, _ = self.get(self.verified_context(), "/api/v1/me", token=tok)
        self.assertEqual(status, 200)
        self.assertIn(harness.ADMIN_EMAIL.encode(), body)

    def test_untrusted_client_refuses(self):
        ctx = ssl.create_default_context()  # system CAs only: self-signed is not trusted
        with self.assertRaises(ssl.SSLCertVerificationError):
            self.get(ctx, "/healthz")

    def test_plain_http_is_not_served(self):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=5)
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            try:
                out = s.recv(4096)
            except (ConnectionResetError, socket.timeout):
                out = b""
        finally:
            s.close()
        self.assertNotIn(b'"status":"ok"', out)

    def test_berthd_refuses_a_half_tls_config(self):
        d = harness.Berthd(tls=(self.cert, os.path.join(self.tmp.name, "missing.pem")))
        try:
            with self.assertRaises(RuntimeError):
                d.start()
        finally:
            d.close()


if __name__ == "__main__":
    unittest.main()
