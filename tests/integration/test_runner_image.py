"""The runner image (scripts/runner-image.sh, `make runner-image`) against a
real berthd on the host: build berth-runner:VERSION (the debootstrap'ed
base image is cached between runs), run it with the host's Docker socket
and a state volume on --network host, and see the server ACTIVE with a
passing precheck (Docker reachable through the mounted socket, git and curl
from the image); a script job runs in it under /bin/sh with the docker CLI.

Skipped when Docker is not reachable, when the base image is not cached
and debootstrap is missing or we are not root, or when the build takes
more than 10 minutes.
"""
import os
import shutil
import subprocess
import time
import unittest
import uuid

from harness import Berthd, BERTHD, ROOT, docker_ok, wait_for

RUNNER = os.environ.get("BERTH_RUNNER",
                        os.path.join(os.path.dirname(BERTHD), "berth-runner"))
SCRIPT = os.path.join(ROOT, "scripts", "runner-image.sh")
BASE = "berth-debian-base:bookworm"
HB = 1
BUILD_LIMIT = 600



def image_exists(name):
    return subprocess.run(["docker", "image", "inspect", name],
                          capture_output=True).returncode == 0



@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
@unittest.skipIf(os.environ.get("BERTH_SANITIZED") == "ON",
                 "a sanitizer build links the runner dynamically (libasan), so it cannot "
                 "run in the image; the plain build runs this test")
@unittest.skipUnless(docker_ok(), "the Docker daemon is not reachable")
class RunnerImage(unittest.TestCase):
    image = None

    @classmethod
    def setUpClass(cls):
        if not image_exists(BASE):
            if not shutil.which("debootstrap"):
                raise unittest.SkipTest("%s is not cached and debootstrap is not installed "
                                        "(apt-get install debootstrap)" % BASE)
            if os.geteuid() != 0:
                raise unittest.SkipTest("%s is not cached and debootstrap needs root" % BASE)
        t0 = time.time()
        try:
            r = subprocess.run(["sh", SCRIPT, "--binary", RUNNER], capture_output=True,
                               text=True, timeout=BUILD_LIMIT)
        except subprocess.TimeoutExpired:
            raise unittest.SkipTest("building the runner image took more than %d s"
                                    % BUILD_LIMIT)
        if r.returncode != 0:
            raise AssertionError("runner-image.sh failed:\n" + r.stdout + r.stderr)
        cls.image = r.stdout.strip().splitlines()[-1]
        cls.build_s = time.time() - t0
        print("\nimage %s built in %.1f s:\n%s" % (cls.image, cls.build_s, r.stderr.strip()))

    def setUp(self):
        self.b = Berthd(env={"BERTH_HEARTBEAT_S": str(HB)}).start()
        self.tok = self.b.login()
        self.org = "/api/v1/orgs/%s" % self.b.org
        tag = uuid.uuid4().hex[:8]
        self.name = "berth-runner-it-" + tag
        self.volume = "berth-runner-it-" + tag

    def tearDown(self):
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "-f", self.volume], capture_output=True)
        self.b.close()

    def api(self, method, path, body=None):
        return self.b.request(method, self.org + path, token=self.tok, body=body)

    def server(self, sid):
        return self.api("GET", "/servers/%d" % sid).json

    def container_logs(self):
        r = subprocess.run(["docker", "logs", self.name], capture_output=True, text=True)
        return r.stdout + r.stderr

    def run_container(self, token):
        # the token goes from our environment to the container's through
        # `-e NAME` (no value on docker's command line)
        env = dict(os.environ, BERTH_RUNNER_TOKEN=token)
        r = subprocess.run(
            ["docker", "run", "-d", "--name", self.name, "--network", "host",
             "-v", "/var/run/docker.sock:/var/run/docker.sock",
             "-v", "%s:/var/lib/berth-runner" % self.volume,
             "-e", "BERTH_RUNNER_TOKEN", self.image,
             "--url", "ws://127.0.0.1:%d/runner/v1" % self.b.port, "--min-free-disk", "0.1"],
            capture_output=True, text=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_image_registers_and_runs_jobs(self):
        s = self.api("POST", "/servers", {"name": "in-docker"})
        self.assertEqual(s.status, 201, s)
        sid, token = s.json["id"], s.json["registration_token"]
        t0 = time.time()
        self.run_container(token)
        ok = wait_for(lambda: self.server(sid)["status"] == "ACTIVE", 30)
        self.assertTrue(ok, (self.server(sid), self.container_logs()))
        print("container start to ACTIVE: %.2f s" % (time.time() - t0))
        got = self.server(sid)
        checks = {c["name"]: c for c in got["precheck"]["checks"]}
        self.assertTrue(got["precheck"]["ok"], got["precheck"])
        docker_check = [c for n, c in checks.items() if "docker" in n.lower()]
        self.assertTrue(docker_check and all(c["ok"] for c in docker_check), checks)
        fp = got["fingerprint"]
        self.assertTrue(fp["docker"], fp)
        self.assertTrue(fp["git"] and fp["curl"], fp)
        self.assertIn("Debian", fp.get("os") or "")
        # the token is nowhere in the container's configuration's argv
        insp = subprocess.run(["docker", "inspect", "-f", "{{json .Args}}", self.name],
                              capture_output=True, text=True)
        self.assertNotIn(token, insp.stdout)
        self.assertNotIn(token, self.container_logs())

        # a script under /bin/sh, with the docker CLI through the socket
        body = ("set -e; echo sh=$(readlink -f /bin/sh); git --version; "
                "curl --version | head -n 1; docker version --format 'server={{.Server.Version}}'")
        sc = self.api("POST", "/scripts", {"name": "tools", "body": body})
        self.assertEqual(sc.status, 201, sc)
        r = self.api("POST", "/scripts/tools/runs", {"server": sid})
        self.assertEqual(r.status, 201, r)
        job = r.json["id"]
        done = wait_for(lambda: self.api("GET", "/jobs/%d" % job).json["status"]
                        in ("SUCCEEDED", "FAILED"), 30)
        self.assertTrue(done)
        j = self.api("GET", "/jobs/%d" % job).json
        text = self.api("GET", "/jobs/%d/logs" % job).body
        self.assertEqual(j["status"], "SUCCEEDED", (j, text))
        self.assertIn("git version", text)
        self.assertIn("curl ", text)
        self.assertIn("server=20.", text)

        # the credential is in the volume: a new container on it needs no token
        subprocess.run(["docker", "rm", "-f", self.name], capture_output=True, check=True)
        self.assertTrue(wait_for(lambda: self.server(sid)["status"] == "UNREACHABLE", 10))
        r = subprocess.run(
            ["docker", "run", "-d", "--name", self.name, "--network", "host",
             "-v", "/var/run/docker.sock:/var/run/docker.sock",
             "-v", "%s:/var/lib/berth-runner" % self.volume, self.image,
             "--min-free-disk", "0.1"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_for(lambda: self.server(sid)["status"] == "ACTIVE", 30),
                        (self.server(sid), self.container_logs()))


if __name__ == "__main__":
    unittest.main()
