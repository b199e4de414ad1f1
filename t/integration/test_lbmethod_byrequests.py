"""byrequests: weighted shares and the exact schedule."""
import collections
import re

import requests

import lbxharness as H
from lbxharness import member


def test_weighted_shares_60_40_idle_standby(impl, make_httpd, backends):
    """loadfactor 3 : 2 over 100 sequential requests on fresh connections
    (spread over both children; the counters are in shm) gives 60/40; the
    hot standby gets nothing while both regular members are usable."""
    a, b, s = backends.start_many("a", "b", "s")
    h = make_httpd(impl, """
<Proxy balancer://w>
    %s
    %s
    %s
</Proxy>
ProxyPass /app balancer://w
""" % (member(a, loadfactor=3), member(b, loadfactor=2),
       member(s, status="+H")))
    counts = collections.Counter()
    for _ in range(100):
        r = h.get("/app/x")
        assert r.status_code == 200
        counts[H.backend_of(r)] += 1
    assert counts["s"] == 0, counts
    assert abs(counts["a"] - 60) <= 2, counts
    assert counts["a"] + counts["b"] == 100, counts


def _schedule(h, n, session=None):
    seq = []
    for _ in range(n):
        r = h.get("/app/x", session=session)
        assert r.status_code == 200
        seq.append(H.backend_of(r).upper())
    return seq


SEQ_BODY = """
<Proxy balancer://seq>
    %s
    %s
</Proxy>
ProxyPass /app balancer://seq
"""


def test_exact_schedule_single_connection(impl, make_httpd, backends):
    """loadfactor A=1, B=2 from a fresh start, one keep-alive connection:
    B, A, B, B, A, B (and the cycle repeats)."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, SEQ_BODY % (member(a, loadfactor=1),
                                     member(b, loadfactor=2)))
    with requests.Session() as s:
        seq = _schedule(h, 12, session=s)
    assert seq == list("BABBAB" * 2)
    # one connection -> one child served them all
    pids = {e["pid"] for e in h.access_lines() if e["uri"] == "/app/x"}
    assert len(pids) == 1, pids


def test_exact_schedule_across_children(impl, make_httpd, backends):
    """Same schedule with a new connection per request: requests land on
    different children, which must share lbstatus through shm."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, SEQ_BODY % (member(a, loadfactor=1),
                                     member(b, loadfactor=2)))
    seq = _schedule(h, 12)
    assert seq == list("BABBAB" * 2)


def test_every_pick_is_logged_at_debug(make_httpd, backends):
    """With LogLevel lbx:debug, each choice is one numbered line naming the
    member, in stock's words ("selected worker ... : busy ... : lbstatus"),
    so an administrator can follow the balancing request by request."""
    a, b = backends.start_many("a", "b")
    h = make_httpd("lbx", SEQ_BODY % (member(a), member(b)))
    served = collections.Counter(H.backend_of(h.get("/app/x"))
                                 for _ in range(10))
    for backend in (a, b):
        rx = (r'LBX20040: balancer://seq: byrequests selected worker "%s" '
              r': busy \d+ : lbstatus -?\d+ \(from 2 candidates\)'
              % re.escape(backend.url))
        h.wait_error_log(rx, count=served[backend.name])
        assert len(re.findall(rx, h.error_log())) == served[backend.name]
