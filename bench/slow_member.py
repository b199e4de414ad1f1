#!/usr/bin/python3
"""Four members, one answering 50 ms late: how much traffic does it get?

A real /usr/sbin/apache2 (event MPM, 2 children x 64 threads, loopback only)
balances four members.  The fast ones are one nginx (as in e2e_lb.py)
listening on 127.0.1.1 ... 127.0.1.4; the slow one is an asyncio backend
started by this script (``--serve-backend``) on 127.0.0.1 that answers
after --delay-ms (50) and counts what it served.  wrk -c64 drives the
front-end over keep-alive for --duration seconds after a warm-up; the
slow member's share is its count over wrk's requests in the measured
window, and wrk gives the p99 latency.  (A Python backend for every member
saturated a core at this rate and its own queueing then dominated the
latencies; nginx keeps the fast members fast.)

Configurations, each in a fresh httpd, interleaved over --rounds rounds:

* ``fast-lbx-bylatency``:   four fast members, mod_lbx bylatency (the p99
  a slow member should not spoil)
* ``slow-lbx-bylatency``:   three fast members and the slow one
* ``slow-lbx-bybusyness``, ``slow-stock-bybusyness``: the same pool with
  bybusyness, mod_lbx and stock mod_proxy_balancer

Targets (issue 10): bylatency sends at most 0.3 % of the requests to the
slow member, and its p99 stays within 1.2 x the all-fast p99.

This is a benchmark, not a test: not part of `make check` or CI.  It needs
wrk (``apt-get install -y wrk``).

    /usr/bin/python3 bench/slow_member.py            # 3 rounds, ~4 min
    /usr/bin/python3 bench/slow_member.py --rounds 1 --duration 5

Bounded like e2e_lb.py: a global deadline, every wait with its own timeout,
the backend, httpd and wrk stopped by pid in `finally` blocks.
"""
import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from benchlib import APACHE2, LBX_SO, MODDIR, Deadline, free_port
from e2e_lb import (NGINX, WRK, Httpd, Nginx, Wrk, balancer_modules,
                    front_end_config, member_addr, stop_process)

CONFIGS = ["fast-lbx-bylatency", "slow-lbx-bylatency", "slow-lbx-bybusyness",
           "slow-stock-bybusyness"]


