"""bytraffic and bybusyness.

The distribution scenarios compare against stock in the same test: the
``[stock]`` variant runs the scenario on stock alone (the reference, with the
absolute assertions), the ``[lbx]`` variant runs it on stock first and then on
mod_lbx, applies the same absolute assertions to both and checks that
mod_lbx's shares match stock's.
"""
import collections
import concurrent.futures
import threading

import requests

import lbxharness as H
from lbxharness import member


def proxy_body(lbmethod, *members, name="m"):
    return """
ProxyStatus On
<Proxy balancer://%s>
    %s
    ProxySet lbmethod=%s
</Proxy>
ProxyPass /app balancer://%s
""" % (name, "\n    ".join(members), lbmethod, name)


def impls_for(impl):
    """Stock always runs (reference); lbx runs after it in the lbx variant."""
    return ["stock"] if impl == "stock" else ["stock", "lbx"]


def shares(seq, names):
    n = len(seq)
    c = collections.Counter(seq)
    return {k: c[k] / n for k in names}


# --------------------------------------------------------------------------
# bytraffic
# --------------------------------------------------------------------------
def bytraffic_run(which, make_httpd, a, b):
    """Two scenarios on one fresh httpd each; returns the two sequences of
    backend names."""
    # T1, equal weights: from zero traffic the tie goes to the earlier
    # member (a), which serves a 200 kB body; the next 20 small answers
    # (2 kB each, 40 kB together) cannot make b's traffic catch up.
    h = make_httpd(which, proxy_body("bytraffic", member(a), member(b)))
    t1 = [H.backend_of(h.get("/app/big?bytes=200000"))]
    for _ in range(20):
        r = h.get("/app/big?bytes=2000")
        assert r.status_code == 200 and len(r.content) == 2000
        t1.append(H.backend_of(r))
    st = h.balancer_status()["balancer://m"]
    # mod_status prints read bytes in kB: a read the 200 kB body
    rcvd_a = int(st[a.url]["Rcvd"].rstrip("K"))
    assert rcvd_a >= 195, st
    h.stop()

    # T2, loadfactor 3:1 and equal 20 kB bodies: traffic is counted per
    # weight, so a gets three requests for each one of b's.
    h = make_httpd(which, proxy_body("bytraffic", member(a, loadfactor=3),
                                     member(b, loadfactor=1)))
    t2 = []
    for _ in range(40):
        r = h.get("/app/big?bytes=20000")
        assert r.status_code == 200
        t2.append(H.backend_of(r))
    h.stop()
    return t1, t2


def test_bytraffic_prefers_fewer_bytes_per_weight(impl, make_httpd,
                                                  backends):
    a, b = backends.start_many("a", "b")
    got = {w: bytraffic_run(w, make_httpd, a, b) for w in impls_for(impl)}
    for which, (t1, t2) in got.items():
        print("%s: T1 %s  T2 %s (a %d/40)" % (which, "".join(t1),
                                              "".join(t2), t2.count("a")))
        # absolute: fewer requests go to the member that served the large
        # body (it got exactly the first one), and 3:1 weights give 3:1
        # request shares for equal bodies
        assert t1 == ["a"] + ["b"] * 20, (which, "".join(t1))
        assert abs(t2.count("a") - 30) <= 2, (which, "".join(t2))
    if "lbx" in got:
        (s1, s2), (l1, l2) = got["stock"], got["lbx"]
        # deterministic scenarios: the same requests, counted in the same
        # bytes by mod_proxy_http, must give the same shares (+-1 request)
        assert abs(l1.count("a") - s1.count("a")) <= 1, (s1, l1)
        assert abs(l2.count("a") - s2.count("a")) <= 1, ("".join(s2),
                                                         "".join(l2))


# --------------------------------------------------------------------------
# bybusyness
# --------------------------------------------------------------------------
SLOW_MS = 250
LOAD_THREADS = 8
LOAD_REQUESTS = 80


def concurrent_load(h, paths, threads=LOAD_THREADS, timeout=H.TIMEOUT):
    """GET every path with `threads` clients; returns the backend names (or
    the exception / status for failures) in completion order."""
    out = []
    lock = threading.Lock()

    def one(path):
        r = h.get(path, timeout=timeout)
        with lock:
            out.append(H.backend_of(r) if r.status_code == 200
                       else r.status_code)

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        for f in [pool.submit(one, p) for p in paths]:
            f.result(timeout=60)
    return out


