"""GET /api/v1/orgs/{org}/servers paged, filtered and sorted (issue 15):
250 servers walked with every sort both ways (no duplicate, no gap, the
documented order), filters with their totals, a cursor that stays exact
while servers are added and removed between pages, the default answer
old clients read, and hostile query values refused with a clear 400 that
change nothing."""
import json
import os
import subprocess
import tempfile
import unittest
from urllib.parse import quote

from harness import BERTH, Berthd, err_code

N = 250
SORTS = ("name", "status", "last_heartbeat", "created")


class ServerPages(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.b = Berthd().start()
        cls.admin = cls.b.login()
        cls.org = "/api/v1/orgs/%s" % cls.b.org
        cls.ids = []
        for i in range(N):
            # names that do not sort like their ids: a byte order with
            # capitals, digits and '.', '_', '-' in them
            name = ("%s%03d" % (("Web-", "db.", "web_", "cache-", "API")[i % 5], (i * 37) % N))
            r = cls.b.request("POST", cls.org + "/servers", token=cls.admin, body={"name": name})
            assert r.status == 201, r
            cls.ids.append(r.json["id"])
        for sid in cls.ids[::6]:  # some of another status
            r = cls.b.request("POST", cls.org + "/servers/%d/decommission" % sid, token=cls.admin)
            assert r.status == 200, r

    @classmethod
    def tearDownClass(cls):
        cls.b.close()

    def get(self, query=""):
        return self.b.request("GET", self.org + "/servers" + query, token=self.admin)

    def walk(self, query, limit, cursor=None):
        """Every page of a query (from cursor); the items in order, the
        pages' totals."""
        items, totals = [], set()
        for _ in range(N + 2):
            q = query + "&limit=%d" % limit + ("&cursor=" + quote(cursor) if cursor else "")
            r = self.get("?" + q.lstrip("&"))
            self.assertEqual(r.status, 200, r)
            self.assertLessEqual(len(r.json["items"]), limit)
            items += r.json["items"]
            totals.add(r.json["total"])
            cursor = r.json["next_cursor"]
            if cursor is None:
                return items, totals
            self.assertTrue(r.json["items"], "a cursor after an empty page")
        self.fail("the pages never ended")

    @staticmethod
    def key(sort, s):
        # the documented order: the sort's key, then the id (created_at is
        # RFC 3339 UTC, so its text sorts as its time)
        k = {"name": lambda: s["name"].encode(), "status": lambda: s["status"],
             "last_heartbeat": lambda: s["last_seen_at"] or "",
             "created": lambda: s["created_at"]}[sort]()
        return (k, s["id"])

    def test_every_sort_both_ways_no_duplicates_no_gaps(self):
        every = self.get("?limit=500").json
        self.assertEqual(every["total"], N)
        self.assertEqual(len(every["items"]), N)
        self.assertIsNone(every["next_cursor"])
        for sort in SORTS:
            for desc in (False, True):
                with self.subTest(sort=sort, desc=desc):
                    items, totals = self.walk("&sort=%s%s" % ("-" if desc else "", sort), 37)
                    ids = [s["id"] for s in items]
                    self.assertEqual(len(ids), len(set(ids)), "a server twice")
                    self.assertEqual(set(ids), set(self.ids), "a server missing")
                    self.assertEqual(totals, {N})
                    want = sorted(every["items"], key=lambda s: self.key(sort, s), reverse=desc)
                    self.assertEqual(ids, [s["id"] for s in want])

    def test_filters_and_their_totals(self):
        items, totals = self.walk("&status=DECOMMISSIONED&sort=name", 10)
        self.assertEqual(totals, {len(self.ids[::6])})
        self.assertEqual({s["id"] for s in items}, set(self.ids[::6]))
        self.assertTrue(all(s["status"] == "DECOMMISSIONED" for s in items))
        # q: a substring of the name, any case; '_' is a character, not a wildcard
        items, totals = self.walk("&q=WEB_&sort=-created", 20)
        self.assertEqual(totals, {N // 5})
        self.assertTrue(all(s["name"].startswith("web_") for s in items), items[:3])
        items, _ = self.walk("&q=web", 500)
        self.assertEqual(len(items), 2 * N // 5)  # Web-... and web_...
        r = self.get("?q=nothing-like-this")
        self.assertEqual((r.json["items"], r.json["total"], r.json["next_cursor"]), ([], 0, None))
        r = self.get("?q=&status=&sort=")  # empty values: no filter, the default sort
        self.assertEqual(r.json["total"], N)
        self.assertEqual(r.json["sort"], "created")

    def test_the_default_answer_old_clients_read(self):
        r = self.get()
        self.assertEqual(r.status, 200, r)
        d = r.json
        self.assertEqual(len(d["items"]), 100)  # the default limit
        self.assertEqual((d["total"], d["limit"], d["sort"]), (N, 100, "created"))
        self.assertEqual([s["id"] for s in d["items"]], self.ids[:100])  # as before: by id
        self.assertIsNotNone(d["next_cursor"])
        for k in ("id", "name", "status", "status_reason", "status_changed_at", "created_at",
                  "last_seen_at", "decommissioned_at", "connected", "metrics"):
            self.assertIn(k, d["items"][0])

    def test_cursor_is_stable_while_servers_come_and_go(self):
        first = self.get("?sort=name&limit=50").json
        names = [s["name"] for s in first["items"]]
        # one that sorts into the page already read, one after it, one removed after it
        early = self.b.request("POST", self.org + "/servers", token=self.admin,
                               body={"name": "AAA-new"}).json
        late = self.b.request("POST", self.org + "/servers", token=self.admin,
                              body={"name": "zzz-new"}).json
        try:
            rest, _ = self.walk("&sort=name", 50, first["next_cursor"])
            got = names + [s["name"] for s in rest]
            self.assertEqual(len(got), len(set(got)))
            self.assertNotIn("AAA-new", got)  # it sorts before the cursor
            self.assertEqual(got[-1], "zzz-new")
            self.assertEqual(got, sorted(got, key=lambda n: n.encode()))
        finally:
            for s in (early, late):
                self.b.request("POST", self.org + "/servers/%d/decommission" % s["id"],
                               token=self.admin)
                self.b.request("DELETE", self.org + "/servers/%d" % s["id"], token=self.admin)
        # the row a cursor names may be gone: the next page still starts after it
        c = self.get("?sort=-name&limit=3").json
        victim = c["items"][-1]["id"]
        extra = self.b.request("POST", self.org + "/servers", token=self.admin,
                               body={"name": "zzzz-gone"}).json
        self.b.request("POST", self.org + "/servers/%d/decommission" % extra["id"],
                       token=self.admin)
        self.assertEqual(self.b.request("DELETE", self.org + "/servers/%d" % extra["id"],
                                        token=self.admin).status, 204)
        after = self.get("?sort=-name&limit=3&cursor=" + quote(c["next_cursor"])).json["items"]
        self.assertNotIn(victim, [s["id"] for s in after])

    def test_hostile_values_are_refused_and_change_nothing(self):
        bad = [
            "limit=0", "limit=-1", "limit=501", "limit=abc", "limit=1e3", "limit=10%20OR%201=1",
            "limit=99999999999999999999", "limit=%2010",
            "sort=bogus", "sort=name%3BDROP%20TABLE%20servers", "sort=--name", "sort=NAME",
            "sort=name,id", "sort=-", "sort=id",
            "status=active", "status=ACTIVE'%20OR%20'1'='1", "status=ACTIVE,UNREACHABLE",
            "q=web%25", "q=a%20b", "q=x'%20OR%201=1--", "q=" + "a" * 101, "q=%C3%A9",
            "q=..%2F..%2Fetc",
            "cursor=garbage", "cursor=v1.name.a.1", "cursor=v1.name.a.0.web", "cursor=v2.name.a.1.web",
            "cursor=v1.name.a.1.%27%3B%20DROP%20TABLE%20servers%3B--",
            "cursor=v1.created.a.-5.0", "cursor=v1.created.a.1.-1",
            "cursor=v1.created.a.99999999999999999999.1", "cursor=v1.status.a.1.BOGUS",
            "cursor=" + "v1.name.a.1." + "x" * 300,
            # a cursor of another sort or direction than the request's
            "sort=-name&cursor=v1.name.a.1.web", "sort=status&cursor=v1.name.a.1.web",
            "cursor=v1.name.a.1.web",  # the default sort is created
        ]
        before = self.get("?limit=500").json
        for q in bad:
            with self.subTest(q=q):
                r = self.get("?" + q)
                self.assertEqual(r.status, 400, r)
                self.assertEqual(err_code(r), "invalid_query", r)
                self.assertTrue(r.json["error"]["message"])
        r = self.get("?q=" + "a" * 3000)  # past the whole query's cap
        self.assertEqual(r.status, 414, r)
        # a ';' splits the query (the HTTP server's rule): the rest is
        # another parameter, ignored
        r = self.get("?sort=name;DROP%20TABLE%20servers")
        self.assertEqual((r.status, r.json["sort"]), (200, "name"), r)
        # a NUL: the HTTP server closes the connection without an answer
        # (as for one in the path, docs/api.md), or it is a 400
        try:
            self.assertEqual(self.get("?q=a%00b").status, 400)
        except ConnectionError:
            pass
        after = self.get("?limit=500").json
        self.assertEqual(before["items"], after["items"])
        self.assertEqual(after["total"], N)
        self.assertEqual(self.get("?whatever=1").status, 200)  # unknown ones are ignored

    @unittest.skipUnless(os.path.exists(BERTH), "the CLI is not built")
    def test_z_cli_lists_every_page(self):
        """`berth server list` and `berth status` follow the cursor past
        one page (500): every server once. Runs last: it adds servers."""
        for i in range(N, 520):
            r = self.b.request("POST", self.org + "/servers", token=self.admin,
                               body={"name": "more-%03d" % i})
            self.assertEqual(r.status, 201, r)
        with tempfile.TemporaryDirectory() as cfg:
            env = dict(os.environ, BERTH_URL=self.b.url, BERTH_TOKEN=self.admin,
                       BERTH_ORG=self.b.org, BERTH_CONFIG=os.path.join(cfg, "c.json"))
            out = subprocess.run([BERTH, "server", "list", "--json"], env=env,
                                 capture_output=True, text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            ids = [s["id"] for s in json.loads(out.stdout)["data"]["items"]]
            self.assertEqual(len(ids), 520)
            self.assertEqual(len(set(ids)), 520)
            self.assertEqual(ids, sorted(ids))
            out = subprocess.run([BERTH, "status", "--json"], env=env, capture_output=True,
                                 text=True, timeout=60)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(json.loads(out.stdout)["data"]["totals"]["total"], 520)


if __name__ == "__main__":
    unittest.main()
