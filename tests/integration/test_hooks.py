"""Git integration against a real berthd: registered repositories, push
webhooks from GitHub, Gitea and GitLab (realistic payloads, real HMAC
signatures), auto-deploy, deliveries, and clone credentials for private
repositories handed to the deploy job only on the wire (docs/webhooks.md).

The runner side is played by test_apps.Peer, a WebSocket peer speaking
the runner protocol, so the deploy job's spec is read as berthd sends it.
The GitHub App token exchange runs against a local HTTP server (stdlib,
loopback) that checks the JWT's RS256 signature with the App's public
key using the openssl CLI, and answers with an installation token.
"""
import hashlib
import hmac
import http.server
import json
import os
import sqlite3
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

from harness import BERTH, Berthd
from test_apps import Base, Peer, wait_for
from test_cli import CliCase

GH_DOC_SECRET = "It's a Secret to Everybody"
GH_DOC_PAYLOAD = b"Hello, World!"
GH_DOC_SIG = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

REPO = "https://github.com/acme/web.git"
ZERO = "0" * 40


def sign(secret, body):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def sha(n):
    return hashlib.sha1(b"commit-%d" % n).hexdigest()


def github_push(ref="refs/heads/main", after=None, before=None, deleted=False,
                owner="acme", name="web", host="github.com"):
    after = ZERO if deleted else (after or sha(1))
    full = "%s/%s" % (owner, name)
    return {
        "ref": ref, "before": before or sha(0), "after": after,
        "created": False, "deleted": deleted, "forced": False, "base_ref": None,
        "compare": "https://%s/%s/compare/%s...%s" % (host, full, (before or sha(0))[:12],
                                                     after[:12]),
        "commits": [] if deleted else [{
            "id": after, "tree_id": sha(99), "distinct": True, "message": "Fix the thing",
            "timestamp": "2026-11-23T19:21:00Z", "url": "https://%s/%s/commit/%s" % (
                host, full, after),
            "author": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
            "committer": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
            "added": [], "removed": [], "modified": ["app.py"]}],
        "head_commit": None,
        "repository": {
            "id": 1296269, "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5", "name": name,
            "full_name": full, "private": False,
            "owner": {"name": owner, "login": owner, "id": 1},
            "html_url": "https://%s/%s" % (host, full),
            "url": "https://%s/%s" % (host, full),
            "git_url": "git://%s/%s.git" % (host, full),
            "ssh_url": "git@%s:%s.git" % (host, full),
            "clone_url": "https://%s/%s.git" % (host, full),
            "svn_url": "https://%s/%s" % (host, full),
            "default_branch": "main", "master_branch": "main"},
        "pusher": {"name": "ada", "email": "ada@example.com"},
        "sender": {"login": "ada", "id": 2, "type": "User"},
    }


def gitea_push(ref="refs/heads/main", after=None, owner="acme", name="web",
               host="gitea.example.com:3000", before=None):
    full = "%s/%s" % (owner, name)
    after = after or sha(7)
    return {
        "ref": ref, "before": before or sha(6), "after": after,
        "compare_url": "http://%s/%s/compare/%s...%s" % (host, full, sha(6), after),
        "commits": [{"id": after, "message": "Update\n", "url": "http://%s/%s/commit/%s" % (
            host, full, after), "author": {"name": "ada", "email": "ada@example.com",
                                           "username": "ada"},
            "committer": {"name": "ada", "email": "ada@example.com", "username": "ada"},
            "timestamp": "2026-11-23T19:21:00Z", "added": [], "removed": [],
            "modified": ["README.md"]}],
        "total_commits": 1, "head_commit": None,
        "repository": {
            "id": 3, "owner": {"id": 1, "login": owner, "username": owner}, "name": name,
            "full_name": full, "private": True, "fork": False,
            "html_url": "http://%s/%s" % (host, full),
            "ssh_url": "ssh://git@%s/%s.git" % (host.split(":")[0] + ":2222", full),
            "clone_url": "http://%s/%s.git" % (host, full), "default_branch": "main"},
        "pusher": {"id": 1, "login": "ada", "username": "ada"},
        "sender": {"id": 1, "login": "ada", "username": "ada"},
    }


