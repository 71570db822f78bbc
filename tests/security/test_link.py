"""The runner link as a hostile runner host sees it (issue 12 items 4 and
16): a real berthd, and a runner played by a raw WebSocket client on plain
sockets (docs/protocol.md), so each test can send what berth-runner never
would.

- heartbeat counters at and past 2^63 (int64 overflow / undefined double
  cast in the rate arithmetic: berthd must survive, under UBSan too);
- a job.log chunk over 16 KiB: refused, link closed 1003 naming the field;
- chunks and results for a job that already finished: nothing stored, the
  answer is ack.done (a finished deployment's steps cannot be rewritten);
- one registration token on two links at once: exactly one gets welcome;
- another server's job ids: ignored, that job is untouched;
- ill-typed fields: refused.

And a hostile repository as the runner sees it (item 14), end to end with
the real berth-runner, a real git server and Docker: a Dockerfile or a
build context (or a parent of it) committed as a symbolic link leaving the
clone, towards the runner's own credential, fails the build with a clear
reason, and the credential shows up nowhere.
"""
import base64
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest

from harness import Berthd, BERTHD, docker_ok, git, wait_for
from rawrunner import Closed, RawRunner, register

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUNNER = os.environ.get("BERTH_RUNNER", os.path.join(os.path.dirname(BERTHD), "berth-runner"))

INT64_MAX = 2 ** 63 - 1


