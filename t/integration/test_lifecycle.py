"""Server lifecycle and integration with the rest of httpd: graceful
restarts, co-loading refusal, balancer-path status codes, mod_status."""
import re
import threading

import pytest
import requests

import lbxharness as H
from lbxharness import member

# Child start-up failures (stock AH01205/AH01206) and any crash.
BAD_LOG = re.compile(r"AH01205|AH01206|\[[a-z_]+:(emerg|alert|crit)\]|"
                     r"exit signal|slotmem_attach failed")


def two_member_body(a, b, extra=""):
    return """
ProxyStatus On
<Proxy balancer://g>
    %s
    %s
    %s
</Proxy>
ProxyPass /g balancer://g
""" % (member(a, loadfactor=1), member(b, loadfactor=2), extra)


class Load(threading.Thread):
    """Background client: sequential requests on fresh connections until
    stopped or `limit` requests were made; records every failure."""

    def __init__(self, url, limit=3000):
        super().__init__(daemon=True)
        self.url, self.limit = url, limit
        self.stop_ev = threading.Event()
        self.ok = 0
        self.failures = []

    def run(self):
        for _ in range(self.limit):
            if self.stop_ev.is_set():
                return
            try:
                r = requests.get(self.url, timeout=H.TIMEOUT)
                if r.status_code == 200 and r.headers.get("X-Backend"):
                    self.ok += 1
                else:
                    self.failures.append(r.status_code)
            except requests.RequestException as e:
                self.failures.append(repr(e))

    def stop(self):
        self.stop_ev.set()
        self.join(timeout=30)


def test_graceful_restart_keeps_serving(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, two_member_body(a, b))
    for _ in range(10):
        assert h.get("/g/x").status_code == 200
    gen0 = h.generation()
    load = Load(h.base_url + "/g/x")
    load.start()
    try:
        H.deadline_poll(lambda: load.ok >= 5, 10, what="load running")
        for _ in range(2):
            h.graceful()
            n = load.ok
            H.deadline_poll(lambda: load.ok >= n + 5, 10,
                            what="requests after graceful")
    finally:
        load.stop()
    assert h.generation() == gen0 + 2
    assert load.failures == [], load.failures[:10]
    assert load.ok >= 15
    for _ in range(10):
        r = h.get("/g/x")
        assert r.status_code == 200 and H.backend_of(r) in ("a", "b")
    # the shm of the new generation is attached by the new children and
    # every in-flight counter went back to zero
    H.deadline_poll(lambda: all(
        w["Busy"] == "0" for w in h.balancer_status()["balancer://g"].values()),
        10, what="busy back to 0")
    bad = [ln for ln in h.error_log().splitlines() if BAD_LOG.search(ln)]
    assert bad == []


def test_graceful_restart_resets_runtime_state(impl, make_httpd, backends):
    """Without BalancerPersist, runtime state is lost on graceful restart:
    an errored member is Ok again and byrequests starts over."""
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, two_member_body(a, b))
    with requests.Session() as s:
        seq = [H.backend_of(h.get("/g/x", session=s)) for _ in range(4)]
    assert seq == ["b", "a", "b", "b"]
    a.kill()
    for _ in range(6):
        assert h.get("/g/x").status_code == 200
    assert "Err" in h.member_status("balancer://g", a)
    a.start()
    h.graceful()
    assert h.member_status("balancer://g", a) == "Init Ok "
    with requests.Session() as s:
        seq = [H.backend_of(h.get("/g/x", session=s)) for _ in range(6)]
    assert seq == list("babbab")


COLOAD = {
    # case id -> (extra stock modules, substring naming the stock module)
    "balancer": (["proxy_balancer_module mod_proxy_balancer.so"],
                 "mod_proxy_balancer"),
    "balancer_and_lbmethod": (
        ["proxy_balancer_module mod_proxy_balancer.so",
         "lbmethod_byrequests_module mod_lbmethod_byrequests.so"],
        "mod_proxy_balancer"),
    "lbmethod": (["lbmethod_byrequests_module mod_lbmethod_byrequests.so"],
                 "mod_lbmethod_byrequests"),
    "hcheck": (["proxy_hcheck_module mod_proxy_hcheck.so"],
               "mod_proxy_hcheck"),
}