def gitlab_push(ref="refs/heads/main", after=None, event="push", path="group/sub/web",
                host="gitlab.example.com", before=None):
    after = after or sha(9)
    return {
        "object_kind": event, "event_name": event, "before": before or sha(8), "after": after,
        "ref": ref, "ref_protected": True, "checkout_sha": None if after == ZERO else after,
        "user_id": 4, "user_name": "Ada", "user_username": "ada", "user_email": "",
        "project_id": 15,
        "project": {
            "id": 15, "name": "web", "description": "", "web_url": "https://%s/%s" % (host, path),
            "git_ssh_url": "git@%s:%s.git" % (host, path),
            "git_http_url": "https://%s/%s.git" % (host, path),
            "namespace": "sub", "visibility_level": 0, "path_with_namespace": path,
            "default_branch": "main", "homepage": "https://%s/%s" % (host, path),
            "url": "git@%s:%s.git" % (host, path),
            "ssh_url": "git@%s:%s.git" % (host, path),
            "http_url": "https://%s/%s.git" % (host, path)},
        "commits": [] if after == ZERO else [{
            "id": after, "message": "Update the thing", "title": "Update the thing",
            "timestamp": "2026-11-23T19:21:00+00:00",
            "url": "https://%s/%s/-/commit/%s" % (host, path, after),
            "author": {"name": "Ada", "email": "ada@example.com"},
            "added": [], "modified": ["app.py"], "removed": []}],
        "total_commits_count": 0 if after == ZERO else 1,
        "repository": {"name": "web", "url": "git@%s:%s.git" % (host, path),
                       "homepage": "https://%s/%s" % (host, path),
                       "git_http_url": "https://%s/%s.git" % (host, path),
                       "git_ssh_url": "git@%s:%s.git" % (host, path),
                       "visibility_level": 0},
    }


class HookBase(Base):
    def setUp(self):
        super().setUp()
        self.peers = []
        self.repo_of_secret = {}  # webhook secret -> repository id
        self.last_repo = None

    def tearDown(self):
        for p in self.peers:
            p.close()
        super().tearDown()

    def connect(self, name="web-1", org=None):
        """An ACTIVE server in org played by a protocol peer."""
        r = self.api("POST", "/servers", {"name": name}, org=org)
        self.assertEqual(r.status, 201, r)
        s = r.json
        p = Peer(self.b.port, s["registration_token"])
        p.send({"type": "hello", "proto": 1, "version": "hooks-test", "hostname": name,
                "jobs": []})
        reg = p.expect("register")
        p.send({"type": "registered", "server_id": reg["server_id"]})
        p.expect("welcome")
        p.send({"type": "precheck", "ok": True, "checks": []})
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/%d" % s["id"], org=org)
                                 .json["status"] == "ACTIVE", 10))
        self.peers.append(p)
        return s, p

    def app(self, name, repo_url=REPO, org=None, server="web-1", **kw):
        body = {"name": name, "server": server, "repo_url": repo_url, "container_port": 8080,
                "auto_deploy": True}
        body.update(kw)
        r = self.api("POST", "/apps", body, org=org)
        self.assertEqual(r.status, 201, r)
        return r.json

    def repo(self, provider="github", url=REPO, org=None):
        r = self.api("POST", "/repos", {"provider": provider, "url": url}, org=org)
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.json["hook_url"].endswith("/hooks/%s/%d" % (provider, r.json["id"])))
        self.repo_of_secret[r.json["webhook_secret"]] = r.json["id"]
        self.last_repo = r.json["id"]
        return r.json

    def hook(self, provider, payload, secret=None, event=None, delivery=None, raw=None,
             headers=None, to=None):
        """Posts to /hooks/PROVIDER/ID: ID is `to`, else the repository the
        secret belongs to, else the last one registered."""
        body = raw if raw is not None else json.dumps(payload).encode()
        to = to or self.repo_of_secret.get(secret) or self.last_repo
        h = {"Content-Type": "application/json"}
        delivery = delivery or str(uuid.uuid4())
        if provider in ("github", "generic"):
            h.update({"X-GitHub-Event": event or "push", "X-GitHub-Delivery": delivery,
                      "User-Agent": "GitHub-Hookshot/abc"})
            if secret is not None:
                h["X-Hub-Signature-256"] = sign(secret, body)
        elif provider == "gitea":
            h.update({"X-Gitea-Event": event or "push", "X-Gitea-Delivery": delivery,
                      "X-GitHub-Event": event or "push"})
            if secret is not None:
                h["X-Gitea-Signature"] = sign(secret, body)[7:]
        else:
            h.update({"X-Gitlab-Event": event or "Push Hook", "X-Gitlab-Event-UUID": delivery})
            if secret is not None:
                h["X-Gitlab-Token"] = secret
        h.update(headers or {})
        r = self.b.request("POST", "/hooks/%s/%s" % (provider, to), raw=body, headers=h)
        self.bodies.append(r.body)
        return r

    def deps(self, app, org=None):
        return self.api("GET", "/apps/%s/deployments" % app, org=org).json["items"]

    def deliveries(self, repo_id, org=None):
        r = self.api("GET", "/repos/%d/deliveries" % repo_id, org=org)
        self.assertEqual(r.status, 200, r)
        return r.json["items"]


