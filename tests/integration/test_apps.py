"""Applications, their env and deployments over HTTP against a real berthd
(and, where a server must be ACTIVE, the real berth-runner).

CRUD and every field's validation; env values sealed and never shown;
another organization's ids answer 404; deployments start PENDING, queue
one at a time per app in order, can be cancelled while queued; 409 when
the server is not ACTIVE; rollback without an earlier success is 409; and
a secret value never appears in any answer or in berthd's log.

The real runner runs `deploy` jobs (test_deploy.py does it end to end);
here the app's repository (git.example.com) cannot be reached, so the job
(the deployment becomes RUNNING) fails at the clone step, which must land
on the deployment as its failed step and reason. The control plane's half
of the deploy-job contract (docs/protocol.md, "deploy jobs") is checked
by DeployContract, a minimal WebSocket peer that speaks the runner
protocol: the spec it receives (env only on the wire, previous
deployment, rollback image), step reports, results, redelivery after a
reconnect, and job.cancel.
"""
import base64
import http.client
import json
import os
import signal
import socket
import sqlite3
import struct
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Berthd, BERTHD, wait_for

RUNNER = os.environ.get("BERTH_RUNNER",
                        os.path.join(os.path.dirname(BERTHD), "berth-runner"))
HB = 1
SECRET = "s3cr3t-value-7f3a9c1e-do-not-leak"



class Base(unittest.TestCase):
    env = {}

    def setUp(self):
        self.b = Berthd(env=self.env).start()
        self.tok = self.b.login()
        self.org = "/api/v1/orgs/%s" % self.b.org
        self.bodies = []  # every answer, to look for the secret in

    def tearDown(self):
        self.b.close()

    def api(self, method, path, body=None, org=None, token=None):
        r = self.b.request(method, (org or self.org) + path, token=token or self.tok, body=body)
        self.bodies.append(r.body)
        return r

    def add_server(self, name="web-1"):
        r = self.api("POST", "/servers", {"name": name})
        self.assertEqual(r.status, 201, r)
        return r.json

    def app_body(self, **kw):
        body = {"name": "web", "server": "web-1", "repo_url": "https://git.example.com/acme/web.git",
                "container_port": 8080}
        body.update(kw)
        return body

    def assert_no_secret(self):
        for body in self.bodies:
            self.assertNotIn(SECRET, body)
        self.assertNotIn(SECRET, self.b.log_text())


