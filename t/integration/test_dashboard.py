"""The live dashboard (/balancer-manager?view=dashboard, mod_lbx only).

In headless Chromium (the harness of test_manager_browser) while traffic
runs: the page refreshes itself and its numbers change between two
screenshots; the stock page names it and its <link rel=alternate> leads
to it; a member disabled through its Disable button shows as disabled
with who did it and stops getting traffic; on a phone-sized window nothing but the tables'
own scroll boxes is wider than the screen.  Without JavaScript the page is
a correct snapshot with working forms.  Screenshots are kept in
t/artifacts/ (or $LBX_ARTIFACTS).
"""
import os
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
import requests

import lbxharness as H
import test_manager as M
import test_manager_browser as B
from lbxharness import member

lbx_only = pytest.mark.parametrize("impl", ["lbx"])
DASH = M.MGR + "?view=dashboard"
ARTIFACTS = Path(os.environ.get("LBX_ARTIFACTS",
                                str(H.REPO / "t" / "artifacts")))


class Traffic:
    """Requests to path from a thread until stopped (bounded: at most
    `limit` requests and `seconds`)."""

    def __init__(self, h, path, limit=20000, seconds=90):
        self.h, self.path, self.limit, self.seconds = h, path, limit, seconds
        self.stop_event = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        end = time.monotonic() + self.seconds
        s = requests.Session()
        while (not self.stop_event.is_set() and self.sent < self.limit
               and time.monotonic() < end):
            try:
                s.get(self.h.base_url + self.path, timeout=H.TIMEOUT)
            except requests.RequestException:
                pass
            self.sent += 1
            time.sleep(0.01)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        self.thread.join(timeout=H.TIMEOUT + 5)
        assert not self.thread.is_alive()


class Rows(HTMLParser):
    """Member rows of the dashboard: {member: [cell texts]}, plus the
    forms' hidden fields and each table's caption and header scopes."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.rows, self.cur, self.cell = {}, None, None
        self.captions, self.scopes, self.labels = 0, [], 0
        self.forms, self.scripts = [], 0
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-member" in a:
            self.cur = a["data-member"]
            self.rows[self.cur] = []
        elif tag in ("td", "th") and self.cur is not None:
            self.cell = []
        elif tag == "th":
            self.scopes.append(a.get("scope"))
        if tag == "caption":
            self.captions += 1
        elif tag == "label":
            self.labels += 1
        elif tag == "form":
            self.forms.append({})
        elif tag == "input" and self.forms:
            self.forms[-1][a.get("name")] = a.get("value")
        elif tag == "script":
            self.scripts += 1

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.rows[self.cur].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr":
            self.cur = None

    def handle_data(self, d):
        if self.cell is not None:
            self.cell.append(d)


COLS = ["member", "state", "rps", "eps", "fps", "p50", "p99", "busy", "lf",
        "trend", "actions"]


def row(page, url):
    return dict(zip(COLS, page.rows[url]))


@lbx_only
def test_dashboard_without_javascript(impl, make_httpd, backends):
    """The page alone: every member's row with last-minute numbers that
    match the traffic sent, accessible tables, forms that work through the
    manager's rules."""
    a = backends.start("a")
    slow = backends.start("slow", delay_ms=30)
    h = M.mgr_httpd(make_httpd, impl, M.proxy("web", member(a), member(slow)))
    m = M.Manager(h)
    M.hits(h, "/web/x", 20)

    def settled():
        # a request's in-flight count drops after its answer has left
        r = m.get("?view=dashboard", referer=False)
        assert r.status_code == 200
        page = Rows(r.text)
        return (r, page) if all(row(page, u)["busy"] == "0"
                                for u in (a.url, slow.url)) else None
    r, page = H.deadline_poll(settled, 10, what="nothing in flight")
    assert r.headers["Content-Type"].startswith("text/html")
    assert "<body data-every='2'>" in r.text
    # one-click buttons: no other site may frame the page
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    assert set(page.rows) == {a.url, slow.url}
    for url in (a.url, slow.url):
        cells = row(page, url)
        assert cells["state"].startswith("Up"), cells
        assert float(cells["rps"]) > 0, cells
        assert cells["lf"].startswith("1.00")
    # the slow member's p50 is 25 ms or more: it sleeps 30 ms
    assert float(row(page, slow.url)["p50"].split()[0]) >= 25.0
    assert page.captions == 1 and page.scopes and \
        all(s in ("col", "row") for s in page.scopes), page.scopes
    assert page.labels == 2  # one load-factor field per member
    assert "<svg" in r.text and "polyline" in r.text
    nonce = m.nonce("web")
    assert all(f.get("nonce") == nonce and f.get("view") == "dashboard"
               for f in page.forms) and len(page.forms) == 8

    # a form from this page (with the Referer a browser sends): applied,
    # the answer is the dashboard again with who did it
    r = m.post({"b": "web", "w": a.url, "nonce": nonce, "view": "dashboard",
                "w_status_D": "1"}, referer=h.base_url + DASH)
    assert r.status_code == 200
    cells = row(Rows(r.text), a.url)
    assert cells["state"].startswith("Disabled"), cells
    assert "manager edit by 127.0.0.1" in cells["state"], cells
    assert M.hits(h, "/web/x", 6) == {"slow": 6}
    # the same without a Referer: nothing changes, and the page says so
    r = m.post({"b": "web", "w": a.url, "nonce": nonce, "view": "dashboard",
                "w_status_D": "0"}, referer=None)
    assert r.status_code == 200 and "Nothing was changed" in r.text
    assert row(Rows(r.text), a.url)["state"].startswith("Disabled")


