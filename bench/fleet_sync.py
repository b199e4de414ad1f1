#!/usr/bin/python3
"""LBXFleet: how long a balancer-manager edit takes to reach the other
front-ends.

Three real /usr/sbin/apache2 front-ends (event MPM, 2 children each,
loopback) with ``LBXFleet`` on one redis-server started here (append-only
file on), a balancer of 4 members (backend.py of the test suite).  Each
round POSTs a load-factor change to front-end A's balancer-manager (with
its nonce and Referer, as a browser does) and polls B's and C's
``?format=json`` every 5 ms until the new value shows; the time from the
POST's answer to the first poll that sees it is the propagation time.

Then, with every member health-checked each second (hcmethod=GET
hcinterval=1 hcfails=1) and LBXFleet's one prober per member: the checks
each member gets per second over 10 s (one front-end's worth, not three),
and the time from a member's health endpoint answering 500 until all three
front-ends show it out (polled every 20 ms).

Usage: /usr/bin/python3 bench/fleet_sync.py [--edits N]   (~1 min)
"""
import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "t"
                       / "integration"))
import lbxharness as H  # noqa: E402
from test_fleet import HC, fleet_conf  # noqa: E402

MGR = "/balancer-manager"


def stop_all(fes, backends, redis):
    """Stop every front-end, backend and the redis-server, by pid."""
    for h in fes:
        h.stop()
        h.cleanup()
    backends.cleanup()
    redis.stop()


def member(h, url):
    doc = requests.get(h.base_url + MGR + "?format=json", timeout=5).json()
    for m in doc["balancers"][0]["members"]:
        if m["name"] == url:
            return m
    return None


def health(work):
    """Probe load and verdict propagation with 10 checked members."""
    backends = H.Backends(str(work))
    redis = H.Redis(work / "health")
    (work / "health").mkdir()
    fes = []
    try:
        redis.start()
        ms = backends.start_many(*("h%d" % i for i in range(10)))
        for i in ("A", "B", "C"):
            h = H.Httpd("lbx", fleet_conf(redis.url, i, ms, params=HC),
                        name="fleetH" + i)
            fes.append(h)
            h.start()
        H.deadline_poll(lambda: sum(x["members"] for x in requests.get(
            fes[0].base_url + MGR + "?format=json", timeout=5).json()
            ["fleet"]["leases"]) == 10, 15, what="leases")
        time.sleep(2)
        t0 = time.time()
        time.sleep(10)
        rates = []
        for m in ms:
            hits = requests.get(m.url + "/_control/health_count",
                                timeout=5).json()["hits"]
            rates.append(len([x for x in hits if x["t"] >= t0]) / 10.0)
        print("checks per member per second, 3 front-ends, hcinterval=1: "
              "median %.2f, min %.2f, max %.2f (one prober: 1.0; each "
              "front-end probing: 3.0)" % (statistics.median(rates),
                                           min(rates), max(rates)))
        took = []
        for m in ms[:5]:
            requests.get(m.url + "/_control?health_status=500", timeout=5)
            t = time.monotonic()
            waiting = set(range(3))
            while waiting and time.monotonic() - t < 15:
                for k in list(waiting):
                    if member(fes[k], m.url)["flags"]["hc_failed"]:
                        waiting.discard(k)
                time.sleep(0.02)
            took.append(time.monotonic() - t)
        print("member health -> 500 until out on all three front-ends "
              "(5 members, hcinterval=1, hcfails=1): median %.2f s, max "
              "%.2f s" % (statistics.median(took), max(took)))
    finally:
        stop_all(fes, backends, redis)


def loadfactor(h, url):
    m = member(h, url)
    return m and m["loadfactor"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edits", type=int, default=20)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lbx-bench-fleet-"))
    backends = H.Backends(str(work))
    redis = H.Redis(work)
    fes = []
    try:
        redis.start()
        members = backends.start_many("m1", "m2", "m3", "m4")
        for i in ("A", "B", "C"):
            h = H.Httpd("lbx", fleet_conf(redis.url, i, members), name="fleet" + i)
            fes.append(h)
            h.start()
        a = fes[0]
        for h in fes:
            H.deadline_poll(lambda: requests.get(
                h.base_url + MGR + "?format=json", timeout=5).json()
                ["fleet"]["connected"], 10, what="joined")
        took = {"B": [], "C": []}
        for n in range(args.edits):
            lf = 2 + n % 50
            page = requests.get(a.base_url + MGR, timeout=5).text
            nonce = re.search(r"nonce=([0-9a-fA-F-]+)", page).group(1)
            requests.post(a.base_url + MGR, timeout=5,
                          headers={"Referer": a.base_url + MGR},
                          data={"b": "fl", "w": members[0].url,
                                "nonce": nonce, "w_lf": str(lf)})
            t0 = time.monotonic()
            waiting = {"B": fes[1], "C": fes[2]}
            while waiting and time.monotonic() - t0 < 10:
                for k, h in list(waiting.items()):
                    if loadfactor(h, members[0].url) == lf:
                        took[k].append((time.monotonic() - t0) * 1000)
                        del waiting[k]
                time.sleep(0.005)
            if waiting:
                print("edit %d: not seen on %s within 10 s" % (
                    n, ",".join(waiting)))
        print("%d edits on A; propagation in ms (POST answered -> seen in "
              "JSON, 5 ms polls)" % args.edits)
        for k, v in took.items():
            if v:
                print("  to %s: median %.0f, p95 %.0f, max %.0f (n=%d)" % (
                    k, statistics.median(v),
                    sorted(v)[max(0, int(len(v) * 0.95) - 1)], max(v),
                    len(v)))
    finally:
        stop_all(fes, backends, redis)
    health(work)


if __name__ == "__main__":
    main()
