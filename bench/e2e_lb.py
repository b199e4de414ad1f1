#!/usr/bin/python3
"""Front-end CPU per proxied request: mod_lbx vs stock vs no balancer.

Runs a real /usr/sbin/apache2 (event MPM, 2 children x 64 threads, loopback
only) as a reverse proxy in front of ONE nginx that listens on N distinct
loopback addresses (127.0.1.1, 127.0.1.2, ...; Linux routes all of 127/8 to
lo) on one port, so a balancer of N members has N distinct mod_proxy
workers.  wrk drives the front-end over keep-alive, and the utime+stime of
the httpd parent and children (/proc/<pid>/stat) is read around wrk's run.

Configurations, each in a fresh httpd:

* ``direct``:             ProxyPass /b/ http://127.0.1.1:PORT/ (no balancer)
* ``stock-<method>-<n>``: mod_proxy_balancer + mod_lbmethod_<method>, one
  ``<Proxy balancer://b>`` with n BalancerMember lines
* ``lbx-<method>-<n>``:   the same balancer with mod_lbx.so instead of the
  stock balancer and lbmethod modules

Rounds are interleaved: every round runs every configuration once, in an
order rotated from round to round, so drift on a shared machine hits all
configurations alike.  Reported per configuration: the median and min-max
over rounds of the front-end's CPU microseconds per request and of wrk's
requests/s, and throughput relative to ``direct`` of the same round.

This is a benchmark, not a test: it is not part of `make check` or CI.
It needs nginx and wrk from Debian (``apt-get install -y nginx-light wrk``).

    /usr/bin/python3 bench/e2e_lb.py --quick          # smoke run, ~2 min
    /usr/bin/python3 bench/e2e_lb.py                  # defaults, ~10 min
    /usr/bin/python3 bench/e2e_lb.py --methods byrequests --members 1024

Everything is bounded: a global deadline (--deadline), every wait has its own
timeout, and nginx, httpd and wrk are stopped by pid in `finally` (also on
Ctrl-C and SIGTERM).  Only loopback addresses are ever contacted.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import (APACHE2, CLK_TCK, LBX_SO, MODDIR, PROXY_MODULES, REPO,
                      Deadline, GiveUp, child_pids, cpu_ticks, free_port,
                      kill_pid, pid_alive, poll, server_head)

FLOOR_SO = REPO / "bench" / ".libs" / "mod_lbx_floor.so"

NGINX = os.environ.get("LBX_NGINX", "/usr/sbin/nginx")
WRK = os.environ.get("LBX_WRK", "/usr/bin/wrk")
BASE_MODULES = PROXY_MODULES
DEFAULT_METHODS = "byrequests,bytraffic,bybusyness"
DEFAULT_MEMBERS = "2,1024"
MAX_MEMBERS = 250 * 254  # 127.0.1.1 .. 127.0.250.254






# --------------------------------------------------------------------------
# Small helpers: /proc, pids, polling
# --------------------------------------------------------------------------








def machine_ticks():
    """(busy, steal) clock ticks of all CPUs together, from /proc/stat;
    busy excludes idle, iowait and steal."""
    with open("/proc/stat") as f:
        vals = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal (guest is in user)
    return sum(vals[:7]) - vals[3] - vals[4], vals[7]








def member_addr(i):
    """The i-th (0-based) backend address: 127.0.1.1, ..., 127.0.1.254,
    127.0.2.1, ...  (no .0 or .255 host byte)."""
    return "127.0.%d.%d" % (1 + i // 254, 1 + i % 254)


def no_proxy_opener():
    # never through an http_proxy from the environment
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_get(url, timeout=10):
    with no_proxy_opener().open(url, timeout=timeout) as r:
        return r.status, r.read()


def raise_nofile():
    """Children inherit this: with 1,024 members each httpd child may keep
    a pooled backend connection per member, and nginx one per connection."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > 65536:
        hard_use = 65536
    else:
        hard_use = hard
    if soft < hard_use:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard_use, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def stop_process(proc, sig, timeout, extra_pids=()):
    """Signal proc (a Popen) by pid, wait up to timeout, then SIGKILL it and
    every pid in extra_pids that is still there."""
    if proc is None:
        return
    if proc.poll() is None:
        kill_pid(proc.pid, sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_pid(proc.pid)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
    end = time.monotonic() + 5
    for pid in sorted(set(extra_pids)):
        while pid_alive(pid) and time.monotonic() < end:
            time.sleep(0.05)
        if pid_alive(pid):
            kill_pid(pid)


def established_peers(port):
    """Distinct remote addresses of established IPv4 TCP connections whose
    remote port is `port` (the proxy's side of its backend connections)."""
    peers = set()
    try:
        with open("/proc/net/tcp") as f:
            next(f)
            for line in f:
                parts = line.split()
                rem, state = parts[2], parts[3]
                if state != "01":
                    continue
                addr, p = rem.split(":")
                if int(p, 16) == port:
                    peers.add(addr)
    except OSError:
        return None
    return len(peers)


# --------------------------------------------------------------------------
# The backend: one nginx, N loopback addresses, one port
# --------------------------------------------------------------------------
class Nginx:
    def __init__(self, members, root):
        self.members = members
        self.root = root / "nginx"
        self.root.mkdir()
        os.chmod(self.root, 0o755)
        (self.root / "tmp").mkdir()
        self.conf = self.root / "nginx.conf"
        self.port = None
        self.proc = None
        self.known = set()

    def config_text(self):
        listens = "\n".join("        listen %s:%d;" % (member_addr(i),
                                                      self.port)
                            for i in range(self.members))
        tmp = self.root / "tmp"
        return """# generated by bench/e2e_lb.py
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 65536;
pid %(root)s/nginx.pid;
error_log %(root)s/error.log warn;
events {
    worker_connections 32768;
}
http {
    access_log off;
    default_type text/plain;
    keepalive_timeout 600s;
    keepalive_requests 100000000;
    client_body_temp_path %(tmp)s/body;
    proxy_temp_path %(tmp)s/proxy;
    fastcgi_temp_path %(tmp)s/fastcgi;
    uwsgi_temp_path %(tmp)s/uwsgi;
    scgi_temp_path %(tmp)s/scgi;
    server {
%(listens)s
        location / {
            return 200 "ok";
        }
    }
}
""" % {"root": self.root, "tmp": tmp, "listens": listens}

    def start(self, deadline):
        for attempt in range(3):
            # a port free on 127.0.0.1 is in practice free on 127.0.x.y too;
            # if not, nginx fails to bind and we try another one
            self.port = free_port()
            self.conf.write_text(self.config_text())
            log = open(self.root / "stderr.log", "w")
            self.proc = subprocess.Popen(
                [NGINX, "-p", str(self.root), "-c", str(self.conf),
                 "-e", str(self.root / "error.log")],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                start_new_session=True)
            log.close()
            self.known.add(self.proc.pid)
            try:
                poll(self._ready, 30, "nginx on %d addresses" % self.members,
                     deadline)
                self.workers()
                return
            except RuntimeError:
                err = self._errors()
                self.stop()
                if "in use" not in err or attempt == 2:
                    raise RuntimeError("nginx did not start:\n%s" % err)

    def _ready(self):
        if self.proc.poll() is not None:
            raise GiveUp("nginx exited rc=%s" % self.proc.returncode)
        last = member_addr(self.members - 1)
        for host in ("127.0.1.1", last):
            st, body = http_get("http://%s:%d/" % (host, self.port), 5)
            if st != 200 or body != b"ok":
                return False
        return len(self.workers()) >= 1

    def _errors(self):
        out = ""
        for name in ("stderr.log", "error.log"):
            try:
                out += (self.root / name).read_text(errors="replace")[-2000:]
            except OSError:
                pass
        return out

    def workers(self):
        kids = child_pids(self.proc.pid) if self.proc else []
        self.known.update(kids)
        return kids

    def pids(self):
        return [self.proc.pid] + self.workers()

    def stop(self):
        if self.proc is None:
            return
        try:
            self.workers()
        except OSError:
            pass
        # SIGQUIT would wait for the idle keep-alive connections: SIGTERM
        # is nginx's fast shutdown
        stop_process(self.proc, signal.SIGTERM, 10, self.known)
        self.proc = None


# --------------------------------------------------------------------------
# The front-end: apache2 in the foreground, its own ServerRoot
# --------------------------------------------------------------------------
def parse_config_name(name):
    """'direct' -> ('direct', None, 0); 'lbx-byrequests-1024' ->
    ('lbx', 'byrequests', 1024)."""
    if name == "direct":
        return "direct", None, 0
    impl, method, n = name.split("-")
    return impl, method, int(n)


def snapshot_lbx(workdir):
    """Copy mod_lbx.so once, so every round loads the same build even if
    the tree is rebuilt while the benchmark runs.  Returns (path, facts)."""
    data = LBX_SO.read_bytes()
    st = LBX_SO.stat()
    dst = workdir / "mod_lbx.so"
    dst.write_bytes(data)
    os.chmod(dst, 0o755)
    facts = {"source": str(LBX_SO), "sha256": hashlib.sha256(data)
             .hexdigest(), "mtime": time.strftime(
                 "%Y-%m-%d %H:%M:%S", time.localtime(st.st_mtime)),
             "loaded_from": str(dst)}
    return dst, facts


def git_facts():
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short",
                               "HEAD"], capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status",
                                "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return "%s%s" % (head, " (modified)" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def balancer_modules(impl, method, lbx_so):
    """LoadModule lines of a front-end: mod_proxy and friends, then the
    stock balancer and lbmethod, or mod_lbx (with the floor method for
    method "floor"), or nothing more for "direct"."""
    mods = ["LoadModule %s %s" % (sym, MODDIR / so)
            for sym, so in BASE_MODULES]
    if impl == "stock":
        mods += ["LoadModule proxy_balancer_module %s" % (
                     MODDIR / "mod_proxy_balancer.so"),
                 "LoadModule lbmethod_%s_module %s" % (
                     method, MODDIR / ("mod_lbmethod_%s.so" % method))]
    elif impl == "lbx":
        mods += ["LoadModule lbx_module %s" % lbx_so]
        if method == "floor":
            mods += ["LoadModule lbx_floor_module %s" % FLOOR_SO]
    return mods


