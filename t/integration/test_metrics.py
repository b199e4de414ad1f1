"""Metrics worth alerting on (mod_lbx only): per member a response-time
histogram, answers by status class, failovers, state transitions, health
checks by result and a check-duration histogram; per balancer the requests
no member could take.  The Prometheus text passes `promtool check metrics`
(Debian's prometheus package) and the strict parser of test_manager; the
counts match the requests sent, and ?format=json has the same numbers.

Timing enters only as lower bounds a slow machine cannot break: a member
that sleeps 30 ms before answering never has an answer in the 25 ms
bucket.
"""
import json
import re
import shutil
import subprocess

import pytest
import requests

import lbxharness as H
import test_manager as M
from lbxharness import member

lbx_only = pytest.mark.parametrize("impl", ["lbx"])

FAST = "300ms"


def promtool_ok(text):
    """promtool's verdict on an exposition (its linter included)."""
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: scripts/packages.txt has prometheus"
    p = subprocess.run([tool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    assert p.returncode == 0, (p.stdout + p.stderr).decode()[-3000:]


def lab(bal, w, **more):
    d = {"balancer": "balancer://" + bal, "member": w}
    d.update(more)
    return frozenset(d.items())


def metrics_text(m):
    r = m.get("?format=metrics", referer=False)
    assert r.status_code == 200
    return r.text


def member_json(m, bal, w):
    for b in m.json()["balancers"]:
        if b["name"] == "balancer://" + bal:
            for x in b["members"]:
                if x["name"] == w:
                    return b, x
    raise AssertionError((bal, w))


@lbx_only
def test_histogram_counts_match_requests(impl, make_httpd, backends):
    fast = backends.start("fast")
    slow = backends.start("slow", delay_ms=30)
    h = M.mgr_httpd(make_httpd, impl,
                    M.proxy("p", member(fast), member(slow)))
    m = M.Manager(h)
    sent = M.hits(h, "/p/x", 40)
    for path, n in (("/p/status/404", 6), ("/p/status/503", 4)):
        for _ in range(n):
            assert h.get(path).status_code in (404, 503)
    # answers without a body are answers (class 2xx), not "none"
    for _ in range(4):
        r = requests.head(h.base_url + "/p/x", timeout=H.TIMEOUT)
        assert r.status_code == 200
        sent[H.backend_of(r)] += 1
    text = metrics_text(m)
    promtool_ok(text)
    met, types = M.parse_metrics(text)
    assert types["lbx_member_response_seconds"] == "histogram"
    assert types["lbx_member_check_duration_seconds"] == "histogram"
    count = met["lbx_member_response_seconds_count"]
    total = sum(count[lab("p", b.url)] for b in (fast, slow))
    assert total == 54, count
    for b in (fast, slow):
        assert count[lab("p", b.url)] > 0
        classes = {c: met["lbx_member_responses_total"][
            lab("p", b.url, **{"class": c})]
            for c in ("1xx", "2xx", "3xx", "4xx", "5xx", "none")}
        assert sum(classes.values()) == count[lab("p", b.url)], classes
        assert classes["2xx"] == sent[b.name], (classes, sent)
        assert classes["none"] == 0
    assert sum(met["lbx_member_responses_total"][
        lab("p", b.url, **{"class": "4xx"})] for b in (fast, slow)) == 6
    assert sum(met["lbx_member_responses_total"][
        lab("p", b.url, **{"class": "5xx"})] for b in (fast, slow)) == 4
    # the slow member's answers all took 30 ms or more
    buckets = met["lbx_member_response_seconds_bucket"]
    assert buckets[lab("p", slow.url, le="0.025")] == 0
    assert buckets[lab("p", slow.url, le="+Inf")] == count[lab("p", slow.url)]
    assert met["lbx_member_response_seconds_sum"][lab("p", slow.url)] >= \
        0.03 * count[lab("p", slow.url)]

    # the JSON view: the same numbers
    bal, x = member_json(m, "p", slow.url)
    st = x["stats"]
    assert st["response_seconds"]["count"] == count[lab("p", slow.url)]
    assert st["response_seconds"]["buckets"][-1] == \
        ["+Inf", st["response_seconds"]["count"]]
    assert dict((str(le), n) for le, n in st["response_seconds"]["buckets"])[
        "0.025"] == 0
    assert sum(st["answers"].values()) == st["response_seconds"]["count"]
    assert bal["no_usable_member"] == 0


@lbx_only
def test_failovers_and_no_usable_member(impl, make_httpd, backends):
    """A member that refuses connections: requests tried on it and then on
    another count as its failovers (the answer counts for the other); a
    balancer of that member alone answers 503, counted as the dead
    member's answers of class none or as requests no member could take;
    a balancer whose only member is disabled counts each 503."""
    a = backends.start("a")
    dead = H.free_port()
    dead_url = "http://127.0.0.1:%d" % dead
    h = M.mgr_httpd(make_httpd, impl,
                    M.proxy("f", member(a), "BalancerMember %s retry=0"
                            % dead_url, sets="maxattempts=1")
                    + M.proxy("d", "BalancerMember %s retry=0" % dead_url,
                              sets="maxattempts=0")
                    + M.proxy("off", member(a, status="+D")))
    m = M.Manager(h)
    for _ in range(12):
        assert h.get("/f/x").status_code == 200
    for _ in range(3):
        assert h.get("/d/x").status_code == 503
    for _ in range(5):
        assert h.get("/off/x").status_code == 503
    met, _ = M.parse_metrics(metrics_text(m))
    answers = met["lbx_member_responses_total"]
    fo = met["lbx_member_failovers_total"][lab("f", dead_url)]
    assert fo >= 1, fo
    assert sum(v for k, v in answers.items()
               if ("member", dead_url) in k
               and ("balancer", "balancer://f") in k) == 0
    assert met["lbx_member_failovers_total"][lab("f", a.url)] == 0
    assert answers[lab("f", a.url, **{"class": "2xx"})] == 12
    nm = met["lbx_balancer_no_usable_member_total"]
    assert answers[lab("d", dead_url, **{"class": "none"})] + \
        nm[frozenset({("balancer", "balancer://d")})] == 3
    assert nm[frozenset({("balancer", "balancer://off")})] == 5
    assert nm[frozenset({("balancer", "balancer://f")})] == 0
    bal, x = member_json(m, "off", a.url)
    assert bal["no_usable_member"] == 5
    _, x = member_json(m, "f", dead_url)
    assert x["stats"]["failovers"] == fo


@lbx_only
def test_checks_by_result_and_transitions(impl, make_httpd, backends):
    """Health checks counted by result and timed; the member's falls and
    returns counted as state transitions."""
    a, b = backends.start_many("a", "b")
    h = M.mgr_httpd(make_httpd, impl, M.proxy(
        "hc", member(a, hcmethod="GET", hcuri="/health", hcinterval=FAST),
        member(b)))
    m = M.Manager(h)

    def series():
        met, _ = M.parse_metrics(metrics_text(m))
        return met

    def checks(met, result):
        return met["lbx_member_checks_total"][lab("hc", a.url,
                                                  result=result)]

    H.deadline_poll(lambda: checks(series(), "passed") >= 2, 20,
                    what="two passing checks")
    requests.get(a.url + "/_control?health_status=500", timeout=H.TIMEOUT)
    H.deadline_poll(lambda: checks(series(), "bad_status") >= 1
                    and series()["lbx_member_state_transitions_total"][
                        lab("hc", a.url, to="unusable")] >= 1, 20,
                    what="a failing check and the member out")
    requests.get(a.url + "/_control?health_status=200", timeout=H.TIMEOUT)
    H.deadline_poll(lambda: series()["lbx_member_state_transitions_total"][
        lab("hc", a.url, to="usable")] >= 1, 20, what="the member back")
    text = metrics_text(m)
    promtool_ok(text)
    met, _ = M.parse_metrics(text)
    n = sum(met["lbx_member_checks_total"][lab("hc", a.url, result=r)]
            for r in ("passed", "connect_failed", "timeout", "bad_status",
                      "expr_false", "expr_error", "tls_failed"))
    assert met["lbx_member_check_duration_seconds_count"][
        lab("hc", a.url)] == n
    # b has no health check: nothing counted, no transition
    assert met["lbx_member_check_duration_seconds_count"][
        lab("hc", b.url)] == 0
    assert met["lbx_member_state_transitions_total"][
        lab("hc", b.url, to="unusable")] == 0


MONITORING = H.REPO / "conf" / "monitoring"


def test_alert_rules_check_and_fire():
    """conf/monitoring: the rules pass promtool's checks, and its rule
    tests (each alert fires on its series, with its text) pass."""
    tool = shutil.which("promtool")
    assert tool, "promtool is missing: scripts/packages.txt has prometheus"
    for args in (["check", "rules", "lbx-alerts.yml"],
                 ["test", "rules", "lbx-alerts.test.yml"]):
        p = subprocess.run([tool] + args, cwd=str(MONITORING),
                           capture_output=True, timeout=120)
        assert p.returncode == 0, (args, (p.stdout + p.stderr).decode())


@lbx_only
def test_dashboard_and_rules_name_real_metrics(impl, make_httpd, backends):
    """Every lbx_* name the Grafana dashboard and the alert rules query is
    one mod_lbx exposes (a typo would make an empty panel or an alert that
    never fires)."""
    a = backends.start("a")
    h = M.mgr_httpd(make_httpd, impl, M.proxy("p", member(a)))
    met, types = M.parse_metrics(metrics_text(M.Manager(h)))
    exposed = set(met) | set(types)
    dash = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    assert len(exprs) >= 8
    exprs.append((MONITORING / "lbx-alerts.yml").read_text())
    names = set()
    for e in exprs:
        names |= set(re.findall(r"\blbx_[a-z_]+", e))
    assert {"lbx_member_response_seconds_bucket",
            "lbx_member_responses_total",
            "lbx_balancer_no_usable_member_total"} <= names
    assert names <= exposed, names - exposed
