"""Routing by a request's variable (LBXRouteBy): the three examples in
conf/examples/ are included as they are (the test only Defines the member
addresses), route as documented, and fail over to the rest of the pool when
the chosen member is down."""
import collections
import re
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


LBSET_CONF = """
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
<Proxy balancer://ls>
    BalancerMember %s lbset=0
    BalancerMember %s lbset=0
    BalancerMember %s lbset=1 loadfactor=1
    BalancerMember %s lbset=1 loadfactor=3
    LBXLbsetBy "%%{req:X-Set}"
</Proxy>
ProxyPass /app balancer://ls
Header set X-Lbset-By "%%{BALANCER_LBSET_BY}e %%{BALANCER_LBSET_BY_USED}e"
"""


def mixed(h, rounds, plain=3):
    """`plain` requests without a preference, then one that prefers lbset
    1, `rounds` times: what each kind was served by."""
    stock, pref = collections.Counter(), collections.Counter()
    for _ in range(rounds):
        stock.update(served(h, plain, "/app/x"))
        pref.update(served(h, 1, "/app/x", headers={"X-Set": "1"}))
    return stock, pref


def manager_edit(h, backend, **fields):
    mgr = h.base_url + "/balancer-manager"
    page = requests.get(mgr, timeout=H.TIMEOUT).text
    nonce = re.search(r"\?b=ls&amp;nonce=([0-9a-fA-F-]+)", page).group(1)
    fields.update({"b": "ls", "w": backend.url, "nonce": nonce})
    r = requests.post(mgr, timeout=H.TIMEOUT, headers={"Referer": mgr},
                      data=fields)
    assert r.status_code == 200


def set_disabled(h, backend, on):
    manager_edit(h, backend, w_status_D="1" if on else "0")


def test_lbset_by_a_variable(make_httpd, backends):
    """LBXLbsetBy: the value names the lbset the lbmethod takes first;
    without it (or with a bad value) stock's order; when that lbset is down
    the others follow in their order."""
    a, b, c, d = backends.start_many("a", "b", "c", "d")
    h = make_httpd("lbx", LBSET_CONF % (a.url, b.url, c.url, d.url))
    assert served(h, 8, "/app/x") == {"a": 4, "b": 4}
    assert set(served(h, 8, "/app/x", headers={"X-Set": "1"})) == {"c", "d"}
    assert h.get("/app/x", headers={"X-Set": "1"}).headers[
        "X-Lbset-By"] == "1 1"
    for bad in ("7", "-1", "1x", "9" * 30, "\xff", "100", "1.0"):
        got = served(h, 4, "/app/x", headers={"X-Set": bad})
        assert set(got) <= {"a", "b"}, (bad, got)
    c.kill()
    d.kill()
    got = served(h, 6, "/app/x", headers={"X-Set": "1"})
    assert set(got) <= {"a", "b"} and sum(got.values()) == 6, got
    assert h.get("/app/x", headers={"X-Set": "1"}).headers[
        "X-Lbset-By"] == "1 0"
    assert h.get("/app/x", headers={"X-Set": "7"}).headers[
        "X-Lbset-By"] == "7 0"


def test_lbsets_keep_their_own_byrequests_rounds(make_httpd, backends):
    """A quarter of the requests prefer lbset 1 (weights 1:3): each lbset
    splits its own requests by its weights, exactly, and a member of lbset
    1 that was out does not take a run of requests when it comes back."""
    a, b, c, d = backends.start_many("a", "b", "c", "d")
    h = make_httpd("lbx", LBSET_CONF % (a.url, b.url, c.url, d.url))
    stock, pref = mixed(h, 16)
    assert stock == {"a": 24, "b": 24}, stock
    assert pref == {"c": 4, "d": 12}, pref
    set_disabled(h, c, True)
    stock, pref = mixed(h, 12)
    assert pref == {"d": 12} and stock == {"a": 18, "b": 18}, (stock, pref)
    set_disabled(h, c, False)
    stock, pref = mixed(h, 8)
    assert 1 <= pref["c"] <= 3 and pref["c"] + pref["d"] == 8, pref


def test_lbset_by_above_the_scan_limit(make_httpd, backends):
    """34 members in each of two lbsets (picked from schedules, not walks),
    requests alternating between them: every member gets its turn."""
    a, b = backends.start_many("a", "b")
    members = "".join("    BalancerMember %s/s%02d lbset=0\n" % (a.url, i)
                      for i in range(34))
    members += "".join("    BalancerMember %s/m%02d lbset=1\n" % (b.url, i)
                       for i in range(34))
    h = make_httpd("lbx", """
<Proxy balancer://big>
%s    LBXLbsetBy "%%{req:X-Set}"
</Proxy>
ProxyPass /app balancer://big
Header set X-Worker "%%{BALANCER_WORKER_NAME}e"
""" % members)
    stock, pref = collections.Counter(), collections.Counter()
    for _ in range(68):
        stock[h.get("/app/x").headers["X-Worker"]] += 1
        pref[h.get("/app/x", headers={"X-Set": "1"}).headers["X-Worker"]] += 1
    assert len(stock) == 34 and set(stock.values()) == {2}, stock
    assert len(pref) == 34 and set(pref.values()) == {2}, pref


def test_a_member_moved_to_another_lbset_keeps_its_share(make_httpd,
                                                         backends):
    """The manager moves d (weight 3) from lbset 1 to lbset 0: it joins
    lbset 0's round with the credit it had (no run of requests for it
    because lbset 0's clock ran further), and another balancer's rounds
    stay exact."""
    a, b, c, d, e, f = backends.start_many("a", "b", "c", "d", "e", "f")
    h = make_httpd("lbx", LBSET_CONF % (a.url, b.url, c.url, d.url) + """
<Proxy balancer://two>
    BalancerMember %s
    BalancerMember %s
</Proxy>
ProxyPass /two balancer://two
""" % (e.url, f.url))
    stock, pref = mixed(h, 8)
    assert stock == {"a": 12, "b": 12} and pref == {"c": 2, "d": 6}
    manager_edit(h, d, w_ls="0")
    got = served(h, 20, "/app/x")
    assert 3 <= got["a"] <= 5 and 3 <= got["b"] <= 5, got
    assert 10 <= got["d"] <= 14 and sum(got.values()) == 20, got
    assert served(h, 4, "/app/x", headers={"X-Set": "1"}) == {"c": 4}
    assert served(h, 10, "/two/x") == {"e": 5, "f": 5}
