"""Failure handling beyond stock (mod_lbx only; stock has none of it):
passive outlier ejection (LBXEjection, ejectfails=), its return through a
health check or a trial request, slow start (LBXSlowStart, slowstart=) and
the retry budget (LBXRetryBudget), as the manager's JSON and metrics show
them.  Without these settings nothing changes: the rest of the suite runs
stock configurations on mod_lbx."""
import collections
import datetime
import os
import re
import signal
import threading
import time

import pytest
import requests

import lbxharness as H
import test_hcheck as T

MANAGER = """
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
"""


def pool(*lines, name="hc", method="byrequests"):
    return T.balancer("ProxySet lbmethod=%s" % method, *lines,
                      name=name) + MANAGER


def members_json(h, name="hc"):
    doc = requests.get(h.base_url + "/balancer-manager?format=json",
                       timeout=H.TIMEOUT).json()
    bal = [b for b in doc["balancers"] if b["name"] == "balancer://" + name]
    return bal[0]


def member_json(h, b, name="hc"):
    return [m for m in members_json(h, name)["members"]
            if m["name"] == b.url or m["name"].startswith(b.url + "/")][0]


def log_time(line):
    """The wall-clock time of an error-log line ([Thu Dec 03 14:19:41.6 2026])."""
    m = re.match(r"\[(\w+ \w+ +\d+ [\d:.]+ \d+)\]", line)
    return datetime.datetime.strptime(
        m.group(1), "%a %b %d %H:%M:%S.%f %Y").timestamp()


def ejection_lines(h):
    """Ejections (LBX20051) and ejections after a failed trial (LBX20055)."""
    return [ln for ln in h.error_log().splitlines()
            if "LBX20051" in ln or "LBX20055" in ln]


def shares(h, n, path="/app/x"):
    """Who served n sequential requests (all must succeed)."""
    seen = collections.Counter()
    for _ in range(n):
        r = h.get(path)
        assert r.status_code == 200, (r.status_code, r.text[:200])
        seen[r.headers["X-Backend"]] += 1
    return seen


class Load:
    """`clients` keep-alive clients in threads, each looping GET until
    stopped (bounded by `limit` seconds and 20,000 requests each);
    records (sent, status) of every request."""

    def __init__(self, h, clients, limit=60):
        self.h, self.clients, self.limit = h, clients, limit
        self.results = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(clients)]

    def _run(self):
        s = requests.Session()
        end = time.monotonic() + self.limit
        for _ in range(20000):
            if self.stop.is_set() or time.monotonic() > end:
                break
            sent = time.time()
            try:
                status = s.get(self.h.base_url + "/app/x", timeout=10
                               ).status_code
            except requests.RequestException:
                status = 0
            with self.lock:
                self.results.append((sent, status))

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def count(self):
        with self.lock:
            return len(self.results)

    def failed(self):
        with self.lock:
            return [(t, s) for t, s in self.results if s != 200]


def test_a_hung_member_costs_only_the_requests_it_holds(make_httpd, backends):
    """SIGSTOP one of four members under 8 concurrent clients: the
    requests it holds time out (at most one per client), it is ejected at
    the first timeout, nothing sent after the ejection fails; after SIGCONT
    its health check brings it back and it ramps up (slow start).  (With
    fails=N > 1 a client whose request timed out among the first N-1 may
    send one more request there before the N-th ends: bench/sigstop.py
    measures that setting.)"""
    bs = backends.start_many("a", "b", "c", "d")
    hung = bs[0]
    # hcfails is high so that only the ejection takes the member out; its
    # check (every 300 ms, 500 ms at most) is the probe that brings it back.
    h = T.hc_httpd(make_httpd, "lbx", pool(
        "LBXEjection fails=1 time=1s maxtime=10s maxshare=50",
        "LBXSlowStart 20s",
        *["BalancerMember %s timeout=2 hcmethod=GET hcuri=/health "
          "hcinterval=300ms hctimeout=500ms hcfails=1000" % b.url
          for b in bs]))
    clients = 8
    try:
        with Load(h, clients) as load:
            T.poll(lambda: load.count() > 200, 20, "warm-up requests")
            os.kill(hung.proc.pid, signal.SIGSTOP)
            stopped = time.time()
            T.poll(lambda: ejection_lines(h), 15, "the ejection")
            ejected_at = log_time(ejection_lines(h)[0])
            # three more seconds of traffic with the member out
            n = load.count()
            T.poll(lambda: load.count() > n + 200
                   and time.time() > ejected_at + 3, 30, "traffic after it")
            os.kill(hung.proc.pid, signal.SIGCONT)
            T.poll(lambda: not member_json(h, hung)["outlier"]["ejected"], 15,
                   "the member's return")
            back = member_json(h, hung)
            failed = load.failed()
    finally:
        os.kill(hung.proc.pid, signal.SIGCONT)
    assert 0 < len(failed) <= clients, failed
    assert all(stopped - 0.1 <= t <= ejected_at + 0.2 for t, _ in failed), (
        stopped, ejected_at, failed)
    assert back["outlier"]["ejections"] == 1, back
    assert back["outlier"]["slow_start_pct"] < 100, back
    assert back["last_check"]["result"] == "passed", back
    assert "LBX20052" in h.error_log() and "health check passed" in \
        h.error_log()
    # ramping, not gone: it serves again
    T.poll(lambda: shares(h, 20)[hung.name] > 0, 30, "traffic to it again")