class Repos(HookBase):
    def test_crud_secret_once_and_isolation(self):
        r = self.api("POST", "/repos", {"provider": "github", "url": REPO})
        self.assertEqual(r.status, 201, r)
        rp = r.json
        secret = rp["webhook_secret"]
        self.assertTrue(secret.startswith("bwh_") and len(secret) > 40, rp)
        self.assertTrue(rp["hook_url"].endswith("/hooks/github/%d" % rp["id"]), rp)
        self.assertEqual(rp["url_normalized"], "github.com/acme/web")
        self.assertEqual((rp["deploy_key"], rp["github_app"]), (False, None))
        # never again
        got = self.api("GET", "/repos/%d" % rp["id"])
        self.assertEqual(got.status, 200)
        self.assertNotIn("webhook_secret", got.json)
        lst = self.api("GET", "/repos")
        self.assertEqual([x["id"] for x in lst.json["items"]], [rp["id"]])
        self.assertNotIn(secret, lst.body + got.body)
        # the same repository in another spelling is taken
        r = self.api("POST", "/repos", {"provider": "github", "url": "git@GitHub.com:acme/web"})
        self.assertEqual(r.status, 409, r)
        for body, code in [({"provider": "svn", "url": REPO}, 422),
                           ({"provider": "github", "url": "/srv/git/web"}, 422),
                           ({"provider": "github", "url": "https://u:pw@github.com/a/b"}, 422),
                           ({"provider": "github"}, 422),
                           ({"provider": "github", "url": REPO, "secret": "x"}, 400)]:
            self.assertEqual(self.api("POST", "/repos", body).status, code, body)
        # other providers get their own hook URL
        gl = self.repo("gitlab", "https://gitlab.example.com/group/web.git")
        self.assertTrue(gl["hook_url"].endswith("/hooks/gitlab/%d" % gl["id"]))
        # another organization's ids are not there
        self.assertEqual(self.b.request("POST", "/api/v1/orgs", token=self.tok,
                                        body={"name": "elsewhere"}).status, 201)
        other = "/api/v1/orgs/elsewhere"
        self.assertEqual(self.api("GET", "/repos/%d" % rp["id"], org=other).status, 404)
        self.assertEqual(self.api("DELETE", "/repos/%d" % rp["id"], org=other).status, 404)
        self.assertEqual(self.api("GET", "/repos/%d/deliveries" % rp["id"], org=other).status,
                         404)
        self.assertEqual(self.api("GET", "/repos", org=other).json["items"], [])
        # scopes: a viewer reads, cannot change
        viewer = self.b.add_user(self.tok, self.b.org, "v@example.com", "viewer")
        self.assertEqual(self.api("GET", "/repos", token=viewer).status, 200)
        r = self.api("POST", "/repos", {"provider": "gitea", "url": "https://g.example.com/a/b"},
                     token=viewer)
        self.assertEqual((r.status, r.json["error"]["code"]), (403, "forbidden"))
        self.assertIn("app:write", r.json["error"]["message"])
        # delete, audited
        self.assertEqual(self.api("DELETE", "/repos/%d" % rp["id"]).status, 204)
        self.assertEqual(self.api("GET", "/repos/%d" % rp["id"]).status, 404)
        audit = self.api("GET", "/audit?action=repo.*").json["items"]
        self.assertEqual([a["action"] for a in audit][:2], ["repo.delete", "repo.create"])
        self.assertEqual(sum(secret in b for b in self.bodies), 1)  # the create answer only
        self.assertNotIn(secret, self.b.log_text())

    def test_credentials_are_write_only(self):
        rp = self.repo()
        key = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                              "rsa_keygen_bits:2048"], check=True, capture_output=True,
                             text=True).stdout
        r = self.api("PUT", "/repos/%d/deploy-key" % rp["id"], {"private_key": key})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json["deploy_key"])
        self.assertEqual(self.api("PUT", "/repos/%d/deploy-key" % rp["id"],
                                  {"private_key": "ssh-ed25519 AAAA... a public key"}).status, 422)
        r = self.api("POST", "/repos/%d/github-app" % rp["id"],
                     {"app_id": 12, "installation_id": 34, "private_key": key})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["github_app"], {"app_id": 12, "installation_id": 34,
                                                "api_url": "https://api.github.com"})
        for body, code in [({"app_id": 12, "installation_id": 34, "private_key": "nope"}, 422),
                           ({"app_id": 0, "installation_id": 34, "private_key": key}, 422),
                           ({"app_id": 12, "installation_id": 34, "private_key": key,
                             "api_url": "ftp://x"}, 422),
                           ({"app_id": "12", "installation_id": 34, "private_key": key}, 400)]:
            self.assertEqual(self.api("POST", "/repos/%d/github-app" % rp["id"], body).status,
                             code, body)
        body = self.api("GET", "/repos/%d" % rp["id"]).body
        marker = key.splitlines()[5]
        for b in self.bodies:
            self.assertNotIn(marker, b)
        self.assertNotIn(marker, self.b.log_text())
        self.assertIn('"deploy_key":true', body.replace(" ", ""))
        self.assertEqual(self.api("DELETE", "/repos/%d/deploy-key" % rp["id"]).status, 204)
        self.assertEqual(self.api("DELETE", "/repos/%d/deploy-key" % rp["id"]).status, 404)
        self.assertEqual(self.api("DELETE", "/repos/%d/github-app" % rp["id"]).status, 204)
        got = self.api("GET", "/repos/%d" % rp["id"]).json
        self.assertEqual((got["deploy_key"], got["github_app"]), (False, None))


