"""The harness itself: real children, per-impl LogLevel, backend behaviour."""
import json
import subprocess
import time

import requests

import lbxharness as H


BODY = """
<Proxy balancer://c1>
    BalancerMember %s
</Proxy>
ProxyPass /app balancer://c1
"""


def test_two_children_share_the_balancer(impl, make_httpd, backends):
    """The event MPM runs >= 2 child processes (pgrep -P), and requests on
    fresh connections reach more than one of them, so the balancer state
    really lives in shared memory."""
    a = backends.start("a")
    h = make_httpd(impl, BODY % a.url)
    out = subprocess.run(["pgrep", "-P", str(h.pid)], capture_output=True,
                         text=True, check=True).stdout.split()
    kids = sorted(int(p) for p in out)
    assert len(kids) >= 2, kids
    assert kids == h.child_pids()
    seen = set()
    for _ in range(200):  # bounded; usually a handful suffices
        r = h.get("/app/x")
        assert r.status_code == 200 and H.backend_of(r) == "a"
        seen.add(h.log_entry(r.test_id)["pid"])
        if len(seen) >= 2:
            break
    assert len(seen) >= 2, "all requests served by one child: %s" % seen


def test_default_loglevel_names_only_loaded_modules(impl, make_httpd):
    """The generated LogLevel parses for each impl; naming a module that is
    not loaded is a config error (why the levels are per impl)."""
    h = make_httpd(impl, start=False)
    p = h.configtest()
    assert p.returncode == 0, p.stderr
    other = {"stock": "lbx", "lbx": "proxy_balancer"}[impl]
    if impl == "lbx":
        # mod_lbx may legitimately register an alias named proxy_balancer;
        # only the stock side is a hard expectation.
        return
    h2 = make_httpd(impl, start=False, loglevel="warn %s:debug" % other)
    p = h2.configtest()
    assert p.returncode != 0
    assert "LogLevel" in p.stderr or "module" in p.stderr.lower()


def test_backend_paths(backends):
    """backend.py: X-Backend on every answer, /status/<code>, /slow, /big,
    /health, /echo; a killed backend refuses connections."""
    b = backends.start("bk")
    r = requests.get(b.url + "/anything", timeout=5)
    assert (r.status_code, r.text, r.headers["X-Backend"]) == (200, "bk", "bk")
    r = requests.get(b.url + "/status/418", timeout=5)
    assert r.status_code == 418 and r.headers["X-Backend"] == "bk"
    r = requests.get(b.url + "/big?bytes=100000", timeout=5)
    assert len(r.content) == 100000
    t0 = time.monotonic()
    r = requests.get(b.url + "/slow?ms=300", timeout=5)
    assert r.status_code == 200 and time.monotonic() - t0 >= 0.29
    assert requests.get(b.url + "/health", timeout=5).text == "ok"
    r = requests.get(b.url + "/echo?q=1", headers={"X-Foo": "bar"}, timeout=5)
    doc = json.loads(r.text)
    assert doc["requestline"] == "GET /echo?q=1 HTTP/1.1"
    assert ["X-Foo", "bar"] in doc["headers"]
    port = b.port
    b.kill()
    assert not H.port_open(port)
    b.start()  # same port again
    assert b.port == port
    assert requests.get(b.url + "/", timeout=5).text == "bk"
