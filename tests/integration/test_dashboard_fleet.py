"""The dashboard's server list with a fleet (issue 15), in real headless
Chromium against a real berthd holding 320 servers: one page of rows in
the DOM, the filter box, the status filter, sorting by the column headers
(with the keyboard too), the pages (Next, Previous, the browser's Back),
and the URL keeping all of it (a bookmark opens the same rows). Saves a
screenshot (fleet-servers*.png) beside the other dashboard screens.

Skips itself when Chromium, chromedriver or selenium is missing; run with
/usr/bin/python3 (scripts/deps.sh installs them).
"""
import os
import sys
import time
import unittest
from urllib.parse import parse_qs, urlparse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Berthd, ADMIN_EMAIL, ADMIN_PASSWORD  # noqa: E402
from test_dashboard import CHROMEDRIVER, CHROMIUM, HAVE_SELENIUM, SHOTS, Drive  # noqa: E402

if HAVE_SELENIUM:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

N = 320
PAGE = 50


def name_of(i):
    return "%s-%03d" % (("web", "db", "cache", "Edge")[i % 4], i)


@unittest.skipUnless(HAVE_SELENIUM and os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
                     "chromium, chromium-driver and python3-selenium are needed (scripts/deps.sh)")
class FleetList(Drive, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.makedirs(SHOTS, exist_ok=True)
        cls.d = Berthd().start()
        cls.admin = cls.d.login()
        cls.names = {}
        for i in range(N):
            r = cls.d.request("POST", "/api/v1/orgs/default/servers", token=cls.admin,
                              body={"name": name_of(i)})
            assert r.status == 201, r
            cls.names[r.json["id"]] = name_of(i)
        cls.gone = set()
        for sid in list(cls.names)[::7]:
            cls.d.request("POST", "/api/v1/orgs/default/servers/%d/decommission" % sid,
                          token=cls.admin)
            cls.gone.add(sid)
        cls.drv = cls.browser()
        cls.signed_in = False

    @classmethod
    def tearDownClass(cls):
        try:
            cls.drv.quit()
        finally:
            cls.d.close()

    # what the page shows

    def rows(self):
        return self.drv.execute_script(
            "return [...document.querySelectorAll('#servers tbody tr[data-id]')].map("
            "(tr) => [Number(tr.dataset.id), tr.querySelector('a').textContent,"
            " tr.querySelector('.badge').textContent])")

    def query(self):
        return {k: v[0] for k, v in parse_qs(urlparse(self.drv.current_url).query).items()}

    def count(self):
        return self.css("#server-count").text

    def settled(self, cond, timeout=15):
        """Waits until cond(rows) holds on a drawn page."""
        return self.wait(lambda d: (lambda r: r if r and cond(r) else None)(self.rows()), timeout)

    def open_list(self, query=""):
        if not self.signed_in:
            self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
            type(self).signed_in = True
        self.go("/o/default/servers" + query)
        self.wait_css("#servers tbody tr[data-id]")

    # the walk

    def test_1_one_page_in_the_dom_sorted_by_name(self):
        self.open_list()  # signs in first
        t0 = time.time()
        self.open_list()
        # told, not held to a bound: the figure is bench/dashboard.sh's
        print("navigation to the first rows: %.0f ms" % ((time.time() - t0) * 1000),
              file=sys.stderr)
        rows = self.rows()
        self.assertEqual(len(rows), PAGE)
        self.assertEqual(self.drv.execute_script("return document.querySelectorAll('tr').length"),
                         PAGE + 1)  # the header row and one page: never the fleet
        want = sorted(self.names.values(), key=lambda n: n.encode())[:PAGE]
        self.assertEqual([r[1] for r in rows], want)
        self.assertEqual(self.count(), "1–50 of %d" % N)
        self.assertEqual(self.css("th[aria-sort]").text.strip(), "Name ▲")
        self.shot("fleet-servers")
        self.assertEqual(self.console_errors(), [])

    def test_2_filter_box_and_status(self):
        self.open_list()
        box = self.css("#server-filter")
        box.send_keys("DB-")
        self.wait(lambda d: self.query().get("q") == "DB-")
        rows = self.settled(lambda r: all(x[1].startswith("db-") for x in r))
        self.assertEqual(len(rows), PAGE)
        self.wait(lambda d: self.count() == "1–50 of %d matching" % (N // 4))
        Select(self.css("#server-status")).select_by_value("DECOMMISSIONED")
        self.wait(lambda d: self.query().get("status") == "DECOMMISSIONED")
        rows = self.settled(lambda r: all(x[2] == "DECOMMISSIONED" for x in r))
        want = sorted((n for i, n in self.names.items() if i in self.gone and n.startswith("db-")),
                      key=lambda n: n.encode())
        self.assertEqual([r[1] for r in rows], want)
        self.assertTrue(self.css("#page-next").get_attribute("disabled") or
                        not self.css("#page-next").is_displayed())
        self.shot("fleet-servers-filtered")
        # nothing matches: said so, in the table
        box.send_keys("zzz")
        self.wait_text("#servers tbody", "No servers match.")
        # a bookmark of the filtered view opens it as it was
        url = self.drv.current_url
        self.drv.get(url)
        self.wait_text("#servers tbody", "No servers match.")
        self.assertEqual(self.css("#server-filter").get_attribute("value"), "DB-zzz")
        self.assertEqual(Select(self.css("#server-status")).first_selected_option.text,
                         "DECOMMISSIONED")

    def test_3_sort_by_header_with_the_keyboard(self):
        self.open_list()
        # from the filter box, Tab reaches the status, then the column headers
        self.css("#server-filter").click()
        active = lambda: self.drv.switch_to.active_element  # noqa: E731
        active().send_keys(Keys.TAB)
        self.assertEqual(active().get_attribute("id"), "server-status")
        active().send_keys(Keys.TAB)
        self.assertEqual(active().get_attribute("data-sort"), "name")
        active().send_keys(Keys.ENTER)  # name again: descending
        self.wait(lambda d: self.query().get("sort") == "-name")
        want = sorted(self.names.values(), key=lambda n: n.encode(), reverse=True)[:PAGE]
        self.settled(lambda r: [x[1] for x in r] == want)
        self.assertEqual(self.css("th[aria-sort]").get_attribute("aria-sort"), "descending")
        active().send_keys(Keys.TAB)
        self.assertEqual(active().get_attribute("data-sort"), "status")
        active().send_keys(Keys.SPACE)
        self.wait(lambda d: self.query().get("sort") == "status")
        rows = self.settled(lambda r: r[0][2] == "DECOMMISSIONED")
        gone = len(self.gone)  # DECOMMISSIONED first, then PROVISIONING; each by id
        self.assertEqual([r[0] for r in rows[:gone]], sorted(self.gone))
        self.assertEqual([r[0] for r in rows[gone:]],
                         sorted(set(self.names) - self.gone)[:PAGE - gone])
        self.assertEqual(active().get_attribute("data-sort"), "status", "focus stays")
        # the added column sorts by creation
        self.css("button[data-sort=created]").click()
        self.wait(lambda d: self.query().get("sort") == "created")
        self.settled(lambda r: [x[0] for x in r] == sorted(self.names)[:PAGE])

    def test_4_pages_next_previous_back_and_bookmark(self):
        self.open_list("?sort=-created")
        ids = sorted(self.names, reverse=True)
        self.settled(lambda r: [x[0] for x in r] == ids[:PAGE])
        seen = []
        for p in range(N // PAGE + 1):
            rows = self.settled(lambda r: r[0][0] == ids[p * PAGE])
            seen += [x[0] for x in rows]
            self.assertEqual(self.count(), "%d–%d of %d" % (p * PAGE + 1, min(N, (p + 1) * PAGE), N))
            if p < N // PAGE:
                self.css("#page-next").click()
        self.assertEqual(seen, ids)  # every server once, in order
        self.assertTrue(self.css("#page-next").get_attribute("disabled"))
        last = self.drv.current_url
        self.assertIn("cursor", self.query())
        self.css("#page-prev").click()
        self.settled(lambda r: r[0][0] == ids[(N // PAGE - 1) * PAGE])
        self.drv.back()  # the browser's Back: the last page again
        self.settled(lambda r: r[0][0] == ids[(N // PAGE) * PAGE])
        self.drv.back()
        self.settled(lambda r: r[0][0] == ids[(N // PAGE - 1) * PAGE])
        # a bookmark of the last page: the same rows; First page goes home
        self.drv.get(last)
        rows = self.settled(lambda r: r[0][0] == ids[(N // PAGE) * PAGE])
        self.assertEqual(len(rows), N % PAGE)
        self.assertEqual(self.count(), "%d shown of %d" % (N % PAGE, N))
        self.css("#page-first").click()
        self.settled(lambda r: r[0][0] == ids[0])
        self.assertNotIn("cursor", self.query())
        # a cursor made by hand is the first page, not an error
        self.go("/o/default/servers?sort=-created&cursor=v1.name.a.1.x")
        self.settled(lambda r: r[0][0] == ids[0])
        self.assertNotIn("cursor", self.query())
        self.assertEqual(self.console_errors(), [])

    def test_5_narrow_screen(self):
        self.open_list()
        drv = self.browser(375, 800, mobile=True)
        try:
            for c in self.drv.get_cookies():
                if c["name"] in ("berth_session", "berth_csrf"):
                    drv.get(self.d.url + "/login")
                    drv.add_cookie({k: c[k] for k in ("name", "value", "path") if k in c})
            self.go("/o/default/servers?q=web", drv)
            self.wait_css("#servers tbody tr[data-id]", drv=drv)
            self.assertFalse(self.css("th.wide", drv).is_displayed())
            self.shot("fleet-servers-375px", drv)
        finally:
            drv.quit()


if __name__ == "__main__":
    unittest.main()
