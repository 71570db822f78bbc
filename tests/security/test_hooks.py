"""Hostile input on the webhook surface and berthd's outbound requests
(issue 12, items 10-12), against a real berthd. Webhooks are signed the way
each provider signs them (HMAC-SHA256 of the raw body for GitHub, Gitea and
generic senders; GitLab's token header); the runner is played by a protocol
peer (test_apps.Peer) so a deploy job's spec is read as berthd sends it.

- Replays: whoever saw one signed push must not be able to deploy it again
  (a new delivery id) nor deploy an older commit after a newer one, for
  every provider; each refusal is answered clearly, recorded and audited.
- Crowding: any number of organizations registering the same repository URL
  cannot make another organization's correctly signed pushes answer 401.
- Outbound: a GitHub App api_url on loopback / private space is refused when
  saved, and at use when a name resolves there; a token endpoint that never
  answers cannot hold up logins.

Posts go to the hook URL berthd printed for the repository (hook_url), so
the same tests run against older trees that had one shared URL.
"""
import json
import os
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import uuid

import http.server
import importlib.util

import harness
from test_apps import wait_for

# The integration suite's test_hooks (its payload builders and HookBase):
# this file has the same module name, so load that one by its path.
_spec = importlib.util.spec_from_file_location(
    "integration_test_hooks", os.path.join(os.path.dirname(harness.__file__), "test_hooks.py"))
_it = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_it)
HookBase, github_push, gitea_push, gitlab_push, sha, sign = (
    _it.HookBase, _it.github_push, _it.gitea_push, _it.gitlab_push, _it.sha, _it.sign)

ZERO = "0" * 40


def payload(provider, url_host, before, after, ref="refs/heads/main"):
    """A push of each provider's shape for the repository at url_host."""
    if provider in ("github", "generic"):
        return github_push(ref=ref, after=after, before=before, host=url_host)
    if provider == "gitea":
        return gitea_push(ref=ref, after=after, before=before, host=url_host)
    return gitlab_push(ref=ref, after=after, before=before, host=url_host)


# provider -> (the host its payloads name, the URL registered and followed)
REPOS = {
    "github": ("github.com", "https://github.com/acme/web.git"),
    "generic": ("git.example.org", "https://git.example.org/acme/web.git"),
    "gitea": ("gitea.example.com:3000", "http://gitea.example.com:3000/acme/web.git"),
    "gitlab": ("gitlab.example.com", "https://gitlab.example.com/group/sub/web.git"),
}


