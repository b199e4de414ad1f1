"""mod_lbx's own health-check settings (stock refuses both keys):
hctimeout, a check timeout apart from the member's request timeout, and
hchost, the Host header of HTTP checks."""
import time

import pytest

import test_hcheck as T


def test_hchost_sets_the_probe_host_header(make_httpd, backends):
    """Without hchost the check's Host is the member's host:port (stock's);
    with it, exactly the value given, also through a ProxyHCTemplate."""
    a, b, c = backends.start_many("a", "b", "c")
    t0 = time.time()  # the harness's own readiness probes come before
    T.hc_httpd(make_httpd, "lbx", T.balancer(
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=%s "
        "hchost=health.example:8443" % (a.url, T.FAST),
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=%s"
        % (b.url, T.FAST),
        "BalancerMember %s hctemplate=T" % c.url,
        top="ProxyHCTemplate T hcmethod=GET hcuri=/health hcinterval=%s "
        "hchost=tpl.example hctimeout=2" % T.FAST))
    hits_a = T.wait_hits(a, 2, t0, 10)
    hits_b = T.wait_hits(b, 2, t0, 10)
    hits_c = T.wait_hits(c, 2, t0, 10)
    assert {h["host"] for h in hits_a} == {"health.example:8443"}, hits_a
    assert {h["host"] for h in hits_b} == {"127.0.0.1:%d" % b.port}, hits_b
    assert {h["host"] for h in hits_c} == {"tpl.example"}, hits_c


def test_hctimeout_fails_a_check_the_member_timeout_would_pass(
        make_httpd, backends):
    """A check answer that takes 1.5 s: with the member's timeout=10 alone
    the check passes; with hctimeout=500ms it fails and the member gets
    HcFl, while requests through it could still take 10 s."""
    a, b = backends.start_many("a", "b")
    h = T.hc_httpd(make_httpd, "lbx", T.balancer(
        "BalancerMember %s timeout=10 hcmethod=GET hcuri=/slow?ms=1500 "
        "hcexpr=ok hcinterval=%s hcfails=1 hctimeout=500ms" % (a.url, T.FAST),
        "BalancerMember %s timeout=10 hcmethod=GET hcuri=/slow?ms=1500 "
        "hcexpr=ok hcinterval=%s hcfails=1" % (b.url, T.FAST),
        top=T.OK_EXPR))
    T.wait_hcfl(h, a, True, 15)
    # b's checks take 1.5 s each and pass: after three, still no HcFl
    T.poll(lambda: len([r for r in T.recorded_requests(b)
                        if r["path"].startswith("/slow")]) >= 4,
           20, "three finished checks of b")
    assert "HcFl" not in T.status_of(h, b)


BAD = {
    "hctimeout=0": "hctimeout must be a time above 0",
    "hctimeout=-1": "hctimeout must be a time above 0",
    "hctimeout=2x": "hctimeout must be a time above 0",
    "hctimeout=3601": "hctimeout must be a time above 0",
    "hchost=": "hchost must be a host name",
    "hchost=a/b": "hchost must be a host name",
}


@pytest.mark.parametrize("param", sorted(BAD))
def test_bad_values_fail_startup(param, make_httpd):
    h = T.hc_httpd(make_httpd, "lbx", """
<Proxy balancer://hc>
    BalancerMember http://127.0.0.1:9 hcmethod=GET %s
</Proxy>
""" % param, start=False)
    out = h.config_error()
    assert BAD[param] in out, out[-2000:]


def test_hcconsecutive_needs_failures_in_a_row(make_httpd, backends):
    """Stock's counting (test_hcheck.py) disables on fail-pass-fail with
    hcfails=2; with hcconsecutive=on eight alternating answers change
    nothing, and two failures in a row disable."""
    a, b = backends.start_many("a", "b")
    # a whole second between checks leaves the flip below ample time
    h = T.hc_httpd(make_httpd, "lbx", T.balancer(
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=1 "
        "hcfails=2 hcpasses=2 hcconsecutive=on" % a.url,
        "BalancerMember %s" % b.url))
    n0 = T.set_health(a, status=500)["count"]
    seen = []

    def alternate():
        hits = T.hits_after(a, n0)
        if len(hits) > len(seen):
            seen[:] = hits
            T.set_health(a, status=500 if seen[-1]["status"] == 200 else 200)
        assert "HcFl" not in T.status_of(h, a), [x["status"] for x in seen]
        return len(seen) >= 8
    T.poll(alternate, 30, "eight alternating checks", step=0.02)
    statuses = [x["status"] for x in seen]
    # the backend flipped after every check: no two equal answers in a row
    assert all(x != y for x, y in zip(statuses, statuses[1:])), statuses
    T.set_health(a, status=500)
    T.wait_hcfl(h, a, True, 10)


def test_hcconsecutive_value_is_checked(make_httpd):
    h = T.hc_httpd(make_httpd, "lbx", """
<Proxy balancer://hc>
    BalancerMember http://127.0.0.1:9 hcmethod=GET hcconsecutive=yes
</Proxy>
""", start=False)
    out = h.config_error()
    assert "hcconsecutive must be on or off, not 'yes'" in out, out[-2000:]


def test_first_checks_are_spread_over_the_interval(make_httpd, backends):
    """20 members with hcinterval=2: stock checks all of them on the same
    watchdog tick, every interval; mod_lbx spreads a balancer's first
    checks over the first interval (member j of n after (j+1)/n of it), and
    each later check follows its own previous one, so they stay spread."""
    be = backends.start("be")
    t0 = time.time()
    T.hc_httpd(make_httpd, "lbx", T.balancer(*[
        "BalancerMember %s/m%02d hcmethod=GET hcuri=/health hcinterval=2"
        % (be.url, i + 1) for i in range(20)]))

    def first_hits():
        first = {}
        for x in T.hits_since(be, t0):
            first.setdefault(x["path"].split("/")[1], x["t"])
        return first if len(first) == 20 else None
    first, _ = T.poll(first_hits, 15, "a first check of every member")
    times = sorted(first.values())
    # evenly over 2 s: ~1.9 s from the first to the last; one tick: ~0
    assert times[-1] - times[0] >= 1.0, [round(t - times[0], 2)
                                         for t in times]