@pytest.mark.parametrize("where", ["first", "last"])
@pytest.mark.parametrize("case", sorted(COLOAD))
def test_coload_refused(case, where, make_httpd, backends):
    """mod_lbx loaded together with a stock module it replaces must refuse
    to start and say which LoadModule line to remove.
    mod_lbx only: stock has nothing to refuse."""
    impl = "lbx"
    extra, needle = COLOAD[case]
    a = backends.start("a")
    stock_lines = ["LoadModule %s %s" % (e.split()[0], H.MODDIR / e.split()[1])
                   for e in extra]
    lbx_line = ["LoadModule lbx_module %s" % H.LBX_SO]
    base = ["LoadModule %s %s" % (sym, H.MODDIR / so)
            for sym, so in H.BASE_MODULES]
    mods = base + (lbx_line + stock_lines if where == "first"
                   else stock_lines + lbx_line)
    h = make_httpd(impl, """
<Proxy balancer://c>
    %s
</Proxy>
ProxyPass /c balancer://c
""" % member(a), start=False, modules=mods)
    t = h.configtest()
    texts = [t.stdout, t.stderr]
    refused = t.returncode != 0
    if not refused:
        p = h.start(check=False)
        texts += [p.stdout, p.stderr]
        if p.returncode != 0:
            refused = True
        else:
            # refused after detaching: the daemon must be gone
            def down():
                pid = h._read_pid()
                return pid is None or not H.pid_alive(pid)
            try:
                H.deadline_poll(down, 10, what="refusing httpd to exit")
                refused = True
            except H.HarnessError:
                refused = False
        texts.append(h.error_log())
    text = "\n".join(texts)
    assert refused, "httpd accepted mod_lbx together with %s" % needle
    assert needle in text, text[-3000:]
    assert "LoadModule" in text, text[-3000:]


def test_balancer_path_status_codes(impl, make_httpd, backends):
    """Undefined balancer via RewriteRule [P] -> 500 (mod_proxy AH01144);
    a balancer without members -> 503 "No workers in balancer";
    an unparsable balancer URL -> 400 "error parsing URL".  Port and user info are dropped from balancer URLs."""
    a = backends.start("a")
    h = make_httpd(impl, """
<Proxy balancer://c1>
    %s
</Proxy>
ProxyPass /ok balancer://c1
ProxyPass /empty balancer://empty
RewriteEngine On
RewriteRule ^/undef/(.*)$ balancer://nosuch/$1 [P]
RewriteRule ^/bigport/(.*)$ balancer://c1:70000/$1 [P]
RewriteRule ^/badv6/(.*)$ balancer://[::1/$1 [P]
RewriteRule ^/port/(.*)$ balancer://c1:80/$1 [P]
RewriteRule ^/user/(.*)$ balancer://u:p@C1/$1 [P]
RewriteRule ^/alpha/(.*)$ balancer://c1:port/$1 [P]
""" % member(a))
    r = h.get("/ok/x")
    assert (r.status_code, H.backend_of(r)) == (200, "a")
    r = h.get("/undef/x")
    assert r.status_code == 500
    h.wait_error_log(r"AH01144: No protocol handler was valid for the URL "
                     r"/undef/x")
    r = h.get("/empty/x")
    assert r.status_code == 503
    h.wait_error_log(r"balancer://empty: No workers in balancer")
    for path in ("/bigport/x", "/badv6/x"):
        r = h.get(path)
        assert r.status_code == 400, path
    h.wait_error_log(r"error parsing URL //c1:70000")
    h.wait_error_log(r"error parsing URL //\[::1")
    for path in ("/port/echo", "/user/echo"):
        r = h.get(path)
        assert (r.status_code, H.backend_of(r)) == (200, "a"), path
        assert r.json()["path"] == "/echo"
    # observed on stock 2.4.71: a non-numeric port is not a parse error;
    # "c1:port" is then an unknown balancer -> mod_proxy's 500
    r = h.get("/alpha/x")
    assert r.status_code == 500
    h.wait_error_log(r"AH01144: No protocol handler was valid for the URL "
                     r"/alpha/x")


def test_mod_status_balancer_table(impl, make_httpd, backends):
    """ProxyStatus On: mod_proxy's status hook prints the balancer and its
    members from the balancer's structures."""
    a, b, c, d, e = backends.start_many("a", "b", "c", "d", "e")
    h = make_httpd(impl, """
ProxyStatus On
<Proxy balancer://st>
    %s route=r1
    %s route=r2 loadfactor=2
    %s status=+H
    %s status=+D
    %s status=+N
    ProxySet stickysession=ROUTEID|routeid
</Proxy>
ProxyPass /st balancer://st
""" % (member(a), member(b), member(c), member(d), member(e)))
    for _ in range(3):
        assert h.get("/st/x").status_code == 200
    html = requests.get(h.base_url + "/server-status", timeout=10).text
    assert "Proxy LoadBalancer Status for balancer://st" in html
    assert "<td>ROUTEID | routeid</td><td>0</td><td>byrequests</td>" in html
    rows = re.findall(r"<tr>\n<td>http</td><td>127.0.0.1</td><td>([^<]*)</td>"
                      r"<td>([^<]*)</td><td>[^<]*</td><td>([^<]*)</td>", html)
    assert rows == [("Init Ok ", "r1", "1.00"), ("Init Ok ", "r2", "2.00"),
                    ("Init Stby Ok ", "", "1.00"), ("Init Dis ", "", "1.00"),
                    ("Init Drn Ok ", "", "1.00")], rows
    st = H.deadline_poll(
        lambda: (lambda s: s if sum(int(w["Elected"]) for w in s.values()) == 3
                 else None)(h.balancer_status().get("balancer://st", {})),
        10, what="3 elections")
    assert list(st) == [a.url, b.url, c.url, d.url, e.url]
    assert [w["Elected"] for w in st.values()] == ["1", "2", "0", "0", "0"]
    assert all(w["Busy"] == "0" for w in st.values())
