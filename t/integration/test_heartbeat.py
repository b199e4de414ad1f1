"""lbmethod=heartbeat (contract §4.5; acceptance §8.47).

test_heartbeat_file_*: the balancer reads a HeartbeatStorage file the test
writes.  Members are configured by IP literal and told apart by IP only
(stock matches the file's IP against the member's host name, the port is
never used), so the two backends bind distinct loopback addresses 127.0.0.2
and 127.0.0.3.  Like the other distribution tests, the ``[stock]`` variant
runs the scenario on stock (the reference) and the ``[lbx]`` variant runs it
on stock and then on mod_lbx in the same test and compares the shares.

test_heartbeat_real_*: the whole path, backend httpds with mod_heartbeat
multicasting to a front end with mod_heartmonitor, inside network
namespaces the test creates (hbutil.Lab).

Tolerances: heartbeat picks at random (ap_random_pick) in proportion to
`ready`, so every share is checked against the contract's exact
probability with 4 standard deviations of a binomial share over the number
of requests (about 1 in 15000 per assertion to fail by chance), and lbx
against stock with 4 standard deviations of the difference of two such
shares.
"""
import os

import pytest

import hbutil as U
import lbxharness as H
from lbxharness import member

A_IP, B_IP = "127.0.0.2", "127.0.0.3"
N = 200  # requests per measured share

FILE_BODY = """
HeartbeatStorage "%s"
ProxyStatus On
<Proxy balancer://hb>
    %s
    %s
    ProxySet lbmethod=heartbeat
</Proxy>
ProxyPass /app balancer://hb
"""


def impls_for(impl):
    return ["stock"] if impl == "stock" else ["stock", "lbx"]


def fresh(ip, ready=40, busy=10, lastseen=1, **kw):
    return U.hb_line(ip, ready=ready, busy=busy, lastseen=lastseen, **kw)


def p_first(ready_a, ready_b):
    """Chance that the first of two candidates wins stock's pick: pick is
    uniform in 0..ra+rb inclusive and a tie at pick == ra goes to the
    later candidate, so a wins ra of ra+rb+1 values."""
    return ready_a / (ready_a + ready_b + 1)


# Garbage the parser must survive; the valid lines give both members
# ready=40 busy=10 lastseen=1, which nothing below may change.
GARBAGE = b"".join([
    b"# 127.0.0.3 &ready=1000&busy=10&lastseen=1 (a comment)\n",
    b"\x00\xff\xfe\x80 binary\x01\x02 &ready=5&busy=5\n",
    b"127.0.0.2 &ready=40&busy=10&lastseen=1&port=80\n",
    b"127.0.0.3 &ready=40&busy=10&lastseen=1\n",
    b"nospace&ready=1000&busy=10\n",
    b"127.0.0.3&ready=1000&busy=10&lastseen=1\n",
    # out of range / not decimal: ignored, the values above stay
    b"127.0.0.2 &ready=99999999999999999999999&busy=-1&lastseen=1x"
    b"&port=99999\n",
    b"127.0.0.3 &ready=2147483648&busy=0x10&lastseen=\n",
    # URL-escaped, same values as above
    b"127.0.0.3 &ready=%34%30&busy=1%30\n",
    b"127.0.0.9 &ready=4294967296&busy=0\n",
    b"z" * 5000 + b"\n",
    b"127.0.0.2 &x=" + b"y" * 5000 + b"\n",
    b"\n",
    b"127.0.0.3 &rea",  # truncated last line, no newline
])


def measure(h, which, what, n, p):
    """n requests: all 200; returns a's share, checked against p."""
    res = U.sample(h, n)
    assert all(s == 200 for s, _, _ in res), (which, what, res)
    names = [b for _, b, _ in res]
    assert set(names) <= {"a", "b"}, (which, what, names)
    share = names.count("a") / n
    print("%s %s: a share %.3f (expected %.3f)" % (which, what, share, p))
    assert abs(share - p) <= U.share_tolerance(p, n), (which, what, share)
    return share


