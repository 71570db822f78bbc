"""A server's containers through its runner (docs/containers.md), end to
end: a real berthd, a real berth-runner, the real Docker engine, and
containers made here FROM the busybox fixture image
(scripts/test-fixtures.sh).

- list shows them (id, names, image, state, ports, berth's labels);
- inspect shows one, with env values redacted for berth's containers;
- stop, start, restart and remove do what they say, audited;
- a viewer lists but may not stop (403), nor a developer; another
  organization's server is 404; a bad or unknown container 400 / 404;
- a server whose runner is gone answers 503 with the reason.
"""
import os
import subprocess
import unittest
import uuid

import json

from harness import BERTH, RunnerCase, docker_ok, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


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


if __name__ == "__main__":
    unittest.main()