# --------------------------------------------------------------------------
# The slow member
# --------------------------------------------------------------------------
class Counter(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: every request gets a 2-byte
    answer, after `delay` seconds; GET /_counts answers (at once) the JSON
    of requests served since the last /_counts?reset."""

    def __init__(self, port, delay, counts):
        self.port, self.delay, self.counts = port, delay, counts
        self.buf = b""

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            line = head.split(b"\r\n", 1)[0]
            if b" /_counts" in line:
                body = json.dumps(self.counts).encode()
                if b"reset" in line:
                    for k in self.counts:
                        self.counts[k] = 0
                self.reply(body)
                continue
            self.counts[str(self.port)] += 1
            if self.delay:
                asyncio.get_running_loop().call_later(self.delay, self.reply,
                                                      b"ok")
            else:
                self.reply(b"ok")

    def reply(self, body):
        if not self.transport.is_closing():
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                                 b"Content-Type: text/plain\r\n\r\n%s"
                                 % (len(body), body))


async def serve(port, delay_ms):
    loop = asyncio.get_running_loop()
    counts = {str(port): 0}
    await loop.create_server(
        lambda: Counter(port, delay_ms / 1000.0, counts), "127.0.0.1", port,
        backlog=1024, reuse_address=True)
    print("READY", flush=True)
    await asyncio.Event().wait()


def serve_backend(args):
    port, delay_ms = (int(x) for x in args.split(","))
    asyncio.run(serve(port, delay_ms))


class Backend:
    """nginx for the four fast members, the slow one in Python."""

    def __init__(self, delay_ms, workdir, deadline):
        self.nginx = Nginx(4, workdir)
        self.nginx.start(deadline)
        self.fast = ["%s:%d" % (member_addr(i), self.nginx.port)
                     for i in range(4)]
        self.slow_port = free_port()
        self.slow = "127.0.0.1:%d" % self.slow_port
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-backend",
             "%d,%d" % (self.slow_port, delay_ms)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        if self.proc.stdout.readline().strip() != "READY":
            self.stop()
            raise RuntimeError("slow backend did not start")

    def slow_count(self, reset=False):
        url = "http://%s/_counts%s" % (self.slow, "?reset" if reset else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            return json.loads(r.read())[str(self.slow_port)]

    def stop(self):
        self.nginx.stop()
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL, 10)
            self.proc = None


# --------------------------------------------------------------------------
# Front-end
# --------------------------------------------------------------------------
def config_fn(root, port, name, backend, lbx_so):
    case, impl, method = name.split("-")
    members = backend.fast if case == "fast" else (
        backend.fast[:3] + [backend.slow])
    return front_end_config(root, port, "bench/slow_member.py (%s)" % name,
                            balancer_modules(impl, method, lbx_so), [
        # the front-end's own view: microseconds from reading the request
        # to the end of the answer, and the member it went to
        'LogFormat "%D %{BALANCER_WORKER_NAME}e" lbxslow',
        'CustomLog "%s" lbxslow' % (root / "logs" / "access"),
        "<Proxy balancer://b>",
        *["    BalancerMember http://%s" % m for m in members],
        "    ProxySet lbmethod=%s" % method, "</Proxy>",
        "ProxyPass /b/ balancer://b/"])


def percentile(sorted_vals, pct):
    if not sorted_vals:
        return None
    return sorted_vals[min(len(sorted_vals) - 1,
                           int(len(sorted_vals) * pct / 100.0))]


def access_log_view(path, slow_member):
    """(p99 ms, p50 ms, % to the slow member) from the front-end's log."""
    us, to_slow = [], 0
    for line in path.read_text(errors="replace").splitlines():
        f = line.split()
        if len(f) == 2 and f[0].isdigit():
            us.append(int(f[0]))
            to_slow += f[1] == "http://" + slow_member
    us.sort()
    if not us:
        return None, None, None
    return (percentile(us, 99) / 1000.0, percentile(us, 50) / 1000.0,
            100.0 * to_slow / len(us))


def measure(name, backend, wrk, opts, deadline):
    h = Httpd(name, backend, False, LBX_SO, config_fn=config_fn)
    log = h.root / "logs" / "access"
    try:
        h.start(deadline)
        if opts.warmup:
            wrk.run(h.url, opts.warmup, opts, deadline)
        backend.slow_count(reset=True)
        log.write_text("")  # httpd appends: the measured run only
        w = wrk.run(h.url, opts.duration, opts, deadline)
        slow = backend.slow_count()
        total = w["requests"]
        p99, p50, logged_pct = access_log_view(log, backend.slow)
        return {"config": name, "requests": total, "slow": slow,
                "slow_pct": 100.0 * slow / total if total else None,
                "slow_pct_log": logged_pct,
                "p99_ms": w["latency_ms"].get("99"),
                "p50_ms": w["latency_ms"].get("50"),
                "httpd_p99_ms": p99, "httpd_p50_ms": p50, "rps": w["rps"],
                "errors": w["non_2xx"] + w["socket_errors"]}
    finally:
        h.stop()


def report(results):
    print()
    print("| config | to the slow member % | front-end p99 ms | front-end "
          "p99 rel. all-fast | wrk p99 ms | wrk p99 rel. all-fast | wrk p50 ms "
          "| requests/s | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def base_of(key):
        v = [r[key] for r in results
             if r["config"] == "fast-lbx-bylatency" and r.get(key)]
        return statistics.median(v) if v else None
    bases = {k: base_of(k) for k in ("p99_ms", "httpd_p99_ms")}
    for name in CONFIGS:
        rs = [r for r in results if r["config"] == name and "rps" in r]
        if not rs:
            continue

        def mr(key, fmt):
            v = [r[key] for r in rs if r.get(key) is not None]
            if not v:
                return "-"
            return (fmt % statistics.median(v)) + " [" + (fmt % min(v)) + \
                "–" + (fmt % max(v)) + "]"
        def rel(key):
            v = [r[key] / bases[key] for r in rs
                 if r.get(key) and bases[key]]
            if not v:
                return "-"
            return "%.2f [%.2f–%.2f]" % (statistics.median(v), min(v), max(v))
        print("| %s | %s | %s | %s | %s | %s | %s | %s | %d |" % (
            name, mr("slow_pct", "%.2f"), mr("httpd_p99_ms", "%.2f"),
            rel("httpd_p99_ms"), mr("p99_ms", "%.2f"), rel("p99_ms"),
            mr("p50_ms", "%.2f"), mr("rps", "%.0f"),
            sum(r["errors"] for r in rs)))
    print("\nmedian [min–max] over rounds.  to the slow member: what the slow"
          " backend served / wrk's requests.  front-end p99: httpd's %D"
          " (request read to answer sent) over the measured run, from its"
          " access log; wrk p99: wrk's own figure.  rel. all-fast: divided by"
          " the median of fast-lbx-bylatency.")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-backend":
        serve_backend(sys.argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--delay-ms", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--json", help="write every raw measurement here")
    opts = ap.parse_args()
    missing = [x for x in (WRK, NGINX, APACHE2, str(LBX_SO),
                           str(MODDIR / "mod_proxy_balancer.so"),
                           str(MODDIR / "mod_lbmethod_bybusyness.so"))
               if not Path(x).exists()]
    if missing:
        print("slow_member.py: missing: %s" % ", ".join(missing),
              file=sys.stderr)
        return 2
    deadline = time.monotonic() + opts.rounds * len(CONFIGS) * (
        opts.warmup + opts.duration + 40) + 60
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="lbx-bench-slow-"))
    os.chmod(workdir, 0o755)
    backend = None
    wrk = Wrk()
    results = []
    try:
        backend = Backend(opts.delay_ms, workdir, deadline)
        for rnd in range(opts.rounds):
            order = CONFIGS[rnd % len(CONFIGS):] + CONFIGS[:rnd % len(CONFIGS)]
            for name in order:
                try:
                    r = measure(name, backend, wrk, opts, deadline)
                except RuntimeError as e:
                    results.append({"config": name, "error": str(e)})
                    print("round %d %s FAILED: %s" % (rnd, name, e))
                    continue
                r["round"] = rnd
                results.append(r)
                print("round %d %-24s slow %6.2f %% (log %6.2f %%)  front-end "
                      "p99 %7.2f ms  wrk p99 %7.2f ms  %7.0f req/s" % (
                          rnd, name, r["slow_pct"] or 0,
                          r["slow_pct_log"] or 0, r["httpd_p99_ms"] or 0,
                          r["p99_ms"] or 0, r["rps"]), flush=True)
    except Deadline as e:
        print("stopped: %s" % e, file=sys.stderr)
    finally:
        wrk.stop()
        if backend:
            backend.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=1))
    report(results)
    return 0 if results and all("rps" in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