class Hooks(HookBase):
    env = {"BERTH_BODY_MAX": "65536"}  # the body cap every route has; small for the 413 test

    def test_signature_examples(self):
        # The test's own signer agrees with GitHub's documented example...
        self.assertEqual(sign(GH_DOC_SECRET, GH_DOC_PAYLOAD), GH_DOC_SIG)
        # ...and berthd verifies a push signed that way, and nothing else.
        self.connect()
        self.app("web")
        rp = self.repo()
        body = json.dumps(github_push()).encode()
        r = self.hook("github", None, raw=body, headers={
            "X-Hub-Signature-256": sign(rp["webhook_secret"], body)})
        self.assertEqual(r.status, 200, r)
        r = self.hook("github", None, raw=body, headers={"X-Hub-Signature-256": GH_DOC_SIG})
        self.assertEqual(r.status, 401, r)
        r = self.hook("github", None, raw=body + b" ", headers={
            "X-Hub-Signature-256": sign(rp["webhook_secret"], body)})
        self.assertEqual(r.status, 401, r)

    def test_github_push_deploys_matching_auto_deploy_apps(self):
        s, p = self.connect()
        web = self.app("web")
        ssh = self.app("web-ssh", repo_url="git@github.com:Acme/web")
        self.app("manual", auto_deploy=False)
        self.app("staging", branch="staging")
        self.app("api", repo_url="https://github.com/acme/api.git")
        rp = self.repo()
        secret = rp["webhook_secret"]
        after = sha(42)
        delivery = str(uuid.uuid4())

        r = self.hook("github", github_push(after=after), secret, delivery=delivery)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["outcome"], "accepted")
        self.assertEqual(len(r.json["deployments"]), 2)
        for app in ("web", "web-ssh"):
            d = self.deps(app)
            self.assertEqual(len(d), 1, app)
            self.assertEqual((d[0]["commit"], d[0]["kind"], d[0]["created_by"]),
                             (after, "deploy", None))
            self.assertIn(d[0]["id"], r.json["deployments"])
        for app in ("manual", "staging", "api"):
            self.assertEqual(self.deps(app), [], app)
        # the runner receives the jobs at that commit
        jobs = [p.expect("job"), p.expect("job")]
        self.assertEqual(sorted(j["spec"]["app"]["name"] for j in jobs), ["web", "web-ssh"])
        self.assertTrue(all(j["spec"]["commit"] == after for j in jobs))
        self.assertTrue(all("git" not in j["spec"] for j in jobs))  # no credentials registered

        # a replayed delivery schedules nothing
        r = self.hook("github", github_push(after=after), secret, delivery=delivery)
        self.assertEqual((r.status, r.json["outcome"]), (200, "duplicate"), r)
        self.assertEqual(len(self.deps("web")), 1)

        # the watched branch only; a push to staging deploys staging
        r = self.hook("github", github_push(ref="refs/heads/staging", after=sha(43)), secret)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([d["commit"] for d in self.deps("staging")], [sha(43)])
        self.assertEqual(len(self.deps("web")), 1)
        r = self.hook("github", github_push(ref="refs/heads/feature/x", after=sha(44)), secret)
        self.assertEqual(r.status, 202, r)
        self.assertIn("feature/x", r.json["reason"])

        # deleted branch, tag, ping, other events: 202/200 with a reason, nothing scheduled
        r = self.hook("github", github_push(deleted=True), secret)
        self.assertEqual(r.status, 202, r)
        self.assertIn("deleted", r.json["reason"])
        r = self.hook("github", github_push(ref="refs/tags/v1.0", after=sha(45)), secret)
        self.assertEqual(r.status, 202, r)
        self.assertIn("tag", r.json["reason"])
        ping = {"zen": "Keep it logically awesome.", "hook_id": 1,
                "hook": {"type": "Repository", "events": ["push"]},
                "repository": github_push()["repository"]}
        r = self.hook("github", ping, secret, event="ping")
        self.assertEqual(r.status, 200, r)
        r = self.hook("github", {"action": "opened", "issue": {"number": 1},
                                 "repository": github_push()["repository"]}, secret,
                      event="issues")
        self.assertEqual(r.status, 202, r)
        self.assertIn("issues", r.json["reason"])
        self.assertEqual(len(self.deps("web")), 1)
        self.assertEqual(len(self.deps("staging")), 1)

        # a second push to main queues behind the first (one at a time per app)
        r = self.hook("github", github_push(after=sha(46), before=after), secret)
        self.assertEqual(r.status, 200, r)
        self.assertEqual([d["commit"] for d in self.deps("web")], [sha(46), after])

        # deliveries: newest first, every request recorded
        items = self.deliveries(rp["id"])
        self.assertEqual([i["outcome"] for i in items],
                         ["accepted", "ignored", "ignored", "ignored", "ignored", "ignored",
                          "accepted", "ignored", "accepted"])
        first = items[-1]
        self.assertEqual((first["delivery_id"], first["event"], first["ref"], first["commit"],
                          first["status"]), (delivery, "push", "refs/heads/main", after, 200))
        self.assertEqual(sorted(first["deployments"]), sorted(
            [self.deps("web")[-1]["id"], self.deps("web-ssh")[-1]["id"]]))
        self.assertIn("duplicate", items[-2]["reason"])
        self.assertTrue(items[0]["at"].endswith("Z"))

    def test_refusals_schedule_nothing(self):
        self.connect()
        self.app("web")
        rp = self.repo()
        r = self.hook("github", github_push(), "bwh_not-the-secret")
        self.assertEqual((r.status, r.json["error"]["code"]), (401, "unauthorized"), r)
        r = self.hook("github", github_push(), None)
        self.assertEqual(r.status, 401, r)
        self.assertEqual(self.deps("web"), [])
        items = self.deliveries(rp["id"])
        self.assertEqual([(i["outcome"], i["status"]) for i in items],
                         [("rejected", 401), ("rejected", 401)])
        self.assertEqual(items[1]["reason"], "signature does not verify")
        audit = self.api("GET", "/audit?action=hook.*").json["items"]
        self.assertEqual([(a["action"], a["outcome"], a["status"]) for a in audit],
                         [("hook.github", "denied", 401)] * 2)
        self.assertEqual(audit[0]["target"], "repo:%d" % rp["id"])
        self.assertIsNone(audit[0]["actor"])
        # an id nobody registered: 401 too (it does not tell which are registered)
        r = self.hook("github", github_push(), rp["webhook_secret"], to=rp["id"] + 1000)
        self.assertEqual(r.status, 401, r)
        r = self.hook("github", github_push(), rp["webhook_secret"], to="abc")
        self.assertEqual(r.status, 401, r)
        # a GitHub-registered repo is not reachable through another provider's hook
        r = self.hook("gitea", github_push(), rp["webhook_secret"])
        self.assertEqual(r.status, 401, r)
        # signed with its secret but for another repository: nothing scheduled
        r = self.hook("github", github_push(name="unknown"), rp["webhook_secret"])
        self.assertEqual((r.status, r.json["outcome"]), (202, "ignored"), r)
        self.assertIn("github.com/acme/unknown", r.json["reason"])
        # malformed requests
        r = self.hook("github", github_push(), rp["webhook_secret"], headers={
            "X-GitHub-Event": ""})
        self.assertEqual(r.status, 400, r)
        r = self.hook("github", None, rp["webhook_secret"], raw=b"{not json")
        self.assertEqual(r.status, 400, r)
        r = self.hook("github", {"ref": "refs/heads/main"}, rp["webhook_secret"])
        self.assertEqual(r.status, 400, r)
        # oversized body: 413 before anything else
        big = json.dumps(dict(github_push(), padding="x" * 70000)).encode()
        r = self.hook("github", None, rp["webhook_secret"], raw=big)
        self.assertEqual(r.status, 413, r)
        self.assertEqual(self.deps("web"), [])
        self.assertNotIn(rp["webhook_secret"], self.b.log_text())

    def test_orgs_register_their_own_secret(self):
        self.connect()
        self.app("web")
        rp = self.repo()
        self.assertEqual(self.b.request("POST", "/api/v1/orgs", token=self.tok,
                                        body={"name": "other"}).status, 201)
        other = "/api/v1/orgs/other"
        self.connect("o-1", org=other)
        self.app("theirs", org=other, server="o-1")
        # other has the same repo in an app but never registered it: not deployed
        r = self.hook("github", github_push(after=sha(1)), rp["webhook_secret"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(len(self.deps("web")), 1)
        self.assertEqual(self.deps("theirs", org=other), [])
        # once other registers it, ITS secret deploys ITS apps (and only those)
        orp = self.repo(org=other)
        self.assertNotEqual(orp["webhook_secret"], rp["webhook_secret"])
        r = self.hook("github", github_push(after=sha(2)), orp["webhook_secret"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual([d["commit"] for d in self.deps("theirs", org=other)], [sha(2)])
        self.assertEqual(len(self.deps("web")), 1)
        self.assertEqual(len(self.deliveries(rp["id"])), 1)
        self.assertEqual(len(self.deliveries(orp["id"], org=other)), 1)
        audit = self.api("GET", "/audit?action=hook.*", org=other).json["items"]
        self.assertEqual([(a["action"], a["outcome"]) for a in audit], [("hook.github", "success")])

    def test_gitea_and_gitlab(self):
        self.connect()
        gt = self.app("gt", repo_url="ssh://git@gitea.example.com:2222/acme/web.git")
        gl = self.app("gl", repo_url="https://gitlab.example.com/group/sub/web")
        rgt = self.repo("gitea", "http://gitea.example.com:3000/acme/web.git")
        rgl = self.repo("gitlab", "git@gitlab.example.com:group/sub/web.git")
        # Gitea: hex HMAC without a prefix
        r = self.hook("gitea", gitea_push(after=sha(7)), rgt["webhook_secret"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual([d["commit"] for d in self.deps("gt")], [sha(7)])
        r = self.hook("gitea", gitea_push(after=sha(8)), rgl["webhook_secret"])
        self.assertEqual(r.status, 401, r)
        r = self.hook("gitea", gitea_push(ref="refs/heads/main", after=ZERO),
                      rgt["webhook_secret"])
        self.assertEqual(r.status, 202, r)
        # GitLab: the token itself
        r = self.hook("gitlab", gitlab_push(after=sha(9)), rgl["webhook_secret"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual([d["commit"] for d in self.deps("gl")], [sha(9)])
        r = self.hook("gitlab", gitlab_push(after=sha(10)), rgl["webhook_secret"] + "x",
                      to=rgl["id"])
        self.assertEqual(r.status, 401, r)
        r = self.hook("gitlab", gitlab_push(after=ZERO, before=sha(9)), rgl["webhook_secret"])
        self.assertEqual(r.status, 202, r)
        r = self.hook("gitlab", gitlab_push(ref="refs/tags/v2", event="tag_push"),
                      rgl["webhook_secret"], event="Tag Push Hook")
        self.assertEqual(r.status, 202, r)
        # GitLab without a delivery UUID: the body's digest dedupes
        body = json.dumps(gitlab_push(after=sha(11), before=sha(9))).encode()
        hdr = {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": rgl["webhook_secret"],
               "Content-Type": "application/json"}
        path = "/hooks/gitlab/%d" % rgl["id"]
        r1 = self.b.request("POST", path, raw=body, headers=hdr)
        r2 = self.b.request("POST", path, raw=body, headers=hdr)
        self.assertEqual((r1.status, r2.status, r2.json["outcome"]), (200, 200, "duplicate"))
        self.assertTrue(r1.json["delivery"].startswith("body:"))
        self.assertEqual([d["commit"] for d in self.deps("gl")], [sha(11), sha(9)])
        self.assertEqual([i["outcome"] for i in self.deliveries(rgl["id"])],
                         ["ignored", "accepted", "ignored", "ignored", "rejected", "accepted"])


class TokenServer(http.server.ThreadingHTTPServer):
    daemon_threads = True


def make_handler(test):
    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(n)
            time.sleep(getattr(test, "delay", 0))
            auth = self.headers.get("Authorization", "")
            ok, why, claims = test.check_jwt(auth[7:] if auth.startswith("Bearer ") else "")
            test.calls.append({"path": self.path, "ok": ok, "why": why, "claims": claims,
                               "accept": self.headers.get("Accept")})
            if self.path != "/app/installations/77/access_tokens" or not ok:
                self.send_response(401)
                out = json.dumps({"message": "A JSON web token could not be decoded"}).encode()
            else:
                self.send_response(201)
                out = json.dumps({"token": test.token, "expires_at": time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
                    "permissions": {"contents": "read"},
                    "repository_selection": "selected"}).encode()
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)
    return H


def b64d(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


class PrivateRepos(HookBase):
    # the token endpoint is a plain-HTTP server on loopback: allowed explicitly
    env = {"BERTH_OUTBOUND_HTTP": "1", "BERTH_OUTBOUND_ALLOW": "127.0.0.1/32"}

    def setUp(self):
        super().setUp()
        self.tmp = tempfile.TemporaryDirectory(prefix="berth-hooks-")
        self.key = os.path.join(self.tmp.name, "app.pem")
        self.pub = os.path.join(self.tmp.name, "app.pub")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", self.key], check=True,
                       capture_output=True)
        subprocess.run(["openssl", "pkey", "-in", self.key, "-pubout", "-out", self.pub],
                       check=True, capture_output=True)
        with open(self.key) as f:
            self.key_pem = f.read()
        self.token = "ghs_" + uuid.uuid4().hex + "Xy9"
        self.calls = []
        self.srv = TokenServer(("127.0.0.1", 0), make_handler(self))
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.api_url = "http://127.0.0.1:%d" % self.srv.server_address[1]

    def tearDown(self):
        self.srv.shutdown()
        self.srv.server_close()
        super().tearDown()
        self.tmp.cleanup()

    def check_jwt(self, jwt):
        """RS256 signature checked with the public key by the openssl CLI."""
        parts = jwt.split(".")
        if len(parts) != 3:
            return False, "not a JWT", None
        try:
            header, claims = json.loads(b64d(parts[0])), json.loads(b64d(parts[1]))
        except ValueError:
            return False, "undecodable", None
        data = os.path.join(self.tmp.name, "jwt-%s.data" % uuid.uuid4().hex)
        sig = data + ".sig"
        with open(data, "wb") as f:
            f.write(("%s.%s" % (parts[0], parts[1])).encode())
        with open(sig, "wb") as f:
            f.write(b64d(parts[2]))
        v = subprocess.run(["openssl", "dgst", "-sha256", "-verify", self.pub, "-signature",
                            sig, data], capture_output=True, text=True)
        if v.returncode != 0 or "Verified OK" not in v.stdout:
            return False, "bad signature: " + v.stdout + v.stderr, claims
        if header != {"alg": "RS256", "typ": "JWT"}:
            return False, "header %r" % header, claims
        now = time.time()
        if not (claims["iat"] <= now - 50 and now + 500 <= claims["exp"] <= now + 600 and
                str(claims["iss"]) == "4242"):
            return False, "claims %r" % claims, claims
        return True, "", claims

    def test_github_app_token_reaches_the_job_only_on_the_wire(self):
        s, p = self.connect()
        self.app("private", repo_url="https://github.com/acme/private.git")
        rp = self.repo(url="https://github.com/acme/private")
        r = self.api("POST", "/repos/%d/github-app" % rp["id"], {
            "app_id": 4242, "installation_id": 77, "private_key": self.key_pem,
            "api_url": self.api_url + "/"})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json["github_app"]["api_url"], self.api_url)
        r = self.hook("github", github_push(name="private", after=sha(5)), rp["webhook_secret"])
        self.assertEqual(r.status, 200, r)
        job = p.expect("job")
        self.assertEqual(len(self.calls), 1, self.calls)
        self.assertTrue(self.calls[0]["ok"], self.calls[0]["why"])
        self.assertEqual(self.calls[0]["accept"], "application/vnd.github+json")
        self.assertEqual(job["spec"]["git"], {"auth": "token", "token": self.token,
                                              "username": "x-access-token"})
        self.assertEqual(job["spec"]["commit"], sha(5))
        dep = self.deps("private")[0]
        self.assertEqual(dep["status"], "PENDING")

        # a reconnect redelivers the job with the same (still fresh) token
        p.close()
        self.peers.remove(p)
        time.sleep(0.3)
        p2 = Peer(self.b.port, self.cred_of(p))
        p2.send({"type": "hello", "proto": 1, "version": "hooks-test", "hostname": "web-1",
                 "jobs": []})
        self.peers.append(p2)
        again = p2.expect("job")
        self.assertEqual(again["job"], job["job"])
        self.assertEqual(again["spec"]["git"]["token"], self.token)
        self.assertEqual(len(self.calls), 1)

        # an installation the App cannot reach: the deployment fails, saying why
        rp2 = self.repo(url="https://github.com/acme/broken")
        self.app("broken", repo_url="https://github.com/acme/broken")
        self.api("POST", "/repos/%d/github-app" % rp2["id"], {
            "app_id": 4242, "installation_id": 78, "private_key": self.key_pem,
            "api_url": self.api_url})
        r = self.hook("github", github_push(name="broken", after=sha(6)), rp2["webhook_secret"])
        self.assertEqual(r.status, 200, r)
        self.assertTrue(wait_for(lambda: self.deps("broken")[0]["status"] == "FAILED", 10))
        d = self.deps("broken")[0]
        self.assertEqual(d["failed_step"], "clone")
        self.assertIn("GitHub App installation token", d["reason"])
        self.assertIn("401", d["reason"])

        # nothing secret at rest or in the log
        secrets = [self.token, rp["webhook_secret"], rp2["webhook_secret"],
                   self.key_pem.splitlines()[3]]
        log = self.b.log_text()
        for x in secrets:
            self.assertNotIn(x, log)
        self.b.stop()
        db = sqlite3.connect(os.path.join(self.b.data, "berth.db"))
        dump = "\n".join(db.iterdump())
        db.close()
        self.assertIn("acme/private", dump)  # the dump is real
        for x in secrets:
            self.assertNotIn(x, dump)

    def test_failed_mint_ends_a_log_follow(self):
        """A job failed while held for its token ends its log followers
        (they used to wait forever: only a runner's result ended them)."""
        s, p = self.connect()
        rp = self.repo(url="https://github.com/acme/slow")
        self.app("slow", repo_url="https://github.com/acme/slow", auto_deploy=False)
        self.api("POST", "/repos/%d/github-app" % rp["id"], {
            "app_id": 4242, "installation_id": 78, "private_key": self.key_pem,
            "api_url": self.api_url})
        self.delay = 2  # the token endpoint answers 401, late
        r = self.api("POST", "/apps/slow/deployments", {})
        self.assertEqual(r.status, 201, r)
        did = r.json["id"]
        conn = self.b.connection()
        conn.timeout = 20
        conn.request("GET", "/api/v1/orgs/%s/deployments/%d/logs?follow=1" % (self.b.org, did),
                     headers={"Authorization": "Bearer " + self.tok})
        resp = conn.getresponse()
        self.assertEqual(resp.status, 200)
        t0 = time.time()
        resp.read()  # a socket.timeout here: the follow never ended
        conn.close()
        self.assertLess(time.time() - t0, 10)
        d = self.deps("slow")[0]
        self.assertEqual(d["status"], "FAILED", d)
        self.assertIn("GitHub App installation token", d["reason"])

    def cred_of(self, p):
        return self.cred

    def connect(self, name="web-1", org=None):
        r = self.api("POST", "/servers", {"name": name}, org=org)
        s = r.json
        p = Peer(self.b.port, s["registration_token"])
        p.send({"type": "hello", "proto": 1, "version": "hooks-test", "hostname": name,
                "jobs": []})
        reg = p.expect("register")
        self.cred = reg["credential"]
        p.send({"type": "registered", "server_id": reg["server_id"]})
        p.expect("welcome")
        p.send({"type": "precheck", "ok": True, "checks": []})
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/%d" % s["id"], org=org)
                                 .json["status"] == "ACTIVE", 10))
        self.peers.append(p)
        return s, p

    def test_deploy_key_for_ssh_urls(self):
        s, p = self.connect()
        self.app("sshapp", repo_url="git@github.com:acme/secret.git")
        rp = self.repo(url="https://github.com/acme/secret")
        r = self.api("PUT", "/repos/%d/deploy-key" % rp["id"], {"private_key": self.key_pem})
        self.assertEqual(r.status, 200, r)
        r = self.hook("github", github_push(name="secret", after=sha(3)), rp["webhook_secret"])
        self.assertEqual(r.status, 200, r)
        job = p.expect("job")
        self.assertEqual(job["spec"]["git"], {"auth": "ssh_key", "ssh_key": self.key_pem})
        self.assertEqual(self.calls, [])
        # two successful deployments, then a rollback: it clones nothing, so
        # its job carries no credentials
        for n in range(2):
            p.send({"type": "job.accepted", "job": job["job"]})
            p.step(job["job"], 1, "build", "ok", image=job["spec"]["image"])
            p.done(job["job"], 1, True)
            if n == 0:
                r = self.api("POST", "/apps/sshapp/deployments", {})
                self.assertEqual(r.status, 201, r)
                job = p.expect("job")
                self.assertEqual(job["spec"]["git"]["auth"], "ssh_key")
        r = self.api("POST", "/apps/sshapp/rollback")
        self.assertEqual(r.status, 201, r)
        job = p.expect("job")
        self.assertEqual(job["spec"]["kind"], "rollback")
        self.assertNotIn("git", job["spec"])
        # a manual deployment of the same app gets it too (credentials follow the repo)
        marker = self.key_pem.splitlines()[3]
        self.assertNotIn(marker, self.b.log_text())
        self.b.stop()
        db = sqlite3.connect(os.path.join(self.b.data, "berth.db"))
        dump = "\n".join(db.iterdump())
        db.close()
        self.assertNotIn(marker, dump)


@unittest.skipUnless(os.path.exists(BERTH), "the CLI is not built")
class CliRepos(CliCase):
    """berth repo add|list|deliveries|remove through the real CLI."""

    def test_repo_commands(self):
        self.login()
        d = self.ok("repo", "add", "github", REPO)
        secret = d["webhook_secret"]
        self.assertTrue(d["hook_url"].endswith("/hooks/github/%d" % d["id"]))
        r = self.berth("repo", "add", "gitlab", "git@gitlab.example.com:g/web.git")
        self.assertEqual(r.rc, 0, r)
        self.assertIn("/hooks/gitlab", r.out)
        self.assertIn("bwh_", r.out)  # shown once, in the human form too
        self.fails(2, "repo", "add", "svn", REPO)
        dry = self.berth("repo", "add", "gitea", "https://g.example.com/a/b", "--dry-run")
        self.assertEqual(dry.rc, 0, dry)
        items = self.ok("repo", "list")["items"]
        self.assertEqual([i["provider"] for i in items], ["github", "gitlab"])
        table = self.berth("repo", "list")
        self.assertIn("github.com/acme/web", table.out)
        self.assertNotIn(secret, table.out)
        # a delivery, signed as GitHub does, shows up in the list
        body = json.dumps(github_push()).encode()
        r = self.d.request("POST", "/hooks/github/%d" % d["id"], raw=body, headers={
            "X-GitHub-Event": "push", "X-GitHub-Delivery": "d-1",
            "X-Hub-Signature-256": sign(secret, body), "Content-Type": "application/json"})
        self.assertEqual(r.status, 202, r)  # no app follows it
        dl = self.ok("repo", "deliveries", str(d["id"]), "--limit", "5")["items"]
        self.assertEqual([(x["delivery_id"], x["outcome"]) for x in dl], [("d-1", "ignored")])
        self.assertIn("d-1", self.berth("repo", "deliveries", str(d["id"])).out)
        self.fails(2, "repo", "deliveries", "abc")
        self.ok("repo", "remove", str(d["id"]), "--yes")
        self.fails(4, "repo", "remove", str(d["id"]), "--yes")
        self.assertEqual(len(self.ok("repo", "list")["items"]), 1)


if __name__ == "__main__":
    unittest.main()