class Apps(Base):
    def test_crud_defaults_and_lookup(self):
        s = self.add_server()
        r = self.api("POST", "/apps", self.app_body())
        self.assertEqual(r.status, 201, r)
        a = r.json
        self.assertEqual(a["name"], "web")
        self.assertEqual(a["server_id"], s["id"])
        self.assertEqual(a["server"]["name"], "web-1")
        self.assertEqual(a["branch"], "main")
        self.assertEqual(a["dockerfile"], "./Dockerfile")
        self.assertEqual(a["context"], ".")
        self.assertEqual(a["health_path"], "/")
        self.assertEqual(a["restart_policy"], "unless-stopped")
        self.assertEqual(a["keep_images"], 5)
        self.assertEqual(a["drain_seconds"], 30)
        self.assertEqual((a["clone_timeout"], a["build_timeout"], a["health_timeout"]),
                         (300, 1800, 120))
        self.assertIsNone(a["public_port"])
        self.assertIsNone(a["memory"])
        self.assertIsNone(a["cpus"])
        self.assertEqual(a["domains"], [])
        self.assertFalse(a["auto_deploy"])
        self.assertIsNone(a["current_deployment"])
        # by id and by name
        self.assertEqual(self.api("GET", "/apps/%d" % a["id"]).json["name"], "web")
        self.assertEqual(self.api("GET", "/apps/web").json["id"], a["id"])
        self.assertEqual([x["name"] for x in self.api("GET", "/apps").json["items"]], ["web"])
        # every settable field
        r = self.api("PATCH", "/apps/web", {
            "branch": "release/v2", "dockerfile": "docker/Dockerfile.prod", "context": "app",
            "health_path": "/healthz?full=1", "public_port": 80,
            "domains": ["Web.Example.com", "www.example.com"], "auto_deploy": True,
            "restart_policy": "always", "memory": 512 * 1024 * 1024, "cpus": 1.5,
            "keep_images": 3, "drain_seconds": 0, "clone_timeout": 60, "build_timeout": 600,
            "health_timeout": 30, "repo_url": "git@github.com:acme/web.git"})
        self.assertEqual(r.status, 200, r)
        a = r.json
        self.assertEqual(a["domains"], ["web.example.com", "www.example.com"])
        self.assertEqual(a["memory"], 512 * 1024 * 1024)
        self.assertEqual(a["cpus"], 1.5)
        self.assertEqual(a["public_port"], 80)
        self.assertEqual(a["repo_url"], "git@github.com:acme/web.git")
        self.assertTrue(a["auto_deploy"])
        # null clears the nullable ones
        r = self.api("PATCH", "/apps/web", {"public_port": None, "memory": None, "cpus": None})
        self.assertEqual(r.status, 200, r)
        self.assertEqual((r.json["public_port"], r.json["memory"], r.json["cpus"]),
                         (None, None, None))
        # rename, then a second app cannot take the name
        self.assertEqual(self.api("PATCH", "/apps/web", {"name": "site"}).status, 200)
        self.assertEqual(self.api("POST", "/apps", self.app_body(name="site")).status, 409)
        self.assertEqual(self.api("POST", "/apps", self.app_body(name="api")).status, 201)
        self.assertEqual(self.api("PATCH", "/apps/api", {"name": "site"}).status, 409)
        # delete: the app named again in ?confirm= (a path that lws collapsed
        # from a child's ".." segment carries none)
        r = self.api("DELETE", "/apps/site")
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "confirm_required"))
        r = self.api("DELETE", "/apps/site?confirm=web")
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "confirm_required"))
        self.assertEqual(self.api("DELETE", "/apps/site?confirm=site").status, 204)
        self.assertEqual(self.api("GET", "/apps/site").status, 404)
        self.assertEqual(self.api("GET", "/apps/%d" % a["id"]).status, 404)
        # mutations are audited
        acts = [e["action"] for e in self.api("GET", "/audit?action=app.*").json["items"]]
        for act in ("app.create", "app.update", "app.delete"):
            self.assertIn(act, acts)

    def test_repo_url_forms(self):
        self.add_server()
        good = ["https://github.com/acme/web.git", "http://git.local:3000/a/b",
                "ssh://git@git.example.com:2222/acme/web.git", "git://git.example.com/web",
                "git@github.com:acme/web.git", "deploy@10.0.0.5:/srv/git/web.git"]
        for i, url in enumerate(good):
            r = self.api("POST", "/apps", self.app_body(name="a%d" % i, repo_url=url))
            self.assertEqual(r.status, 201, (url, r))
        bad = ["ftp://example.com/x", "https://user:pw@github.com/acme/web.git",
               "-oProxyCommand=touch /tmp/x", "https://github.com/", "https:///x",
               "just-a-word", "git@github.com:", "has space.com:x/y", "file:///etc/passwd"]
        for url in bad:
            r = self.api("POST", "/apps", self.app_body(name="bad", repo_url=url))
            self.assertEqual(r.status, 422, (url, r))
            self.assertIn("repo_url", r.json["error"]["message"])

    def test_validation_names_the_field(self):
        self.add_server()
        cases = [
            ({"name": "Web"}, 422, "name"), ({"name": "1web"}, 422, "name"),
            ({"name": "web-"}, 422, "name"), ({"name": "x" * 64}, 422, "name"),
            ({"name": 5}, 400, "name"),
            ({"container_port": 0}, 422, "container_port"),
            ({"container_port": 65536}, 422, "container_port"),
            ({"container_port": "80"}, 400, "container_port"),
            ({"branch": "../main"}, 422, "branch"), ({"branch": "-x"}, 422, "branch"),
            ({"branch": "a b"}, 422, "branch"),
            ({"dockerfile": "/etc/passwd"}, 422, "dockerfile"),
            ({"dockerfile": "../Dockerfile"}, 422, "dockerfile"),
            ({"context": "a/../../b"}, 422, "context"),
            ({"health_path": "health"}, 422, "health_path"),
            ({"health_path": "/a b"}, 422, "health_path"),
            ({"public_port": 0}, 422, "public_port"), ({"public_port": "80"}, 400, "public_port"),
            ({"domains": "example.com"}, 400, "domains"),
            ({"domains": ["not a host"]}, 422, "domains"),
            ({"domains": ["a.example.com", "A.example.com"]}, 422, "domains"),
            ({"domains": [7]}, 422, "domains"),
            ({"auto_deploy": "yes"}, 400, "auto_deploy"),
            ({"restart_policy": "sometimes"}, 422, "restart_policy"),
            ({"memory": 1024}, 422, "memory"), ({"memory": 1.5}, 400, "memory"),
            ({"cpus": 0}, 422, "cpus"), ({"cpus": "2"}, 400, "cpus"),
            ({"keep_images": 0}, 422, "keep_images"),
            ({"drain_seconds": -1}, 422, "drain_seconds"),
            ({"clone_timeout": 0}, 422, "clone_timeout"),
            ({"build_timeout": 86401}, 422, "build_timeout"),
            ({"health_timeout": None}, 422, "health_timeout"),
            ({"server": 3.5}, 400, "server"),
        ]
        for extra, status, field in cases:
            r = self.api("POST", "/apps", self.app_body(**extra))
            self.assertEqual(r.status, status, (extra, r))
            self.assertIn(field, r.json["error"]["message"], (extra, r))
        # required fields
        for field in ("name", "server", "repo_url", "container_port"):
            body = self.app_body()
            del body[field]
            r = self.api("POST", "/apps", body)
            self.assertEqual(r.status, 422, (field, r))
            self.assertEqual(r.json["error"]["code"], "missing_field")
            self.assertIn(field, r.json["error"]["message"])
        r = self.api("POST", "/apps", self.app_body(colour="blue"))
        self.assertEqual((r.status, r.json["error"]["code"]), (400, "unknown_field"))
        self.assertEqual(self.api("POST", "/apps", self.app_body(server="nope")).status, 404)
        # nothing was created by any of these
        self.assertEqual(self.api("GET", "/apps").json["items"], [])
        # PATCH validates the same way and changes nothing on refusal
        self.assertEqual(self.api("POST", "/apps", self.app_body()).status, 201)
        r = self.api("PATCH", "/apps/web", {"branch": "ok", "container_port": 0})
        self.assertEqual(r.status, 422, r)
        self.assertEqual(self.api("GET", "/apps/web").json["branch"], "main")

    def test_decommissioned_server_refused(self):
        s = self.add_server()
        self.add_server("web-2")
        self.assertEqual(self.api("POST", "/apps", self.app_body()).status, 201)
        self.assertEqual(self.api("POST", "/servers/%d/decommission" % s["id"]).status, 200)
        r = self.api("POST", "/apps", self.app_body(name="other"))
        self.assertEqual(r.status, 409, r)
        # a deploy on it is refused too, and the server cannot be deleted under an app
        r = self.api("POST", "/apps/web/deployments")
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "decommissioned"))
        r = self.api("DELETE", "/servers/%d" % s["id"])
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "has_apps"))
        # an app without deployments may move to another server
        r = self.api("PATCH", "/apps/web", {"server": "web-2"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["server"]["name"], "web-2")
        self.assertEqual(self.api("DELETE", "/servers/%d" % s["id"]).status, 204)

    def test_env_values_never_shown(self):
        self.add_server()
        self.assertEqual(self.api("POST", "/apps", self.app_body()).status, 201)
        r = self.api("PUT", "/apps/web/env/DATABASE_URL", {"value": SECRET})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["name"], "DATABASE_URL")
        self.assertEqual(self.api("PUT", "/apps/web/env/_X1", {"value": ""}).status, 200)
        r = self.api("PUT", "/apps/web/env/DATABASE_URL", {"value": SECRET + "-2"})
        self.assertEqual(r.status, 200, r)
        r = self.api("GET", "/apps/web/env")
        self.assertEqual(r.status, 200, r)
        self.assertEqual([e["name"] for e in r.json["items"]], ["DATABASE_URL", "_X1"])
        for e in r.json["items"]:
            self.assertNotIn("value", e)
        for key in ("lower", "1ABC", "A-B", "A" * 101):
            r = self.api("PUT", "/apps/web/env/%s" % key, {"value": "x"})
            self.assertEqual(r.status, 422, (key, r))
        self.assertEqual(self.api("PUT", "/apps/web/env/K", {"value": 5}).status, 400)
        self.assertEqual(self.api("PUT", "/apps/web/env/K", {}).status, 422)
        self.assertEqual(self.api("PUT", "/apps/web/env/K", {"value": "x", "v": 1}).status, 400)
        self.assertEqual(self.api("PUT", "/apps/nope/env/K", {"value": "x"}).status, 404)
        self.assertEqual(self.api("DELETE", "/apps/web/env/_X1").status, 204)
        self.assertEqual(self.api("DELETE", "/apps/web/env/_X1").status, 404)
        self.assertEqual([e["name"] for e in self.api("GET", "/apps/web/env").json["items"]],
                         ["DATABASE_URL"])
        # the audit names the key, never the value
        a = self.api("GET", "/audit?action=env.*")
        self.assertTrue(any(e["detail"] and e["detail"].get("key") == "DATABASE_URL"
                            for e in a.json["items"]), a)
        self.api("GET", "/apps/web")
        self.api("GET", "/audit")
        self.assert_no_secret()

    def test_other_org_is_404(self):
        self.add_server()
        self.assertEqual(self.api("POST", "/apps", self.app_body()).status, 201)
        self.assertEqual(self.api("PUT", "/apps/web/env/K", {"value": SECRET}).status, 200)
        app_id = self.api("GET", "/apps/web").json["id"]
        r = self.b.request("POST", "/api/v1/orgs", token=self.tok, body={"name": "elsewhere"})
        self.assertEqual(r.status, 201, r)
        other = "/api/v1/orgs/elsewhere"
        # the admin of both: the other org's path does not see this org's app
        for method, path in (("GET", "/apps/%d" % app_id), ("GET", "/apps/web"),
                             ("PATCH", "/apps/%d" % app_id), ("DELETE", "/apps/%d" % app_id),
                             ("GET", "/apps/%d/env" % app_id),
                             ("PUT", "/apps/%d/env/K" % app_id),
                             ("GET", "/apps/%d/deployments" % app_id),
                             ("POST", "/apps/%d/deployments" % app_id),
                             ("POST", "/apps/%d/rollback" % app_id)):
            body = {"value": "x"} if method == "PUT" else ({} if method == "PATCH" else None)
            r = self.api(method, path, body, org=other)
            self.assertEqual(r.status, 404, (method, path, r))
        # a member of only the other org gets 404 for this org's routes
        tok = self.b.add_user(self.tok, "elsewhere", "eve@example.com", "admin")
        for path in ("/apps", "/apps/web", "/apps/web/env"):
            self.assertEqual(self.api("GET", path, token=tok).status, 404)
        self.assertEqual(self.api("GET", "/apps", org=other, token=tok).json["items"], [])
        # still there
        self.assertEqual(self.api("GET", "/apps/web/env").json["items"][0]["name"], "K")
        self.assert_no_secret()

    def test_scopes(self):
        self.add_server()
        self.assertEqual(self.api("POST", "/apps", self.app_body()).status, 201)
        viewer = self.b.add_user(self.tok, self.b.org, "vi@example.com", "viewer")
        self.assertEqual(self.api("GET", "/apps/web", token=viewer).status, 200)
        self.assertEqual(self.api("GET", "/apps/web/env", token=viewer).status, 200)
        self.assertEqual(self.api("GET", "/apps/web/deployments", token=viewer).status, 200)
        for method, path, body in (("PATCH", "/apps/web", {"branch": "x"}),
                                   ("PUT", "/apps/web/env/K", {"value": "v"}),
                                   ("POST", "/apps/web/deployments", None),
                                   ("POST", "/apps/web/rollback", None),
                                   ("DELETE", "/apps/web", None)):
            self.assertEqual(self.api(method, path, body, token=viewer).status, 403, path)
        # env:write without app:write
        t = self.b.create_token(self.tok, ["app:read", "env:write"])["token"]
        self.assertEqual(self.api("PUT", "/apps/web/env/K", {"value": "v"}, token=t).status, 200)
        self.assertEqual(self.api("PATCH", "/apps/web", {"branch": "x"}, token=t).status, 403)

    def test_deploy_refused_unless_active(self):
        self.add_server()  # never connected: PROVISIONING
        self.assertEqual(self.api("POST", "/apps", self.app_body()).status, 201)
        r = self.api("POST", "/apps/web/deployments")
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "server_not_active"), r)
        self.assertIn("PROVISIONING", r.json["error"]["message"])
        r = self.api("POST", "/apps/web/deployments", {"commit": "not-a-sha"})
        self.assertEqual(r.status, 422, r)
        self.assertIn("commit", r.json["error"]["message"])
        r = self.api("POST", "/apps/web/rollback")
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "no_previous_deployment"))
        self.assertEqual(self.api("GET", "/apps/web/deployments").json["items"], [])
        self.assertEqual(self.api("GET", "/deployments/1").status, 404)
        self.assertEqual(self.api("GET", "/deployments/x").status, 404)