class Link(unittest.TestCase):
    def setUp(self):
        self.b = Berthd(env={"BERTH_HEARTBEAT_S": "5"}).start()
        self.tok = self.b.login()
        self.org = "/api/v1/orgs/%s" % self.b.org
        self.links = []

    def tearDown(self):
        for l in self.links:
            l.close()
        self.b.close()  # fails the test on a sanitizer report

    def api(self, method, path, body=None, headers=None):
        return self.b.request(method, self.org + path, token=self.tok, body=body,
                              headers=headers)

    def link(self, secret):
        l = RawRunner(self.b.port, secret)
        self.links.append(l)
        return l

    def add_server(self, name):
        r = self.api("POST", "/servers", {"name": name})
        self.assertEqual(r.status, 201, r)
        return r.json

    def register(self, name="raw-1"):
        """A server registered through a raw link: (server, live link)."""
        s = self.add_server(name)
        l = self.link(s["registration_token"])
        s["credential"] = register(l)
        return s, l

    def job_for(self, sid, name="s"):
        sc = self.api("POST", "/scripts", {"name": name, "body": "true"})
        self.assertEqual(sc.status, 201, sc)
        r = self.api("POST", "/scripts/%s/runs" % name, {"server": sid})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def job(self, jid):
        r = self.api("GET", "/jobs/%d" % jid)
        self.assertEqual(r.status, 200, r)
        return r.json

    def chunks(self, jid):
        r = self.api("GET", "/jobs/%d/logs" % jid, headers={"Accept": "application/x-ndjson"})
        self.assertEqual(r.status, 200, r)
        return [json.loads(x) for x in r.body.splitlines() if x.strip()]

    def alive(self):
        return self.b.proc.poll() is None and self.b.request("GET", "/healthz").status == 200

    # ---- item 4 ----

    def test_heartbeat_counters_past_int64(self):
        s, l = self.register()
        beats = [
            {"rx_v4": INT64_MAX, "tx_v4": INT64_MAX, "rx_v6": INT64_MAX, "tx_v6": INT64_MAX},
            {"rx_v4": 1e300, "tx_v4": 9.3e18, "rx_v6": -1e300, "tx_v6": -5},
            {"rx_v4": 0, "tx_v4": 0, "rx_v6": 0, "tx_v6": 0},          # decreasing
            {"rx_v4": INT64_MAX, "tx_v4": INT64_MAX, "rx_v6": INT64_MAX, "tx_v6": INT64_MAX},
            {"rx_v4": INT64_MAX, "tx_v4": 1, "rx_v6": INT64_MAX, "tx_v6": 1},
        ]
        for net in beats:
            l.send({"type": "heartbeat", "metrics": {
                "cpu_pct": 1e308, "mem_total": 1e300, "mem_used": INT64_MAX,
                "disk_total": -1, "disk_used": 9.3e18, "load1": 1e308, "load5": -1e308,
                "load15": 0, "net": net}})
            time.sleep(0.05)
        wait_for(lambda: self.api("GET", "/servers/%d" % s["id"]).json.get("metrics"), 5)
        self.assertTrue(self.alive(), self.b.log_text()[-3000:])
        r = self.api("GET", "/servers/%d" % s["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["metrics"]["net"]["rx_v4"], INT64_MAX)
        h = self.api("GET", "/servers/%d/metrics" % s["id"])
        self.assertEqual(h.status, 200, h)  # the history answers
        # a frame whose counter is not a number is refused, berthd lives on
        l.send({"type": "heartbeat", "metrics": {"net": {"rx_v4": "lots"}}})
        code, reason = l.expect_close()
        self.assertEqual(code, 1003)
        self.assertIn("rx_v4", reason)
        self.assertTrue(self.alive())

    # ---- item 16 ----

    def test_oversized_chunk_refused(self):
        s, l = self.register()
        jid = self.job_for(s["id"])
        j = l.expect("job")
        self.assertEqual(j["job"], str(jid))
        l.send({"type": "job.accepted", "job": j["job"]})
        l.send({"type": "job.log", "job": j["job"], "seq": 1, "stream": "stdout",
                "ts": 1, "data": "x" * 16384})  # exactly the cap: fine
        self.assertEqual(l.expect("ack")["seq"], 1)
        l.send({"type": "job.log", "job": j["job"], "seq": 2, "stream": "stdout",
                "ts": 1, "data": "y" * 16385})
        code, reason = l.expect_close()
        self.assertEqual(code, 1003)
        self.assertIn("16 KiB", reason)
        self.assertEqual([c["seq"] for c in self.chunks(jid)], [1])
        # berthd logs why it closed the link
        self.assertTrue(wait_for(lambda: "longer than 16 KiB" in self.b.log_text(), 5))

    def test_finished_job_cannot_be_rewritten(self):
        s, l = self.register()
        jid = self.job_for(s["id"])
        j = l.expect("job")["job"]
        l.run_job(j, "the real output\n")
        self.assertEqual(self.job(jid)["status"], "SUCCEEDED")
        # now try to rewrite it: new chunks, a replaced seq 1, another result
        l.send({"type": "job.log", "job": j, "seq": 2, "stream": "stdout", "ts": 2,
                "data": "forged\n"})
        self.assertEqual(l.expect("ack.done")["job"], j)
        l.send({"type": "job.log", "job": j, "seq": 1, "stream": "stderr", "ts": 2,
                "data": "forged\n"})
        l.expect("ack.done")
        l.send({"type": "job.done", "job": j, "last_seq": 2, "status": "FAILED",
                "exit_code": 9, "error": "forged"})
        l.expect("ack.done")
        got = self.job(jid)
        self.assertEqual(got["status"], "SUCCEEDED")
        self.assertEqual(got["exit_code"], 0)
        cs = self.chunks(jid)
        self.assertEqual([(c["seq"], c["data"]) for c in cs], [(1, "the real output\n")])
        # and again after a reconnect (the job state is loaded from the store)
        l.close()
        l2 = self.link(s["credential"])
        l2.hello([{"job": j, "last_seq": 3, "done": False}])
        w = l2.expect("welcome")
        self.assertEqual(w["jobs"], [{"job": j, "acked_seq": 1, "done_acked": True}])
        l2.send({"type": "job.log", "job": j, "seq": 3, "stream": "system", "ts": 3,
                 "data": "forged\n"})
        l2.expect("ack.done")
        self.assertEqual([c["seq"] for c in self.chunks(jid)], [1])

    def test_finished_deployment_steps_cannot_be_rewritten(self):
        s, l = self.register()
        r = self.api("POST", "/apps", {"name": "web", "server": "raw-1",
                                       "repo_url": "https://git.example.com/a/web.git",
                                       "container_port": 8080})
        self.assertEqual(r.status, 201, r)
        r = self.api("POST", "/apps/web/deployments", {})
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]
        j = l.expect("job", 15)
        self.assertEqual(j["kind"], "deploy")
        job = j["job"]
        l.send({"type": "job.accepted", "job": job})
        reports = [{"step": "clone", "status": "started"},
                   {"step": "clone", "status": "failed", "detail": "no such repository"}]
        for i, rep in enumerate(reports, 1):
            l.send({"type": "job.log", "job": job, "seq": i, "stream": "system", "ts": 1000 * i,
                    "data": json.dumps(rep) + "\n"})
            l.expect("ack")
        l.send({"type": "job.done", "job": job, "last_seq": 2, "status": "FAILED",
                "exit_code": 1, "error": "clone: no such repository"})
        l.expect("ack.done")
        d = wait_for(lambda: (lambda x: x if x["status"] == "FAILED" else None)(
            self.api("GET", "/deployments/%d" % did).json), 10)
        self.assertTrue(d, self.api("GET", "/deployments/%d" % did).json)
        before = d["steps"]
        for i, rep in enumerate([{"step": "clone", "status": "ok", "commit": "a" * 40},
                                 {"step": "cleanup", "status": "started", "serving": True}], 3):
            l.send({"type": "job.log", "job": job, "seq": i, "stream": "system", "ts": 9000,
                    "data": json.dumps(rep) + "\n"})
            l.expect("ack.done")
        l.send({"type": "job.done", "job": job, "last_seq": 4, "status": "SUCCEEDED",
                "exit_code": 0, "error": None})
        l.expect("ack.done")
        after = self.api("GET", "/deployments/%d" % did).json
        self.assertEqual(after["status"], "FAILED")
        self.assertEqual(after["steps"], before)
        self.assertNotEqual(after.get("commit"), "a" * 40)

    def test_one_registration_token_two_links(self):
        s = self.add_server("raw-1")
        a = self.link(s["registration_token"])
        b = self.link(s["registration_token"])
        self.assertEqual((a.status, b.status), (101, 101))  # both pass the upgrade
        a.hello()
        b.hello()
        outcomes = []
        for l in (a, b):
            try:
                m = l.recv(5)
                outcomes.append(m["type"])
            except Closed as e:
                outcomes.append((e.code, e.reason))
        self.assertEqual(sum(1 for o in outcomes if o == "register"), 1, outcomes)
        loser = [o for o in outcomes if o != "register"][0]
        self.assertEqual(loser[0], 1008, outcomes)
        self.assertIn("registration token already used", loser[1])
        win = a if outcomes[0] == "register" else b
        win.send({"type": "registered", "server_id": str(s["id"])})
        self.assertEqual(win.expect("welcome")["server_id"], str(s["id"]))
        # the spent token is refused at the upgrade from now on
        self.assertEqual(self.link(s["registration_token"]).status, 401)

    def test_registration_retry_after_a_lost_answer(self):
        """A runner that leaves before `registered` gives the token back
        (docs/protocol.md): a retry registers."""
        s = self.add_server("raw-1")
        a = self.link(s["registration_token"])
        a.hello()
        a.expect("register")
        a.close()
        def retry():
            l = self.link(s["registration_token"])
            return l if l.status == 101 else None
        b = wait_for(retry, 5)
        self.assertTrue(b)
        b.hello()
        reg = b.expect("register")
        b.send({"type": "registered", "server_id": reg["server_id"]})
        b.expect("welcome")

    def test_another_servers_job_is_out_of_reach(self):
        a, la = self.register("raw-a")
        b, lb = self.register("raw-b")
        jid = self.job_for(a["id"])
        ja = la.expect("job")["job"]
        # b reports on a's job: accepted, output, result; all ignored
        lb.send({"type": "job.accepted", "job": ja})
        lb.send({"type": "job.log", "job": ja, "seq": 1, "stream": "stdout", "ts": 1,
                 "data": "from b\n"})
        lb.send({"type": "job.done", "job": ja, "last_seq": 1, "status": "FAILED",
                 "exit_code": 3, "error": "from b"})
        lb.send({"type": "heartbeat"})
        time.sleep(0.5)
        self.assertEqual(self.job(jid)["status"], "PENDING")
        self.assertEqual(self.chunks(jid), [])
        # b asks about it in its hello: told to forget it, learns nothing
        lb.close()
        lb2 = self.link(b["credential"])
        lb2.hello([{"job": ja, "last_seq": 0, "done": False}])
        self.assertEqual(lb2.expect("welcome")["jobs"],
                         [{"job": ja, "acked_seq": 0, "done_acked": True}])
        # a runs it for real
        la.run_job(ja, "from a\n")
        self.assertEqual(self.job(jid)["status"], "SUCCEEDED")
        self.assertEqual([c["data"] for c in self.chunks(jid)], ["from a\n"])

    def test_ill_typed_fields_refused(self):
        s, _ = self.register()
        jid = self.job_for(s["id"])
        bad = [
            ({"type": "job.log", "job": jid, "seq": 1, "stream": "stdout", "ts": 1,
              "data": "x"}, "job"),                                   # integer job id
            ({"type": "job.log", "job": "../../x", "seq": 1, "stream": "stdout", "ts": 1,
              "data": "x"}, "job"),
            ({"type": "job.log", "job": str(jid), "seq": 2 ** 62, "stream": "stdout",
              "ts": 1, "data": "x"}, "seq"),
            ({"type": "job.log", "job": str(jid), "seq": 1, "stream": "stdout",
              "ts": -1, "data": "x"}, "ts"),
            ({"type": "job.done", "job": str(jid), "last_seq": 0, "status": "SUCCEEDED",
              "exit_code": 2 ** 40, "error": None}, "exit_code"),
            ({"type": "job.done", "job": str(jid), "last_seq": 0, "status": "MAYBE",
              "exit_code": 0}, "status"),
            ({"type": "precheck", "ok": "yes", "checks": []}, "ok"),
            ({"type": "fingerprint", "os": "x" * (70 * 1024)}, "64 KiB"),
            ({"type": "heartbeat", "metrics": [1]}, "metrics"),
        ]
        for msg, field in bad:
            l = self.link(s["credential"])
            l.hello()
            l.expect("welcome")
            l.send(msg)
            got = l.expect_close()
            self.assertIsNotNone(got, msg)
            self.assertEqual(got[0], 1003, (msg, got))
            self.assertIn(field, got[1], msg)
        self.assertEqual(self.job(jid)["status"], "PENDING")
        self.assertEqual(self.chunks(jid), [])
        self.assertTrue(self.alive())


def docker(*args):
    return subprocess.run(["docker"] + list(args), capture_output=True, text=True)


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
@unittest.skipUnless(shutil.which("docker") and docker_ok(), "no Docker engine")
class HostileRepository(unittest.TestCase):
    """One berthd + runner + git server; each test pushes a repository
    that points its build outside the clone."""

    @classmethod
    def setUpClass(cls):
        from test_deploy import GitServer  # tests/integration (PYTHONPATH)
        subprocess.run([os.path.join(ROOT, "scripts", "test-fixtures.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.tmp = tempfile.mkdtemp(prefix="berth-sec-repo-")
        os.chmod(cls.tmp, 0o700)
        cls.state = os.path.join(cls.tmp, "state")
        cls.git = GitServer(os.path.join(cls.tmp, "git"))
        cls.b = Berthd(env={"BERTH_HEARTBEAT_S": "1"}).start()
        cls.tok = cls.b.login()
        cls.org = "/api/v1/orgs/%s" % cls.b.org
        r = cls.api("POST", "/servers", {"name": "web-1"})
        assert r.status == 201, r
        sid = r.json["id"]
        env = dict(os.environ, BERTH_RUNNER_TOKEN=r.json["registration_token"])
        cls.runner_log = os.path.join(cls.tmp, "runner.log")
        with open(cls.runner_log, "ab") as log:
            cls.runner = subprocess.Popen(
                [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % cls.b.port, "--state-dir",
                 cls.state, "--min-free-disk", "0", "--edge-bind", "127.0.0.1",
                 "--heartbeat", "1"], env=env, stdout=log, stderr=log)
        if not wait_for(lambda: cls.api("GET", "/servers/%d" % sid).json["status"] == "ACTIVE",
                        20):
            raise RuntimeError("runner not ACTIVE: " + cls.b.log_text()[-2000:])
        with open(os.path.join(cls.state, "credential")) as f:
            cls.cred = f.read().strip()
        assert cls.cred.startswith("brc_")
        cls.images = []

    @classmethod
    def tearDownClass(cls):
        if cls.runner.poll() is None:
            cls.runner.send_signal(signal.SIGTERM)
            try:
                cls.runner.wait(15)
            except subprocess.TimeoutExpired:
                cls.runner.kill()
                cls.runner.wait()
        for img in cls.images:
            docker("rmi", "-f", img)
        cls.git.close()
        cls.b.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def api(cls, method, path, body=None):
        return cls.b.request(method, cls.org + path, token=cls.tok, body=body)

    def repo(self, name, files, links):
        """A repository on the git server with files {path: text} and
        symbolic links {path: target}."""
        work = os.path.join(self.tmp, "work-" + name)
        os.makedirs(work)
        for path, text in files.items():
            os.makedirs(os.path.dirname(os.path.join(work, path)), exist_ok=True)
            with open(os.path.join(work, path), "w") as f:
                f.write(text)
        for path, target in links.items():
            os.makedirs(os.path.dirname(os.path.join(work, path)), exist_ok=True)
            os.symlink(target, os.path.join(work, path))
        git("init", "-q", "-b", "main", work)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "hostile", cwd=work)
        bare = os.path.join(self.git.root, "repos", name + ".git")
        git("clone", "-q", "--bare", work, bare)
        return self.git.url(name + ".git")

    def deploy(self, name, url, **app):
        r = self.api("POST", "/apps", dict({"name": name, "server": "web-1", "repo_url": url,
                                            "container_port": 8080}, **app))
        self.assertEqual(r.status, 201, r)
        r = self.api("POST", "/apps/%s/deployments" % name, {})
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]
        d = wait_for(lambda: (lambda x: x if x["status"] in ("SUCCEEDED", "FAILED") else None)(
            self.api("GET", "/deployments/%d" % did).json), 120, 0.3)
        self.assertTrue(d, self.api("GET", "/deployments/%d" % did).json)
        if d.get("image"):
            self.images.append(d["image"])
        return d

    def assert_nowhere(self, d):
        """The credential is in no answer, no log, no image."""
        did = d["id"]
        texts = [json.dumps(d), self.api("GET", "/deployments/%d/logs" % did).body,
                 self.b.log_text()]
        if d.get("job"):
            texts.append(self.api("GET", "/jobs/%d/logs" % d["job"]).body)
        with open(self.runner_log, "rb") as f:
            texts.append(f.read().decode("utf-8", "replace"))
        for t in texts:
            self.assertNotIn(self.cred, t)
            self.assertNotIn(self.cred.upper(), t)
        if d.get("image"):
            self.assertNotEqual(docker("image", "inspect", d["image"]).returncode, 0,
                                "an image was built")

    def assert_refused(self, d, what):
        self.assertEqual(d["status"], "FAILED", d)
        self.assertEqual(d["failed_step"], "build", d)
        self.assertIn(what, d["reason"])
        self.assertIn("symbolic link leaving the repository", d["reason"])
        self.assertNotIn(self.state, d["reason"])  # says which name, not where it points
        self.assert_nowhere(d)

    def test_dockerfile_is_a_link_to_the_credential(self):
        url = self.repo("df-abs", {"www/index.html": "hi\n"},
                        {"Dockerfile": os.path.join(self.state, "credential")})
        self.assert_refused(self.deploy("df-abs", url), 'dockerfile "./Dockerfile"')

    def test_dockerfile_relative_link_out(self):
        # the clone sits at STATE/work/JOB.src: climb out to STATE/credential
        url = self.repo("df-rel", {"www/index.html": "hi\n"},
                        {"build/Dockerfile": "../../../credential"})
        self.assert_refused(self.deploy("df-rel", url, dockerfile="build/Dockerfile"),
                            'dockerfile "build/Dockerfile"')

    def test_context_is_a_link_to_the_state_dir(self):
        dockerfile = ("FROM berth-fixture-base\nCOPY credential /c\n"
                      'RUN ["/bin/cat", "/c"]\n')
        url = self.repo("ctx", {"Dockerfile": dockerfile}, {"ctx": self.state})
        self.assert_refused(self.deploy("ctx", url, context="ctx"), 'context "ctx"')

    def test_context_parent_is_a_link(self):
        dockerfile = ("FROM berth-fixture-base\nCOPY credential /c\n"
                      'RUN ["/bin/cat", "/c"]\n')
        url = self.repo("ctxp", {"Dockerfile": dockerfile},
                        {"up": os.path.dirname(self.state)})
        self.assert_refused(self.deploy("ctxp", url, context="up/state"),
                            'context "up/state"')


if __name__ == "__main__":
    unittest.main()