@lbx_only
def test_dashboard_refreshes_less_for_large_pools(impl, make_httpd, backends):
    """Above 200 members the page (megabytes) is fetched every 10 s."""
    a = backends.start("a")
    many = ["BalancerMember http://127.0.1.1:%d" % (20000 + i)
            for i in range(200)]
    h = M.mgr_httpd(make_httpd, impl, M.proxy("big", member(a), *many))
    r = M.Manager(h).get("?view=dashboard", referer=False)
    assert r.status_code == 200
    assert len(Rows(r.text).rows) == 201
    assert "<body data-every='10'>" in r.text


def _fail_missing():
    missing = [p for p in (B.CHROMIUM, B.CHROMEDRIVER)
               if not os.path.exists(p)]
    if missing:
        pytest.fail("missing %s (scripts/packages.txt)" % missing)


@lbx_only
def test_dashboard_live_in_chromium(impl, make_httpd, backends, tmp_path):
    _fail_missing()
    from selenium.common.exceptions import (NoSuchElementException,
                                            StaleElementReferenceException)
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    a, b = backends.start_many("a", "b")
    h = M.mgr_httpd(make_httpd, impl, M.proxy("web", member(a), member(b)))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser = B.Browser(tmp_path)
    try:
        d = browser.start()
        wait = WebDriverWait(d, B.WAIT, ignored_exceptions=(
            NoSuchElementException, StaleElementReferenceException))

        def numbers():
            return [e.text for e in d.find_elements(
                By.CSS_SELECTOR, "tr[data-member] td.rps")]

        def refreshes():
            return int(d.find_element(By.TAG_NAME, "body").get_attribute(
                "data-refreshes") or 0)

        def state(url):
            return d.find_element(
                By.CSS_SELECTOR, "tr[data-member='%s'] td.state" % url).text

        with Traffic(h, "/web/x") as traffic:
            # the stock page names it (as text: no link a scraper could
            # take for a member's) and offers it as its alternate
            d.get(h.base_url + M.MGR)
            assert "Live dashboard: %s" % DASH in d.find_element(
                By.TAG_NAME, "body").text
            alt = d.find_element(By.CSS_SELECTOR, "link[rel=alternate]")
            d.get(alt.get_attribute("href"))
            wait.until(lambda d: d.title == "Balancer dashboard")
            wait.until(lambda d: refreshes() >= 1)
            first = numbers()
            assert len(first) == 2
            d.save_screenshot(str(ARTIFACTS / "dashboard-1.png"))
            wait.until(lambda d: refreshes() >= 2 and numbers() != first)
            d.save_screenshot(str(ARTIFACTS / "dashboard-2.png"))
            assert traffic.sent > 0

            def click_disable(d):
                d.find_element(
                    By.CSS_SELECTOR, "tr[data-member='%s']" % a.url
                ).find_element(By.XPATH, ".//button[text()='Disable']"
                               ).click()
                return True
            wait.until(click_disable)
            wait.until(lambda d: state(a.url).startswith("Disabled"))
            assert "manager edit by 127.0.0.1" in state(a.url)
            assert state(b.url).startswith("Up")
            # the JavaScript carries on after the POST's answer
            n = refreshes()
            wait.until(lambda d: refreshes() > n)
            assert state(a.url).startswith("Disabled")
            d.save_screenshot(str(ARTIFACTS / "dashboard-3-disabled.png"))

            # a phone: only the tables' scroll boxes may be wider
            d.set_window_size(390, 844)
            d.get(h.base_url + DASH)
            assert d.execute_script(
                "return document.documentElement.scrollWidth"
                " <= window.innerWidth + 1")
            d.save_screenshot(str(ARTIFACTS / "dashboard-4-phone.png"))
            # keyboard: the first button is reachable with Tab
            d.find_element(By.TAG_NAME, "body").send_keys("\t")
            assert d.switch_to.active_element.tag_name in ("a", "button",
                                                           "input")
    finally:
        browser.stop()
    assert M.hits(h, "/web/x", 10) == {"b": 10}
    for name in ("dashboard-1.png", "dashboard-2.png",
                 "dashboard-3-disabled.png", "dashboard-4-phone.png"):
        assert (ARTIFACTS / name).stat().st_size > 1000, name
