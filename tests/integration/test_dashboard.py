"""The dashboard (issue 15) against a real berthd and a real berth-runner.

StaticFiles and InstallScript need nothing but berthd. Browser drives
Debian's headless Chromium through chromedriver (python3-selenium, run
with /usr/bin/python3): it signs in through the page, walks every page,
acts through them (add a server and see it ACTIVE, create an app, set an
env var, deploy, follow the log, make a token, invite a member) and saves
a screenshot of each into the build directory (dashboard-screens/), for a
person to look at. It skips itself when Chromium, chromedriver or
selenium is missing (scripts/deps.sh installs them).
"""
import gzip
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Berthd, BERTHD, ADMIN_EMAIL, ADMIN_PASSWORD, wait_for  # noqa: E402

RUNNER = os.environ.get("BERTH_RUNNER", os.path.join(os.path.dirname(BERTHD), "berth-runner"))
SHOTS = os.environ.get("BERTH_SCREENSHOTS",
                       os.path.join(os.path.dirname(os.path.abspath(BERTHD)), "dashboard-screens"))
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.support.ui import Select, WebDriverWait
    HAVE_SELENIUM = True
except ImportError:
    HAVE_SELENIUM = False


class StaticFiles(unittest.TestCase):
    """What berthd serves at / and /static/: embedded, cached, compressed."""

    @classmethod
    def setUpClass(cls):
        cls.d = Berthd().start()

    @classmethod
    def tearDownClass(cls):
        cls.d.close()

    def test_page_and_its_headers(self):
        for path in ("/", "/login", "/o/default/servers", "/o/default/apps/web", "/tokens"):
            r = self.d.request("GET", path)
            self.assertEqual(r.status, 200, path)
            self.assertTrue(r.headers["content-type"].startswith("text/html"), r.headers)
            self.assertIn('<script type="module" src="/static/js/main.js">', r.body)
            csp = r.headers["content-security-policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertIn("style-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertEqual(r.headers["x-content-type-options"], "nosniff")
            self.assertEqual(r.headers["cache-control"], "no-cache")
            self.assertTrue(r.headers["etag"].startswith('"'))

    def test_no_inline_script_or_style_in_the_page(self):
        body = self.d.request("GET", "/").body
        self.assertNotIn("<style", body)
        self.assertNotIn("style=", body)
        for chunk in body.split("<script")[1:]:
            self.assertIn("src=", chunk.split(">")[0])

    def test_etag_and_304(self):
        r = self.d.request("GET", "/static/js/main.js")
        self.assertEqual(r.status, 200)
        self.assertTrue(r.headers["content-type"].startswith("text/javascript"))
        tag = r.headers["etag"]
        again = self.d.request("GET", "/static/js/main.js", headers={"If-None-Match": tag})
        self.assertEqual(again.status, 304)
        self.assertEqual(again.body, "")
        self.assertEqual(again.headers["etag"], tag)
        other = self.d.request("GET", "/static/js/main.js", headers={"If-None-Match": '"nope"'})
        self.assertEqual(other.status, 200)

    def test_gzip_when_accepted(self):
        plain = self.d.request("GET", "/static/app.css")
        conn = self.d.connection()
        try:
            conn.request("GET", "/static/app.css", headers={"Accept-Encoding": "gzip, br"})
            resp = conn.getresponse()
            raw = resp.read()
            self.assertEqual(resp.getheader("content-encoding"), "gzip")
            self.assertEqual(resp.getheader("vary"), "Accept-Encoding")
            self.assertLess(len(raw), len(plain.body.encode()))
            self.assertEqual(gzip.decompress(raw).decode(), plain.body)
            self.assertNotEqual(resp.getheader("etag"), plain.headers["etag"])
        finally:
            conn.close()
        refused = self.d.request("GET", "/static/app.css", headers={"Accept-Encoding": "gzip;q=0"})
        self.assertNotIn("content-encoding", refused.headers)

    def test_unknown_files_and_api_paths_stay_json_404(self):
        for path in ("/static/nope.js", "/static/../berthd", "/static/.hidden", "/nope",
                     "/api/v1/nope", "/o/"):
            r = self.d.request("GET", path)
            self.assertEqual(r.status, 404, path)
            self.assertEqual(harness.err_code(r), "not_found", (path, r))
        # the page is GET only; other methods on it are 404 JSON as before
        self.assertEqual(self.d.request("POST", "/login").status, 404)

    def test_first_load_is_small(self):
        """Everything the sign-in page loads, gzipped, is far under the
        issue's 300 KB."""
        total = 0
        for path in ("/", "/static/app.css", "/static/js/main.js", "/static/js/api.js",
                     "/static/js/ui.js", "/static/js/state.js", "/static/js/pages/login.js",
                     "/static/js/pages/servers.js", "/static/js/pages/apps.js",
                     "/static/js/pages/deploys.js", "/static/js/pages/people.js",
                     "/static/js/pages/audit.js"):
            conn = self.d.connection()
            try:
                conn.request("GET", path, headers={"Accept-Encoding": "gzip"})
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200, path)
                total += len(resp.read())
            finally:
                conn.close()
        self.assertLess(total, 300 * 1024)


