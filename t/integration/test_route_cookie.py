"""mod_lbx's own route cookie (LBXRouteCookie): no mod_headers line, no
route= on the members; the balancer sets the sticky cookie when a client's
route changes, with the configured attributes, and reads it back."""
import collections
import re

import pytest
import requests

import lbxharness as H
from lbxharness import member
import test_manager as M

MANAGER = """
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
"""


def config(*members, cookie="LBXRouteCookie ROUTEID maxage=600",
           extra=""):
    return """
<Proxy balancer://ck>
    %s
    %s
    %s
</Proxy>
ProxyPass /app balancer://ck
""" % ("\n    ".join(members), cookie, extra) + MANAGER


def get(h, jar, path="/app/x"):
    """A browser-like request: the jar's cookies, a new connection each
    time (so both children answer); the jar takes what it is sent."""
    r = h.get(path, cookies=jar, headers={"Connection": "close"})
    jar.update(r.cookies)
    return r


def test_a_client_sticks_and_moves_once(make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd("lbx", config(member(a), member(b),
                                 cookie="LBXRouteCookie ROUTEID path=/app "
                                        "maxage=600 samesite=strict"))
    jar = requests.cookies.RequestsCookieJar()
    first = get(h, jar)
    assert first.status_code == 200
    header = first.headers["Set-Cookie"]
    assert re.fullmatch(r"ROUTEID=\.r[a-z2-7]{12}; Path=/app; Max-Age=600; "
                        r"SameSite=Strict; HttpOnly", header), header
    home = first.headers["X-Backend"]
    pids, n = set(), 0
    # at least 20 requests, and until both children have read the cookie
    # (each child's listener takes new connections as it comes; bounded)
    while n < 20 or (len(pids) < 2 and n < 200):
        r = get(h, jar)
        assert r.headers["X-Backend"] == home, r.headers
        assert "Set-Cookie" not in r.headers, r.headers
        pids.add(h.log_entry(r.test_id)["pid"])
        n += 1
    assert len(pids) >= 2, pids
    # disable its member: it moves, and gets a new cookie once
    moved_to = b if home == "a" else a
    m = M.Manager(h)
    m.set_flag("ck", (a if home == "a" else b).url, "D", True)
    r = get(h, jar)
    assert r.headers["X-Backend"] == moved_to.name
    assert "Set-Cookie" in r.headers and r.headers["Set-Cookie"] != header
    for _ in range(5):
        r = get(h, jar)
        assert r.headers["X-Backend"] == moved_to.name
        assert "Set-Cookie" not in r.headers


def test_clients_spread_over_members(make_httpd, backends):
    """New clients still go by the lbmethod (byrequests: one each)."""
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd("lbx", config(member(a), member(b), member(c)))
    homes = collections.Counter(
        get(h, requests.cookies.RequestsCookieJar()).headers["X-Backend"]
        for _ in range(30))
    assert homes == {"a": 10, "b": 10, "c": 10}, homes


def test_generated_routes_are_stable_across_front_ends(make_httpd, backends):
    a, b = backends.start_many("a", "b")
    conf = config(member(a), member(b))
    h1, h2 = make_httpd("lbx", conf), make_httpd("lbx", conf)
    jar = requests.cookies.RequestsCookieJar()
    home = get(h1, jar).headers["X-Backend"]
    for _ in range(5):
        assert get(h2, jar).headers["X-Backend"] == home


def test_no_duplicate_when_the_member_sets_the_cookie(make_httpd, backends):
    a, = backends.start_many("a")
    h = make_httpd("lbx", config(member(a)))
    r = requests.get(h.base_url + "/app/setcookie/ROUTEID", timeout=H.TIMEOUT)
    assert r.status_code == 200
    assert r.raw.headers.getlist("Set-Cookie") == [
        "ROUTEID=a.frombackend; Path=/"], r.raw.headers
    r = requests.get(h.base_url + "/app/setcookie/OTHER", timeout=H.TIMEOUT)
    got = r.raw.headers.getlist("Set-Cookie")
    assert len(got) == 2 and any(v.startswith("ROUTEID=.r") for v in got), got


def test_works_with_stickysession_alternatives(make_httpd, backends):
    """stickysession=ROUTEID|jsessionid: the cookie named ROUTEID, and a
    ;jsessionid=x.route URL parameter still routes."""
    a, b = backends.start_many("a", "b")
    h = make_httpd("lbx", config(member(a, route="ra"), member(b, route="rb"),
                                 cookie="LBXRouteCookie on",
                                 extra="ProxySet stickysession=ROUTEID|"
                                       "jsessionid"))
    jar = requests.cookies.RequestsCookieJar()
    r = get(h, jar)
    assert r.headers["Set-Cookie"].startswith("ROUTEID=.r")
    r = requests.get(h.base_url + "/app/x;jsessionid=s.rb", timeout=H.TIMEOUT)
    assert r.headers["X-Backend"] == "b"


@pytest.mark.parametrize("cookie", ["ROUTEID=.x", "ROUTEID=.\x01",
                                    "ROUTEID=." + "z" * 10000,
                                    "ROUTEID=.\xff\xfe"])
def test_hostile_cookies_change_nothing(cookie, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd("lbx", config(member(a), member(b)))
    status, headers, _, _ = H.raw_get(h.port, "/app/x",
                                      headers={"Cookie": cookie})
    # httpd itself refuses control characters in a header (400); anything
    # that reaches the balancer is an unknown route: a new client
    assert status == 400 or headers.get("set-cookie", "").startswith(
        "ROUTEID=.r"), (status, headers)
    assert requests.get(h.base_url + "/app/x",
                        timeout=H.TIMEOUT).status_code == 200


BAD = {
    "LBXRouteCookie a;b": "is not a cookie name",
    "LBXRouteCookie ROUTEID path=/a;b": "LBXRouteCookie path must be",
    "LBXRouteCookie ROUTEID maxage=-1": "LBXRouteCookie maxage must be",
    "LBXRouteCookie ROUTEID samesite=sometimes": "samesite must be",
    "LBXRouteCookie ROUTEID samesite=none secure=off": "needs secure=on",
    "LBXRouteCookie ROUTEID flavour=mint": "unknown setting 'flavour'",
}


@pytest.mark.parametrize("line", sorted(BAD))
def test_bad_values_fail_startup(line, make_httpd):
    h = make_httpd("lbx", config("BalancerMember http://127.0.0.1:8",
                                 cookie=line), start=False)
    out = h.config_error()
    assert BAD[line] in out, out[-2000:]


def test_a_different_stickysession_is_refused(make_httpd):
    h = make_httpd("lbx", config("BalancerMember http://127.0.0.1:8",
                                 cookie="LBXRouteCookie ROUTEID",
                                 extra="ProxySet stickysession=JSESSIONID"),
                   start=False)
    h.write_config()
    p = h.ctl("-k", "start")
    # The refusal comes from the detached second configuration pass: it
    # may reach the log after `-k start` returned.
    H.deadline_poll(lambda: "LBX20060" in h.error_log() + p.stdout
                    + p.stderr, 10, what="LBX20060 in the error log")
    H.deadline_poll(lambda: not h.pid_path.exists()
                    or not H.pid_alive(int(h.pid_path.read_text() or 0)), 10,
                    what="httpd gone")


def test_the_section_name_is_taken_as_mod_proxy_takes_it(make_httpd,
                                                         backends):
    """<Proxy balancer://CK/> is the balancer balancer://ck: its LBX*
    directives apply (they were ignored before)."""
    a, = backends.start_many("a")
    h = make_httpd("lbx", """
<Proxy balancer://CK/>
    BalancerMember %s
    LBXRouteCookie ROUTEID
</Proxy>
ProxyPass /app balancer://ck
""" % a.url)
    r = h.get("/app/x")
    assert r.status_code == 200
    assert r.headers.get("Set-Cookie", "").startswith("ROUTEID=.r"), r.headers
