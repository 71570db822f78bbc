"""The runner's deploy building blocks (src/runner/docker.c, edge.c) on the
real things: the Docker engine, a git server (git-http-backend behind
lighttpd, with HTTP basic auth), HAProxy 2.6.

tests/tools/deployctl drives the modules on one lws loop, one JSON command
per line on stdin (so secrets never reach argv). The scenario: clone four
commits of a fixture app from the git server with a credential, build them
(legacy builder), run container A with a secret env var, check it is
visible inside and nowhere in argv, health-check it, put HAProxy in front,
then swap A -> B -> C -> D under keep-alive load: 0 failed requests.

Needs root, Docker, and scripts/test-fixtures.sh (run by setUpClass).
"""
import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import docker_ok, free_port, git, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEPLOYCTL = os.environ.get("DEPLOYCTL") or os.path.join(
    os.path.dirname(os.environ.get("BERTHD", os.path.join(ROOT, "build", "berthd"))), "tests", "deployctl")
FIXTURE_APP = os.path.join(ROOT, "tests", "fixtures", "app")
SWAPS = 3


class GitServer:
    """git-http-backend (smart HTTP) behind lighttpd, basic auth required."""

    def __init__(self, root, user, password):
        self.root = root
        self.port = free_port()
        os.makedirs(os.path.join(root, "repos"))
        os.makedirs(os.path.join(root, "www"))
        with open(os.path.join(root, "users"), "w") as f:
            f.write("%s:%s\n" % (user, password))
        os.chmod(os.path.join(root, "users"), 0o600)
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


