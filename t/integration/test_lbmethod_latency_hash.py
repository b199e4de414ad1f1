"""mod_lbx's own methods: bylatency (latency-aware, power of two choices)
and byhash (consistent hashing with bounded load).  Stock has neither, so
these run on mod_lbx only."""
import collections
import concurrent.futures

import requests

import lbxharness as H
from lbxharness import member


def body(lbmethod, *members, extra=""):
    return """
ProxyStatus On
<Proxy balancer://m>
    %s
    ProxySet lbmethod=%s
    %s
</Proxy>
ProxyPass /app balancer://m
""" % ("\n    ".join(members), lbmethod, extra)


def spread(h, n, headers_of=lambda i: {}, threads=1):
    """Backend of each of n requests (a new connection each, so both
    children serve them)."""
    def one(i):
        r = h.get("/app/x", headers=headers_of(i))
        assert r.status_code == 200, r.status_code
        return i, H.backend_of(r)
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return dict(pool.map(one, range(n)))


def test_byhash_one_key_one_member_across_children_and_instances(
        make_httpd, backends):
    bs = backends.start_many("a", "b", "c", "d", "e")
    conf = body("byhash", *[member(b) for b in bs],
                extra='LBXHashKey "%{req:X-Key}"')
    h1 = make_httpd("lbx", conf)
    h2 = make_httpd("lbx", conf)
    key = lambda i: {"X-Key": "user-%d" % (i % 40)}
    first = spread(h1, 120, key)
    second = spread(h2, 40, key)
    by_key = collections.defaultdict(set)
    for i, name in list(first.items()) + list(second.items()):
        by_key[i % 40].add(name)
    # every key went to one member, in both children of both instances
    assert all(len(v) == 1 for v in by_key.values()), dict(by_key)
    assert len(set(h1.child_pids())) >= 2
    # and 40 keys reach every member
    assert {n for v in by_key.values() for n in v} == {b.name for b in bs}


def test_byhash_default_key_is_the_client_address(make_httpd, backends):
    bs = backends.start_many("a", "b", "c")
    h = make_httpd("lbx", body("byhash", *[member(b) for b in bs]))
    assert len(set(spread(h, 20).values())) == 1


def test_bylatency_avoids_a_slow_member(make_httpd, backends):
    fast = backends.start_many("a", "b")
    slow = backends.start("s", delay_ms=150)
    h = make_httpd("lbx", body("bylatency", *[member(b) for b in
                                               fast + [slow]]) + """
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
""")
    spread(h, 30, threads=6)  # let every member be measured
    counts = collections.Counter(spread(h, 120, threads=6).values())
    assert counts["s"] * 4 < min(counts["a"], counts["b"]), counts
    # the manager's JSON shows the estimates that made the choice
    members = requests.get(h.base_url + "/balancer-manager?format=json",
                           timeout=H.TIMEOUT).json()["balancers"][0]["members"]
    lat = {m["name"]: m["latency_us"] for m in members}
    assert lat[slow.url] > 100000 > max(lat[b.url] for b in fast) > 0, lat


def test_byhash_settings_are_checked(make_httpd):
    for extra, text in (("LBXHashBalance 0.5", "LBXHashBalance: '0.5'"),
                        ('LBXHashKey "%{unclosed"', "LBXHashKey: cannot "
                                                     "parse")):
        h = make_httpd("lbx", body("byhash", "BalancerMember "
                                   "http://127.0.0.1:9", extra=extra),
                       start=False)
        p = h.configtest()
        assert p.returncode != 0 and text in p.stdout + p.stderr, (
            p.stdout + p.stderr)[-2000:]
    h = make_httpd("lbx", "<Location /x>\n    LBXHashKey %{REMOTE_ADDR}\n"
                   "</Location>\n", start=False)
    p = h.configtest()
    assert p.returncode != 0 and "inside <Proxy balancer://" in \
        p.stdout + p.stderr, (p.stdout + p.stderr)[-2000:]