class Signed(HookBase):
    def repo(self, provider="github", url=None, org=None):
        r = self.api("POST", "/repos", {"provider": provider, "url": url}, org=org)
        self.assertEqual(r.status, 201, r)
        return r.json

    def send(self, provider, rp, body, delivery=None, secret=None):
        """POSTs body to rp's hook URL, signed as provider signs."""
        secret = secret or rp["webhook_secret"]
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        delivery = delivery or str(uuid.uuid4())
        h = {"Content-Type": "application/json"}
        if provider in ("github", "generic"):
            h.update({"X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                      "X-Hub-Signature-256": sign(secret, raw)})
        elif provider == "gitea":
            h.update({"X-Gitea-Event": "push", "X-Gitea-Delivery": delivery,
                      "X-Gitea-Signature": sign(secret, raw)[7:]})
        else:
            h.update({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Event-UUID": delivery,
                      "X-Gitlab-Token": secret})
        path = urllib.parse.urlparse(rp["hook_url"]).path
        r = self.b.request("POST", path, raw=raw, headers=h)
        self.bodies.append(r.body)
        return r


class Replays(Signed):
    """Item 10: a pushed commit deploys once however often the body
    arrives, and never an older commit after a newer one."""

    def test_replays_and_older_pushes_schedule_nothing(self):
        self.connect()
        for provider, (host, url) in REPOS.items():
            with self.subTest(provider=provider):
                self.replays(provider, host, url)

    def replays(self, provider, host, url):
        app = "app-" + provider
        self.app(app, repo_url=url)
        rp = self.repo(provider, url)
        base = {"github": 100, "generic": 200, "gitea": 300, "gitlab": 400}[provider]
        c = [sha(base + k) for k in range(6)]
        count = lambda: len(self.deps(app))

        first = json.dumps(payload(provider, host, c[0], c[1])).encode()
        r = self.send(provider, rp, first)
        self.assertEqual((r.status, r.json["outcome"]), (200, "accepted"), r)
        self.assertEqual(count(), 1)

        # the same signed body under a new delivery id: nothing scheduled
        r = self.send(provider, rp, first)
        self.assertEqual((r.status, r.json["outcome"]), (200, "duplicate"), r)
        self.assertIn(c[1][:12], r.json["reason"])
        self.assertEqual(count(), 1)

        # the next push deploys
        r = self.send(provider, rp, payload(provider, host, c[1], c[2]))
        self.assertEqual((r.status, r.json["outcome"]), (200, "accepted"), r)
        self.assertEqual(count(), 2)

        # the older push replayed after it: refused, recorded, audited
        r = self.send(provider, rp, first)
        self.assertEqual((r.status, r.json["outcome"]), (409, "stale"), r)
        self.assertEqual(r.json["error"]["code"], "stale_push")
        self.assertIn("older", r.json["reason"])
        self.assertEqual(r.json["deployments"], [])
        self.assertEqual(count(), 2)
        newest = self.deliveries(rp["id"])[0]
        self.assertEqual((newest["outcome"], newest["status"], newest["deployments"]),
                         ("stale", 409, []))
        audit = self.api("GET", "/audit?action=hook.%s" % provider).json["items"][0]
        self.assertEqual((audit["outcome"], audit["status"], audit["target"]),
                         ("failure", 409, "repo:%d" % rp["id"]), audit)
        self.assertIn("stale", json.dumps(audit["detail"]))

        # a push berthd never got (c2 -> c3) arrives after the next one
        # (c3 -> c4): the later is taken, the late one is older, refused
        late = payload(provider, host, c[2], c[3])
        r = self.send(provider, rp, payload(provider, host, c[3], c[4]))
        self.assertEqual((r.status, r.json["outcome"]), (200, "accepted"), r)
        r = self.send(provider, rp, late)
        self.assertEqual((r.status, r.json["outcome"]), (409, "stale"), r)
        # and the branch moved back by a replay of a deletion does not
        # reopen the door: the first push is still refused
        r = self.send(provider, rp, payload(provider, host, c[4], ZERO))
        self.assertEqual(r.status, 202, r)
        r = self.send(provider, rp, first)
        self.assertEqual((r.status, r.json["outcome"]), (409, "stale"), r)
        self.assertEqual(count(), 3)
        self.assertEqual([d["commit"] for d in self.deps(app)], [c[4], c[2], c[1]])


class Crowding(Signed):
    """Item 11: other organizations registering the same URL change
    nothing for the organization whose secret signed the push."""

    def test_many_orgs_on_one_url_cannot_lock_out_another(self):
        url = "https://github.com/acme/web.git"
        first_secret = None
        for i in range(34):
            r = self.b.request("POST", "/api/v1/orgs", token=self.tok, body={"name": "crowd%d" % i})
            self.assertEqual(r.status, 201, r)
            crp = self.repo("github", url, org="/api/v1/orgs/crowd%d" % i)
            first_secret = first_secret or crp["webhook_secret"]
        r = self.b.request("POST", "/api/v1/orgs", token=self.tok, body={"name": "victim"})
        self.assertEqual(r.status, 201, r)
        victim = "/api/v1/orgs/victim"
        rp = self.repo("github", url, org=victim)
        r = self.send("github", rp, github_push(after=sha(1), before=sha(0)))
        self.assertEqual(r.status, 202, r)  # verified; no app follows it
        self.assertEqual(r.json["outcome"], "ignored", r)
        d = self.deliveries(rp["id"], org=victim)
        self.assertEqual([(x["outcome"], x["status"]) for x in d], [("ignored", 202)])
        # the crowd's registrations saw nothing
        first = self.api("GET", "/repos", org="/api/v1/orgs/crowd0").json["items"][0]
        self.assertEqual(self.deliveries(first["id"], org="/api/v1/orgs/crowd0"), [])
        # another secret on the victim's URL: 401, recorded for the victim
        r = self.send("github", rp, github_push(after=sha(2), before=sha(1)),
                      secret=first_secret)
        self.assertEqual(r.status, 401, r)
        d = self.deliveries(rp["id"], org=victim)
        self.assertEqual([(x["outcome"], x["status"]) for x in d],
                         [("rejected", 401), ("ignored", 202)])

    def test_the_shared_url_is_retired(self):
        rp = self.repo("github", "https://github.com/acme/web.git")
        body = json.dumps(github_push()).encode()
        for provider in ("github", "gitea", "gitlab", "generic"):
            r = self.b.request("POST", "/hooks/" + provider, raw=body, headers={
                "X-GitHub-Event": "push", "X-Gitea-Event": "push", "X-Gitlab-Event": "Push Hook",
                "X-Hub-Signature-256": sign(rp["webhook_secret"], body),
                "Content-Type": "application/json"})
            self.assertEqual((r.status, r.json["error"]["code"]), (410, "gone"), r)
            self.assertIn("hook_url", r.json["error"]["message"])
        self.assertEqual(self.deliveries(rp["id"]), [])


def rsa_key():
    return subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                           "rsa_keygen_bits:2048"], check=True, capture_output=True,
                          text=True).stdout