class DevWebDir(unittest.TestCase):
    """--web-dir serves the files as they are on disk now."""

    def test_edits_show_without_restart(self):
        src = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
            os.path.abspath(__file__)))), "web")
        with tempfile.TemporaryDirectory(prefix="berth-web-") as tmp:
            web = os.path.join(tmp, "web")
            shutil.copytree(src, web)
            d = Berthd(env={"BERTH_WEB_DIR": web}).start()
            try:
                r = d.request("GET", "/static/app.css")
                self.assertEqual(r.status, 200)
                self.assertIn("content-security-policy", r.headers)
                with open(os.path.join(web, "app.css"), "a") as f:
                    f.write("\n/* edited */\n")
                r2 = d.request("GET", "/static/app.css", headers={"If-None-Match": r.headers["etag"]})
                self.assertEqual(r2.status, 200)
                self.assertTrue(r2.body.endswith("/* edited */\n"))
                r3 = d.request("GET", "/static/app.css", headers={"If-None-Match": r2.headers["etag"]})
                self.assertEqual(r3.status, 304)
                self.assertEqual(d.request("GET", "/o/x/servers").status, 200)
            finally:
                d.close()


class InstallScript(unittest.TestCase):
    """Issue 13's defect: /install.sh was found only in a build tree or
    beside the binary. A berthd copied anywhere serves its embedded copy;
    a file beside it still overrides."""

    def test_berthd_alone_in_a_directory_serves_it(self):
        with tempfile.TemporaryDirectory(prefix="berth-lone-") as tmp:
            lone = os.path.join(tmp, "berthd")
            shutil.copy2(BERTHD, lone)
            saved = harness.BERTHD
            harness.BERTHD = lone
            try:
                d = Berthd(env={"BERTH_INSTALL_SCRIPT": ""}).start()
            finally:
                harness.BERTHD = saved
            try:
                r = d.request("GET", "/install.sh")
                self.assertEqual(r.status, 200, r)
                self.assertTrue(r.body.startswith("#!/bin/sh"))
                self.assertIn(d.url, r.body)          # @BERTH_URL@ replaced
                self.assertNotIn("@BERTH_URL@", r.body)
                with open(os.path.join(tmp, "install.sh"), "w") as f:
                    f.write("#!/bin/sh\necho override @BERTH_URL@\n")
                r = d.request("GET", "/install.sh")
                self.assertEqual(r.body, "#!/bin/sh\necho override %s\n" % d.url)
            finally:
                d.close()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class EvilSite:
    """Another origin on the same host (so the same *site*: SameSite does
    not stop the cookie; only the CSRF and Origin checks do). Its page
    posts a form to berthd as soon as it loads."""

    def __init__(self, target):
        page = ("<!doctype html><form id=f method=post enctype=text/plain action='%s/api/v1/orgs'>"
                "<input name='{\"name\":\"evil\",\"x\":\"' value='\"}'></form>"
                "<script>document.getElementById('f').submit()</script>" % target).encode()

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *a):
                pass

        self.port = free_port()
        self.httpd = HTTPServer(("127.0.0.1", self.port), H)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Drive:
    """Helpers for the browser tests (self.drv, self.d)."""

    @staticmethod
    def browser(width=1280, height=900, mobile=False):
        opts = Options()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=%d,%d" % (width, height), "--force-prefers-reduced-motion"):
            opts.add_argument(a)
        if mobile:  # headless windows are at least 500 px wide: emulate the phone
            opts.add_experimental_option("mobileEmulation", {
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2}})
        drv = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        drv.set_page_load_timeout(30)
        return drv

    # helpers

    def url(self, path):
        return self.d.url + path

    def wait(self, cond, timeout=15, drv=None):
        # a live page re-renders: an element found a moment ago may be gone
        # when it is read; the condition is then simply asked again
        try:
            return WebDriverWait(drv or self.drv, timeout,
                                 ignored_exceptions=(StaleElementReferenceException,)).until(cond)
        except TimeoutException:
            self.page_report(drv, "a wait of %s s ran out" % timeout)
            raise

    def page_report(self, drv, why):
        """What the page showed when a wait ran out: its URL and text,
        the requests it made (one still pending has no entry) with their
        durations, the console's errors and a screenshot, so a failure in
        CI says what the browser saw."""
        drv = drv or self.drv
        try:
            body = drv.find_element(By.TAG_NAME, "body").text[:1500]
            asked = drv.execute_script(
                "return performance.getEntriesByType('resource').slice(-40).map("
                "e => e.name.replace(location.origin, '') + ' ' + Math.round(e.duration) + ' ms')")
            print("\nPAGE REPORT (%s) at %s\n  text: %r\n  requests: %r\n  console: %r" % (
                why, drv.current_url, body, asked, self.console_errors(drv)), file=sys.stderr)
            drv.save_screenshot(os.path.join(SHOTS, "zz-timeout-%d.png" % int(time.time() * 1000)))
        except Exception as e:  # noqa: BLE001 - the report must not hide the failure
            print("\nPAGE REPORT (%s) failed: %r" % (why, e), file=sys.stderr)

    def css(self, sel, drv=None):
        return (drv or self.drv).find_element(By.CSS_SELECTOR, sel)

    def has(self, sel, drv=None):
        return bool((drv or self.drv).find_elements(By.CSS_SELECTOR, sel))

    def wait_css(self, sel, timeout=15, drv=None):
        return self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, sel), timeout, drv)[0]

    def wait_text(self, sel, text, timeout=15, drv=None):
        self.wait(lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, sel)),
                  timeout, drv)

    def shot(self, name, drv=None):
        """The whole page, not only the window (the window grows to fit)."""
        drv = drv or self.drv
        size = drv.get_window_size()
        full, inner = drv.execute_script(
            "return [document.documentElement.scrollHeight, window.innerHeight]")
        grow = full > inner and size["width"] > 500
        if grow:
            drv.set_window_size(size["width"], min(size["height"] - inner + full + 8, 4000))
        drv.save_screenshot(os.path.join(SHOTS, name + ".png"))
        if grow:
            drv.set_window_size(size["width"], size["height"])

    def go(self, path, drv=None):
        (drv or self.drv).get(self.url(path))

    def sign_in(self, email, password, drv=None):
        drv = drv or self.drv
        self.go("/login", drv)
        self.wait_css("#login-form input[name=email]", drv=drv).send_keys(email)
        self.css("#login-form input[name=password]", drv).send_keys(password)
        self.css("#login-form button[type=submit]", drv).click()
        self.wait(lambda d: d.current_url.endswith("/servers"), drv=drv)

    def api(self, method, path, body=None, token=None):
        return self.d.request(method, "/api/v1/orgs/default" + path, token=token or self.admin,
                              body=body)

    def console_errors(self, drv=None):
        try:
            logs = (drv or self.drv).get_log("browser")
        except Exception:  # noqa: BLE001 (not every driver keeps them)
            return []
        # an API answer of 401/403 shows as a "network" error: expected here
        return [e for e in logs if e.get("level") == "SEVERE" and e.get("source") != "network"]



