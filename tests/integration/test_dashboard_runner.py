"""The dashboard's pages that need a runner, in real headless Chromium
against a real berthd and a real berth-runner on this host.

Terminal: the page loads xterm (Debian's node-xterm, wrapped at build
time), opens the terminal WebSocket with the session cookie, a command
typed into it runs on the host and its output shows, the size the page
asked for is what `stty size` says, `exit 3` ends the session with its
code; a developer (no terminal:open) is refused.

Scripts: a script written in the editor, saved, run on the server from
its page; the job page shows its output and turns SUCCEEDED by its event;
a viewer is offered neither editing nor running.

Run with /usr/bin/python3; ctest sets PYTHONPATH so `import harness` works.
"""
import os
import unittest

import harness
from harness import ADMIN_EMAIL, ADMIN_PASSWORD
from test_dashboard import (CHROMEDRIVER, CHROMIUM, HAVE_SELENIUM, SHOTS, Drive)

if HAVE_SELENIUM:
    from selenium.webdriver.common.by import By


@unittest.skipUnless(HAVE_SELENIUM and os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
                     "chromium, chromium-driver and python3-selenium are needed (scripts/deps.sh)")
@unittest.skipUnless(os.path.exists(harness.RUNNER), "berth-runner is not built")
class BrowserRunner(harness.RunnerCase, Drive):
    def setUp(self):
        super().setUp()
        os.makedirs(SHOTS, exist_ok=True)
        self.d = self.b
        self.admin = self.tok
        self.drv = self.browser()

    def tearDown(self):
        try:
            self.drv.quit()
        finally:
            super().tearDown()

    def screen(self):
        """What the terminal shows, as its screen-reader rows say it."""
        rows = self.drv.find_elements(By.CSS_SELECTOR, ".xterm-accessibility-tree > div")
        return "\n".join(r.get_attribute("textContent") for r in rows)

    def type(self, text):
        self.css(".xterm-helper-textarea").send_keys(text)

    def test_host_shell_in_the_browser(self):
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        self.go("/o/default/servers/host-1/terminal")
        self.wait_text("#term-state", "connected", timeout=20)
        self.type("echo hi-$((6*7)); stty size\n")
        self.wait(lambda d: "hi-42" in self.screen(), 15)
        self.shot("30-terminal-host")
        # the size the page fitted to is the PTY's
        want = self.css("#terminal").get_attribute("data-size")
        self.assertRegex(want, r"^\d+ \d+$")
        self.assertIn(want, self.screen().splitlines())
        self.type("exit 3\n")
        self.wait_text("#term-state", "exit code 3", timeout=15)
        self.assertEqual([e for e in self.console_errors() if "csp" in str(e).lower()], [])

    def test_a_developer_gets_no_host_shell(self):
        self.d.add_user(self.tok, "default", "dev@example.com", "developer", password="dev-password-1")
        self.sign_in("dev@example.com", "dev-password-1")
        self.go("/o/default/servers/host-1/terminal")
        self.wait(lambda d: "could not connect" in self.css("#term-state").text or
                  "disconnected" in self.css("#term-state").text, 15)
        self.shot("31-terminal-refused")


    def test_script_written_saved_and_run(self):
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        self.go("/o/default/scripts")
        self.wait_css("#new-script").click()
        form = self.wait_css("#script-form")
        form.find_element(By.NAME, "name").send_keys("hello")
        body = form.find_element(By.NAME, "body")
        body.clear()
        body.send_keys("echo out-$((6*7))\necho err-line >&2\nsleep 1\necho done\n")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait(lambda d: d.current_url.endswith("/o/default/scripts/hello"))
        self.wait_css("#run-form button[type=submit]").click()
        self.wait(lambda d: "/o/default/jobs/" in d.current_url)
        self.wait_text("#log", "out-42", timeout=20)
        self.wait_text(".page-head .badge", "SUCCEEDED", timeout=20)
        self.assertIn("err-line", self.css("#log").text)
        self.shot("32-script-job")
        # the saved body is the one the API has
        r = self.api("GET", "/scripts/hello")
        self.assertIn("echo out-$((6*7))", r.json["body"])
        # a viewer reads it and is offered neither save nor run
        self.d.add_user(self.tok, "default", "vi@example.com", "viewer", password="vi-password-1")
        drv = self.browser()
        try:
            self.sign_in("vi@example.com", "vi-password-1", drv)
            self.go("/o/default/scripts/hello", drv)
            self.wait_css("#script-form", drv=drv)
            self.assertFalse(drv.find_elements(By.CSS_SELECTOR, "#script-form button[type=submit]"))
            self.assertFalse(drv.find_elements(By.CSS_SELECTOR, "#run-form"))
            self.assertFalse(drv.find_elements(By.CSS_SELECTOR, "#new-script"))
        finally:
            drv.quit()


    def test_schedule_created_from_the_page_fires(self):
        """A schedule made in the page runs its script at the next minute;
        the page lists its next runs, pauses and shows its run history."""
        self.assertEqual(self.api("POST", "/scripts", {"name": "tick", "body": "echo tick"}).status,
                         201)
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        self.go("/o/default/schedules")
        form = self.wait_css("#schedule-form")
        form.find_element(By.NAME, "cron").clear()
        form.find_element(By.NAME, "cron").send_keys("* * * * *")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait(lambda d: "/o/default/schedules/" in d.current_url)
        self.assertEqual(len(self.css("#next-runs").find_elements(By.TAG_NAME, "li")), 5)
        sid = self.drv.current_url.rsplit("/", 1)[1]
        self.assertTrue(harness.wait_for(lambda: any(
            r["outcome"] == "started" for r in
            self.api("GET", "/schedules/%s/runs" % sid).json["items"]), 75))
        self.go("/o/default/schedules/%s" % sid)
        self.wait_text("#runs", "job #")
        self.shot("33-schedule-runs")
        self.css(".page-head button.secondary").click()  # Pause
        self.wait_text(".page-head .badge", "paused")
        self.assertEqual(self.api("GET", "/schedules/%s" % sid).json["status"], "paused")


    @unittest.skipUnless(harness.docker_ok(), "needs Docker")
    def test_containers_page(self):
        """A container on the host shows with its CPU and memory; Stop,
        Start, a shell into it and Remove work from the page."""
        import subprocess
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        subprocess.run([os.path.join(root, "scripts", "test-fixtures.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        name = "dash-c-%d" % os.getpid()
        subprocess.run(["docker", "run", "-d", "--name", name, "--label", "berth.test=dash",
                        "berth-fixture-base", "/bin/sh", "-c", "trap 'exit 0' TERM; sleep 600 & wait"],
                       check=True, stdout=subprocess.DEVNULL)
        try:
            self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
            self.go("/o/default/servers/host-1")
            self.wait_css("#containers-link").click()
            row = "#containers tr[data-name='%s']" % name
            self.wait_css(row, timeout=30)
            self.wait(lambda d: "%" in d.find_element(By.CSS_SELECTOR, row).text, 30)
            self.shot("34-containers")

            def click(label):
                for b in self.css(row).find_elements(By.TAG_NAME, "button"):
                    if b.text == label:
                        b.click()
                        return
                self.fail("no %s button in %r" % (label, self.css(row).text))
            click("Stop")
            self.wait_text("#containers-msg", "Stop: " + name, timeout=30)
            self.wait(lambda d: "exited" in d.find_element(By.CSS_SELECTOR, row).text, 30)
            click("Start")
            self.wait_text("#containers-msg", "Start: " + name, timeout=30)
            self.wait(lambda d: "running" in d.find_element(By.CSS_SELECTOR, row).text, 30)
            self.css(row).find_element(By.LINK_TEXT, "Shell").click()
            self.wait_text("#term-state", "connected", timeout=20)
            self.type("echo in-$((6*7))\n")
            self.wait(lambda d: "in-42" in self.screen(), 15)
            self.drv.back()
            self.wait_css(row, timeout=30)
            click("Remove")
            self.wait_css("dialog.confirm button[type=submit]").click()
            self.wait_text("#containers-msg", "Remove: " + name, timeout=30)
            self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, row), 30)
        finally:
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)


if __name__ == "__main__":
    unittest.main()
