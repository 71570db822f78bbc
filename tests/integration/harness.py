"""Integration-test harness: starts a real berthd on a free loopback port
in a temporary data directory and talks to it over real HTTP.

Used by every tests/integration/test_*.py. Binaries come from the
environment (BERTHD, BERTH) that ctest sets, or ../../build by default.
Standard library only: run with Debian's /usr/bin/python3.
"""
import http.client
import json
import os
import socket
import subprocess
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("BERTH_BUILD", os.path.join(ROOT, "build"))
BERTHD = os.environ.get("BERTHD", os.path.join(BUILD, "berthd"))
BERTH = os.environ.get("BERTH", os.path.join(BUILD, "berth"))

ADMIN_EMAIL = "admin@example.com"
ADMIN_PASSWORD = "admin-password-1"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listen_port():
    """A free port below the ephemeral range, for a listener that binds
    later or again (lego's, berthd's challenge port): a free_port() one may
    be taken meanwhile by an outgoing connection's local end."""
    import random
    lo = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        pass
    for _ in range(200):
        port = random.randrange(max(1024, lo - 12000), lo)
        s = socket.socket()
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port below %d" % lo)

def docker_ok():
    """True when the Docker engine answers."""
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def wait_for(fn, timeout, step=0.1):
    """Polls fn until it returns something true or timeout passes; returns
    its last value."""
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v or time.time() > deadline:
            return v
        time.sleep(step)


def git(*args, cwd=None):
    """Runs git with a fixed identity; returns its stripped stdout."""
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com")
    return subprocess.run(["git"] + list(args), cwd=cwd, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()



class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


class Berthd:
    """One berthd process with its own data directory."""

    def __init__(self, env=None, org="default", tls=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="berth-it-")
        self.data = os.path.join(self.tmp.name, "data")
        self.port = free_port()
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.org = org
        self.tls = tls  # (cert, key) or None
        self.proc = None
        self.log_path = os.path.join(self.tmp.name, "berthd.log")
        init_env = dict(self.env, BERTH_ADMIN_PASSWORD=ADMIN_PASSWORD)
        subprocess.run([BERTHD, "init", "--data", self.data, "--admin-email", ADMIN_EMAIL,
                        "--org", org], env=init_env, check=True, capture_output=True)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    def start(self):
        # free_port() closes the port it found before berthd binds it, and
        # any outgoing connection may take it meanwhile (the same ephemeral
        # range): on the first start a taken port is simply another one;
        # later starts keep theirs (runners know it) and try it again.
        for attempt in range(5):
            try:
                return self._start()
            except RuntimeError as e:
                if "cannot listen on" not in str(e) or attempt == 4:
                    raise
                # The attempt's log is kept aside, not read by
                # check_sanitizers: libwebsockets 4.1.6 leaks 96 bytes when
                # its context cannot bind, which LeakSanitizer reports as
                # that process exits (a leak of the failed start, in lws).
                os.replace(self.log_path, "%s.failed-%d" % (self.log_path, attempt))
                if not getattr(self, "started_once", False):
                    self.port = free_port()
                time.sleep(0.2)

    def serve_args(self):
        """berthd's command line (a subclass may add or change flags)."""
        args = [BERTHD, "serve", "--data", self.data, "--listen", "127.0.0.1:%d" % self.port]
        if self.tls:
            args += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        return args

    def _start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.serve_args(), env=self.env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.close()
                raise RuntimeError("berthd exited: " + self.log_text())
            try:
                if self.request("GET", "/healthz").status == 200:
                    self.started_once = True
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("berthd did not come up: " + self.log_text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.log.close()
        self.proc = None
        self.check_sanitizers()

    def check_sanitizers(self):
        """Under an ASan/UBSan build (make test-asan), berthd's reports go to
        its log, which no request sees: fail the test that ran it."""
        text = self.log_text()
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            at = text.find(mark)
            if at >= 0:
                raise AssertionError("berthd sanitizer report:\n" + text[max(0, at - 200):at + 3000])

    def close(self):
        try:
            self.stop()
        finally:
            self.tmp.cleanup()

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def connection(self, source=None):
        """source: a local address to connect from (e.g. "127.0.0.2")."""
        src = (source, 0) if source else None
        if self.tls:
            import ssl
            ctx = ssl.create_default_context(cafile=self.tls[0])
            ctx.check_hostname = False
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=ctx,
                                               source_address=src)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30,
                                          source_address=src)

    def request(self, method, path, token=None, body=None, raw=None, headers=None, source=None):
        """body: a JSON-able value; raw: bytes sent as they are; source: the
        local address to send from."""
        h = dict(headers or {})
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        if token:
            h["Authorization"] = "Bearer " + token
        if data is None and method in ("POST", "PUT", "PATCH"):
            data = b""
        conn = self.connection(source)
        try:
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            out = resp.read().decode("utf-8", "replace")
            return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, out)
        finally:
            conn.close()

    def login(self, email=ADMIN_EMAIL, password=ADMIN_PASSWORD):
        r = self.request("POST", "/api/v1/auth/login", body={"email": email, "password": password})
        if r.status != 200:
            raise AssertionError("login failed: %r" % r)
        return r.json["token"]

    def add_user(self, admin_token, org, email, role, password="user-password-1"):
        """Invites email into org with role, accepts, logs in; returns a session token.
        A new account accepts with the invite token and password; an existing one
        (the answer is the same) logs in and accepts its invitation."""
        r = self.request("POST", "/api/v1/orgs/%s/members" % org, token=admin_token,
                         body={"email": email, "role": role})
        if r.status != 201:
            raise AssertionError("add member failed: %r" % r)
        a = self.request("POST", "/api/v1/auth/accept-invite",
                         body={"token": r.json["invite_token"], "password": password})
        if a.status == 200:
            return self.login(email, password)
        tok = self.login(email, password)
        mine = self.request("GET", "/api/v1/invites", token=tok).json["items"]
        ids = [i["id"] for i in mine if org in (i["org"]["name"], str(i["org"]["id"]))]
        if not ids:
            raise AssertionError("accept invite failed: %r; no invitation to %s" % (a, org))
        a = self.request("POST", "/api/v1/invites/%d/accept" % ids[-1], token=tok)
        if a.status != 200:
            raise AssertionError("accept invite failed: %r" % a)
        return tok

    def create_token(self, token, scopes, org=None, expires_in=None, name="test"):
        """Creates an API token with the calling token; returns the answer's JSON."""
        body = {"name": name, "scopes": list(scopes)}
        if org is not None:
            body["org"] = org
        if expires_in is not None:
            body["expires_in"] = expires_in
        r = self.request("POST", "/api/v1/tokens", token=token, body=body)
        if r.status != 201:
            raise AssertionError("create token failed: %r" % r)
        return r.json

    def routes(self):
        out = subprocess.run([BERTHD, "routes"], check=True, capture_output=True)
        return json.loads(out.stdout)