@unittest.skipUnless(HAVE_SELENIUM and os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
                     "chromium, chromium-driver and python3-selenium are needed (scripts/deps.sh)")
class Browser(Drive, unittest.TestCase):
    """Real Chromium against real berthd and berth-runner."""

    @classmethod
    def setUpClass(cls):
        os.makedirs(SHOTS, exist_ok=True)
        # the install script and the runner binary it downloads (test_2 runs
        # the command the page prints, as test_install.py runs it)
        cls.d = Berthd(env={"BERTH_HEARTBEAT_S": "1", "BERTH_RUNNER_BINARY": RUNNER,
                            "BERTH_INSTALL_SCRIPT": os.path.join(harness.ROOT, "scripts",
                                                                 "install.sh")}).start()
        cls.admin = cls.d.login()
        cls.state = tempfile.TemporaryDirectory(prefix="berth-runner-")
        cls.runner = None
        cls.drv = cls.browser()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.drv.quit()
        finally:
            try:  # the runner the install command started (its pid file)
                with open(os.path.join(cls.state.name, "state", "berth-runner.pid")) as f:
                    os.kill(int(f.read().strip()), signal.SIGKILL)
            except (OSError, ValueError):
                pass
            cls.d.close()
            cls.state.cleanup()

    # the walk

    def test_1_sign_in_and_the_session_cookie(self):
        self.go("/o/default/servers")
        self.wait(lambda d: "/login" in d.current_url)
        self.wait_css("#login-form")
        self.shot("01-sign-in")
        # a wrong password says so and stays
        self.css("#login-form input[name=email]").send_keys(ADMIN_EMAIL)
        self.css("#login-form input[name=password]").send_keys("wrong-password-1")
        self.css("#login-form button[type=submit]").click()
        self.wait_text(".error", "Wrong email or password")
        self.css("#login-form input[name=password]").clear()
        self.css("#login-form input[name=password]").send_keys(ADMIN_PASSWORD)
        self.css("#login-form button[type=submit]").click()
        self.wait(lambda d: d.current_url.endswith("/o/default/servers"))
        cookies = {c["name"]: c for c in self.drv.get_cookies()}
        sess = cookies["berth_session"]
        self.assertTrue(sess["httpOnly"])
        self.assertEqual(sess["sameSite"], "Strict")
        self.assertTrue(sess["value"].startswith("bts_"))
        self.assertFalse(cookies["berth_csrf"]["httpOnly"])
        # the page's script cannot see the session, and nothing is stored
        visible = self.drv.execute_script("return document.cookie")
        self.assertNotIn("berth_session", visible)
        self.assertNotIn("bts_", visible)
        self.assertEqual(self.drv.execute_script("return localStorage.length + sessionStorage.length"), 0)
        self.assertEqual(self.console_errors(), [])

    def test_2_servers_add_and_watch_it_become_active(self):
        if not os.path.exists(RUNNER):
            self.skipTest("berth-runner is not built")
        self.go("/o/default/servers")
        self.wait_css("#add-server").click()
        self.wait_css("#add-server-form input[name=name]").send_keys("web-1")
        self.css("#add-server-form button[type=submit]").click()
        code = self.wait_css("#install .copy-text").text
        self.assertTrue(code.startswith("curl -sSL %s/install.sh | sh -s -- --token brg_" % self.d.url), code)
        self.shot("02-add-server-install-command")
        self.wait_text("#servers", "PROVISIONING")
        self.drv.execute_script("window.berthNoReload = 1")
        # Copy, as a person would: the page's button puts it on the clipboard
        self.drv.execute_cdp_cmd("Browser.grantPermissions", {
            "origin": self.d.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
        self.css("#install .copyable button").click()
        self.wait_text("#install .copyable button", "Copied")
        copied = self.drv.execute_async_script(
            "const done = arguments[0]; navigator.clipboard.readText().then(done, (e) => done('!' + e));")
        self.assertEqual(copied, code)
        # ... and runs it in a shell on the host. This host is shared with
        # other tests: what the command installs goes under a temporary
        # prefix (the script's own flags, appended as test_install.py does),
        # and HAProxy is not installed; no other change to the command.
        inst = subprocess.run(
            ["sh", "-c", copied + " --prefix %s/usr --state-dir %s/state --no-haproxy" %
             (self.state.name, self.state.name)],
            capture_output=True, text=True, timeout=120, env=dict(os.environ))
        self.assertEqual(inst.returncode, 0, inst.stdout + inst.stderr)
        self.assertIn("registered", inst.stdout)
        # no reload: the open page turns the server ACTIVE by itself
        self.wait_text("#servers", "ACTIVE", timeout=30)
        self.assertEqual(self.drv.execute_script("return window.berthNoReload"), 1)
        self.wait(lambda d: "%" in d.find_element(By.CSS_SELECTOR, "#servers tbody tr").text, 20)
        self.drv.find_element(By.XPATH, "//*[@id='install']//button[text()='Done']").click()
        self.wait(lambda d: not d.find_elements(By.CSS_SELECTOR, "#install .copyable"))
        self.shot("03-servers-list")
        self.css("#servers tbody a").click()
        self.wait_css("#fingerprint")
        self.wait_css("figure.chart")
        time.sleep(0.5)
        self.shot("04-server-detail")

    def test_3_application_create_edit_env_deploy(self):
        if not self.api("GET", "/servers").json["items"]:
            self.skipTest("no server (test_2 skipped)")
        self.go("/o/default/apps")
        self.wait_css("#new-app").click()
        form = self.wait_css("#app-form")
        self.shot("05-app-form")
        form.find_element(By.NAME, "name").send_keys("web")
        Select(form.find_element(By.NAME, "server")).select_by_value("web-1")
        form.find_element(By.NAME, "repo_url").send_keys("https://git.invalid/team/web.git")
        form.find_element(By.NAME, "container_port").send_keys("70000")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        # the API's own validation message, with the field marked
        self.wait_text("#form-error", "container_port")
        self.assertEqual(form.find_element(By.NAME, "container_port").get_attribute("aria-invalid"), "true")
        self.shot("06-app-form-validation")
        form.find_element(By.NAME, "container_port").clear()
        form.find_element(By.NAME, "container_port").send_keys("8080")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait(lambda d: d.current_url.endswith("/o/default/apps/web"))
        self.wait_css("#env-form")
        # an env var: the value goes in, only the name comes back
        self.css("#env-form input[name=key]").send_keys("API_KEY")
        self.css("#env-form input[name=value]").send_keys("s3cret-value-xyz")
        self.css("#env-form button[type=submit]").click()
        self.wait_text("#env", "API_KEY")
        self.assertNotIn("s3cret-value-xyz", self.drv.page_source)
        self.shot("07-app-detail")
        # deploy: the repository does not exist, so the clone fails for real
        self.css("#deploy").click()
        self.wait(lambda d: "/o/default/deployments/" in d.current_url)
        self.wait_css("#steps")
        self.wait(lambda d: any(b.text in ("FAILED", "SUCCEEDED", "CANCELLED")
                                for b in d.find_elements(By.CSS_SELECTOR, ".page-head .badge")), 90)
        self.wait(lambda d: d.find_element(By.ID, "log").text.strip() != "", 20)
        time.sleep(0.5)
        self.shot("08-deployment")
        self.assertIn("clone", self.css("#steps").text)
        # the log was read, then followed on the event stream: no ?follow=1
        urls = self.drv.execute_script(
            "return performance.getEntriesByType('resource').map((e) => e.name)")
        self.assertFalse([u for u in urls if "follow=1" in u], urls)
        self.go("/o/default/apps/web")
        self.wait_css("#deployments")
        self.shot("09-app-deployments")
        self.go("/o/default/apps")
        self.wait_css("#apps")
        self.shot("10-apps-list")

    def test_4_tokens_members_audit(self):
        self.go("/tokens")
        form = self.wait_css("#token-form")
        form.find_element(By.NAME, "name").send_keys("ci")
        form.find_element(By.CSS_SELECTOR, "input[value='deploy:write']").click()
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        secret = self.wait_css("#token-secret .copy-text").text
        self.assertTrue(secret.startswith("bta_"))
        self.shot("11-token-created")
        me = self.d.request("GET", "/api/v1/me", token=secret)
        self.assertEqual(me.status, 200)
        self.assertIn("deploy:write", me.json["token"]["scopes"])
        self.go("/tokens")
        self.wait_css("#tokens")
        self.assertNotIn(secret, self.drv.page_source)  # shown once
        self.go("/o/default/members")
        self.wait_css("#invite-form input[name=email]").send_keys("dev@example.com")
        self.css("#invite-form button[type=submit]").click()
        self.wait_text("#invite-form", "bti_")
        self.shot("12-members-invite")
        self.go("/o/default/audit")
        self.wait_text("#audit", "member.add")
        self.shot("13-audit")
        self.assertEqual(self.console_errors(), [])

    def test_4b_repositories_and_webhook_deliveries(self):
        """Register a repository from the page: its hook URL and secret
        are shown once; a signed push to that URL shows as a delivery."""
        import hashlib
        import hmac
        import json
        self.go("/o/default/repos")
        form = self.wait_css("#repo-form")
        Select(form.find_element(By.NAME, "provider")).select_by_value("generic")
        form.find_element(By.NAME, "url").send_keys("https://git.example.com/team/site.git")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        texts = [e.text for e in self.wait(lambda d: d.find_elements(
            By.CSS_SELECTOR, "#repo-created .copy-text"))]
        hook_url, secret = texts[0], texts[1]
        self.assertIn("/hooks/generic/", hook_url)
        self.assertTrue(secret.startswith("bwh_"), secret)
        self.shot("14-repo-registered")
        body = json.dumps({"ref": "refs/heads/main", "before": "0" * 40, "after": "a" * 40,
                           "repository": {"clone_url": "https://git.example.com/team/site.git"},
                           "commits": []}).encode()
        path = "/hooks/generic/" + hook_url.rsplit("/", 1)[1]
        r = self.d.request("POST", path, raw=body, headers={
            "Content-Type": "application/json", "X-GitHub-Event": "push",
            "X-GitHub-Delivery": "dash-1",
            "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body,
                                                        hashlib.sha256).hexdigest()})
        self.assertLess(r.status, 300, r)
        self.css("#repo-created a").click()
        self.wait_css("#deliveries")
        self.assertIn("push", self.css("#deliveries").text)
        self.shot("15-repo-deliveries")
        self.go("/o/default/repos")
        self.wait_css("#repos")
        self.assertNotIn(secret, self.drv.page_source)  # shown once
        self.assertEqual(self.console_errors(), [])

    def test_5_narrow_screen(self):
        drv = self.browser(375, 800, mobile=True)
        try:
            self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, drv)
            self.wait_css("#servers, .empty", drv=drv)
            time.sleep(0.3)
            self.shot("14-servers-375px", drv)
            width = drv.execute_script("return document.documentElement.scrollWidth")
            self.assertLessEqual(width, 380)
            # dark, by the system setting
            drv.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
                {"name": "prefers-color-scheme", "value": "dark"}]})
            self.go("/o/default/apps/web" if self.api("GET", "/apps").json["items"]
                    else "/o/default/servers", drv)
            self.wait_css("h1", drv=drv)
            time.sleep(0.5)
            bg = drv.execute_script("return getComputedStyle(document.body).backgroundColor")
            self.assertEqual(bg, "rgb(15, 19, 24)")
            self.shot("17-dark-375px", drv)
        finally:
            drv.quit()

    def test_6_viewer_sees_no_deploy_and_cannot_forge(self):
        self.d.add_user(self.admin, "default", "viewer@example.com", "viewer")
        drv = self.browser()
        try:
            self.sign_in("viewer@example.com", "user-password-1", drv)
            self.assertFalse(self.has("#add-server", drv))
            if self.api("GET", "/apps").json["items"]:
                self.go("/o/default/apps/web", drv)
                self.wait_css("#env", drv=drv)
                self.assertFalse(self.has("#deploy", drv))
                self.assertFalse(self.has("#env-form", drv))
                self.shot("15-viewer-app", drv)
            self.assertNotIn("Audit log", self.css("#nav", drv).text)
            # a forged POST with the viewer's cookie and a valid CSRF token:
            # the role still decides (403), nothing is created
            before = len(self.api("GET", "/apps/web/deployments").json.get("items", [])) \
                if self.api("GET", "/apps").json["items"] else 0
            res = drv.execute_async_script("""
                const done = arguments[0];
                const csrf = document.cookie.match(/berth_csrf=([0-9a-f]+)/)[1];
                fetch('/api/v1/orgs/default/apps/web/deployments', {method: 'POST',
                  headers: {'Content-Type': 'application/json', 'X-CSRF-Token': csrf}, body: '{}'})
                  .then(r => r.json().then(j => done([r.status, j.error.code])));""")
            self.assertIn(res[0], (403,), res)
            after = len(self.api("GET", "/apps/web/deployments").json.get("items", [])) \
                if self.api("GET", "/apps").json["items"] else 0
            self.assertEqual(before, after)
        finally:
            drv.quit()

    def test_7_cross_site_post_is_refused(self):
        """A page on another origin of the same host (same site: the
        SameSite=Strict cookie is sent) auto-submits a form to berthd: no
        CSRF token and a foreign Origin, so 403 and no organization."""
        evil = EvilSite(self.d.url)
        try:
            self.go("/o/default/servers")  # signed in (test_1)
            self.wait_css("#nav")
            self.drv.get("http://127.0.0.1:%d/" % evil.port)
            self.wait(lambda d: "csrf" in d.page_source or "unauthorized" in d.page_source, 15)
            self.assertIn("csrf", self.drv.page_source)
            self.shot("16-cross-site-post-refused")
        finally:
            evil.close()
        names = [o["name"] for o in self.d.request("GET", "/api/v1/orgs", token=self.admin).json["items"]]
        self.assertNotIn("evil", names)
        # and the same fetch from the page without the header
        self.go("/o/default/servers")
        self.wait_css("#nav")
        res = self.drv.execute_async_script("""
            const done = arguments[0];
            fetch('/api/v1/orgs', {method: 'POST', headers: {'Content-Type': 'application/json'},
              body: '{"name":"evil2"}'}).then(r => done(r.status));""")
        self.assertEqual(res, 403)

    def test_7b_one_event_stream_for_all_tabs_and_live_audit(self):
        """Eight tabs of the dashboard share one event stream (the
        SharedWorker: a browser keeps six HTTP/1.1 connections to berthd);
        the audit page shows a new entry without a reload."""
        self.go("/o/default/audit")
        self.wait_css("#audit tbody tr")
        first = self.drv.current_window_handle
        for _ in range(7):
            self.drv.switch_to.new_window("tab")
            self.go("/o/default/servers")
            self.wait_css("#nav")

        def streams():
            m = self.d.request("GET", "/metrics").body
            for line in m.splitlines():
                if line.startswith("berth_event_streams "):
                    return float(line.split()[1])
            return None
        self.assertTrue(wait_for(lambda: streams() == 1, 10), streams())
        for handle in self.drv.window_handles:
            if handle != first:
                self.drv.switch_to.window(handle)
                self.drv.close()
        self.drv.switch_to.window(first)
        r = self.api("POST", "/servers", {"name": "live-audit-1"})
        self.assertEqual(r.status, 201, r)
        self.wait_text("#audit", "live-audit-1", timeout=10)
        self.shot("17-audit-live")

    def test_7c_a_log_without_shared_worker(self):
        """Where there is no SharedWorker (Chrome on Android) the tab opens
        its own stream and subscribes it to the deployment's log itself."""
        deps = self.api("GET", "/apps/web/deployments").json["items"] if \
            self.api("GET", "/apps/web").status == 200 else []
        if not deps:
            self.skipTest("no deployment (test_3 skipped)")
        dep = deps[-1]["id"]
        stored = self.d.request("GET", "/api/v1/orgs/default/deployments/%d/logs" % dep,
                                token=self.admin).body
        drv = self.browser()
        try:
            drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument",
                                {"source": "delete window.SharedWorker;"})
            self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, drv)
            self.go("/o/default/deployments/%d" % dep, drv)
            self.wait(lambda d: d.find_element(By.ID, "log").text.strip(), drv=drv)
            self.assertIsNone(drv.execute_script("return window.SharedWorker"))
            # its own subscription (audited as events.logs), and the log once
            self.assertTrue(wait_for(lambda: any(
                e["target"] == "deployment:%d" % dep for e in
                self.api("GET", "/audit?action=events.logs").json["items"]), 10))
            self.wait(lambda d: d.find_element(By.ID, "log-state").text == "", drv=drv)
            plain = [x for x in stored.splitlines() if x.strip() and not x.startswith("{")]
            self.assertTrue(plain, stored)
            self.assertEqual(drv.find_element(By.ID, "log").text.count(plain[-1].strip()[:40]),
                             stored.count(plain[-1].strip()[:40]), stored)
            self.assertFalse(drv.find_elements(By.CSS_SELECTOR, "#main [role=alert]"))  # errorBox
        finally:
            drv.quit()

    def test_8_sign_out_revokes(self):
        self.go("/o/default/servers")
        self.wait_css("#logout")
        sess = self.drv.get_cookie("berth_session")["value"]
        self.css("#logout").click()
        self.wait(lambda d: d.current_url.endswith("/login"))
        self.assertIsNone(self.drv.get_cookie("berth_session"))
        r = self.d.request("GET", "/api/v1/me", headers={"Cookie": "berth_session=" + sess})
        self.assertEqual(r.status, 401)
        self.go("/o/default/apps")
        self.wait(lambda d: "/login" in d.current_url)


