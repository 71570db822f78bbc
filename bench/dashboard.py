"""bench/dashboard.py - the browser half of bench/dashboard.sh: headless
Chromium (Debian's chromium + chromium-driver + python3-selenium; run with
/usr/bin/python3) against a berthd that holds a fleet.

    dashboard.py BASE EMAIL PASSWORD BERTHD_PID [TABS] [HOLD_S] [RUNS]

1. Signs in through the page, then RUNS times: clears the browser's cache
   (CDP Network.clearBrowserCache) and opens /o/default/servers. Prints,
   per load and as median/max:
   - navigation -> first rows: performance.now() (its origin is the
     navigation's start) when the first `#servers tbody tr[data-id]`
     exists, taken by a MutationObserver injected before the page's own
     scripts (CDP Page.addScriptToEvaluateOnNewDocument);
   - bytes transferred: the sum of Network.loadingFinished
     encodedDataLength in Chrome's performance log (headers + body as
     received, compressed), and the Resource Timing API's transferSize
     (navigation + resources) as a cross-check.
   The same for a warm load (the cache kept: 304 revalidations).
2. Opens TABS windows on the server list (separate windows, so each page
   is visible and keeps its 15 s re-read) and reads berthd's CPU from
   /proc/PID/stat over HOLD_S seconds, after the same HOLD_S with no page
   open (the fleet alone) for comparison.
"""
import json
import statistics
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

BASE, EMAIL, PASSWORD, PID = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
TABS = int(sys.argv[5]) if len(sys.argv) > 5 else 20
HOLD = int(sys.argv[6]) if len(sys.argv) > 6 else 60
RUNS = int(sys.argv[7]) if len(sys.argv) > 7 else 5
LIST = "/o/default/servers"

MARK = """
(() => {
  const seen = () => {
    if (window.__firstRows === undefined && document.querySelector('#servers tbody tr[data-id]'))
      window.__firstRows = performance.now();
  };
  new MutationObserver(seen).observe(document, { childList: true, subtree: true });
})();
"""


def browser():
    opts = Options()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    drv = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    drv.set_page_load_timeout(60)
    drv.execute_cdp_cmd("Network.enable", {})
    drv.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": MARK})
    return drv


def wait(drv, cond, timeout=90):  # a busy machine: sign-in took over 30 s once
    return WebDriverWait(drv, timeout).until(cond)


def sign_in(drv):
    drv.get(BASE + "/login")
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#login-form input[name=email]"))
    drv.find_element(By.CSS_SELECTOR, "#login-form input[name=email]").send_keys(EMAIL)
    drv.find_element(By.CSS_SELECTOR, "#login-form input[name=password]").send_keys(PASSWORD)
    drv.find_element(By.CSS_SELECTOR, "#login-form button[type=submit]").click()
    wait(drv, lambda d: d.current_url.endswith("/servers"))
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "#servers tbody tr[data-id]"))


def network_bytes(drv):
    """encodedDataLength of every request finished since the log was last
    read, and how many requests."""
    total, n = 0, 0
    for e in drv.get_log("performance"):
        m = json.loads(e["message"])["message"]
        if m.get("method") == "Network.loadingFinished":
            total += int(m["params"].get("encodedDataLength", 0))
            n += 1
    return total, n


def one_load(drv, cold):
    drv.get(BASE + "/tokens")  # somewhere else first: the list is a fresh navigation
    wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "h1"))
    if cold:
        drv.execute_cdp_cmd("Network.clearBrowserCache", {})
    network_bytes(drv)  # drop what came before
    drv.get(BASE + LIST)
    wait(drv, lambda d: d.execute_script("return window.__firstRows !== undefined"))
    first = drv.execute_script("return window.__firstRows")
    rows = drv.execute_script("return document.querySelectorAll('#servers tbody tr[data-id]').length")
    time.sleep(1.0)  # let the last answers land in the log
    rt = drv.execute_script(
        "const n = performance.getEntriesByType('navigation')[0];"
        "return [n ? n.transferSize : 0, performance.getEntriesByType('resource')"
        ".reduce((a, r) => a + r.transferSize, 0), performance.getEntriesByType('resource').length]")
    wire, nreq = network_bytes(drv)
    total = drv.execute_script("return document.getElementById('server-count').textContent")
    return first, rows, wire, nreq, rt[0] + rt[1], total


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (fields 14, 15)


def cpu_pct(pid, seconds):
    import os
    hz = os.sysconf("SC_CLK_TCK")
    t0, c0 = time.time(), cpu_ticks(pid)
    time.sleep(seconds)
    return 100.0 * (cpu_ticks(pid) - c0) / hz / (time.time() - t0)


def main():
    drv = browser()
    try:
        sign_in(drv)
        for cold in (True, False):
            res = [one_load(drv, cold) for _ in range(RUNS)]
            label = "cold cache" if cold else "warm cache (304s)"
            for i, (first, rows, wire, nreq, rt, total) in enumerate(res):
                print("%s load %d: first rows %.0f ms (%d rows, %s), %d requests, %.1f KB on the"
                      " wire (performance log), %.1f KB (Resource Timing transferSize)"
                      % (label, i + 1, first, rows, total, nreq, wire / 1000, rt / 1000))
            firsts = [r[0] for r in res]
            wires = [r[2] for r in res]
            print("%s: navigation -> first rows median %.0f ms, max %.0f ms (target < 1000 ms);"
                  " bytes median %.1f KB, max %.1f KB (target <= 300 KB)"
                  % (label, statistics.median(firsts), max(firsts),
                     statistics.median(wires) / 1000, max(wires) / 1000))
        # the API answer alone, as the page asks for it
        t = drv.execute_script(
            "const t0 = performance.now(); return fetch('/api/v1/orgs/default/servers?limit=50&sort=name',"
            " {credentials: 'same-origin'}).then(r => r.text()).then(b => [performance.now() - t0, b.length])")
        print("the page's API call alone (limit=50, sort=name): %.1f ms, %d bytes" % (t[0], t[1]))
    finally:
        drv.quit()

    base_cpu = cpu_pct(PID, HOLD)
    print("berthd CPU, no page open, %d s: %.1f %%" % (HOLD, base_cpu))
    tabs = browser()
    try:
        sign_in(tabs)
        for _ in range(TABS - 1):
            tabs.switch_to.new_window("window")
            tabs.get(BASE + LIST)
        for h in tabs.window_handles:
            tabs.switch_to.window(h)
            wait(tabs, lambda d: d.find_elements(By.CSS_SELECTOR, "#servers tbody tr[data-id]"))
        visible = 0
        for h in tabs.window_handles:
            tabs.switch_to.window(h)
            visible += tabs.execute_script("return document.visibilityState") == "visible"
        print("%d windows on the server list (%d visible)" % (len(tabs.window_handles), visible))
        pct = cpu_pct(PID, HOLD)
        print("berthd CPU, %d windows open on the server list, %d s: %.1f %% (%.1f %% over the"
              " fleet alone)" % (len(tabs.window_handles), HOLD, pct, pct - base_cpu))
    finally:
        tabs.quit()


if __name__ == "__main__":
    main()
