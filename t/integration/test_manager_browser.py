"""balancer-manager in a real browser.

Headless Debian chromium, driven by Debian's python3-selenium through
chromium-driver (packages chromium, chromium-driver, python3-selenium in
scripts/packages.txt), does what an operator does: opens the manager,
clicks a member link (so the browser itself sends the same-host Referer
the edit form needs), fills the form and submits it.  The change must show
on the page the browser gets back, on a fresh page fetched outside the
browser, and in the traffic.

The browser only talks to 127.0.0.1: no proxy, every other host name
resolves to nothing, background networking off, a fresh profile in the
test's temp dir.  chromedriver and every chromium process are stopped by
pid at the end (driver.quit(), then SIGKILL for anything left).  On a
failure a screenshot and the page source are saved in the test's temp dir.
"""
import collections
import os
import shutil
import signal
import xml.etree.ElementTree as ET

import pytest

import lbxharness as H
from lbxharness import member

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
MGR = "/balancer-manager"
WAIT = 15  # seconds, for every browser wait
XMLNS = "{http://httpd.apache.org}"


def _ppids():
    """{ppid: [pid, ...]} of every live process (from /proc)."""
    kids = collections.defaultdict(list)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        kids[int(rest[1])].append(int(d))
    return kids


def descendants(pid):
    """All live descendants of pid."""
    kids, out, todo = _ppids(), [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def pids_using(marker):
    """Pids whose command line contains marker (our unique profile dir):
    browser processes orphaned by a chromedriver that died first."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if marker.encode() in cmd:
            out.append(int(d))
    return out


class Browser:
    """chromedriver + headless chromium, confined to 127.0.0.1."""

    def __init__(self, tmp_path):
        from selenium.webdriver.chrome.service import Service
        self.profile = tmp_path / "chromium-profile"
        self.profile.mkdir()
        self.driver = None
        self.pid = None
        self.service = Service(
            executable_path=CHROMEDRIVER,
            log_path=str(tmp_path / "chromedriver.log"),
            env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin",
                 "LANG": "C.UTF-8"})
        orig_start = self.service.start

        def start():  # remember chromedriver's pid as soon as it runs
            try:
                return orig_start()
            finally:
                if self.service.process is not None:
                    self.pid = self.service.process.pid
        self.service.start = start

    def start(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        opts = Options()
        opts.binary_location = CHROMIUM
        for arg in ("--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--no-default-browser-check",
                    "--disable-extensions", "--disable-default-apps",
                    "--disable-domain-reliability", "--password-store=basic",
                    "--disable-breakpad", "--disable-crash-reporter",
                    "--user-data-dir=%s" % self.profile,
                    # loopback only: no proxy, no other name resolves
                    "--no-proxy-server",
                    "--host-resolver-rules=MAP * ~NOTFOUND , "
                    "EXCLUDE 127.0.0.1",
                    "--window-size=1400,1000"):
            opts.add_argument(arg)
        self.driver = webdriver.Chrome(service=self.service, options=opts)
        self.driver.set_page_load_timeout(WAIT)
        return self.driver

    def stop(self):
        """driver.quit(), then make sure chromedriver and every chromium
        process of ours is gone: wait for each pid, SIGKILL stragglers."""
        pids = set(pids_using(str(self.profile)))
        if self.pid is not None:
            pids.add(self.pid)
            pids.update(descendants(self.pid))
        try:
            if self.driver is not None:
                self.driver.quit()
        except Exception:  # noqa: BLE001 - the kill below still runs
            pass
        try:
            self.service.stop()
        except Exception:  # noqa: BLE001 - already stopped
            pass
        pids.update(pids_using(str(self.profile)))
        for p in sorted(pids):
            if H.pid_alive(p):
                try:
                    H.deadline_poll(lambda p=p: not H.pid_alive(p), 5,
                                    what="browser pid %d" % p)
                except H.HarnessError:
                    H.kill_pid(p, signal.SIGKILL)
        for p in sorted(pids):
            if H.pid_alive(p):
                H.kill_pid(p, signal.SIGKILL)


def hits(h, n):
    c = collections.Counter()
    for _ in range(n):
        r = h.get("/web/x")
        assert r.status_code == 200, r.status_code
        c[H.backend_of(r)] += 1
    return c


def xml_member(h, url):
    r = h.get(MGR + "?xml=1", headers={"Referer": h.base_url + MGR})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "text/xml"), r.headers
    root = ET.fromstring(r.content)
    for w in root.iter(XMLNS + "worker"):
        if w.findtext(XMLNS + "name") == url:
            return {e.tag[len(XMLNS):]: e.text or "" for e in w}
    raise AssertionError("%s not in the XML" % url)


def test_browser_edits_member(impl, make_httpd, backends, tmp_path):
    """Load factor through the form: 3.00 on the page, 3:1 in the traffic;
    Disabled through its radio button: `Dis` on the page, no traffic."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    try:
        from selenium.common.exceptions import (
            NoSuchElementException, StaleElementReferenceException)
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait
    except ImportError:
        missing.append("python3-selenium")
    if missing:
        pytest.fail("missing %s: apt-get install chromium chromium-driver "
                    "python3-selenium (scripts/packages.txt)" % missing)

    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, """
ProxyStatus On
<Proxy balancer://web>
    %s
    %s
</Proxy>
ProxyPass /web balancer://web
<Location %s>
    SetHandler balancer-manager
</Location>
""" % (member(a), member(b), MGR))
    assert hits(h, 20) == {"a": 10, "b": 10}

    browser = Browser(tmp_path)
    driver = None
    try:
        driver = browser.start()
        wait = WebDriverWait(driver, WAIT, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException))

        def cell(url, column):
            """Text of a member row's cell (1-based column)."""
            return driver.find_element(
                By.XPATH, "//tr[td/a[normalize-space(text())='%s']]/td[%d]"
                % (url, column)).text

        def open_member(url):
            driver.get(h.base_url + MGR)
            assert driver.title == "Balancer Manager", driver.title
            # no Referer on a typed URL: no edit form yet
            assert not driver.find_elements(By.NAME, "w_lf")
            driver.find_element(By.LINK_TEXT, url).click()
            wait.until(lambda d: d.find_elements(By.NAME, "w_lf"))
            heads = [e.text for e in driver.find_elements(By.TAG_NAME, "h3")]
            assert any("Edit worker settings for %s" % url in t
                       for t in heads), heads

        def submit():
            old = driver.find_element(By.TAG_NAME, "html")
            driver.find_element(
                By.XPATH, "//form//input[@type='submit']").click()
            wait.until(lambda d: not _alive(old))

        # 1. load factor of a: 1 -> 3
        open_member(a.url)
        lf = driver.find_element(By.NAME, "w_lf")
        assert lf.get_attribute("value") == "1.00"
        lf.clear()
        lf.send_keys("3")
        submit()
        wait.until(lambda d: cell(a.url, 4) == "3.00")
        assert cell(b.url, 4) == "1.00"
        c = hits(h, 40)
        assert abs(c["a"] - 30) <= 2 and c["a"] + c["b"] == 40, c

        # 2. disable b with its radio button
        open_member(b.url)
        driver.find_element(By.ID, "w_status_D1").click()
        submit()
        wait.until(lambda d: "Dis" in cell(b.url, 6).split())
        assert "Dis" not in cell(a.url, 6).split()
        assert hits(h, 12) == {"a": 12}

        # the server's state, not just the answer to the POST: a fresh
        # load in the browser and the XML fetched outside it show it too
        driver.get(h.base_url + MGR)
        assert cell(a.url, 4) == "3.00" and "Dis" in cell(b.url, 6).split()
        assert xml_member(h, a.url)["loadfactor"] == "3.00"
        assert "Dis" in xml_member(h, b.url)["status"].split()
    except BaseException:
        if driver is not None:
            shot = tmp_path / "failure.png"
            try:
                driver.save_screenshot(str(shot))
                (tmp_path / "failure.html").write_text(driver.page_source)
                keep = h.root / "browser-failure"  # kept with the ServerRoot
                keep.mkdir(exist_ok=True)
                shutil.copy(shot, keep / "failure.png")
                print("\nscreenshot: %s (copy in %s)" % (shot, keep))
            except Exception as e:  # noqa: BLE001 - keep the real error
                print("\nno screenshot: %r" % e)
        raise
    finally:
        browser.stop()


def _alive(el):
    """False once el belongs to a page that was replaced.  Chromium says so
    with a stale-element error or, while the new page is being attached,
    with "Node with given id does not belong to the document"."""
    from selenium.common.exceptions import (StaleElementReferenceException,
                                            WebDriverException)
    try:
        el.tag_name
        return True
    except StaleElementReferenceException:
        return False
    except WebDriverException as e:
        if "does not belong to the document" in str(e):
            return False
        raise