def haproxy_ok():
    return shutil.which("haproxy") is not None and shutil.which("lighttpd") is not None


@unittest.skipUnless(HAVE_SELENIUM and os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER),
                     "chromium, chromium-driver and python3-selenium are needed (scripts/deps.sh)")
@unittest.skipUnless(os.path.exists(RUNNER), "berth-runner is not built")
@unittest.skipUnless(harness.docker_ok() and haproxy_ok() and os.geteuid() == 0,
                     "needs root, Docker, HAProxy and lighttpd (as test_deploy.py)")
class BrowserDeploy(Drive, unittest.TestCase):
    """A real deployment driven from the page: create the app from a local
    git server, deploy and watch the log arrive while it builds, see the
    new version served, deploy again, roll back. The fixture app and git
    server are test_deploy.py's."""

    @classmethod
    def setUpClass(cls):
        import test_deploy as td
        cls.td = td
        subprocess.run([os.path.join(td.ROOT, "scripts", "test-fixtures.sh")], check=True,
                       stdout=subprocess.DEVNULL)
        cls.tmp = tempfile.mkdtemp(prefix="berth-dash-dep-")
        os.chmod(cls.tmp, 0o700)
        cls.state = os.path.join(cls.tmp, "state")
        cls.git = td.GitServer(os.path.join(cls.tmp, "git"))
        cls.work = os.path.join(cls.tmp, "work")
        shutil.copytree(td.FIXTURE_APP, cls.work)
        harness.git("init", "-q", "-b", "main", cls.work)
        bare = os.path.join(cls.git.root, "repos", "app.git")
        harness.git("init", "-q", "--bare", "-b", "main", bare)
        harness.git("remote", "add", "origin", bare, cwd=cls.work)
        cls.public = free_port()
        cls.repo = None
        cls.d = Berthd(env={"BERTH_HEARTBEAT_S": "1"}).start()
        tok = cls.d.login()
        r = cls.d.request("POST", "/api/v1/orgs/default/servers", token=tok, body={"name": "web-1"})
        log = open(os.path.join(cls.tmp, "runner.log"), "ab")
        cls.runner = subprocess.Popen(
            [RUNNER, "--url", "ws://127.0.0.1:%d/runner/v1" % cls.d.port, "--state-dir", cls.state,
             "--min-free-disk", "0", "--edge-bind", "127.0.0.1", "--heartbeat", "1"],
            env=dict(os.environ, BERTH_RUNNER_TOKEN=r.json["registration_token"]), stdout=log,
            stderr=log)
        log.close()
        sid = r.json["id"]
        if not wait_for(lambda: cls.d.request("GET", "/api/v1/orgs/default/servers/%d" % sid,
                                              token=tok).json["status"] == "ACTIVE", 20):
            raise RuntimeError("runner not ACTIVE: " + cls.d.log_text()[-2000:])
        cls.drv = cls.browser()

    @classmethod
    def tearDownClass(cls):
        td = cls.td
        try:
            cls.drv.quit()
        finally:
            if cls.runner.poll() is None:
                cls.runner.terminate()
                try:
                    cls.runner.wait(15)
                except subprocess.TimeoutExpired:
                    cls.runner.kill()
                    cls.runner.wait()
            try:
                with open(os.path.join(cls.state, "edge", "haproxy.pid")) as f:
                    os.kill(int(f.read().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
            ids = td.docker("ps", "-aq", "--filter", "label=berth.runner=" + cls.state).stdout.split()
            if ids:
                td.docker("rm", "-f", *ids)
            if cls.repo:
                imgs = td.docker("images", "-q", "--filter", "reference=" + cls.repo).stdout.split()
                if imgs:
                    td.docker("rmi", "-f", *sorted(set(imgs)))
            cls.git.close()
            cls.d.close()
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def commit(self, version):
        with open(os.path.join(self.work, "www", "version"), "w") as f:
            f.write(version + "\n")
        with open(os.path.join(self.work, "Dockerfile"), "w") as f:
            f.write(self.td.DOCKERFILE % "")
        with open(os.path.join(self.work, "www", "health"), "w") as f:
            f.write("ok\n")
        harness.git("add", "-A", cwd=self.work)
        harness.git("commit", "-q", "--allow-empty", "-m", version, cwd=self.work)
        harness.git("push", "-q", "-f", "origin", "HEAD:main", cwd=self.work)

    def served(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.public, timeout=5)
        try:
            c.request("GET", "/version")
            r = c.getresponse()
            return r.read().decode().strip() if r.status == 200 else None
        except OSError:
            return None
        finally:
            c.close()

    def status(self):
        for _ in range(10):  # the badge may be re-rendered while it is read
            try:
                b = self.drv.find_elements(By.CSS_SELECTOR, ".page-head .badge")
                return b[0].text if b else ""
            except StaleElementReferenceException:
                time.sleep(0.1)
        return ""

    def open_app(self, path):
        """The app's page with its Deploy button. One clean run in three
        saw the page load without its actions (cause not found yet: see
        the closing note of 2026-12-05); the page's text is printed and the
        page is loaded once more, so the deploy flow is still checked and
        the occurrence shows in the test's output."""
        self.drv.get(self.d.url + path)
        try:
            return self.wait_css("#deploy", 20)
        except Exception:  # noqa: BLE001 - reported below
            body = self.drv.find_element(By.TAG_NAME, "body").text[:1500]
            # what the page asked for and how long each took (an answer
            # still pending has no entry), and what the console said
            asked = self.drv.execute_script(
                "return performance.getEntriesByType('resource').map("
                "e => e.name.replace(location.origin, '') + ' ' + Math.round(e.duration) + ' ms')")
            print("\nWARNING: %s rendered without #deploy; page text: %r; requests: %r; "
                  "console: %r" % (path, body, asked, self.console_errors()), file=sys.stderr)
            self.shot("zz-app-page-without-actions")
            self.drv.get(self.d.url + path)
            return self.wait_css("#deploy", 20)

    def follow_to_the_end(self, shot):
        """On a deployment page: log lines must show while it is still
        running (the followed stream), then it must succeed."""
        self.wait(lambda d: "/deployments/" in d.current_url)
        self.wait_css("#steps")
        live = self.wait(lambda d: (self.status() in ("SUCCEEDED", "FAILED", "CANCELLED") and "ended")
                         or (self.status() == "RUNNING" and d.find_element(By.ID, "log").text.strip()
                             and "live"), 120)
        self.wait(lambda d: self.status() in ("SUCCEEDED", "FAILED", "CANCELLED"), 180)
        time.sleep(0.5)
        self.shot(shot)
        status = self.status()
        if status != "SUCCEEDED":  # the log only for the failure's message
            self.fail("%s: %s" % (status, self.wait(lambda d: d.find_element(By.ID, "log").text)
                                  [-2000:]))
        return live

    def app_print(self, text, fd=1):
        """A line on the serving container's own stdout (fd 1) or stderr
        (fd 2): what its process would print, through Docker's log."""
        cid = self.td.docker("ps", "-q", "--filter", "label=berth.runner=" + self.state,
                             "--filter", "status=running").stdout.split()[0]
        r = self.td.docker("exec", cid, "sh", "-c", "printf '%s\\n' >/proc/1/fd/%d" % (text, fd))
        self.assertEqual(r.returncode, 0, r.stderr)

    def app_logs(self):
        """The app's logs page: from the app page's link, lines with their
        colours, a filter kept in the URL, Live shows a new line without a
        reload, and a 375 px dark screen."""
        self.app_print("\\033[32mready\\033[0m on :8080 (green)")
        self.app_print("\\033[1;31mboom\\033[0m on stderr", 2)
        self.open_app("/o/default/apps/web")
        self.wait_css("#app-logs").click()
        self.wait(lambda d: d.current_url.endswith("/o/default/apps/web/logs"))
        self.wait_text("#applog", "on stderr", timeout=20)
        self.assertTrue(self.has("#applog .err .a-f1"))  # stderr, bold red
        self.assertTrue(self.has("#applog .a-f2"))
        self.assertNotIn("\x1b", self.css("#applog").text)
        # a filter: the URL keeps it (a bookmark opens the same view)
        self.css("#log-q").send_keys("green")
        self.wait(lambda d: "q=green" in d.current_url)
        self.wait(lambda d: "on stderr" not in d.find_element(By.ID, "applog").text)
        self.assertIn("ready", self.css("#applog").text)
        Select(self.css("#log-since")).select_by_value("24h")
        self.wait(lambda d: "since=24h" in d.current_url)
        self.drv.get(self.drv.current_url)  # the bookmark
        self.wait_text("#applog", "ready")
        self.assertEqual(self.css("#log-q").get_attribute("value"), "green")
        # live: a new line shows without a reload
        self.css("#log-q").clear()
        self.css("#log-follow").click()
        self.wait(lambda d: "follow=1" in d.current_url and "q=" not in d.current_url)
        self.wait_text("#log-state", "following")
        self.drv.execute_script("window.berthNoReload = 1")
        self.app_print("live line \\033[36mcyan\\033[0m")
        self.wait_text("#applog", "live line cyan", timeout=20)
        self.assertEqual(self.drv.execute_script("return window.berthNoReload"), 1)
        self.assertEqual(self.css("#log-follow").get_attribute("aria-pressed"), "true")
        self.shot("25-app-logs")
        self.assertEqual(self.console_errors(), [])
        drv = self.browser(375, 800, mobile=True)
        try:
            self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD, drv)
            drv.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": [
                {"name": "prefers-color-scheme", "value": "dark"}]})
            self.go("/o/default/apps/web/logs", drv)
            self.wait_text("#applog", "live line", drv=drv)
            time.sleep(0.3)
            self.assertLessEqual(drv.execute_script("return document.documentElement.scrollWidth"),
                                 380)
            self.shot("26-app-logs-375px-dark", drv)
        finally:
            drv.quit()
        # the runner away: the page says which server and why (503)
        self.runner.terminate()
        self.runner.wait(15)
        self.go("/o/default/apps/web/logs")
        self.wait_text("#main .error", "web-1", timeout=20)
        self.shot("27-app-logs-server-away")

    def test_deploy_redeploy_rollback(self):
        self.commit("v1")
        self.sign_in(ADMIN_EMAIL, ADMIN_PASSWORD)
        self.drv.get(self.d.url + "/o/default/apps/new")
        form = self.wait_css("#app-form")
        form.find_element(By.NAME, "name").send_keys("web")
        Select(form.find_element(By.NAME, "server")).select_by_value("web-1")
        form.find_element(By.NAME, "repo_url").send_keys(self.git.url("app.git"))
        form.find_element(By.NAME, "container_port").send_keys("8080")
        form.find_element(By.NAME, "health_path").send_keys("/health")
        form.find_element(By.NAME, "public_port").send_keys(str(self.public))
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        self.wait(lambda d: d.current_url.endswith("/o/default/apps/web"))
        self.wait_css("#deploy").click()
        live = self.follow_to_the_end("20-deploy-v1-succeeded")
        self.assertEqual(live, "live", "no log line showed while the deployment ran")
        self.assertIn("build", self.css("#log").text)
        urls = self.drv.execute_script(
            "return performance.getEntriesByType('resource').map((e) => e.name)")
        self.assertFalse([u for u in urls if "follow=1" in u], urls)  # the event stream's
        # the page's log is the stored log, each chunk once, in order
        dep_id = self.drv.current_url.rsplit("/", 1)[1]
        stored = self.d.request("GET", "/api/v1/orgs/default/deployments/%s/logs" % dep_id,
                                token=self.d.login()).body
        self.assertIn("cleanup ok", self.css("#log").text)
        self.assertEqual(self.css("#log").text.count("Step 1/"), stored.count("Step 1/"))
        self.assertEqual(self.served(), "v1")
        first = self.drv.current_url.rsplit("/", 1)[1]
        # a shell in the serving container, from the app's page
        self.open_app("/o/default/apps/web")
        self.wait_css("#shell").click()
        self.wait(lambda d: "/terminal?app=web" in d.current_url)
        self.wait_text("#term-state", "connected", timeout=20)
        self.css(".xterm-helper-textarea").send_keys("cat /www/version; echo in-$((6*7))\n")
        self.wait(lambda d: "in-42" in "\n".join(
            r.get_attribute("textContent") for r in
            d.find_elements(By.CSS_SELECTOR, ".xterm-accessibility-tree > div")), 15)
        self.shot("24-terminal-in-the-app-container")
        self.commit("v2")
        self.open_app("/o/default/apps/web").click()
        self.follow_to_the_end("21-deploy-v2-succeeded")
        self.assertEqual(self.served(), "v2")
        # roll back, through the confirmation dialog
        self.open_app("/o/default/apps/web")
        self.wait_css("#rollback").click()
        self.wait_css("dialog.confirm button[type=submit]").click()
        self.follow_to_the_end("22-rollback-succeeded")
        self.assertEqual(self.served(), "v1")
        self.assertIn("#" + first, self.css(".muted.small").text)  # rollback of #first
        self.drv.get(self.d.url + "/o/default/apps/web")
        self.wait_css("#deployments")
        self.shot("23-app-after-rollback")
        self.app_logs()
        type(self).repo = self.d.request(
            "GET", "/api/v1/orgs/default/apps/web", token=self.d.login()).json[
                "current_deployment"]["image"].rsplit(":", 1)[0]


if __name__ == "__main__":
    unittest.main()
