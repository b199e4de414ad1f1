#!/usr/bin/python3
"""A member hangs (SIGSTOP) for 10 s: how many requests fail, and for how long?

A real /usr/sbin/apache2 (event MPM, 2 children, loopback only) balances four
members m1..m4, each a threaded HTTP/1.1 keep-alive backend of this script
(``--serve-backend``) on 127.0.0.1 answering 200 and its name at once, in
``<Proxy balancer://pool>`` with ``ProxySet lbmethod=byrequests`` and member
parameters ``timeout=2 hcmethod=GET hcuri=/ hcinterval=1 hcpasses=1
hcfails=1``: ``stock`` is mod_proxy_balancer + mod_lbmethod_byrequests +
mod_proxy_hcheck (mod_watchdog is built into Debian's apache2), ``lbx`` is a
copy of mod_lbx.so taken at start, plus the --lbx-extra lines in <Proxy>
(default ``LBXEjection fails=2 time=1s maxtime=30s maxshare=50``; ``''`` for
none).  LogLevel warn, info for proxy_hcheck / lbx (health check lines).

Load: 16 threads, each with its own keep-alive http.client connection (10 s
timeout), loop GET /b/ recording send time, end time, status or exception.
After a 2 s warm-up m1's process gets SIGSTOP, 10 s later SIGCONT, and the
load runs 8 s more.  (A closed loop: while the hung member gets requests,
every client soon waits on it, so failures come in waves of up to 16, one
per member timeout.)  Columns, per run:

* requests; failed (non-2xx or exception); failed sent after SIGSTOP;
* time to eject: SIGSTOP to the send time of the last failed request (after
  it no request went to the hung member);
* m1 back after: SIGCONT to the send time of the first 200 from m1;
* m1 served after SIGCONT: 200s from m1 sent after SIGCONT; m1 backend
  after SIGCONT: its own count, which adds the requests queued while it was
  stopped that the proxy had given up on;
* longest stall: longest time after SIGSTOP without a 2xx completing;
* failures: status codes / exception names.  Each run also prints the
  non-2xx access log (status, proxy_timedout note, member), error_log
  message numbers, and the lines mentioning "eject" or a health check,
  timed from the SIGSTOP.

stock and lbx are interleaved over --rounds rounds, each in a fresh httpd
with fresh members.  A benchmark, not a test: not in `make check` or CI.

    /usr/bin/python3 bench/sigstop.py                     # 2 rounds, ~2 min
    /usr/bin/python3 bench/sigstop.py --only stock --rounds 1
    /usr/bin/python3 bench/sigstop.py --only lbx --lbx-extra ''
    /usr/bin/python3 bench/sigstop.py --only stock \
        --stock-extra 'ProxySet failontimeout=on'
    /usr/bin/python3 bench/sigstop.py --member-params timeout=2  # no checks

Bounded like e2e_lb.py: a global deadline, every wait with its own timeout,
requests capped (--max-requests), members and httpd stopped by pid in
`finally` blocks (a stopped member gets SIGCONT first).
"""
import argparse
import collections
import http.client
import json
import os
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

from benchlib import APACHE2, LBX_SO, MODDIR, Deadline, GiveUp, kill_pid
from e2e_lb import (Httpd, balancer_modules, front_end_config, git_facts,
                    http_get, snapshot_lbx, stop_process)

IMPLS = ["stock", "lbx"]
DEFAULT_LBX_EXTRA = "LBXEjection fails=2 time=1s maxtime=30s maxshare=50"
MEMBER = "timeout=2 hcmethod=GET hcuri=/ hcinterval=1 hcpasses=1 hcfails=1"


# --------------------------------------------------------------------------
# The members: one process each, threaded, keep-alive
# --------------------------------------------------------------------------
class Handler(BaseHTTPRequestHandler):
    """200 + the member's name for any path.  Requests with X-Bench (the
    load) are recorded with their time.time(), others (health checks)
    counted; /__count?since=T answers {"since": load requests at or after
    T, "checks": N}."""
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):  # noqa: N802 - http.server's naming
        srv = self.server
        if self.path.startswith("/__count"):
            m = re.search(r"since=([0-9.]+)", self.path)
            since = float(m.group(1)) if m else 0.0
            with srv.lock:
                body = json.dumps({"since": sum(t >= since for t in srv.times),
                                   "checks": srv.checks}).encode()
        else:
            with srv.lock:
                if self.headers.get("X-Bench"):
                    srv.times.append(time.time())
                else:
                    srv.checks += 1
            body = srv.name.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server(ThreadingHTTPServer):
    # a listen backlog like a real server's: while the member is stopped,
    # the kernel keeps accepting connections (requests then time out)
    request_queue_size = 128
    daemon_threads = True