def only(h, which, what, name, n=30):
    res = U.sample(h, n)
    assert [(s, b) for s, b, _ in res] == [(200, name)] * n, (which, what,
                                                            res)


def file_run(which, make_httpd, a, b):
    """All file scenarios on one httpd; returns {scenario: a's share}."""
    h = make_httpd(which, "", start=False)
    hbdir = h.root / "hb"
    hbdir.mkdir()
    os.chmod(hbdir, 0o755)
    path = str(hbdir / "hb.dat")
    h.body = FILE_BODY % (path, member(a), member(b))
    out = {}

    # both fresh, equal ready: both get traffic, about half each
    U.write_hb(path, [fresh(A_IP), fresh(B_IP)])
    h.start()
    out["equal"] = measure(h, which, "equal 40:40", N, p_first(40, 40))

    # a's heartbeat is 30 s old: only b
    U.write_hb(path, [fresh(A_IP, lastseen=30), fresh(B_IP)])
    U.until_every_child(h, U.last_all(12, "b"), "a stale (lastseen=30)")
    only(h, which, "a stale", "b")

    # ready 10:30 -> about 25/75
    U.write_hb(path, [fresh(A_IP, ready=10), fresh(B_IP, ready=30)])
    U.until_every_child(h, U.saw("a"), "a back (ready 10:30)")
    out["ready 10:30"] = measure(h, which, "ready 10:30", N, p_first(10, 30))

    # lastseen=10 is stale already (seen < 10 s counts)
    U.write_hb(path, [fresh(A_IP, lastseen=10), fresh(B_IP)])
    U.until_every_child(h, U.last_all(12, "b"), "a stale (lastseen=10)")
    only(h, which, "a lastseen=10", "b")
    # ... and lastseen=9 is fresh
    U.write_hb(path, [fresh(A_IP, lastseen=9), fresh(B_IP)])
    U.until_every_child(h, U.saw("a"), "a back (lastseen=9)")

    # busy=0 throttles: ready 40 counts as 10 against b's 40
    U.write_hb(path, [fresh(A_IP, lastseen=30), fresh(B_IP)])
    U.until_every_child(h, U.last_all(12, "b"), "a stale again")
    U.write_hb(path, [fresh(A_IP, busy=0), fresh(B_IP)])
    U.until_every_child(h, U.saw("a"), "a back (busy=0)")
    out["busy=0"] = measure(h, which, "a busy=0 (ready/4)", N,
                            p_first(10, 40))

    # garbage is skipped, the valid lines still count: 40:40
    U.write_hb(path, [fresh(A_IP), fresh(B_IP, lastseen=30)])
    U.until_every_child(h, U.last_all(12, "a"), "b stale")
    only(h, which, "b stale", "a")
    U.write_hb(path, GARBAGE)
    U.until_every_child(h, U.saw("b"), "b back (garbage file)")
    out["garbage"] = measure(h, which, "garbage around 40:40", N,
                             p_first(40, 40))

    # no file: 503 and an error naming the path
    os.unlink(path)
    U.until_every_child(h, U.last_all(5, status=503), "503 without file")
    h.wait_error_log(r"Unable to read heartbeats.*%s" % path)
    # no child crashed on the way
    assert "exit signal" not in h.error_log(), h.error_log_tail()
    h.stop()
    return out


def test_heartbeat_file(impl, make_httpd, backends):
    a = backends.start("a", host=A_IP)
    b = backends.start("b", host=B_IP)
    got = {w: file_run(w, make_httpd, a, b) for w in impls_for(impl)}
    if "lbx" in got:
        expect = {"equal": p_first(40, 40), "ready 10:30": p_first(10, 30),
                  "busy=0": p_first(10, 40), "garbage": p_first(40, 40)}
        for k, p in expect.items():
            s, x = got["stock"][k], got["lbx"][k]
            assert abs(s - x) <= U.diff_tolerance(p, N), (k, s, x)
