"""Sticky sessions."""
import collections

import lbxharness as H
from lbxharness import member, raw_get

N = 8  # requests per stickiness check (bounded, fresh connections)


def sticky_body(a, b, c):
    """Three members r1/r2/r3 (node1/node2 for the Tomcat balancer)."""
    return """
<Proxy balancer://st>
    {a} route=r1
    {b} route=r2
    {c} route=r3
    ProxySet stickysession=ROUTEID|routeid
</Proxy>
ProxyPass /app balancer://st

<Proxy balancer://tc>
    {a} route=node1
    {b} route=node2
    ProxySet stickysession=JSESSIONID|jsessionid
</Proxy>
ProxyPass /tc balancer://tc

<Proxy balancer://sc>
    {a} route=r1
    {b} route=r2
    ProxySet stickysession=JSESSIONID|jsessionid scolonpathdelim=On
</Proxy>
ProxyPass /sc balancer://sc

<Proxy balancer://nosep>
    {a} route=r1
    {b} route=r2
    {c} route=r3
    ProxySet stickysession=ROUTEID stickysessionsep=Off
</Proxy>
ProxyPass /nosep balancer://nosep
""".format(a=member(a), b=member(b), c=member(c))


def start(impl, make_httpd, backends):
    a, b, c = backends.start_many("a", "b", "c")
    return make_httpd(impl, sticky_body(a, b, c))


def hits(h, path, n=N, **kw):
    c = collections.Counter()
    for _ in range(n):
        r = h.get(path, **kw)
        assert r.status_code == 200, (path, r.status_code)
        c[H.backend_of(r)] += 1
    return c


def test_cookie_route(impl, make_httpd, backends):
    h = start(impl, make_httpd, backends)
    assert hits(h, "/app/x", headers={"Cookie": "ROUTEID=x.r1"}) == {"a": N}
    assert hits(h, "/app/x", headers={"Cookie": "ROUTEID=anything.r3"}) == \
        {"c": N}
    # the cookie may come after others, separated by "; "
    assert hits(h, "/app/x", headers={"Cookie": "foo=bar; ROUTEID=x.r2"}) == \
        {"b": N}
    r, e = h.get_logged("/app/x", headers={"Cookie": "ROUTEID=x.r1"})
    assert (e["BALANCER_SESSION_STICKY"], e["BALANCER_SESSION_ROUTE"]) == \
        ("ROUTEID", "r1")
    assert e["BALANCER_ROUTE_CHANGED"] == "-"


def test_query_route(impl, make_httpd, backends):
    h = start(impl, make_httpd, backends)
    assert hits(h, "/app/x?routeid=x.r2") == {"b": N}
    assert hits(h, "/app/x?a=1&routeid=x.r3&b=2") == {"c": N}
    r, e = h.get_logged("/app/x?routeid=x.r2")
    assert H.backend_of(r) == "b"
    assert (e["BALANCER_SESSION_STICKY"], e["BALANCER_SESSION_ROUTE"]) == \
        ("routeid", "r2")


def test_query_beats_cookie(impl, make_httpd, backends):
    h = start(impl, make_httpd, backends)
    assert hits(h, "/app/x?routeid=x.r2",
                headers={"Cookie": "ROUTEID=x.r1"}) == {"b": N}
    r, e = h.get_logged("/app/x?routeid=x.r2",
                        headers={"Cookie": "ROUTEID=x.r1"})
    assert e["BALANCER_SESSION_STICKY"] == "routeid"
    assert e["BALANCER_SESSION_ROUTE"] == "r2"


def test_jsessionid_path_parameter(impl, make_httpd, backends):
    h = start(impl, make_httpd, backends)
    for _ in range(N):
        st, hd, body, tid = raw_get(h.port, "/tc/x;jsessionid=abc.node2")
        assert (st, hd.get("x-backend")) == (200, "b")
    e = h.log_entry(tid)
    assert (e["BALANCER_SESSION_STICKY"], e["BALANCER_SESSION_ROUTE"]) == \
        ("jsessionid", "node2")
    # the backend receives the path parameter unchanged
    st, hd, body, tid = raw_get(h.port, "/tc/echo;jsessionid=abc.node1")
    assert st == 200 and hd.get("x-backend") == "a"
    assert b"/echo;jsessionid=abc.node1" in body


def test_scolonpathdelim(impl, make_httpd, backends):
    """With scolonpathdelim=On a following ';x=y' ends the value."""
    h = start(impl, make_httpd, backends)
    for _ in range(N):
        st, hd, _, tid = raw_get(h.port, "/sc/x;jsessionid=abc.r2;x=y")
        assert (st, hd.get("x-backend")) == (200, "b")
    assert h.log_entry(tid)["BALANCER_SESSION_ROUTE"] == "r2"


def test_tomcat_cookie(impl, make_httpd, backends):
    h = start(impl, make_httpd, backends)
    assert hits(h, "/tc/x", headers={"Cookie": "JSESSIONID=ABCDEF.node2"}) \
        == {"b": N}
    assert hits(h, "/tc/x", headers={"Cookie": "JSESSIONID=ABCDEF.node1"}) \
        == {"a": N}


