"""Git integration end to end, all real: berthd, berth-runner, Docker,
HAProxy, and two private git servers on loopback.

(a) smart HTTP: git-http-backend behind lighttpd requiring basic auth. The
    only password it accepts is the newest GitHub App installation token,
    minted by a local fake of GitHub's token endpoint (stdlib HTTP server)
    that checks the JWT's RS256 signature with the App's public key using
    the openssl CLI, then writes the fresh token into lighttpd's user file.
    A signed GitHub `push` webhook -> a deployment at exactly `after`.
(b) SSH: Debian's sshd on a loopback port, user `git` limited to git-shell
    (authorized_keys: the deploy key's public half, `restrict`), repository
    url ssh://git@127.0.0.1:PORT/.../app.git; the deploy key attached
    through the API; a Gitea push hook (X-Gitea-Signature) -> a deployment
    at `after`. Host key: trusted on first use into STATE/known_hosts.
(c) wrong branch, bad signature, replayed delivery, oversized body: nothing
    scheduled.
Secrets (installation tokens, the App key, the deploy key, webhook
secrets) are checked absent from every log, API answer, runner file after
the jobs and every /proc/*/cmdline sampled while the clones ran.

Needs root, Docker, HAProxy, lighttpd, openssh-server (installed by
scripts/test-fixtures.sh). Run with Debian's /usr/bin/python3.
"""
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

import test_deploy as td
from harness import Berthd

ROOT = td.ROOT
RUNNER = td.RUNNER
ENDED = td.ENDED
APP_ID, INSTALLATION = 4242, 77


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def hmac_hex(secret, body):
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class ProcWatch(threading.Thread):
    """Samples every /proc/*/cmdline while it runs: records any that holds a
    secret, and whether a clone (the runner's `berth-clone` shell, git, ssh)
    was seen at all, so the check is known to have looked at the right time."""

    def __init__(self, needles):
        super().__init__(daemon=True)
        self.needles = [n.encode() for n in needles if n]
        self.hits = []
        self.seen_clone = 0
        self.halt = threading.Event()

    def run(self):
        me = str(os.getpid())
        while not self.halt.is_set():
            for pid in os.listdir("/proc"):
                if not pid.isdigit() or pid == me:
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                if b"berth-clone" in cmd or b"git-upload-pack" in cmd or b"fetch-pack" in cmd:
                    self.seen_clone += 1
                for n in self.needles:
                    if n in cmd:
                        self.hits.append((pid, cmd[:200]))
            time.sleep(0.005)

    def stop(self):
        self.halt.set()
        self.join(10)
        return self