def test_repeated_failures_double_the_ejection(make_httpd, backends):
    """A member that answers 503 (listed in status=) and has no health
    check: each trial request fails again and the ejection doubles up to
    maxtime; the other member takes the rest."""
    a, b = backends.start_many("a", "b")
    h = T.hc_httpd(make_httpd, "lbx", pool(
        "LBXEjection fails=1 time=200ms maxtime=1s status=503",
        "BalancerMember %s/status/503/" % a.url,
        "BalancerMember %s" % b.url))
    end = time.monotonic() + 30
    while len(ejection_lines(h)) < 5 and time.monotonic() < end:
        r = h.get("/app/x")
        assert r.status_code in (200, 503), r.status_code
        time.sleep(0.02)
    lines = ejection_lines(h)
    assert len(lines) >= 5, lines
    ms = [int(re.search(r"ejected (?:again )?for (\d+) ms", ln).group(1))
          for ln in lines[:5]]
    assert ms == [200, 400, 800, 1000, 1000], lines
    assert "its trial request failed" in lines[1]
    m = member_json(h, a)
    assert m["outlier"]["ejections"] >= 5 and m["usable"] is False, m


def test_max_share_keeps_members_in_when_all_fail(make_httpd, backends):
    """Every member fails: at most half of the lbset is ejected (maxshare
    50), the others keep answering (their errors reach the client), the
    refusals are logged and counted."""
    bs = backends.start_many("a", "b", "c", "d")
    h = T.hc_httpd(make_httpd, "lbx", pool(
        "LBXEjection fails=2 time=60s maxshare=50 status=500-503",
        *["BalancerMember %s/status/500/" % b.url for b in bs]))
    statuses = collections.Counter(h.get("/app/x").status_code
                                   for _ in range(60))
    assert statuses == {500: 60}, statuses
    bal = members_json(h)
    ejected = [m for m in bal["members"] if m["outlier"]["ejected"]]
    assert len(ejected) == 2, bal
    assert bal["ejections_refused"] > 0, bal
    assert "LBX20050" in h.error_log()
    metrics = requests.get(h.base_url + "/balancer-manager?format=metrics",
                           timeout=H.TIMEOUT).text
    assert len(re.findall(r'^lbx_member_ejected\{[^}]*\} 1$', metrics,
                          re.M)) == 2, metrics
    assert len(re.findall(r'^lbx_member_usable\{[^}]*\} 1$', metrics,
                          re.M)) == 2, metrics
    page = requests.get(h.base_url + "/balancer-manager",
                        timeout=H.TIMEOUT).text
    assert page.count("<td class='bad'>") == 2 and "Failures in a row" in \
        page, page[-3000:]


def test_ejectfails_on_a_member_overrides_the_balancer(make_httpd,
                                                     backends):
    """ejectfails=0 keeps one member in however it fails; ejectfails=1
    ejects a member at its first failure where the balancer says fails=5."""
    a, b, c = backends.start_many("a", "b", "c")
    h = T.hc_httpd(make_httpd, "lbx", pool(
        "LBXEjection fails=1 time=60s maxshare=100 status=500",
        "BalancerMember %s/status/500/ ejectfails=0" % a.url,
        "BalancerMember %s/status/500/" % b.url,
        "BalancerMember %s" % c.url))
    for _ in range(12):
        h.get("/app/x")
    assert not member_json(h, a)["outlier"]["ejected"]
    assert member_json(h, a)["outlier"]["consecutive_failures"] >= 3
    assert member_json(h, b)["outlier"]["ejected"]
    h2 = T.hc_httpd(make_httpd, "lbx", pool(
        "LBXEjection status=500 fails=5",
        "BalancerMember %s/status/500/ ejectfails=1" % a.url,
        "BalancerMember %s" % c.url))
    for _ in range(4):
        h2.get("/app/x")
    m = member_json(h2, a)
    assert m["outlier"]["ejected"] and m["outlier"]["ejections"] == 1, m


def test_a_trial_request_brings_back_a_member_without_check(make_httpd,
                                                            backends):
    """A member whose process died is ejected after failed connects (which
    mod_proxy fails over, so clients see no error); once it runs again, a
    trial request after the ejection time brings it back."""
    a, b = backends.start_many("a", "b")
    h = T.hc_httpd(make_httpd, "lbx", pool(
        "LBXEjection fails=1 time=300ms maxtime=300ms",
        "BalancerMember %s retry=0" % a.url,
        "BalancerMember %s retry=0" % b.url))
    a.kill()
    assert shares(h, 20) == {"b": 20}
    assert member_json(h, a)["outlier"]["ejected"]
    a.start()
    T.poll(lambda: shares(h, 10)["a"] > 0, 20, "the member back")
    assert "LBX20053" in h.error_log()  # the trial
    assert "trial request passed" in h.error_log()
    m = member_json(h, a)
    assert not m["outlier"]["ejected"] and m["outlier"]["ejections"] >= 1, m


