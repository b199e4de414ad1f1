"""Helpers for the heartbeat tests (test_lbmethod_heartbeat.py).

* HeartbeatStorage files: atomic writes, per-child sampling (access log pid)
  so a test can wait until every child serves from the new file contents
  (stock reads the file on every request; mod_lbx may cache it briefly).
* Lab: network namespaces for the real mod_heartbeat -> mod_heartmonitor
  path, so the multicast heartbeats never leave namespaces the test made.
"""
import collections
import ctypes
import math
import os
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor

import lbxharness as H


# --------------------------------------------------------------------------
# HeartbeatStorage files
# --------------------------------------------------------------------------
def hb_line(ip, **kv):
    """'IP &k=v&k=v' in the order given (a line of mod_heartmonitor's file)."""
    return "%s %s" % (ip, "".join("&%s=%s" % (k, v) for k, v in kv.items()))


def write_hb(path, content):
    """Replace path atomically (rename) with content (str lines joined by
    newlines, or raw bytes); readable by the children (nobody)."""
    if isinstance(content, (list, tuple)):
        content = "".join(line + "\n" for line in content)
    if isinstance(content, str):
        content = content.encode("latin-1")
    tmp = "%s.tmp.%s" % (path, uuid.uuid4().hex[:8])
    with open(tmp, "wb") as f:
        f.write(content)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def sample(h, n, path="/app/x"):
    """n sequential requests on fresh connections; returns a list of
    (status, backend name or None, pid of the child that served it)."""
    resps = [h.get(path) for _ in range(n)]
    want = {r.test_id for r in resps}

    def logged():
        m = {e["id"]: e for e in h.access_lines() if e["id"] in want}
        return m if len(m) == len(want) else None
    m = H.deadline_poll(logged, 10, what="%d access-log lines" % n)
    return [(r.status_code, H.backend_of(r), m[r.test_id]["pid"])
            for r in resps]


def until_every_child(h, pred, what, path="/app/x", batch=10,
                      max_requests=600, timeout=20):
    """Send requests in batches until pred(history) is true for the request
    history (list of (status, backend)) of every child of h, counting only
    requests sent by this call.  Bounded by max_requests and timeout."""
    kids = {str(p) for p in h.child_pids()}
    assert kids, "no children"
    hist = collections.defaultdict(list)
    sent = 0

    def step():
        nonlocal sent
        if sent >= max_requests:
            raise H.GiveUp("%s: not reached after %d requests: %r" % (
                what, sent, dict(hist)))
        for status, backend, pid in sample(h, batch, path):
            hist[pid].append((status, backend))
        sent += batch
        return all(pred(hist[k]) for k in kids)
    H.deadline_poll(step, timeout, interval=0, what=what)
    return sent


def saw(name):
    """pred: the child sent at least one request to backend `name`."""
    return lambda hist: any(b == name for _, b in hist)


def last_all(k, name=None, status=200):
    """pred: the child's last k answers all had `status` (and came from
    backend `name`, if given)."""
    def pred(hist):
        tail = hist[-k:]
        return len(tail) == k and all(
            s == status and (name is None or b == name) for s, b in tail)
    return pred


def share_tolerance(p, n, sd=4.0):
    """sd standard deviations of a binomial share p over n draws."""
    return sd * math.sqrt(p * (1 - p) / n)


def diff_tolerance(p, n, sd=4.0):
    """sd standard deviations of the difference of two independent
    binomial shares p over n draws each (lbx vs stock)."""
    return sd * math.sqrt(2 * p * (1 - p) / n)


# --------------------------------------------------------------------------
# Network namespaces
# --------------------------------------------------------------------------
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
IP = "/usr/sbin/ip" if os.path.exists("/usr/sbin/ip") else "/sbin/ip"