def front_end_config(root, port, generated_by, mods, body):
    """A front-end's whole configuration: 2 children x 64 threads
    (MaxSpareThreads = all threads, so an idle moment never stops a child),
    keep-alive without a request limit (wrk's connections live for the whole
    run), then `body` (lines)."""
    return "\n".join(server_head(root, port, generated_by) + mods + [
        "StartServers 2",
        "ServerLimit 2",
        "ThreadsPerChild 64",
        "ThreadLimit 64",
        "MinSpareThreads 64",
        "MaxSpareThreads 128",
        "MaxRequestWorkers 128",
        "MaxConnectionsPerChild 0",
        "Timeout 30",
        "KeepAlive On",
        "MaxKeepAliveRequests 0",
        "KeepAliveTimeout 30",
        'ErrorLog "%s"' % (root / "logs" / "error_log"),
        "LogLevel warn",
        "<Location />",
        "    Require all granted",
        "</Location>",
    ] + body + [""])


def httpd_config(root, port, name, backend_port, lbx_so):
    impl, method, n = parse_config_name(name)
    if impl == "direct":
        proxy = ["ProxyPass /b/ http://127.0.1.1:%d/" % backend_port]
    else:
        # members without a path: /b/x goes to http://addr:port/x
        proxy = (["<Proxy balancer://b>"]
                 + ["    BalancerMember http://%s:%d" % (member_addr(i),
                                                          backend_port)
                    for i in range(n)]
                 + ["    ProxySet lbmethod=%s" % method, "</Proxy>",
                    "ProxyPass /b/ balancer://b/"])
    return front_end_config(root, port, "bench/e2e_lb.py (%s)" % name,
                            balancer_modules(impl, method, lbx_so), proxy)


