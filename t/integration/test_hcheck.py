"""Health checks.

Stock is mod_proxy_hcheck.so (loaded by the harness for impl "stock");
mod_lbx replaces it.  The backends' /health answer is changed at runtime
through backend.py's /_control endpoint (called directly on the backend's
port, never through the proxy), and the backend records every /health hit
(time, request line, Host), so the tests count checks where they arrive.

Intervals: stock 2.4.71 parses hcinterval with ap_timeout_parameter_parse
(seconds by default, "ms" etc. allowed, >= 100 ms).  Tests about state
changes use 300 ms to stay fast; the tests that time the checks (detection
time, check rate, templates) use hcinterval=1 (1 s, given without a unit).
Checks run in the watchdog's 100 ms ticks, so a check comes interval ..
interval + ~100 ms (+ the check's own time) after the previous one.
"""
import os
import re
import socket
import statistics
import threading
import time

import pytest
import requests

import lbxharness as H
from lbxharness import member

# Per-impl LogLevel: the INFO lines "Health check DISABLING/ENABLING" come
# from proxy_hcheck (stock) or lbx.
HC_LOGLEVEL = {
    "stock": "warn proxy:debug proxy_balancer:debug proxy_hcheck:debug",
    "lbx": "warn proxy:debug lbx:debug",
}

