"""Application logs across a real redeploy (docs/app-logs.md): a real
berthd, berth-runner, git server, Docker engine and HAProxy, the app
deployed through the pipeline (test_deploy.py's fixture and helpers).

The app prints a numbered tick every 0.2 s beside its HTTP server. After
a second deployment replaced the first container (stopped and removed by
the cleanup step), the first container's lines still come back, in
order, before the second's with since; a word only the first deployment
printed is found with q; deployment= picks one container's lines; the
CLI reads the same.
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
RUN ["/bin/chmod", "755", "/www/cgi-bin/slow"]
ENV VER=%s
EXPOSE 8080
CMD ["/bin/sh", "-c", "trap 'exit 0' TERM; httpd -f -p 8080 -h /www & echo \\"$VER starting needle-$VER\\"; i=0; while :; do i=$((i+1)); echo \\"$VER tick $i\\"; sleep 0.2; done"]
"""


@unittest.skipUnless(docker_ok(), "needs Docker")
class AppLogsDeploy(unittest.TestCase):
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

    def commit(self, version):
        with open(os.path.join(self.work, "www", "version"), "w") as f:
            f.write(version + "\n")
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

    def deploy(self, version):
        did = self.start_deploy(self.commit(version))
        d = self.wait_end(did)
        self.assertEqual(d["status"], "SUCCEEDED", "%s\n%s" % (d, self.logs(did)[-3000:]))
        return did

    def app_logs(self, query=""):
        r = self.api("GET", "/apps/web/logs" + query)
        self.assertEqual(r.status, 200, r)
        body = r.body if isinstance(r.body, str) else r.body.decode()
        return body.splitlines()

    def test_redeploy_keeps_the_older_lines(self):
        t0 = time.time() - 1
        d1 = self.deploy("v1")
        self.assertTrue(wait_for(lambda: "v1 tick 5" in self.app_logs("?q=v1"), 20))
        d2 = self.deploy("v2")
        self.assertTrue(wait_for(lambda: "v2 tick 5" in self.app_logs("?q=v2"), 20))
        # the first container is gone from Docker (cleanup), its lines are not
        names = [c[0] for c in self.app_containers()]
        self.assertFalse(any(n.endswith("-%d" % d1) for n in names), names)
        lines = self.app_logs("?since=%d" % int(t0))
        v1 = [int(l.split()[2]) for l in lines if l.startswith("v1 tick ")]
        v2 = [int(l.split()[2]) for l in lines if l.startswith("v2 tick ")]
        self.assertEqual(v1, list(range(1, len(v1) + 1)), lines[:50])
        self.assertEqual(v2, list(range(1, len(v2) + 1)))
        self.assertGreater(len(v1), 5)
        self.assertLess(lines.index("v1 tick 1"), lines.index("v2 tick 1"))
        self.assertEqual(self.app_logs("?q=needle-v1"), ["v1 starting needle-v1"])
        only1 = self.app_logs("?deployment=%d" % d1)
        self.assertTrue(only1 and all(l.startswith("v1 ") for l in only1), only1[-5:])
        # the CLI reads the same
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env.update(HOME=self.tmp, BERTH_CONFIG=os.path.join(self.tmp, "c.json"),
                   BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org)
        r = subprocess.run([BERTH, "app", "logs", "web", "--grep", "needle", "--json"],
                           capture_output=True, text=True, env=env, timeout=30)
        self.assertEqual(r.returncode, 0, r)
        items = json.loads(r.stdout)["data"]["items"]
        self.assertEqual([(i["text"], i["deployment"]) for i in items],
                         [("v1 starting needle-v1", d1), ("v2 starting needle-v2", d2)])


if __name__ == "__main__":
    unittest.main()