def err_code(r):
    """The code of an answer's JSON error, or None."""
    return ((r.json or {}).get("error") or {}).get("code") if isinstance(r.json, dict) else None


class ApiCase(unittest.TestCase):
    """One berthd per test class (env: its environment), logged in as its
    admin (cls.admin); req() prefixes /api/v1."""
    env = None

    @classmethod
    def setUpClass(cls):
        cls.d = Berthd(env=cls.env).start()
        cls.admin = cls.d.login()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def req(self, method, path, token=None, **kw):
        return self.d.request(method, "/api/v1" + path, token=token, **kw)


RUNNER = os.environ.get("BERTH_RUNNER", os.path.join(os.path.dirname(BERTHD), "berth-runner"))


class RunnerCase(unittest.TestCase):
    """Per test: a fresh berthd (heartbeat 1 s) logged in as its admin
    (self.tok), and a real berth-runner on this host registered as server
    "host-1" (self.sid), ACTIVE when setUp returns. self.state is a temp
    dir for the runner's state and log; api() prefixes the organization."""
    state_prefix = "berth-runner-case-"

    def setUp(self):
        import signal  # noqa: F401 - tearDown's
        self.b = Berthd(env={"BERTH_HEARTBEAT_S": "1"}).start()
        self.tok = self.b.login()
        self.org = "/api/v1/orgs/%s" % self.b.org
        self.state = tempfile.TemporaryDirectory(prefix=self.state_prefix)
        self.runner_log = os.path.join(self.state.name, "runner.log")
        r = self.api("POST", "/servers", {"name": "host-1"})
        self.assertEqual(r.status, 201, r)
        self.sid = r.json["id"]
        env = dict(os.environ, BERTH_RUNNER_TOKEN=r.json["registration_token"])
        with open(self.runner_log, "ab") as log:
            self.runner = subprocess.Popen(
                [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % self.b.port, "--state-dir",
                 os.path.join(self.state.name, "state"), "--min-free-disk", "0"],
                env=env, stdout=log, stderr=log)
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/host-1").json["status"]
                                 == "ACTIVE", 20), self.logs())

    def tearDown(self):
        import signal
        if self.runner.poll() is None:
            self.runner.send_signal(signal.SIGTERM)
            try:
                self.runner.wait(10)
            except subprocess.TimeoutExpired:
                self.runner.kill()
        self.b.close()  # fails the test on a sanitizer report
        self.state.cleanup()

    def logs(self):
        with open(self.runner_log, "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:] + self.b.log_text()[-3000:]

    def api(self, method, path, body=None, token=None):
        return self.b.request(method, self.org + path, token=token or self.tok, body=body)