class Httpd:
    """One front-end; config_fn(root, port, name, backend_port, lbx_so)
    writes its configuration (other benchmarks pass their own)."""

    def __init__(self, name, backend_port, keep, lbx_so,
                 config_fn=httpd_config):
        self.name = name
        self.config_fn = config_fn
        self.lbx_so = lbx_so
        self.backend_port = backend_port
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="lbx-bench-e2e-"))
        os.chmod(self.root, 0o755)
        for d in ("logs", "run", "conf"):
            (self.root / d).mkdir()
            os.chmod(self.root / d, 0o755)
        self.conf = self.root / "conf" / "httpd.conf"
        self.port = None
        self.proc = None
        self.known = set()

    @property
    def url(self):
        return "http://127.0.0.1:%d/b/" % self.port

    def start(self, deadline):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("APACHE_")}
        env["LANG"] = "C"
        for attempt in range(3):
            self.port = free_port()
            self.conf.write_text(self.config_fn(self.root, self.port,
                                                self.name, self.backend_port,
                                                self.lbx_so))
            out = open(self.root / "logs" / "stderr", "w")
            # -DFOREGROUND: the parent is our child, known by pid from the
            # start; its own session, so a Ctrl-C reaches only us and the
            # finally block stops it
            self.proc = subprocess.Popen(
                [APACHE2, "-f", str(self.conf), "-d", str(self.root),
                 "-DFOREGROUND"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env,
                start_new_session=True)
            out.close()
            self.known.add(self.proc.pid)
            try:
                poll(lambda: self._serving(), 60,
                     "httpd %s serving" % self.name, deadline)
                poll(lambda: len(self.children()) >= 2, 30,
                     "2 httpd children", deadline)
                return
            except RuntimeError:
                text = self.errors()
                self.kill()
                if "Address already in use" not in text or attempt == 2:
                    raise RuntimeError("httpd %s did not start:\n%s" % (
                        self.name, text[-3000:]))

    def _serving(self):
        if self.proc.poll() is not None:
            raise GiveUp("apache2 exited rc=%s" % self.proc.returncode)
        st, body = http_get(self.url, 10)
        if st != 200 or body != b"ok":
            raise RuntimeError("GET /b/ -> %s %r" % (st, body[:80]))
        return True

    def children(self):
        kids = child_pids(self.proc.pid) if self.proc else []
        self.known.update(kids)
        return kids

    def pids(self):
        return [self.proc.pid] + self.children()

    def errors(self):
        out = ""
        for name in ("stderr", "error_log"):
            try:
                out += (self.root / "logs" / name).read_text(
                    errors="replace")
            except OSError:
                pass
        return out

    def error_lines(self):
        """error_log lines other than the usual start/stop notices."""
        try:
            text = (self.root / "logs" / "error_log").read_text(
                errors="replace")
        except OSError:
            return []
        skip = ("AH00489", "AH00094", "AH00491", "AH00492", "AH00493",
                "resuming normal", "caught SIGTERM")
        return [ln for ln in text.splitlines()
                if ln.strip() and not any(s in ln for s in skip)]

    def kill(self):
        if self.proc is not None:
            try:
                self.children()
            except OSError:
                pass
            # SIGTERM: httpd stops its children and exits
            stop_process(self.proc, signal.SIGTERM, 20, self.known)
            self.proc = None

    def stop(self):
        self.kill()
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------
# wrk
# --------------------------------------------------------------------------
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * _UNIT_MS[m.group(2)] if m else None


def parse_wrk(out):
    r = {}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),", out, re.M)
    if m:
        r["requests"] = int(m.group(1))
        r["wrk_seconds"] = _ms(m.group(2) + m.group(3)) / 1000.0
    m = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    r["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    r["socket_errors_detail"] = (dict(zip(
        ("connect", "read", "write", "timeout"),
        (int(x) for x in m.groups()))) if m else {})
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non_2xx"] = int(m.group(1)) if m else 0
    lat = {}
    for pct, val in re.findall(r"^\s*(50|75|90|99)%\s+(\S+)", out, re.M):
        lat[pct] = _ms(val)
    r["latency_ms"] = lat
    return r


