#!/usr/bin/python3
"""CPU cost of health-checking many balancer members: mod_lbx vs stock.

Runs a real /usr/sbin/apache2 (event MPM, 2 children, loopback only) with one
balancer of N members (default 1,000) that are distinct URLs on one local
backend, all health-checked every second (hcinterval=1), and measures the CPU
time httpd spends on it:

* ``lbx``:   /work/main/.libs/mod_lbx.so (``make`` builds it)
* ``stock``: mod_proxy_balancer + mod_lbmethod_byrequests + mod_proxy_hcheck

For each implementation three configurations are measured, each in a fresh
httpd: ``idle`` (the same balancer, no hc* parameters: the baseline), ``TCP``
(hcmethod=TCP) and ``GET`` (hcmethod=GET hcuri=/health hcexpr=ok).  After
the checks are flowing and a warm-up, the utime+stime of the httpd parent and
all its children (/proc/<pid>/stat) is sampled at the start and end of a
fixed window, together with the number of checks the backend saw.  Reported:
checks/s actually performed, httpd CPU as % of one core (raw and minus the
idle baseline) and CPU microseconds per check.

This is a benchmark, not a test: it is not part of `make check`.

    /usr/bin/python3 bench/hcheck_cpu.py                 # everything, 2 runs
    /usr/bin/python3 bench/hcheck_cpu.py --impl lbx --method GET --runs 1
    /usr/bin/python3 bench/hcheck_cpu.py --members 200 --window 10

Everything is bounded: a global deadline (--deadline), every wait polls with
its own timeout, and httpd and the backend are stopped by pid in `finally`.
Only 127.0.0.1 is ever contacted.
"""
import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import (APACHE2, CLK_TCK, LBX_SO, MODDIR, PROXY_MODULES,
                      Deadline, child_pids, cpu_ticks, free_port, kill_pid,
                      pid_alive, poll, server_head)

PYTHON = "/usr/bin/python3"
BASE_MODULES = PROXY_MODULES + [("status_module", "mod_status.so")]
STOCK_MODULES = [
    ("proxy_balancer_module", "mod_proxy_balancer.so"),
    ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"),
    ("proxy_hcheck_module", "mod_proxy_hcheck.so"),
]
IMPLS = ["lbx", "stock"]
METHODS = ["TCP", "GET"]

HTTP_ANSWER = (b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
               b"Content-Length: 3\r\n\r\nok\n")


# --------------------------------------------------------------------------
# The backend: one asyncio process, two ports.
# --------------------------------------------------------------------------
class _Stats:
    def __init__(self):
        self.tcp_conns = 0
        self.http_conns = 0
        self.http_reqs = 0
        self.http_bad = 0
        self.paths = {}  # path -> hits since the last "mark"


class _TcpProto(asyncio.Protocol):
    """hcmethod=TCP: accept, count, close."""

    def __init__(self, st):
        self.st = st

    def connection_made(self, transport):
        self.st.tcp_conns += 1
        transport.close()


class _HttpProto(asyncio.Protocol):
    """hcmethod=GET: read one request head, answer 200, close."""

    def __init__(self, st):
        self.st = st
        self.buf = b""
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        self.st.http_conns += 1

    def data_received(self, data):
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            if len(self.buf) > 16384:
                self.st.http_bad += 1
                self.transport.close()
            return
        line = self.buf.split(b"\r\n", 1)[0].split()
        if len(line) == 3 and line[0] in (b"GET", b"HEAD", b"OPTIONS"):
            self.st.http_reqs += 1
            p = line[1]
            self.st.paths[p] = self.st.paths.get(p, 0) + 1
            self.transport.write(HTTP_ANSWER if line[0] != b"HEAD"
                                 else HTTP_ANSWER[:HTTP_ANSWER.index(b"ok\n")])
        else:
            self.st.http_bad += 1
        self.transport.close()


