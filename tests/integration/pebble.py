"""Debian's pebble (ACME test server, 2.4) with pebble-challtestsrv as its
DNS (every name -> 127.0.0.1), for tests of the edge's HTTPS.

    p = pebble.start(tmpdir, http_port)   # http_port: where HTTP-01 is checked
    p.directory_url, p.ca_file            # for berthd --acme-directory / --acme-ca-file
    p.root_pem()                          # pebble's issuing root (verify served certs)
    p.stop()

pebble needs its own TLS certificate for its directory: made here with
openssl (CN and SAN 127.0.0.1/localhost); ca_file is that certificate.
"""
import json
import os
import ssl
import subprocess
import time
import urllib.request

from harness import free_port


class Pebble:
    def __init__(self, tmp, http_port):
        self.dir = os.path.join(tmp, "pebble")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.mgmt = free_port()
        self.dns = free_port()
        self.chall_mgmt = free_port()
        self.cert = os.path.join(self.dir, "cert.pem")
        self.key = os.path.join(self.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cfg = {"pebble": {"listenAddress": "127.0.0.1:%d" % self.port,
                          "managementListenAddress": "127.0.0.1:%d" % self.mgmt,
                          "certificate": self.cert, "privateKey": self.key,
                          "httpPort": http_port, "tlsPort": free_port(),
                          "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        self.config = os.path.join(self.dir, "pebble.json")
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.dir, "pebble.log"), "ab")
        self.chall = subprocess.Popen(
            ["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
             "-dns01", "127.0.0.1:%d" % self.dns, "-http01", "", "-https01", "", "-tlsalpn01", "",
             "-management", "127.0.0.1:%d" % self.chall_mgmt],
            stdout=self.log, stderr=self.log)
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
        self.proc = subprocess.Popen(
            ["pebble", "-config", self.config, "-dnsserver", "127.0.0.1:%d" % self.dns],
            stdout=self.log, stderr=self.log, env=env)
        self.directory_url = "https://127.0.0.1:%d/dir" % self.port
        self.ca_file = self.cert
        ctx = ssl.create_default_context(cafile=self.cert)
        deadline = time.time() + 20
        while True:
            try:
                urllib.request.urlopen(self.directory_url, context=ctx, timeout=2).read()
                break
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise RuntimeError("pebble did not start: " + self.log_text()[-2000:])
                time.sleep(0.1)

    def root_pem(self):
        """pebble's issuing root, from its management port (new at every start)."""
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the management port's own cert is pebble's minica
        return urllib.request.urlopen("https://127.0.0.1:%d/roots/0" % self.mgmt, context=ctx,
                                      timeout=5).read().decode()

    def log_text(self):
        with open(os.path.join(self.dir, "pebble.log"), errors="replace") as f:
            return f.read()

    def stop(self):
        for p in (self.proc, self.chall):
            if p and p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.log.close()


def start(tmpdir, http_port):
    return Pebble(tmpdir, http_port)