def serve_backend(name):
    srv = Server(("127.0.0.1", 0), Handler)
    srv.name, srv.lock, srv.times, srv.checks = name, threading.Lock(), [], 0
    print("READY %d" % srv.server_address[1], flush=True)
    srv.serve_forever(poll_interval=0.2)


class Member:
    def __init__(self, name):
        self.name, self.port = name, None
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-backend", name],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline().split() if ready else []
        if len(line) != 2 or line[0] != "READY":
            self.stop()
            raise RuntimeError("backend %s did not start" % name)
        self.port = int(line[1])

    def counts(self, since):
        _, body = http_get("http://127.0.0.1:%d/__count?since=%.6f" % (
            self.port, since), 10)
        return json.loads(body)

    def stop(self):
        if self.proc is not None:
            kill_pid(self.proc.pid, signal.SIGCONT)
            stop_process(self.proc, signal.SIGKILL, 10)
            self.proc = None


# --------------------------------------------------------------------------
# Front-end
# --------------------------------------------------------------------------
class Front(Httpd):
    def _serving(self):  # the members answer their name, not "ok"
        if self.proc.poll() is not None:
            raise GiveUp("apache2 exited rc=%s" % self.proc.returncode)
        st, body = http_get(self.url, 10)
        if st != 200 or not re.match(rb"^m\d$", body):
            raise RuntimeError("GET /b/ -> %s %r" % (st, body[:80]))
        return True


def config_fn(root, port, impl, setup, lbx_so):
    mods = balancer_modules(impl, "byrequests", lbx_so)
    if impl == "stock":
        mods.append("LoadModule proxy_hcheck_module %s"
                    % (MODDIR / "mod_proxy_hcheck.so"))
        extra, loglevel = setup.stock_extra, "LogLevel warn proxy_hcheck:info"
    else:
        extra, loglevel = setup.lbx_extra, "LogLevel warn lbx:info"
    return front_end_config(root, port, "bench/sigstop.py (%s)" % impl, mods, [
        loglevel, "<Proxy balancer://pool>",
        *["    BalancerMember http://127.0.0.1:%d %s" % (m.port,
                                                    setup.member_params)
          for m in setup.members],
        "    ProxySet lbmethod=byrequests",
        *["    " + x for x in extra], "</Proxy>",
        "ProxyPass /b/ balancer://pool/",
        # every answer that is not a 2xx: status, the proxy_timedout note
        # mod_proxy_http sets on a read timeout, the member it went to
        'LogFormat "%>s %{proxy_timedout}n %{BALANCER_WORKER_NAME}e" lbxfail',
        'CustomLog "%s" lbxfail "expr=%%{REQUEST_STATUS} -ge 300"'
        % (root / "logs" / "failed")])


# --------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------
def client(port, stop, hard_end, max_n, out):
    """GET /b/ in a loop on one keep-alive connection (a new one after an
    error); out gets (send, end, status or exception name, body)."""
    conn = None
    while not stop.is_set() and len(out) < max_n and \
            time.monotonic() < hard_end:
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        t0 = time.monotonic()
        try:
            conn.request("GET", "/b/", headers={"X-Bench": "1"})
            r = conn.getresponse()
            body = r.read(64).decode(errors="replace")
            res = r.status
            if r.will_close or r.status >= 300:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            res, body = type(e).__name__, ""
            conn.close()
            conn = None
        out.append((t0, time.monotonic(), res, body))
    if conn is not None:
        conn.close()


def sleep_until(t, deadline):
    if t > deadline:
        raise Deadline("global deadline reached")
    time.sleep(max(0.0, t - time.monotonic()))


LOG_TIME = re.compile(r"^\[\w{3} (\w{3} \d{2} \d{2}:\d{2}:\d{2})\.(\d{6}) "
                      r"(\d{4})\]")


def log_view(text, w_stop):
    """(lines mentioning eject or a health check, each prefixed with its
    time relative to the SIGSTOP; count of each message number)."""
    lines, codes = [], collections.Counter()
    for ln in text.splitlines():
        m = re.search(r"\b((?:AH|LBX)\d{5})", ln)
        if m:
            codes[m.group(1)] += 1
        if not re.search(r"eject|health check", ln, re.I):
            continue
        t = LOG_TIME.match(ln)
        rel = "?"
        if t:
            wall = time.mktime(time.strptime("%s %s" % (t.group(1), t.group(
                3)), "%b %d %H:%M:%S %Y")) + int(t.group(2)) / 1e6
            rel = "%+.2fs" % (wall - w_stop)
        lines.append("%s %s" % (rel, ln))
    return lines, dict(codes)


