"""An app's host names over HTTP against a real berthd (docs/deploy.md,
"Domains"): the .../apps/{app}/domains sub-resource and the `domains`
field share one rule set and one clash rule.

Hostile input: malformed names, too long, a wildcard in the wrong place,
uppercase (normalised), a name listed twice, another organization's app
(404), a name another app on the same server has (409, with a message
that does not name that app, and nothing changed), scopes (a viewer reads,
cannot add). Each add and remove leaves its audit entry. Every change
queues an "edge" job for the app's server (the runner applies it by map;
test_domains_edge.py does that on the real engine).
"""
import unittest

from harness import Berthd


def err(r):
    return r.json.get("error", {}) if isinstance(r.json, dict) else {}


class Domains(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = Berthd().start()
        cls.tok = cls.b.login()
        cls.org = "/api/v1/orgs/%s" % cls.b.org
        for name in ("web-1", "web-2"):
            r = cls.api("POST", "/servers", {"name": name})
            assert r.status == 201, r
        for name, server in (("shop", "web-1"), ("blog", "web-1"), ("api", "web-2")):
            r = cls.api("POST", "/apps", {"name": name, "server": server, "container_port": 8080,
                                          "repo_url": "https://git.example.com/acme/%s.git" % name})
            assert r.status == 201, r
        cls.viewer = cls.b.add_user(cls.tok, cls.b.org, "viewer@example.com", "viewer")
        r = cls.b.request("POST", "/api/v1/orgs", token=cls.tok, body={"name": "other"})
        assert r.status == 201, r
        cls.other = "/api/v1/orgs/other"
        r = cls.b.request("POST", cls.other + "/servers", token=cls.tok, body={"name": "theirs"})
        assert r.status == 201, r
        r = cls.b.request("POST", cls.other + "/apps", token=cls.tok, body={
            "name": "secret-app", "server": "theirs", "container_port": 8080,
            "repo_url": "https://git.example.com/them/app.git", "domains": ["theirs.example.com"]})
        assert r.status == 201, r
        cls.other_app_id = r.json["id"]

    @classmethod
    def tearDownClass(cls):
        cls.b.close()

    @classmethod
    def api(cls, method, path, body=None, token=None):
        return cls.b.request(method, cls.org + path, token=token or cls.tok, body=body)

    def names(self, app):
        r = self.api("GET", "/apps/%s/domains" % app)
        self.assertEqual(r.status, 200, r)
        return [d["name"] for d in r.json["items"]]

    def audit_actions(self):
        r = self.api("GET", "/audit?limit=500")
        self.assertEqual(r.status, 200, r)
        return [(e["action"], e["outcome"]) for e in r.json["items"]]

    def test_add_list_remove_with_audit(self):
        r = self.api("POST", "/apps/shop/domains", {"name": "Shop.Example.COM"})
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.json, {"name": "shop.example.com", "wildcard": False})
        r = self.api("POST", "/apps/shop/domains", {"name": "*.shop.example.com"})
        self.assertEqual(r.status, 201, r)
        self.assertTrue(r.json["wildcard"])
        self.assertEqual(self.names("shop"), ["shop.example.com", "*.shop.example.com"])
        self.assertEqual(self.api("GET", "/apps/shop").json["domains"], ["shop.example.com", "*.shop.example.com"])
        r = self.api("DELETE", "/apps/shop/domains/*.shop.example.com")
        self.assertEqual(r.status, 204, r)
        r = self.api("DELETE", "/apps/shop/domains/SHOP.example.com")  # normalised too
        self.assertEqual(r.status, 204, r)
        self.assertEqual(self.names("shop"), [])
        acts = self.audit_actions()
        self.assertEqual(acts.count(("domain.add", "success")), 2, acts)
        self.assertEqual(acts.count(("domain.remove", "success")), 2, acts)
        # each change queued an edge job for web-1 (no runner: it waits)
        jobs = self.api("GET", "/servers/web-1/jobs").json["items"]
        self.assertGreaterEqual(sum(1 for j in jobs if j["kind"] == "edge"), 4, jobs)

    def test_malformed_names(self):
        bad = ["", "not a host", "localhost", "a..example.com", "-a.example.com", "a-.example.com",
               "*.*.example.com", "a.*.example.com", "*example.com", "exa_mple.com", "example.com.",
               ".example.com", "a" * 64 + ".example.com", ("a" * 60 + ".") * 4 + "example.com",
               "caf\u00e9.example.com", "a.example.com\n", "a/b.example.com"]
        for name in bad:
            with self.subTest(name=name):
                r = self.api("POST", "/apps/blog/domains", {"name": name})
                self.assertEqual(r.status, 422, r)
                self.assertEqual(err(r).get("code"), "invalid_field", r)
                r = self.api("PATCH", "/apps/blog", {"domains": [name]})
                self.assertEqual(r.status, 422, r)
        for body, status in (({}, 422), ({"name": 7}, 400), ({"name": ["a.example.com"]}, 400),
                             ({"name": "a.example.com", "x": 1}, 400)):
            with self.subTest(body=body):
                r = self.api("POST", "/apps/blog/domains", body)
                self.assertEqual(r.status, status, r)
        r = self.b.request("POST", self.org + "/apps/blog/domains", token=self.tok, raw=b"{not json")
        self.assertEqual(r.status, 400, r)
        self.assertEqual(self.names("blog"), [])

    def test_duplicates_and_clashes(self):
        self.assertEqual(self.api("POST", "/apps/blog/domains", {"name": "blog.example.com"}).status, 201)
        r = self.api("POST", "/apps/blog/domains", {"name": "BLOG.example.com"})
        self.assertEqual((r.status, err(r).get("code")), (409, "domain_exists"), r)
        before = self.audit_actions()
        # another app on the same server: 409, neutral, nothing changed
        for method, path, body in (("POST", "/apps/shop/domains", {"name": "blog.example.com"}),
                                   ("PATCH", "/apps/shop", {"domains": ["x.example.com", "Blog.example.com"]}),
                                   ("POST", "/apps", {"name": "blog2", "server": "web-1", "container_port": 80,
                                                      "repo_url": "https://git.example.com/a/b.git",
                                                      "domains": ["blog.example.com"]})):
            with self.subTest(path=path, method=method):
                r = self.api(method, path, body)
                self.assertEqual((r.status, err(r).get("code")), (409, "domain_taken"), r)
                self.assertNotIn("blog'", r.body.replace("blog.example.com", ""))
                self.assertNotIn('"blog"', r.body)
        self.assertEqual(self.names("shop"), [])
        self.assertEqual(self.api("GET", "/apps/blog2").status, 404)
        after = self.audit_actions()
        self.assertEqual([a for a in after if a[1] == "success"], [a for a in before if a[1] == "success"])
        # a wildcard and an exact name under it are different names
        self.assertEqual(self.api("POST", "/apps/shop/domains", {"name": "*.example.com"}).status, 201)
        # the same name on another server is another edge: allowed
        self.assertEqual(self.api("POST", "/apps/api/domains", {"name": "blog.example.com"}).status, 201)
        # and in another organization (its own servers)
        self.assertEqual(self.api("POST", "/apps/api/domains", {"name": "theirs.example.com"}).status, 201)
        # a name moves: removed from one app, then added to the other
        self.assertEqual(self.api("DELETE", "/apps/blog/domains/blog.example.com").status, 204)
        self.assertEqual(self.api("POST", "/apps/shop/domains", {"name": "blog.example.com"}).status, 201)
        self.assertEqual(self.api("DELETE", "/apps/shop/domains/blog.example.com").status, 204)
        self.assertEqual(self.api("DELETE", "/apps/shop/domains/*.example.com").status, 204)

    def test_other_org_and_unknown(self):
        for method, path, body in (("GET", "/apps/%d/domains" % self.other_app_id, None),
                                   ("POST", "/apps/%d/domains" % self.other_app_id, {"name": "z.example.com"}),
                                   ("DELETE", "/apps/%d/domains/theirs.example.com" % self.other_app_id, None),
                                   ("GET", "/apps/secret-app/domains", None),
                                   ("GET", "/apps/999999/domains", None),
                                   ("DELETE", "/apps/shop/domains/nothere.example.com", None)):
            with self.subTest(method=method, path=path):
                r = self.api(method, path, body)
                self.assertEqual(r.status, 404, r)
                self.assertNotIn("theirs.example.com", r.body)
        # a segment that is no host name at all is refused by the router
        r = self.api("DELETE", "/apps/shop/domains/not_a_name")
        self.assertEqual((r.status, err(r).get("code")), (400, "invalid_path"), r)
        r = self.b.request("GET", self.other + "/apps/secret-app/domains", token=self.tok)
        self.assertEqual([d["name"] for d in r.json["items"]], ["theirs.example.com"])

    def test_scopes(self):
        r = self.api("GET", "/apps/shop/domains", token=self.viewer)
        self.assertEqual(r.status, 200, r)
        r = self.api("POST", "/apps/shop/domains", {"name": "v.example.com"}, token=self.viewer)
        self.assertEqual(r.status, 403, r)
        r = self.api("DELETE", "/apps/shop/domains/v.example.com", token=self.viewer)
        self.assertEqual(r.status, 403, r)
        r = self.b.request("GET", self.org + "/apps/shop/domains")
        self.assertEqual(r.status, 401, r)


if __name__ == "__main__":
    unittest.main()