async def _serve(max_seconds):
    st = _Stats()
    loop = asyncio.get_running_loop()
    tcp = await loop.create_server(lambda: _TcpProto(st), "127.0.0.1", 0,
                                   backlog=1024, reuse_address=True)
    http = await loop.create_server(lambda: _HttpProto(st), "127.0.0.1", 0,
                                    backlog=1024, reuse_address=True)
    out = sys.stdout
    out.write("READY %d %d\n" % (tcp.sockets[0].getsockname()[1],
                                 http.sockets[0].getsockname()[1]))
    out.flush()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    end = loop.time() + max_seconds
    while True:
        left = end - loop.time()
        if left <= 0:
            break
        try:
            line = await asyncio.wait_for(reader.readline(), left)
        except asyncio.TimeoutError:
            break
        if not line:  # parent gone
            break
        cmd = line.strip().decode()
        if cmd == "mark":
            st.paths = {}
            out.write("{}\n")
        elif cmd == "stats":
            hits = list(st.paths.values())
            out.write(json.dumps({
                "tcp_conns": st.tcp_conns, "http_conns": st.http_conns,
                "http_reqs": st.http_reqs, "http_bad": st.http_bad,
                "paths": len(hits), "path_min": min(hits) if hits else 0,
                "path_max": max(hits) if hits else 0}) + "\n")
        else:
            out.write(json.dumps({"error": cmd}) + "\n")
        out.flush()
    tcp.close()
    http.close()


def backend_main(max_seconds):
    try:
        asyncio.run(_serve(max_seconds))
    except KeyboardInterrupt:
        pass


class Backend:
    def __init__(self, max_seconds):
        self.proc = subprocess.Popen(
            [PYTHON, str(Path(__file__).resolve()), "--serve-backend",
             "--deadline", str(int(max_seconds))],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, bufsize=1)
        line = self.proc.stdout.readline().split()
        if len(line) != 3 or line[0] != "READY":
            self.stop()
            raise RuntimeError("backend did not start: %r" % line)
        self.tcp_port, self.http_port = int(line[1]), int(line[2])

    def cmd(self, c):
        self.proc.stdin.write(c + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def checks(self, method):
        s = self.cmd("stats")
        return s["tcp_conns"] if method == "TCP" else s["http_reqs"]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                kill_pid(self.proc.pid)
                self.proc.wait(timeout=10)


# --------------------------------------------------------------------------
# /proc helpers
# --------------------------------------------------------------------------
















def sleep_until(t, deadline):
    if t > deadline:
        raise Deadline("global deadline reached")
    while True:
        left = t - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, 1.0))


# --------------------------------------------------------------------------
# httpd
# --------------------------------------------------------------------------
def config_text(root, port, impl, method, members, backend, interval):
    if impl == "stock":
        impl_mods = ["LoadModule %s %s" % (sym, MODDIR / so)
                     for sym, so in STOCK_MODULES]
    else:
        impl_mods = ["LoadModule lbx_module %s" % LBX_SO]
    if method == "TCP":
        bport, hc = backend.tcp_port, " hcmethod=TCP hcinterval=%d" % interval
    elif method == "GET":
        bport, hc = backend.http_port, (
            " hcmethod=GET hcuri=/health hcexpr=ok hcinterval=%d" % interval)
    else:  # idle baseline: the same balancer, no hc parameters
        bport, hc = backend.tcp_port, ""
    # Member paths all have the same width (/m0001../m1000): mod_proxy finds
    # a worker by prefix, so /m10 would be taken for the existing /m1 and
    # the balancer would end up with fewer members than asked for.
    width = len(str(members))
    lines = server_head(root, port, "bench/hcheck_cpu.py (impl=%s method=%s)"
                        % (impl, method)) + ["LoadModule %s %s" % (sym, MODDIR / so)
         for sym, so in BASE_MODULES] + impl_mods + [
        "StartServers 2",
        "ServerLimit 4",
        "ThreadsPerChild 8",
        "ThreadLimit 8",
        "MinSpareThreads 16",
        "MaxSpareThreads 32",
        "MaxRequestWorkers 32",
        "MaxConnectionsPerChild 0",
        'ErrorLog "%s"' % (root / "logs" / "error_log"),
        "LogLevel warn",
        "ProxyStatus Full",
        "<Location /server-status>",
        "    SetHandler server-status",
        "    Require all granted",
        "</Location>",
        "ProxyHCExpr ok {%{REQUEST_STATUS} =~ /^2/}",
        "<Proxy balancer://big>",
    ] + ["    BalancerMember http://127.0.0.1:%d/m%0*d%s" % (
        bport, width, i, hc) for i in range(1, members + 1)] + [
        "</Proxy>",
        "ProxyPass /big balancer://big",
        "",
    ]
    return "\n".join(lines)


