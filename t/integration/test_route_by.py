"""Routing by a request's variable (LBXRouteBy): the three examples in
conf/examples/ are included as they are (the test only Defines the member
addresses), route as documented, and fail over to the rest of the pool when
the chosen member is down."""
import collections
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

import lbxharness as H

EXAMPLES = Path(__file__).resolve().parents[2] / "conf" / "examples"


def example_httpd(make_httpd, backends, name, modules=""):
    a, b, c = backends.start_many("a", "b", "c")
    body = "%s\nDefine APP_A 127.0.0.1:%d\nDefine APP_B 127.0.0.1:%d\n" \
           "Define APP_C 127.0.0.1:%d\nDefine LBX_EXAMPLES %s\n" \
           "Include %s\n" % (modules, a.port, b.port, c.port, EXAMPLES,
                             EXAMPLES / name)
    return make_httpd("lbx", body), (a, b, c)


def served(h, n, path, **kw):
    return collections.Counter(h.get(path, **kw).headers["X-Backend"]
                               for _ in range(n))


def test_url_prefix_example(make_httpd, backends):
    h, (a, b, c) = example_httpd(make_httpd, backends, "route-by-url.conf")
    assert served(h, 6, "/app/reports/x") == {"a": 6}
    assert served(h, 6, "/app/api/x") == {"b": 6}
    assert sum(served(h, 9, "/app/other").values()) == 9
    a.kill()  # the chosen member down: the rest of the pool answers
    got = served(h, 6, "/app/reports/x")
    assert set(got) <= {"b", "c"} and sum(got.values()) == 6, got


def test_client_network_example(make_httpd, backends):
    h, (a, b, c) = example_httpd(make_httpd, backends,
                                 "route-by-network.conf")
    # 127.0.0.2 counts as "eu" in the example; 127.0.0.1 is no region

    class FromEu(HTTPAdapter):
        def init_poolmanager(self, *args, **kw):
            kw["source_address"] = ("127.0.0.2", 0)
            return super().init_poolmanager(*args, **kw)

    s = requests.Session()
    s.mount("http://", FromEu())
    eu = collections.Counter(
        h.get("/app/x", session=s).headers["X-Backend"] for _ in range(6))
    assert eu == {"a": 6}, eu
    # the others by byrequests, which counts the routed requests as it
    # counts sticky ones (the member routed to has had its share already)
    other = served(h, 9, "/app/x")
    assert sum(other.values()) == 9 and len(other) >= 2, other
    a.kill()
    eu = collections.Counter(
        h.get("/app/x", session=s).headers["X-Backend"] for _ in range(6))
    assert set(eu) <= {"b", "c"} and sum(eu.values()) == 6, eu


def test_lua_example(make_httpd, backends):
    h, (a, b, c) = example_httpd(
        make_httpd, backends, "route-by-lua.conf",
        modules="LoadModule lua_module %s/mod_lua.so" % H.MODDIR)
    assert served(h, 6, "/app/x", headers={"X-Plan": "premium"}) == {"a": 6}
    assert served(h, 6, "/app/x?beta=1") == {"b": 6}
    other = served(h, 9, "/app/x")
    assert sum(other.values()) == 9 and len(other) >= 2, other
    b.kill()
    got = served(h, 6, "/app/x?beta=1")
    assert set(got) <= {"a", "c"} and sum(got.values()) == 6, got


@pytest.mark.parametrize("value", ["nosuchroute", "x" * 5000,
                                   "\\xff\\xfe", "a\\x01b", "web%00"])
def test_values_that_match_nothing_change_nothing(value, make_httpd,
                                                  backends):
    """The variable comes from a header here: hostile values reach the
    balancer and are ignored (the lbmethod chooses)."""
    a, b = backends.start_many("a", "b")
    h = make_httpd("lbx", """
<Proxy balancer://hv>
    BalancerMember %s route=web
    BalancerMember %s route=api
    LBXRouteBy "%%{req:X-Route}"
</Proxy>
ProxyPass /app balancer://hv
Header set X-Route-By "%%{BALANCER_ROUTE_BY}e %%{BALANCER_ROUTE_BY_USED}e"
""" % (a.url, b.url))
    status, headers, _, _ = H.raw_get(h.port, "/app/x",
                                      headers={"X-Route": value})
    assert status == 200
    assert served(h, 4, "/app/x", headers={"X-Route": "api"}) == {"b": 4}
    # the decision, for the log
    assert h.get("/app/x", headers={"X-Route": "api"}).headers[
        "X-Route-By"] == "api 1"
    assert h.get("/app/x", headers={"X-Route": "nosuchroute"}).headers[
        "X-Route-By"] == "nosuchroute 0"


def test_the_variable_wins_over_the_route_cookie(make_httpd, backends):
    """With LBXRouteCookie too: a client stuck to one member still goes where
    the variable says, keeps its cookie, and returns to its member after."""
    a, b = backends.start_many("a", "b")
    h = make_httpd("lbx", """
<Proxy balancer://vc>
    BalancerMember %s route=web
    BalancerMember %s route=reports
    LBXRouteBy "%%{req:X-Route}"
    LBXRouteCookie ROUTEID
</Proxy>
ProxyPass /app balancer://vc
""" % (a.url, b.url))
    jar = requests.cookies.RequestsCookieJar()
    first = h.get("/app/x", cookies=jar, headers={"X-Route": "web"})
    assert first.headers["X-Backend"] == "a"
    assert "Set-Cookie" not in first.headers  # chosen by the variable
    r = h.get("/app/x", cookies=jar)  # no variable: the lbmethod, a cookie
    jar.update(r.cookies)
    home = r.headers["X-Backend"]
    other = "reports" if home == "a" else "web"
    r = h.get("/app/x", cookies=jar, headers={"X-Route": other})
    assert r.headers["X-Backend"] != home and "Set-Cookie" not in r.headers
    assert h.get("/app/x", cookies=jar).headers["X-Backend"] == home