class Wrk:
    """One wrk run, bounded, stoppable by pid from outside."""

    def __init__(self):
        self.proc = None

    def run(self, url, seconds, opts, deadline):
        if time.monotonic() + seconds > deadline:
            raise Deadline("global deadline reached before a wrk run")
        cmd = [WRK, "-t%d" % opts.threads, "-c%d" % opts.connections,
               "-d%ds" % seconds, "--latency", url]
        ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        try:
            out, _ = self.proc.communicate(
                timeout=min(seconds + 20, max(1, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            self.stop()
            raise RuntimeError("wrk did not finish: %s" % " ".join(cmd))
        ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rc = self.proc.returncode
        self.proc = None
        if rc != 0:
            raise RuntimeError("wrk rc=%d:\n%s" % (rc, out[-2000:]))
        r = parse_wrk(out)
        if "requests" not in r or "rps" not in r:
            raise RuntimeError("cannot read wrk's output:\n%s" % out[-2000:])
        # wrk is the only child reaped in between (nginx and httpd are
        # reaped when they stop): the load generator's own CPU
        r["wrk_cpu_s"] = ((ru1.ru_utime - ru0.ru_utime)
                          + (ru1.ru_stime - ru0.ru_stime))
        r["raw"] = out
        return r

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL, 10)
            self.proc = None


# --------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------
def measure(name, nginx, wrk, opts, deadline):
    h = Httpd(name, nginx.port, opts.keep, opts.lbx_so)
    res = {"config": name}
    try:
        t_start = time.monotonic()
        h.start(deadline)
        res["start_s"] = time.monotonic() - t_start
        if opts.warmup > 0:
            w = wrk.run(h.url, opts.warmup, opts, deadline)
            res["warmup_rps"] = w["rps"]
        pids0 = h.pids()
        npids0 = nginx.pids()
        t0 = time.monotonic()
        cpu0 = cpu_ticks(pids0)
        ncpu0 = cpu_ticks(npids0)
        m0 = machine_ticks()
        w = wrk.run(h.url, opts.duration, opts, deadline)
        cpu1 = cpu_ticks(pids0)
        ncpu1 = cpu_ticks(npids0)
        m1 = machine_ticks()
        t1 = time.monotonic()
        pids1 = h.pids()
        ticks = sum(cpu1.get(p, cpu0[p]) - cpu0[p] for p in cpu0)
        nticks = sum(ncpu1.get(p, ncpu0[p]) - ncpu0[p] for p in ncpu0)
        n = w["requests"]
        wall = t1 - t0
        # CPU used on the machine by anything but httpd, nginx and wrk
        # during the window, in % of one core: other jobs on a shared box
        other = ((m1[0] - m0[0]) - ticks - nticks) / CLK_TCK \
            - w["wrk_cpu_s"]
        res.update({
            "wall_s": wall,
            "other_cpu_pct": max(0.0, 100.0 * other / wall),
            "machine_busy_pct": 100.0 * (m1[0] - m0[0]) / CLK_TCK / wall,
            # time the hypervisor gave to someone else, % of one core
            "steal_pct": 100.0 * (m1[1] - m0[1]) / CLK_TCK / wall,
            "loadavg_1min": os.getloadavg()[0],
            "requests": n,
            "rps": w["rps"],
            "wrk_seconds": w["wrk_seconds"],
            "latency_ms": w["latency_ms"],
            "non_2xx": w["non_2xx"],
            "socket_errors": w["socket_errors"],
            "socket_errors_detail": w["socket_errors_detail"],
            "httpd_cpu_s": ticks / CLK_TCK,
            "httpd_cpu_us_per_req": ticks / CLK_TCK / n * 1e6 if n else None,
            "httpd_per_pid_s": {p: (cpu1.get(p, cpu0[p]) - cpu0[p]) / CLK_TCK
                                for p in cpu0},
            "nginx_cpu_us_per_req": nticks / CLK_TCK / n * 1e6 if n else None,
            "wrk_cpu_us_per_req": w["wrk_cpu_s"] / n * 1e6 if n else None,
            "pids_changed": sorted(pids0) != sorted(pids1),
            # members the proxy holds a pooled connection to right now
            "members_connected": established_peers(nginx.port),
        })
        if opts.verbose:
            res["wrk_output"] = w["raw"]
        res["error_log"] = h.error_lines()[:20]
        if opts.keep:
            res["root"] = str(h.root)
    finally:
        h.stop()
    return res


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
def med_range(vals, f):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    med = statistics.median(vals)
    if len(vals) == 1:
        return f % med
    return (f + " [" + f + "–" + f + "]") % (med, min(vals), max(vals))


def summarize(results, configs):
    """Per config: lists over rounds, and rps relative to direct's rps of
    the same round."""
    direct_rps = {r["round"]: r["rps"] for r in results
                  if r["config"] == "direct" and "rps" in r}
    direct_us = {r["round"]: r["httpd_cpu_us_per_req"] for r in results
                 if r["config"] == "direct" and "rps" in r}
    # the floor of the same size and round: lbx with lbmethod=floor
    floor_us = {(r["round"], parse_config_name(r["config"])[2]):
                r["httpd_cpu_us_per_req"] for r in results
                if r["config"].startswith("lbx-floor-") and "rps" in r}
    rows = []
    for c in configs:
        rs = [r for r in results if r["config"] == c and "rps" in r]
        if not rs:
            rows.append({"config": c, "runs": 0})
            continue
        rel = [r["rps"] / direct_rps[r["round"]] for r in rs
               if direct_rps.get(r["round"])]
        rows.append({
            "config": c,
            "runs": len(rs),
            "us": [r["httpd_cpu_us_per_req"] for r in rs],
            "us_rel": [r["httpd_cpu_us_per_req"] / direct_us[r["round"]]
                       for r in rs if direct_us.get(r["round"])],
            "us_floor": [r["httpd_cpu_us_per_req"] / floor_us[key]
                         for r in rs for key in [(r["round"],
                                                  parse_config_name(c)[2])]
                         if floor_us.get(key)],
            "rps": [r["rps"] for r in rs],
            "rel": rel,
            "p99": [r["latency_ms"].get("99") for r in rs],
            "nginx_us": [r["nginx_cpu_us_per_req"] for r in rs],
            "members": [r["members_connected"] for r in rs],
            "other": [r["other_cpu_pct"] for r in rs],
            "steal": [r["steal_pct"] for r in rs],
            "bad": sum(r["non_2xx"] + r["socket_errors"] for r in rs),
        })
    return rows


def report(results, configs, opts, meta):
    rows = summarize(results, configs)
    print()
    print("tree %s; mod_lbx.so sha256 %s" % (
        meta.get("tree", "?"),
        meta.get("lbx_so", {}).get("sha256", "-")[:12]))
    print("%s; %s; nproc %s; wrk -t%d -c%d, %gs (warm-up %gs), %d round(s)"
          % (meta["date"], meta["cpu_model"], meta["nproc"], opts.threads,
             opts.connections, opts.duration, opts.warmup, opts.rounds))
    print("values: median [min–max] over rounds; rel. direct / rel. floor: "
          "divided by the value of direct / lbx-floor-<n> in the same round")
    print()
    print("| config | CPU µs/req (httpd) | CPU rel. direct | CPU rel. floor "
          "| requests/s "
          "| req/s rel. direct | p99 ms | nginx CPU µs/req | members conn. "
          "| other CPU % | steal % | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        if not r["runs"]:
            print("| %s | – | – | – | – | – | – | – | – | – | – | no run |"
                  % r["config"])
            continue
        mem = sorted(set(x for x in r["members"] if x is not None))
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %d |"
              % (
            r["config"], med_range(r["us"], "%.1f"),
            med_range(r["us_rel"], "%.2f") if r["us_rel"] else "–",
            med_range(r["us_floor"], "%.3f") if r["us_floor"] else "–",
            med_range(r["rps"], "%.0f"),
            med_range(r["rel"], "%.2f") if r["rel"] else "–",
            med_range(r["p99"], "%.2f"),
            med_range(r["nginx_us"], "%.1f"),
            "/".join(str(x) for x in mem) or "–",
            med_range(r["other"], "%.0f"), med_range(r["steal"], "%.0f"),
            r["bad"]))
    print()
    print("CPU µs/req: utime+stime of the httpd parent and children during "
          "wrk's run, divided by wrk's completed requests.")
    print("members conn.: distinct backend addresses httpd held an "
          "established connection to after the run.")
    print("other CPU %: machine CPU used by anything but httpd, nginx and "
          "wrk during the run, in % of one core (other jobs on the box).")
    print("steal %: CPU time the hypervisor gave to other guests, in % of "
          "one core.")
    print("errors: wrk's non-2xx responses plus socket errors, summed over "
          "rounds.")


def round_orders(configs, rounds):
    """Every round runs every config once; round r starts r*len/rounds
    further along, so each config sits at a different position."""
    n = len(configs)
    out = []
    for r in range(rounds):
        k = (r * n) // max(rounds, 1)
        out.append(configs[k:] + configs[:k])
    return out


def machine_meta():
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        ver = subprocess.run([APACHE2, "-v"], capture_output=True, text=True,
                             timeout=10).stdout.splitlines()[0]
    except (OSError, subprocess.TimeoutExpired, IndexError):
        ver = "?"
    try:
        nver = subprocess.run([NGINX, "-v"], capture_output=True, text=True,
                              timeout=10).stderr.strip()
    except (OSError, subprocess.TimeoutExpired):
        nver = "?"
    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"),
            "nproc": os.cpu_count(), "cpu_model": model,
            "apache": ver, "nginx": nver,
            "loadavg_start": os.getloadavg()}


def check_tools(need_lbx, stock_methods, need_floor):
    missing = []
    if need_floor and not FLOOR_SO.exists():
        missing.append("%s (run `make bench-floor` in %s)" % (FLOOR_SO, REPO))
    if not Path(NGINX).exists():
        missing.append("%s (apt-get install -y nginx-light, or nginx)"
                       % NGINX)
    if not Path(WRK).exists():
        missing.append("%s (apt-get install -y wrk)" % WRK)
    if not Path(APACHE2).exists():
        missing.append("%s (apt-get install -y apache2)" % APACHE2)
    if need_lbx and not LBX_SO.exists():
        missing.append("%s (run `make` in %s)" % (LBX_SO, REPO))
    for so in (["mod_proxy_balancer.so"] if stock_methods else []) + [
            so for _, so in BASE_MODULES]:
        if not (MODDIR / so).exists():
            missing.append(str(MODDIR / so))
    return missing


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", default=None,
                    help="comma list of lbmethods (default %s)"
                    % DEFAULT_METHODS)
    ap.add_argument("--members", default=DEFAULT_MEMBERS,
                    help="comma list of balancer sizes (default %s)"
                    % DEFAULT_MEMBERS)
    ap.add_argument("--impl", default="lbx,stock",
                    help="comma list of lbx, stock (default both); "
                    "direct always runs")
    ap.add_argument("--rounds", type=int, default=None,
                    help="interleaved rounds (default 3)")
    ap.add_argument("--duration", type=float, default=None,
                    help="measured wrk run, seconds (default 8)")
    ap.add_argument("--warmup", type=float, default=2.0,
                    help="wrk warm-up before the measured run, seconds "
                    "(default 2; 0 = none)")
    ap.add_argument("--threads", type=int, default=2, help="wrk -t (2)")
    ap.add_argument("--connections", type=int, default=64,
                    help="wrk -c (64)")
    ap.add_argument("--no-floor", action="store_true",
                    help="leave out lbx-floor-N (mod_lbx with the bench-only "
                    "O(1) lbmethod of bench/mod_lbx_floor.c)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 round, byrequests only, 4 s")
    ap.add_argument("--deadline", type=float, default=0,
                    help="global deadline, seconds (default: computed)")
    ap.add_argument("--json", help="write every raw measurement here")
    ap.add_argument("--no-snapshot", action="store_true",
                    help="load mod_lbx.so in place instead of a copy made "
                    "at start")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary ServerRoots (configs, logs)")
    ap.add_argument("--verbose", "-v", action="store_true",
                    help="keep wrk's output in --json, print error_log lines")
    opts = ap.parse_args()

    if opts.quick:
        opts.methods = opts.methods or "byrequests"
        opts.rounds = opts.rounds or 1
        opts.duration = opts.duration or 4.0
    opts.methods = opts.methods or DEFAULT_METHODS
    opts.rounds = opts.rounds or 3
    opts.duration = opts.duration or 8.0
    # wrk takes whole seconds
    opts.duration = max(1, int(round(opts.duration)))
    opts.warmup = max(0, int(round(opts.warmup)))

    methods = [m for m in opts.methods.split(",") if m]
    impls = [x for x in opts.impl.split(",") if x]
    if set(impls) - {"lbx", "stock"}:
        ap.error("--impl: lbx, stock")
    try:
        sizes = [int(x) for x in opts.members.split(",") if x]
    except ValueError:
        ap.error("--members: comma list of integers")
    if not sizes or min(sizes) < 1 or max(sizes) > MAX_MEMBERS:
        ap.error("--members: 1 .. %d" % MAX_MEMBERS)
    for m in methods:
        if not re.match(r"^[a-z]+$", m):
            ap.error("--methods: lbmethod names, e.g. byrequests")

    configs = ["direct"]
    notes = []
    for n in sizes:
        for m in methods:
            for impl in impls:
                if (impl == "stock"
                        and not (MODDIR / ("mod_lbmethod_%s.so" % m))
                        .exists()):
                    notes.append("stock-%s-%d skipped: no %s" % (
                        m, n, MODDIR / ("mod_lbmethod_%s.so" % m)))
                    continue
                configs.append("%s-%s-%d" % (impl, m, n))
    stock_methods = [m for m in methods
                     if any(c.startswith("stock-%s-" % m) for c in configs)]
    if "lbx" in impls and not opts.no_floor:
        # the floor: mod_lbx with the bench-only O(1) lbmethod, per size
        configs += ["lbx-floor-%d" % n for n in sizes]
    missing = check_tools("lbx" in impls, stock_methods,
                          "lbx" in impls and not opts.no_floor)
    if missing:
        print("e2e_lb.py: missing, cannot run:", file=sys.stderr)
        for x in missing:
            print("  " + x, file=sys.stderr)
        return 2
    for x in notes:
        print("note: " + x)

    per = opts.warmup + opts.duration + 6  # start + stop of httpd
    if not opts.deadline:
        opts.deadline = opts.rounds * len(configs) * (per + 4) + 60
    deadline = time.monotonic() + opts.deadline
    nofile = raise_nofile()
    meta = machine_meta()
    meta["nofile"] = nofile
    orders = round_orders(configs, opts.rounds)
    print("%d configs x %d rounds, ~%ds each; global deadline %ds" % (
        len(configs), opts.rounds, per, opts.deadline), flush=True)

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop everything
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="lbx-bench-e2e-run-"))
    os.chmod(workdir, 0o755)
    opts.lbx_so = LBX_SO
    if "lbx" in impls:
        if opts.no_snapshot:
            meta["lbx_so"] = {"source": str(LBX_SO), "loaded_from":
                              str(LBX_SO)}
        else:
            opts.lbx_so, meta["lbx_so"] = snapshot_lbx(workdir)
        print("mod_lbx: %s" % json.dumps(meta["lbx_so"]), flush=True)
    meta["tree"] = git_facts()
    nginx = Nginx(max(sizes), workdir)
    wrk = Wrk()
    results = []
    stopped = None
    try:
        nginx.start(deadline)
        print("nginx pid %d on %d addresses (%s .. %s), port %d" % (
            nginx.proc.pid, max(sizes), member_addr(0),
            member_addr(max(sizes) - 1), nginx.port), flush=True)
        for rnd, order in enumerate(orders):
            for name in order:
                try:
                    r = measure(name, nginx, wrk, opts, deadline)
                except RuntimeError as e:
                    print("round %d %-22s FAILED: %s" % (rnd, name, e),
                          flush=True)
                    results.append({"config": name, "round": rnd,
                                    "error": str(e)})
                    continue
                r["round"] = rnd
                results.append(r)
                print("round %d %-22s %7.1f µs/req %8.0f req/s  p99 %6.2f ms"
                      "  nginx %5.1f µs/req  members %s  other %3.0f%%"
                      "  steal %3.0f%%%s%s" % (
                          rnd, name, r["httpd_cpu_us_per_req"], r["rps"],
                          r["latency_ms"].get("99") or 0,
                          r["nginx_cpu_us_per_req"], r["members_connected"],
                          r["other_cpu_pct"], r["steal_pct"],
                          "  ERRORS non-2xx %d socket %s" % (
                              r["non_2xx"], r["socket_errors_detail"])
                          if r["non_2xx"] or r["socket_errors"] else "",
                          "  PIDS CHANGED" if r["pids_changed"] else ""),
                      flush=True)
                if opts.verbose:
                    for ln in r["error_log"]:
                        print("   log: " + ln)
    except Deadline as e:
        stopped = str(e)
        print("stopped: %s" % e, file=sys.stderr)
    except KeyboardInterrupt:
        stopped = "interrupted"
        print("interrupted", file=sys.stderr)
    finally:
        wrk.stop()
        nginx.stop()
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    meta["loadavg_end"] = os.getloadavg()
    if opts.json:
        Path(opts.json).write_text(json.dumps({
            "meta": meta, "stopped": stopped,
            "options": {k: v for k, v in vars(opts).items()},
            "configs": configs, "orders": orders, "results": results,
            "summary": summarize(results, configs)}, indent=1, default=str))
    ok = [r for r in results if "rps" in r]
    if ok:
        report(results, configs, opts, meta)
    return 0 if ok and not stopped and len(ok) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