class Httpd:
    def __init__(self, impl, method, members, backend, interval, keep):
        self.root = Path(tempfile.mkdtemp(prefix="lbx-bench-hc-"))
        os.chmod(self.root, 0o755)
        for d in ("logs", "run", "conf"):
            (self.root / d).mkdir()
            os.chmod(self.root / d, 0o755)
        self.conf = self.root / "conf" / "httpd.conf"
        self.pidfile = self.root / "run" / "httpd.pid"
        self.args = (impl, method, members, backend, interval)
        self.port = None
        self.pid = None
        self.known = set()
        self.keep = keep

    def ctl(self, *args, timeout=60):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("APACHE_")}
        env["LANG"] = "C"
        return subprocess.run(
            [APACHE2, "-f", str(self.conf), "-d", str(self.root), *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env)

    def _pid(self):
        try:
            pid = int(self.pidfile.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(self, deadline):
        for attempt in range(3):
            self.port = free_port()
            self.conf.write_text(config_text(self.root, self.port,
                                             *self.args))
            p = self.ctl("-k", "start")
            if p.returncode == 0:
                break
            if "Address already in use" not in p.stdout or attempt == 2:
                raise RuntimeError("apache2 -k start failed: %s\n%s" % (
                    p.stdout, self.error_log()[-3000:]))
        self.pid = poll(self._pid, 30, "httpd pid file", deadline)
        self.known.add(self.pid)
        poll(lambda: len(self.children()) >= 2, 30, "2 httpd children",
             deadline)
        poll(lambda: self.status_text(), 30, "httpd serving", deadline)

    def children(self):
        kids = child_pids(self.pid)
        self.known.update(kids)
        return kids

    def pids(self):
        return [self.pid] + self.children()

    def status_text(self):
        url = "http://127.0.0.1:%d/server-status?auto" % self.port
        # never through an http_proxy from the environment
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(url, timeout=30) as r:
            return r.read().decode("utf-8", "replace")

    def member_states(self):
        """Counter of member Status strings from mod_status (ProxyStatus)."""
        counts = {}
        for line in self.status_text().splitlines():
            m = re.match(r"ProxyBalancer\[\d+\]Worker\[\d+\]Status: ?(.*)$",
                         line)
            if m:
                k = " ".join(m.group(1).split())
                counts[k] = counts.get(k, 0) + 1
        return counts

    def error_log(self):
        try:
            return (self.root / "logs" / "error_log").read_text(
                errors="replace")
        except OSError:
            return ""

    def stop(self):
        if self.pid is None:
            self.pid = self._pid()
        if self.pid is not None:
            self.known.add(self.pid)
            try:
                self.children()
            except OSError:
                pass
            try:
                self.ctl("-k", "stop", timeout=20)
            except subprocess.TimeoutExpired:
                pass
            end = time.monotonic() + 20
            while pid_alive(self.pid) and time.monotonic() < end:
                time.sleep(0.1)
        end = time.monotonic() + 5
        for pid in sorted(self.known):
            while pid_alive(pid) and time.monotonic() < end:
                time.sleep(0.1)
            if pid_alive(pid):
                kill_pid(pid)
        self.pid = None
        if not self.keep:
            shutil.rmtree(self.root, ignore_errors=True)


# --------------------------------------------------------------------------
# One measurement
# --------------------------------------------------------------------------
LOG_LEVEL_RX = re.compile(r"^\[[^\]]*\] \[([a-z_]+):([a-z0-9]+)\]", re.M)


def measure(impl, method, opts, backend, deadline):
    h = Httpd(impl, method, opts.members, backend, opts.interval, opts.keep)
    res = {"impl": impl, "method": method}
    try:
        h.start(deadline)
        if method in METHODS:
            c0 = backend.checks(method)
            # flowing: at least half the members checked since start
            poll(lambda: backend.checks(method) - c0 >= opts.members // 2,
                 30, "%s checks to flow" % method, deadline, interval=0.2)
        sleep_until(time.monotonic() + opts.warmup, deadline)
        log_mark = len(h.error_log())
        pids0 = h.pids()
        backend.cmd("mark")
        b0 = backend.cmd("stats")
        bcpu0 = cpu_ticks([backend.proc.pid]).get(backend.proc.pid, 0)
        t0 = time.monotonic()
        cpu0 = cpu_ticks(pids0)
        sleep_until(t0 + opts.window, deadline)
        cpu1 = cpu_ticks(pids0)
        t1 = time.monotonic()
        bcpu1 = cpu_ticks([backend.proc.pid]).get(backend.proc.pid, 0)
        b1 = backend.cmd("stats")
        pids1 = h.pids()
        wall = t1 - t0
        ticks = sum(cpu1.get(p, cpu0[p]) - cpu0[p] for p in cpu0)
        res["wall"] = wall
        res["cpu_pct"] = 100.0 * ticks / CLK_TCK / wall
        res["per_pid_pct"] = {p: 100.0 * (cpu1.get(p, cpu0[p]) - cpu0[p])
                              / CLK_TCK / wall for p in cpu0}
        res["backend_cpu_pct"] = 100.0 * (bcpu1 - bcpu0) / CLK_TCK / wall
        res["pids_changed"] = sorted(pids0) != sorted(pids1)
        if method == "TCP":
            n = b1["tcp_conns"] - b0["tcp_conns"]
        elif method == "GET":
            n = b1["http_reqs"] - b0["http_reqs"]
        else:
            n = (b1["tcp_conns"] - b0["tcp_conns"]
                 + b1["http_reqs"] - b0["http_reqs"])
        res["checks_per_s"] = n / wall
        res["http_bad"] = b1["http_bad"] - b0["http_bad"]
        if method == "GET":
            res["paths"] = (b1["paths"], b1["path_min"], b1["path_max"])
        res["states"] = h.member_states()
        log = h.error_log()
        res["log_window"] = {}
        for lv in LOG_LEVEL_RX.findall(log[log_mark:]):
            k = "%s:%s" % lv
            res["log_window"][k] = res["log_window"].get(k, 0) + 1
        res["log_total_lines"] = len(log.splitlines())
        res["log_sample"] = [ln for ln in log.splitlines()
                             if "AH00489" not in ln and "AH00094" not in ln
                             and "resuming normal" not in ln][:5]
        if opts.keep:
            res["root"] = str(h.root)
    finally:
        h.stop()
    return res


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------
def fmt_spread(vals, f="%.1f"):
    if not vals:
        return "-"
    if len(vals) == 1:
        return f % vals[0]
    return (f + " [" + f + "-" + f + "]") % (
        statistics.mean(vals), min(vals), max(vals))


def report(results, opts):
    print()
    print("members=%d hcinterval=%ds window=%ds warmup=%ds runs=%d, %d CPUs,"
          " CLK_TCK=%d; values: mean [min-max] over runs" % (
              opts.members, opts.interval, opts.window, opts.warmup,
              opts.runs, os.cpu_count(), CLK_TCK))
    hdr = ("impl", "method", "checks/s", "httpd CPU %", "minus idle %",
           "CPU us/check", "backend CPU %")
    rows = []
    for impl in opts.impls:
        idle = [r["cpu_pct"] for r in results
                if r["impl"] == impl and r["method"] == "idle"]
        idle_mean = statistics.mean(idle) if idle else 0.0
        if idle:
            rows.append((impl, "idle", "-", fmt_spread(idle, "%.2f"), "-",
                         "-", "-"))
        for method in opts.methods:
            rs = [r for r in results
                  if r["impl"] == impl and r["method"] == method]
            if not rs:
                continue
            # subtract the baseline of the same run where there is one
            net, us = [], []
            for r in rs:
                base = next((x["cpu_pct"] for x in results
                             if x["impl"] == impl and x["method"] == "idle"
                             and x["run"] == r["run"]), idle_mean)
                net.append(r["cpu_pct"] - base)
                if r["checks_per_s"] > 0:
                    us.append((r["cpu_pct"] - base) / 100.0
                              / r["checks_per_s"] * 1e6)
            rows.append((impl, method,
                         fmt_spread([r["checks_per_s"] for r in rs], "%.0f"),
                         fmt_spread([r["cpu_pct"] for r in rs], "%.2f"),
                         fmt_spread(net, "%.2f"), fmt_spread(us, "%.1f"),
                         fmt_spread([r["backend_cpu_pct"] for r in rs],
                                    "%.1f")))
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *rows)]
    line = "  ".join("%%-%ds" % w for w in widths)
    print(line % hdr)
    print(line % tuple("-" * w for w in widths))
    for r in rows:
        print(line % r)
    print()
    print("checks/s: checks the backend saw per second (target: members /"
          " hcinterval = %d/s)." % (opts.members // opts.interval))
    print("httpd CPU %: utime+stime of the httpd parent and children per "
          "wall second, in % of one core.")
    print("minus idle %: the same minus the idle baseline (same balancer, "
          "no hc* parameters) of the same run.")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", type=int, default=1000)
    ap.add_argument("--window", type=float, default=20.0,
                    help="measuring window, seconds (default 20)")
    ap.add_argument("--warmup", type=float, default=5.0,
                    help="seconds between checks flowing and the window "
                    "(default 5)")
    ap.add_argument("--interval", type=int, default=1,
                    help="hcinterval, seconds (default 1)")
    ap.add_argument("--impl", default="lbx,stock",
                    help="comma list of lbx, stock (default both)")
    ap.add_argument("--method", default="TCP,GET",
                    help="comma list of TCP, GET (default both)")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the idle (no hc*) baseline")
    ap.add_argument("--deadline", type=float, default=0,
                    help="global deadline, seconds (default: computed)")
    ap.add_argument("--json", help="also write all raw results here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary ServerRoots (error_log)")
    ap.add_argument("--verbose", "-v", action="store_true")
    ap.add_argument("--serve-backend", action="store_true",
                    help=argparse.SUPPRESS)
    opts = ap.parse_args()

    if opts.serve_backend:
        backend_main(opts.deadline or 3600)
        return 0

    opts.impls = [x for x in opts.impl.split(",") if x]
    opts.methods = [x.upper() for x in opts.method.split(",") if x]
    if set(opts.impls) - set(IMPLS) or set(opts.methods) - set(METHODS):
        ap.error("--impl: lbx,stock; --method: TCP,GET")
    if "lbx" in opts.impls and not LBX_SO.exists():
        ap.error("%s not found: run `make` first" % LBX_SO)
    cases = (["idle"] if not opts.no_baseline else []) + opts.methods
    n = opts.runs * len(opts.impls) * len(cases)
    if not opts.deadline:
        opts.deadline = n * (opts.window + opts.warmup + 60) + 30
    deadline = time.monotonic() + opts.deadline
    print("%d measurements of ~%ds each; global deadline %ds" % (
        n, opts.window + opts.warmup + 5, opts.deadline), flush=True)

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop httpd and the
    # backend (httpd daemonizes: it would outlive us otherwise).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = []
    backend = Backend(opts.deadline + 60)
    try:
        for run in range(opts.runs):
            # alternate the order so drift on a shared box hits both alike
            impls = opts.impls if run % 2 == 0 else opts.impls[::-1]
            for impl in impls:
                for method in cases:
                    r = measure(impl, method, opts, backend, deadline)
                    r["run"] = run
                    results.append(r)
                    extra = ""
                    if "paths" in r:
                        extra = " members-hit=%d (per member %d-%d)" % r[
                            "paths"]
                    print("run %d %-5s %-4s checks/s=%6.0f httpd CPU=%6.2f%%"
                          " backend CPU=%5.1f%% states=%s%s%s%s" % (
                              run, impl, method, r["checks_per_s"],
                              r["cpu_pct"], r["backend_cpu_pct"],
                              json.dumps(r["states"]), extra,
                              " log=%s" % json.dumps(r["log_window"])
                              if r["log_window"] else "",
                              " PIDS CHANGED" if r["pids_changed"] else ""),
                          flush=True)
                    if opts.verbose:
                        print("   per pid %%: %s" % {
                            p: round(v, 2)
                            for p, v in r["per_pid_pct"].items()})
                        for ln in r["log_sample"]:
                            print("   log: " + ln)
    except Deadline as e:
        print("stopped: %s" % e, file=sys.stderr)
    finally:
        backend.stop()
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=1,
                                              default=str))
    if results:
        report(results, opts)
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
