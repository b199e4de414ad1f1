"""Pools above the engine's scan limit (32 candidates): mod_lbx then picks
from indexes (byrequests' round as a schedule, bybusyness's first idle
member in that order, bytraffic's heap) instead of walking every member.
Each scenario runs on stock too: the picks must be the ones stock makes.

The 40 members are paths of one backend (/m01 ... /m40, all the same
width: mod_proxy matches workers by URL prefix), so the backend's /echo
tells which member a request went through."""
import concurrent.futures
import time

import lbxharness as H

MEMBERS = 40


def pool_body(backend, lbmethod, loadfactor=lambda i: 1):
    members = "\n    ".join(
        "BalancerMember %s/m%02d loadfactor=%d" % (backend.url, i + 1,
                                                   loadfactor(i))
        for i in range(MEMBERS))
    return """
ProxyStatus On
<Proxy balancer://big>
    %s
    ProxySet lbmethod=%s
</Proxy>
ProxyPass /app balancer://big
""" % (members, lbmethod)


def member_of(h, path="/app/echo"):
    r = h.get(path)
    assert r.status_code == 200, r.status_code
    return int(r.json()["path"].split("/")[1][1:]) - 1


def smooth_round_robin(weights, picks):
    """Stock byrequests from zero credits: every member earns its weight,
    the most credit wins (the first on a tie) and pays the total."""
    credit = [0] * len(weights)
    out = []
    for _ in range(picks):
        credit = [c + w for c, w in zip(credit, weights)]
        best = max(range(len(weights)), key=lambda i: (credit[i], -i))
        credit[best] -= sum(weights)
        out.append(best)
    return out


def test_byrequests_large_pool_follows_stocks_sequence(impl, make_httpd,
                                                       backends):
    """Weights 1, 2, 3 repeating over 40 members; one new connection per
    request, so both children pick: the sequence is stock's, request by
    request, for one full round (80 picks) and then some."""
    be = backends.start("be")
    weight = lambda i: i % 3 + 1
    h = make_httpd(impl, pool_body(be, "byrequests", weight))
    picks = 100
    got = [member_of(h) for _ in range(picks)]
    assert got == smooth_round_robin([weight(i) for i in range(MEMBERS)],
                                     picks)
    assert len(set(h.child_pids())) >= 2


def busy_counts(h, be):
    st = h.balancer_status()["balancer://big"]
    return [int(st["%s/m%02d" % (be.url, i + 1)]["Busy"])
            for i in range(MEMBERS)]


def test_bybusyness_large_pool_skips_members_in_flight(impl, make_httpd,
                                                       backends):
    """Five slow requests, started one after the other, hold members 1-5
    (all idle: byrequests' order decides); the fast requests made meanwhile
    go to idle members only, in that order."""
    be = backends.start("be")
    h = make_httpd(impl, pool_body(be, "bybusyness"))
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        slow = []
        for i in range(5):
            slow.append(pool.submit(h.get, "/app/slow?ms=4000"))
            deadline = time.monotonic() + 10
            while sum(busy_counts(h, be)) < i + 1:
                assert time.monotonic() < deadline, busy_counts(h, be)
                time.sleep(0.02)
        assert busy_counts(h, be)[:6] == [1, 1, 1, 1, 1, 0]
        fast = [member_of(h) for _ in range(10)]
        assert all(f.result().status_code == 200 for f in slow)
    assert fast == list(range(5, 15)), fast


def test_bytraffic_large_pool_goes_to_the_fewest_bytes(impl, make_httpd,
                                                       backends):
    """Equal answers: each member once, in order (ties go to the earlier
    member); then one member is given a big answer and the next round
    goes round it."""
    be = backends.start("be")
    h = make_httpd(impl, pool_body(be, "bytraffic"))
    first = [member_of(h) for _ in range(MEMBERS)]
    assert first == list(range(MEMBERS))
    r = h.get("/app/big?bytes=200000")
    assert r.status_code == 200
    second = [member_of(h) for _ in range(MEMBERS - 1)]
    assert sorted(second) == list(range(1, MEMBERS))


def test_byhash_large_pool_keeps_keys_and_spreads(make_httpd, backends):
    """mod_lbx only (stock has no byhash): with 40 members the ring is
    searched through its index and the bound reads the balancer's total
    in flight; a key still reaches one member whichever child serves it,
    and 120 keys reach most members."""
    be = backends.start("be")
    h = make_httpd("lbx", pool_body(be, "byhash").replace(
        "</Proxy>", '    LBXHashKey "%{req:X-Key}"\n'
        "    LBXHashBalance 1.25\n</Proxy>"))
    owner = {}
    for rnd in range(2):
        for k in range(120):
            r = h.get("/app/echo", headers={"X-Key": "key-%d" % k})
            assert r.status_code == 200
            m = int(r.json()["path"].split("/")[1][1:])
            assert owner.setdefault(k, m) == m, (k, owner[k], m)
    assert len(set(owner.values())) >= 30, sorted(set(owner.values()))
    assert len(set(h.child_pids())) >= 2
