"""The deploy pipeline end to end: a real berthd, the real berth-runner
(deploy jobs: src/runner/deploy.c), a real git server (git-http-backend
behind lighttpd), the real Docker engine and HAProxy as the edge.

One berthd + runner + git server for the whole class; the tests run in
order and build on each other (the app's current deployment carries over).
The fixture app is busybox httpd (FROM berth-fixture-base, made by
scripts/test-fixtures.sh) serving /health and /version; each test commits
the version it deploys to the repository on the git server.

Needs root, Docker, HAProxy, lighttpd (scripts/test-fixtures.sh, run by
setUpClass). Run with Debian's /usr/bin/python3.
"""
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Berthd, BERTHD, docker_ok, free_port, git, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUNNER = os.environ.get("BERTH_RUNNER", os.path.join(os.path.dirname(BERTHD), "berth-runner"))
FIXTURE_APP = os.path.join(ROOT, "tests", "fixtures", "app")
SECRET = "env-secret-" + secrets.token_hex(12)
ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")

# busybox httpd as PID 1 ignores SIGTERM; the trap makes the old
# container's stop quick (the runner's stop timeout is 10 s otherwise)
DOCKERFILE = """FROM berth-fixture-base
COPY www/ /www/
RUN ["/bin/chmod", "755", "/www/cgi-bin/slow"]
%s
EXPOSE 8080
CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & wait"]
"""


def docker(*args):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True)


class GitServer:
    """git-http-backend (smart HTTP) behind lighttpd, anonymous read."""

    def __init__(self, root):
        self.root = root
        self.port = free_port()
        os.makedirs(os.path.join(root, "repos"))
        os.makedirs(os.path.join(root, "www"))
        conf = os.path.join(root, "lighttpd.conf")
        with open(conf, "w") as f:
            f.write("""
server.modules = ("mod_alias", "mod_setenv", "mod_cgi")
server.document-root = "{root}/www"
server.bind = "127.0.0.1"
server.port = {port}
server.errorlog = "{root}/error.log"
alias.url = ("/git" => "/usr/lib/git-core/git-http-backend")
$HTTP["url"] =~ "^/git" {{
    cgi.assign = ("" => "")
    setenv.add-environment = ("GIT_PROJECT_ROOT" => "{root}/repos", "GIT_HTTP_EXPORT_ALL" => "1")
}}
""".format(root=root, port=self.port))
        self.proc = subprocess.Popen(["lighttpd", "-D", "-f", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        if not wait_for(self._up, 10):
            raise RuntimeError("lighttpd did not start")

    def _up(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), 0.5).close()
            return True
        except OSError:
            return False

    def url(self, name):
        return "http://127.0.0.1:%d/git/%s" % (self.port, name)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)