def busy_run(which, make_httpd, fast, slow):
    """(bybusyness sequence, byrequests sequence) for 80 requests from 8
    concurrent clients; `slow` answers every request after SLOW_MS."""
    res = []
    for lbmethod in ("bybusyness", "byrequests"):
        h = make_httpd(which, proxy_body(lbmethod, member(fast),
                                         member(slow)))
        res.append(concurrent_load(h, ["/app/x"] * LOAD_REQUESTS))
        # a request's busy count is given back when its pool goes away,
        # just after the client has its answer: poll, do not read once.
        # Stock's count was seen stuck at 1 after the load once (in make
        # check, 2026-12-03; not again in reruns); what this test compares
        # is the share, so only mod_lbx's count must come back to 0.
        if which == "lbx":
            H.deadline_poll(lambda: all(
                st[m.url]["Busy"] == "0" for st in [h.balancer_status()[
                    "balancer://m"]] for m in (fast, slow)), 10,
                what="busy back to 0 after the load")
        h.stop()
    return res


# Tolerances.  bybusyness under real concurrency is timing dependent: the
# slow member gets roughly one request per SLOW_MS while the fast one drains
# everything else, so its share depends on how fast this (2-core, shared)
# box pushes 80 requests through httpd.  Measured on stock (2 cores, 10
# runs): 0.050-0.062 (4-5 of 80; 0.14-0.16 with the slower backends of
# before TCP_NODELAY, also under a CPU hog).  The absolute bound is 0.30, 5x
# the measurement, and lbx must be within 15 percentage points of stock's
# share measured a few seconds earlier on the same box.  byrequests,
# the control, splits 40/40 except for stock's lbstatus updates, which the
# two children make to shared memory without a lock: +-0.15.
BUSY_SLOW_MAX = 0.30
BUSY_TOLERANCE = 0.15
CONTROL_TOLERANCE = 0.15


def test_bybusyness_avoids_the_slow_member(impl, make_httpd, backends):
    fast = backends.start("a")
    slow = backends.start("b", delay_ms=SLOW_MS)
    got = {w: busy_run(w, make_httpd, fast, slow) for w in impls_for(impl)}
    sh = {}
    for which, (busy, control) in got.items():
        assert len(busy) == LOAD_REQUESTS and set(busy) <= {"a", "b"}, busy
        assert len(control) == LOAD_REQUESTS and set(control) <= {"a", "b"}
        sb, sc = shares(busy, "ab")["b"], shares(control, "ab")["b"]
        sh[which] = (sb, sc)
        print("%s: slow member share bybusyness %.3f, byrequests %.3f" % (
            which, sb, sc))
        assert 0 < sb <= BUSY_SLOW_MAX, (which, sb)
        assert abs(sc - 0.5) <= CONTROL_TOLERANCE, (which, sc)
    if "lbx" in sh:
        assert abs(sh["lbx"][0] - sh["stock"][0]) <= BUSY_TOLERANCE, sh
        assert abs(sh["lbx"][1] - sh["stock"][1]) <= CONTROL_TOLERANCE, sh


# --------------------------------------------------------------------------
# busy returns to 0
# --------------------------------------------------------------------------
def test_busy_back_to_zero_after_failures_and_aborts(impl, make_httpd,
                                                     backends):
    """bybusyness under concurrent load that mixes plain requests, backend
    500s, client aborts (client timeout 0.2 s on /slow?ms=2000) and a member
    killed mid-load (connect failures, failover): afterwards every member's
    busy counter drains back to 0."""
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, proxy_body("bybusyness", member(a), member(b),
                                    member(c, retry=600)))
    paths = []
    for i in range(60):
        paths.append("/app/status/500" if i % 6 == 1 else
                     "/app/slow?ms=2000" if i % 6 == 4 else
                     "/app/slow?ms=%d" % (20 + (i % 5) * 20))
    outcome = collections.Counter()
    done = [0]
    lock = threading.Lock()

    def one(path):
        aborting = "ms=2000" in path
        try:
            r = h.get(path, timeout=0.2 if aborting else H.TIMEOUT)
            key = r.status_code
        except requests.exceptions.Timeout:
            assert aborting, path
            key = "aborted"
        with lock:
            outcome[key] += 1
            done[0] += 1
            if done[0] == 20:  # kill c mid-load
                c.kill()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for f in [pool.submit(one, p) for p in paths]:
            f.result(timeout=60)
    assert not c.running
    print("outcome:", dict(outcome))
    # every kind of ending happened; a slow request in flight on c when it
    # was killed ends in 502 before the client gives up
    assert outcome["aborted"] >= 5, outcome
    assert set(outcome) <= {200, 500, 502, "aborted"}, outcome
    assert outcome[500] >= 1 and outcome[200] >= 1, outcome
    assert sum(outcome.values()) == 60, outcome

    def all_zero():
        st = h.balancer_status()["balancer://m"]
        return all(v["Busy"] == "0" for v in st.values()) and st
    # the aborted requests still wait up to 2 s for their backend answer
    st = H.deadline_poll(all_zero, 20, what="Busy 0 on every member")
    assert set(st) == {a.url, b.url, c.url}, st
    # c was killed: if anything was sent to it afterwards it is in error
    # state, and its counter still drained
    elected = sum(int(v["Elected"]) for v in st.values())
    assert elected >= 60, st
