"""Failover, error states and recovery."""
import collections
import re
import time

import lbxharness as H
from lbxharness import member

# mod_proxy's own message (stays stock with mod_lbx).
CONNECT_ERR = r"AH00959: ap_proxy_connect_backend disabling worker for " \
              r"\(127\.0\.0\.1:%d\)"
# Balancer messages: mod_lbx keeps stock's wording; the AH number may
# differ in mod_lbx (LBXnnnnn), so match the text.
FAILONSTATUS = r"Forcing worker \(%s\) into error state due to status " \
               r"code 503 matching 'failonstatus' balancer parameter"
ROUTE_ERR = r"All workers are in error state for route \(%s\)"
ALL_ERR = r"%s: All workers are in error state"
NO_WORKERS = r"%s: No workers in balancer"


def count(h, pattern):
    return len(re.findall(pattern, h.error_log()))


def test_killed_member_fails_over_and_comes_back(impl, make_httpd,
                                                 backends):
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, """
ProxyStatus On
<Proxy balancer://fo>
    %s
    %s
    %s
</Proxy>
ProxyPass /fo balancer://fo
""" % (member(a, retry=2), member(b, retry=2), member(c, retry=2)))
    assert H.backend_of(h.get("/fo/x")) == "a"  # all three serve first
    b.kill()
    t_kill = time.monotonic()
    served = collections.Counter()
    for i in range(30):
        r = h.get("/fo/x")
        assert r.status_code == 200, "client error on request %d" % i
        served[H.backend_of(r)] += 1
    assert served["b"] == 0 and served["a"] > 0 and served["c"] > 0, served
    h.wait_error_log(CONNECT_ERR % b.port)
    # mod_status reads the member's state from the balancer's shm
    st = h.member_status("balancer://fo", b)
    if time.monotonic() - t_kill < 1.5:  # retry=2 cannot have elapsed
        assert "Err" in st, st
    assert h.member_status("balancer://fo", a) == "Init Ok "
    b.start()  # same port

    def b_serves():
        return H.backend_of(h.get("/fo/x")) == "b"
    H.deadline_poll(b_serves, 15, interval=0.1,
                    what="member b back after retry=2")
    assert "Err" not in h.member_status("balancer://fo", b)


def test_failonstatus_puts_member_in_error(impl, make_httpd, backends):
    """failonstatus=503: the member's 503 reaches the client (no retry of
    that request), the member goes to Err, later requests avoid it."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, """
ProxyStatus On
<Proxy balancer://fos>
    BalancerMember %s/status/503 retry=60
    BalancerMember %s/ok retry=60
    ProxySet failonstatus=503
</Proxy>
ProxyPass /fos balancer://fos
""" % (a.url, b.url))
    got = []
    for _ in range(4):
        r = h.get("/fos/x")
        got.append((r.status_code, H.backend_of(r)))
        if r.status_code == 503:
            break
    assert got[-1] == (503, "a"), got
    h.wait_error_log(FAILONSTATUS % re.escape(a.url + "/status/503"))
    st = h.balancer_status()["balancer://fos"]
    assert "Err" in st[a.url + "/status/503"]["Status"], st
    assert "Err" not in st[b.url + "/ok"]["Status"], st
    for _ in range(20):
        r = h.get("/fos/x")
        assert (r.status_code, H.backend_of(r)) == (200, "b")


NOFAILOVER_BODY = """
<Proxy balancer://nf>
    {a} route=r1
    {b} route=r2
    {c} route=r3 status=+D
    ProxySet stickysession=ROUTEID nofailover=On
</Proxy>
ProxyPass /nf balancer://nf