class Load:
    """Clients hammering the public port, none of which retries: keep-alive
    clients (one connection, many requests) and new-connection-per-request
    clients. Every error or non-200 answer counts as a failure. host: the
    Host header to send (an app served by name), else Python's default."""

    def __init__(self, port, keepalive=8, fresh=4, path="/version", host=None):
        self.port, self.path = port, path
        self.headers = {"Host": host} if host else {}
        self.ok = self.failed = 0
        self.errors = []
        self.versions = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = ([threading.Thread(target=self._run, args=(True,), daemon=True) for _ in range(keepalive)] +
                        [threading.Thread(target=self._run, args=(False,), daemon=True) for _ in range(fresh)])

    def connect(self):
        """A new connection (test_https_edge.py's subclass: HTTPS with SNI)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _count(self, good, body, err):
        with self.lock:
            if good:
                self.ok += 1
                if not self.versions or self.versions[-1] != body:
                    self.versions.append(body)
            else:
                self.failed += 1
                self.errors.append(err)

    def _run(self, keepalive):
        conn = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = self.connect()
                conn.request("GET", self.path, headers=self.headers)
                r = conn.getresponse()
                body = r.read().decode().strip()
                self._count(r.status == 200 and body.startswith("v"), body, "HTTP %d %r" % (r.status, body[:60]))
                if not keepalive or r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                self._count(False, None, repr(e))
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.05)
            time.sleep(0.005)
        if conn:
            conn.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)
        return self


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
@unittest.skipUnless(shutil.which("docker") and docker_ok(), "no Docker engine")
class Deploy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(ROOT, "scripts", "test-fixtures.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.tmp = tempfile.mkdtemp(prefix="berth-dep-")
        os.chmod(cls.tmp, 0o700)
        cls.state = os.path.join(cls.tmp, "state")
        cls.runner_log = os.path.join(cls.tmp, "runner.log")
        cls.git = GitServer(os.path.join(cls.tmp, "git"))
        cls.work = os.path.join(cls.tmp, "work")
        shutil.copytree(FIXTURE_APP, cls.work)
        git("init", "-q", "-b", "main", cls.work)
        cls.bare = os.path.join(cls.git.root, "repos", "app.git")
        git("init", "-q", "--bare", "-b", "main", cls.bare)
        git("remote", "add", "origin", cls.bare, cwd=cls.work)
        cls.public = free_port()
        cls.bodies = []
        cls.runner = None
        cls.b = Berthd(env={"BERTH_HEARTBEAT_S": "1"}).start()
        cls.tok = cls.b.login()
        cls.org = "/api/v1/orgs/%s" % cls.b.org
        r = cls.api("POST", "/servers", {"name": "web-1"})
        assert r.status == 201, r
        cls.server_id = r.json["id"]
        cls.start_runner(r.json["registration_token"])
        if not wait_for(lambda: cls.api("GET", "/servers/%d" % cls.server_id).json["status"] == "ACTIVE", 20):
            raise RuntimeError("runner not ACTIVE: " + cls.b.log_text()[-2000:])
        r = cls.api("POST", "/apps", {
            "name": "web", "server": "web-1", "repo_url": cls.git.url("app.git"), "container_port": 8080,
            "health_path": "/health", "public_port": cls.public, "drain_seconds": 5, "keep_images": 3,
            "health_timeout": 30, "memory": 128 << 20, "cpus": 0.5})
        assert r.status == 201, r
        cls.app_id = r.json["id"]
        r = cls.api("PUT", "/apps/web/env/APP_SECRET", {"value": SECRET})
        assert r.status == 200, r
        cls.n = 0
        cls.repo = None  # the app's image repository, from the first deployment

    @classmethod
    def tearDownClass(cls):
        cls.stop_runner()
        pidfile = os.path.join(cls.state, "edge", "haproxy.pid")
        try:
            with open(pidfile) as f:
                os.kill(int(f.read().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        label = "label=berth.runner=" + cls.state
        ids = docker("ps", "-aq", "--filter", label).stdout.split()
        if ids:
            docker("rm", "-f", *ids)
        imgs = docker("images", "-q", "--filter", "reference=" + cls.repo).stdout.split() if cls.repo else []
        if imgs:
            docker("rmi", "-f", *sorted(set(imgs)))
        cls.git.close()
        cls.b.close()
        if not os.environ.get("BERTH_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)

    # --- helpers ---

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
    def stop_runner(cls, sig=signal.SIGTERM):
        if cls.runner and cls.runner.poll() is None:
            cls.runner.send_signal(sig)
            try:
                cls.runner.wait(15)
            except subprocess.TimeoutExpired:
                cls.runner.kill()
                cls.runner.wait()
        cls.runner = None

    def commit(self, version, dockerfile_extra="", health=True):
        """Commits www/version = version (and the Dockerfile) and pushes it."""
        with open(os.path.join(self.work, "www", "version"), "w") as f:
            f.write(version + "\n")
        with open(os.path.join(self.work, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE % dockerfile_extra)
        hp = os.path.join(self.work, "www", "health")
        if health and not os.path.exists(hp):
            with open(hp, "w") as f:
                f.write("ok\n")
        elif not health and os.path.exists(hp):
            os.unlink(hp)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", version, cwd=self.work)
        git("push", "-q", "-f", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def dep(self, did):
        r = self.api("GET", "/deployments/%d" % did)
        self.assertEqual(r.status, 200, r)
        return r.json

    def start_deploy(self, commit=None):
        r = self.api("POST", "/apps/web/deployments", {"commit": commit} if commit else {})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def wait_end(self, did, timeout=120):
        """Waits for the end, and for a SUCCEEDED one (reported as soon as
        it serves) until its cleanup ended too."""
        def ended(x):
            if x["status"] not in ENDED:
                return None
            if x["status"] == "SUCCEEDED" and x["steps"] and x["steps"][-1]["status"] == "started":
                return None
            return x
        d = wait_for(lambda: ended(self.dep(did)), timeout, 0.2)
        self.assertTrue(d, "deployment %d did not end: %s\n%s" % (did, self.dep(did), self.logs(did)[-3000:]))
        return d

    def deploy(self, version, want="SUCCEEDED", **kw):
        sha = self.commit(version, **kw)
        did = self.start_deploy(sha)
        d = self.wait_end(did)
        self.assertEqual(d["status"], want, "%s\n%s" % (d, self.logs(did)[-3000:]))
        return d, sha

    def logs(self, did):
        r = self.api("GET", "/deployments/%d/logs" % did)
        return r.body

    def steps(self, d):
        return [(s["step"], s["status"]) for s in d["steps"]]

    def images(self):
        """Ids of the app's images (one per tag: an image can carry several)."""
        return docker("images", "-q", "--filter", "reference=" + self.repo).stdout.split()

    def public_get(self, path="/version"):
        c = http.client.HTTPConnection("127.0.0.1", self.public, timeout=5)
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read().decode().strip()
        finally:
            c.close()

    def app_containers(self):
        out = docker("ps", "-a", "--filter", "label=berth.runner=" + self.state, "--format",
                     '{{.Names}} {{.Label "berth.deployment"}} {{.Label "berth.color"}} {{.State}}').stdout
        return sorted(l.split() for l in out.splitlines() if l.strip())

    def current(self):
        return self.api("GET", "/apps/web").json["current_deployment"]

    def wait_step(self, did, step, timeout=60):
        return wait_for(lambda: any(s["step"] == step for s in self.dep(did)["steps"]), timeout, 0.1)

    # --- the scenario, in order ---

    def test_01_first_deploy(self):
        t0 = time.time()
        d, sha = self.deploy("v1")
        print("\n  first deploy: %.1f s" % (time.time() - t0), end="")
        self.assertEqual(d["resolved_commit"], sha)
        # berth-INSTALL-APP:DEPLOYMENT (INSTALL: this berthd's, from its master key)
        self.assertRegex(d["image"], r"^berth-[0-9a-f]{8}-%d:%d$" % (self.app_id, d["id"]))
        type(self).repo = d["image"].rsplit(":", 1)[0]
        self.assertEqual(self.steps(d), [(s, "ok") for s in
                                         ("precheck", "clone", "build", "start", "health", "swap", "cleanup")])
        self.assertIsNone(d["rolled_back_to"])
        self.assertEqual(self.public_get(), (200, "v1"))
        self.assertEqual(self.current()["id"], d["id"])
        self.assertEqual(self.app_containers(), [["%s-%d" % (self.repo, d["id"]), str(d["id"]),
                                                  "blue", "running"]])
        # labels and limits on the container and the image
        ins = json.loads(docker("inspect", "%s-%d" % (self.repo, d["id"])).stdout)[0]
        self.assertEqual(ins["Config"]["Labels"]["berth.app"], str(self.app_id))
        self.assertEqual(ins["HostConfig"]["Memory"], 128 << 20)
        self.assertEqual(ins["HostConfig"]["NanoCpus"], 500000000)
        self.assertEqual(ins["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"], "127.0.0.1")
        self.assertEqual(ins["Config"]["Labels"]["berth.deployment"], str(d["id"]))
        # the image: its deployment by tag, no per-deployment label (that
        # label would be an uncached build step on every deploy)
        # the image: found by its name, no berth labels (each --label is a
        # build step that reruns whenever a layer before it changed)
        img = json.loads(docker("image", "inspect", d["image"]).stdout)[0]
        self.assertIn(d["image"], img["RepoTags"])
        self.assertFalse([k for k in (img["Config"]["Labels"] or {}) if k.startswith("berth.")
                          and not k.startswith("berth.fixture")])
        # the env var is inside the container, in the engine only
        env = docker("exec", ins["Id"], "env").stdout.splitlines()
        self.assertIn("APP_SECRET=" + SECRET, env)
        self.assertNotIn(SECRET, json.dumps([ins["Path"], ins["Args"]]))
        # through berth: the containers API names the app and the deployment
        # serving, shows env names only; exec reaches the app's container
        name = "%s-%d" % (self.repo, d["id"])
        r = self.api("GET", "/servers/%d/containers" % self.server_id)
        self.assertEqual(r.status, 200, r)
        mine = [c for c in r.json["items"] if c["names"] == [name]]
        self.assertEqual(len(mine), 1, r.json)
        self.assertEqual((mine[0]["app"]["id"], mine[0]["app"]["serving"], mine[0]["deployment"]),
                         (self.app_id, True, d["id"]))
        r = self.api("GET", "/servers/%d/containers/%s" % (self.server_id, name))
        self.assertIn("APP_SECRET=<redacted>", r.json["Config"]["Env"])
        self.assertNotIn(SECRET, r.body)
        r = self.api("POST", "/servers/%d/exec" % self.server_id,
                     {"command": ["cat", "/www/version"], "app": "web"})
        self.assertEqual((r.status, r.json.get("exit_code")), (200, 0), r)
        type(self).first = d

    def test_02_three_deploys_under_load(self):
        load = Load(self.public).start()
        time.sleep(1)
        report = []
        colors = []
        for v in ("v2", "v3", "v4"):
            t0 = time.time()
            d, _ = self.deploy(v)
            report.append((v, time.time() - t0, d["steps"]))
            names = self.app_containers()
            self.assertEqual(len(names), 1, names)  # the old one is gone
            colors.append(names[0][2])
            time.sleep(0.5)
        time.sleep(0.5)
        load.finish()
        for v, secs, steps in report:
            swap = [s for s in steps if s["step"] == "swap"][0]
            print("\n  deploy %s: %.1f s (swap: %s)" % (v, secs, swap["detail"]), end="")
        print("\n  load: %d ok, %d failed; versions seen: %s" % (load.ok, load.failed, " ".join(load.versions)),
              end="")
        self.assertEqual(load.failed, 0, load.errors[:10])
        self.assertGreater(load.ok, 100)
        self.assertEqual(load.versions[-1], "v4")
        self.assertEqual(colors, ["green", "blue", "green"])
        self.assertEqual(self.public_get(), (200, "v4"))
        # images beyond keep_images (3) are pruned
        imgs = self.images()
        self.assertEqual(len(set(imgs)), 3)

    def test_03_failing_health_rolls_back(self):
        cur = self.current()["id"]
        self.api("PATCH", "/apps/web", {"health_timeout": 6})
        try:
            d, _ = self.deploy("v-bad-health", want="FAILED", health=False)
        finally:
            self.api("PATCH", "/apps/web", {"health_timeout": 30})
        self.assertEqual(d["failed_step"], "health")
        self.assertEqual(d["rolled_back_to"], cur)
        self.assertIn("rolled back to deployment %d" % cur, d["summary"])
        self.assertIn(("rollback", "ok"), self.steps(d))
        self.assertEqual(self.public_get(), (200, "v4"))
        self.assertEqual(self.current()["id"], cur)
        self.assertEqual([c[1] for c in self.app_containers()], [str(cur)])

    def test_04_build_failure(self):
        cur = self.current()["id"]
        d, _ = self.deploy("v-bad-build", want="FAILED", dockerfile_extra='RUN ["/bin/false"]')
        self.assertEqual(d["failed_step"], "build")
        self.assertEqual(d["rolled_back_to"], cur)
        self.assertIn("docker build failed", d["reason"])
        self.assertIn("/bin/false", self.logs(d["id"]))  # the build's own output is in the log
        self.assertEqual(self.public_get(), (200, "v4"))
        self.assertEqual([c[1] for c in self.app_containers()], [str(cur)])

    def test_05_build_timeout(self):
        cur = self.current()["id"]
        self.api("PATCH", "/apps/web", {"build_timeout": 2})
        try:
            t0 = time.time()
            d, _ = self.deploy("v-slow-build", want="FAILED", dockerfile_extra='RUN ["/bin/sleep", "30"]')
            took = time.time() - t0
        finally:
            self.api("PATCH", "/apps/web", {"build_timeout": 1800})
        self.assertEqual(d["failed_step"], "build")
        self.assertIn("timed out after 2 s", d["reason"])
        self.assertEqual(d["rolled_back_to"], cur)
        self.assertLess(took, 25)
        self.assertEqual(self.public_get(), (200, "v4"))

    def test_06_cancel(self):
        cur = self.current()["id"]
        sha = self.commit("v-cancel", dockerfile_extra='RUN ["/bin/sleep", "30"]')
        did = self.start_deploy(sha)
        self.assertTrue(self.wait_step(did, "build"), self.dep(did))
        time.sleep(0.5)
        r = self.api("POST", "/deployments/%d/cancel" % did)
        self.assertEqual(r.status, 202, r)
        d = self.wait_end(did, 30)
        self.assertEqual(d["status"], "CANCELLED", d)
        self.assertEqual(d["failed_step"], "build")
        self.assertIn("cancelled", d["reason"])
        self.assertEqual(self.public_get(), (200, "v4"))
        self.assertEqual([c[1] for c in self.app_containers()], [str(cur)])

    def test_07_two_deploys_queue(self):
        a = self.start_deploy(self.commit("v5"))
        b = self.start_deploy(self.commit("v6"))
        self.assertIsNone(self.dep(b)["job_id"])  # queued behind a
        da, db = self.wait_end(a), self.wait_end(b)
        self.assertEqual((da["status"], db["status"]), ("SUCCEEDED", "SUCCEEDED"), (da, db))
        self.assertGreaterEqual(db["started_at"], da["finished_at"])
        self.assertEqual(self.public_get(), (200, "v6"))
        self.assertEqual(self.current()["id"], b)

    def test_07b_next_deploy_waits_for_the_cleanup(self):
        # x ignores its stop signal (PID 1 has no handler for SIGUSR1), so
        # removing it takes the 10 s stop timeout: y's cleanup is slow and z,
        # dispatched the moment y serves, builds meanwhile and then waits
        x, _ = self.deploy("v6b", dockerfile_extra="STOPSIGNAL SIGUSR1")
        load = Load(self.public, keepalive=2, fresh=1).start()
        try:
            y = self.start_deploy(self.commit("v6c"))
            z = self.start_deploy(self.commit("v6d"))
            dy, dz = self.wait_end(y), self.wait_end(z)
        finally:
            load.finish()
        self.assertEqual((dy["status"], dz["status"]), ("SUCCEEDED", "SUCCEEDED"), (dy, dz))
        cleanup_y = [s for s in dy["steps"] if s["step"] == "cleanup"][0]
        start_z = [s for s in dz["steps"] if s["step"] == "start"][0]
        self.assertGreaterEqual(cleanup_y["duration_ms"], 9000, cleanup_y)
        self.assertLess(dz["started_at"], cleanup_y["finished_at"])  # z ran during y's cleanup ...
        self.assertGreaterEqual(start_z["finished_at"], cleanup_y["finished_at"])  # ... its container after
        self.assertIn("waiting for deployment %d to finish its cleanup" % y, self.logs(z))
        self.assertEqual(self.public_get(), (200, "v6d"))
        self.assertEqual([c[1] for c in self.app_containers()], [str(z)])
        self.assertEqual(load.failed, 0, load.errors[:10])

    def test_08_rollback_reuses_the_image(self):
        before = self.current()
        builds = self.images()
        r = self.api("POST", "/apps/web/rollback")
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json["kind"], "rollback")
        d = self.wait_end(r.json["id"])
        self.assertEqual(d["status"], "SUCCEEDED", (d, self.logs(d["id"])[-2000:]))
        steps = [s for s, _ in self.steps(d)]
        self.assertNotIn("clone", steps)
        self.assertNotIn("build", steps)
        self.assertEqual(self.public_get(), (200, "v6c"))  # the deployment before v6d
        self.assertNotEqual(d["image"], before["image"])
        after = self.images()
        self.assertLessEqual(set(after), set(builds))  # no image was built

    def test_08b_no_change_redeploy_shares_the_image(self):
        a, sha = self.deploy("v7")
        did = self.start_deploy(sha)  # the same commit again: every build step cached
        b = self.wait_end(did)
        self.assertEqual(b["status"], "SUCCEEDED", (b, self.logs(did)[-2000:]))
        self.assertNotEqual(a["image"], b["image"])  # a tag per deployment ...
        ids = [json.loads(docker("image", "inspect", d["image"]).stdout)[0]["Id"] for d in (a, b)]
        self.assertEqual(ids[0], ids[1])  # ... on one image
        log = self.logs(did)
        self.assertIn("Using cache", log)
        self.assertEqual(self.public_get(), (200, "v7"))
        # pruning counts images, not tags, and never takes the serving one
        imgs = self.images()
        self.assertLessEqual(len(set(imgs)), 3)
        self.assertIn(ids[1][len("sha256:"):][:12], imgs)
        # a rollback skips a (another tag on the same content) and goes to
        # the newest deployment that ran something else: test_08's
        # rollback, which runs v6c's image
        r = self.api("POST", "/apps/web/rollback")
        self.assertEqual(r.status, 201, r)
        d = self.wait_end(r.json["id"])
        self.assertEqual(d["status"], "SUCCEEDED", (d, self.logs(d["id"])[-2000:]))
        self.assertEqual(self.public_get(), (200, "v6c"))
        self.assertNotIn(d["image"], (a["image"], b["image"]))

    def test_08c_edge_comes_back_after_haproxy_dies(self):
        served = self.public_get()
        pidfile = os.path.join(self.state, "edge", "haproxy.pid")
        with open(pidfile) as f:
            old = int(f.read().strip())
        os.kill(old, signal.SIGKILL)  # the master; its workers follow it

        def back():
            try:
                with open(pidfile) as f:
                    pid = int(f.read().strip())
                return pid != old and self.public_get() == served
            except (OSError, ValueError):
                return False
        def logged():
            with open(self.runner_log, "rb") as f:
                return b"HAProxy restarted" in f.read()
        t0 = time.time()
        self.assertTrue(wait_for(back, 20, 0.1), "the edge did not come back")
        print("\n  edge back %.1f s after its HAProxy was killed" % (time.time() - t0), end="")
        # the runner says so once HAProxy answers on its master socket (it
        # may serve a moment before)
        self.assertTrue(wait_for(logged, 10, 0.1), "no 'HAProxy restarted' in the runner's log")

    def test_09_runner_killed_mid_deploy(self):
        cur = self.current()["id"]
        served = self.public_get()[1]
        load = Load(self.public, keepalive=4, fresh=2).start()
        sha = self.commit("v-killed", dockerfile_extra='RUN ["/bin/sleep", "6"]')
        did = self.start_deploy(sha)
        self.assertTrue(self.wait_step(did, "build"), self.dep(did))
        time.sleep(0.5)
        self.stop_runner(signal.SIGKILL)
        time.sleep(1)
        self.start_runner()
        d = self.wait_end(did, 60)
        time.sleep(1)
        load.finish()
        self.assertEqual(d["status"], "FAILED", d)
        self.assertIn("interrupted", d["reason"])
        self.assertEqual(d["rolled_back_to"], cur)
        self.assertEqual(self.public_get(), (200, served))
        self.assertEqual([c[1] for c in self.app_containers()], [str(cur)])
        print("\n  runner killed mid-build: %d ok, %d failed on the public port" % (load.ok, load.failed), end="")
        self.assertEqual(load.failed, 0, load.errors[:10])
        # no leftover build: the next deploy works, through the edge the new runner adopted
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/%d" % self.server_id).json["status"] == "ACTIVE",
                                 20))
        d, _ = self.deploy("v7")
        self.assertEqual(self.public_get(), (200, "v7"))

    def test_10_berthd_killed_mid_deploy(self):
        sha = self.commit("v8", dockerfile_extra='RUN ["/bin/sleep", "3"]')
        did = self.start_deploy(sha)
        self.assertTrue(self.wait_step(did, "build"), self.dep(did))
        self.b.proc.kill()
        self.b.proc.wait()
        self.b.proc = None
        self.b.log.close()
        # the deploy finishes meanwhile: the new version serves
        self.assertTrue(wait_for(lambda: self.public_get() == (200, "v8"), 60))
        time.sleep(1)
        self.b.start()
        d = self.wait_end(did, 60)
        self.assertEqual(d["status"], "SUCCEEDED", d)
        self.assertEqual(self.steps(d), [(s, "ok") for s in
                                         ("precheck", "clone", "build", "start", "health", "swap", "cleanup")])
        text = self.logs(did)
        self.assertIn("Successfully tagged", text)  # the whole log arrived
        self.assertEqual(self.current()["id"], did)

    def test_11_no_secret_anywhere(self):
        for body in self.bodies:
            self.assertNotIn(SECRET, body)
        self.assertNotIn(SECRET, self.b.log_text())
        with open(self.runner_log, "rb") as f:
            self.assertNotIn(SECRET.encode(), f.read())
        for base, _, files in os.walk(self.state):
            for name in files:
                p = os.path.join(base, name)
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        self.assertNotIn(SECRET.encode(), f.read(), p)
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        self.assertNotIn(SECRET.encode(), f.read(), pid)
                except OSError:
                    pass
        # still in the running container (through the engine only)
        cur = self.current()["id"]
        env = docker("exec", "%s-%d" % (self.repo, cur), "env").stdout.splitlines()
        self.assertIn("APP_SECRET=" + SECRET, env)


if __name__ == "__main__":
    unittest.main()
