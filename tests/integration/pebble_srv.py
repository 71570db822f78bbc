"""Debian's pebble (ACME test server) and pebble-challtestsrv (its DNS) for
integration tests.

    p = pebble_srv.start(tmpdir, http_port)
    p.directory_url   # https://127.0.0.1:PORT/dir
    p.ca_file         # the CA of pebble's own TLS (for --acme-ca-file)
    p.root_pem()      # the root that issues certificates (management /roots/0)
    p.stop()

challtestsrv answers every name with 127.0.0.1 (-defaultIPv4), so pebble's
HTTP-01 validation connects to 127.0.0.1:http_port, the port the client
under test serves challenges on. Pebble's own TLS certificate is made here
with openssl. Standard library only: run with /usr/bin/python3.
"""
import json
import os
import socket
import ssl
import subprocess
import time
import urllib.request

PEBBLE = os.environ.get("PEBBLE", "/usr/bin/pebble")
CHALLTESTSRV = os.environ.get("PEBBLE_CHALLTESTSRV", "/usr/bin/pebble-challtestsrv")


def _free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Pebble:
    def __init__(self, tmpdir, http_port):
        self.dir = os.path.join(tmpdir, "pebble")
        os.makedirs(self.dir, exist_ok=True)
        self.http_port = http_port
        self.port = _free_port()
        self.mgmt_port = _free_port()
        self.dns_port = _free_port(socket.SOCK_DGRAM)
        self.ca_file = os.path.join(self.dir, "pebble-tls.pem")
        self.key_file = os.path.join(self.dir, "pebble-tls.key")
        self.directory_url = "https://127.0.0.1:%d/dir" % self.port
        self.procs = []
        self.logs = []

    def _cert(self):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                        "-subj", "/CN=pebble test directory",
                        "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", self.key_file, "-out", self.ca_file],
                       check=True, capture_output=True, timeout=30)

    def _spawn(self, name, args, env=None):
        log = open(os.path.join(self.dir, name + ".log"), "ab")
        self.logs.append(log)
        p = subprocess.Popen(args, stdout=log, stderr=log, env=env, cwd=self.dir)
        self.procs.append(p)
        return p

    def log_text(self):
        out = []
        for n in ("challtestsrv", "pebble"):
            try:
                with open(os.path.join(self.dir, n + ".log"), "rb") as f:
                    out.append("--- %s ---\n%s" % (n, f.read().decode("utf-8", "replace")[-4000:]))
            except OSError:
                pass
        return "\n".join(out)

    def _start(self):
        self._cert()
        self._spawn("challtestsrv", [CHALLTESTSRV, "-defaultIPv4", "127.0.0.1",
                                     "-defaultIPv6", "", "-dns01", "127.0.0.1:%d" % self.dns_port,
                                     "-http01", "", "-https01", "", "-tlsalpn01", "",
                                     "-management", "127.0.0.1:%d" % _free_port()])
        cfg = {"pebble": {
            "listenAddress": "127.0.0.1:%d" % self.port,
            "managementListenAddress": "127.0.0.1:%d" % self.mgmt_port,
            "certificate": self.ca_file,
            "privateKey": self.key_file,
            "httpPort": self.http_port,
            "tlsPort": _free_port(),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
        }}
        cfg_path = os.path.join(self.dir, "pebble-config.json")
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0",
                   PEBBLE_AUTHZREUSE="0")
        self._spawn("pebble", [PEBBLE, "-config", cfg_path,
                               "-dnsserver", "127.0.0.1:%d" % self.dns_port], env=env)
        ctx = ssl.create_default_context(cafile=self.ca_file)
        deadline = time.time() + 20
        while time.time() < deadline:
            for p in self.procs:
                if p.poll() is not None:
                    raise RuntimeError("pebble exited:\n" + self.log_text())
            try:
                with urllib.request.urlopen(self.directory_url, context=ctx, timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("pebble did not come up:\n" + self.log_text())

    def root_pem(self):
        """The root pebble issues certificates under (it changes per run)."""
        ctx = ssl.create_default_context(cafile=self.ca_file)
        url = "https://127.0.0.1:%d/roots/0" % self.mgmt_port
        with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
            return r.read().decode()

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.procs = []
        for log in self.logs:
            log.close()
        self.logs = []


def start(tmpdir, http_port):
    """Starts challtestsrv and pebble; returns the running Pebble."""
    p = Pebble(tmpdir, http_port)
    try:
        return p._start()
    except Exception:
        p.stop()
        raise