@pytest.mark.parametrize("method", ["byrequests", "bybusyness", "bylatency"])
def test_slow_start_ramps_a_returning_member(method, make_httpd, backends):
    """A member back from a failed health check gets clearly less than its
    half in the first part of the window and its half at the end.
    (bylatency has no half to reach: with two members it takes the one
    measured faster every time; bytraffic is left out: a member that
    was out has sent fewer bytes and takes everything until it catches up,
    as in stock, ramp or not.)"""
    a, b = backends.start_many("a", "b")
    h = T.hc_httpd(make_httpd, "lbx", pool(
        "LBXSlowStart 20s",
        *["BalancerMember %s hcmethod=GET hcuri=/health hcinterval=300ms "
          "hcfails=1 hcpasses=1" % x.url for x in (a, b)], method=method))
    T.set_health(b, 500)
    T.wait_hcfl(h, b, True, 15)
    T.set_health(b, 200)
    T.wait_hcfl(h, b, False, 15)
    early = shares(h, 150)
    assert early["b"] < 150 * 0.3, early
    T.poll(lambda: member_json(h, b)["outlier"]["slow_start_pct"] == 100, 40,
           "the end of the ramp")
    if method != "bylatency":
        late = shares(h, 150)
        assert 150 * 0.35 < late["b"] < 150 * 0.65, late


def test_slow_start_per_member_key(make_httpd, backends):
    """slowstart= on one member: only that member ramps."""
    a, b = backends.start_many("a", "b")
    h = T.hc_httpd(make_httpd, "lbx", pool(
        "BalancerMember %s slowstart=30s hcmethod=GET hcuri=/health "
        "hcinterval=300ms" % a.url,
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=300ms"
        % b.url))
    for x in (a, b):
        T.set_health(x, 500)
        T.wait_hcfl(h, x, True, 15)
        T.set_health(x, 200)
        T.wait_hcfl(h, x, False, 15)
    ma, mb = member_json(h, a), member_json(h, b)
    assert ma["outlier"]["slow_start_pct"] < 100, ma
    assert mb["outlier"]["slow_start_pct"] == 100, mb


def test_retry_budget_stops_failover_storms(make_httpd, backends):
    """Every member refuses connections: without a budget each request
    tries the others; with LBXRetryBudget 10 0 failovers stop once they
    reach a tenth of the requests, and the rest get 503 at once."""
    dead = [backends.start(n) for n in ("a", "b", "c")]
    for d in dead:
        d.kill()
    h = T.hc_httpd(make_httpd, "lbx", pool(
        "LBXRetryBudget 10 0",
        *["BalancerMember %s retry=0" % d.url for d in dead]))
    statuses = collections.Counter(h.get("/app/x").status_code
                                   for _ in range(40))
    assert statuses == {503: 40}, statuses
    bal = members_json(h)
    assert bal["retries_refused"] > 20, bal
    assert "LBX20054" in h.error_log()


BAD = {
    "LBXEjection time=1s": "LBXEjection needs fails=N",
    "LBXEjection fails=0": "LBXEjection fails must be a whole number from 1",
    "LBXEjection fails=2 maxshare=101": "maxshare must be a whole number "
                                        "from 1 to 100",
    "LBXEjection fails=2 status=200": "LBXEjection status must list",
    "LBXEjection fails=2 time=10s maxtime=1s": "maxtime must not be shorter",
    "LBXEjection fails=2 speed=3": "unknown setting 'speed'",
    "LBXSlowStart soon": "LBXSlowStart must be a time",
    "LBXRetryBudget 150": "LBXRetryBudget's share (%) must be a whole "
                          "number from 1 to 100",
    "BalancerMember http://127.0.0.1:9 ejectfails=-1":
        "ejectfails must be a whole number from 0 to 1000",
    "BalancerMember http://127.0.0.1:9 slowstart=2x":
        "slowstart must be a time",
}


@pytest.mark.parametrize("line", sorted(BAD))
def test_bad_values_fail_startup(line, make_httpd):
    h = make_httpd("lbx", """
<Proxy balancer://bad>
    BalancerMember http://127.0.0.1:8
    %s
</Proxy>
""" % line, start=False)
    out = h.config_error()
    assert BAD[line] in out, out[-2000:]


def test_directives_belong_in_a_balancer(make_httpd):
    h = make_httpd("lbx", "<Location /x>\n    LBXSlowStart 10s\n"
                   "</Location>\n", start=False)
    out = h.config_error()
    assert "inside <Proxy balancer://" in out, out[-2000:]
