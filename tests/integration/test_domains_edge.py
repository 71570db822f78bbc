"""Apps served by name on the edge's shared HTTP port, on the real engine:
a real berthd, the real berth-runner (--edge-http-port on a free high
port: 80 may be taken), a real git server, Docker and HAProxy
(docs/deploy.md, "Domains").

In order: two apps on one server, one reached by name only and one by
name, by wildcard and on its own public port, each answering its own
version; an unknown name gets the edge's 404, never another app; a
redeploy of one under keep-alive load through the shared port fails 0
requests; a name moved from one app to the other, an exact name beside a
wildcard (exact wins) and a removed name switch routing with no reload
(the HAProxy master's reload count and pid unchanged).

Needs root, Docker, HAProxy, lighttpd (scripts/test-fixtures.sh). Run
with Debian's /usr/bin/python3.
"""
import http.client
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import Berthd, docker_ok, free_port, git, wait_for
from test_deploy import DOCKERFILE, FIXTURE_APP, ROOT, RUNNER, GitServer, Load, docker

ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")


def get(port, host, path="/version"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", path, headers={"Host": host})
        r = c.getresponse()
        return r.status, r.read().decode().strip()
    finally:
        c.close()


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
@unittest.skipUnless(shutil.which("docker") and docker_ok(), "no Docker engine")
class DomainsEdge(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(ROOT, "scripts", "test-fixtures.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.tmp = tempfile.mkdtemp(prefix="berth-dom-")
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
        cls.public = free_port()
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
        common = {"server": "web-1", "repo_url": cls.git.url("app.git"), "container_port": 8080,
                  "health_path": "/health", "drain_seconds": 5, "keep_images": 2, "health_timeout": 30}
        r = cls.api("POST", "/apps", dict(common, name="one", domains=["one.example.test"]))
        assert r.status == 201, r
        cls.one_id = r.json["id"]
        r = cls.api("POST", "/apps", dict(common, name="two", public_port=cls.public,
                                          domains=["two.example.test", "*.two.example.test"]))
        assert r.status == 201, r
        cls.two_id = r.json["id"]

    @classmethod
    def start_runner(cls, token=None):
        env = dict(os.environ)
        if token:
            env["BERTH_RUNNER_TOKEN"] = token
        log = open(os.path.join(cls.tmp, "runner.log"), "ab")
        cls.runner = subprocess.Popen(
            [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % cls.b.port, "--state-dir", cls.state,
             "--min-free-disk", "0", "--edge-bind", "127.0.0.1", "--edge-http-port", str(cls.http),
             "--edge-https-port", "0",
             "--heartbeat", "1"], env=env, stdout=log, stderr=log)
        log.close()

    @classmethod
    def stop_runner(cls):
        if cls.runner and cls.runner.poll() is None:
            cls.runner.send_signal(signal.SIGTERM)
            try:
                cls.runner.wait(15)
            except subprocess.TimeoutExpired:
                cls.runner.kill()
                cls.runner.wait()
        cls.runner = None

    @classmethod
    def tearDownClass(cls):
        cls.stop_runner()
        with open(os.path.join(cls.tmp, "runner.log"), errors="replace") as f:
            runner_log = f.read()
        try:
            with open(os.path.join(cls.edge_dir, "haproxy.pid")) as f:
                os.kill(int(f.read().split()[0]), signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            pass
        ids = docker("ps", "-aq", "--filter", "label=berth.runner=" + cls.state).stdout.split()
        if ids:
            docker("rm", "-f", *ids)
        for app_id in (cls.one_id, cls.two_id, getattr(cls, "three_id", 0)):
            imgs = docker("images", "-q", "--filter", "reference=berth-*-%d" % app_id).stdout.split()
            if imgs:
                docker("rmi", "-f", *sorted(set(imgs)))
        cls.git.close()
        cls.b.close()  # fails on a sanitizer report in berthd's log
        if not os.environ.get("BERTH_KEEP_TMP"):
            shutil.rmtree(cls.tmp, ignore_errors=True)
        # an ASan/UBSan build (make test-asan): the runner's reports, both runs
        for mark in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            at = runner_log.find(mark)
            if at >= 0:
                raise AssertionError("runner sanitizer report:\n" + runner_log[max(0, at - 200):at + 3000])

    @classmethod
    def api(cls, method, path, body=None):
        return cls.b.request(method, cls.org + path, token=cls.tok, body=body)

    def commit(self, version):
        with open(os.path.join(self.work, "www", "version"), "w") as f:
            f.write(version + "\n")
        with open(os.path.join(self.work, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE % "")
        with open(os.path.join(self.work, "www", "health"), "w") as f:
            f.write("ok\n")
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", version, cwd=self.work)
        git("push", "-q", "-f", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def deploy(self, app, version):
        sha = self.commit(version)
        r = self.api("POST", "/apps/%s/deployments" % app, {"commit": sha})
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]

        def ended():
            x = self.api("GET", "/deployments/%d" % did).json
            if x["status"] not in ENDED or (x["status"] == "SUCCEEDED" and x["steps"][-1]["status"] == "started"):
                return None
            return x
        d = wait_for(ended, 120, 0.2)
        logs = self.api("GET", "/deployments/%d/logs" % did).body
        self.assertTrue(d, "deployment %d did not end\n%s" % (did, logs[-3000:]))
        self.assertEqual(d["status"], "SUCCEEDED", "%s\n%s" % (d, logs[-3000:]))
        return d

    def master(self):
        """(master pid, reload count) from the master socket's `show proc`."""
        s = socket.socket(socket.AF_UNIX)
        s.connect(os.path.join(self.edge_dir, "master.sock"))
        s.sendall(b"show proc;quit\n")
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            out += chunk
        s.close()
        for line in out.decode().splitlines():
            f = line.split()
            if len(f) >= 3 and f[1] == "master":
                return int(f[0]), int(f[2])
        self.fail("no master line in %r" % out)

    def wait_route(self, host, want, timeout=15):
        got = wait_for(lambda: get(self.http, host) == want or None, timeout, 0.1)
        self.assertTrue(got, "Host %s: want %r, got %r" % (host, want, get(self.http, host)))

    # --- in order ---

    def test_1_two_apps_by_name(self):
        self.deploy("one", "v-one-1")
        self.deploy("two", "v-two-1")
        self.assertEqual(get(self.http, "one.example.test"), (200, "v-one-1"))
        self.assertEqual(get(self.http, "ONE.Example.Test:%d" % self.http), (200, "v-one-1"))
        self.assertEqual(get(self.http, "two.example.test"), (200, "v-two-1"))
        self.assertEqual(get(self.http, "a.b.two.example.test"), (200, "v-two-1"))  # wildcard
        # its own public port answers whatever the Host (the port's only app)
        self.assertEqual(get(self.public, "whatever"), (200, "v-two-1"))
        self.assertEqual(get(self.public, "two.example.test"), (200, "v-two-1"))
        # unknown names: the edge's 404, never another app
        for host in ("nobody.example.test", "example.test", "xtwo.example.test", "127.0.0.1"):
            status, body = get(self.http, host)
            self.assertEqual(status, 404, (host, body))
            self.assertIn("no app is served under this host name", body)
        with open(os.path.join(self.edge_dir, "haproxy.cfg")) as f:
            cfg = f.read()
        self.assertIn("frontend http\n    bind 127.0.0.1:%d" % self.http, cfg)
        with open(os.path.join(self.edge_dir, "http-wild.map")) as f:
            self.assertEqual(f.read(), ".two.example.test app_a%d\n" % self.two_id)

    def test_2_redeploy_under_load_by_name(self):
        pid, reloads = self.master()
        load = Load(self.http, keepalive=8, fresh=0, host="one.example.test").start()
        time.sleep(1)
        self.deploy("one", "v-one-2")
        time.sleep(1)
        load.finish()
        print("\n  redeploy of one under keep-alive load on the shared port: %d ok, %d failed; "
              "versions %s" % (load.ok, load.failed, " ".join(load.versions)), end="")
        self.assertEqual(load.failed, 0, load.errors[:10])
        self.assertGreater(load.ok, 50)
        self.assertEqual(load.versions[-1], "v-one-2")
        self.assertEqual(get(self.http, "two.example.test"), (200, "v-two-1"))
        self.assertEqual(self.master(), (pid, reloads))  # a deploy never reloads

    def test_3_names_move_without_reload(self):
        before = self.master()
        # moved: one.example.test from app one to app two
        self.assertEqual(self.api("DELETE", "/apps/one/domains/one.example.test").status, 204)
        self.wait_route("one.example.test", (404, "no app is served under this host name on this server"))
        self.assertEqual(self.api("POST", "/apps/two/domains", {"name": "one.example.test"}).status, 201)
        self.wait_route("one.example.test", (200, "v-two-1"))
        # an exact name beats the wildcard that also matches it
        self.assertEqual(self.api("POST", "/apps/one/domains", {"name": "x.two.example.test"}).status, 201)
        self.wait_route("x.two.example.test", (200, "v-one-2"))
        self.assertEqual(get(self.http, "y.two.example.test"), (200, "v-two-1"))
        # through PATCH too: app two drops its wildcard
        r = self.api("PATCH", "/apps/two", {"domains": ["two.example.test", "one.example.test"]})
        self.assertEqual(r.status, 200, r)
        self.wait_route("y.two.example.test", (404, "no app is served under this host name on this server"))
        self.assertEqual(get(self.http, "x.two.example.test"), (200, "v-one-2"))
        self.assertEqual(self.master(), before)  # same master, no reload
        # the edge jobs say what they did
        jobs = [j for j in self.api("GET", "/servers/web-1/jobs").json["items"] if j["kind"] == "edge"]
        self.assertGreaterEqual(len(jobs), 4)
        self.assertTrue(all(j["status"] == "SUCCEEDED" for j in jobs), jobs)

    def test_4_runner_restart_keeps_names(self):
        before = self.master()
        self.stop_runner()
        self.start_runner()
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/web-1").json["status"] == "ACTIVE", 20))
        # the restarted runner read its apps and names back from haproxy.cfg
        # and the maps, and adopted the same HAProxy: a new name is a map
        # change still, and the old ones route as they did
        self.assertEqual(self.api("POST", "/apps/one/domains", {"name": "four.example.test"}).status, 201)
        self.wait_route("four.example.test", (200, "v-one-2"))
        self.assertEqual(get(self.http, "x.two.example.test"), (200, "v-one-2"))
        self.assertEqual(get(self.http, "one.example.test"), (200, "v-two-1"))
        self.assertEqual(self.master(), before)

    def test_5_a_running_app_gets_its_first_name(self):
        # deployed with neither a public port nor domains: not behind the edge
        r = self.api("POST", "/apps", {"name": "three", "server": "web-1", "repo_url": self.git.url("app.git"),
                                       "container_port": 8080, "health_path": "/health", "drain_seconds": 5,
                                       "keep_images": 2, "health_timeout": 30})
        self.assertEqual(r.status, 201, r)
        type(self).three_id = r.json["id"]
        self.deploy("three", "v-three-1")
        self.assertEqual(get(self.http, "three.example.test")[0], 404)
        # its first name routes to the running container, no redeploy (a new
        # backend: this one reloads HAProxy, which keeps serving)
        self.assertEqual(self.api("POST", "/apps/three/domains", {"name": "three.example.test"}).status, 201)
        self.wait_route("three.example.test", (200, "v-three-1"))
        jobs = [j for j in self.api("GET", "/servers/web-1/jobs").json["items"] if j["kind"] == "edge"]
        log = self.api("GET", "/jobs/%d/logs" % jobs[0]["id"]).body
        self.assertIn("now behind the edge", log)
        # the next deploy swaps from that server as from any other, no reload
        before = self.master()
        self.deploy("three", "v-three-2")
        self.assertEqual(get(self.http, "three.example.test"), (200, "v-three-2"))
        self.assertEqual(self.master(), before)


if __name__ == "__main__":
    unittest.main()