<Proxy balancer://f>
    {a} route=r1
    {b} route=r2
    {c} route=r3 status=+D
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /f balancer://f
"""


def test_nofailover_sticky_to_dead_member(impl, make_httpd, backends):
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, NOFAILOVER_BODY.format(
        a=member(a), b=member(b), c=member(c)))
    a.kill()
    entries = []
    for i in range(3):
        r, e = h.get_logged("/nf/x", headers={"Cookie": "ROUTEID=x.r1"})
        assert r.status_code == 503, (i, r.status_code, H.backend_of(r))
        entries.append(e)
    h.wait_error_log(ROUTE_ERR % "r1", count=3)
    # 1st request: attempt 1 picked a (connect fails), attempt 2 refused the
    # route: the variables of attempt 1 remain.  Later requests fail at the
    # first selection: nothing is set.
    e = entries[0]
    assert (e["BALANCER_NAME"], e["BALANCER_WORKER_NAME"],
            e["BALANCER_SESSION_STICKY"], e["BALANCER_SESSION_ROUTE"]) == \
        ("balancer://nf", a.url, "ROUTEID", "r1")
    for e in entries[1:]:
        assert all(e[v] == "-" for v in H.BALANCER_VARS), e
    # other routes and new sessions are unaffected
    r = h.get("/nf/x", headers={"Cookie": "ROUTEID=x.r2"})
    assert (r.status_code, H.backend_of(r)) == (200, "b")
    r = h.get("/nf/x")
    assert (r.status_code, H.backend_of(r)) == (200, "b")
    # without nofailover the same session fails over, ROUTE_CHANGED=1
    r, e = h.get_logged("/f/x", headers={"Cookie": "ROUTEID=x.r1"})
    assert (r.status_code, H.backend_of(r)) == (200, "b")
    assert e["BALANCER_ROUTE_CHANGED"] == "1"


def test_nofailover_sticky_to_disabled_member(impl, make_httpd, backends):
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, NOFAILOVER_BODY.format(
        a=member(a), b=member(b), c=member(c)))
    r = h.get("/nf/x", headers={"Cookie": "ROUTEID=x.r3"})
    assert r.status_code == 503
    h.wait_error_log(ROUTE_ERR % "r3")
    # a route nobody has is balanced normally even with nofailover
    r = h.get("/nf/x", headers={"Cookie": "ROUTEID=x.zz"})
    assert r.status_code == 200 and H.backend_of(r) in ("a", "b")
    # without nofailover: served by a usable member, never the disabled one
    for _ in range(4):
        r, e = h.get_logged("/f/x", headers={"Cookie": "ROUTEID=x.r3"})
        assert r.status_code == 200 and H.backend_of(r) in ("a", "b")
        assert e["BALANCER_ROUTE_CHANGED"] == "1"


def test_all_members_down(impl, make_httpd, backends):
    """All backends dead: 503.  forcerecovery (default On) retries the
    errored members at once on the next request despite retry=60;
    forcerecovery=Off answers 503 without trying them."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, """
<Proxy balancer://down>
    %s
    %s
</Proxy>
ProxyPass /down balancer://down
<Proxy balancer://nofr>
    %s
    %s
    ProxySet forcerecovery=Off
</Proxy>
ProxyPass /nofr balancer://nofr
""" % (member(a, retry=60), member(b, retry=60),
       member(a, retry=60), member(b, retry=60)))
    a.kill()
    b.kill()
    pat_a = CONNECT_ERR % a.port
    for i in range(3):
        r = h.get("/down/x")
        assert r.status_code == 503, i
        # each request really tried the member again
        h.wait_error_log(pat_a, count=i + 1)
    h.wait_error_log(r"balancer://down: Forcing recovery for worker "
                     r"\(127\.0\.0\.1:%d\)" % a.port, count=2)
    n_before = count(h, pat_a)
    r = h.get("/nofr/x")
    assert r.status_code == 503
    h.wait_error_log(pat_a, count=n_before + 1)  # first: both tried
    n_before = count(h, pat_a)
    for i in range(3):
        r = h.get("/nofr/x")
        assert r.status_code == 503
    h.wait_error_log(ALL_ERR % "balancer://nofr", count=3)
    assert count(h, pat_a) == n_before, "forcerecovery=Off retried a member"


def test_all_members_disabled(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, """
<Proxy balancer://dis>
    %s
    %s
