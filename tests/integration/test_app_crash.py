"""Containers that die, on a real berthd, berth-runner, git server, Docker
engine and HAProxy (test_deploy.py's fixture and helpers; issue 14):

- an app that crashes and is replaced: the container serves, prints and
  exits, Docker's restart policy starts it again (three times), then a
  redeploy replaces it. Every line of every run of both containers comes
  back from the app's logs, in order, with since (docs/app-logs.md);
- a deployment whose container prints and exits at once: FAILED, and
  its record holds the last 200 lines the container printed, a long one
  cut, stderr told apart (docs/deploy.md, "Container output"); berthd's
  and the runner's own logs never hold them; the CLI shows them.
"""
import json
import os
import subprocess
import time
import unittest

import test_deploy as td
from harness import BERTH, docker_ok, wait_for

DOCKERFILE = """FROM berth-fixture-base
COPY www/ /www/
COPY run.sh /run.sh
ENV VER=%s
EXPOSE 8080
CMD ["/bin/sh", "/run.sh"]
"""

# stderr's line comes after a pause: dockerd reads the two pipes apart, so
# lines written close together on both may be stored in either order.
# Run 1 serves, prints five lines, stays up 6 s (the deploy's health
# check and swap) and exits 1; runs 2 and 3 print and exit 1 at once;
# run 4 prints and stays. The run count lives in the container's own
# layer, which a restart keeps.
CRASHER = """n=$(cat /tmp/runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/runs
httpd -f -p 8080 -h /www &
i=0
while [ $i -lt 5 ]; do i=$((i+1)); echo "$VER run $n line $i"; sleep 0.1; done
if [ $n -eq 1 ]; then sleep 6; exit 1; fi
if [ $n -lt 4 ]; then exit 1; fi
trap 'exit 0' TERM
wait
"""

LONG = "y" * 3000
FAILER = """i=0
while [ $i -lt 300 ]; do i=$((i+1)); echo "tail-mark line $i"; done
echo "%s"
sleep 0.5
echo "tail-mark bye" >&2
exit 3
""" % LONG