def ip(*args, check=True):
    """Run the iproute2 `ip` tool; returns CompletedProcess."""
    p = subprocess.run([IP, *args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=30)
    if check and p.returncode != 0:
        raise H.HarnessError("ip %s failed rc=%d: %s" % (
            " ".join(args), p.returncode, p.stderr.strip()))
    return p


class NsRunner:
    """One thread that lives in network namespace `ns` (setns): sockets it
    opens and processes it spawns (fork copies the calling thread's
    namespaces) are inside the namespace.  call(fn, ...) runs fn there."""

    def __init__(self, ns):
        self.ns = ns
        self._ex = ThreadPoolExecutor(1, thread_name_prefix="ns-" + ns)
        try:
            self._ex.submit(self._enter).result(timeout=30)
        except BaseException:
            # never leave a thread behind that might not be in the netns
            self._ex.shutdown(wait=True)
            raise

    def _enter(self):
        fd = os.open("/run/netns/%s" % self.ns, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                e = ctypes.get_errno()
                raise OSError(e, "setns(%s): %s" % (self.ns, os.strerror(e)))
        finally:
            os.close(fd)
        # prove it: this thread's netns is the namespace's inode
        mine = os.stat("/proc/thread-self/ns/net").st_ino
        theirs = os.stat("/run/netns/%s" % self.ns).st_ino
        if mine != theirs:
            raise OSError("thread is not in netns %s" % self.ns)

    def call(self, fn, *args, **kw):
        return self._ex.submit(fn, *args, **kw).result()

    def close(self):
        self._ex.shutdown(wait=True)


class InNs:
    """Proxy of an object whose methods all run in an NsRunner's thread
    (attributes are read directly)."""

    def __init__(self, target, runner):
        object.__setattr__(self, "_t", target)
        object.__setattr__(self, "_r", runner)

    def __getattr__(self, name):
        attr = getattr(self._t, name)
        if callable(attr):
            return lambda *a, **kw: self._r.call(attr, *a, **kw)
        return attr

    def __setattr__(self, name, value):
        setattr(self._t, name, value)


class Lab:
    """Network namespaces for the heartbeat tests, nothing in the caller's:

        <p>-f   front end: bridge br0 192.0.2.1/24 (TEST-NET-1), lo up,
                224.0.0.0/4 routed to br0
        <p>-bN  backend N: eth0 192.0.2.(10+N)/24 (a veth whose peer is a
                port of the front's br0), lo up, 224.0.0.0/4 via eth0

    The veth pairs are created directly inside the namespaces, so no link,
    address or route is ever added to the namespace the tests run in, and
    nothing connects the lab to it: multicast and all other lab traffic
    stay inside.  close() deletes everything (namespaces die with their
    links once the processes in them are gone)."""

    NET = "192.0.2"

    def __init__(self, backends=2):
        self.prefix = "lbxtest-%s" % uuid.uuid4().hex[:8]
        self.front = self.prefix + "-f"
        self.backs = ["%s-b%d" % (self.prefix, i + 1)
                      for i in range(backends)]
        self.created = []
        self.runners = {}

    def backend_ip(self, i):
        return "%s.%d" % (self.NET, 11 + i)

    def setup(self):
        for ns in [self.front] + self.backs:
            ip("netns", "add", ns)
            self.created.append(ns)
            ip("-n", ns, "link", "set", "lo", "up")
        f = self.front
        ip("-n", f, "link", "add", "br0", "type", "bridge",
           "mcast_snooping", "0")
        ip("-n", f, "addr", "add", self.NET + ".1/24", "dev", "br0")
        ip("-n", f, "link", "set", "br0", "up")
        ip("-n", f, "route", "add", "224.0.0.0/4", "dev", "br0")
        for i, ns in enumerate(self.backs):
            port = "p%d" % (i + 1)
            ip("-n", f, "link", "add", port, "type", "veth", "peer", "name",
               "eth0", "netns", ns)
            ip("-n", f, "link", "set", port, "master", "br0")
            ip("-n", f, "link", "set", port, "up")
            ip("-n", ns, "addr", "add", self.backend_ip(i) + "/24", "dev",
               "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")
            ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
        for ns in [self.front] + self.backs:
            self.runners[ns] = NsRunner(ns)
        return self

    def runner(self, ns):
        return self.runners[ns]

    def close(self):
        for r in self.runners.values():
            r.close()
        errors = []
        for ns in reversed(self.created):
            p = ip("netns", "del", ns, check=False)
            if p.returncode != 0:
                errors.append("%s: %s" % (ns, p.stderr.strip()))
        self.created = []
        return errors


def netns_unavailable_reason():
    """None if this process can create a network namespace with a bridge
    and a veth pair in it; otherwise the error text (the caller fails)."""
    if not os.path.exists(IP):
        return "iproute2's ip is not installed (scripts/packages.txt)"
    probe = "lbxprobe-%s" % uuid.uuid4().hex[:8]
    p = ip("netns", "add", probe, check=False)
    if p.returncode != 0:
        return "ip netns add: %s" % p.stderr.strip()
    try:
        for args in (("link", "add", "br0", "type", "bridge"),
                     ("link", "add", "v0", "type", "veth", "peer", "name",
                      "v1")):
            p = ip("-n", probe, *args, check=False)
            if p.returncode != 0:
                return "ip %s: %s" % (" ".join(args), p.stderr.strip())
    finally:
        ip("netns", "del", probe, check=False)
    return None
