"""hcexpr= with an expression written in place, not a ProxyHCExpr name
(mod_lbx only: stock refuses it as "Unknown health check condition
expr").  mod_proxy splits BalancerMember's arguments at spaces unless a
whole argument is quoted, so the expression arrives as
"hcexpr=%{REQUEST_STATUS} =~ /^2/" (quoted as a whole) or without spaces."""
import test_hcheck as T

INLINE = '"hcexpr=%{REQUEST_STATUS} =~ /^2/"'


def test_inline_expression_checks(make_httpd, backends):
    """Both spellings check like a named expression: the member passes
    while /health answers 200, gets HcFl at 500, and is back at 200."""
    a, b = backends.start_many("a", "b")
    h = T.hc_httpd(make_httpd, "lbx", T.balancer(
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=%s "
        "hcfails=1 hcpasses=1 %s" % (a.url, T.FAST, INLINE),
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=%s "
        "hcfails=1 hcpasses=1 hcexpr=%%{REQUEST_STATUS}=~/^2/"
        % (b.url, T.FAST)))
    for be in (a, b):
        T.wait_hits(be, 2, 0, 10)
        assert "HcFl" not in T.status_of(h, be)
        T.set_health(be, status=500)
        T.wait_hcfl(h, be, True, 10)
        T.set_health(be, status=200)
        T.wait_hcfl(h, be, False, 10)


def test_names_come_first_and_same_text_shares_a_name(make_httpd, backends):
    """"true" is a valid expression and here also the name of one that
    never holds: the name wins, so that member fails its checks.  Two
    members with the same inline text share one generated name, which the
    manager's expression table shows."""
    a, b, c = backends.start_many("a", "b", "c")
    h = T.hc_httpd(make_httpd, "lbx", T.balancer(
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=%s "
        "hcfails=1 hcexpr=true" % (c.url, T.FAST),
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=%s %s"
        % (a.url, T.FAST, INLINE),
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=%s %s"
        % (b.url, T.FAST, INLINE),
        top="ProxyHCExpr true {%{REQUEST_STATUS} == 599}") + """
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
""")
    T.wait_hcfl(h, c, True, 10)
    T.wait_hits(a, 2, 0, 10)
    assert "HcFl" not in T.status_of(h, a)
    page = h.get("/balancer-manager").text
    assert page.count("inline-1") >= 3, page  # its table row + 2 members
    assert "inline-2" not in page


def test_bad_inline_expression_fails_startup(make_httpd):
    h = T.hc_httpd(make_httpd, "lbx", """
<Proxy balancer://hc>
    BalancerMember http://127.0.0.1:9 hcmethod=GET "hcexpr=%{REQUEST_STATUS} ==="
</Proxy>
""", start=False)
    p = h.configtest()
    out = p.stdout + p.stderr
    assert p.returncode != 0, out
    assert "Unknown health check condition expr: %{REQUEST_STATUS} ===" \
        " (not a ProxyHCExpr name, nor an expression:" in out, out[-2000:]