def analyze(reqs, t_stop, t_cont):
    def ok(r):
        return isinstance(r[2], int) and 200 <= r[2] < 300
    failed = [r for r in reqs if not ok(r)]
    after = [r for r in failed if r[0] >= t_stop]
    m1_ok = [r for r in reqs if ok(r) and r[3] == "m1"]
    back = [r[0] for r in m1_ok if r[0] >= t_cont]
    kinds = collections.Counter(str(r[2]) for r in failed)
    lat = sorted(r[1] - r[0] for r in failed)
    ends = sorted([t_stop] + [r[1] for r in reqs if ok(r) and r[1] > t_stop])
    return {
        "requests": len(reqs), "failed": len(failed),
        "failed_after_stop": len(after),
        "time_to_eject_s": (max(r[0] for r in after) - t_stop) if after
        else None,
        "m1_back_after_s": (min(back) - t_cont) if back else None,
        "m1_served_after_cont": len(back),
        "failures": dict(kinds),
        "longest_stall_s": max(b - a for a, b in zip(ends, ends[1:]))
        if len(ends) > 1 else None,
        "failed_latency_s": [round(lat[0], 3), round(lat[len(lat) // 2], 3),
                             round(lat[-1], 3)] if lat else None,
        "served_by": dict(collections.Counter(r[3] for r in reqs if ok(r))),
    }


def measure(impl, opts, lbx_so, deadline):
    members, h, stop_ev, threads = [], None, threading.Event(), []
    try:
        members = [Member("m%d" % (i + 1)) for i in range(4)]
        h = Front(impl, SimpleNamespace(members=members,
                                        lbx_extra=opts.lbx_extra,
                                        stock_extra=opts.stock_extra,
                                        member_params=opts.member_params),
                  opts.keep, lbx_so, config_fn=config_fn)
        h.start(deadline)
        outs = [[] for _ in range(opts.clients)]
        t0 = time.monotonic()
        hard_end = min(deadline, t0 + opts.warmup + opts.stop + opts.after
                       + 15)
        threads = [threading.Thread(target=client, daemon=True, args=(
            h.port, stop_ev, hard_end, opts.max_requests // opts.clients, o))
            for o in outs]
        for t in threads:
            t.start()
        sleep_until(t0 + opts.warmup, deadline)
        t_stop, w_stop = time.monotonic(), time.time()
        os.kill(members[0].proc.pid, signal.SIGSTOP)
        try:
            sleep_until(t_stop + opts.stop, deadline)
        finally:
            os.kill(members[0].proc.pid, signal.SIGCONT)
        t_cont, w_cont = time.monotonic(), time.time()
        sleep_until(t_cont + opts.after, deadline)
        stop_ev.set()
        for t in threads:
            t.join(max(0.0, min(hard_end, deadline) - time.monotonic()) + 1)
        if any(t.is_alive() for t in threads):
            raise RuntimeError("client threads did not stop")
        res = analyze([r for o in outs for r in o], t_stop, t_cont)
        c = members[0].counts(w_cont)
        res["m1_backend_after_cont"] = c["since"]
        res["m1_health_checks"] = c["checks"]
        text = (h.root / "logs" / "error_log").read_text(errors="replace")
        res["log_lines"], res["log_codes"] = log_view(text, w_stop)
        fl = (h.root / "logs" / "failed").read_text(errors="replace")
        for m in members:
            fl = fl.replace("http://127.0.0.1:%d" % m.port, m.name)
        res["failed_log"] = dict(collections.Counter(fl.splitlines()))
        res["eject_lines"] = [x for x in res["log_lines"]
                              if re.search("eject", x, re.I)]
        res["impl"], res["w_stop"] = impl, w_stop
        if opts.keep:
            res["root"] = str(h.root)
        return res
    finally:
        stop_ev.set()
        if h is not None:
            h.stop()
        for m in members:
            m.stop()
        for t in threads:
            t.join(12)


COLUMNS = [("requests", "requests", "%d"), ("failed", "failed", "%d"),
           ("failed sent after SIGSTOP", "failed_after_stop", "%d"),
           ("time to eject s", "time_to_eject_s", "%.2f"),
           ("m1 back after s", "m1_back_after_s", "%.2f"),
           ("m1 served after SIGCONT", "m1_served_after_cont", "%d"),
           ("m1 backend after SIGCONT", "m1_backend_after_cont", "%d"),
           ("longest stall s", "longest_stall_s", "%.2f")]


def cell(vals, f):
    vals = [v for v in vals if v is not None]
    if len(vals) < 2:
        return f % vals[0] if vals else "–"
    return (f + " [" + f + "–" + f + "]") % (statistics.median(vals),
                                             min(vals), max(vals))


def report(results):
    print("\n| impl | round | %s | failures |" % " | ".join(
        c[0] for c in COLUMNS))
    print("|---|---:|%s---|" % ("---:|" * len(COLUMNS)))
    for impl in IMPLS:
        rs = [r for r in results if r["impl"] == impl]
        for r in rs:
            if "error" in r:
                print("| %s | %d | FAILED: %s |" % (impl, r["round"], " ".join(
                    r["error"].split())[:300]))
                continue
            fails = ", ".join("%s %d" % kv for kv in sorted(
                r["failures"].items())) or "–"
            print("| %s | %d | %s | %s |" % (impl, r["round"], " | ".join(
                cell([r[k]], f) for _, k, f in COLUMNS), fails))
        rs = [r for r in rs if "error" not in r]
        if len(rs) > 1:
            print("| %s | median [min–max] | %s | |" % (impl, " | ".join(
                cell([r[k] for r in rs], f) for _, k, f in COLUMNS)))
    print("\nColumns: see the docstring of bench/sigstop.py.")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-backend":
        serve_backend(sys.argv[2])
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--only", choices=IMPLS, help="one implementation")
    ap.add_argument("--lbx-extra", action="append", metavar="LINE",
                    help="line added to lbx's <Proxy> (repeatable; default "
                    "%r; '' for none)" % DEFAULT_LBX_EXTRA)
    ap.add_argument("--stock-extra", action="append", metavar="LINE",
                    default=[], help="line added to stock's <Proxy> "
                    "(repeatable), e.g. 'ProxySet failontimeout=on'")
    ap.add_argument("--member-params", default=MEMBER,
                    help="BalancerMember parameters (default %r)" % MEMBER)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--stop", type=float, default=10.0, help="m1 stopped, s")
    ap.add_argument("--after", type=float, default=8.0,
                    help="load after SIGCONT, s")
    ap.add_argument("--max-requests", type=int, default=1000000,
                    help="cap on requests per run (all clients together)")
    ap.add_argument("--json", help="also write the raw results here")
    ap.add_argument("--keep", action="store_true",
                    help="keep the temporary ServerRoots (config, error_log)")
    opts = ap.parse_args()
    opts.lbx_extra = [x for x in (opts.lbx_extra or [DEFAULT_LBX_EXTRA]) if x]
    impls = [opts.only] if opts.only else IMPLS
    need = [APACHE2, str(MODDIR / "mod_proxy.so")]
    if "stock" in impls:
        need += [str(MODDIR / so) for so in ("mod_proxy_balancer.so",
                 "mod_lbmethod_byrequests.so", "mod_proxy_hcheck.so")]
    if "lbx" in impls:
        need.append(str(LBX_SO))
    missing = [x for x in need if not Path(x).exists()]
    if missing:
        print("sigstop.py: missing: %s" % ", ".join(missing), file=sys.stderr)
        return 2
    per = opts.warmup + opts.stop + opts.after + 45
    deadline = time.monotonic() + opts.rounds * len(impls) * per + 60
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="lbx-bench-sigstop-"))
    os.chmod(workdir, 0o755)
    lbx_so, meta = LBX_SO, {"date": time.strftime("%Y-%m-%d %H:%M %Z"),
                            "tree": git_facts(), "lbx_extra": opts.lbx_extra,
                            "stock_extra": opts.stock_extra,
                            "member_params": opts.member_params}
    results = []
    try:
        if "lbx" in impls:
            lbx_so, meta["lbx_so"] = snapshot_lbx(workdir)
        for rnd in range(opts.rounds):
            for impl in impls[rnd % len(impls):] + impls[:rnd % len(impls)]:
                try:
                    r = measure(impl, opts, lbx_so, deadline)
                except RuntimeError as e:
                    r = {"impl": impl, "error": str(e)}
                    print("round %d %s FAILED: %s" % (rnd, impl, e))
                r["round"] = rnd
                results.append(r)
                if "error" in r:
                    continue
                print("round %d %s: %d requests, %d failed, served by %s\n"
                      "    error_log message numbers: %s\n    non-2xx "
                      "(status, proxy_timedout note, member): %s" % (
                          rnd, impl, r["requests"], r["failed"],
                          *(json.dumps(r[k], sort_keys=True) for k in (
                              "served_by", "log_codes", "failed_log"))))
                for ln in r["log_lines"]:
                    print("    log: " + ln, flush=True)
    except Deadline as e:
        print("stopped: %s" % e, file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if opts.json:
        Path(opts.json).write_text(json.dumps({"meta": meta, "results":
                                               results}, indent=1))
    report(results)
    print("JSON " + json.dumps({"meta": meta, "results": [
        {k: v for k, v in r.items() if k != "log_lines"} for r in results]}))
    return 0 if results and all("error" not in r for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
