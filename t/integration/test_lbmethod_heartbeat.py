"""lbmethod=heartbeat.

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
`ready`, so every share is checked against the exact probability of
stock's pick (p_first: ready_a / (ready_a + ready_b + 1)) with 4 standard
deviations of a binomial share over the number of requests (about 1 in
15000 per assertion to fail by chance), and lbx against stock with 4
standard deviations of the difference of two such shares.
"""
import grp
import os
import pwd
import time

import pytest
import requests

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


# --------------------------------------------------------------------------
# The real path: mod_heartbeat -> multicast -> mod_heartmonitor -> balancer
# --------------------------------------------------------------------------
MCAST = "239.0.0.1:27999"

BACKEND_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("status_module", "mod_status.so"),
    ("headers_module", "mod_headers.so"),
]
HEARTBEAT_MODULE = ("heartbeat_module", "mod_heartbeat.so")


class BackendHttpd(H.Httpd):
    """A stock apache2 backend serving /whoami.txt (its name) on
    <its lab IP>:80, optionally sending heartbeats (mod_heartbeat)."""

    def __init__(self, name, lab_ip, heartbeat=True):
        super().__init__("stock", "", loglevel="warn", name="hb-" + name)
        self.backend_name = name
        self.lab_ip = lab_ip
        (self.root / "htdocs" / "whoami.txt").write_text(name + "\n")
        # mod_heartbeat mktemp()s a lock file in $TMPDIR at every config
        # read: keep those inside the ServerRoot
        (self.root / "tmp").mkdir()
        self.set_heartbeat(heartbeat)

    def set_heartbeat(self, on):
        mods = BACKEND_MODULES + ([HEARTBEAT_MODULE] if on else [])
        self.modules = ["LoadModule %s %s" % (sym, H.MODDIR / so)
                        for sym, so in mods]
        self.body = "\n".join([
            "Listen %s:80" % self.lab_ip,
            'Header always set X-Backend "%s"' % self.backend_name,
            "HeartbeatAddress %s" % MCAST if on else "",
        ])

    def _env(self):
        env = H.Httpd._env()
        env["TMPDIR"] = str(self.root / "tmp")
        return env


FRONT_BODY = """
HeartbeatListen %s
%s
ProxyStatus On
<Proxy balancer://hb>
    BalancerMember http://%s retry=0
    BalancerMember http://%s retry=0
    ProxySet lbmethod=heartbeat
</Proxy>
ProxyPass /app balancer://hb
"""
# retry=0: a connection the backend's graceful restart happens to cut must
# not keep the member out; only its heartbeats may


def front_names(h, n):
    """n requests to the front end; backend names (None for non-200)."""
    out = []
    for _ in range(n):
        r = h.get("/app/whoami.txt")
        out.append(H.backend_of(r) if r.status_code == 200 else None)
    return out


def test_heartbeat_real_multicast(impl, make_httpd):
    """Two backend httpds heartbeat by multicast to a front end with
    mod_heartmonitor, once storing to a file (HeartbeatStorage) and once to
    slotmem (HeartbeatMaxServers); both fronts route to both backends.  A
    backend whose heartbeats stop (graceful restart without mod_heartbeat:
    it still serves) is dropped by both fronts once its last heartbeat is
    10 s old, and not before."""
    why = U.netns_unavailable_reason()
    if why:
        pytest.fail("cannot create the network namespaces this test needs "
                    "(it must not multicast outside them): %s" % why)
    lab = U.Lab(backends=2)
    backs, fronts, failed = [], {}, True
    try:
        lab.setup()
        fr = lab.runner(lab.front)
        for i, ns in enumerate(lab.backs):
            b = BackendHttpd("b%d" % (i + 1), lab.backend_ip(i))
            backs.append((b, U.InNs(b, lab.runner(ns))))
        for _, nb in backs:
            nb.start()
        hm = "LoadModule heartmonitor_module %s" % (
            H.MODDIR / "mod_heartmonitor.so")
        for mode in ("file", "slotmem"):
            h = make_httpd(impl, "", start=False, extra_top=hm)
            if mode == "file":
                hbdir = h.root / "hb"
                hbdir.mkdir()
                # mod_heartmonitor writes it from a child (User nobody)
                os.chown(hbdir, pwd.getpwnam("nobody").pw_uid,
                         grp.getgrnam("nogroup").gr_gid)
                # 2.4.71's mod_heartmonitor defaults to slotmem
                # (HeartbeatMaxServers 10); 0 selects the file
                storage = 'HeartbeatMaxServers 0\nHeartbeatStorage "%s"' % (
                    hbdir / "hb.dat")
            else:
                storage = "HeartbeatMaxServers 16"
            h.body = FRONT_BODY % (MCAST, storage, lab.backend_ip(0),
                                   lab.backend_ip(1))
            fronts[mode] = U.InNs(h, fr)
            fronts[mode].start()

        # both fronts learn both backends from their heartbeats
        # (mod_heartmonitor stores what it heard every 5 s)
        for mode, f in fronts.items():
            H.deadline_poll(
                lambda: {"b1", "b2"} <= set(front_names(f, 20)), 30,
                what="%s front routing to b1 and b2" % mode)
        # each front used the storage it was given
        hbdat = (fronts["file"].root / "hb" / "hb.dat").read_text()
        for i in (0, 1):
            assert "%s &ready=" % lab.backend_ip(i) in hbdat, hbdat
        assert not (fronts["slotmem"].root / "logs" / "hb.dat").exists()
        assert not (fronts["slotmem"].root / "run" / "hb.dat").exists()

        # b2 stops heartbeating but keeps serving
        b2, nb2 = backs[1]
        b2.set_heartbeat(False)
        b2.write_config()
        t0 = time.monotonic()
        nb2.graceful()
        dropped = {}
        for mode, f in fronts.items():
            H.deadline_poll(lambda: front_names(f, 15) == ["b1"] * 15,
                            30, what="%s front dropping b2" % mode)
            dropped[mode] = time.monotonic() - t0
        print("b2 dropped after %s s" % {k: round(v, 1)
                                         for k, v in dropped.items()})
        # heartbeats age out at 10 s: not dropped because it failed
        assert min(dropped.values()) >= 7, dropped
        r = fr.call(requests.get, "http://%s/whoami.txt" % lab.backend_ip(1),
                    timeout=H.TIMEOUT)
        assert r.status_code == 200 and r.text == "b2\n"
        for f in fronts.values():
            assert f.get("/app/whoami.txt").text == "b1\n"
            st = f.balancer_status()["balancer://hb"]
            b2st = st["http://%s" % lab.backend_ip(1)]["Status"]
            assert "Err" not in b2st, st
        failed = False
    finally:
        for f in fronts.values():
            f.stop()  # the fixture keeps/removes their ServerRoots
        for b, _ in backs:
            b.cleanup(keep=failed)
        errors = lab.close()
    assert not errors, errors
    left = U.ip("netns", "list").stdout
    assert lab.prefix not in left, left
