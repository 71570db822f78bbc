"""Scheduled operations (docs/schedules.md) against a real berthd and real
berth-runners, on the real clock (no time is faked; the tests wait for
real minute boundaries, about 4 minutes in all):

- the API: create (cron in UTC or a named zone, every N minutes), list,
  show with the next 5 fire times, pause, resume, delete, the audit trail;
- an every-minute schedule fires within its minute and its job succeeds;
- a run that would overlap its previous one (a script sleeping past the
  next fire time) is skipped and recorded;
- a server that is not ACTIVE (its runner stopped) gets a recorded miss
  and no job;
- fire times missed while berthd was down: catch_up "once" runs once at
  start, "skip" records one miss.

Run with /usr/bin/python3.
"""
import calendar
import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

import harness
from harness import RUNNER, RunnerCase, wait_for


def parse_time(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


def wait_minute_margin(lo, hi):
    """Sleeps until the second of the minute is within [lo, hi)."""
    while not (lo <= time.time() % 60 < hi):
        time.sleep(0.2)


class TestScheduleApi(harness.ApiCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        o = "/orgs/default"
        r = cls.d.request("POST", "/api/v1" + o + "/servers", token=cls.admin,
                          body={"name": "box"})
        assert r.status == 201, r
        cls.sid = r.json["id"]
        r = cls.d.request("POST", "/api/v1" + o + "/scripts", token=cls.admin,
                          body={"name": "hello", "body": "echo hi"})
        assert r.status == 201, r
        cls.script = r.json["id"]

    def create(self, **body):
        b = {"kind": "script", "script": "hello", "server": "box"}
        b.update(body)
        return self.req("POST", "/orgs/default/schedules", token=self.admin, body=b)

    def test_create_show_pause_resume_delete(self):
        r = self.create(cron="30 9 * * mon-fri", timezone="Europe/Berlin")
        self.assertEqual(r.status, 201, r)
        s = r.json
        self.assertEqual((s["kind"], s["script_id"], s["server_id"], s["app_id"]),
                         ("script", self.script, self.sid, None))
        self.assertEqual((s["cron"], s["timezone"], s["catch_up"], s["status"]),
                         ("30 9 * * mon-fri", "Europe/Berlin", "once", "active"))
        self.assertEqual(len(s["next_runs"]), 5)
        times = [parse_time(t) for t in s["next_runs"]]
        self.assertEqual(times, sorted(times))
        self.assertEqual(s["next_run_at"], s["next_runs"][0])
        for t in times:
            g = time.gmtime(t)
            self.assertLess(g.tm_wday, 5)              # Monday-Friday
            self.assertIn((g.tm_hour, g.tm_min), ((7, 30), (8, 30)))  # 09:30 CEST/CET
        sid = s["id"]
        got = self.req("GET", "/orgs/default/schedules/%d" % sid, token=self.admin)
        self.assertEqual(got.status, 200, got)
        self.assertEqual(got.json["next_runs"], s["next_runs"])
        items = self.req("GET", "/orgs/default/schedules", token=self.admin).json["items"]
        self.assertIn(sid, [i["id"] for i in items])

        p = self.req("POST", "/orgs/default/schedules/%d/pause" % sid, token=self.admin)
        self.assertEqual(p.status, 200, p)
        self.assertEqual((p.json["status"], p.json["next_run_at"], p.json["next_runs"]),
                         ("paused", None, []))
        q = self.req("POST", "/orgs/default/schedules/%d/resume" % sid, token=self.admin)
        self.assertEqual(q.status, 200, q)
        self.assertEqual(q.json["status"], "active")
        self.assertEqual(len(q.json["next_runs"]), 5)
        runs = self.req("GET", "/orgs/default/schedules/%d/runs" % sid, token=self.admin)
        self.assertEqual((runs.status, runs.json["items"]), (200, []), runs)
        d = self.req("DELETE", "/orgs/default/schedules/%d" % sid, token=self.admin)
        self.assertEqual(d.status, 204, d)
        self.assertEqual(self.req("GET", "/orgs/default/schedules/%d" % sid,
                                  token=self.admin).status, 404)

        audit = self.req("GET", "/orgs/default/audit?action=schedule.*", token=self.admin)
        acts = [(e["action"], e["target"]) for e in audit.json["items"]]
        for a in ("schedule.create", "schedule.pause", "schedule.resume", "schedule.delete"):
            self.assertIn((a, "schedule:%d" % sid), acts)

    def test_every_minutes(self):
        r = self.create(every_minutes=90, catch_up="skip")
        self.assertEqual(r.status, 201, r)
        t = [parse_time(x) for x in r.json["next_runs"]]
        self.assertEqual([b - a for a, b in zip(t, t[1:])], [5400] * 4)
        self.assertEqual(t[0] % 60, 0)
        self.assertLessEqual(t[0] - time.time(), 5400)
        self.assertIsNone(r.json["cron"])
        self.assertEqual(r.json["every_minutes"], 90)

    def test_viewer_reads_but_cannot_write(self):
        viewer = self.d.add_user(self.admin, "default", "sv@example.com", "viewer")
        self.assertEqual(self.req("GET", "/orgs/default/schedules", token=viewer).status, 200)
        r = self.req("POST", "/orgs/default/schedules", token=viewer,
                     body={"kind": "script", "script": "hello", "server": "box", "cron": "* * * * *"})
        self.assertEqual(r.status, 403, r)

    def test_token_without_script_run_cannot_schedule_a_script(self):
        tok = self.d.create_token(self.admin, ["schedule:write", "schedule:read"])["token"]
        r = self.req("POST", "/orgs/default/schedules", token=tok,
                     body={"kind": "script", "script": "hello", "server": "box", "cron": "* * * * *"})
        self.assertEqual(r.status, 403, r)
        self.assertIn("script:run", r.json["error"]["message"])


class TestScheduleCli(harness.ApiCase):
    """`berth schedule ...` against the same API, --json and human."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        for path, body in (("/servers", {"name": "box"}),
                           ("/scripts", {"name": "hello", "body": "echo hi"})):
            r = cls.d.request("POST", "/api/v1/orgs/default" + path, token=cls.admin, body=body)
            assert r.status == 201, r

    def berth(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        env.update(BERTH_URL=self.d.url, BERTH_TOKEN=self.admin, BERTH_ORG="default",
                   BERTH_CONFIG=os.path.join(self.d.tmp.name, "cli.json"))
        p = subprocess.run([harness.BERTH] + list(args), capture_output=True, text=True,
                           env=env, timeout=60)
        return p.returncode, p.stdout, p.stderr

    def ok(self, *args):
        rc, out, err = self.berth(*args, "--json")
        self.assertEqual(rc, 0, (out, err))
        doc = json.loads(out)
        self.assertIs(doc["ok"], True)
        return doc["data"]

    def test_cli_round_trip(self):
        s = self.ok("schedule", "create", "--script", "hello", "--server", "box",
                    "--cron", "*/10 * * * *", "--tz", "Asia/Kolkata", "--catch-up", "skip")
        sid = str(s["id"])
        self.assertEqual((s["timezone"], s["catch_up"]), ("Asia/Kolkata", "skip"))
        self.assertEqual(len(s["next_runs"]), 5)
        self.assertIn(int(sid), [i["id"] for i in self.ok("schedule", "list")["items"]])
        rc, out, _ = self.berth("schedule", "show", sid)
        self.assertEqual(rc, 0)
        self.assertIn("*/10 * * * * (Asia/Kolkata)", out)
        self.assertEqual(self.ok("schedule", "pause", sid)["status"], "paused")
        self.assertEqual(self.ok("schedule", "resume", sid)["status"], "active")
        self.assertEqual(self.ok("schedule", "runs", sid, "--limit", "5")["items"], [])
        e = self.ok("schedule", "create", "--script", "hello", "--server", "box", "--every",
                    "15")
        self.assertEqual(e["every_minutes"], 15)
        # refusals: usage (2), bad zone (berthd's 400: 1), unknown id (4)
        rc, out, _ = self.berth("schedule", "create", "--script", "hello", "--json")
        self.assertEqual(rc, 2, out)
        rc, out, _ = self.berth("schedule", "create", "--script", "hello", "--server", "box",
                                "--cron", "* * * * *", "--tz", "Mars/Base", "--json")
        self.assertEqual(json.loads(out)["error"]["code"], "unknown_timezone", out)
        rc, out, _ = self.berth("schedule", "show", "999999", "--json")
        self.assertEqual(rc, 4, out)
        rc, out, _ = self.berth("schedule", "delete", sid, "--yes", "--json")
        self.assertEqual(rc, 0, out)
        rc, _, _ = self.berth("schedule", "show", sid, "--json")
        self.assertEqual(rc, 4)


class TestSchedulesFire(RunnerCase):
    """One berthd, runner host-1 (ACTIVE) and runner host-2 (stopped before
    the fire times): over two minute boundaries, an echo schedule starts
    twice, a 75 s sleep starts then is skipped, host-2's schedule misses."""

    def start_runner(self, name):
        r = self.api("POST", "/servers", {"name": name})
        self.assertEqual(r.status, 201, r)
        env = dict(os.environ, BERTH_RUNNER_TOKEN=r.json["registration_token"])
        log = open(os.path.join(self.state.name, name + ".log"), "ab")
        p = subprocess.Popen([RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % self.b.port,
                              "--state-dir", os.path.join(self.state.name, name),
                              "--min-free-disk", "0"], env=env, stdout=log, stderr=log)
        log.close()
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/" + name).json["status"]
                                 == "ACTIVE", 20), self.logs())
        return p

    def script(self, name, body):
        r = self.api("POST", "/scripts", {"name": name, "body": body})
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def schedule(self, **body):
        r = self.api("POST", "/schedules", body)
        self.assertEqual(r.status, 201, r)
        return r.json["id"]

    def runs(self, sid):
        r = self.api("GET", "/schedules/%d/runs" % sid)
        self.assertEqual(r.status, 200, r)
        return list(reversed(r.json["items"]))  # oldest first

    def test_fire_overlap_and_miss(self):
        second = self.start_runner("host-2")
        self.script("hello", "echo hello-from-schedule")
        self.script("slow", "sleep 75")
        # Leave time before the boundary for the set-up below.
        wait_minute_margin(1, 45)
        echo = self.schedule(kind="script", script="hello", server="host-1", cron="* * * * *")
        slow = self.schedule(kind="script", script="slow", server="host-1", cron="* * * * *")
        miss = self.schedule(kind="script", script="hello", server="host-2", cron="* * * * *")
        # Redeploys: an app on host-1 (its clone fails: nothing listens
        # there, but the deployment starts and is recorded) and one on host-2.
        for name, server in (("web", "host-1"), ("web2", "host-2")):
            r = self.api("POST", "/apps", {"name": name, "server": server, "container_port": 80,
                                           "repo_url": "http://127.0.0.1:9/none.git"})
            self.assertEqual(r.status, 201, r)
        dep = self.schedule(kind="deploy", app="web", cron="* * * * *")
        dep_miss = self.schedule(kind="deploy", app="web2", cron="* * * * *")
        second.send_signal(signal.SIGTERM)
        second.wait(10)
        self.assertTrue(wait_for(lambda: self.api("GET", "/servers/host-2").json["status"]
                                 == "UNREACHABLE", 10))
        boundary = (int(time.time()) // 60 + 1) * 60

        # The first boundary: echo and slow start within their minute.
        self.assertTrue(wait_for(lambda: all(len(self.runs(x)) >= 1 for x in
                                             (echo, slow, miss, dep, dep_miss)), 80), self.logs())
        first = self.runs(echo)[0]
        self.assertEqual(first["outcome"], "started", first)
        self.assertEqual(parse_time(first["due_at"]), boundary)
        self.assertLess(parse_time(first["at"]) - boundary, 10)
        self.assertIsNotNone(first["job_id"])
        job = first["job_id"]
        self.assertTrue(wait_for(lambda: self.api("GET", "/jobs/%d" % job).json["status"]
                                 == "SUCCEEDED", 30), self.logs())
        logs = self.b.request("GET", self.org + "/jobs/%d/logs" % job, token=self.tok)
        self.assertIn("hello-from-schedule", logs.body)
        self.assertEqual(self.runs(slow)[0]["outcome"], "started")
        m = self.runs(miss)[0]
        self.assertEqual((m["outcome"], m["job_id"]), ("missed", None), m)
        self.assertIn("host-2", m["reason"])
        self.assertIn("UNREACHABLE", m["reason"])
        d1 = self.runs(dep)[0]
        self.assertEqual((d1["outcome"], d1["job_id"]), ("started", None), d1)
        got = self.api("GET", "/deployments/%d" % d1["deployment_id"])
        self.assertEqual((got.status, got.json["app_id"]), (200, self.api("GET", "/apps/web")
                                                             .json["id"]), got)
        dm = self.runs(dep_miss)[0]
        self.assertEqual((dm["outcome"], dm["deployment_id"]), ("missed", None), dm)
        self.assertIn("host-2", dm["reason"])

        # The second boundary: echo again, slow skipped (its job still runs).
        self.assertTrue(wait_for(lambda: len(self.runs(echo)) >= 2 and len(self.runs(slow)) >= 2
                                 and len(self.runs(miss)) >= 2, 75), self.logs())
        self.assertEqual(self.runs(echo)[1]["outcome"], "started")
        s2 = self.runs(slow)[1]
        self.assertEqual(s2["outcome"], "skipped", s2)
        self.assertIn("job %d" % self.runs(slow)[0]["job_id"], s2["reason"])
        self.assertIn("RUNNING", s2["reason"])
        self.assertIsNone(s2["job_id"])
        self.assertEqual(parse_time(s2["due_at"]), boundary + 60)
        self.assertEqual(self.runs(miss)[1]["outcome"], "missed")
        # No job was queued for host-2.
        sv2 = self.api("GET", "/servers/host-2").json["id"]
        jobs = self.api("GET", "/servers/%d/jobs" % sv2)
        self.assertEqual(jobs.json["items"], [], jobs)
        # The show answer reflects the last run.
        show = self.api("GET", "/schedules/%d" % slow).json
        self.assertEqual(show["last_job_id"], self.runs(slow)[0]["job_id"])


class TestCatchUp(RunnerCase):
    """berthd stopped across a fire time: "once" runs once at start (the
    job runs when the runner is back), "skip" records a miss."""

    def test_catch_up_once_and_skip(self):
        r = self.api("POST", "/scripts", {"name": "hello", "body": "echo caught-up"})
        self.assertEqual(r.status, 201, r)
        wait_minute_margin(5, 40)
        once = self.api("POST", "/schedules", {"kind": "script", "script": "hello",
                                               "server": "host-1", "cron": "* * * * *"}).json["id"]
        skip = self.api("POST", "/schedules", {"kind": "script", "script": "hello",
                                               "server": "host-1", "cron": "* * * * *",
                                               "catch_up": "skip"}).json["id"]
        boundary = (int(time.time()) // 60 + 1) * 60
        self.b.stop()
        # Down across the boundary and more than a minute past it (late).
        while time.time() < boundary + 62:
            time.sleep(0.5)
        self.b.start()
        self.tok = self.b.login()

        def runs(sid):
            return self.api("GET", "/schedules/%d/runs" % sid).json["items"]
        # "once" waits (up to 60 s) for host-1's runner to reconnect: berthd's
        # stop left the server UNREACHABLE.
        self.assertTrue(wait_for(lambda: runs(once) and runs(skip), 70), self.logs())
        o, s = runs(once), runs(skip)
        self.assertEqual(len(o), 1, o)  # once, not one per missed minute
        self.assertEqual(o[0]["outcome"], "started", o)
        self.assertIn("catch-up", o[0]["reason"])
        self.assertEqual(parse_time(o[0]["due_at"]), boundary)
        self.assertEqual(len(s), 1, s)
        self.assertEqual(s[0]["outcome"], "missed", s)
        self.assertIn("catch_up skip", s[0]["reason"])
        job = o[0]["job_id"]
        self.assertTrue(wait_for(lambda: self.api("GET", "/jobs/%d" % job).json["status"]
                                 == "SUCCEEDED", 60), self.logs())
        # The next fire time is in the future again, on a minute.
        nxt = parse_time(self.api("GET", "/schedules/%d" % once).json["next_run_at"])
        self.assertGreater(nxt, time.time() - 2)
        self.assertEqual(nxt % 60, 0)


if __name__ == "__main__":
    unittest.main()