class Ctl:
    """A deployctl process: send a command, read its one-line answer."""

    def __init__(self):
        self.proc = subprocess.Popen([DEPLOYCTL], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lock = threading.Lock()
        self.stderr = []
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stderr:
            self.stderr.append(line)

    def __call__(self, op, **kw):
        kw["op"] = op
        with self.lock:
            self.proc.stdin.write(json.dumps(kw) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("deployctl died: %s" % "".join(self.stderr[-20:]))
        return json.loads(line)

    def close(self):
        try:
            self("quit")
        except (RuntimeError, BrokenPipeError, ValueError):
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Load:
    """Keep-alive clients hammering the public port until stopped."""

    def __init__(self, port, clients=16, path="/cgi-bin/slow"):
        self.port, self.path = port, path
        self.ok = self.failed = 0
        self.errors = []
        self.versions = []          # (time, version) changes seen
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _run(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        while not self.stop.is_set():
            try:
                conn.request("GET", self.path)
                r = conn.getresponse()
                body = r.read().decode().strip()
                good = r.status == 200 and body.startswith("v")
                with self.lock:
                    if good:
                        self.ok += 1
                        if not self.versions or self.versions[-1][1] != body:
                            self.versions.append((time.time(), body))
                    else:
                        self.failed += 1
                        self.errors.append("HTTP %d %r" % (r.status, body[:60]))
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failed += 1
                    self.errors.append(repr(e))
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.close()

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(15)


@unittest.skipUnless(os.path.exists(DEPLOYCTL), "deployctl is not built")
@unittest.skipUnless(shutil.which("docker") and docker_ok(), "no Docker engine")
class DeployBlocks(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(ROOT, "scripts", "test-fixtures.sh")], check=True)
        cls.tmp = tempfile.mkdtemp(prefix="berth-deploy-")
        os.chmod(cls.tmp, 0o700)
        cls.app = "fx" + secrets.token_hex(3)
        cls.user, cls.password = "deployer", "pw-" + secrets.token_hex(12)
        cls.git = GitServer(os.path.join(cls.tmp, "git"), cls.user, cls.password)
        # the fixture app as a bare repo with four commits (v1..v4)
        work = os.path.join(cls.tmp, "work")
        shutil.copytree(FIXTURE_APP, work)
        git("init", "-q", "-b", "main", cwd=work)
        cls.commits = []
        for v in range(1, 5):
            with open(os.path.join(work, "www", "version"), "w") as f:
                f.write("v%d\n" % v)
            git("add", "-A", cwd=work)
            git("commit", "-q", "-m", "v%d" % v, cwd=work)
            cls.commits.append(git("rev-parse", "HEAD", cwd=work))
        bare = os.path.join(cls.git.root, "repos", "app.git")
        git("clone", "-q", "--bare", work, bare)
        git("config", "http.receivepack", "false", cwd=bare)
        cls.ctl = Ctl()
        cls.containers = []
        cls.edge_dir = os.path.join(cls.tmp, "edge")
        cls.public = free_port()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.ctl("edge_stop")
        except Exception:
            pass
        cls.ctl.close()
        cls.git.close()
        ids = subprocess.run(["docker", "ps", "-aq", "--filter", "label=berth.app=" + cls.app],
                             capture_output=True, text=True).stdout.split()
        if ids:
            subprocess.run(["docker", "rm", "-f"] + ids, capture_output=True)
        imgs = subprocess.run(["docker", "images", "-q", "berth/" + cls.app],
                              capture_output=True, text=True).stdout.split()
        if imgs:
            subprocess.run(["docker", "rmi", "-f"] + sorted(set(imgs)), capture_output=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # helpers

    def clone(self, n, **kw):
        d = os.path.join(self.tmp, "src-%d" % n)
        args = dict(url=self.git.url("app.git"), commit=self.commits[n] if n < len(self.commits) else None, dir=d,
                    helper_dir=self.tmp, username=self.user, password=self.password)
        args.update(kw)
        return self.ctl("clone", **args), d

    def start_container(self, n):
        r = self.ctl("run", image="berth/%s:d%d" % (self.app, n + 1), app=self.app,
                     deployment="d%d" % (n + 1), color="blue" if n % 2 == 0 else "green",
                     name="berth-%s-d%d" % (self.app, n + 1), env=["APP_SECRET=" + self.password, "MODE=test"],
                     port=8080, publish_ip="127.0.0.1", memory=64 << 20, cpus=0.5)
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["state"], "running")
        self.containers.append(r["id"])
        # health check: GET /health, up to 10 tries with backoff (as the pipeline does)
        delay, healthy = 0.05, False
        for _ in range(10):
            try:
                c = http.client.HTTPConnection(r["host_ip"], r["host_port"], timeout=2)
                c.request("GET", "/health")
                resp = c.getresponse()
                healthy = resp.status == 200 and resp.read().strip() == b"ok"
                c.close()
            except OSError:
                pass
            if healthy:
                break
            time.sleep(delay)
            delay *= 2
        self.assertTrue(healthy, "container %d never became healthy" % n)
        return r

    # the scenario, in order

    def test_1_clone_needs_and_hides_the_credential(self):
        r, _ = self.clone(0, password="wrong-" + secrets.token_hex(4))
        self.assertFalse(r["ok"])
        self.assertNotIn(self.password, json.dumps(r))
        r, _ = self.clone(0, url=self.git.url("app.git").replace("http://", "http://u:p@"))
        self.assertFalse(r["ok"])
        self.assertIn("credentials", r["error"])
        for n in range(4):
            r, d = self.clone(n)
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["output"].strip().splitlines()[-1], self.commits[n])
            self.assertEqual(r["commit"], self.commits[n])
            with open(os.path.join(d, "www", "version")) as f:
                self.assertEqual(f.read().strip(), "v%d" % (n + 1))
            self.assertEqual(git("rev-list", "--count", "HEAD", cwd=d), "1")  # shallow
        # the other forms the deploy pipeline clones: a branch's head, and a
        # short commit id resolved in the branch's history
        r, _ = self.clone(8, commit=None, branch="main")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["commit"], self.commits[-1])
        r, _ = self.clone(9, commit=self.commits[1][:10], branch="main")
        self.assertTrue(r["ok"], r)
        self.assertEqual(r["commit"], self.commits[1])
        helper = os.path.join(self.tmp, "git-askpass")
        self.assertEqual(os.stat(helper).st_mode & 0o777, 0o700)
        with open(helper) as f:
            self.assertNotIn(self.password, f.read())
        # the secret is in no file under the clones, and never in a log line
        for base, _, files in os.walk(self.tmp):
            if "/git/" in base + "/" or base.endswith("/git"):
                continue  # the git server's own user file
            for name in files:
                p = os.path.join(base, name)
                if os.path.isfile(p) and not os.path.islink(p):
                    with open(p, "rb") as f:
                        self.assertNotIn(self.password.encode(), f.read(), p)
        self.assertNotIn(self.password, "".join(self.ctl.stderr))

    def test_2_build_four_deployments(self):
        for n in range(4):
            t0 = time.time()
            r = self.ctl("build", context=os.path.join(self.tmp, "src-%d" % n),
                         image="berth/%s:d%d" % (self.app, n + 1), memory=256 << 20, cpus=1.0)
            self.assertTrue(r["ok"], r.get("output", r)[-2000:])
            print("\n  build d%d: %.1f s" % (n + 1, time.time() - t0), end="")
        r = self.ctl("images", repo="berth/" + self.app)
        self.assertEqual(len(r["body"]), 4)
        tags = sorted(t for img in r["body"] for t in img["RepoTags"])
        self.assertEqual(tags, ["berth/%s:d%d" % (self.app, n) for n in range(1, 5)])

    def test_3_run_with_secret_env(self):
        r = self.start_container(0)
        env = subprocess.run(["docker", "exec", r["id"], "env"], capture_output=True, text=True).stdout
        self.assertIn("APP_SECRET=" + self.password, env.splitlines())
        ins = self.ctl("inspect", id=r["id"])["body"]
        self.assertNotIn(self.password, json.dumps([ins["Path"], ins["Args"]]))
        self.assertEqual(ins["Config"]["Labels"]["berth.app"], self.app)
        self.assertEqual(ins["Config"]["Labels"]["berth.deployment"], "d1")
        self.assertEqual(ins["HostConfig"]["Memory"], 64 << 20)
        self.assertEqual(ins["HostConfig"]["NanoCpus"], 500000000)
        self.assertEqual(ins["HostConfig"]["RestartPolicy"]["Name"], "unless-stopped")
        # no process on this host carries the secret in its argv
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        self.assertNotIn(self.password.encode(), f.read(), "pid %s" % pid)
                except OSError:
                    pass
        ps = self.ctl("ps", label="berth.app=" + self.app)
        self.assertEqual([c["Id"] for c in ps["body"]], [r["id"]])
        type(self).first = r

    def test_4_swaps_under_load(self):
        first = self.first
        r = self.ctl("edge_start", dir=self.edge_dir, bind="127.0.0.1")
        self.assertTrue(r["ok"], r)
        mode = os.stat(os.path.join(self.edge_dir, "admin.sock")).st_mode & 0o777
        self.assertEqual(mode, 0o600)
        self.assertTrue(self.ctl("edge_app", app=self.app, port=self.public)["ok"])
        r = self.ctl("edge_swap", app=self.app, server="d1",
                     addr="%s:%d" % (first["host_ip"], first["host_port"]), drain_ms=10000)
        self.assertTrue(r["ok"], r)
        c = http.client.HTTPConnection("127.0.0.1", self.public, timeout=5)
        c.request("GET", "/version")
        self.assertEqual(c.getresponse().read().strip(), b"v1")
        c.close()
        with open(os.path.join(self.edge_dir, "haproxy.pid")) as f:
            master_before = f.read().strip()

        load = Load(self.public).start()
        wrk = None
        if shutil.which("wrk"):
            wrk = subprocess.Popen(["wrk", "-t2", "-c32", "-d%ds" % (4 + 4 * SWAPS), "--timeout", "10s",
                                    "http://127.0.0.1:%d/version" % self.public],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.5)
        report = []
        for n in range(1, SWAPS + 1):
            nxt = self.start_container(n)
            t0 = time.time()
            r = self.ctl("edge_swap", app=self.app, server="d%d" % (n + 1),
                         addr="%s:%d" % (nxt["host_ip"], nxt["host_port"]), drain_ms=10000)
            self.assertTrue(r["ok"], r)
            self.assertTrue(r["drained"], r)
            report.append((n, r["drain_ms"], r["total_ms"], (time.time() - t0) * 1000))
            # the old container goes once HAProxy no longer uses it
            old = self.containers[n - 1]
            self.assertTrue(self.ctl("stop", id=old, timeout=5)["ok"])
            self.assertTrue(self.ctl("rm", id=old)["ok"])
            time.sleep(1.5)
        time.sleep(1)
        load.finish()
        wrk_out = wrk.communicate(timeout=60)[0] if wrk else ""

        print("\n  swaps under load (%d keep-alive clients on /cgi-bin/slow, 150 ms each):" % len(load.threads))
        for n, drain, total, seen in report:
            print("    swap %d: drain %d ms, swap %d ms (%.0f ms seen by the test)" % (n, drain, total, seen))
        print("    requests ok %d, failed %d; versions seen in order: %s"
              % (load.ok, load.failed, " ".join(v for _, v in load.versions)))
        if wrk:
            summary = [l.strip() for l in wrk_out.splitlines()
                       if "requests in" in l or "Non-2xx" in l or "Socket errors" in l or "Requests/sec" in l]
            print("    wrk -c32 on /version: " + "; ".join(summary))
            self.assertNotIn("Non-2xx", wrk_out)
            self.assertNotIn("Socket errors", wrk_out)
        self.assertEqual(load.failed, 0, load.errors[:10])
        self.assertGreater(load.ok, 50)
        seen = [v for _, v in load.versions]
        self.assertEqual(seen[-1], "v%d" % (SWAPS + 1))
        self.assertEqual(sorted(set(seen)), ["v%d" % n for n in range(1, SWAPS + 2)])
        # no reload happened: same master, no reload counted
        with open(os.path.join(self.edge_dir, "haproxy.pid")) as f:
            self.assertEqual(f.read().strip(), master_before)
        # the config on disk names the live server (for a later reload)
        with open(os.path.join(self.edge_dir, "haproxy.cfg")) as f:
            self.assertIn("server d%d " % (SWAPS + 1), f.read())
        r = self.ctl("edge_cmd", cmd="show servers state app_" + self.app)
        names = [l.split()[3] for l in r["text"].splitlines()[2:] if l.strip()]
        self.assertEqual(names, ["d%d" % (SWAPS + 1)])

    def test_5_domains_and_prune(self):
        if not os.path.exists(os.path.join(self.edge_dir, "haproxy.pid")):
            self.skipTest("edge not started")
        r = self.ctl("edge_app", app=self.app, port=self.public, domains=["a.example", "b.example"])
        self.assertTrue(r["ok"], r)  # still the port's only app, so its default: maps only
        r = self.ctl("edge_app", app=self.app, port=self.public, domains=["b.example", "c.example"])
        self.assertTrue(r["ok"], r)  # domains only: map commands
        # the port's only app answers any Host there (a public port is a way
        # in without a name); test_domains_edge.py routes names on a shared port
        for host, want in (("c.example", 200), ("a.example", 200), ("other", 200)):
            c = http.client.HTTPConnection("127.0.0.1", self.public, timeout=5)
            c.request("GET", "/version", headers={"Host": host})
            resp = c.getresponse()
            resp.read()
            self.assertEqual(resp.status, want, host)
            c.close()
        with open(os.path.join(self.edge_dir, "port-%d.map" % self.public)) as f:
            self.assertEqual(sorted(f.read().split()), sorted(["b.example", "c.example"] + ["app_" + self.app] * 2))
        r = self.ctl("prune", repo="berth/" + self.app, keep=2)
        self.assertTrue(r["ok"], r)
        self.assertEqual(len(r["removed"]), 2)
        left = self.ctl("images", repo="berth/" + self.app)["body"]
        self.assertEqual(sorted(t for i in left for t in i["RepoTags"]),
                         ["berth/%s:d3" % self.app, "berth/%s:d4" % self.app])
        self.assertTrue(self.ctl("edge_stop")["ok"])
        self.assertFalse(os.path.exists(os.path.join(self.edge_dir, "haproxy.pid")))


if __name__ == "__main__":
    unittest.main()
