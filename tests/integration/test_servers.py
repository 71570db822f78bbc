"""Servers, scripts and jobs over HTTP alone (no runner): CRUD, the
decommission rules (409), scopes, and another organization's ids (404)."""
import unittest

from harness import Berthd


class Servers(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = Berthd().start()
        cls.admin = cls.b.login()
        cls.org = "/api/v1/orgs/%s" % cls.b.org

    @classmethod
    def tearDownClass(cls):
        cls.b.close()

    def api(self, method, path, body=None, token=None, org=None):
        return self.b.request(method, (org or self.org) + path, token=token or self.admin,
                              body=body)

    def test_add_read_rename(self):
        r = self.api("POST", "/servers", {"name": "db-1"})
        self.assertEqual(r.status, 201, r)
        s = r.json
        self.assertEqual(s["status"], "PROVISIONING")
        self.assertTrue(s["registration_token"].startswith("brg_"))
        self.assertIn("/install.sh | sh -s -- --token " + s["registration_token"],
                      s["install_command"])
        self.assertTrue(s["install_command"].startswith("curl -sSL http://127.0.0.1:%d/"
                                                        % self.b.port))
        self.assertEqual(self.api("POST", "/servers", {"name": "db-1"}).status, 409)
        self.assertEqual(self.api("POST", "/servers", {"name": "bad name"}).status, 422)
        self.assertEqual(self.api("POST", "/servers", {}).status, 422)
        g = self.api("GET", "/servers/%d" % s["id"])
        self.assertEqual(g.status, 200, g)
        self.assertNotIn("registration_token", g.json)
        self.assertFalse(g.json["connected"])
        self.assertIsNone(g.json["metrics"])
        self.assertEqual(self.api("GET", "/servers/db-1").json["id"], s["id"])
        p = self.api("PATCH", "/servers/%d" % s["id"], {"name": "db-2"})
        self.assertEqual(p.status, 200, p)
        self.assertEqual(p.json["name"], "db-2")
        names = [x["name"] for x in self.api("GET", "/servers").json["items"]]
        self.assertIn("db-2", names)
        t = self.api("POST", "/servers/%d/registration-token" % s["id"], {"expires_in": 120})
        self.assertEqual(t.status, 201, t)
        self.assertNotEqual(t.json["registration_token"], s["registration_token"])
        m = self.api("GET", "/servers/%d/metrics?since=0" % s["id"])
        self.assertEqual(m.status, 200, m)
        self.assertEqual(m.json["points"], [])
        self.assertEqual(self.api("GET", "/servers/%d/metrics?since=x" % s["id"]).status, 400)

    def test_decommission_then_delete(self):
        s = self.api("POST", "/servers", {"name": "old-1"}).json
        self.assertEqual(self.api("DELETE", "/servers/%d" % s["id"]).status, 409)
        d = self.api("POST", "/servers/%d/decommission" % s["id"])
        self.assertEqual(d.status, 200, d)
        self.assertEqual(d.json["status"], "DECOMMISSIONED")
        for method, path, body in [("POST", "/decommission", None),
                                   ("PATCH", "", {"name": "x"}),
                                   ("POST", "/registration-token", None)]:
            r = self.api(method, "/servers/%d%s" % (s["id"], path), body)
            self.assertEqual(r.status, 409, (method, path, r))
            self.assertIn("decommissioned", r.json["error"]["message"])
        self.api("POST", "/scripts", {"name": "hi", "body": "echo hi"})
        r = self.api("POST", "/scripts/hi/runs", {"server": s["id"]})
        self.assertEqual(r.status, 409, r)
        self.assertEqual(self.api("GET", "/servers/%d" % s["id"]).status, 200)
        self.assertEqual(self.api("DELETE", "/servers/%d" % s["id"]).status, 204)
        self.assertEqual(self.api("GET", "/servers/%d" % s["id"]).status, 404)
        audit = self.api("GET", "/audit?action=server.*").json["items"]
        actions = {e["action"] for e in audit if e["target"] == "server:%d" % s["id"]}
        self.assertTrue({"server.create", "server.decommission", "server.delete"} <= actions,
                        actions)

    def test_scripts_crud_and_run_needs_active(self):
        r = self.api("POST", "/scripts", {"name": "backup", "body": "echo backup"})
        self.assertEqual(r.status, 201, r)
        sid = r.json["id"]
        self.assertEqual(self.api("POST", "/scripts", {"name": "backup", "body": "x"}).status,
                         409)
        self.assertEqual(self.api("GET", "/scripts/backup").json["body"], "echo backup")
        u = self.api("PUT", "/scripts/%d" % sid, {"body": "echo v2"})
        self.assertEqual(u.status, 200, u)
        self.assertEqual(u.json["body"], "echo v2")
        items = self.api("GET", "/scripts").json["items"]
        self.assertIn("backup", [i["name"] for i in items])
        srv = self.api("POST", "/servers", {"name": "new-1"}).json
        run = self.api("POST", "/scripts/backup/runs", {"server": "new-1"})
        self.assertEqual(run.status, 409, run)
        self.assertIn("PROVISIONING", run.json["error"]["message"])
        self.assertEqual(self.api("POST", "/scripts/backup/runs", {"server": 999999}).status,
                         404)
        self.assertEqual(self.api("POST", "/scripts/backup/runs", {}).status, 422)
        self.assertEqual(self.api("GET", "/jobs/999999").status, 404)
        self.assertEqual(self.api("DELETE", "/scripts/backup").status, 204)
        self.assertEqual(self.api("GET", "/scripts/%d" % sid).status, 404)
        self.assertEqual(self.api("GET", "/servers/%d/jobs" % srv["id"]).json["items"], [])

    def test_other_org_ids_are_404_and_scopes_hold(self):
        r = self.b.request("POST", "/api/v1/orgs", token=self.admin, body={"name": "other"})
        self.assertEqual(r.status, 201, r)
        theirs = self.api("POST", "/servers", {"name": "theirs"}, org="/api/v1/orgs/other").json
        # through our org, their id does not exist
        for method, path in [("GET", ""), ("PATCH", ""), ("POST", "/decommission"),
                             ("DELETE", ""), ("GET", "/metrics")]:
            body = {"name": "x"} if method == "PATCH" else None
            r = self.api(method, "/servers/%d%s" % (theirs["id"], path), body)
            self.assertEqual(r.status, 404, (method, path, r))
        # a member of ours only sees 404 for the other org
        viewer = self.b.add_user(self.admin, self.b.org, "viewer@example.com", "viewer")
        r = self.b.request("GET", "/api/v1/orgs/other/servers/%d" % theirs["id"], token=viewer)
        self.assertEqual(r.status, 404)
        # viewers read but do not write or run
        self.assertEqual(self.api("GET", "/servers", token=viewer).status, 200)
        self.assertEqual(self.api("POST", "/servers", {"name": "v"}, token=viewer).status, 403)
        self.assertEqual(self.api("POST", "/scripts", {"name": "v", "body": "x"},
                                  token=viewer).status, 403)

    def test_install_script_and_download(self):
        r = self.b.request("GET", "/install.sh")
        self.assertIn(r.status, (200, 404))
        if r.status == 200:
            self.assertNotIn("@BERTH_URL@", r.body)
        r = self.b.request("GET", "/download/berth-runner")
        self.assertIn(r.status, (200, 404))


if __name__ == "__main__":
    unittest.main()
