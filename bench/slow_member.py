#!/usr/bin/python3
"""Four members, one answering 50 ms late: how much traffic does it get?

A real /usr/sbin/apache2 (event MPM, 2 children x 64 threads, loopback only)
balances four members: ports of one asyncio backend started by this script
(``--serve-backend``), three answering at once and one after --delay-ms
(50).  wrk -c64 drives the front-end over keep-alive for --duration seconds
after a warm-up; the backend counts the requests each port served in the
measured window, and wrk gives the p99 latency.

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
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from benchlib import (APACHE2, LBX_SO, MODDIR, PROXY_MODULES, Deadline,
                      free_port)
from e2e_lb import WRK, Httpd, Wrk, stop_process

CONFIGS = ["fast-lbx-bylatency", "slow-lbx-bylatency", "slow-lbx-bybusyness",
           "slow-stock-bybusyness"]


# --------------------------------------------------------------------------
# Backend: five ports, the last one slow
# --------------------------------------------------------------------------
class Counter(asyncio.Protocol):
    """Minimal HTTP/1.1 keep-alive server: every request gets a 2-byte
    answer, after `delay` seconds; GET /_counts answers the JSON of
    requests served per port since the last /_counts?reset."""

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


async def serve(ports, delay_ms):
    loop = asyncio.get_running_loop()
    counts = {str(p): 0 for p in ports}
    for i, p in enumerate(ports):
        delay = delay_ms / 1000.0 if i == len(ports) - 1 else 0
        await loop.create_server(
            lambda p=p, d=delay: Counter(p, d, counts), "127.0.0.1", p,
            backlog=1024, reuse_address=True)
    print("READY", flush=True)
    await asyncio.Event().wait()


def serve_backend(args):
    ports = [int(x) for x in args.split(",")]
    delay_ms = ports.pop()
    asyncio.run(serve(ports, delay_ms))


class Backend:
    def __init__(self, delay_ms):
        self.ports = [free_port() for _ in range(5)]
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-backend",
             ",".join(str(p) for p in self.ports + [delay_ms])],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        if self.proc.stdout.readline().strip() != "READY":
            self.stop()
            raise RuntimeError("backend did not start")

    def counts(self, reset=False):
        url = "http://127.0.0.1:%d/_counts%s" % (self.ports[0],
                                                  "?reset" if reset else "")
        with urllib.request.urlopen(url, timeout=10) as r:
            return {int(k): v for k, v in json.loads(r.read()).items()}

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc, signal.SIGKILL, 10)
            self.proc = None


# --------------------------------------------------------------------------
# Front-end
# --------------------------------------------------------------------------
def config_fn(root, port, name, backend, lbx_so):
    case, impl, method = name.split("-")
    members = backend.ports[:4] if case == "fast" else (
        backend.ports[:3] + backend.ports[4:])
    mods = ["LoadModule %s %s" % (sym, MODDIR / so)
            for sym, so in PROXY_MODULES]
    if impl == "stock":
        mods += ["LoadModule proxy_balancer_module %s"
                 % (MODDIR / "mod_proxy_balancer.so"),
                 "LoadModule lbmethod_%s_module %s"
                 % (method, MODDIR / ("mod_lbmethod_%s.so" % method))]
    else:
        mods += ["LoadModule lbx_module %s" % lbx_so]
    return "\n".join([
        "# generated by bench/slow_member.py (%s)" % name,
        'ServerRoot "%s"' % root,
        'DefaultRuntimeDir "%s"' % (root / "run"),
        'PidFile "%s"' % (root / "run" / "httpd.pid"),
        "Listen 127.0.0.1:%d" % port, "ServerName 127.0.0.1",
        "User nobody", "Group nogroup", *mods,
        "StartServers 2", "ServerLimit 2", "ThreadsPerChild 64",
        "ThreadLimit 64", "MinSpareThreads 64", "MaxSpareThreads 128",
        "MaxRequestWorkers 128", "MaxConnectionsPerChild 0", "Timeout 30",
        "KeepAlive On", "MaxKeepAliveRequests 0", "KeepAliveTimeout 30",
        'ErrorLog "%s"' % (root / "logs" / "error_log"), "LogLevel warn",
        "<Location />", "    Require all granted", "</Location>",
        "<Proxy balancer://b>",
        *["    BalancerMember http://127.0.0.1:%d" % p for p in members],
        "    ProxySet lbmethod=%s" % method, "</Proxy>",
        "ProxyPass /b/ balancer://b/", ""])


def measure(name, backend, wrk, opts, deadline):
    h = Httpd(name, backend, False, LBX_SO, config_fn=config_fn)
    try:
        h.start(deadline)
        if opts.warmup:
            wrk.run(h.url, opts.warmup, opts, deadline)
        backend.counts(reset=True)
        w = wrk.run(h.url, opts.duration, opts, deadline)
        counts = backend.counts()
        slow = counts[backend.ports[4]]
        total = sum(counts.values())
        return {"config": name, "requests": total, "slow": slow,
                "slow_pct": 100.0 * slow / total if total else None,
                "p99_ms": w["latency_ms"].get("99"),
                "p50_ms": w["latency_ms"].get("50"), "rps": w["rps"],
                "errors": w["non_2xx"] + w["socket_errors"],
                "counts": counts}
    finally:
        h.stop()


def report(results):
    print()
    print("| config | to the slow member % | p99 ms | p99 rel. all-fast | "
          "p50 ms | requests/s | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    fast = [r["p99_ms"] for r in results
            if r["config"] == "fast-lbx-bylatency" and r.get("p99_ms")]
    base = statistics.median(fast) if fast else None
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
        rel = "-"
        if base:
            v = [r["p99_ms"] / base for r in rs if r.get("p99_ms")]
            rel = "%.2f [%.2f–%.2f]" % (statistics.median(v), min(v), max(v))
        print("| %s | %s | %s | %s | %s | %s | %d |" % (
            name, mr("slow_pct", "%.2f"), mr("p99_ms", "%.2f"), rel,
            mr("p50_ms", "%.2f"), mr("rps", "%.0f"),
            sum(r["errors"] for r in rs)))
    print("\nmedian [min–max] over rounds; p99 rel. all-fast divides each "
          "round's p99 by the median all-fast p99.")


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
    missing = [x for x in (WRK, APACHE2, str(LBX_SO),
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
    backend = Backend(opts.delay_ms)
    wrk = Wrk()
    results = []
    try:
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
                print("round %d %-24s slow %6.2f %%  p99 %7.2f ms  "
                      "%7.0f req/s" % (rnd, name, r["slow_pct"] or 0,
                                      r["p99_ms"] or 0, r["rps"]),
                      flush=True)
    except Deadline as e:
        print("stopped: %s" % e, file=sys.stderr)
    finally:
        wrk.stop()
        backend.stop()
    if opts.json:
        Path(opts.json).write_text(json.dumps(results, indent=1))
    report(results)
    return 0 if results and all("rps" in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
