"""Scheduled operations under hostile input (issue 14): the schedule routes
take a cron expression and a time-zone name from outside, and ids that
may name another organization's script, server or app. Every refusal is
a clear 4xx, and nothing changes: no schedule is made, none is altered,
the audit trail has no schedule.create success.

Run with /usr/bin/python3; ctest sets PYTHONPATH so `import harness` works.
"""
import json
import unittest

import harness

ORG = "default"
code = harness.err_code


class TestScheduleInput(harness.ApiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        d, t = cls.d, cls.admin

        def post(path, body):
            r = d.request("POST", "/api/v1" + path, token=t, body=body)
            assert r.status == 201, (path, r)
            return r.json

        cls.server = post("/orgs/default/servers", {"name": "box"})["id"]
        cls.script = post("/orgs/default/scripts", {"name": "hello", "body": "echo hi"})["id"]
        # Another organization with its own script, server, app, schedule.
        post("/orgs", {"name": "org-b"})
        cls.b_server = post("/orgs/org-b/servers", {"name": "b-box"})["id"]
        cls.b_script = post("/orgs/org-b/scripts", {"name": "b-hello", "body": "id"})["id"]
        cls.b_app = post("/orgs/org-b/apps", {"name": "b-web", "server": "b-box",
                                              "repo_url": "https://git.example.com/b/web.git",
                                              "container_port": 8080})["id"]
        cls.b_sched = post("/orgs/org-b/schedules", {"kind": "script", "script": "b-hello",
                                                     "server": "b-box",
                                                     "cron": "0 3 * * *"})["id"]

    def create(self, body=None, raw=None):
        return self.req("POST", "/orgs/%s/schedules" % ORG, token=self.admin, body=body, raw=raw,
                        headers={"Content-Type": "application/json"})

    def nothing_changed(self):
        items = self.req("GET", "/orgs/%s/schedules" % ORG, token=self.admin).json["items"]
        self.assertEqual(items, [])
        audit = self.req("GET", "/orgs/%s/audit?action=schedule.create" % ORG,
                         token=self.admin).json["items"]
        self.assertEqual([e for e in audit if e["outcome"] == "success"], [])

    def refused(self, r, status, err=None):
        self.assertEqual(r.status, status, r)
        if err:
            self.assertEqual(code(r), err, r)
        self.assertTrue(r.json["error"]["message"], r)

    def good(self, **kw):
        b = {"kind": "script", "script": "hello", "server": "box", "cron": "* * * * *"}
        b.update(kw)
        return {k: v for k, v in b.items() if v is not None}

    def test_malformed_json(self):
        for raw in (b"{", b"[]", b"\"x\"", b"{\"kind\": \"script\",}", b"\xff\xfe",
                    b"{\"kind\": \"scr\\u0000ipt\"}", b"{" * 5000, b"null"):
            r = self.create(raw=raw)
            self.assertEqual(r.status, 400, (raw[:40], r))
        self.nothing_changed()

    def test_wrong_types(self):
        for kw in ({"kind": 5}, {"kind": None}, {"cron": 5}, {"cron": ["* * * * *"]},
                   {"cron": None, "every_minutes": "5"}, {"cron": None, "every_minutes": 1.5},
                   {"cron": None, "every_minutes": True}, {"script": []}, {"server": {}},
                   {"script": -3}, {"server": 0}, {"script": ""}, {"timezone": 7},
                   {"catch_up": False}):
            r = self.create(self.good(**kw))
            self.assertIn(r.status, (400, 422), (kw, r))
        for kw in ({"cron": None}, {"every_minutes": 5}, {"kind": "shell"},
                   {"catch_up": "twice"}, {"app": "web"}, {"kind": "deploy"},
                   {"server": None}):
            r = self.create(self.good(**kw))
            self.assertEqual(r.status, 422, (kw, r))
        r = self.create(self.good(extra=1))
        self.refused(r, 400, "unknown_field")
        self.nothing_changed()

    def test_bad_cron(self):
        for cron in ("", "* * * *", "* * * * * *", "60 * * * *", "*/0 * * * *", "1-0 * * * *",
                     "* * * * 8", "; rm -rf / #", "$(id) * * * *", "\u0661 * * * *",
                     "* * * * *\n* * * * *", "9" * 100000, "*/" + "9" * 40 + " * * * *",
                     "@reboot", "@every 1m", "0 0 30 2 *", "0 0 31 2,4 *"):
            r = self.create(self.good(cron=cron))
            self.assertIn(r.status, (400, 413, 422), (cron[:40], r))
            if r.status != 413:
                self.assertIn(code(r), ("invalid_cron",), (cron[:40], r))
        self.nothing_changed()

    def test_bad_zone(self):
        for tz in ("Mars/Olympus", "../../../../etc/passwd", "/etc/passwd", "Europe/../../etc",
                   "Europe//Berlin", ".", "..", "Europe", "zone.tab", "tzdata.zi",
                   "Europe/Berlin\u0000x", "Europe/Berlin ", "a" * 5000, "right/UTC",
                   "Europe/Berlin/../Berlin", "%2e%2e/etc/passwd", "~root"):
            r = self.create(self.good(timezone=tz))
            self.assertIn(r.status, (400,), (tz[:40], r))
            if "\u0000" not in tz:
                self.assertEqual(code(r), "unknown_timezone", (tz[:40], r))
        self.nothing_changed()

    def test_every_minutes_range(self):
        for n in (0, -1, 525601, 2 ** 62, -2 ** 62):
            r = self.create(self.good(cron=None, every_minutes=n))
            self.refused(r, 422, "invalid_field")
        r = self.create(self.good(cron=None, every_minutes=2 ** 64))
        self.assertEqual(r.status, 400, r)
        r = self.create(self.good(cron=None, every_minutes=5, timezone="Europe/Berlin"))
        self.refused(r, 422)
        self.nothing_changed()

    def test_unknown_and_other_orgs_ids(self):
        for kw in ({"script": 999999}, {"script": "nope"}, {"server": 999999},
                   {"server": "nope"}, {"script": self.b_script}, {"script": "b-hello"},
                   {"server": self.b_server}, {"server": "b-box"}):
            r = self.create(self.good(**kw))
            self.refused(r, 404, "not_found")
        for app in (self.b_app, "b-web", 999999):
            r = self.create({"kind": "deploy", "app": app, "cron": "* * * * *"})
            self.refused(r, 404, "not_found")
        self.nothing_changed()

    def test_other_orgs_schedule_is_not_found(self):
        base = "/orgs/%s/schedules/" % ORG
        for sid in (str(self.b_sched), "0", "-1", "abc", "99999999999999999999", "1e3"):
            for method, tail in (("GET", ""), ("GET", "/runs"), ("POST", "/pause"),
                                 ("POST", "/resume"), ("DELETE", "")):
                r = self.req(method, base + sid + tail, token=self.admin)
                self.assertIn(r.status, (400, 404), (method, sid, tail, r))
        # org-b's schedule is untouched
        r = self.req("GET", "/orgs/org-b/schedules/%d" % self.b_sched, token=self.admin)
        self.assertEqual((r.status, r.json["status"]), (200, "active"), r)

    def test_runs_query(self):
        base = "/orgs/org-b/schedules/%d/runs" % self.b_sched
        for q in ("limit=0", "limit=-1", "limit=abc", "limit=501", "limit=" + "9" * 40,
                  "cursor=0", "cursor=-5", "cursor=x"):
            r = self.req("GET", base + "?" + q, token=self.admin)
            self.assertEqual(r.status, 400, (q, r))
        r = self.req("GET", base + "?limit=500", token=self.admin)
        self.assertEqual(r.status, 200, r)


if __name__ == "__main__":
    unittest.main()
