"""Hot standby (+H), draining (+N), hot spares (+R) and lbsets."""
import collections

import lbxharness as H
from lbxharness import member


def served(h, path, n, **kw):
    """n requests on fresh connections; all must be 200."""
    c = collections.Counter()
    for i in range(n):
        r = h.get(path, **kw)
        assert r.status_code == 200, (path, i, r.status_code)
        c[H.backend_of(r)] += 1
    return c


def test_standby_only_when_all_regular_down(impl, make_httpd, backends):
    a, b, s = backends.start_many("a", "b", "s")
    h = make_httpd(impl, """
<Proxy balancer://sb>
    %s
    %s
    %s
</Proxy>
ProxyPass /sb balancer://sb
""" % (member(a), member(b), member(s, status="+H")))
    c = served(h, "/sb/x", 20)
    assert c == {"a": 10, "b": 10}, c
    a.kill()
    c = served(h, "/sb/x", 10)  # a fails over to b; standby still idle
    assert c == {"b": 10}, c
    b.kill()
    c = served(h, "/sb/x", 10)  # first one fails over, then standby only
    assert c == {"s": 10}, c


def test_draining_member_keeps_sessions_only(impl, make_httpd, backends):
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, """
<Proxy balancer://dr>
    %s route=r1 status=+N
    %s route=r2
    %s route=r3
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /dr balancer://dr
""" % (member(a), member(b), member(c)))
    cnt = served(h, "/dr/x", 20)
    assert cnt == {"b": 10, "c": 10}, cnt
    cnt = served(h, "/dr/x", 8, headers={"Cookie": "ROUTEID=s.r1"})
    assert cnt == {"a": 8}, cnt
    r, e = h.get_logged("/dr/x", headers={"Cookie": "ROUTEID=s.r1"})
    assert H.backend_of(r) == "a"
    assert e["BALANCER_ROUTE_CHANGED"] == "-"


def test_hot_spares(impl, make_httpd, backends):
    a, b, s1, s2, k = backends.start_many("a", "b", "s1", "s2", "k")
    h = make_httpd(impl, """
<Proxy balancer://idle>
    {a}
    {b}
    {s1} status=+R
</Proxy>
ProxyPass /idle balancer://idle
<Proxy balancer://dis>
    {a} status=+D
    {b}
    {s1} status=+R
    {s2} status=+R
</Proxy>
ProxyPass /dis balancer://dis
<Proxy balancer://dead>
    {k}
    {b}
    {s1} status=+R
</Proxy>
ProxyPass /dead balancer://dead
""".format(a=member(a), b=member(b), s1=member(s1), s2=member(s2),
           k=member(k)))
    # all regular members usable: the spare is idle
    cnt = served(h, "/idle/x", 12)
    assert cnt == {"a": 6, "b": 6}, cnt
    # one regular member disabled: exactly one spare (the first in
    # configuration order) stands in for it
    cnt = served(h, "/dis/x", 12)
    assert cnt == {"b": 6, "s1": 6}, cnt
    # a regular member dies: the spare replaces it
    cnt = served(h, "/dead/x", 4)
    assert cnt["s1"] == 0, cnt  # not yet known to be dead: none to spare
    k.kill()
    cnt = served(h, "/dead/x", 12)
    assert cnt["k"] == 0 and cnt["s1"] >= 5 and cnt["b"] >= 5, cnt


def test_lbsets(impl, make_httpd, backends):
    a, b, c, s, k = backends.start_many("a", "b", "c", "s", "k")
    h = make_httpd(impl, """
<Proxy balancer://ls>
    {k} lbset=0
    {b} lbset=1
</Proxy>
ProxyPass /ls balancer://ls
<Proxy balancer://lsdis>
    {a} lbset=0 status=+D
    {b} lbset=1
    {c} lbset=1
</Proxy>
ProxyPass /lsdis balancer://lsdis
<Proxy balancer://lssb>
    {a} lbset=0 status=+D
    {s} lbset=0 status=+H
    {b} lbset=1
</Proxy>
ProxyPass /lssb balancer://lssb
""".format(a=member(a), b=member(b), c=member(c), s=member(s),
           k=member(k)))
    # lbset 1 idle while lbset 0 serves
    assert served(h, "/ls/x", 10) == {"k": 10}
    # lbset 0 has nothing usable -> lbset 1
    cnt = served(h, "/lsdis/x", 10)
    assert cnt == {"b": 5, "c": 5}, cnt
    # a standby of lbset 0 comes before any member of lbset 1
    assert served(h, "/lssb/x", 10) == {"s": 10}
    # the only lbset-0 member dies: failover to lbset 1, no client error
    k.kill()
    assert served(h, "/ls/x", 10) == {"b": 10}


def test_sticky_routes_ignore_lbset_and_standby(impl, make_httpd, backends):
    """Sticky routing looks at every member: a route may name a member of a
    higher lbset or a hot standby while lbset 0 is healthy."""
    a, b, s = backends.start_many("a", "b", "s")
    h = make_httpd(impl, """
<Proxy balancer://sr>
    %s route=r1 lbset=0
    %s route=r2 lbset=1
    %s route=rs status=+H
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /sr balancer://sr
""" % (member(a), member(b), member(s)))
    assert served(h, "/sr/x", 4) == {"a": 4}
    assert served(h, "/sr/x", 4, headers={"Cookie": "ROUTEID=.r2"}) == \
        {"b": 4}
    assert served(h, "/sr/x", 4, headers={"Cookie": "ROUTEID=.rs"}) == \
        {"s": 4}
    r, e = h.get_logged("/sr/x", headers={"Cookie": "ROUTEID=.rs"})
    assert e["BALANCER_ROUTE_CHANGED"] == "-"