@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
class Deployments(Base):
    env = {"BERTH_HEARTBEAT_S": str(HB)}

    def setUp(self):
        super().setUp()
        self.state = tempfile.TemporaryDirectory(prefix="berth-runner-")
        self.runner_log = os.path.join(self.b.tmp.name, "runner.log")
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()
        super().tearDown()
        self.state.cleanup()

    def start_runner(self, token):
        env = dict(os.environ, BERTH_RUNNER_TOKEN=token)
        log = open(self.runner_log, "ab")
        self.proc = subprocess.Popen(
            [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % self.b.port, "--state-dir",
             self.state.name, "--min-free-disk", "0"], env=env, stdout=log, stderr=log)
        log.close()

    def server_status(self, sid):
        return self.api("GET", "/servers/%d" % sid).json["status"]

    def active_app(self):
        s = self.add_server()
        self.start_runner(s["registration_token"])
        self.assertTrue(wait_for(lambda: self.server_status(s["id"]) == "ACTIVE", 15),
                        self.b.log_text()[-3000:])
        r = self.api("POST", "/apps", self.app_body())
        self.assertEqual(r.status, 201, r)
        r = self.api("PUT", "/apps/web/env/API_KEY", {"value": SECRET})
        self.assertEqual(r.status, 200, r)
        return s

    def dep(self, did):
        r = self.api("GET", "/deployments/%d" % did)
        self.assertEqual(r.status, 200, r)
        return r.json

    def ended(self, did):
        d = self.dep(did)
        return d if d["status"] in ("SUCCEEDED", "FAILED", "CANCELLED") else None

    def test_deploy_dispatched_then_failed_by_runner(self):
        s = self.active_app()
        r = self.api("POST", "/apps/web/deployments", {"commit": "0123abcd"})
        self.assertEqual(r.status, 201, r)
        d = r.json
        self.assertIn(d["status"], ("PENDING", "RUNNING"))
        self.assertEqual(d["kind"], "deploy")
        self.assertEqual(d["commit"], "0123abcd")
        self.assertIsNotNone(d["job_id"])  # the app's slot was free: dispatched at once
        # berth-INSTALL-APP:DEPLOYMENT, INSTALL from this berthd's master key
        self.assertRegex(d["image"], r"^berth-[0-9a-f]{8}-%d:%d$" % (self.api("GET", "/apps/web").json["id"],
                                                                      d["id"]))
        done = wait_for(lambda: self.ended(d["id"]), 15)
        self.assertTrue(done, self.dep(d["id"]))
        self.assertEqual(done["status"], "FAILED")
        self.assertEqual(done["failed_step"], "clone", done)
        self.assertIn("git", done["reason"])
        self.assertIsNotNone(done["started_at"])  # it was RUNNING: the runner accepted it
        self.assertIsNotNone(done["finished_at"])
        self.assertIsNone(done["rolled_back_to"])
        self.assertIn("FAILED", done["summary"])
        # the job behind it
        j = self.api("GET", "/jobs/%d" % d["job_id"])
        self.assertEqual(j.status, 200, j)
        self.assertEqual((j.json["kind"], j.json["status"], j.json["server_id"]),
                         ("deploy", "FAILED", s["id"]))
        # its log, whole and followed (ended: answers at once)
        r = self.api("GET", "/deployments/%d/logs" % d["id"])
        self.assertEqual(r.status, 200, r)
        self.assertIn('"step":"clone"', r.body)
        r = self.api("GET", "/deployments/%d/logs?follow=1" % d["id"])
        self.assertEqual(r.status, 200, r)
        self.assertIn('"step":"clone"', r.body)
        # listed; not current (it failed); nothing to roll back to
        items = self.api("GET", "/apps/web/deployments").json["items"]
        self.assertEqual([x["id"] for x in items], [d["id"]])
        self.assertFalse(items[0]["current"])
        self.assertIsNone(self.api("GET", "/apps/web").json["current_deployment"])
        r = self.api("POST", "/apps/web/rollback")
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "no_previous_deployment"))
        # cancelling an ended deployment is refused
        self.assertEqual(self.api("POST", "/deployments/%d/cancel" % d["id"]).status, 409)
        # nothing of it serves anywhere: the app may move to another server
        self.add_server("web-2")
        self.assertEqual(self.api("PATCH", "/apps/web", {"server": "web-2"}).status, 200)
        # audited
        acts = [e["action"] for e in self.api("GET", "/audit?action=deployment.*").json["items"]]
        self.assertIn("deployment.create", acts)
        self.api("GET", "/jobs/%d/logs" % d["job_id"])
        self.api("GET", "/servers/%d/jobs" % s["id"])
        self.assert_no_secret()
        with open(self.runner_log, "rb") as f:
            self.assertNotIn(SECRET.encode(), f.read())

    def test_queue_order_and_cancel_pending(self):
        s = self.active_app()
        # Freeze the runner: berthd keeps the server ACTIVE for 3 beats, long
        # enough to queue three deployments behind the first.
        self.proc.send_signal(signal.SIGSTOP)
        ids = []
        for sha in ("aaaa1111", "bbbb2222", "cccc3333"):
            r = self.api("POST", "/apps/web/deployments", {"commit": sha})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(r.json["status"], "PENDING")
            ids.append(r.json["id"])
        first, second, third = (self.dep(i) for i in ids)
        self.assertIsNotNone(first["job_id"])
        self.assertIsNone(second["job_id"])   # queued behind the first
        self.assertIsNone(third["job_id"])
        self.assertIn("queued", second["summary"])
        # cancel the third while it is queued: CANCELLED at once, never dispatched
        r = self.api("POST", "/deployments/%d/cancel" % ids[2])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["status"], "CANCELLED")
        self.assertIsNone(r.json["job_id"])
        # logs of a queued deployment: empty whole, 409 followed
        r = self.api("GET", "/deployments/%d/logs" % ids[1])
        self.assertEqual((r.status, r.body), (200, ""))
        self.assertEqual(self.api("GET", "/deployments/%d/logs?follow=1" % ids[1]).status, 409)
        # the app cannot be deleted under a running deployment
        r = self.api("DELETE", "/apps/web?confirm=web")
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "deployment_running"))
        self.proc.send_signal(signal.SIGCONT)
        d1 = wait_for(lambda: self.ended(ids[0]), 20)
        d2 = wait_for(lambda: self.ended(ids[1]), 20)
        self.assertTrue(d1 and d2, (self.dep(ids[0]), self.dep(ids[1]), self.b.log_text()[-3000:]))
        self.assertEqual((d1["status"], d2["status"]), ("FAILED", "FAILED"))
        self.assertGreater(d2["job_id"], d1["job_id"])
        self.assertGreaterEqual(d2["started_at"], d1["finished_at"])
        d3 = self.dep(ids[2])
        self.assertEqual(d3["status"], "CANCELLED")
        self.assertIsNone(d3["job_id"])
        items = self.api("GET", "/apps/web/deployments").json["items"]
        self.assertEqual([x["id"] for x in items], list(reversed(ids)))
        self.assertEqual(self.api("DELETE", "/apps/web?confirm=web").status, 204)
        self.assert_no_secret()

    def test_other_org_deployment_is_404(self):
        self.active_app()
        r = self.api("POST", "/apps/web/deployments")
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]
        self.assertEqual(self.b.request("POST", "/api/v1/orgs", token=self.tok,
                                        body={"name": "elsewhere"}).status, 201)
        other = "/api/v1/orgs/elsewhere"
        for method, path in (("GET", "/deployments/%d" % did),
                             ("GET", "/deployments/%d/logs" % did),
                             ("POST", "/deployments/%d/cancel" % did),
                             ("GET", "/jobs/%d" % r.json["job_id"])):
            self.assertEqual(self.api(method, path, org=other).status, 404, path)
        self.assertTrue(wait_for(lambda: self.ended(did), 15))
        self.assert_no_secret()

    def test_server_not_active_after_runner_stops(self):
        s = self.active_app()
        self.proc.kill()
        self.proc.wait()
        self.assertTrue(wait_for(lambda: self.server_status(s["id"]) == "UNREACHABLE", 10))
        r = self.api("POST", "/apps/web/deployments")
        self.assertEqual((r.status, r.json["error"]["code"]), (409, "server_not_active"), r)
        self.assertIn("UNREACHABLE", r.json["error"]["message"])


