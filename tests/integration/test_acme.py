"""berthd takes its own certificate by ACME (--acme-domain): Debian's lego
against Debian's pebble, with pebble-challtestsrv as pebble's DNS (every
name is 127.0.0.1), pebble validating HTTP-01 on berthd's --acme-http-port.

The served certificate is verified against pebble's issuing root (fetched
from its management port) with the name, over a connection to 127.0.0.1.
"""
import http.client
import os
import socket
import ssl
import stat
import tempfile
import time
import unittest

import harness
import pebble

NAME = "acme.berth.test"


class AcmeBerthd(harness.Berthd):
    """A berthd started with --acme-* flags; its readiness and requests go
    over HTTPS without verification (the placeholder is self-signed)."""

    def __init__(self, acme_args):
        super().__init__()
        self.acme_args = acme_args
        self.tls = ("-", "-")  # https:// in url; connection() is ours

    def serve_args(self):
        return [harness.BERTHD, "serve", "--data", self.data,
                "--listen", "127.0.0.1:%d" % self.port] + self.acme_args

    def connection(self, source=None):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=ctx)


def raw_http(port, data, timeout=10):
    """Sends raw bytes to 127.0.0.1:port; returns everything read until the
    server closes or goes quiet."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        out = b""
        s.settimeout(2)
        while len(out) < 1 << 20:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def status_of(resp):
    line = resp.split(b"\r\n", 1)[0]
    parts = line.split(b" ")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class TestAcme(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="berth-acme-")
        cls.http_port = harness.listen_port()
        cls.pebble = pebble.start(cls.tmp.name, cls.http_port)
        cls.root = os.path.join(cls.tmp.name, "pebble-root.pem")
        with open(cls.root, "w") as f:
            f.write(cls.pebble.root_pem())
        cls.daemons = []

    @classmethod
    def tearDownClass(cls):
        try:
            for d in cls.daemons:
                d.close()
        finally:
            cls.pebble.stop()
            cls.tmp.cleanup()

    def berthd(self, *extra, directory=None):
        args = ["--acme-domain", NAME, "--acme-directory", directory or self.pebble.directory_url,
                "--acme-ca-file", self.pebble.ca_file, "--acme-http-port", str(self.http_port),
                "--acme-email", "ops@example.com"] + list(extra)
        d = AcmeBerthd(args)
        self.daemons.append(d)
        self.addCleanup(self.stop, d)
        return d.start()

    def stop(self, d):
        if d in self.daemons:
            self.daemons.remove(d)
            d.close()

    def verified(self):
        ctx = ssl.create_default_context(cafile=self.root)
        ctx.check_hostname = True
        return ctx

    def https(self, d, ctx=None):
        """A connection to 127.0.0.1 that verifies the certificate for NAME."""
        conn = http.client.HTTPSConnection(NAME, d.port, timeout=10, context=ctx or self.verified())
        conn.sock = ctx_wrap(ctx or self.verified(), d.port)
        return conn

    def wait_issued(self, d, timeout=60):
        def issued():
            r = d.request("GET", "/healthz")
            cert = (r.json or {}).get("certificate") or {}
            return cert.get("source") == "acme"
        self.assertTrue(harness.wait_for(issued, timeout, 0.3),
                        "no certificate issued:\n" + d.log_text()[-3000:] + self.pebble.log_text())

    def served_serial(self, d):
        s = ctx_wrap(self.verified(), d.port)
        try:
            return s.getpeercert()["serialNumber"]
        finally:
            s.close()

    # ---------------------------------------------------------------- cases

    def test_fresh_berthd_gets_a_certificate_and_serves_https_on_it(self):
        d = self.berthd()
        self.wait_issued(d)
        conn = self.https(d)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        body = r.read()
        self.assertEqual(r.status, 200)
        self.assertIn(b'"source":"acme"', body)
        self.assertIn(b"not_after", body)
        peer = conn.sock.getpeercert()
        self.assertIn(("DNS", NAME), peer["subjectAltName"])
        conn.close()
        # the log says so; keys and certificates 0600
        self.assertIn("certificate for %s issued" % NAME, d.log_text())
        certs = os.path.join(d.data, "acme", "lego", "certificates")
        for f in (NAME + ".crt", NAME + ".key"):
            mode = stat.S_IMODE(os.stat(os.path.join(certs, f)).st_mode)
            self.assertEqual(mode, 0o600, f)
        for f in ("placeholder.key", "placeholder.crt"):
            mode = stat.S_IMODE(os.stat(os.path.join(d.data, "acme", f)).st_mode)
            self.assertEqual(mode, 0o600, f)
        # no key in the log; the expiry in /metrics too
        self.assertNotIn("PRIVATE KEY", d.log_text())
        m = d.request("GET", "/metrics")
        self.assertEqual(m.status, 200)
        self.assertRegex(m.body, r"\nberth_acme_certificate_expiry_seconds \d{10}\n")

        # Restarted with the directory unreachable and a threshold that
        # wants a renewal: berthd serves its previous certificate at once
        # and logs why the renewal failed.
        d.stop()
        d.acme_args = [a for a in d.acme_args]
        i = d.acme_args.index("--acme-directory")
        d.acme_args[i + 1] = "https://127.0.0.1:%d/dir" % harness.free_port()
        d.acme_args += ["--acme-renew-days", "100000", "--acme-check-interval", "2"]
        d.start()
        conn = self.https(d)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        self.assertEqual(r.status, 200)
        self.assertIn(b'"source":"acme"', r.read())
        conn.close()
        self.assertTrue(harness.wait_for(lambda: "renewing the certificate for %s failed" % NAME
                                         in d.log_text(), 30, 0.3), d.log_text()[-3000:])
        log = d.log_text()
        self.assertIn("lego exited with", log)
        self.assertIn("connection refused", log)
        self.assertTrue(harness.wait_for(lambda: "(attempt 2," in d.log_text(), 30, 0.3),
                        d.log_text()[-3000:])
        conn = self.https(d)
        conn.request("GET", "/healthz")
        self.assertEqual(conn.getresponse().status, 200)
        conn.close()
        self.stop(d)

    def test_names_changed_get_a_new_certificate(self):
        d = self.berthd()
        self.wait_issued(d)
        first = self.served_serial(d)
        # a name added: the old certificate is served at once, a new one
        # for both names is asked for and swapped in
        d.stop()
        other = "two." + NAME
        d.acme_args += ["--acme-domain", other]
        d.start()
        self.assertEqual(self.served_serial(d), first)

        def both():
            s = ctx_wrap(self.verified(), d.port)
            try:
                return ("DNS", other) in s.getpeercert()["subjectAltName"]
            finally:
                s.close()
        self.assertTrue(harness.wait_for(both, 60, 0.3), d.log_text()[-3000:])
        self.assertIn("certificate for %s issued" % NAME, d.log_text())

    def test_directory_unreachable_keeps_serving_the_placeholder(self):
        dead = "https://127.0.0.1:%d/dir" % harness.free_port()
        d = self.berthd("--acme-check-interval", "2", directory=dead)
        r = d.request("GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json["certificate"]["source"], "placeholder")
        self.assertIsNone(r.json["certificate"]["not_after"])
        self.assertEqual(r.json["certificate"]["not_after_unix"], 0)
        self.assertTrue(harness.wait_for(lambda: "requesting the certificate for %s failed" % NAME
                                         in d.log_text(), 30, 0.3), d.log_text()[-3000:])
        self.assertIn("lego exited with", d.log_text())
        # still serving, over the self-signed placeholder (not trusted)
        self.assertEqual(d.request("GET", "/healthz").status, 200)
        with self.assertRaises(ssl.SSLCertVerificationError):
            ctx_wrap(self.verified(), d.port).close()
        self.stop(d)

    def test_challenge_port_answers_only_valid_tokens(self):
        d = self.berthd("--acme-directory", "https://127.0.0.1:%d/dir" % harness.free_port(),
                        "--acme-check-interval", "3600")
        hp = self.http_port
        webroot = os.path.join(d.data, "acme", "webroot", ".well-known", "acme-challenge")
        os.makedirs(webroot, exist_ok=True)
        token = "Tok3n_-abcdefghijklmnopqrstuvwxyz0123456789"
        with open(os.path.join(webroot, token), "w") as f:
            f.write(token + ".thumbprint")
        # a symlink with a valid token name to a secret: not followed
        os.symlink(os.path.join(d.data, "master.key"), os.path.join(webroot, "evilLink"))
        # a big file with a valid token name: not served
        with open(os.path.join(webroot, "bigFile"), "w") as f:
            f.write("x" * 100000)
        with open(os.path.join(d.data, "master.key"), "rb") as f:
            secret = f.read().strip()

        def get(path, method=b"GET", extra=b""):
            return raw_http(hp, method + b" " + path + b" HTTP/1.1\r\nHost: " + NAME.encode() +
                            b"\r\nConnection: close\r\n" + extra + b"\r\n")

        ok = get(b"/.well-known/acme-challenge/" + token.encode())
        self.assertEqual(status_of(ok), 200, ok)
        self.assertTrue(ok.endswith((token + ".thumbprint").encode()), ok)

        hostile = [
            b"/.well-known/acme-challenge/evilLink",
            b"/.well-known/acme-challenge/bigFile",
            b"/.well-known/acme-challenge/",
            b"/.well-known/acme-challenge/" + b"A" * 129,
            b"/.well-known/acme-challenge/" + b"A" * 5000,
            b"/.well-known/acme-challenge/a.b",
            b"/.well-known/acme-challenge/a%00b",
            b"/.well-known/acme-challenge/Tok3n%20x",
            b"/.well-known/acme-challenge/nope",
        ]
        for p in hostile:
            r = get(p)
            # 4xx, or (a NUL) lws closes the connection without an answer
            self.assertTrue(400 <= status_of(r) < 500 or (r == b"" and b"%00" in p), (p, r[:200]))
            self.assertNotIn(secret, r)
        # traversal, raw or encoded: lws decodes and collapses it before
        # berthd sees the path, which then lies outside the prefix and is
        # redirected (no file read)
        for p in (b"/.well-known/acme-challenge/../../master.key",
                  b"/.well-known/acme-challenge/..%2f..%2fmaster.key",
                  b"/.well-known/acme-challenge/%2e%2e%2f%2e%2e%2fmaster.key",
                  b"/.well-known/acme-challenge/../../../../etc/passwd"):
            r = get(p)
            self.assertIn(status_of(r), list(range(400, 500)) + [301], (p, r[:200]))
            self.assertNotIn(secret, r)
            self.assertNotIn(b"root:", r)
        # other methods on a challenge path
        for m in (b"POST", b"PUT", b"DELETE", b"OPTIONS"):
            r = get(b"/.well-known/acme-challenge/" + token.encode(), method=m,
                    extra=b"Content-Length: 0\r\n")
            self.assertIn(status_of(r), range(400, 500), (m, r[:200]))
            self.assertNotIn(b"thumbprint", r)
        # everything else: 301 to the HTTPS URL, no header injection
        r = get(b"/dashboard/apps?x=1")
        self.assertEqual(status_of(r), 301, r)
        self.assertIn(("location: https://%s:%d/dashboard/apps\r\n" % (NAME, d.port)).encode(),
                      r.lower())
        r = get(b"/a%0d%0aSet-Cookie:%20x=1")
        self.assertEqual(status_of(r), 301, r)
        self.assertNotIn(b"set-cookie", r.lower())
        # lws ends the decoded path at the CR; either way nothing follows it
        self.assertRegex(r.lower(), (r"location: https://%s:%d/a?\r\n\r\n" % (NAME.replace(".", r"\."), d.port)).encode())
        # a scheme-relative path never moves the host: always berthd's name
        r = get(b"//evil.example/x")
        self.assertEqual(status_of(r), 301, r)
        self.assertIn(("location: https://%s:%d/" % (NAME, d.port)).encode(), r.lower())
        # keep-alive on the challenge port: two answers on one connection
        two = raw_http(hp, b"GET /.well-known/acme-challenge/" + token.encode() +
                       b" HTTP/1.1\r\nHost: x\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
        self.assertEqual(two.count(b"HTTP/1.1 "), 2, two)
        # berthd is still up
        self.assertEqual(d.request("GET", "/healthz").status, 200)
        self.stop(d)

    def test_forced_renewal_swaps_the_certificate_under_a_keepalive_client(self):
        d = self.berthd("--acme-renew-days", "100000", "--acme-check-interval", "2")
        self.wait_issued(d)
        conn = self.https(d)
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        sock = conn.sock
        first = sock.getpeercert()["serialNumber"]
        # keep asking on the same connection until a new handshake sees
        # another certificate (a renewal), and a while after
        deadline = time.time() + 90
        renewed = None
        count = 0
        while time.time() < deadline:
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            self.assertIs(conn.sock, sock, "the keep-alive connection was replaced")
            count += 1
            if renewed is None:
                s = self.served_serial(d)
                if s != first:
                    renewed = s
                    until = time.time() + 2
            elif time.time() > until:
                break
            time.sleep(0.2)
        self.assertIsNotNone(renewed, "no renewal seen:\n" + d.log_text()[-3000:])
        self.assertIs(conn.sock, sock)
        self.assertEqual(sock.getpeercert()["serialNumber"], first)  # it kept its own
        conn.close()
        self.assertIn("certificate for %s renewed" % NAME, d.log_text())
        self.assertGreater(count, 5)
        self.stop(d)


class TestAcmeRefusals(unittest.TestCase):
    """What berthd refuses at start, before any ACME traffic."""

    def run_berthd(self, *args):
        d = harness.Berthd()
        self.addCleanup(d.tmp.cleanup)
        return harness.subprocess.run(
            [harness.BERTHD, "serve", "--data", d.data, "--listen", "127.0.0.1:0"] + list(args),
            capture_output=True, text=True, timeout=30)

    def test_refusals(self):
        r = self.run_berthd("--acme-domain", NAME)
        self.assertEqual(r.returncode, 1)
        self.assertIn("--acme-domain needs --acme-email", r.stderr)
        r = self.run_berthd("--acme-domain", NAME, "--acme-email", "ops@example.com",
                            "--tls-cert", "/x.pem", "--tls-key", "/x.key")
        self.assertEqual(r.returncode, 1)
        self.assertIn("drop --tls-cert", r.stderr)
        for bad in ("*.example.com", "localhost", "a..b", "a.b/c", "a.b,"):
            r = self.run_berthd("--acme-domain", bad)
            self.assertEqual(r.returncode, 2, bad)
            self.assertIn("--acme-domain", r.stderr)
        r = self.run_berthd("--acme-domain", NAME, "--acme-http-port", "70000")
        self.assertEqual(r.returncode, 2)
        env_bad = harness.subprocess.run(
            [harness.BERTHD, "serve", "--data", "/nonexistent"], capture_output=True, text=True,
            timeout=30, env=dict(harness.os.environ, BERTH_ACME_DOMAIN="bad_name.example"))
        self.assertEqual(env_bad.returncode, 2)
        self.assertIn("BERTH_ACME_DOMAIN", env_bad.stderr)
        # a flag replaces the environment's names: the placeholder names
        # only the flag's
        d = AcmeBerthd(["--acme-domain", "b.example.com", "--acme-email", "ops@example.com",
                        "--acme-directory", "https://127.0.0.1:%d/dir" % harness.free_port(),
                        "--acme-http-port", str(harness.listen_port())])
        d.env["BERTH_ACME_DOMAIN"] = "a.example.com"
        self.addCleanup(d.close)
        d.start()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        with ctx.wrap_socket(raw) as s:
            der = s.getpeercert(binary_form=True)
        self.assertIn(b"b.example.com", der)
        self.assertNotIn(b"a.example.com", der)


def ctx_wrap(ctx, port):
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        return ctx.wrap_socket(raw, server_hostname=NAME)
    except Exception:
        raw.close()
        raise


if __name__ == "__main__":
    unittest.main()