class HttpGit:
    """git-http-backend behind lighttpd; basic auth against a plain user file
    the token endpoint rewrites (lighttpd reads it on every request)."""

    def __init__(self, root):
        self.root = root
        self.port = td.free_port()
        self.users = os.path.join(root, "users")
        os.makedirs(os.path.join(root, "repos"))
        os.makedirs(os.path.join(root, "www"))
        self.set_password("not-yet-" + secrets.token_hex(8))
        conf = os.path.join(root, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write("""
server.modules = ("mod_alias", "mod_setenv", "mod_cgi", "mod_auth", "mod_authn_file", "mod_accesslog")
server.document-root = "{root}/www"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root}/error.log"
accesslog.filename = "{root}/access.log"
alias.url = ("/git" => "/usr/lib/git-core/git-http-backend")
$HTTP["url"] =~ "^/git" {{
    cgi.assign = ("" => "")
    setenv.add-environment = ("GIT_PROJECT_ROOT" => "{root}/repos", "GIT_HTTP_EXPORT_ALL" => "1")
}}
auth.backend = "plain"
auth.backend.plain.userfile = "{root}/users"
auth.require = ("/git" => ("method" => "basic", "realm" => "git", "require" => "valid-user"))
""".format(root=root, port=self.port))
        self.proc = subprocess.Popen(["lighttpd", "-D", "-f", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not td.wait_for(self._up, 10):
            raise RuntimeError("lighttpd did not start")

    def set_password(self, password, user="x-access-token"):
        tmp = self.users + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("%s:%s\n" % (user, password))
        os.rename(tmp, self.users)

    def _up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return True
        except OSError:
            return False

    def url(self, name):
        return "http://127.0.0.1:%d/git/%s" % (self.port, name)

    def status(self, name, user, password):
        """The answer to an authenticated info/refs request (200 or 401)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
            c.request("GET", "/git/%s/info/refs?service=git-upload-pack" % name,
                      headers={"Authorization": "Basic " + auth})
            r = c.getresponse()
            r.read()
            return r.status
        finally:
            c.close()

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


class TokenEndpoint(http.server.ThreadingHTTPServer):
    """POST /app/installations/77/access_tokens, as GitHub answers it."""
    daemon_threads = True

    def __init__(self, pub, tmp, on_token):
        self.pub, self.tmp, self.on_token = pub, tmp, on_token
        self.calls, self.tokens = [], []
        super().__init__(("127.0.0.1", 0), TokenHandler)

    def check_jwt(self, jwt):
        parts = jwt.split(".")
        if len(parts) != 3:
            return "not a JWT"
        try:
            header, claims = json.loads(b64d(parts[0])), json.loads(b64d(parts[1]))
        except ValueError:
            return "undecodable"
        data = os.path.join(self.tmp, "jwt-%s" % uuid.uuid4().hex)
        with open(data, "wb") as f:
            f.write(("%s.%s" % (parts[0], parts[1])).encode())
        with open(data + ".sig", "wb") as f:
            f.write(b64d(parts[2]))
        try:
            v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.pub, "-signature",
                                data + ".sig", data], capture_output=True, text=True)
        finally:
            os.unlink(data)
            os.unlink(data + ".sig")
        if v.returncode != 0 or "Verified OK" not in v.stdout:
            return "bad signature"
        if header.get("alg") != "RS256":
            return "alg %r" % header.get("alg")
        now = time.time()
        if not (claims["iat"] <= now and now < claims["exp"] <= now + 600 and
                str(claims["iss"]) == str(APP_ID)):
            return "claims %r" % claims
        return None


class TokenHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_POST(self):
        srv = self.server
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        why = srv.check_jwt(auth[7:]) if auth.startswith("Bearer ") else "no bearer"
        if not why and self.path != "/app/installations/%d/access_tokens" % INSTALLATION:
            why = "path " + self.path
        srv.calls.append(why)
        if why:
            code, out = 401, {"message": "A JSON web token could not be decoded"}
        else:
            token = "ghs_" + secrets.token_urlsafe(27).replace("-", "a").replace("_", "b")
            srv.tokens.append(token)
            srv.on_token(token)  # the git server accepts this one (and only this one) now
            code, out = 201, {"token": token, "expires_at": time.strftime(
                "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
                "permissions": {"contents": "read"}, "repository_selection": "selected"}
        body = json.dumps(out).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class SshGit:
    """Debian's sshd on a loopback port as a git server: user `git` (made
    here if the host has none, removed again), shell git-shell, key-only,
    its authorized_keys the deploy key's public half with `restrict`."""

    def __init__(self, keydir, pubkey):
        self.created_user = False
        try:
            pw = pwd.getpwnam("git")
        except KeyError:
            pw = None
        self.root = tempfile.mkdtemp(prefix="berth-sshgit-")
        os.chmod(self.root, 0o755)
        if pw is None:
            subprocess.run(["useradd", "--system", "--no-create-home", "--home-dir", self.root,
                            "--shell", "/usr/bin/git-shell", "git"], check=True, capture_output=True)
            # "!" (locked) would make sshd refuse even a key without PAM
            subprocess.run(["usermod", "-p", "*", "git"], check=True, capture_output=True)
            self.created_user = True
            pw = pwd.getpwnam("git")
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        # whatever git's shell is, the key may run git-shell only
        forced = "" if pw.pw_shell.endswith("git-shell") else \
            'command="/usr/bin/git-shell -c \\"$SSH_ORIGINAL_COMMAND\\"",'
        self.repos = os.path.join(self.root, "repos")
        os.makedirs(self.repos)
        ak = os.path.join(self.root, "authorized_keys")
        with open(ak, "w") as f:
            f.write("restrict,%s %s\n" % (forced.rstrip(","), pubkey.strip()) if forced
                    else "restrict %s\n" % pubkey.strip())
        os.chown(ak, self.uid, self.gid)
        os.chmod(ak, 0o600)
        self.hostkey = os.path.join(keydir, "ssh_host_ed25519_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", self.hostkey],
                       check=True, capture_output=True)
        with open(self.hostkey + ".pub") as f:
            self.hostkey_pub = f.read().split()[1]
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.port = td.free_port()
        self.log = os.path.join(keydir, "sshd.log")
        conf = os.path.join(keydir, "sshd_config")
        with open(conf, "w") as f:
            f.write("""Port {port}
ListenAddress 127.0.0.1
HostKey {hostkey}
PidFile {keydir}/sshd.pid
AuthorizedKeysFile {ak}
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin no
AllowUsers git
AllowTcpForwarding no
X11Forwarding no
PermitTTY no
AcceptEnv GIT_PROTOCOL
LogLevel VERBOSE
""".format(port=self.port, hostkey=self.hostkey, keydir=keydir, ak=ak))
        subprocess.run(["/usr/sbin/sshd", "-t", "-f", conf], check=True, capture_output=True)
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", conf], stdout=logf,
                                     stderr=logf)
        logf.close()
        if not td.wait_for(self._up, 10):
            raise RuntimeError("sshd did not start: " + self.log_text())

    def _up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return True
        except OSError:
            return False

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def url(self, name):
        return "ssh://git@127.0.0.1:%d%s/%s" % (self.port, self.repos, name)

    def publish(self, uid=None, gid=None):
        """After a push through the file system: owned (and so served) by git.
        publish(0, 0) gives it back to root for the next push (git refuses
        to work in a repository another user owns)."""
        uid = self.uid if uid is None else uid
        gid = self.gid if gid is None else gid
        for base, dirs, files in os.walk(self.repos):
            for n in dirs + files:
                os.chown(os.path.join(base, n), uid, gid)
            os.chown(base, uid, gid)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)
        if self.created_user:
            subprocess.run(["userdel", "git"], capture_output=True)


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
@unittest.skipUnless(shutil.which("docker") and td.docker_ok(), "no Docker engine")
@unittest.skipUnless(os.geteuid() == 0, "needs root (sshd, a git user, Docker)")
class GitE2E(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(ROOT, "scripts", "test-fixtures.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.cleanups = []
        try:
            cls._setup()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _setup(cls):
        cls.tmp = tempfile.mkdtemp(prefix="berth-gite2e-")
        os.chmod(cls.tmp, 0o700)
        cls.cleanups.append(lambda: None if os.environ.get("BERTH_KEEP_TMP")
                            else shutil.rmtree(cls.tmp, ignore_errors=True))
        cls.state = os.path.join(cls.tmp, "state")
        cls.runner_log = os.path.join(cls.tmp, "runner.log")
        cls.bodies = []
        cls.runner = None
        cls.watch = None

        # the GitHub App: its key pair, and the fake token endpoint
        cls.app_key = os.path.join(cls.tmp, "app.pem")
        cls.app_pub = os.path.join(cls.tmp, "app.pub")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", cls.app_key], check=True, capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", cls.app_key, "-pubout", "-out", cls.app_pub],
                       check=True, capture_output=True)
        with open(cls.app_key) as f:
            cls.app_key_pem = f.read()
        # the deploy key
        cls.deploy_key = os.path.join(cls.tmp, "deploy_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth-e2e",
                        "-f", cls.deploy_key], check=True, capture_output=True)
        with open(cls.deploy_key) as f:
            cls.deploy_key_pem = f.read()
        with open(cls.deploy_key + ".pub") as f:
            cls.deploy_pub = f.read()

        # (a) the HTTP git server and the token endpoint that feeds it
        cls.hgit = HttpGit(os.path.join(cls.tmp, "httpgit"))
        cls.cleanups.append(cls.hgit.close)
        cls.tokens = TokenEndpoint(cls.app_pub, cls.tmp, cls.hgit.set_password)
        threading.Thread(target=cls.tokens.serve_forever, daemon=True).start()
        cls.cleanups.append(lambda: (cls.tokens.shutdown(), cls.tokens.server_close()))
        cls.api_url = "http://127.0.0.1:%d" % cls.tokens.server_address[1]
        # (b) the SSH git server
        cls.sgit = SshGit(cls.tmp, cls.deploy_pub)
        cls.cleanups.append(cls.sgit.close)

        # one work tree per repository, pushed through the file system
        cls.http_bare = os.path.join(cls.hgit.root, "repos", "private.git")
        cls.ssh_bare = os.path.join(cls.sgit.repos, "app.git")
        cls.work = {}
        for name, bare in (("http", cls.http_bare), ("ssh", cls.ssh_bare)):
            # (stock server config: the runner's fetch of a commit that is no
            # longer the branch head works through protocol v2 over both)
            td.git("init", "-q", "--bare", "-b", "main", bare)
            w = os.path.join(cls.tmp, "work-" + name)
            shutil.copytree(td.FIXTURE_APP, w)
            td.git("init", "-q", "-b", "main", w)
            td.git("remote", "add", "origin", bare, cwd=w)
            cls.work[name] = w
        cls.sgit.publish()

        # berthd and a real runner
        # the fake token endpoint is plain HTTP on loopback: berthd's outbound
        # client refuses both unless told (docs/webhooks.md)
        cls.b = Berthd(env={"BERTH_HEARTBEAT_S": "1", "BERTH_OUTBOUND_HTTP": "1",
                            "BERTH_OUTBOUND_ALLOW": "127.0.0.1/32"}).start()
        cls.cleanups.append(cls.b.close)
        cls.tok = cls.b.login()
        cls.org = "/api/v1/orgs/%s" % cls.b.org
        r = cls.api("POST", "/servers", {"name": "web-1"})
        assert r.status == 201, r
        cls.server_id = r.json["id"]
        cls.start_runner(r.json["registration_token"])
        cls.cleanups.append(cls.cleanup_runner)
        if not td.wait_for(lambda: cls.api("GET", "/servers/%d" % cls.server_id).json["status"] == "ACTIVE",
                           20):
            raise RuntimeError("runner not ACTIVE: " + cls.b.log_text()[-2000:])

        # (a): the repository, the App, an auto-deploy app following main
        r = cls.api("POST", "/repos", {"provider": "github", "url": cls.hgit.url("private.git")})
        assert r.status == 201, r
        cls.http_repo = r.json
        cls.bodies.remove(r.body)  # the one answer that shows the webhook secret
        r = cls.api("POST", "/repos/%d/github-app" % cls.http_repo["id"], {
            "app_id": APP_ID, "installation_id": INSTALLATION, "private_key": cls.app_key_pem,
            "api_url": cls.api_url})
        assert r.status == 200, r
        cls.http_public = td.free_port()
        cls.make_app("gh", cls.hgit.url("private.git"), cls.http_public)
        # (b): the same over SSH with the deploy key, hooked from "Gitea"
        r = cls.api("POST", "/repos", {"provider": "gitea", "url": cls.sgit.url("app.git")})
        assert r.status == 201, r
        cls.ssh_repo = r.json
        cls.bodies.remove(r.body)
        r = cls.api("PUT", "/repos/%d/deploy-key" % cls.ssh_repo["id"],
                    {"private_key": cls.deploy_key_pem})
        assert r.status == 200, r
        cls.ssh_public = td.free_port()
        cls.make_app("ssh", cls.sgit.url("app.git"), cls.ssh_public)
        cls.watch = ProcWatch([])  # the needles are set once the tokens exist: see secrets()
        cls.watch.start()
        cls.cleanups.append(lambda: cls.watch.stop())

    @classmethod
    def make_app(cls, name, url, public):
        r = cls.api("POST", "/apps", {
            "name": name, "server": "web-1", "repo_url": url, "branch": "main",
            "container_port": 8080, "health_path": "/health", "public_port": public,
            "drain_seconds": 2, "keep_images": 2, "health_timeout": 30, "auto_deploy": True})
        assert r.status == 201, r

    @classmethod
    def tearDownClass(cls):
        for fn in reversed(cls.cleanups):
            try:
                fn()
            except Exception as e:  # keep cleaning up
                print("cleanup: %r" % e)

    @classmethod
    def cleanup_runner(cls):
        cls.stop_runner()
        try:
            with open(os.path.join(cls.state, "edge", "haproxy.pid")) as f:
                os.kill(int(f.read().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        label = "label=berth.runner=" + cls.state
        ids = td.docker("ps", "-aq", "--filter", label).stdout.split()
        # images carry no labels: the repositories of this runner's containers' images
        repos = {i.rsplit(":", 1)[0] for i in
                 td.docker("ps", "-a", "--filter", label, "--format", "{{.Image}}").stdout.split()
                 if i.startswith("berth-")}
        if ids:
            td.docker("rm", "-f", *ids)
        imgs = [i for r in sorted(repos) for i in td.docker("images", "-q", "--filter", "reference=" + r).stdout.split()]
        if imgs:
            td.docker("rmi", "-f", *sorted(set(imgs)))

    @classmethod
    def api(cls, method, path, body=None):
        r = cls.b.request(method, cls.org + path, token=cls.tok, body=body)
        cls.bodies.append(r.body)
        return r

    @classmethod
    def start_runner(cls, token=None):
        env = dict(os.environ)
        if token:
            env["BERTH_RUNNER_TOKEN"] = token
        log = open(cls.runner_log, "ab")
        cls.runner = subprocess.Popen(
            [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % cls.b.port, "--state-dir", cls.state,
             "--min-free-disk", "0", "--edge-bind", "127.0.0.1", "--heartbeat", "1"],
            env=env, stdout=log, stderr=log)
        log.close()

    @classmethod
    def stop_runner(cls):
        if cls.runner and cls.runner.poll() is None:
            cls.runner.terminate()
            try:
                cls.runner.wait(15)
            except subprocess.TimeoutExpired:
                cls.runner.kill()
                cls.runner.wait()
        cls.runner = None

    # --- helpers ---

    def commit(self, which, version):
        w = self.work[which]
        with open(os.path.join(w, "www", "version"), "w") as f:
            f.write(version + "\n")
        with open(os.path.join(w, "Dockerfile"), "w") as f:
            f.write(td.DOCKERFILE % "")
        td.git("add", "-A", cwd=w)
        td.git("commit", "-q", "-m", version, cwd=w)
        return td.git("rev-parse", "HEAD", cwd=w)

    def push(self, which):
        if which == "ssh":
            self.sgit.publish(0, 0)
        td.git("push", "-q", "-f", "origin", "HEAD:main", cwd=self.work[which])
        if which == "ssh":
            self.sgit.publish()

    def hook(self, provider, payload, secret, delivery=None, raw=None, sig=None, event="push"):
        body = raw if raw is not None else json.dumps(payload).encode()
        delivery = delivery or str(uuid.uuid4())
        h = {"Content-Type": "application/json"}
        if provider == "github":
            h.update({"X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
                      "User-Agent": "GitHub-Hookshot/e2e",
                      "X-Hub-Signature-256": sig or "sha256=" + hmac_hex(secret, body)})
        else:
            h.update({"X-Gitea-Event": event, "X-Gitea-Delivery": delivery,
                      "X-GitHub-Event": event, "User-Agent": "Go-http-client/1.1",
                      "X-Gitea-Signature": sig or hmac_hex(secret, body)})
        # each repository's own hook URL; an unknown secret goes to the
        # provider's repository of this scenario
        by_secret = {self.http_repo["webhook_secret"]: self.http_repo["id"],
                     self.ssh_repo["webhook_secret"]: self.ssh_repo["id"]}
        to = by_secret.get(secret) or (self.http_repo if provider == "github"
                                       else self.ssh_repo)["id"]
        r = self.b.request("POST", "/hooks/%s/%d" % (provider, to), raw=body, headers=h)
        self.bodies.append(r.body)
        return r

    def github_push(self, after, before, ref="refs/heads/main"):
        url = self.hgit.url("private.git")
        return {
            "ref": ref, "before": before, "after": after, "created": False, "deleted": False,
            "forced": False, "base_ref": None, "compare": url + "/compare",
            "commits": [{"id": after, "message": "e2e", "timestamp": "2026-11-23T21:00:00Z",
                         "author": {"name": "t", "email": "t@example.com"},
                         "added": [], "removed": [], "modified": ["www/version"]}],
            "head_commit": {"id": after},
            "repository": {"id": 1, "name": "private", "full_name": "git/private",
                           "private": True, "html_url": url[:-4], "clone_url": url,
                           "default_branch": "main"},
            "pusher": {"name": "t", "email": "t@example.com"},
            "installation": {"id": INSTALLATION},
        }

    def gitea_push(self, after, before, ref="refs/heads/main"):
        return {
            "ref": ref, "before": before, "after": after, "compare_url": "",
            "commits": [{"id": after, "message": "e2e\n", "url": "",
                         "author": {"name": "t", "email": "t@example.com", "username": "t"}}],
            "repository": {"id": 7, "name": "app", "full_name": "acme/app", "private": True,
                           "html_url": "http://gitea.invalid/acme/app",
                           "clone_url": "http://gitea.invalid/acme/app.git",
                           "ssh_url": self.sgit.url("app.git"), "default_branch": "main"},
            "pusher": {"login": "t", "email": "t@example.com"},
            "sender": {"login": "t"},
        }

    def deps(self, app):
        r = self.api("GET", "/apps/%s/deployments" % app)
        self.assertEqual(r.status, 200, r)
        return r.json["items"]

    def dep(self, did):
        return self.api("GET", "/deployments/%d" % did).json

    def wait_end(self, did, timeout=180):
        d = td.wait_for(lambda: (lambda x: x if x["status"] in ENDED else None)(self.dep(did)), timeout, 0.2)
        self.assertTrue(d, "deployment %d did not end: %s" % (did, self.dep(did)))
        return d

    def logs(self, did):
        return self.api("GET", "/deployments/%d/logs" % did).body

    def public_get(self, port, path="/version"):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode().strip()
        finally:
            c.close()

    def deployed(self, r, app, after, port, version):
        """A webhook answer that scheduled one deployment: it runs to the end at
        exactly `after`, and the public port serves `version`."""
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["outcome"], "accepted", r)
        self.assertEqual(len(r.json["deployments"]), 1, r)
        did = r.json["deployments"][0]
        d = self.wait_end(did)
        self.assertEqual(d["status"], "SUCCEEDED", "%s\n%s\nrunner:\n%s" % (
            d, self.logs(did)[-3000:], self.runner_text()[-3000:]))
        self.assertEqual(d["commit"], after)
        self.assertEqual(d["resolved_commit"], after)
        self.assertIsNone(d["created_by"])
        self.assertEqual(self.public_get(port), (200, version))
        self.assertEqual(self.api("GET", "/apps/%s" % app).json["current_deployment"]["id"], did)
        return d

    def runner_text(self):
        with open(self.runner_log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    @classmethod
    def secrets(cls):
        out = [cls.http_repo["webhook_secret"], cls.ssh_repo["webhook_secret"]]
        out += cls.tokens.tokens
        # key material: each base64 line of both private keys
        for pem in (cls.app_key_pem, cls.deploy_key_pem):
            out += [l for l in pem.splitlines() if l and not l.startswith("-----")]
        return out

    def arm_watch(self):
        """The cmdline sampler looks for every secret known before the clone
        (installation tokens are minted later: checked in test_z)."""
        self.watch.needles = [s.encode() for s in self.secrets()]

    # --- the scenario, in order ---

    def test_a_github_app_private_https(self):
        self.arm_watch()
        # the git server refuses anonymous and wrong passwords
        self.assertEqual(self.hgit.status("private.git", "x-access-token", "nope"), 401)
        v1 = self.commit("http", "gh-v1")
        self.push("http")
        r = self.hook("github", self.github_push(v1, "0" * 40), self.http_repo["webhook_secret"])
        d1 = self.deployed(r, "gh", v1, self.http_public, "gh-v1")
        self.assertEqual(len(self.tokens.tokens), 1, self.tokens.calls)
        self.assertEqual(self.tokens.calls, [None])  # one exchange, with a verified JWT

        # two commits pushed at once; the hook for the first (a late delivery)
        # deploys exactly that commit, not the branch head
        v2 = self.commit("http", "gh-v2")
        v3 = self.commit("http", "gh-v3")
        self.push("http")
        r = self.hook("github", self.github_push(v2, v1), self.http_repo["webhook_secret"])
        self.deployed(r, "gh", v2, self.http_public, "gh-v2")
        # a fresh token per deployment; the first no longer opens the repository
        self.assertEqual(len(self.tokens.tokens), 2)
        self.assertNotEqual(self.tokens.tokens[0], self.tokens.tokens[1])
        self.assertEqual(self.hgit.status("private.git", "x-access-token", self.tokens.tokens[0]), 401)
        self.assertEqual(self.hgit.status("private.git", "x-access-token", self.tokens.tokens[1]), 200)
        r = self.hook("github", self.github_push(v3, v2), self.http_repo["webhook_secret"])
        self.deployed(r, "gh", v3, self.http_public, "gh-v3")
        self.assertGreater(self.watch.seen_clone, 0)
        steps = [(s["step"], s["status"]) for s in d1["steps"]]
        self.assertIn(("clone", "ok"), steps)
        ds = self.api("GET", "/repos/%d/deliveries" % self.http_repo["id"]).json["items"]
        self.assertEqual([x["outcome"] for x in ds[:3]], ["accepted"] * 3)
        self.assertEqual(ds[0]["commit"], v3)

    def test_b_refusals_schedule_nothing(self):
        secret = self.http_repo["webhook_secret"]
        before = len(self.deps("gh"))
        seen = len(self.api("GET", "/repos/%d/deliveries" % self.http_repo["id"]).json["items"])
        head = td.git("rev-parse", "HEAD", cwd=self.work["http"])
        v4 = self.commit("http", "gh-v4")
        self.push("http")
        # a push to another branch
        r = self.hook("github", self.github_push(v4, head, ref="refs/heads/dev"), secret)
        self.assertEqual((r.status, r.json["outcome"]), (202, "ignored"), r)
        # a tag
        r = self.hook("github", self.github_push(v4, head, ref="refs/tags/v4"), secret)
        self.assertEqual((r.status, r.json["outcome"]), (202, "ignored"), r)
        # a bad signature: another secret, and a tampered body
        r = self.hook("github", self.github_push(v4, head), "bwh_" + secrets.token_hex(32))
        self.assertEqual(r.status, 401, r)
        good = json.dumps(self.github_push(v4, head)).encode()
        sig = "sha256=" + hmac_hex(secret, good)
        r = self.hook("github", None, secret, raw=good + b" ", sig=sig)
        self.assertEqual(r.status, 401, r)
        r = self.hook("github", None, None, raw=good, sig="sha256=" + "0" * 64)
        self.assertEqual(r.status, 401, r)
        # the Gitea hook with the GitHub repository's secret: not its repository's
        r = self.hook("gitea", self.gitea_push(v4, head), secret)
        self.assertEqual(r.status, 401, r)
        # a delivery replayed: the first (signed, on another branch) is taken, the replay is not
        # (dev's next push: its own new commit, since dev already took v4 above)
        delivery = str(uuid.uuid4())
        r = self.hook("github", self.github_push("d" * 40, v4, ref="refs/heads/dev"), secret,
                      delivery=delivery)
        self.assertEqual(r.status, 202, r)
        r = self.hook("github", self.github_push(v4, head), secret, delivery=delivery)
        self.assertEqual((r.status, r.json["outcome"]), (200, "duplicate"), r)
        # an oversized body, correctly signed: 413 (berthd answers from the
        # headers and closes, so the answer is read off a raw socket)
        pad = self.github_push(v4, head)
        pad["padding"] = "x" * (1 << 20)
        body = json.dumps(pad).encode()
        with socket.create_connection(("127.0.0.1", self.b.port), 10) as sk:
            sk.sendall(("POST /hooks/github/%d HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        "X-GitHub-Event: push\r\nX-GitHub-Delivery: %s\r\nX-Hub-Signature-256: sha256=%s\r\n"
                        "Content-Length: %d\r\n\r\n" % (self.http_repo["id"], uuid.uuid4(), hmac_hex(secret, body),
                                                len(body))).encode())
            try:
                sk.sendall(body)
            except OSError:
                pass  # closed after the answer
            answer = sk.recv(4096).decode("utf-8", "replace")
        self.assertTrue(answer.startswith("HTTP/1.1 413 "), answer)
        time.sleep(1.5)
        self.assertEqual(len(self.deps("gh")), before)
        self.assertEqual(len(self.deps("ssh")), 0)
        self.assertEqual(self.public_get(self.http_public), (200, "gh-v3"))
        items = self.api("GET", "/repos/%d/deliveries" % self.http_repo["id"]).json["items"]
        out = [x["outcome"] for x in items[:len(items) - seen]]
        self.assertNotIn("accepted", out)
        self.assertEqual(out.count("rejected"), 3, out)
        self.assertTrue(all(not x["deployments"] for x in items[:len(items) - seen]), items)
        # a replay of an accepted delivery schedules nothing either
        delivery = str(uuid.uuid4())
        r = self.hook("github", self.github_push(v4, head), secret, delivery=delivery)
        d = self.deployed(r, "gh", v4, self.http_public, "gh-v4")
        r = self.hook("github", self.github_push(v4, head), secret, delivery=delivery)
        self.assertEqual((r.status, r.json["outcome"]), (200, "duplicate"), r)
        time.sleep(0.5)
        self.assertEqual(len(self.deps("gh")), before + 1)
        self.assertEqual(self.deps("gh")[0]["id"], d["id"])

    def test_c_deploy_key_over_ssh_from_gitea(self):
        self.arm_watch()
        kh = os.path.join(self.state, "known_hosts")
        self.assertFalse(os.path.exists(kh))
        v1 = self.commit("ssh", "ssh-v1")
        self.push("ssh")
        r = self.hook("gitea", self.gitea_push(v1, "0" * 40), self.ssh_repo["webhook_secret"])
        self.deployed(r, "ssh", v1, self.ssh_public, "ssh-v1")
        # the host key was recorded on first use, 0600, for this host:port
        # (ssh may hash the host name: look it up the way ssh does)
        found = subprocess.run(["ssh-keygen", "-F", "[127.0.0.1]:%d" % self.sgit.port, "-f", kh],
                               capture_output=True, text=True)
        self.assertEqual(found.returncode, 0, found)
        self.assertIn(self.sgit.hostkey_pub, found.stdout)
        self.assertEqual(os.stat(kh).st_mode & 0o777, 0o600)
        self.assertIn("Accepted publickey for git", self.sgit.log_text())
        # the next push, the hook for its exact commit
        v2 = self.commit("ssh", "ssh-v2")
        v3 = self.commit("ssh", "ssh-v3")
        self.push("ssh")
        r = self.hook("gitea", self.gitea_push(v2, v1), self.ssh_repo["webhook_secret"])
        self.deployed(r, "ssh", v2, self.ssh_public, "ssh-v2")
        # the key may not do anything but git: a shell is refused
        ssh = subprocess.run(["ssh", "-i", self.deploy_key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                              "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                              "-p", str(self.sgit.port), "git@127.0.0.1", "id"],
                             capture_output=True, text=True, timeout=20)
        self.assertNotEqual(ssh.returncode, 0)
        self.assertNotIn("uid=", ssh.stdout)
        # a wrong Gitea signature, a wrong branch: nothing
        n = len(self.deps("ssh"))
        r = self.hook("gitea", self.gitea_push(v3, v2), self.ssh_repo["webhook_secret"], sig="0" * 64)
        self.assertEqual(r.status, 401, r)
        r = self.hook("gitea", self.gitea_push(v3, v2, ref="refs/heads/feature"), self.ssh_repo["webhook_secret"])
        self.assertEqual(r.status, 202, r)
        time.sleep(1)
        self.assertEqual(len(self.deps("ssh")), n)
        self.assertEqual(self.public_get(self.ssh_public), (200, "ssh-v2"))

    def test_d_changed_host_key_fails_the_clone(self):
        """TOFU: once recorded, another host key at the same address is refused."""
        kh = os.path.join(self.state, "known_hosts")
        with open(kh) as f:
            saved = f.read()
        other = os.path.join(self.tmp, "other_host_key")
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other], check=True,
                       capture_output=True)
        with open(other + ".pub") as f:
            pub = f.read().split()
        try:
            with open(kh, "w") as f:
                f.write("[127.0.0.1]:%d %s %s\n" % (self.sgit.port, pub[0], pub[1]))
            head = td.git("rev-parse", "HEAD", cwd=self.work["ssh"])
            r = self.hook("gitea", self.gitea_push(head, "0" * 40), self.ssh_repo["webhook_secret"])
            self.assertEqual(r.status, 200, r)
            d = self.wait_end(r.json["deployments"][0])
            self.assertEqual(d["status"], "FAILED", d)
            self.assertEqual(d["failed_step"], "clone")
            self.assertIn("Host key verification failed", self.logs(d["id"]))
            self.assertEqual(self.public_get(self.ssh_public), (200, "ssh-v2"))
        finally:
            with open(kh, "w") as f:
                f.write(saved)

    def test_z_no_secret_anywhere(self):
        watch = self.watch.stop()
        needles = self.secrets()
        self.assertGreaterEqual(len(self.tokens.tokens), 4)
        self.assertEqual(watch.hits, [])
        self.assertGreater(watch.seen_clone, 0)
        # installation tokens were minted during the clones: sample once more
        # now, and look in every other place for all of them
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        cmd = f.read()
                except OSError:
                    continue
                for n in needles:
                    self.assertNotIn(n.encode(), cmd, pid)
        logs = [self.b.log_text(), self.runner_text()]
        for did in [d["id"] for d in self.deps("gh") + self.deps("ssh")]:
            logs.append(self.logs(did))
        for n in needles:
            for text in logs:
                self.assertNotIn(n, text)
            for body in self.bodies:
                self.assertNotIn(n, body)
        # the runner's files after the jobs: no key file, nothing secret
        leftovers = []
        for base, _, files in os.walk(self.state):
            for name in files:
                p = os.path.join(base, name)
                if name.endswith(".key"):
                    leftovers.append(p)
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        data = f.read()
                    for n in needles:
                        self.assertNotIn(n.encode(), data, p)
        self.assertEqual(leftovers, [])
        # berthd's data: sealed
        for base, _, files in os.walk(self.b.data):
            for name in files:
                with open(os.path.join(base, name), "rb") as f:
                    data = f.read()
                for n in needles:
                    self.assertNotIn(n.encode(), data, name)


if __name__ == "__main__":
    unittest.main()