</Proxy>
ProxyPass /dis balancer://dis
<Proxy balancer://dist>
    %s
    %s
    ProxySet timeout=1
</Proxy>
ProxyPass /dist balancer://dist
""" % (member(a, status="+D"), member(b, status="+D"),
       member(a, status="+D"), member(b, status="+D")))
    for _ in range(3):
        r, e = h.get_logged("/dis/x")
        assert r.status_code == 503
        assert H.backend_of(r) is None
        # no selection happened: no balancer variables at all
        assert all(e[v] == "-" for v in H.BALANCER_VARS), e
    h.wait_error_log(ALL_ERR % "balancer://dis", count=3)
    # balancer timeout: wait ~1 s for a usable member, then 503
    t0 = time.monotonic()
    r = h.get("/dist/x")
    took = time.monotonic() - t0
    assert r.status_code == 503
    assert 0.9 <= took < 10, took
    h.wait_error_log(ALL_ERR % "balancer://dist")


def test_maxattempts_default_is_members_minus_one(impl, make_httpd,
                                                  backends):
    """Two dead members ahead of a live one: the default maxattempts
    (members - 1 = 2, set in child_init) reaches the third member; an
    explicit maxattempts=1 gives up after one failover."""
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, """
<Proxy balancer://dflt>
    %s
    %s
    %s
</Proxy>
ProxyPass /dflt balancer://dflt
<Proxy balancer://one>
    %s
    %s
    %s
    ProxySet maxattempts=1
</Proxy>
ProxyPass /one balancer://one
""" % ((member(a, retry=60), member(b, retry=60), member(c, retry=60)) * 2))
    a.kill()
    b.kill()
    # fresh byrequests state: ties go to the first member, so the first
    # request tries a, then b, then c
    r = h.get("/dflt/x")
    assert (r.status_code, H.backend_of(r)) == (200, "c")
    r = h.get("/one/x")
    assert r.status_code == 503
    # both dead members are now in Err: c serves everything
    for _ in range(4):
        assert H.backend_of(h.get("/one/x")) == "c"


def test_ignore_errors_member_never_fails_over(impl, make_httpd, backends):
    """+I member with a dead backend: its requests get 503 (no failover)
    and it never shows Err."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, """
ProxyStatus On
<Proxy balancer://ign>
    %s
    %s
</Proxy>
ProxyPass /ign balancer://ign
""" % (member(a, status="+I"), member(b)))
    a.kill()
    codes = collections.Counter()
    for _ in range(6):
        r = h.get("/ign/x")
        codes[(r.status_code, H.backend_of(r))] += 1
    assert codes == {(503, None): 3, (200, "b"): 3}, codes
    st = h.member_status("balancer://ign", a)
    assert st == "Init Ign Ok ", st


def test_failontimeout(impl, make_httpd, backends):
    """failontimeout=On: a member whose status line times out goes to Err
    (stock AH02460).  The client gets mod_proxy_http's answer to the timeout,
    502 on 2.4.71 (observed), and the request is not retried."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, """
ProxyStatus On
<Proxy balancer://fot>
    BalancerMember %s/slow timeout=1 retry=60
    BalancerMember %s timeout=1 retry=60
    ProxySet failontimeout=On
</Proxy>
ProxyPass /fot balancer://fot
""" % (a.url, b.url))
    r = h.get("/fot/?ms=4000")  # -> a: /slow/?ms=4000
    assert (r.status_code, H.backend_of(r)) == (502, None)
    h.wait_error_log(r"Forcing worker \(%s/slow\) into error state due to "
                     r"timeout and 'failontimeout' parameter being set"
                     % re.escape(a.url))
    st = h.balancer_status()["balancer://fot"]
    assert "Err" in st[a.url + "/slow"]["Status"], st
    assert "Err" not in st[b.url]["Status"], st
    for _ in range(4):
        r = h.get("/fot/?ms=4000")
        assert (r.status_code, H.backend_of(r)) == (200, "b")