class Peer:
    """A minimal runner-protocol peer over a real WebSocket (RFC 6455 by
    hand: the standard library has no client). Text frames only."""

    def __init__(self, port, secret):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET /runner/v1 HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Protocol: berth-runner.v1\r\n"
                        "Authorization: Bearer %s\r\n\r\n" % (port, key, secret)).encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.s.recv(4096)
            if not chunk:
                raise EOFError("closed during the upgrade")
            buf += chunk
        head, self.buf = buf.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise AssertionError("upgrade refused: %r" % head)
        self.seen = []

    def close(self):
        self.s.close()

    def _frame(self, op, data):
        hdr = bytearray([0x80 | op])
        n = len(data)
        if n < 126:
            hdr.append(0x80 | n)
        elif n < 65536:
            hdr.append(0x80 | 126)
            hdr += struct.pack("!H", n)
        else:
            hdr.append(0x80 | 127)
            hdr += struct.pack("!Q", n)
        mask = os.urandom(4)
        hdr += mask
        self.s.sendall(bytes(hdr) + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def send(self, obj):
        self._frame(0x1, json.dumps(obj).encode())

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("link closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            payload = self._read(n)
            op = b0 & 0x0F
            if op == 0x9:
                self._frame(0xA, payload)
            elif op == 0x8:
                raise EOFError("link closed by berthd")
            elif op == 0x1:
                msg = json.loads(payload)
                self.seen.append(msg)
                return msg

    def expect(self, type_, job=None):
        while True:
            m = self.recv()
            if m["type"] == type_ and (job is None or m.get("job") == str(job)):
                return m

    def log(self, job, seq, data, stream="system"):
        self.send({"type": "job.log", "job": str(job), "seq": seq, "stream": stream,
                   "ts": int(time.time() * 1000), "data": data})

    def step(self, job, seq, step, status, **extra):
        self.log(job, seq, json.dumps(dict(step=step, status=status, **extra)) + "\n")

    def done(self, job, last_seq, ok, error=None):
        self.send({"type": "job.done", "job": str(job), "last_seq": last_seq,
                   "status": "SUCCEEDED" if ok else "FAILED", "exit_code": 0 if ok else 1,
                   "error": error})
        self.expect("ack.done", job)


class DeployContract(Base):
    """berthd's side of the deploy-job contract, driven by a protocol peer."""

    def hello(self, secret, jobs=()):
        p = Peer(self.b.port, secret)
        p.send({"type": "hello", "proto": 1, "version": "contract-test", "hostname": "peer",
                "jobs": list(jobs)})
        return p

    def connect(self):
        s = self.add_server()
        p = self.hello(s["registration_token"])
        reg = p.expect("register")
        self.cred = reg["credential"]
        p.send({"type": "registered", "server_id": reg["server_id"]})
        p.expect("welcome")
        p.send({"type": "precheck", "ok": True, "checks": []})
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/%d" % s["id"]).json["status"]
                                 == "ACTIVE", 10))
        return s, p

    def dep(self, did):
        return self.api("GET", "/deployments/%d" % did).json

    def succeed(self, p, job, commit="abcdef0123456789"):
        """Plays a whole successful pipeline; returns the last seq."""
        p.send({"type": "job.accepted", "job": str(job)})
        seq = 0
        for step in ("precheck", "clone", "build", "start", "health", "swap", "cleanup"):
            seq += 1
            p.step(job, seq, step, "started")
            seq += 1
            extra = {"commit": commit} if step == "clone" else {}
            p.step(job, seq, step, "ok", detail="%s done" % step, **extra)
        seq += 1
        p.log(job, seq, "Successfully built\n", stream="stdout")
        p.done(job, seq, True)
        return seq

    def test_contract(self):
        s, p = self.connect()
        r = self.api("POST", "/apps", self.app_body(public_port=80, domains=["web.example.com"],
                                                   memory=256 * 1024 * 1024, cpus=0.5))
        self.assertEqual(r.status, 201, r)
        app = r.json
        # 0: an app created with domains queues an edge job: its names, read at send time
        ej = p.expect("job")
        # (with the installation's ACME settings and the app's HTTPS options:
        # docs/protocol.md#certificates)
        self.assertEqual((ej["kind"], ej["spec"]), ("edge", {
            "app_id": str(app["id"]), "domains": ["web.example.com"],
            "acme": {"directory": "https://acme-v02.api.letsencrypt.org/directory", "email": ""},
            "https_redirect": True, "hsts": False}))
        p.send({"type": "job.accepted", "job": ej["job"]})
        p.done(ej["job"], 0, True)
        self.assertEqual(self.api("PUT", "/apps/web/env/API_KEY", {"value": SECRET}).status, 200)
        self.assertEqual(self.api("PUT", "/apps/web/env/MODE", {"value": "two words"}).status, 200)

        # 1: a deploy job carries everything, env decrypted only on the wire
        d1 = self.api("POST", "/apps/web/deployments").json
        job = p.expect("job")
        self.assertEqual((job["kind"], job["job"]), ("deploy", str(d1["job_id"])))
        spec = job["spec"]
        self.assertEqual(spec["env"], {"API_KEY": SECRET, "MODE": "two words"})
        self.assertEqual(spec["deployment"], str(d1["id"]))
        self.assertEqual(spec["kind"], "deploy")
        self.assertEqual(spec["app"], {"id": str(app["id"]), "name": "web"})
        self.assertEqual((spec["repo_url"], spec["branch"], spec["commit"]),
                         (app["repo_url"], "main", None))
        self.assertEqual((spec["dockerfile"], spec["context"]), ("./Dockerfile", "."))
        self.assertRegex(spec["image"], r"^berth-[0-9a-f]{8}-%d:%d$" % (app["id"], d1["id"]))
        pre = spec["image"].split("-")[1]  # the installation's part of the names
        self.assertIsNone(spec["rollback_image"])
        self.assertEqual(spec["container"], {
            "name": "berth-%s-%d-%d" % (pre, app["id"], d1["id"]), "port": 8080,
            "restart_policy": "unless-stopped", "memory": 256 * 1024 * 1024, "cpus": 0.5})
        self.assertEqual(spec["health"], {"path": "/", "tries": 10, "backoff_ms": 500,
                                          "timeout_s": 120})
        self.assertEqual((spec["public_port"], spec["domains"]), (80, ["web.example.com"]))
        self.assertEqual((spec["keep_images"], spec["drain_seconds"]), (5, 30))
        self.assertEqual(spec["timeouts"], {"clone_s": 300, "build_s": 1800, "health_s": 120})
        self.assertIsNone(spec["previous"])
        # accepted -> RUNNING; steps as they come; SUCCEEDED -> current
        p.send({"type": "job.accepted", "job": job["job"]})
        self.assertTrue(wait_for(lambda: self.dep(d1["id"])["status"] == "RUNNING", 5))
        p.step(job["job"], 1, "precheck", "started")
        p.step(job["job"], 2, "precheck", "ok", detail="docker 20.10")
        p.log(job["job"], 3, "a plain note, not a step\n")
        p.step(job["job"], 4, "clone", "started")
        self.assertTrue(wait_for(lambda: len(self.dep(d1["id"])["steps"]) == 2, 5))
        steps = self.dep(d1["id"])["steps"]
        self.assertEqual([(x["step"], x["status"]) for x in steps],
                         [("precheck", "ok"), ("clone", "started")])
        self.assertEqual(steps[0]["detail"], "docker 20.10")
        self.assertIsNotNone(steps[0]["duration_ms"])
        self.assertIsNone(steps[1]["finished_at"])
        p.step(job["job"], 5, "clone", "ok", commit="0123456789abcdef")
        p.step(job["job"], 6, "build", "started")
        p.step(job["job"], 7, "build", "ok", image="berth-%s-%d:%d" % (pre, app["id"], d1["id"]))
        p.done(job["job"], 7, True)
        d = self.dep(d1["id"])
        self.assertEqual(d["status"], "SUCCEEDED", d)
        self.assertEqual(d["resolved_commit"], "0123456789abcdef")
        self.assertTrue(d["current"])
        self.assertEqual(self.api("GET", "/apps/web").json["current_deployment"]["id"], d1["id"])
        log = self.api("GET", "/deployments/%d/logs" % d1["id"]).body
        self.assertIn("a plain note", log)

        # 2: fails at health and rolls back; the result says so honestly
        d2 = self.api("POST", "/apps/web/deployments", {"commit": "feedbeef"}).json
        job = p.expect("job")
        spec = job["spec"]
        self.assertEqual(spec["commit"], "feedbeef")
        self.assertEqual(spec["previous"], {
            "deployment": str(d1["id"]), "image": d["image"],
            "container": "berth-%s-%d-%d" % (pre, app["id"], d1["id"]),
            "commit": "0123456789abcdef"})
        p.send({"type": "job.accepted", "job": job["job"]})
        p.step(job["job"], 1, "health", "started")
        p.step(job["job"], 2, "health", "failed", detail="GET / answered 502 ten times")
        p.step(job["job"], 3, "rollback", "started")
        p.step(job["job"], 4, "rollback", "ok")
        p.done(job["job"], 4, False, "health: GET / answered 502 after 10 tries; rolled back to "
               "deployment %d" % d1["id"])
        d = self.dep(d2["id"])
        self.assertEqual((d["status"], d["failed_step"], d["reason"], d["rolled_back_to"]),
                         ("FAILED", "health", "GET / answered 502 after 10 tries", d1["id"]))
        self.assertIn("rolled back to deployment %d" % d1["id"], d["summary"])
        self.assertEqual([(x["step"], x["status"]) for x in d["steps"]],
                         [("health", "failed"), ("rollback", "ok")])
        self.assertEqual(self.api("GET", "/apps/web").json["current_deployment"]["id"], d1["id"])
        # only one success, and it serves: nothing to roll back to
        self.assertEqual(self.api("POST", "/apps/web/rollback").status, 409)

        # 3: succeeds -> current; now a rollback has a target
        d3 = self.api("POST", "/apps/web/deployments").json
        job = p.expect("job")
        followed = {}

        def follow():  # the deployment's log, live, until it ends
            c = http.client.HTTPConnection("127.0.0.1", self.b.port, timeout=15)
            c.request("GET", "%s/deployments/%d/logs?follow=1" % (self.org, d3["id"]),
                      headers={"Authorization": "Bearer " + self.tok})
            followed["body"] = c.getresponse().read().decode()
            c.close()
        t = threading.Thread(target=follow)
        t.start()
        time.sleep(0.3)
        self.succeed(p, job["job"])
        t.join(15)
        self.assertIn("Successfully built", followed.get("body", ""))
        self.assertIn('"step": "cleanup"', followed["body"])
        self.assertEqual(self.api("GET", "/apps/web").json["current_deployment"]["id"], d3["id"])
        r = self.api("POST", "/apps/web/rollback")
        self.assertEqual(r.status, 201, r)
        d4 = r.json
        self.assertEqual((d4["kind"], d4["rollback_of"], d4["image"]),
                         ("rollback", d1["id"], self.dep(d1["id"])["image"]))
        job = p.expect("job")
        self.assertEqual(job["spec"]["rollback_image"], d4["image"])
        self.assertEqual(job["spec"]["kind"], "rollback")
        self.assertEqual(job["spec"]["previous"]["deployment"], str(d3["id"]))
        # the link drops before the job is accepted: redelivered, env included
        p.close()
        p = self.hello(self.cred)
        p.expect("welcome")
        again = p.expect("job", job["job"])
        self.assertEqual(again["spec"]["env"]["API_KEY"], SECRET)
        self.assertEqual(again["spec"]["rollback_image"], d4["image"])
        self.succeed(p, job["job"])
        self.assertEqual(self.dep(d4["id"])["status"], "SUCCEEDED")
        self.assertEqual(self.api("GET", "/apps/web").json["current_deployment"]["id"], d4["id"])

        # 5: cancelled while RUNNING: job.cancel, then CANCELLED on the result
        d5 = self.api("POST", "/apps/web/deployments").json
        job = p.expect("job")
        p.send({"type": "job.accepted", "job": job["job"]})
        self.assertTrue(wait_for(lambda: self.dep(d5["id"])["status"] == "RUNNING", 5))
        r = self.api("POST", "/deployments/%d/cancel" % d5["id"])
        self.assertEqual((r.status, r.json["status"], r.json["cancel_requested"]),
                         (202, "RUNNING", True))
        p.expect("job.cancel", job["job"])
        p.step(job["job"], 1, "build", "failed", detail="interrupted")
        p.done(job["job"], 1, False, "build: cancelled")
        d = self.dep(d5["id"])
        self.assertEqual((d["status"], d["failed_step"]), ("CANCELLED", "build"))
        self.assertEqual(self.api("GET", "/apps/web").json["current_deployment"]["id"], d4["id"])

        # 6: SUCCEEDED as soon as the runner says the new container serves
        # (cleanup started, "serving": true), before its cleanup ends; the
        # app's next deployment is dispatched at that moment
        d6 = self.api("POST", "/apps/web/deployments").json
        job6 = p.expect("job")
        d7 = self.api("POST", "/apps/web/deployments").json
        self.assertIsNone(self.dep(d7["id"])["job_id"])  # queued behind d6
        p.send({"type": "job.accepted", "job": job6["job"]})
        seq = 0
        for step in ("precheck", "clone", "build", "start", "health", "swap"):
            p.step(job6["job"], seq + 1, step, "started")
            p.step(job6["job"], seq + 2, step, "ok")
            seq += 2
        self.assertEqual(self.dep(d6["id"])["status"], "RUNNING")
        p.step(job6["job"], seq + 1, "cleanup", "started", serving=True)
        job7 = p.expect("job")
        self.assertEqual(job7["spec"]["deployment"], str(d7["id"]))
        d = self.dep(d6["id"])
        self.assertEqual((d["status"], d["current"], d["steps"][-1]["status"]), ("SUCCEEDED", True, "started"))
        self.assertEqual(self.api("GET", "/apps/web").json["current_deployment"]["id"], d6["id"])
        self.assertIsNotNone(self.dep(d7["id"])["job_id"])
        p.step(job6["job"], seq + 2, "cleanup", "ok", detail="removed 1 old container(s)")
        p.done(job6["job"], seq + 2, True)
        d = self.dep(d6["id"])
        self.assertEqual((d["status"], d["steps"][-1]["step"], d["steps"][-1]["status"]),
                         ("SUCCEEDED", "cleanup", "ok"))
        p.send({"type": "job.accepted", "job": job7["job"]})
        p.step(job7["job"], 1, "build", "failed", detail="exit 1")
        p.done(job7["job"], 1, False, "build: docker build failed (exit 1); rolled back to deployment %d" % d6["id"])
        self.assertEqual(self.dep(d7["id"])["status"], "FAILED")
        self.assertEqual(self.api("GET", "/apps/web").json["current_deployment"]["id"], d6["id"])
        p.close()

        # at rest: env sealed, stored job specs without env
        self.assert_no_secret()
        self.b.stop()
        db = sqlite3.connect(os.path.join(self.b.data, "berth.db"))
        try:
            specs = [row[0] for row in db.execute("SELECT spec_json FROM jobs")]
            self.assertEqual(len(specs), 8)  # 7 deploys and the edge job
            for text in specs:
                self.assertNotIn(SECRET, text)
                self.assertNotIn('"env"', text)
            sealed = [row[0] for row in db.execute("SELECT value_sealed FROM app_env")]
            self.assertEqual(len(sealed), 2)
            for text in sealed:
                self.assertNotIn(SECRET, text)
                self.assertNotIn("two words", text)
            dump = "\n".join(db.iterdump())
            self.assertNotIn(SECRET, dump)
        finally:
            db.close()


if __name__ == "__main__":
    unittest.main()
