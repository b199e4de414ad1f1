"""The six BALANCER_* variables, by value."""
import lbxharness as H
from lbxharness import member


def env_body(a, b):
    return """
Header always set X-B-Name "%{{BALANCER_NAME}}e"
Header always set X-B-Worker "%{{BALANCER_WORKER_NAME}}e"
Header always set X-B-Route "%{{BALANCER_WORKER_ROUTE}}e"
<Proxy balancer://EnvTest>
    {a} route=r1
    {b} route=r2
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /env balancer://EnvTest

<Proxy balancer://plain>
    {a}
</Proxy>
ProxyPass /plain balancer://plain

<Proxy balancer://sub>
    BalancerMember {a_url}/sub/dir route=s1
</Proxy>
ProxyPass /sub balancer://sub
""".format(a=member(a), b=member(b), a_url=a.url)


def unset(e, *names):
    return all(e[n] == "-" for n in names)


def test_sticky_hit(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, env_body(a, b))
    for cookie, want, url, route in (("ROUTEID=x.r1", "a", a.url, "r1"),
                                     ("ROUTEID=x.r2", "b", b.url, "r2")):
        r, e = h.get_logged("/env/x", headers={"Cookie": cookie})
        assert (r.status_code, H.backend_of(r)) == (200, want)
        # the balancer name is lower-cased
        assert e["BALANCER_NAME"] == "balancer://envtest"
        assert e["BALANCER_WORKER_NAME"] == url
        assert e["BALANCER_WORKER_ROUTE"] == route
        assert e["BALANCER_SESSION_STICKY"] == "ROUTEID"
        assert e["BALANCER_SESSION_ROUTE"] == route
        assert e["BALANCER_ROUTE_CHANGED"] == "-"
        assert r.headers["X-B-Name"] == "balancer://envtest"
        assert r.headers["X-B-Worker"] == url
        assert r.headers["X-B-Route"] == route


def test_no_session_sets_route_changed(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, env_body(a, b))
    r, e = h.get_logged("/env/x")
    assert r.status_code == 200
    url = {"a": a.url, "b": b.url}[H.backend_of(r)]
    route = {"a": "r1", "b": "r2"}[H.backend_of(r)]
    assert e["BALANCER_NAME"] == "balancer://envtest"
    assert e["BALANCER_WORKER_NAME"] == url
    assert e["BALANCER_WORKER_ROUTE"] == route
    assert unset(e, "BALANCER_SESSION_STICKY", "BALANCER_SESSION_ROUTE")
    assert e["BALANCER_ROUTE_CHANGED"] == "1"


def test_without_stickysession(impl, make_httpd, backends):
    """No stickysession: ROUTE_CHANGED is never set; a member without route
    exports an empty (set, but empty) BALANCER_WORKER_ROUTE."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, env_body(a, b))
    r, e = h.get_logged("/plain/x", headers={"Cookie": "ROUTEID=x.r1"})
    assert (r.status_code, H.backend_of(r)) == (200, "a")
    assert e["BALANCER_NAME"] == "balancer://plain"
    assert e["BALANCER_WORKER_NAME"] == a.url
    assert e["BALANCER_WORKER_ROUTE"] == ""
    assert unset(e, "BALANCER_SESSION_STICKY", "BALANCER_SESSION_ROUTE",
                 "BALANCER_ROUTE_CHANGED")
    assert r.headers["X-B-Route"] == ""


def test_member_url_with_path(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, env_body(a, b))
    r, e = h.get_logged("/sub/echo")
    assert r.status_code == 200
    assert e["BALANCER_WORKER_NAME"] == a.url + "/sub/dir"
    assert e["BALANCER_WORKER_ROUTE"] == "s1"
    assert r.json()["path"] == "/sub/dir/echo"


def test_empty_route_after_separator(impl, make_httpd, backends):
    """'abc.' carries an empty route: balanced normally, but the session
    variables are set (SESSION_ROUTE empty) -- a stock quirk mod_lbx keeps."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, env_body(a, b))
    r, e = h.get_logged("/env/x", headers={"Cookie": "ROUTEID=abc."})
    assert r.status_code == 200
    assert e["BALANCER_SESSION_STICKY"] == "ROUTEID"
    assert e["BALANCER_SESSION_ROUTE"] == ""
    assert e["BALANCER_ROUTE_CHANGED"] == "1"


def test_values_after_failover(impl, make_httpd, backends):
    """Sticky route to a dead member, no nofailover: the request fails over,
    the worker variables name the member that served, the session ones keep
    the client's route, ROUTE_CHANGED=1."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, env_body(a, b))
    a.kill()
    for i in range(3):
        r, e = h.get_logged("/env/x", headers={"Cookie": "ROUTEID=x.r1"})
        assert (r.status_code, H.backend_of(r)) == (200, "b"), i
        assert e["BALANCER_WORKER_NAME"] == b.url
        assert e["BALANCER_WORKER_ROUTE"] == "r2"
        assert e["BALANCER_SESSION_STICKY"] == "ROUTEID"
        assert e["BALANCER_SESSION_ROUTE"] == "r1"
        assert e["BALANCER_ROUTE_CHANGED"] == "1"
        assert r.headers["X-B-Worker"] == b.url
