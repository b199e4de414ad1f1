"""Server-level configuration mod_lbx must live with: the stock mutex type,
BalancerGrowth, BalancerInherit and vhosts."""
import lbxharness as H
from lbxharness import member


def balancer(name, *backends):
    return "<Proxy balancer://%s>\n%s\n</Proxy>\n" % (
        name, "\n".join("    " + member(b) for b in backends))


def test_stock_mutex_directive_is_accepted(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, "Mutex sysvsem proxy-balancer-shm\nBalancerGrowth 3\n"
                   + balancer("m", a, b) + "ProxyPass /app balancer://m\n")
    seen = {H.backend_of(h.get("/app/x")) for _ in range(4)}
    assert seen == {"a", "b"}


def vhosts(inherit, main_balancer, vhost_body):
    return """
BalancerInherit %s
%s
<VirtualHost 127.0.0.1:@PORT@>
    ServerName v1.example
%s
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName v2.example
    ProxyPass /app balancer://main
</VirtualHost>
""" % (inherit, main_balancer, vhost_body)


def test_vhosts_use_inherited_balancers(impl, make_httpd, backends):
    """Each vhost with proxy directives of its own gets a copy of the main
    server's balancers in its own shared-memory slot; both serve."""
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, vhosts("On", balancer("main", a, b),
                                balancer("own", c)
                                + "    ProxyPass /own balancer://own\n"
                                + "    ProxyPass /app balancer://main\n"))
    for host in ("v1.example", "v2.example"):
        seen = {H.backend_of(h.get("/app/x", headers={"Host": host}))
                for _ in range(4)}
        assert seen == {"a", "b"}, (host, seen)
    r = h.get("/own/x", headers={"Host": "v1.example"})
    assert H.backend_of(r) == "c"
    # The vhost's own balancer is not visible from the other vhost.
    assert h.get("/own/x", headers={"Host": "v2.example"}).status_code == 404


def test_balancer_inherit_off_hides_main_balancers(impl, make_httpd,
                                                   backends):
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, vhosts("On", balancer("main", a, b),
                                "    BalancerInherit Off\n    ProxyPassInherit Off\n"
                                + balancer("own", c)
                                + "    ProxyPass /app balancer://main\n"))
    # v1 inherits neither balancers nor ProxyPass (both are needed to stop
    # the copy); its ProxyPass defined an empty balancer of that name.
    r = h.get("/app/x", headers={"Host": "v1.example"})
    assert r.status_code == 503
    h.wait_error_log("No workers in balancer")
    # v2 inherits.
    assert H.backend_of(h.get("/app/x", headers={"Host": "v2.example"})) \
        in ("a", "b")
