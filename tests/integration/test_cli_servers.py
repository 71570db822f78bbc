"""The berth CLI's server, script, job, status and doctor commands against a
real berthd, and (when berth-runner is built) against a real berth-runner:
a script runs through `berth script run --follow`, its output streams back
and berth exits with the script's exit code.

Run: BERTHD=build-cli2/berthd BERTH=build-cli2/berth /usr/bin/python3 -m unittest -v \
         test_cli_servers          (from tests/integration)
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BERTHD, Berthd, free_port, wait_for  # noqa: E402
from test_cli import CliCase  # noqa: E402  (helpers only; it has no tests)

RUNNER = os.environ.get("BERTH_RUNNER", os.path.join(os.path.dirname(BERTHD), "berth-runner"))

NEW_COMMANDS = [["server", "add"], ["server", "list"], ["server", "show"],
                ["server", "decommission"], ["server", "remove"], ["server", "token"],
                ["server", "metrics"], ["script", "list"], ["script", "show"],
                ["script", "create"], ["script", "update"], ["script", "delete"],
                ["script", "run"], ["job", "show"], ["job", "logs"], ["status"], ["doctor"]]



class ServersCase(CliCase):
    """CliCase with a berthd of its own per test (server counts start at 0)
    that asks runners for 1 s heartbeats; logged in."""

    @classmethod
    def setUpClass(cls):
        pass

    @classmethod
    def tearDownClass(cls):
        pass

    def setUp(self):
        super().setUp()
        self.d = Berthd(env={"BERTH_HEARTBEAT_S": "1"}).start()
        self.addCleanup(self.d.close)
        self.login()


class TestServerCommands(ServersCase):
    def test_help_everywhere(self):
        for cmd in NEW_COMMANDS:
            r = self.berth(*cmd, "--help")
            self.assertEqual(r.rc, 0, (cmd, r))
            self.assertIn("usage: berth " + " ".join(cmd), r.out)
            data = self.ok(*cmd, "--help")
            self.assertIn("usage: berth", data["usage"])
        for group in ("server", "script", "job"):
            self.assertEqual(self.berth(group, "--help").rc, 0)

    def test_usage_errors(self):
        self.fails(2, "server", "add")
        self.fails(2, "server", "show")
        self.fails(2, "server", "list", "--follow")
        self.fails(2, "script", "run", "x")                  # no --server
        self.fails(2, "script", "run", "x", "--server", "s", "--timeout", "0")
        self.fails(2, "script", "update", "x")               # nothing to change
        self.fails(2, "job", "show", "abc")
        self.fails(2, "server", "add", "a", "--expires-in", "soon")
        e = self.fails(2, "server", "add", "a", "--token", "brg_x")
        self.assertIn("never takes secrets", e["message"])

    def test_server_lifecycle(self):
        r = self.berth("server", "add", "web-1")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("brg_", r.out)
        self.assertIn("install.sh | sh -s -- --token brg_", r.out)
        s = self.ok("server", "add", "web-2", "--expires-in", "120")
        self.assertTrue(s["registration_token"].startswith("brg_"))
        self.assertIn(s["registration_token"], s["install_command"])
        self.assertEqual(s["status"], "PROVISIONING")
        self.fails(5, "server", "add", "web-2")              # exists
        self.fails(2, "server", "add", "bad name")           # berthd's 422
        items = self.ok("server", "list")["items"]
        self.assertEqual([i["name"] for i in items], ["web-1", "web-2"])
        for i in items:                                      # never a credential in a list
            self.assertNotIn("registration_token", i)
        r = self.berth("server", "list")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("PROVISIONING", r.out)
        self.assertNotIn("brg_", r.out)
        got = self.ok("server", "show", "web-2")
        self.assertEqual(got["id"], s["id"])
        for k in ("metrics", "fingerprint", "precheck", "registered", "connected"):
            self.assertIn(k, got)
        self.assertNotIn("registration_token", got)
        r = self.berth("server", "show", str(s["id"]))
        self.assertEqual(r.rc, 0, r)
        self.assertIn("status      PROVISIONING", r.out)
        self.assertIn("precheck: none yet", r.out)
        self.fails(4, "server", "show", "nope")
        # a new registration token
        t = self.ok("server", "token", "web-2", "--expires-in", "60")
        self.assertTrue(t["registration_token"].startswith("brg_"))
        self.assertNotEqual(t["registration_token"], s["registration_token"])
        self.assertEqual(t["server_id"], s["id"])
        m = self.ok("server", "metrics", "web-2", "--since", "10m")
        self.assertIsNone(m["latest"])
        self.assertEqual(m["points"], [])
        self.assertEqual(self.berth("server", "metrics", "web-2").rc, 0)
        # remove refuses a live server: 409, exit 5
        e = self.fails(5, "server", "remove", "web-2", "--yes")
        self.assertEqual(e["code"], "not_decommissioned")
        # destructive without --yes on a pipe: exit 2, nothing done
        self.fails(2, "server", "decommission", "web-2")
        self.assertEqual(self.ok("server", "show", "web-2")["status"], "PROVISIONING")
        d = self.ok("server", "decommission", "web-2", "--yes")
        self.assertEqual(d["status"], "DECOMMISSIONED")
        self.fails(5, "server", "decommission", "web-2", "--yes")
        self.fails(5, "server", "token", "web-2")
        r = self.berth("server", "remove", "web-2", "--yes")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("Removed server web-2", r.out)
        self.fails(4, "server", "show", "web-2")
        d = self.ok("server", "decommission", "web-1", "--yes")
        gone = self.ok("server", "remove", str(d["id"]), "--yes")
        self.assertEqual(gone, {"server": str(d["id"]), "removed": True})
        self.assertEqual(self.ok("server", "list")["items"], [])

    def test_dry_run_sends_nothing(self):
        d = self.ok("server", "add", "dry", "--expires-in", "60", "--dry-run")
        self.assertTrue(d["dry_run"])
        self.assertEqual(d["request"]["method"], "POST")
        self.assertTrue(d["request"]["url"].endswith("/api/v1/orgs/default/servers"))
        self.assertEqual(d["request"]["body"], {"name": "dry", "expires_in": 60})
        self.fails(4, "server", "show", "dry")
        self.ok("server", "add", "dry2")
        d = self.ok("server", "decommission", "dry2", "--dry-run")
        self.assertTrue(d["request"]["url"].endswith("/servers/dry2/decommission"))
        self.assertEqual(self.ok("server", "show", "dry2")["status"], "PROVISIONING")
        d = self.ok("server", "remove", "dry2", "--dry-run")
        self.assertEqual(d["request"]["method"], "DELETE")
        d = self.ok("script", "create", "s", "--dry-run", stdin="echo hi\n")
        self.assertEqual(d["request"]["body"], {"name": "s", "body": "echo hi\n"})
        d = self.ok("script", "run", "s", "--server", "dry2", "--timeout", "5", "--dry-run")
        self.assertEqual(d["request"]["body"], {"server": "dry2", "timeout_s": 5})
        self.assertEqual(self.ok("script", "list")["items"], [])
        r = self.berth("server", "token", "dry2", "--dry-run")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("dry run: would send POST", r.out)
        self.assertNotIn("brg_", r.out)

    def test_scripts(self):
        path = os.path.join(self.tmp.name, "hello.sh")
        with open(path, "w") as f:
            f.write("#!/bin/sh\necho hello\n")
        s = self.ok("script", "create", "hello", "--file", path)
        self.assertEqual(s["body"], "#!/bin/sh\necho hello\n")
        r = self.berth("script", "create", "piped", stdin="echo piped\n")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("Saved script piped", r.out)
        self.fails(5, "script", "create", "hello", stdin="x")
        self.fails(2, "script", "create", "nofile", "--file", path + ".missing")
        items = self.ok("script", "list")["items"]
        self.assertEqual(sorted(i["name"] for i in items), ["hello", "piped"])
        self.assertNotIn("body", items[0])
        r = self.berth("script", "show", "hello")
        self.assertEqual(r.out, "#!/bin/sh\necho hello\n")
        u = self.ok("script", "update", "piped", "--file", "-", stdin="echo two\n")
        self.assertEqual(u["body"], "echo two\n")
        u = self.ok("script", "update", "piped", "--name", "renamed")
        self.assertEqual((u["name"], u["body"]), ("renamed", "echo two\n"))
        self.fails(4, "script", "show", "piped")
        self.fails(2, "script", "delete", "renamed")         # no --yes on a pipe
        self.assertEqual(self.ok("script", "delete", "renamed", "--yes"),
                         {"script": "renamed", "deleted": True})
        self.fails(4, "script", "delete", "renamed", "--yes")
        # running needs an ACTIVE server
        self.ok("server", "add", "idle")
        e = self.fails(5, "script", "run", "hello", "--server", "idle")
        self.assertEqual(e["code"], "server_not_active")
        self.fails(4, "script", "run", "hello", "--server", "nowhere")
        self.fails(4, "job", "show", "999")
        self.fails(4, "job", "logs", "999")

    def test_status_and_doctor(self):
        st = self.ok("status")
        self.assertEqual(st["totals"], {"total": 0, "active": 0, "unreachable": 0,
                                        "provisioning": 0, "decommissioned": 0})
        self.assertTrue(st["berthd"]["reachable"])
        self.assertGreater(st["berthd"]["healthz_ms"], 0)
        self.assertGreater(st["berthd"]["api_ms"], 0)
        # no servers: ready, with a warning
        doc = self.ok("doctor")
        self.assertTrue(doc["ready"])
        self.assertTrue(doc["warnings"])
        self.ok("server", "add", "p-1")
        self.ok("server", "add", "gone")
        self.ok("server", "decommission", "gone", "--yes")
        st = self.ok("status")
        self.assertEqual(st["totals"], {"total": 2, "active": 0, "unreachable": 0,
                                        "provisioning": 1, "decommissioned": 1})
        r = self.berth("status")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("PROVISIONING", r.out)
        self.assertIn("DECOMMISSIONED", r.out)
        # a PROVISIONING server is not ready: exit 1, the document says why
        r = self.berth("doctor", "--json")
        self.assertEqual(r.rc, 1, r)
        doc = r.doc
        self.assertTrue(doc["ok"])
        data = doc["data"]
        self.assertFalse(data["ready"])
        self.assertEqual([s["name"] for s in data["servers"]], ["p-1"])
        checks = {c["name"]: c for c in data["servers"][0]["checks"]}
        self.assertFalse(checks["status"]["ok"])
        self.assertFalse(checks["connected"]["ok"])
        self.assertFalse(checks["precheck"]["ok"])
        self.assertTrue(any(p.startswith("p-1: status") for p in data["problems"]))
        r = self.berth("doctor")
        self.assertEqual(r.rc, 1, r)
        self.assertIn("NOT READY", r.out)
        self.assertIn("p-1", r.out)
        # berthd down: status fails (exit 1), doctor reports it (exit 1)
        url = "http://127.0.0.1:%d" % free_port()
        e = self.fails(1, "status", "--url", url)
        self.assertEqual(e["code"], "unreachable")
        r = self.berth("doctor", "--json", "--url", url)
        self.assertEqual(r.rc, 1, r)
        self.assertFalse(r.doc["data"]["berthd"]["reachable"])
        self.assertIn(url, r.doc["data"]["problems"][0])
        # not logged in: exit 3
        self.fails(3, "status", BERTH_TOKEN=None, BERTH_CONFIG=os.path.join(self.tmp.name, "x"),
                   BERTH_ORG="default")


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
class TestWithRunner(ServersCase):
    def setUp(self):
        super().setUp()
        self.state = tempfile.TemporaryDirectory(prefix="berth-runner-")
        self.runners = []

    def tearDown(self):
        for p in self.runners:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.state.cleanup()
        super().tearDown()

    def start_runner(self, token):
        env = dict(os.environ, BERTH_RUNNER_TOKEN=token)
        log = open(os.path.join(self.tmp.name, "runner.log"), "ab")
        p = subprocess.Popen([RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % self.d.port,
                              "--state-dir", self.state.name, "--min-free-disk", "0"],
                             env=env, stdout=log, stderr=log)
        log.close()
        self.runners.append(p)
        return p

    def runner_log(self):
        with open(os.path.join(self.tmp.name, "runner.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")[-3000:]

    def register(self, name):
        s = self.ok("server", "add", name)
        p = self.start_runner(s["registration_token"])
        ok = wait_for(lambda: self.ok("server", "show", name)["status"] == "ACTIVE", 15)
        self.assertTrue(ok, self.runner_log())
        return s, p

    def test_script_run_follow_and_fleet_checks(self):
        s, p = self.register("run-1")
        body = ("for i in 1 2 3; do echo out $i; sleep 0.1; done\n"
                "echo err line >&2\n"
                "exit ${CODE:-0}\n")
        self.ok("script", "create", "count", stdin=body)
        self.ok("script", "create", "fail7", stdin="echo before; echo bad >&2; exit 7\n")
        self.ok("script", "create", "big", stdin="exit 200\n")
        # succeeded: exit 0, stdout on stdout, stderr on stderr
        r = self.berth("script", "run", "count", "--server", "run-1", "--follow")
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, "out 1\nout 2\nout 3\n")
        self.assertIn("err line\n", r.err)
        self.assertIn("job ", r.err)
        # failed: the script's exit code
        r = self.berth("script", "run", "fail7", "--server", str(s["id"]), "--follow")
        self.assertEqual(r.rc, 7, r)
        self.assertEqual(r.out, "before\n")
        self.assertIn("bad\n", r.err)
        self.assertIn("FAILED (exit code 7)", r.err)
        # capped to 125
        r = self.berth("script", "run", "big", "--server", "run-1", "--follow")
        self.assertEqual(r.rc, 125, r)
        # --json --follow: one document, the job with its output
        r = self.berth("script", "run", "fail7", "--server", "run-1", "--follow", "--json")
        self.assertEqual(r.rc, 7, r)
        job = r.doc["data"]
        self.assertEqual((job["status"], job["exit_code"]), ("FAILED", 7))
        self.assertEqual(job["stdout"], "before\n")
        self.assertEqual(job["stderr"], "bad\n")
        # without --follow: the job id, then job show / job logs
        r = self.berth("script", "run", "fail7", "--server", "run-1")
        self.assertEqual(r.rc, 0, r)
        jid = int(r.out.strip())
        done = wait_for(lambda: self.ok("job", "show", str(jid))["status"] == "FAILED", 15)
        self.assertTrue(done)
        r = self.berth("job", "logs", str(jid))
        self.assertEqual(r.rc, 0, r)
        self.assertEqual(r.out, "before\n")
        self.assertIn("bad", r.err)
        logs = self.ok("job", "logs", str(jid))
        self.assertEqual(logs["job"], jid)
        self.assertEqual([i["seq"] for i in logs["items"]],
                         list(range(1, len(logs["items"]) + 1)))
        self.assertEqual(self.ok("job", "logs", str(jid), "--follow")["items"], logs["items"])
        r = self.berth("job", "show", str(jid))
        self.assertIn("exit_code    7", r.out)
        # job logs --follow on a running job streams until it ends
        self.ok("script", "create", "slow", stdin="echo a; sleep 1; echo b\n")
        jid = self.ok("script", "run", "slow", "--server", "run-1")["id"]
        r = self.berth("job", "logs", str(jid), "--follow")
        self.assertEqual((r.rc, r.out), (0, "a\nb\n"), r)
        # fleet: ready
        st = self.ok("status")
        self.assertEqual(st["totals"]["active"], 1)
        r = self.berth("doctor", "--json")
        self.assertEqual(r.rc, 0, r)
        data = r.doc["data"]
        self.assertTrue(data["ready"], data)
        srv = data["servers"][0]
        self.assertTrue(srv["ready"])
        names = [c["name"] for c in srv["checks"]]
        self.assertIn("heartbeat", names)
        self.assertTrue(any(n.startswith("precheck:") for n in names), names)
        self.assertLessEqual(srv["last_seen_age_s"], 5)
        self.assertIsNotNone(srv["heartbeat_age_s"])
        r = self.berth("doctor")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("ready", r.out)
        m = self.ok("server", "metrics", "run-1")
        self.assertIsNotNone(m["latest"])
        self.assertTrue(m["points"])
        self.assertEqual(self.berth("server", "metrics", "run-1").rc, 0)
        r = self.berth("server", "show", "run-1")
        self.assertIn("precheck: passed", r.out)
        self.assertIn("fingerprint:", r.out)
        # the runner dies: not ready any more
        p.kill()
        p.wait()
        self.assertTrue(wait_for(lambda: self.ok("server", "show", "run-1")["status"]
                                 == "UNREACHABLE", 5))
        r = self.berth("doctor", "--json")
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(self.ok("status")["totals"]["unreachable"], 1)
        e = self.fails(5, "script", "run", "count", "--server", "run-1", "--follow")
        self.assertEqual(e["code"], "server_not_active")


if __name__ == "__main__":
    unittest.main()