class Listener:
    """A TCP server on loopback that accepts and never answers (a hung
    token endpoint); counts the connections it got."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopped = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        self.stopped = True
        self.sock.close()
        for c in self.conns:
            c.close()


def loopback_name():
    """A host name other than localhost that resolves to loopback here
    (/etc/hosts), or None."""
    for name in ("vm", "runsc", socket.gethostname(), "localhost.localdomain", "ip6-localhost"):
        try:
            addrs = {a[4][0] for a in socket.getaddrinfo(name, 443, proto=socket.IPPROTO_TCP)}
        except OSError:
            continue
        if addrs and all(a.startswith("127.") or a == "::1" for a in addrs) and \
                "localhost" not in name.split(".")[-1:]:
            return name
    return None


class OutboundRefused(Signed):
    """Item 12 without the opt-in: loopback and private api_urls are refused
    when saved and, for a name resolving there, when used."""

    def setUp(self):
        super().setUp()
        self.key = rsa_key()
        self.listener = Listener()

    def tearDown(self):
        self.listener.close()
        super().tearDown()

    def test_api_url_refused_when_saved(self):
        rp = self.repo("github", "https://github.com/acme/web.git")
        for url, why in [("http://127.0.0.1:%d" % self.listener.port, "https"),
                         ("https://127.0.0.1:%d" % self.listener.port, "loopback"),
                         ("https://127.1", "loopback"),
                         ("https://2130706433", "loopback"),
                         ("https://0x7f.0.0.1", "loopback"),
                         ("https://localhost/api/v3", "loopback"),
                         ("https://api.localhost", "loopback"),
                         ("https://[::1]:8443", "loopback"),
                         ("https://[::ffff:127.0.0.1]", "loopback"),
                         ("https://169.254.169.254/latest", "link-local"),
                         ("https://10.1.2.3", "private"),
                         ("https://192.168.0.10", "private"),
                         ("https://[fd00::1]", "private"),
                         ("https://0.0.0.0", "network"),
                         ("https://u:p@api.github.com", "credentials")]:
            r = self.api("POST", "/repos/%d/github-app" % rp["id"], {
                "app_id": 1, "installation_id": 2, "private_key": self.key, "api_url": url})
            self.assertEqual((r.status, r.json["error"]["code"]), (422, "invalid_field"),
                             (url, r))
            self.assertIn(why, r.json["error"]["message"], url)
        self.assertIsNone(self.api("GET", "/repos/%d" % rp["id"]).json["github_app"])
        for url in ("https://api.github.com", "https://ghe.example.com/api/v3"):
            r = self.api("POST", "/repos/%d/github-app" % rp["id"], {
                "app_id": 1, "installation_id": 2, "private_key": self.key, "api_url": url})
            self.assertEqual(r.status, 200, (url, r))
        self.assertEqual(self.listener.conns, [])

    def test_a_name_resolving_to_loopback_is_refused_at_use(self):
        name = loopback_name()
        if not name:
            self.skipTest("no host name other than localhost resolves to loopback here")
        s, p = self.connect()
        url = "https://github.com/acme/private.git"
        self.app("private", repo_url=url)
        rp = self.repo("github", url)
        api_url = "https://%s:%d" % (name, self.listener.port)
        r = self.api("POST", "/repos/%d/github-app" % rp["id"], {
            "app_id": 1, "installation_id": 2, "private_key": self.key, "api_url": api_url})
        self.assertEqual(r.status, 200, r)  # a name: checked when used
        r = self.send("github", rp, github_push(name="private", after=sha(1), before=sha(0)))
        self.assertEqual(r.status, 200, r)
        self.assertTrue(wait_for(lambda: self.deps("private")[0]["status"] == "FAILED", 10),
                        self.deps("private"))
        d = self.deps("private")[0]
        self.assertEqual(d["failed_step"], "clone")
        self.assertIn("loopback", d["reason"])
        self.assertIn("BERTH_OUTBOUND_ALLOW", d["reason"])
        self.assertEqual(self.listener.conns, [])


class OutboundHung(Signed):
    """Item 12: token endpoints that accept and never answer hold only the
    outbound threads; a login answers at once."""
    env = {"BERTH_OUTBOUND_HTTP": "1", "BERTH_OUTBOUND_ALLOW": "127.0.0.1/32"}

    def setUp(self):
        super().setUp()
        self.listener = Listener()

    def tearDown(self):
        self.listener.close()
        super().tearDown()

    def push_through(self, apps, port):
        """Apps following one repository whose GitHub App's token endpoint
        is 127.0.0.1:port, on a connected server; one signed push."""
        self.connect()
        url = "https://github.com/acme/private.git"
        for name in apps:
            self.app(name, repo_url=url)
        rp = self.repo("github", url)
        r = self.api("POST", "/repos/%d/github-app" % rp["id"], {
            "app_id": 1, "installation_id": 2, "private_key": rsa_key(),
            "api_url": "http://127.0.0.1:%d" % port})
        self.assertEqual(r.status, 200, r)
        r = self.send("github", rp, github_push(name="private", after=sha(1), before=sha(0)))
        self.assertEqual((r.status, len(r.json["deployments"])), (200, len(apps)), r)

    def test_login_is_prompt_while_outbound_requests_hang(self):
        self.push_through(["hung-%d" % i for i in range(4)], self.listener.port)
        # the token requests are in flight (and hang)
        self.assertTrue(wait_for(lambda: len(self.listener.conns) >= 2, 10),
                        self.listener.conns)
        for _ in range(3):
            t = time.monotonic()
            self.b.login()
            took = time.monotonic() - t
            self.assertLess(took, 1.0, "a login took %.1f s while token requests hang" % took)
        self.assertEqual([d["status"] for d in self.deps("hung-0")], ["PENDING"])

    def test_redirects_are_not_followed(self):
        """A token endpoint answering 302 to another (allowed) address: the
        redirect is the answer; the other address is never contacted."""
        other = Listener()
        self.addCleanup(other.close)

        class Redirect(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                self.send_response(302)
                self.send_header("Location", "http://127.0.0.1:%d/steal" % other.port)
                self.send_header("Content-Length", "0")
                self.end_headers()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(lambda: (srv.shutdown(), srv.server_close()))
        self.push_through(["redirected"], srv.server_address[1])
        self.assertTrue(wait_for(lambda: self.deps("redirected")[0]["status"] == "FAILED", 10))
        self.assertIn("answered 302", self.deps("redirected")[0]["reason"])
        self.assertEqual(other.conns, [])

    def test_the_outbound_queue_is_bounded(self):
        """2 threads + 32 queued: the requests beyond fail at once, saying so."""
        n = 40
        self.push_through(["q-%d" % i for i in range(n)], self.listener.port)

        def failed():
            return [d for i in range(n) for d in self.deps("q-%d" % i) if d["status"] == "FAILED"]
        self.assertTrue(wait_for(lambda: len(failed()) >= n - 34, 10), len(failed()))
        time.sleep(0.5)
        self.assertEqual(len(failed()), n - 34)  # the rest wait on the hung endpoint
        for d in failed():
            self.assertEqual(d["failed_step"], "clone")
            self.assertIn("outbound queue is full", d["reason"])
        t = time.monotonic()
        self.b.login()
        self.assertLess(time.monotonic() - t, 1.0)


if __name__ == "__main__":
    unittest.main()