OK_EXPR = "ProxyHCExpr ok {%{REQUEST_STATUS} =~ /^[23]/}"
FAST = "300ms"  # hcinterval of the tests that only need state changes


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------
def control(b, **params):
    """GET /_control on backend b with params; returns its JSON state."""
    r = requests.get(b.url + "/_control", params=params, timeout=H.TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def set_health(b, status=None, body=None):
    params = {}
    if status is not None:
        params["health_status"] = str(status)
    if body is not None:
        params["health_body"] = body
    return control(b, **params)


def health_state(b):
    r = requests.get(b.url + "/_control/health_count", timeout=H.TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def hits_since(b, t):
    """The /health hits b recorded after wall-clock time t."""
    return [x for x in health_state(b)["hits"] if x["t"] > t]


def hits_after(b, n):
    """The /health hits b recorded after its n-th one: with n the "count"
    set_health() returned, exactly the checks answered with the new state."""
    return [x for x in health_state(b)["hits"] if x["n"] > n]


def recorded_requests(b):
    r = requests.get(b.url + "/_control/requests", timeout=H.TIMEOUT)
    assert r.status_code == 200, r.text
    return r.json()


def hc_httpd(make_httpd, impl, body, **kw):
    kw.setdefault("loglevel",
                  os.environ.get("LBX_LOGLEVEL") or HC_LOGLEVEL[impl])
    return make_httpd(impl, body, **kw)


def balancer(*members, name="hc", top="", path="/app"):
    return """
ProxyStatus On
%s
<Proxy balancer://%s>
    %s
</Proxy>
ProxyPass %s balancer://%s
""" % (top, name, "\n    ".join(members), path, name)


def status_of(h, b, name="hc"):
    return h.balancer_status()["balancer://" + name][b.url]["Status"]


def poll(fn, timeout, what, step=0.05):
    """Call fn() every `step` seconds until truthy; return (value, seconds
    waited).  A fixed small step (unlike deadline_poll's growing one) so
    the measured times are precise to ~step."""
    t0 = time.monotonic()
    end = t0 + timeout
    n = 0
    while True:
        v = fn()
        if v:
            return v, time.monotonic() - t0
        n += 1
        if time.monotonic() >= end or n > 10000:
            raise H.HarnessError("timed out after %.1fs waiting for %s" % (
                timeout, what))
        time.sleep(step)


def wait_hits(b, n, since, timeout, what=None):
    """Poll until b recorded >= n /health hits after time `since`."""
    hits, _ = poll(lambda: (lambda x: x if len(x) >= n else None)(
        hits_since(b, since)), timeout,
        what or "%d health checks on %s" % (n, b.name))
    return hits


def wait_hcfl(h, b, on, timeout, name="hc"):
    """Poll until b's Status has HcFl (on) / has not (off); return secs."""
    _, secs = poll(lambda: ("HcFl" in status_of(h, b, name)) == on, timeout,
                   "%s %s HcFl" % (b.name, "with" if on else "without"))
    return secs


def backends_seen(h, n, path="/app/x"):
    out = []
    for _ in range(n):
        r = h.get(path)
        assert r.status_code == 200, r.status_code
        out.append(H.backend_of(r))
    return out


# --------------------------------------------------------------------------
# 1. GET check with an expression: detection, avoidance, recovery, log
# --------------------------------------------------------------------------
def test_get_check_disables_and_enables(impl, make_httpd, backends):
    """A 500 answer fails hcexpr; after hcfails=2 failures the
    member gets HcFl and traffic avoids it; after hcpasses=2 passes it is
    back; DISABLING/ENABLING are logged (INFO)."""
    a, b = backends.start_many("a", "b")
    interval, fails, passes = 1.0, 2, 2
    h = hc_httpd(make_httpd, impl, balancer(
        member(a, hcmethod="GET", hcuri="/health", hcexpr="ok",
               hcinterval=1, hcfails=fails, hcpasses=passes),
        member(b), top=OK_EXPR))
    t_start = time.time()
    wait_hits(a, 1, t_start, 5, "first health check")
    assert "HcFl" not in status_of(h, a)

    t0 = time.time()
    n0 = set_health(a, status=500)["count"]
    detect = wait_hcfl(h, a, True, fails * interval + 2.5)
    failed = hits_after(a, n0)
    # not before the hcfails-th failing check
    assert len(failed) >= fails, failed
    detect_by_hits = failed[fails - 1]["t"] - t0
    assert set(backends_seen(h, 6)) == {"b"}
    h.wait_error_log(r"Health check DISABLING %s" % re.escape(a.url),
                     timeout=5)
    assert not re.search(r"Health check ENABLING %s" % re.escape(a.url),
                         h.error_log())

    t1 = time.time()
    n1 = set_health(a, status=200)["count"]
    recover = wait_hcfl(h, a, False, passes * interval + 2.5)
    passed = hits_after(a, n1)
    assert len(passed) >= passes, passed
    recover_by_hits = passed[passes - 1]["t"] - t1
    h.wait_error_log(r"Health check ENABLING %s" % re.escape(a.url),
                     timeout=5)
    assert "a" in backends_seen(h, 6)
    print("\n[%s] hcinterval=1 hcfails=2 hcpasses=2: detection %.2fs "
          "(2nd failing check at %.2fs), recovery %.2fs (2nd passing check "
          "at %.2fs)" % (impl, detect, detect_by_hits, recover,
                         recover_by_hits))


# --------------------------------------------------------------------------
# 2. interval, counted by the backend
# --------------------------------------------------------------------------
def test_checks_come_at_the_configured_interval(impl, make_httpd, backends):
    """One check per hcinterval (1 s and 300 ms), from one watchdog
    only (two children must not double the rate)."""
    a, b = backends.start_many("a", "b")
    h = hc_httpd(make_httpd, impl, balancer(
        member(a, hcmethod="GET", hcuri="/health", hcinterval=1),
        member(b, hcmethod="GET", hcuri="/health", hcinterval=FAST)))
    assert len(h.child_pids()) >= 2
    t_start = time.time()
    wait_hits(a, 1, t_start, 5)
    wait_hits(b, 1, t_start, 5)
    window = 4.5  # gaps of 1.0..1.5 s give 3..5 checks in it
    t0 = time.time()
    time.sleep(window)  # the measured window itself
    t1 = time.time()
    ha = [x["t"] for x in health_state(a)["hits"] if t0 < x["t"] <= t1]
    hb = [x["t"] for x in health_state(b)["hits"] if t0 < x["t"] <= t1]
    ga = [y - x for x, y in zip(ha, ha[1:])]
    gb = [y - x for x, y in zip(hb, hb[1:])]
    print("\n[%s] in %.1fs: 1s member %d checks (gaps %s), 300ms member %d "
          "checks (median gap %.3fs)" % (
              impl, window, len(ha), ["%.3f" % g for g in ga], len(hb),
              statistics.median(gb) if gb else -1))
    # twice the rate (both children checking) would be 8+ and 20+
    assert 3 <= len(ha) <= 6, ha
    assert 8 <= len(hb) <= 16, hb
    # never earlier than the interval (a little slack for arrival jitter)
    assert min(ga) >= 0.9 and max(ga) <= 1.5, ga
    assert min(gb) >= 0.25 and statistics.median(gb) <= 0.55, gb


# --------------------------------------------------------------------------
# 3. request line, Host, member path joined to hcuri
# --------------------------------------------------------------------------
def test_request_lines(impl, make_httpd, backends):
    """`GET /health HTTP/1.0` and
    `Host: 127.0.0.1:<port>`; GET11/HEAD/OPTIONS; a member path is joined
    to hcuri with stock's extra '/' ("/app//status") while mod_lbx joins
    with exactly one ("/app/status"); a relative hcuri on a path-less
    member is sent as is by stock ("GET status HTTP/1.0") and with a
    leading '/' by mod_lbx."""
    g, g11, head, opt, pth, rel = backends.start_many(
        "g", "g11", "head", "opt", "pth", "rel")
    joined = {"stock": "/app//status", "lbx": "/app/status"}[impl]
    relative = {"stock": "status", "lbx": "/status"}[impl]
    h = hc_httpd(make_httpd, impl, balancer(
        member(g, hcmethod="GET", hcuri="/health", hcinterval=FAST),
        member(g11, hcmethod="GET11", hcuri="/health", hcinterval=FAST),
        member(head, hcmethod="HEAD", hcuri="/health", hcinterval=FAST),
        member(opt, hcmethod="OPTIONS", hcinterval=FAST),
        "BalancerMember %s/app hcmethod=GET hcuri=/status hcinterval=%s"
        % (pth.url, FAST),
        member(rel, hcmethod="get", hcuri="status", hcinterval=FAST)))
    t0 = time.time()
    want = {
        g: "GET /health HTTP/1.0",
        g11: "GET /health HTTP/1.1",
        head: "HEAD /health HTTP/1.0",
        opt: "OPTIONS * HTTP/1.0",
        pth: "GET %s HTTP/1.0" % joined,
        rel: "GET %s HTTP/1.0" % relative,
    }
    for b, line in want.items():
        def seen(b=b):
            reqs = [x for x in recorded_requests(b) if x["t"] > t0]
            return reqs or None
        reqs, _ = poll(seen, 5, "a check on %s" % b.name)
        for x in reqs:
            assert x["requestline"] == line, (b.name, x)
            assert x["host"] == "127.0.0.1:%d" % b.port, (b.name, x)
    # every member stays in (all answered 2xx)
    st = h.balancer_status()["balancer://hc"]
    assert not any("HcFl" in m["Status"] for m in st.values()), st


# --------------------------------------------------------------------------
# 4. TCP check
# --------------------------------------------------------------------------
def test_tcp_check_follows_the_backend(impl, make_httpd, backends):
    """hcmethod=TCP only connects (no HTTP request reaches the
    backend); a killed backend gets HcFl, a restarted one comes back."""
    a, b = backends.start_many("a", "b")
    h = hc_httpd(make_httpd, impl, balancer(
        member(a, hcmethod="TCP", hcinterval=FAST), member(b)))
    a.kill()
    secs = wait_hcfl(h, a, True, 5)
    assert set(backends_seen(h, 4)) == {"b"}
    a.start()  # same port
    t1 = time.time()
    back = wait_hcfl(h, a, False, 5)
    assert "a" in backends_seen(h, 4)
    # the TCP check never sent an HTTP request (only the harness' own
    # readiness probe and our traffic reached the restarted backend)
    reqs = [x for x in recorded_requests(a) if x["t"] > t1]
    assert all(x["path"] in ("/x", "/app/x") for x in reqs), reqs
    h.wait_error_log(r"Health check DISABLING %s" % re.escape(a.url))
    h.wait_error_log(r"Health check ENABLING %s" % re.escape(a.url))
    print("\n[%s] TCP hcinterval=%s: down after %.2fs, back after %.2fs" % (
        impl, FAST, secs, back))


# --------------------------------------------------------------------------
# 5. hc('body')
# --------------------------------------------------------------------------
def test_body_marker_expression(impl, make_httpd, backends):
    """hc('body') sees the GET body; a 200 whose body contains
    MAINTENANCE fails the check, a normal body passes."""
    a, b = backends.start_many("a", "b")
    h = hc_httpd(make_httpd, impl, balancer(
        member(a, hcmethod="GET", hcuri="/health", hcexpr="notmaint",
               hcinterval=FAST),
        member(b),
        top="ProxyHCExpr notmaint {hc('body') !~ /MAINTENANCE/}"))
    wait_hits(a, 1, time.time(), 5)
    assert "HcFl" not in status_of(h, a)
    n0 = set_health(a, status=200, body="down for MAINTENANCE until 6")[
        "count"]
    wait_hcfl(h, a, True, 5)
    # taken out by a check that got the marker (and a 200)
    assert [x["status"] for x in hits_after(a, n0)][:1] == [200]
    assert set(backends_seen(h, 4)) == {"b"}
    set_health(a, body="all fine")
    wait_hcfl(h, a, False, 5)
    assert "a" in backends_seen(h, 4)


# --------------------------------------------------------------------------
# 6. ProxyHCTemplate
# --------------------------------------------------------------------------
def test_template_applies(impl, make_httpd, backends):
    """hctemplate= copies method, uri and interval."""
    a, b = backends.start_many("a", "b")
    hc_httpd(make_httpd, impl, balancer(
        member(a, hctemplate="tpl"), member(b),
        top="ProxyHCTemplate tpl hcmethod=GET hcuri=/health hcinterval=1"))
    t0 = time.time()
    hits = wait_hits(a, 2, t0, 4)
    assert all(x["requestline"] == "GET /health HTTP/1.0" for x in hits)
    assert 0.9 <= hits[1]["t"] - hits[0]["t"] <= 1.6, hits
    assert hits_since(b, t0) == []


def test_template_without_method_is_tcp(impl, make_httpd, backends):
    """A template without hcmethod does TCP checks."""
    a, b = backends.start_many("a", "b")
    h = hc_httpd(make_httpd, impl, balancer(
        member(a, hctemplate="t"), member(b),
        top="ProxyHCTemplate t hcinterval=%s" % FAST))
    a.kill()
    wait_hcfl(h, a, True, 5)
    t1 = time.time()
    a.start()
    wait_hcfl(h, a, False, 5)
    # a TCP check sends no HTTP request: only the readiness probe came
    assert [x["path"] for x in recorded_requests(a) if x["t"] > t1] in (
        [], ["/health"]), recorded_requests(a)


# --------------------------------------------------------------------------
# 7. configuration errors
# --------------------------------------------------------------------------
CONFIG_ERRORS = {
    "unknown-template": ("hctemplate=nosuch",
                         "Unknown ProxyHCTemplate name: nosuch"),
    "unknown-expr": ("hcmethod=GET hcexpr=nosuch",
                     "Unknown health check condition expr: nosuch"),
    "typo-key": ("hcintervall=1", "unknown Worker hcheck parameter"),
    "cping-without-ajp": ("hcmethod=CPING",
                          "Health check method CPING not (yet) implemented"),
    "unknown-method": ("hcmethod=FOO", "Unknown method"),
    "interval-99ms": ("hcmethod=TCP hcinterval=99ms", None),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_config_errors_fail_startup(case, impl, make_httpd):
    """Bad hc* member parameters fail `apache2 -t`
    with stock's message (printed after the directive name)."""
    params, text = CONFIG_ERRORS[case]
    h = hc_httpd(make_httpd, impl, """
%s
<Proxy balancer://hc>
    BalancerMember http://127.0.0.1:9 %s
</Proxy>
""" % (OK_EXPR, params), start=False)
    p = h.configtest()
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    if text is None:  # mod_lbx's wording is free; stock's, for the record
        text = {"stock": "Interval must be a positive value greater than "
                         "100ms"}.get(impl)
    if text is not None:
        assert "BalancerMember %s" % text in out, out[-2000:]


def test_config_accepts_valid_values(impl, make_httpd):
    """The valid neighbours of the error cases: 100ms, units, every method
    name in any case, CPING once mod_proxy_ajp is loaded, a template that
    an expression and a later hcuri refine."""
    mods = ["LoadModule %s %s" % (sym, H.MODDIR / so)
            for sym, so in H.BASE_MODULES] + H.impl_modules(impl) + [
        "LoadModule proxy_ajp_module %s" % (H.MODDIR / "mod_proxy_ajp.so")]
    h = hc_httpd(make_httpd, impl, """
%s
ProxyHCTemplate T hcmethod=head hcexpr=OK hcinterval=2s hcfails=3
<Proxy balancer://hc>
    BalancerMember http://127.0.0.1:9 hcmethod=TCP hcinterval=100ms
    BalancerMember http://127.0.0.1:10 hcmethod=get11 hcinterval=1 hcpasses=0
    BalancerMember http://127.0.0.1:11 hcmethod=OPTIONS11 hcinterval=1mi
    BalancerMember http://127.0.0.1:12 hcmethod=Head11 hcinterval=1hr
    BalancerMember http://127.0.0.1:13 hcmethod=NONE hcfails=0
    BalancerMember ajp://127.0.0.1:14 hcmethod=CPING
    BalancerMember http://127.0.0.1:15 hctemplate=t hcuri=/x
</Proxy>
""" % OK_EXPR, start=False, modules=mods)
    p = h.configtest()
    assert p.returncode == 0, (p.stdout + p.stderr)[-2000:]


def test_vhost_does_not_see_main_server_names(impl, make_httpd):
    """A vhost whose members use hc* parameters has its own hc
    context: expressions and templates of the main server are unknown
    there; its own are found."""
    for ref, text in (("hcmethod=GET hcexpr=ok",
                       "Unknown health check condition expr: ok"),
                      ("hctemplate=tpl", "Unknown ProxyHCTemplate name: tpl")):
        h = hc_httpd(make_httpd, impl, """
%s
ProxyHCTemplate tpl hcmethod=GET
<VirtualHost 127.0.0.1:@PORT@>
    <Proxy balancer://v>
        BalancerMember http://127.0.0.1:9 %s
    </Proxy>
</VirtualHost>
""" % (OK_EXPR, ref), start=False)
        p = h.configtest()
        out = p.stdout + p.stderr
        assert p.returncode != 0 and text in out, out[-2000:]
    h = hc_httpd(make_httpd, impl, """
<VirtualHost 127.0.0.1:@PORT@>
    %s
    <Proxy balancer://v>
        BalancerMember http://127.0.0.1:9 hcmethod=GET hcexpr=ok
    </Proxy>
</VirtualHost>
""" % OK_EXPR, start=False)
    p = h.configtest()
    assert p.returncode == 0, (p.stdout + p.stderr)[-2000:]


# --------------------------------------------------------------------------
# 8. stopped members
# --------------------------------------------------------------------------
def test_stopped_member_is_never_checked(impl, make_httpd, backends):
    """+S members are skipped (their sibling with the same
    settings is checked several times meanwhile)."""
    a, b = backends.start_many("a", "b")
    hc_httpd(make_httpd, impl, balancer(
        member(a, hcmethod="GET", hcuri="/health", hcinterval=FAST,
               status="+S"),
        member(b, hcmethod="GET", hcuri="/health", hcinterval=FAST)))
    t0 = time.time()
    wait_hits(b, 4, t0, 5)
    assert hits_since(a, t0) == []


# --------------------------------------------------------------------------
# 9. recovery of a member that traffic put in error
# --------------------------------------------------------------------------
def test_check_recovers_member_in_error_before_retry(impl, make_httpd,
                                                     backends):
    """Traffic puts a dead member in Err (retry=600); once the
    backend is back, a passing check clears Err long before retry."""
    a, b = backends.start_many("a", "b")
    # hcfails=50: the failing checks while a is down must not be what
    # takes it out; request traffic does.
    h = hc_httpd(make_httpd, impl, balancer(
        member(a, retry=600, hcmethod="GET", hcuri="/health",
               hcinterval=FAST, hcfails=50),
        member(b, retry=600)))
    a.kill()
    assert set(backends_seen(h, 4)) == {"b"}
    assert "Err" in status_of(h, a)
    assert "HcFl" not in status_of(h, a)
    a.start()
    t1 = time.time()
    _, secs = poll(lambda: "Err" not in status_of(h, a), 5,
                   "a out of Err")
    assert hits_since(a, t1), "recovered without a check"
    h.wait_error_log(r"Health check ENABLING %s" % re.escape(a.url))
    assert "a" in backends_seen(h, 4)
    print("\n[%s] Err -> Ok by a check after %.2fs (retry=600)" % (
        impl, secs))


# --------------------------------------------------------------------------
# 10. ProxyHCTPsize 0
# --------------------------------------------------------------------------
def test_tpsize_zero_still_checks(impl, make_httpd, backends):
    """Without a thread pool the checks run in the watchdog
    thread, and still change state."""
    a, b = backends.start_many("a", "b")
    h = hc_httpd(make_httpd, impl, balancer(
        member(a, hcmethod="GET", hcuri="/health", hcinterval=FAST),
        member(b, hcmethod="GET", hcuri="/health", hcinterval=FAST),
        top="ProxyHCTPsize 0"))
    t0 = time.time()
    wait_hits(a, 2, t0, 5)
    wait_hits(b, 2, t0, 5)
    set_health(a, status=503)
    wait_hcfl(h, a, True, 5)
    assert "HcFl" not in status_of(h, b)
    # logged from the watchdog thread itself, without stock's "Threaded "
    h.wait_error_log(r"\d: Health check DISABLING %s" % re.escape(a.url))
    assert "Threaded Health check" not in h.error_log()


# --------------------------------------------------------------------------
# hcfails / hcpasses count every check, not consecutive ones
# --------------------------------------------------------------------------
def _alternate_until(h, a, on, first, timeout=8):
    """Answer /health with `first`, then flip 500 <-> 200 after every check
    the backend sees, until a's HcFl state is `on`.  Returns the statuses
    the checks got, in order, up to the change."""
    n0 = set_health(a, status=first)["count"]
    seen = []

    def step():
        hits = hits_after(a, n0)
        if len(hits) > len(seen):
            seen[:] = hits
            set_health(a, status=500 if seen[-1]["status"] == 200 else 200)
        return ("HcFl" in status_of(h, a)) == on
    poll(step, timeout, "HcFl=%s with alternating answers" % on, step=0.02)
    return [x["status"] for x in hits_after(a, n0)]


def test_fails_and_passes_are_not_consecutive(impl, make_httpd, backends):
    """With hcfails=2, fail-pass-fail disables (a pass does
    not reset the failure count); with hcpasses=2, pass-fail-pass enables
    (a failure does not reset the pass count).  With consecutive counting
    the member would never change state."""
    a, b = backends.start_many("a", "b")
    h = hc_httpd(make_httpd, impl, balancer(
        member(a, hcmethod="GET", hcuri="/health", hcinterval=FAST,
               hcfails=2, hcpasses=2),
        member(b)))
    wait_hits(a, 1, time.time(), 5)
    down = _alternate_until(h, a, True, 500)
    up = _alternate_until(h, a, False, 200)
    print("\n[%s] alternating answers: disabled after %s, enabled after %s"
          % (impl, down, up))
    # the state changed at the 2nd failure / 2nd pass, never after two
    # equal answers in a row (a missed flip would show as one)
    assert down[:3] == [500, 200, 500], down
    assert up[:3] == [200, 500, 200], up
    h.wait_error_log(r"Health check ENABLING %s" % re.escape(a.url))


# --------------------------------------------------------------------------
# Answers framed as stock frames them
# --------------------------------------------------------------------------
class RawAnswer:
    """A backend that answers every connection with fixed bytes and closes,
    counting the connections it served."""

    def __init__(self, answer):
        self.answer = answer
        self.served = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                conn.settimeout(2)
                conn.recv(4096)
                conn.sendall(self.answer)
            except OSError:
                pass
            finally:
                conn.close()
            self.served += 1

    def close(self):
        self.sock.close()


FRAMING = {
    # answer -> whether a GET check with an always-true expression passes
    "length": (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", True),
    "negative length": (b"HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\nok",
                        False),
    "chunked": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"2\r\nok\r\n0\r\n\r\n", True),
    "chunked, cut before the last empty line":
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"2\r\nok\r\n0\r\n", False),
    "first Transfer-Encoding line decides":
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
         b"Transfer-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok", False),
}


def test_get_check_frames_answers_as_stock(impl, make_httpd):
    """GET checks judge an answer only once it is complete by HTTP's
    framing: an invalid Content-Length or a chunked body cut before its
    end fails the check, on both implementations."""
    raws = {name: RawAnswer(ans) for name, (ans, _) in FRAMING.items()}
    try:
        members = ["BalancerMember %s hcmethod=GET hcuri=/h hcexpr=any "
                   "hcinterval=1 hcfails=1 hcpasses=1" % r.url
                   for r in raws.values()]
        h = hc_httpd(make_httpd, impl, balancer(
            *members, top="ProxyHCExpr any {true}"))
        H.deadline_poll(lambda: all(r.served >= 2 for r in raws.values()),
                        15, what="two checks of every member")
        got = {name: "HcFl" not in status_of(h, r)
               for name, r in raws.items()}
        assert got == {name: ok for name, (_, ok) in FRAMING.items()}
    finally:
        for r in raws.values():
            r.close()