def test_value_without_separator_is_ignored(impl, make_httpd, backends):
    """ROUTEID=r1 has no '.', so no route: normal balancing over all three
    members, no BALANCER_SESSION_* variables, ROUTE_CHANGED=1."""
    h = start(impl, make_httpd, backends)
    c = hits(h, "/app/x", n=9, headers={"Cookie": "ROUTEID=r1"})
    assert c == {"a": 3, "b": 3, "c": 3}, c
    r, e = h.get_logged("/app/x", headers={"Cookie": "ROUTEID=r1"})
    assert e["BALANCER_SESSION_STICKY"] == "-"
    assert e["BALANCER_SESSION_ROUTE"] == "-"
    assert e["BALANCER_ROUTE_CHANGED"] == "1"


def test_stickysessionsep_off_honours_plain_value(impl, make_httpd,
                                                  backends):
    h = start(impl, make_httpd, backends)
    assert hits(h, "/nosep/x", headers={"Cookie": "ROUTEID=r1"}) == {"a": N}
    assert hits(h, "/nosep/x", headers={"Cookie": "ROUTEID=r3"}) == {"c": N}
    # with the separator off, "x.r1" is the whole route: unknown -> balanced
    r, e = h.get_logged("/nosep/x", headers={"Cookie": "ROUTEID=x.r1"})
    assert e["BALANCER_SESSION_ROUTE"] == "x.r1"
    assert e["BALANCER_ROUTE_CHANGED"] == "1"


def test_multi_dot_value_uses_text_after_first_dot(impl, make_httpd,
                                                   backends):
    """'a.b.r1' -> route 'b.r1', which matches nobody."""
    h = start(impl, make_httpd, backends)
    r, e = h.get_logged("/app/x", headers={"Cookie": "ROUTEID=a.b.r1"})
    assert r.status_code == 200
    assert e["BALANCER_SESSION_ROUTE"] == "b.r1"
    assert e["BALANCER_ROUTE_CHANGED"] == "1"


def test_unknown_route_falls_back(impl, make_httpd, backends):
    h = start(impl, make_httpd, backends)
    c = hits(h, "/app/x", n=9, headers={"Cookie": "ROUTEID=x.r9"})
    assert c == {"a": 3, "b": 3, "c": 3}, c
    r, e = h.get_logged("/app/x", headers={"Cookie": "ROUTEID=x.r9"})
    assert r.status_code == 200
    assert e["BALANCER_SESSION_STICKY"] == "ROUTEID"
    assert e["BALANCER_SESSION_ROUTE"] == "r9"
    assert e["BALANCER_ROUTE_CHANGED"] == "1"


def test_route_names_are_case_sensitive(impl, make_httpd, backends):
    h = start(impl, make_httpd, backends)
    # cookie name is case-sensitive: 'routeid' cookie is not ROUTEID
    r, e = h.get_logged("/nosep/x", headers={"Cookie": "routeid=r1"})
    assert e["BALANCER_SESSION_ROUTE"] == "-"
    # route value is case-sensitive: R1 names nobody
    r, e = h.get_logged("/app/x", headers={"Cookie": "ROUTEID=x.R1"})
    assert e["BALANCER_SESSION_ROUTE"] == "R1"
    assert e["BALANCER_ROUTE_CHANGED"] == "1"


HDR_BODY = """
<Location /hdr>
    Header add Set-Cookie "ROUTEID=.%{{BALANCER_WORKER_ROUTE}}e; path=/" env=BALANCER_ROUTE_CHANGED
</Location>
<Proxy balancer://hdr>
    {a} route=1
    {b} route=2
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /hdr balancer://hdr
"""


def test_mod_headers_routeid_recipe(impl, make_httpd, backends):
    """The documented recipe: the first request gets ROUTEID=.<route>,
    replaying it sticks to that member and sets no new cookie."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, HDR_BODY.format(a=member(a), b=member(b)))
    first = {}
    for _ in range(2):  # two fresh sessions -> both members
        r = h.get("/hdr/x")
        assert r.status_code == 200
        sc = r.headers.get("Set-Cookie")
        assert sc is not None, dict(r.headers)
        want = {"a": "1", "b": "2"}[H.backend_of(r)]
        assert sc == "ROUTEID=.%s; path=/" % want, sc
        first[H.backend_of(r)] = sc.split(";")[0]
    assert set(first) == {"a", "b"}
    for name, cookie in first.items():
        for _ in range(5):
            r = h.get("/hdr/x", headers={"Cookie": cookie})
            assert (r.status_code, H.backend_of(r)) == (200, name)
            assert "Set-Cookie" not in r.headers, dict(r.headers)


def test_redirect_of_unusable_routed_member(impl, make_httpd, backends):
    """route=r1 redirect=r3 on a disabled member: its sessions go to the
    r3 member with ROUTE_CHANGED=1; requests without a session never use
    redirect."""
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, """
<Proxy balancer://rd>
    %s route=r1 redirect=r3 status=+D
    %s route=r2
    %s route=r3
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /rd balancer://rd
""" % (member(a), member(b), member(c)))
    assert hits(h, "/rd/x", headers={"Cookie": "ROUTEID=x.r1"}) == {"c": N}
    r, e = h.get_logged("/rd/x", headers={"Cookie": "ROUTEID=x.r1"})
    assert e["BALANCER_WORKER_ROUTE"] == "r3"
    assert e["BALANCER_SESSION_ROUTE"] == "r1"
    assert e["BALANCER_ROUTE_CHANGED"] == "1"
    # Sessionless requests are balanced over b and c only.  The 9 sticky
    # hits on c ran the default sticky accounting (on each hit every
    # usable member += lbfactor, the chosen one -= the sum), leaving
    # b at +900 and c at -900, so byrequests now favours b.
    assert hits(h, "/rd/x", n=4) == {"b": 4}
