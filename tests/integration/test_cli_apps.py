"""The berth CLI's application, env and deployment commands against a real
berthd (and, where a server must be ACTIVE, the real berth-runner): exit
codes, the one JSON document under --json, what people see, and that an
env value given on stdin appears nowhere in the CLI's output or in
berthd's log.

The runner may not run `deploy` jobs yet: a deployment then ends FAILED
with the runner's "unsupported job kind" as its reason (no failed step).
If it does run them, the fake repository fails the clone step instead.
Either way `berth deploy --follow` must exit 1 and say why.

Run: BERTHD=build-cli3/berthd BERTH=build-cli3/berth /usr/bin/python3 -m unittest -v \\
         tests/integration/test_cli_apps.py        (from the repository root)
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
from harness import BERTH, BERTHD, Berthd, wait_for  # noqa: E402
from test_apps import Peer  # noqa: E402  (a runner-protocol peer)

RUNNER = os.environ.get("BERTH_RUNNER", os.path.join(os.path.dirname(BERTHD), "berth-runner"))
SECRET = "cli-s3cr3t-9d41b7e0-never-shown"
# Refused at once: a runner that runs deploy jobs fails its clone step fast.
REPO = "http://127.0.0.1:1/acme/web.git"
SCRUB = ("BERTH_URL", "BERTH_TOKEN", "BERTH_ORG", "BERTH_CACERT", "BERTH_CONFIG",
         "BERTH_PASSWORD", "BERTH_EMAIL", "BERTH_INVITE_TOKEN", "BERTH_ENV_VALUE",
         "XDG_CONFIG_HOME")



class Result:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    @property
    def doc(self):
        lines = self.out.strip().split("\n")
        assert len(lines) == 1, "expected one JSON line, got %r" % self.out
        return json.loads(lines[0])

    def __repr__(self):
        return "<rc=%d out=%r err=%r>" % (self.rc, self.out[:600], self.err[:600])


class Base(unittest.TestCase):
    env = {}

    def setUp(self):
        self.b = Berthd(env=self.env).start()
        self.tok = self.b.login()
        self.org = "/api/v1/orgs/%s" % self.b.org
        self.tmp = tempfile.TemporaryDirectory(prefix="berth-cli-apps-")
        self.outputs = []  # everything the CLI printed, to look for the secret in

    def tearDown(self):
        self.b.close()
        self.tmp.cleanup()

    def cli_env(self, **extra):
        e = {k: v for k, v in os.environ.items() if k not in SCRUB}
        e.update(HOME=self.tmp.name, BERTH_CONFIG=os.path.join(self.tmp.name, "config.json"),
                 BERTH_URL=self.b.url, BERTH_TOKEN=self.tok, BERTH_ORG=self.b.org)
        e.update(extra)
        return e

    def berth(self, *args, stdin="", timeout=60, **env):
        p = subprocess.run([BERTH] + list(args), input=stdin, capture_output=True, text=True,
                           env=self.cli_env(**env), timeout=timeout)
        self.outputs += [p.stdout, p.stderr]
        return Result(p.returncode, p.stdout, p.stderr)

    def ok(self, *args, **kw):
        r = self.berth(*args, **kw)
        self.assertEqual(r.rc, 0, r)
        return r

    def jok(self, *args, **kw):
        """Runs with --json; returns data of an ok document."""
        r = self.ok(*(list(args) + ["--json"]), **kw)
        d = r.doc
        self.assertTrue(d["ok"], r)
        return d["data"]

    def fails(self, rc, code, *args, **kw):
        """Runs with --json; expects exit rc and error code (None: any)."""
        r = self.berth(*(list(args) + ["--json"]), **kw)
        self.assertEqual(r.rc, rc, r)
        d = r.doc
        self.assertFalse(d["ok"], r)
        if code:
            self.assertEqual(d["error"]["code"], code, r)
        return d["error"]

    def api(self, method, path, body=None):
        return self.b.request(method, self.org + path, token=self.tok, body=body)

    def add_server(self, name="web-1"):
        r = self.api("POST", "/servers", {"name": name})
        self.assertEqual(r.status, 201, r)
        return r.json

    def create_app(self, name="web", *extra):
        return self.jok("app", "create", name, "--server", "web-1", "--repo", REPO, "--port",
                        "8080", *extra)

    def assert_no_secret(self):
        for text in self.outputs:
            self.assertNotIn(SECRET, text)
        self.assertNotIn(SECRET, self.b.log_text())


class Apps(Base):
    def test_create_list_show_set_delete(self):
        s = self.add_server()
        # dry run: the request is shown, nothing is created
        d = self.jok("app", "create", "web", "--server", "web-1", "--repo", REPO, "--port",
                     "8080", "--dry-run")
        self.assertEqual(d["request"]["method"], "POST")
        self.assertEqual(d["request"]["body"]["container_port"], 8080)
        self.assertEqual(self.api("GET", "/apps").json["items"], [])
        # required options are checked before anything is sent
        self.assertIn("--repo", self.fails(2, "usage", "app", "create", "web", "--server",
                                           "web-1", "--port", "80")["message"])
        self.assertIn("--port", self.fails(2, "usage", "app", "create", "web", "--server",
                                           "web-1", "--repo", REPO)["message"])
        self.fails(2, "usage", "app", "create", "web", "--server", "web-1", "--repo", REPO,
                   "--port", "eighty")
        self.fails(2, "usage", "app", "create", "web", "--server", "web-1", "--repo", REPO,
                   "--port", "80", "--memory", "lots")
        # berthd's own rules: 422 -> exit 2 naming the field
        e = self.fails(2, "invalid_field", "app", "create", "web", "--server", "web-1",
                       "--repo", REPO, "--port", "0")
        self.assertIn("container_port", e["message"])
        self.fails(4, "not_found", "app", "create", "web", "--server", "nope", "--repo", REPO,
                   "--port", "80")
        # every option
        a = self.create_app("web", "--branch", "release", "--dockerfile", "docker/Dockerfile",
                            "--context", "app", "--health-path", "/healthz", "--public-port",
                            "80", "--domain", "web.example.com", "--domain", "WWW.example.com",
                            "--auto-deploy", "--memory", "256m", "--cpus", "0.5",
                            "--keep-images", "3", "--drain-seconds", "10")
        self.assertEqual((a["name"], a["server_id"], a["repo_url"]), ("web", s["id"], REPO))
        self.assertEqual((a["branch"], a["dockerfile"], a["context"], a["health_path"]),
                         ("release", "docker/Dockerfile", "app", "/healthz"))
        self.assertEqual((a["container_port"], a["public_port"]), (8080, 80))
        self.assertEqual(a["domains"], ["web.example.com", "www.example.com"])
        self.assertEqual((a["auto_deploy"], a["memory"], a["cpus"]),
                         (True, 256 * 1024 * 1024, 0.5))
        self.assertEqual((a["keep_images"], a["drain_seconds"]), (3, 10))
        # taken name -> 5
        self.fails(5, "conflict", "app", "create", "web", "--server", "web-1", "--repo", REPO,
                   "--port", "80")
        # defaults
        b = self.create_app("api")
        self.assertEqual((b["branch"], b["dockerfile"], b["context"], b["public_port"],
                          b["memory"], b["domains"], b["auto_deploy"]),
                         ("main", "./Dockerfile", ".", None, None, [], False))
        # list: JSON and the table
        self.assertEqual([x["name"] for x in self.jok("app", "list")["items"]], ["api", "web"])
        out = self.ok("app", "list").out
        self.assertIn("NAME", out)
        self.assertIn("web-1", out)
        self.assertIn(REPO, out)
        # show by name and by id; unknown -> 4
        self.assertEqual(self.jok("app", "show", str(a["id"]))["name"], "web")
        out = self.ok("app", "show", "web").out
        for text in ("web (id %d)" % a["id"], "web-1", "release", "256 MiB", "0.5",
                     "web.example.com, www.example.com", "current       none"):
            self.assertIn(text, out)
        self.fails(4, "not_found", "app", "show", "nope")
        # set: only what is given goes into the PATCH
        d = self.jok("app", "set", "web", "--branch", "main", "--public-port", "none",
                     "--no-auto-deploy", "--dry-run")
        self.assertEqual(d["request"]["method"], "PATCH")
        self.assertEqual(d["request"]["body"],
                         {"branch": "main", "public_port": None, "auto_deploy": False})
        a2 = self.jok("app", "set", "web", "--branch", "main", "--public-port", "none",
                      "--no-auto-deploy", "--memory", "none", "--domain", "none")
        self.assertEqual((a2["branch"], a2["public_port"], a2["auto_deploy"], a2["memory"],
                          a2["domains"]), ("main", None, False, None, []))
        for k in ("dockerfile", "context", "health_path", "cpus", "keep_images",
                  "drain_seconds", "repo_url", "container_port"):
            self.assertEqual(a2[k], a[k], k)
        audit = self.api("GET", "/audit?action=app.update").json["items"][0]
        self.assertEqual(sorted(audit["detail"]["fields"]),
                         ["auto_deploy", "branch", "domains", "memory", "public_port"])
        self.assertIn("Saved app web", self.ok("app", "set", "web", "--port", "9090").out)
        self.assertEqual(self.api("GET", "/apps/web").json["container_port"], 9090)
        self.fails(2, "usage", "app", "set", "web")  # nothing to change
        self.fails(2, "usage", "app", "set", "web", "--auto-deploy", "--no-auto-deploy")
        self.fails(2, "invalid_field", "app", "set", "web", "--health-path", "nope")
        self.fails(5, "conflict", "app", "set", "api", "--name", "web")
        self.assertEqual(self.jok("app", "set", "api", "--name", "api2")["name"], "api2")
        self.fails(2, "usage", "app", "create", "x", "--server", "web-1", "--repo", REPO,
                   "--port", "80", "--ref", "abcd")  # not an option of app create
        # delete: refuses without --yes off a terminal; dry run sends nothing
        r = self.berth("app", "delete", "web")
        self.assertEqual(r.rc, 2, r)
        self.assertIn("--yes", r.err)
        self.assertEqual(self.jok("app", "delete", "web", "--dry-run")["request"]["method"],
                         "DELETE")
        self.assertEqual(self.api("GET", "/apps/web").status, 200)
        self.assertEqual(self.jok("app", "delete", "web", "--yes"),
                         {"app": "web", "deleted": True})
        self.assertIn("Deleted app api2", self.ok("app", "delete", "api2", "--yes").out)
        self.fails(4, "not_found", "app", "delete", "web", "--yes")
        self.assertEqual(self.jok("app", "list")["items"], [])

    def test_domains(self):
        self.add_server()
        self.create_app("web")
        self.create_app("blog")
        d = self.jok("domain", "add", "web", "Web.Example.com")
        self.assertEqual((d["name"], d["wildcard"], d["app"]), ("web.example.com", False, "web"))
        self.assertIn("Added *.example.com to web", self.ok("domain", "add", "web", "*.example.com").out)
        # each with its certificate's status (docs/deploy.md#https): none yet
        self.assertEqual(self.jok("domain", "list", "web")["items"],
                         [{"name": "web.example.com", "wildcard": False, "certificate": {"status": "pending"}},
                          {"name": "*.example.com", "wildcard": True, "certificate": {
                              "status": "failed",
                              "error": "HTTP-01 cannot issue a wildcard; upload a certificate"}}])
        out = self.ok("domain", "list", "web").out
        self.assertIn("web.example.com", out)
        self.assertIn("DOMAIN", out)
        # refusals: another app on the server has it, or this one does (exit 5); malformed
        e = self.fails(5, "domain_taken", "domain", "add", "blog", "web.example.com")
        self.assertNotIn("'web'", e["message"])
        self.fails(5, "domain_exists", "domain", "add", "web", "WEB.example.com")
        r = self.berth("domain", "add", "web", "not a host", "--json")
        self.assertNotEqual(r.rc, 0, r)
        self.assertEqual(r.doc["error"]["code"], "invalid_field")
        self.fails(4, None, "domain", "rm", "web", "nothere.example.com", "--yes")
        self.fails(4, None, "domain", "list", "nosuchapp")
        # dry run sends nothing
        d = self.jok("domain", "add", "blog", "blog.example.com", "--dry-run")
        self.assertEqual((d["request"]["method"], d["request"]["body"]), ("POST", {"name": "blog.example.com"}))
        self.assertEqual(self.jok("domain", "list", "blog")["items"], [])
        d = self.jok("domain", "rm", "web", "web.example.com", "--yes")
        self.assertEqual((d["name"], d["removed"]), ("web.example.com", True))
        self.assertEqual([x["name"] for x in self.jok("domain", "list", "web")["items"]], ["*.example.com"])
        # the freed name can go to the other app now
        self.jok("domain", "add", "blog", "web.example.com")

    def test_help_and_usage(self):
        for cmd in (["app", "create"], ["app", "list"], ["app", "show"], ["app", "set"],
                    ["app", "delete"], ["env", "set"], ["env", "unset"], ["env", "list"],
                    ["deploy"], ["deployments"], ["deployment", "show"], ["logs"],
                    ["cancel"], ["rollback"]):
            r = self.ok(*cmd, "--help")
            self.assertIn("usage: berth " + " ".join(cmd), r.out)
            self.assertIn("usage", self.jok(*cmd, "--help"))
        for group in ("app", "env", "deployment"):
            self.assertIn("subcommands", self.ok(group, "--help").out)
        self.fails(2, "usage", "app", "show")                 # missing APP
        self.fails(2, "usage", "deploy")                      # missing APP
        self.fails(2, "usage", "deployment", "show", "abc")   # not a number
        self.fails(2, "usage", "logs", "abc")
        self.fails(2, "usage", "cancel", "0", "--yes")
        self.fails(2, "usage", "deployments", "a", "b")
        self.fails(2, "usage", "env", "list", "web", "--follow")
        # no token: 3
        r = self.berth("app", "list", "--json", BERTH_TOKEN="")
        self.assertEqual(r.rc, 3, r)

    def test_env_value_never_shown(self):
        self.add_server()
        self.create_app()
        # from stdin (one trailing newline dropped), from BERTH_ENV_VALUE
        r = self.ok("env", "set", "web", "API_KEY", stdin=SECRET + "\n")
        self.assertIn("Set API_KEY on web", r.out)
        d = self.jok("env", "set", "web", "OTHER", stdin="", BERTH_ENV_VALUE=SECRET + "-2")
        self.assertEqual(d["name"], "OTHER")
        self.assertNotIn("value", d)
        d = self.jok("env", "set", "web", "EMPTY", stdin="")
        self.assertEqual(d["name"], "EMPTY")
        # dry run: the value is hidden
        d = self.jok("env", "set", "web", "API_KEY", "--dry-run", stdin=SECRET)
        self.assertEqual(d["request"]["body"], {"value": "(hidden)"})
        r = self.ok("env", "set", "web", "API_KEY", "--dry-run", stdin=SECRET)
        self.assertIn("(hidden)", r.out)
        # never from argv, and a refused value is not echoed
        e = self.fails(2, "usage", "env", "set", "web", "API_KEY=" + SECRET)
        self.assertIn("never go on the command line", e["message"])
        self.fails(2, "usage", "env", "set", "web", "API_KEY", SECRET)
        r = self.berth("env", "set", "web", "API_KEY", SECRET)
        self.assertEqual(r.rc, 2, r)
        self.fails(2, "usage", "env", "set", "web", "api_key", stdin="x")
        self.fails(2, "usage", "env", "set", "web", "--value", SECRET, stdin="x")
        self.fails(4, "not_found", "env", "set", "nope", "API_KEY", stdin=SECRET)
        # names only
        items = self.jok("env", "list", "web")["items"]
        self.assertEqual(sorted(x["name"] for x in items), ["API_KEY", "EMPTY", "OTHER"])
        for x in items:
            self.assertEqual(sorted(x), ["name", "updated_at"])
        out = self.ok("env", "list", "web").out
        self.assertIn("API_KEY", out)
        self.assertIn("UPDATED", out)
        # unset: asks, then removes; a second time -> 4
        r = self.berth("env", "unset", "web", "OTHER")
        self.assertEqual(r.rc, 2, r)
        self.assertEqual(self.jok("env", "unset", "web", "OTHER", "--yes"),
                         {"app": "web", "name": "OTHER", "unset": True})
        self.fails(4, "not_found", "env", "unset", "web", "OTHER", "--yes")
        self.assertEqual(sorted(x["name"] for x in self.jok("env", "list", "web")["items"]),
                         ["API_KEY", "EMPTY"])
        # audit carries the key, not the value
        acts = self.api("GET", "/audit?action=env.*").json["items"]
        self.assertTrue(any(e["action"] == "env.set" and (e["detail"] or {}).get("key") == "API_KEY"
                            for e in acts))
        self.outputs.append(json.dumps(acts))
        self.assert_no_secret()

    def test_deploy_refused_unless_active(self):
        self.add_server()  # never connected: PROVISIONING
        self.create_app()
        e = self.fails(5, "server_not_active", "deploy", "web")
        self.assertIn("PROVISIONING", e["message"])
        r = self.berth("deploy", "web", "--follow")
        self.assertEqual(r.rc, 5, r)
        self.assertIn("ACTIVE", r.err)
        self.fails(4, "not_found", "deploy", "nope")
        self.fails(2, "invalid_field", "deploy", "web", "--ref", "not-a-sha")
        d = self.jok("deploy", "web", "--ref", "abcdef12", "--dry-run")
        self.assertEqual(d["request"]["body"], {"commit": "abcdef12"})
        self.assertTrue(d["request"]["url"].endswith("/apps/web/deployments"))
        e = self.fails(5, "no_previous_deployment", "rollback", "web")
        self.assertIn("no earlier successful deployment", e["message"])
        self.fails(4, "not_found", "rollback", "nope")
        self.assertEqual(self.jok("deployments", "web")["items"], [])
        self.assertEqual(self.jok("deployments")["items"], [])
        self.fails(4, "not_found", "deployments", "nope")
        self.fails(4, "not_found", "deployment", "show", "999")
        self.fails(4, "not_found", "logs", "999")
        self.fails(4, "not_found", "cancel", "999", "--yes")


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
class Deploys(Base):
    env = {"BERTH_HEARTBEAT_S": "1"}

    def setUp(self):
        super().setUp()
        self.state = tempfile.TemporaryDirectory(prefix="berth-runner-")
        self.runner_log = os.path.join(self.b.tmp.name, "runner.log")
        self.proc = None
        s = self.add_server()
        env = dict(os.environ, BERTH_RUNNER_TOKEN=s["registration_token"])
        with open(self.runner_log, "ab") as log:
            self.proc = subprocess.Popen(
                [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % self.b.port, "--state-dir",
                 self.state.name, "--min-free-disk", "0"], env=env, stdout=log, stderr=log)
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/%d" % s["id"])
                                 .json["status"] == "ACTIVE", 15), self.b.log_text()[-3000:])
        self.create_app()
        self.ok("env", "set", "web", "API_KEY", stdin=SECRET)

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        super().tearDown()
        self.state.cleanup()

    def check_failed(self, r, dep):
        """r: `deploy --follow` of deployment dep (which FAILED)."""
        self.assertEqual(r.rc, 1, r)
        self.assertEqual(dep["status"], "FAILED", dep)
        self.assertIn("deployment %d FAILED" % dep["id"], r.err)
        self.assertIn(dep["reason"], r.err)
        if dep["failed_step"]:
            self.assertIn("at step %s" % dep["failed_step"], r.err)
        else:
            self.assertIn("job kind", dep["reason"])
        if dep["rolled_back_to"]:
            self.assertIn("rolled back to deployment %d" % dep["rolled_back_to"], r.err)

    def test_deploy_follow_list_show_logs(self):
        r = self.berth("deploy", "web", "--follow", "--ref", "0123abcd", timeout=120)
        self.assertIn("Deployment ", r.out)
        dep_id = int(r.out.split("Deployment ", 1)[1].split()[0])
        dep = self.api("GET", "/deployments/%d" % dep_id).json
        self.check_failed(r, dep)
        self.assertEqual(dep["commit"], "0123abcd")
        # the same under --json: one document, the ended deployment with its log
        r = self.berth("deploy", "web", "--follow", "--json", timeout=120)
        self.assertEqual(r.rc, 1, r)
        doc = r.doc
        self.assertTrue(doc["ok"], r)
        d2 = doc["data"]
        self.assertEqual(d2["status"], "FAILED")
        self.assertIn("log", d2)
        self.assertIn(d2["reason"].split('"')[0], d2["log"])
        self.assertIn("steps", d2)
        # without --follow: the id and where to follow it
        r = self.ok("deploy", "web")
        self.assertIn("berth logs", r.out)
        d3 = int(r.out.split("Deployment ", 1)[1].split()[0])
        self.assertTrue(wait_for(lambda: self.api("GET", "/deployments/%d" % d3)
                                 .json["status"] == "FAILED", 20))
        # lists: per app and for every app, newest first
        items = self.jok("deployments", "web")["items"]
        self.assertEqual([x["id"] for x in items], [d3, d2["id"], dep_id])
        self.assertEqual({x["app"] for x in items}, {"web"})
        self.assertEqual([x["id"] for x in self.jok("deployments")["items"]],
                         [d3, d2["id"], dep_id])
        out = self.ok("deployments").out
        self.assertIn("STATUS", out)
        self.assertIn("FAILED", out)
        self.assertIn("0123abcd", out)
        # show: status, reason, steps
        d = self.jok("deployment", "show", str(dep_id))
        self.assertEqual((d["id"], d["app"], d["status"]), (dep_id, "web", "FAILED"))
        self.assertIn("steps", d)
        out = self.ok("deployment", "show", str(dep_id)).out
        self.assertIn("FAILED", out)
        self.assertIn(dep["reason"], out)
        self.assertIn("app web", out)
        if dep["steps"]:
            self.assertIn("DURATION", out)
            self.assertIn(dep["steps"][0]["step"], out)
        # logs, whole and followed (ended: at once)
        r = self.ok("logs", str(dep_id))
        self.assertTrue(r.out.strip(), r)
        r2 = self.ok("logs", str(dep_id), "--follow")
        self.assertEqual(r.out, r2.out)
        doc = self.jok("logs", str(dep_id), "--follow")
        self.assertEqual((doc["deployment"], doc["status"]), (dep_id, "FAILED"))
        self.assertTrue(doc["items"])
        self.assertEqual(sorted(doc["items"][0]), ["data", "seq", "stream", "ts"])
        # cancel of an ended deployment: 5; rollback with no earlier success: 5
        e = self.fails(5, "conflict", "cancel", str(dep_id), "--yes")
        self.assertIn("already ended", e["message"])
        r = self.berth("cancel", str(dep_id))  # no --yes off a terminal
        self.assertEqual(r.rc, 2, r)
        self.fails(5, "no_previous_deployment", "rollback", "web")
        r = self.berth("rollback", "web", "--follow")
        self.assertEqual(r.rc, 5, r)
        self.assertIsNone(self.jok("app", "show", "web")["current_deployment"])
        self.assert_no_secret()
        with open(self.runner_log, "rb") as f:
            self.assertNotIn(SECRET.encode(), f.read())

    def test_follow_a_queued_deployment_and_cancel(self):
        # Freeze the runner: the first deployment is sent but not accepted,
        # the next ones queue behind it.
        self.proc.send_signal(signal.SIGSTOP)
        first = self.jok("deploy", "web")
        self.assertIsNotNone(first["job_id"])
        follower = subprocess.Popen([BERTH, "deploy", "web", "--follow"], text=True,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=self.cli_env())
        third = self.jok("deploy", "web")
        self.assertIsNone(third["job_id"])
        self.assertIn("queued", third["summary"])
        # cancel the third while queued: CANCELLED at once
        d = self.jok("cancel", str(third["id"]), "--yes")
        self.assertEqual(d["status"], "CANCELLED")
        self.assertIn("CANCELLED", self.ok("deployment", "show", str(third["id"])).out)
        time.sleep(0.5)
        self.proc.send_signal(signal.SIGCONT)
        out, err = follower.communicate(timeout=90)
        self.outputs += [out, err]
        self.assertEqual(follower.returncode, 1, (out, err))
        self.assertIn("queued", err)
        second_id = int(out.split("Deployment ", 1)[1].split()[0])
        second = self.api("GET", "/deployments/%d" % second_id).json
        self.assertEqual(second["status"], "FAILED")
        self.assertGreater(second_id, first["id"])
        self.assertIn("deployment %d FAILED" % second_id, err)
        statuses = {x["id"]: x["status"] for x in self.jok("deployments", "web")["items"]}
        self.assertEqual(statuses[third["id"]], "CANCELLED")
        self.assert_no_secret()


class PeerDeploys(Base):
    """Successful and rolled-back deployments, played by a protocol peer
    (the real runner does not run deploy jobs here)."""

    def connect(self):
        s = self.add_server()
        p = Peer(self.b.port, s["registration_token"])
        p.send({"type": "hello", "proto": 1, "version": "cli-test", "hostname": "peer",
                "jobs": []})
        reg = p.expect("register")
        p.send({"type": "registered", "server_id": reg["server_id"]})
        p.expect("welcome")
        p.send({"type": "precheck", "ok": True, "checks": []})
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/%d" % s["id"])
                                 .json["status"] == "ACTIVE", 10))
        return p

    def follow(self, *args):
        return subprocess.Popen([BERTH] + list(args), text=True, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=self.cli_env())

    def finish(self, proc):
        out, err = proc.communicate(timeout=60)
        self.outputs += [out, err]
        return Result(proc.returncode, out, err)

    def succeed(self, p, job, commit="0123456789abcdef0123"):
        p.send({"type": "job.accepted", "job": job})
        seq = 0
        for step in ("precheck", "clone", "build", "start", "health", "swap", "cleanup"):
            seq += 1
            p.step(job, seq, step, "started")
            if step == "build":
                seq += 1
                p.log(job, seq, "Step 1/3 : FROM alpine\nSuccessfully built\n", stream="stdout")
            seq += 1
            extra = {"commit": commit} if step == "clone" else {}
            p.step(job, seq, step, "ok", detail="%s done" % step, **extra)
        p.done(job, seq, True)

    def test_follow_success_failure_and_rollback(self):
        p = self.connect()
        self.create_app()
        self.ok("env", "set", "web", "API_KEY", stdin=SECRET + "\n")  # the newline is dropped
        # 1: succeeds -> exit 0, steps shown as they come
        f = self.follow("deploy", "web", "--follow")
        job = p.expect("job")
        self.assertEqual(job["spec"]["env"], {"API_KEY": SECRET})  # on the wire only
        time.sleep(0.3)
        self.succeed(p, job["job"])
        r = self.finish(f)
        self.assertEqual(r.rc, 0, r)
        d1 = int(r.out.split("Deployment ", 1)[1].split()[0])
        for text in ("==> precheck: started", "==> clone: ok (", "clone done",
                     "Successfully built", "==> cleanup: ok",
                     "Deployment %d SUCCEEDED: commit 0123456789ab" % d1):
            self.assertIn(text, r.out)
        self.assertNotIn('{"step"', r.out)
        self.assertLess(r.out.index("==> build: started"), r.out.index("Successfully built"))
        self.assertEqual(self.jok("app", "show", "web")["current_deployment"]["id"], d1)
        self.assertIn("current       deployment %d (SUCCEEDED" % d1,
                      self.ok("app", "show", "web").out)
        out = self.ok("deployment", "show", str(d1)).out
        self.assertIn("(current)", out)
        for step in ("precheck", "clone", "build", "start", "health", "swap", "cleanup"):
            self.assertIn("  " + step, out)
        self.assertIn("DURATION", out)
        self.assertIn("==> swap: ok", self.ok("logs", str(d1)).out)

        # 2: fails at health and rolls back -> exit 1 naming step, reason, rollback
        f = self.follow("deploy", "web", "--follow", "--ref", "feedbeef")
        job = p.expect("job")["job"]
        p.send({"type": "job.accepted", "job": job})
        p.step(job, 1, "health", "started")
        p.step(job, 2, "health", "failed", detail="GET / answered 502 ten times")
        p.step(job, 3, "rollback", "started")
        p.step(job, 4, "rollback", "ok")
        p.done(job, 4, False, "health: GET / answered 502 after 10 tries; rolled back to "
               "deployment %d" % d1)
        r = self.finish(f)
        self.assertEqual(r.rc, 1, r)
        d2 = int(r.out.split("Deployment ", 1)[1].split()[0])
        self.assertIn("berth: deployment %d FAILED at step health: GET / answered 502 after 10 "
                      "tries; rolled back to deployment %d" % (d2, d1), r.err)
        self.assertIn("==> health: FAILED", r.out)
        self.assertIn("==> rollback: ok", r.out)
        # only one success, and it serves: nothing to roll back to
        self.fails(5, "no_previous_deployment", "rollback", "web")

        # 3: another success; then a rollback to 1, followed
        f = self.follow("deploy", "web", "--follow", "--json")
        self.succeed(p, p.expect("job")["job"])
        r = self.finish(f)
        self.assertEqual(r.rc, 0, r)
        d3 = r.doc["data"]
        self.assertEqual((d3["status"], d3["current"]), ("SUCCEEDED", True))
        self.assertIn("Successfully built", d3["log"])
        f = self.follow("rollback", "web", "--follow")
        job = p.expect("job")
        self.assertEqual(job["spec"]["kind"], "rollback")
        self.succeed(p, job["job"])
        r = self.finish(f)
        self.assertEqual(r.rc, 0, r)
        self.assertIn("of deployment %d" % d1, r.out)
        d4 = int(r.out.split("Rollback deployment ", 1)[1].split()[0])
        self.assertIn("Deployment %d SUCCEEDED" % d4, r.out)
        items = self.jok("deployments", "web")["items"]
        self.assertEqual([(x["id"], x["kind"], x["status"], x["current"]) for x in items],
                         [(d4, "rollback", "SUCCEEDED", True),
                          (d3["id"], "deploy", "SUCCEEDED", False),
                          (d2, "deploy", "FAILED", False), (d1, "deploy", "SUCCEEDED", False)])

        # 5: cancelled while running: asked of the runner, CANCELLED on its result
        d5 = self.jok("deploy", "web")
        job = p.expect("job")["job"]
        p.send({"type": "job.accepted", "job": job})
        self.assertTrue(wait_for(lambda: self.api("GET", "/deployments/%d" % d5["id"])
                                 .json["status"] == "RUNNING", 5))
        r = self.ok("cancel", str(d5["id"]), "--yes")
        self.assertIn("Cancel requested for deployment %d" % d5["id"], r.out)
        p.expect("job.cancel", job)
        p.step(job, 1, "build", "failed", detail="interrupted")
        p.done(job, 1, False, "build: cancelled")
        self.assertEqual(self.jok("deployment", "show", str(d5["id"]))["status"], "CANCELLED")
        p.close()
        self.assert_no_secret()


if __name__ == "__main__":
    unittest.main()
