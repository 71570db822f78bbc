"""A server's containers through its runner (docs/containers.md), end to
end: a real berthd, a real berth-runner, the real Docker engine, and
containers made here FROM the busybox fixture image
(scripts/test-fixtures.sh).

- list shows them (id, names, image, state, ports, berth's labels);
- inspect shows one, with env values redacted for berth's containers;
- stop, start, restart and remove do what they say, audited;
- a viewer lists but may not stop (403), nor a developer; another
  organization's server is 404; a bad or unknown container 400 / 404;
- a server whose runner is gone answers 503 with the reason;
- a running container's CPU and memory use are in the list;
- prune, preview -> run (class Prune, with a real deploy of the fixture
  app): the preview lists a stopped berth container and an image past the
  app's keep_images, not a stopped container berth did not make nor the
  serving deployment's container and image; the run removes exactly that
  list (a berth container made after the preview survives, one started
  again since is skipped); a preview runs once; audited;
- prune refused to a viewer and a developer, another organization's
  server or preview id 404, and malformed, mistyped or unknown input a
  clear 4xx that changes nothing.
"""
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import uuid

import json

from harness import BERTH, RunnerCase, docker_ok, git, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def engine(method, path, body=None):
    """One Engine API call over Docker's socket (quicker than the docker CLI
    when many containers are made)."""
    import http.client
    import socket

    class Conn(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect("/var/run/docker.sock")
    c = Conn("localhost", timeout=60)
    c.request(method, "/v1.41" + path, body=json.dumps(body) if body is not None else None,
              headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    if r.status >= 300:
        raise AssertionError("%s %s: %d %s" % (method, path, r.status, data[:200]))
    return json.loads(data) if data else None


def docker(*args, check=True):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True, check=check)


@unittest.skipUnless(docker_ok(), "needs Docker")
class Containers(RunnerCase):
    @classmethod
    def setUpClass(cls):
        subprocess.run([os.path.join(ROOT, "scripts", "test-fixtures.sh")], check=True,
                       capture_output=True)
        cls.tag = uuid.uuid4().hex[:8]
        cls.made = []

    @classmethod
    def tearDownClass(cls):
        for name in cls.made:
            docker("rm", "-f", name, check=False)

    state_prefix = "berth-ct-"

    def setUp(self):
        super().setUp()

    def tearDown(self):
        super().tearDown()

    def make(self, name, *env):
        name = "%s-%s" % (name, self.tag)
        args = ["run", "-d", "--name", name, "--label", "berth.test=%s" % self.tag]
        for e in env:
            args += ["-e", e]
        docker(*(args + ["berth-fixture-base", "/bin/sh", "-c",
                         "trap 'exit 0' TERM; while :; do sleep 1; done"]))
        self.made.append(name)
        return name

    def state_of(self, name):
        r = self.api("GET", "/servers/host-1/containers/%s" % name)
        self.assertEqual(r.status, 200, r)
        return r.json["State"]["Status"]

    def test_list_inspect_and_actions(self):
        plain = self.make("plain", "COLOR=blue")
        ours = self.make("berth-probe", "API_KEY=s3cret-value")
        r = self.api("GET", "/servers/host-1/containers")
        self.assertEqual(r.status, 200, r)
        byname = {c["names"][0]: c for c in r.json["items"]}
        self.assertIn(plain, byname)
        self.assertEqual(byname[plain]["state"], "running")
        self.assertEqual(byname[plain]["image"], "berth-fixture-base")
        self.assertIsNone(byname[plain]["app"])  # not one of this org's apps
        self.assertFalse(r.json["truncated"])
        # inspect: a berth container's env values are redacted, names kept
        r = self.api("GET", "/servers/host-1/containers/%s" % ours)
        self.assertEqual(r.status, 200, r)
        self.assertIn("API_KEY=<redacted>", r.json["Config"]["Env"])
        self.assertNotIn("s3cret-value", r.body)
        r = self.api("GET", "/servers/host-1/containers/%s" % plain)
        self.assertIn("COLOR=blue", r.json["Config"]["Env"])
        # actions
        r = self.api("POST", "/servers/host-1/containers/%s/stop" % plain)
        self.assertEqual((r.status, r.json["done"]), (200, "stop"), r)
        self.assertEqual(self.state_of(plain), "exited")
        self.assertEqual(self.api("POST", "/servers/host-1/containers/%s/start" % plain).status,
                         200)
        self.assertEqual(self.state_of(plain), "running")
        self.assertEqual(
            self.api("POST", "/servers/host-1/containers/%s/restart" % plain).status, 200)
        self.assertEqual(self.state_of(plain), "running")
        r = self.api("DELETE", "/servers/host-1/containers/%s" % plain)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(docker("inspect", plain, check=False).returncode, 1)
        r = self.api("GET", "/servers/host-1/containers/%s" % plain)
        self.assertEqual((r.status, r.json["error"]["code"]), (404, "not_found"), r)
        actions = [(e["action"], e["target"]) for e in self.api("GET", "/audit?action=container.*")
                   .json["items"]]
        sid = self.api("GET", "/servers/host-1").json["id"]
        for a in ("container.stop", "container.start", "container.restart", "container.remove"):
            self.assertIn((a, "server:%d/%s" % (sid, plain)), actions)

    def test_who_may_not(self):
        c = self.make("guarded")
        viewer = self.b.add_user(self.tok, self.b.org, "viewer@example.com", "viewer")
        dev = self.b.add_user(self.tok, self.b.org, "dev@example.com", "developer")
        self.assertEqual(self.api("GET", "/servers/host-1/containers", token=viewer).status, 200)
        for tok in (viewer, dev):
            r = self.api("POST", "/servers/host-1/containers/%s/stop" % c, token=tok)
            self.assertEqual(r.status, 403, r)
            self.assertEqual(self.api("DELETE", "/servers/host-1/containers/%s" % c,
                                      token=tok).status, 403)
        self.assertEqual(docker("inspect", "-f", "{{.State.Status}}", c).stdout.strip(),
                         "running")
        r = self.b.request("POST", "/api/v1/orgs", token=self.tok, body={"name": "other"})
        self.b.request("POST", "/api/v1/orgs/other/servers", token=self.tok,
                       body={"name": "theirs"})
        r = self.b.request("GET", "/api/v1/orgs/%s/servers/theirs/containers" % self.b.org,
                           token=self.tok)
        self.assertEqual(r.status, 404, r)
        # ("..": lws resolves it before berthd sees the path: the server itself)
        for bad in ("-x", "a%2Fb", "%00", "a%20b"):
            r = self.api("GET", "/servers/host-1/containers/%s" % bad)
            self.assertIn(r.status, (400, 404), (bad, r))
        r = self.api("POST", "/servers/host-1/containers/nosuch-%s/stop" % self.tag)
        self.assertEqual(r.status, 404, r)

    def test_list_shows_cpu_and_memory(self):
        busy = self.make("busy")
        docker("exec", "-d", busy, "/bin/sh", "-c", "while :; do :; done")
        stopped = self.make("stopped")
        docker("stop", "-t", "1", stopped)
        time.sleep(0.3)
        t0 = time.monotonic()
        r = self.api("GET", "/servers/host-1/containers")
        self.assertEqual(r.status, 200, r)
        self.assertLess(time.monotonic() - t0, 5)
        byname = {c["names"][0]: c for c in r.json["items"]}
        b = byname[busy]
        self.assertIsInstance(b["cpu_percent"], float, b)
        self.assertGreater(b["cpu_percent"], 10.0, b)  # one busy loop: about a CPU
        self.assertGreater(b["memory_bytes"], 0)
        self.assertGreater(b["memory_limit"], b["memory_bytes"])
        s = byname[stopped]
        self.assertEqual((s["cpu_percent"], s["memory_bytes"], s["memory_limit"]),
                         (None, None, None))
        # the next list measures against the runner's previous sample
        r = self.api("GET", "/servers/host-1/containers")
        b = {c["names"][0]: c for c in r.json["items"]}[busy]
        self.assertGreater(b["cpu_percent"], 10.0, b)
        p = self.cli("container", "ls", "host-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        line = [x for x in p.stdout.splitlines() if x.startswith(busy)][0]
        self.assertRegex(line, r"\d+\.\d%")
        self.assertIn("MiB", p.stdout.splitlines()[[x.startswith(busy) for x in
                                                     p.stdout.splitlines()].index(True)])

    def test_list_of_50_running_stays_quick(self):
        names = ["many%02d-%s" % (i, self.tag) for i in range(50)]
        for n in names:
            engine("POST", "/containers/create?name=" + n, {
                "Image": "berth-fixture-base", "Labels": {"berth.test": self.tag},
                "HostConfig": {"NetworkMode": "none"},  # no veth to set up: quicker
                "Cmd": ["/bin/sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]})
            self.made.append(n)
            engine("POST", "/containers/%s/start" % n)
        took = []
        for k in range(2):
            t0 = time.monotonic()
            r = self.api("GET", "/servers/host-1/containers")
            took.append(time.monotonic() - t0)
            self.assertEqual(r.status, 200, r)
            byname = {c["names"][0]: c for c in r.json["items"]}
            for n in names:
                self.assertIsNotNone(byname[n]["memory_bytes"], byname[n])
                if k:  # measured against the first list's samples
                    self.assertIsNotNone(byname[n]["cpu_percent"], byname[n])
        # about 1.5 s and 0.5 s on an idle 2-CPU host; the runner starts no
        # sample after 4 s and waits at most 4 s for one, whatever the load
        print("list of 50 running: %.2f s, then %.2f s" % tuple(took))
        for t in took:
            self.assertLess(t, 10.0)
        for n in names:
            engine("DELETE", "/containers/%s?force=1" % n)
            self.made.remove(n)

    def test_prune_refusals_change_nothing(self):
        plain = self.make("keepme")
        docker("stop", "-t", "1", plain)
        url = "/servers/host-1/containers/prune"
        viewer = self.b.add_user(self.tok, self.b.org, "viewer@example.com", "viewer")
        dev = self.b.add_user(self.tok, self.b.org, "dev@example.com", "developer")
        for tok in (viewer, dev):
            r = self.api("POST", url, {"dry_run": True}, token=tok)
            self.assertEqual(r.status, 403, r)
        # hostile and malformed bodies: a clear 4xx naming the problem
        cases = [
            (b"{", 400, "invalid_json"), (b"[]", 400, "invalid_json"),
            (b"", 400, "invalid_json"), (b'{"dry_run": "yes"}', 400, None),
            (b'{"preview": 5}', 400, None), (b'{"include": "abc"}', 400, None),
            (b'{"dry_run": true, "preview": "bpv_x"}', 400, None),
            (b'{"dry_run": true, "force": true}', 400, None),
            (b'{"dry_run": false}', 422, None), (b'{}', 422, None),
            (b'{"dry_run": true, "include": ["../etc"]}', 422, None),
            (b'{"dry_run": true, "include": [5]}', 422, None),
            (b'{"dry_run": true, "include": ["abc"]}', 422, None),
            (b'{"dry_run": true, "include": ["' + b"a" * 65 + b'"]}', 422, None),
            (b'{"preview": "bpv_x", "include": ["0123456789ab"]}', 400, None),
            (b'{"preview": "bpv_nosuch"}', 404, "not_found"),
            (b'{"preview": ""}', 404, "not_found"),
            (b'{"preview": "' + b"x" * 5000 + b'"}', 404, "not_found"),
            (b'{"preview": "a\u0000b"}', 400, None),
        ]
        for raw, status, code in cases:
            r = self.b.request("POST", self.org + url, token=self.tok, raw=raw,
                               headers={"Content-Type": "application/json"})
            self.assertEqual(r.status, status, (raw[:60], r))
            if code:
                self.assertEqual(r.json["error"]["code"], code, (raw[:60], r))
        self.assertEqual(docker("inspect", "-f", "{{.State.Status}}", plain).stdout.strip(),
                         "exited")
        # a preview: another org's server, another user, another org are 404
        r = self.api("POST", url, {"dry_run": True})
        self.assertEqual(r.status, 200, r)
        pid = r.json["preview"]
        self.assertNotIn(plain, [i.get("name") for i in r.json["items"]])
        manager = self.b.add_user(self.tok, self.b.org, "mgr@example.com", "manager")
        r = self.api("POST", url, {"preview": pid}, token=manager)  # not his preview
        self.assertEqual(r.status, 404, r)
        self.b.request("POST", "/api/v1/orgs", token=self.tok, body={"name": "other"})
        self.b.request("POST", "/api/v1/orgs/other/servers", token=self.tok,
                       body={"name": "theirs"})
        for path in ("/api/v1/orgs/other/servers/theirs/containers/prune",
                     "/api/v1/orgs/other/servers/host-1/containers/prune"):
            r = self.b.request("POST", path, token=self.tok, body={"preview": pid})
            self.assertEqual(r.status, 404, (path, r))
        r = self.b.request("POST", self.org + "/servers/theirs/containers/prune", token=self.tok,
                           body={"dry_run": True})
        self.assertEqual(r.status, 404, r)
        # the preview is still good for its owner (nothing above used it up)
        r = self.api("POST", url, {"preview": pid})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(docker("inspect", "-f", "{{.State.Status}}", plain).stdout.strip(),
                         "exited")
        r = self.api("POST", url, {"preview": pid})  # used up
        self.assertEqual(r.status, 404, r)
        # a container berth did not make goes only when named
        cid = docker("inspect", "-f", "{{.Id}}", plain).stdout.strip()
        r = self.api("POST", url, {"dry_run": True, "include": [cid[:12]]})
        self.assertEqual(r.status, 200, r)
        self.assertEqual([i["id"] for i in r.json["items"] if i["kind"] == "container"], [cid])
        running = self.make("running")
        rid = docker("inspect", "-f", "{{.Id}}", running).stdout.strip()
        r = self.api("POST", url, {"dry_run": True, "include": [rid]})
        self.assertNotIn(rid, [i["id"] for i in r.json["items"]])
        self.assertEqual(r.json["not_included"], [{"id": rid, "reason": "running"}])

    def test_runner_gone_is_503(self):
        self.runner.kill()
        self.runner.wait()
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/host-1").json["status"]
                                 == "UNREACHABLE", 10))
        r = self.api("GET", "/servers/host-1/containers")
        self.assertEqual((r.status, r.json["error"]["code"]), (503, "server_unreachable"), r)
        self.assertIn("UNREACHABLE", r.json["error"]["message"])

    def cli(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env.update(HOME=self.state.name, BERTH_CONFIG=os.path.join(self.state.name, "c.json"),
                   BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org)
        return subprocess.run([BERTH] + list(args), env=env, capture_output=True, text=True,
                              timeout=60)

    def test_cli(self):
        c = self.make("clitest")
        p = self.cli("container", "ls", "host-1")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(c, p.stdout)
        p = self.cli("container", "ls", "host-1", "--json")
        names = [x["names"][0] for x in json.loads(p.stdout)["data"]["items"]]
        self.assertIn(c, names)
        p = self.cli("container", "stop", "host-1", c)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "%s: stop" % c), p.stderr)
        self.assertEqual(self.state_of(c), "exited")
        p = self.cli("container", "rm", "host-1", c)  # no terminal, no --yes: refused
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--yes", p.stderr)
        p = self.cli("container", "rm", "host-1", c, "--yes")
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cli("container", "inspect", "host-1", c)
        self.assertEqual(p.returncode, 4, p.stderr)  # not found
        self.assertIn("No such container", p.stderr)


@unittest.skipUnless(docker_ok() and shutil.which("lighttpd"), "needs Docker and lighttpd")
class Prune(RunnerCase):
    """Prune with a real deployed app (the fixture app, deployed twice)."""
    state_prefix = "berth-prune-"

    def setUp(self):
        super().setUp()
        subprocess.run([os.path.join(ROOT, "scripts", "test-fixtures.sh")], check=True,
                       capture_output=True)
        from test_deploy import FIXTURE_APP, GitServer
        self.tmp = tempfile.mkdtemp(prefix="berth-prune-git-")
        self.git = GitServer(os.path.join(self.tmp, "git"))
        self.work = os.path.join(self.tmp, "work")
        shutil.copytree(FIXTURE_APP, self.work)
        with open(os.path.join(self.work, "www", "health"), "w") as f:
            f.write("ok\n")
        # this run's own layers: no build cache from an earlier run is met
        with open(os.path.join(self.work, "www", "run"), "w") as f:
            f.write(uuid.uuid4().hex + "\n")
        git("init", "-q", "-b", "main", self.work)
        bare = os.path.join(self.git.root, "repos", "app.git")
        git("init", "-q", "--bare", "-b", "main", bare)
        git("remote", "add", "origin", bare, cwd=self.work)
        r = self.api("POST", "/apps", {
            "name": "web", "server": "host-1", "repo_url": self.git.url("app.git"),
            "container_port": 8080, "health_path": "/health", "keep_images": 5,
            "drain_seconds": 1, "health_timeout": 30})
        self.assertEqual(r.status, 201, r)
        self.app_id = r.json["id"]
        self.made = []
        self.repo = None
        self.leftover = None

    def tearDown(self):
        for name in self.made:
            docker("rm", "-f", name, check=False)
        ids = docker("ps", "-aq", "--filter", "label=berth.app=%d" % self.app_id,
                     check=False).stdout.split()
        super().tearDown()
        if ids:
            docker("rm", "-f", *ids, check=False)
        if self.repo:
            imgs = docker("images", "-q", "--filter", "reference=" + self.repo,
                          check=False).stdout.split()
            if imgs:
                docker("rmi", "-f", *sorted(set(imgs)), check=False)
        if self.leftover:
            docker("rmi", self.leftover, check=False)
        self.git.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def deploy(self, version, extra="", want="SUCCEEDED"):
        from test_deploy import DOCKERFILE
        with open(os.path.join(self.work, "www", "version"), "w") as f:
            f.write(version + "\n")
        with open(os.path.join(self.work, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE % extra)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", version, cwd=self.work)
        git("push", "-q", "-f", "origin", "HEAD:main", cwd=self.work)
        r = self.api("POST", "/apps/web/deployments", {})
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]

        def ended():
            d = self.api("GET", "/deployments/%d" % did).json
            if d["status"] in ("SUCCEEDED", "FAILED", "CANCELLED") and not (
                    d["steps"] and d["steps"][-1]["status"] == "started"):
                return d
            return None
        d = wait_for(ended, 180, 0.3)
        self.assertTrue(d and d["status"] == want, (d, self.logs()))
        return did

    def berth_container(self, iid, dep, start=False):
        """A container named and labelled as this berthd's deploys name theirs."""
        name = "berth-%s-%d-%d" % (iid, self.app_id, dep)
        docker("create", "--name", name, "--label", "berth.app=%d" % self.app_id,
               "--label", "berth.deployment=%d" % dep, "berth-fixture-base", "/bin/sh", "-c",
               "trap 'exit 0' TERM; while :; do sleep 1; done")
        self.made.append(name)
        if start:
            docker("start", name)
        return name

    def test_preview_then_run(self):
        d1 = self.deploy("v1")
        d2 = self.deploy("v2")
        # a build that fails after one new step on top of v2's cached layers
        # leaves that step's image behind, untagged: a dangling berth layer
        dangling_before = set(docker("images", "-q", "--no-trunc", "--filter",
                                     "dangling=true").stdout.split())
        self.deploy("v2", extra='RUN ["/bin/sh", "-c", "echo %s > /x"]\n'
                    'RUN ["/bin/sh", "-c", "exit 3"]' % uuid.uuid4().hex, want="FAILED")
        dangling = set(docker("images", "-q", "--no-trunc", "--filter",
                              "dangling=true").stdout.split()) - dangling_before
        self.assertEqual(len(dangling), 1, dangling)
        dangling = dangling.pop()
        self.leftover = dangling
        # the deploy's own cleanup (old container drained, then removed) ends first
        self.assertTrue(wait_for(lambda: len(docker(
            "ps", "-aq", "--filter", "label=berth.app=%d" % self.app_id).stdout.split()) == 1,
            30), docker("ps", "-a").stdout)
        r = self.api("PATCH", "/apps/web", {"keep_images": 1})
        self.assertEqual(r.status, 200, r)
        items = self.api("GET", "/servers/host-1/containers").json["items"]
        serving = [c for c in items if c["app"] and c["app"]["serving"]]
        self.assertEqual(len(serving), 1, items)
        serving = serving[0]
        name = serving["names"][0]
        iid = name.split("-")[1]
        self.assertEqual(name, "berth-%s-%d-%d" % (iid, self.app_id, d2))
        self.repo = "berth-%s-%d" % (iid, self.app_id)
        old_image = "%s:%d" % (self.repo, d1)
        self.assertEqual(docker("image", "inspect", old_image, check=False).returncode, 0)
        serving_image = serving["image_id"]
        stopped = self.berth_container(iid, 9001)
        restarted = self.berth_container(iid, 9003)
        plain = "plain-stopped-%s" % uuid.uuid4().hex[:8]
        docker("create", "--name", plain, "berth-fixture-base", "/bin/true")
        self.made.append(plain)

        url = "/servers/host-1/containers/prune"
        r = self.api("POST", url, {"dry_run": True})
        self.assertEqual(r.status, 200, r)
        pv = r.json
        names = {i["name"]: i for i in pv["items"]}
        self.assertIn(stopped, names)
        self.assertIn(restarted, names)
        self.assertEqual(names[stopped]["kind"], "container")
        self.assertEqual(names[stopped]["app"], {"id": self.app_id, "name": "web"})
        self.assertEqual(names[stopped]["deployment"], 9001)
        self.assertNotIn(plain, names)
        self.assertNotIn(name, names)
        self.assertIn(old_image, names)
        self.assertEqual(names[old_image]["kind"], "image")
        self.assertGreater(names[old_image]["bytes"], 0)
        self.assertNotIn(serving_image, [i["id"] for i in pv["items"]])
        ids = {i["id"]: i for i in pv["items"]}
        self.assertIn(dangling, ids)
        self.assertEqual((ids[dangling]["why"], ids[dangling]["app"]["name"], ids[dangling]["name"]),
                         ("dangling layer of a berth build", "web", None))
        self.assertNotIn("berth-fixture-base", json.dumps(pv))  # the base image is not berth's
        for i in pv["items"]:
            self.assertTrue(set(("id", "kind", "name", "app", "bytes")) <= set(i), i)
        self.assertEqual(pv["total_bytes"], sum(i["bytes"] for i in pv["items"]))
        self.assertTrue(pv["preview"].startswith("bpv_"))
        self.assertEqual(pv["expires_in"], 600)
        # nothing went yet; then the world changes
        self.assertEqual(docker("inspect", stopped, check=False).returncode, 0)
        later = self.berth_container(iid, 9002)
        docker("start", restarted)

        r = self.api("POST", url, {"preview": pv["preview"]})
        self.assertEqual(r.status, 200, r)
        removed = {i["name"] for i in r.json["removed"]}
        self.assertIn(stopped, removed)
        self.assertIn(old_image, removed)
        self.assertEqual([(i["name"], i["reason"]) for i in r.json["skipped"]],
                         [(restarted, "running")], r.json)
        self.assertEqual(r.json["failed"], [])
        self.assertEqual(r.json["bytes_freed"], sum(i["bytes"] for i in r.json["removed"]))
        self.assertEqual(docker("inspect", stopped, check=False).returncode, 1)
        self.assertEqual(docker("image", "inspect", old_image, check=False).returncode, 1)
        self.assertIn(dangling, {i["id"] for i in r.json["removed"]})
        self.assertEqual(docker("image", "inspect", dangling, check=False).returncode, 1)
        for survivor in (later, plain, restarted, name):
            self.assertEqual(docker("inspect", survivor, check=False).returncode, 0, survivor)
        self.assertEqual(docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip(),
                         "running")
        self.assertEqual(docker("image", "inspect", serving_image, check=False).returncode, 0)
        self.assertEqual(self.api("POST", url, {"preview": pv["preview"]}).status, 404)
        ev = self.api("GET", "/audit?action=server.containers.prune").json["items"]
        runs = [e for e in ev if e["detail"] and e["detail"].get("dry_run") is False]
        self.assertEqual(len(runs), 1, ev)
        self.assertEqual(runs[0]["detail"]["removed_containers"], 1, runs[0])
        self.assertEqual(runs[0]["detail"]["skipped"], 1, runs[0])
        self.assertEqual(runs[0]["target"], "server:%d" % self.sid)
        self.assertNotIn("bpv_", json.dumps(ev))

        # the CLI: --dry-run shows the preview; --yes runs it
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env.update(HOME=self.state.name, BERTH_CONFIG=os.path.join(self.state.name, "c.json"),
                   BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org)

        def cli(*args):
            return subprocess.run([BERTH, "container", "prune", "host-1"] + list(args),
                                  env=env, capture_output=True, text=True, timeout=120)
        p = cli("--dry-run", "--json")
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
        self.assertIn(later, [i["name"] for i in json.loads(p.stdout)["data"]["items"]])
        self.assertEqual(docker("inspect", later, check=False).returncode, 0)
        p = cli()  # no terminal, no --yes: refused after showing the preview
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--yes", p.stderr)
        self.assertIn(later, p.stdout)
        self.assertEqual(docker("inspect", later, check=False).returncode, 0)
        p = cli("--yes")
        self.assertEqual(p.returncode, 0, (p.stdout, p.stderr))
        self.assertIn("removed", p.stdout)
        self.assertEqual(docker("inspect", later, check=False).returncode, 1)
        self.assertEqual(docker("inspect", "-f", "{{.State.Status}}", name).stdout.strip(),
                         "running")


if __name__ == "__main__":
    unittest.main()