@unittest.skipUnless(docker_ok(), "needs Docker")
class AppCrash(unittest.TestCase):
    setUpClass = classmethod(td.Deploy.setUpClass.__func__)
    tearDownClass = classmethod(td.Deploy.tearDownClass.__func__)
    api = classmethod(td.Deploy.api.__func__)
    start_runner = classmethod(td.Deploy.start_runner.__func__)
    stop_runner = classmethod(td.Deploy.stop_runner.__func__)
    dep = td.Deploy.dep
    start_deploy = td.Deploy.start_deploy
    wait_end = td.Deploy.wait_end
    logs = td.Deploy.logs
    app_containers = td.Deploy.app_containers

    def commit(self, version, script):
        with open(os.path.join(self.work, "run.sh"), "w") as f:
            f.write(script)
        with open(os.path.join(self.work, "Dockerfile"), "w") as f:
            f.write(DOCKERFILE % version)
        hp = os.path.join(self.work, "www", "health")
        if not os.path.exists(hp):
            with open(hp, "w") as f:
                f.write("ok\n")
        td.git("add", "-A", cwd=self.work)
        td.git("commit", "-q", "--allow-empty", "-m", version, cwd=self.work)
        td.git("push", "-q", "-f", "origin", "HEAD:main", cwd=self.work)
        return td.git("rev-parse", "HEAD", cwd=self.work)

    def deploy(self, version, script, want):
        did = self.start_deploy(self.commit(version, script))
        d = self.wait_end(did)
        self.assertEqual(d["status"], want, "%s\n%s" % (d, self.logs(did)[-3000:]))
        return d

    def app_logs(self, query=""):
        r = self.api("GET", "/apps/web/logs" + query)
        self.assertEqual(r.status, 200, r)
        body = r.body if isinstance(r.body, str) else r.body.decode()
        return body.splitlines()

    def cli(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env.update(HOME=self.tmp, BERTH_CONFIG=os.path.join(self.tmp, "c.json"),
                   BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org)
        return subprocess.run([BERTH] + list(args), capture_output=True, text=True, env=env,
                              timeout=30)

    def test_1_crashes_and_replacement_keep_every_line(self):
        r = self.api("PATCH", "/apps/web", {"restart_policy": "always"})
        self.assertEqual(r.status, 200, r)
        t0 = int(time.time()) - 1
        d1 = self.deploy("c1", CRASHER, "SUCCEEDED")["id"]
        want1 = ["c1 run %d line %d" % (n, i) for n in range(1, 5) for i in range(1, 6)]
        self.assertTrue(wait_for(lambda: self.app_logs("?q=c1%20run")[-1:] == want1[-1:], 60),
                        self.app_logs("?q=c1%20run"))
        d2 = self.deploy("c2", CRASHER, "SUCCEEDED")["id"]
        self.assertFalse(any(c[1] == str(d1) for c in self.app_containers()))
        want2 = ["c2 run %d line %d" % (n, i) for n in range(1, 5) for i in range(1, 6)]
        self.assertTrue(wait_for(lambda: self.app_logs("?q=c2%20run")[-1:] == want2[-1:], 60),
                        self.app_logs("?q=c2%20run"))
        lines = [l for l in self.app_logs("?since=%d" % t0) if " run " in l]
        self.assertEqual(lines, want1 + want2)
        only1 = self.app_logs("?deployment=%d&q=run" % d1)
        self.assertEqual(only1, want1)
        self.assertEqual(self.app_logs("?deployment=%d&q=run" % d2), want2)

    def test_2_failed_start_keeps_the_containers_last_lines(self):
        r = self.api("PATCH", "/apps/web", {"restart_policy": "no", "health_timeout": 6})
        self.assertEqual(r.status, 200, r)
        try:
            d = self.deploy("f1", FAILER, "FAILED")
        finally:
            self.api("PATCH", "/apps/web", {"restart_policy": "always", "health_timeout": 30})
        self.assertIn(d["failed_step"], ("start", "health"), d)
        tail = d["container_tail"]
        texts = [l["text"] for l in tail]
        want = ["tail-mark line %d" % i for i in range(103, 301)] + [LONG[:1024], "tail-mark bye"]
        self.assertEqual(texts, want)
        self.assertEqual(len(tail), 200)
        self.assertEqual([l["stream"] for l in tail[-3:]], ["stdout", "stdout", "stderr"])
        self.assertTrue(tail[-2].get("cut"))
        self.assertFalse(any(l.get("cut") for l in tail[:-2] + tail[-1:]))
        self.assertTrue(all(l["time"].endswith("Z") and l["ts"] > 0 for l in tail))
        self.assertEqual([l["ts"] for l in tail], sorted(l["ts"] for l in tail))
        # the container is gone (rolled back); its lines are in the record
        self.assertFalse(any(c[1] == str(d["id"]) for c in self.app_containers()))
        # in the deployment's log too, and the CLI shows them
        self.assertIn('"container_line":"tail-mark bye"', self.logs(d["id"]))
        r = self.cli("deployment", "show", str(d["id"]))
        self.assertEqual(r.returncode, 0, r)
        self.assertIn("container output (its last 200 lines)", r.stdout)
        self.assertIn("  | tail-mark line 300", r.stdout)
        self.assertIn("  | tail-mark bye", r.stderr)
        r = self.cli("logs", str(d["id"]))
        self.assertIn("  | tail-mark line 300\n", r.stdout)
        r = self.cli("deployment", "show", str(d["id"]), "--json")
        self.assertEqual(len(json.loads(r.stdout)["data"]["container_tail"]), 200)
        # never in berthd's or the runner's own log
        time.sleep(1)
        self.assertNotIn("tail-mark", self.b.log_text())
        with open(self.runner_log, errors="replace") as f:
            self.assertNotIn("tail-mark", f.read())
        # a deployment that did not fail has none (test_1's, rolled back to)
        if d["rolled_back_to"]:
            self.assertEqual(self.dep(d["rolled_back_to"])["container_tail"], [])


if __name__ == "__main__":
    unittest.main()
