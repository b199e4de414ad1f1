"""Recovery, waiting and error marking on the request path."""
import concurrent.futures
import time

import lbxharness as H
from lbxharness import member


def body(*members, proxyset=""):
    return """
ProxyStatus On
<Proxy balancer://r>
    %s
    %s
</Proxy>
ProxyPass /app balancer://r
""" % ("\n    ".join(members), proxyset)


def status_of(h, backend):
    return h.member_status("balancer://r", backend)


def test_forcerecovery_on_revives_all_members_at_once(impl, make_httpd,
                                                      backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, body(member(a, retry=600), member(b, retry=600)))
    a.kill()
    b.kill()
    assert h.get("/app/x").status_code == 503
    assert "Err" in status_of(h, a) and "Err" in status_of(h, b)
    backends.start("a", port=a.port)
    # retry=600 has not elapsed: only forced recovery can bring them back.
    assert h.get("/app/x").status_code == 200


def test_forcerecovery_off_keeps_them_out(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, body(member(a, retry=600), member(b, retry=600),
                              proxyset="ProxySet forcerecovery=Off"))
    a.kill()
    b.kill()
    assert h.get("/app/x").status_code == 503
    backends.start("a", port=a.port)
    backends.start("b", port=b.port)
    for _ in range(4):
        assert h.get("/app/x").status_code == 503
    assert "Err" in status_of(h, a)


def test_timeout_waits_before_503(impl, make_httpd, backends):
    """timeout=2 with every member disabled: the 503 comes only after the
    balancer waited (a lower bound, so a slow machine cannot break it)."""
    a = backends.start("a")
    h = make_httpd(impl, body(member(a, status="+D"),
                              proxyset="ProxySet timeout=2"))
    t0 = time.monotonic()
    r = h.get("/app/x")
    waited = time.monotonic() - t0
    assert r.status_code == 503
    assert waited >= 1.8, waited
    h.wait_error_log("All workers are in error state")


def test_ignore_errors_member_never_fails_over(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, body(member(a, status="+I"), member(b)))
    a.kill()
    codes = [h.get("/app/x").status_code for _ in range(6)]
    # a's share (every other request) fails with 503 and is never retried
    # elsewhere; b's share succeeds; a never shows Err.
    assert codes.count(503) == 3 and codes.count(200) == 3, codes
    assert "Err" not in status_of(h, a)
    assert "Ign" in status_of(h, a)


def test_failontimeout_marks_member_in_error(impl, make_httpd, backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, body(member(a, timeout=1), member(b, timeout=1),
                              proxyset="ProxySet failontimeout=On"))
    r = h.get("/app/slow?ms=3000")
    # mod_proxy_http answers a status-line timeout with 502 or 504.
    assert r.status_code in (502, 504)
    errored = [m for m in (a, b) if "Err" in status_of(h, m)]
    assert len(errored) == 1, (status_of(h, a), status_of(h, b))
    h.wait_error_log("failontimeout")
    # The next requests avoid it.
    other = b if errored[0] is a else a
    for _ in range(4):
        assert H.backend_of(h.get("/app/x")) == other.name


def test_busy_returns_to_zero_after_concurrent_load(impl, make_httpd,
                                                    backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, body(member(a), member(b)))

    def one(i):
        return h.get("/app/slow?ms=%d" % (50 + (i % 5) * 20)).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(one, range(40)))
    assert codes == [200] * 40
    st = h.balancer_status()["balancer://r"]
    assert st[a.url]["Busy"].strip() == "0" and st[b.url]["Busy"].strip() == "0", st
    elected = int(st[a.url]["Elected"]) + int(st[b.url]["Elected"])
    assert elected == 40, st
