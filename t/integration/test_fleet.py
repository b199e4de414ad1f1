"""LBXFleet: three front-ends (real apache2) share balancer-manager edits
through a real redis-server started by the test; Redis trouble never fails
a client request."""
import re
import socket
import threading
import time
from pathlib import Path

import requests

import lbxharness as H

MGR = "/balancer-manager"
EXAMPLE = Path(__file__).resolve().parents[2] / "conf" / "examples" / \
    "fleet.conf"


def fleet_conf(redis_url, fe_id, members, extra="", params=""):
    """One front-end of the fleet: its LBXFleet line (+ extra), the manager,
    balancer://fl of the members (each with params) at /app."""
    return """
LBXFleet %s itfleet id=%s %s
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
<Proxy balancer://fl growth=4>
%s</Proxy>
ProxyPass /app balancer://fl
""" % (redis_url, fe_id, extra,
       "".join("    BalancerMember %s %s\n" % (m.url, params) for m in members))


def start_fleet(make_httpd, redis_url, members, ids=("fe-a", "fe-b", "fe-c"),
                extra=""):
    return [make_httpd("lbx", fleet_conf(redis_url, i, members, extra))
            for i in ids]


def member_json(h, url):
    doc = requests.get(h.base_url + MGR + "?format=json",
                       timeout=H.TIMEOUT).json()
    for b in doc["balancers"]:
        for m in b["members"]:
            if m["name"] == url:
                return m
    return None


def fleet_json(h):
    return requests.get(h.base_url + MGR + "?format=json",
                        timeout=H.TIMEOUT).json().get("fleet")


def edit(h, **fields):
    page = requests.get(h.base_url + MGR, timeout=H.TIMEOUT).text
    nonce = re.search(r"\?b=fl&amp;nonce=([0-9a-fA-F-]+)", page).group(1)
    fields.update({"b": "fl", "nonce": nonce})
    r = requests.post(h.base_url + MGR, data=fields, timeout=H.TIMEOUT,
                      headers={"Referer": h.base_url + MGR})
    assert r.status_code == 200, r.text[-1000:]


def joined(h):
    f = fleet_json(h)
    return f is not None and f["connected"]


def test_edits_reach_every_front_end(make_httpd, backends, redis_server):
    r = redis_server()
    a, b, c, d = backends.start_many("a", "b", "c", "d")
    fes = start_fleet(make_httpd, r.url, (a, b, c))
    for h in fes:
        H.deadline_poll(lambda: joined(h), 10, what="joined")
    # disable a member on the first front-end
    edit(fes[0], w=a.url, w_status_D="1")
    for h in fes[1:]:
        H.deadline_poll(lambda: member_json(h, a.url)["flags"]["disabled"],
                        5, what="disabled on %s" % h.port)
        got = {h.get("/app/x").headers["X-Backend"] for _ in range(6)}
        assert got == {"b", "c"}, got
    # a load factor on the second
    edit(fes[1], w=b.url, w_lf="7")
    for h in (fes[0], fes[2]):
        H.deadline_poll(lambda: member_json(h, b.url)["loadfactor"] == 7, 5,
                        what="lbfactor on %s" % h.port)
    # a member added on the third, then enabled on the first
    edit(fes[2], b_nwrkr=d.url, b_wyes="1")
    for h in fes[:2]:
        H.deadline_poll(lambda: member_json(h, d.url) is not None, 5,
                        what="member added on %s" % h.port)
    edit(fes[0], w=d.url, w_status_D="0")
    H.deadline_poll(lambda: "d" in {fes[1].get("/app/x").headers["X-Backend"]
                                    for _ in range(8)}, 5,
                    what="traffic to the added member")
    # the audit list, on every front-end, names who did what
    f = fleet_json(fes[1])
    who = [(e["frontend"], e["edit"]) for e in f["edits"]]
    assert ("fe-a", "b=fl&w=%s&w_status_D=1" % a.url.replace(":", "%3A")
            .replace("/", "%2F")) in who or any(
        fe == "fe-a" and "w_status_D=1" in ed for fe, ed in who), who
    assert {e["frontend"] for e in f["edits"]} == {"fe-a", "fe-b", "fe-c"}
    H.deadline_poll(lambda: {x["id"] for x in fleet_json(fes[1])["frontends"]}
                    >= {"fe-a", "fe-b", "fe-c"}, 5, what="front-ends seen")
    assert "fe-c" in fes[0].get(MGR).text  # the page shows the fleet


def test_json_and_dashboard_edits_reach_every_front_end(make_httpd, backends,
                                                        redis_server):
    """The JSON endpoint's edits and the dashboard's forms are manager
    edits like the page's: they reach the other front-ends, without the
    dashboard's view=dashboard in what the fleet carries."""
    r = redis_server()
    a, b = backends.start_many("a", "b")
    fes = start_fleet(make_httpd, r.url, (a, b), ids=("fe-a", "fe-b"))
    for h in fes:
        H.deadline_poll(lambda: joined(h), 10, what="joined")
    def nonce(h):  # each front-end has its own
        return requests.get(h.base_url + MGR + "?format=json",
                            timeout=H.TIMEOUT).json()["balancers"][0]["nonce"]
    ans = requests.post(fes[0].base_url + MGR, timeout=H.TIMEOUT,
                        json={"b": "fl", "w": a.url, "nonce": nonce(fes[0]),
                              "w_lf": 4})
    assert ans.status_code == 200 and ans.json()["changed"], ans.text
    H.deadline_poll(lambda: member_json(fes[1], a.url)["loadfactor"] == 4,
                    5, what="JSON edit on fe-b")
    ans = requests.post(fes[1].base_url + MGR, timeout=H.TIMEOUT,
                        data={"b": "fl", "w": b.url, "nonce": nonce(fes[1]),
                              "view": "dashboard", "w_status_N": "1"},
                        headers={"Referer": fes[1].base_url + MGR
                                 + "?view=dashboard"})
    assert ans.status_code == 200 and "Balancer dashboard" in ans.text
    assert "Nothing was changed" not in ans.text
    H.deadline_poll(lambda: member_json(fes[0], b.url)["flags"]["draining"],
                    5, what="dashboard edit on fe-a")
    edits = [e["edit"] for e in fleet_json(fes[0])["edits"]]
    assert any("w_status_N=1" in e for e in edits), edits
    assert not any("view=" in e for e in edits), edits


def test_a_front_end_that_starts_later_takes_the_state(make_httpd, backends,
                                                      redis_server):
    r = redis_server()
    a, b = backends.start_many("a", "b")
    first = make_httpd("lbx", fleet_conf(r.url, "fe-a", (a, b)))
    H.deadline_poll(lambda: joined(first), 10, what="joined")
    edit(first, w=a.url, w_status_D="1")
    edit(first, w=b.url, w_lf="3")
    H.deadline_poll(lambda: fleet_json(first)["published"] == 2, 5,
                    what="published")
    late = make_httpd("lbx", fleet_conf(r.url, "fe-b", (a, b)))
    H.deadline_poll(lambda: member_json(late, a.url)["flags"]["disabled"]
                    and member_json(late, b.url)["loadfactor"] == 3, 5,
                    what="the fleet's state on the late front-end")


def test_a_removed_and_added_member_joins_as_the_fleet_has_it(
        make_httpd, backends, redis_server):
    """Added, enabled, removed, added again (disabled, as stock re-adds): a
    front-end that starts afterwards has it disabled too, and takes a
    health-check method and expression as one."""
    r = redis_server()
    a, b, d = backends.start_many("a", "b", "d")
    first = make_httpd("lbx", fleet_conf(r.url, "fe-a", (a, b)))
    H.deadline_poll(lambda: joined(first), 10, what="joined")
    edit(first, b_nwrkr=d.url, b_wyes="1")
    edit(first, w=d.url, w_status_D="0")
    edit(first, w=d.url, w_remove="1")
    edit(first, b_nwrkr=d.url, b_wyes="1")
    edit(first, w=a.url, w_hm="TCP")
    H.deadline_poll(lambda: fleet_json(first)["published"] == 5, 5,
                    what="published")
    assert member_json(first, d.url)["flags"]["disabled"]
    late = make_httpd("lbx", fleet_conf(r.url, "fe-b", (a, b)))
    H.deadline_poll(lambda: member_json(late, d.url) is not None, 5,
                    what="the added member on the late front-end")
    assert member_json(late, d.url)["flags"]["disabled"]
    assert member_json(late, a.url)["hc"]["method"] == "TCP"
    assert fleet_json(late)["refused"] == 0


def test_edits_waiting_for_redis_survive_a_graceful_restart(
        make_httpd, backends, redis_server):
    r = redis_server()
    a, b = backends.start_many("a", "b")
    fes = start_fleet(make_httpd, r.url, (a, b), ids=("fe-a", "fe-b"))
    for h in fes:
        H.deadline_poll(lambda: joined(h), 10, what="joined")
    r.stop()
    H.deadline_poll(lambda: not fleet_json(fes[0])["connected"], 10,
                    what="outage seen")
    edit(fes[0], w=b.url, w_status_D="1")
    assert fleet_json(fes[0])["queued"] == 1
    # (without BalancerPersist the restart itself forgets the edit here,
    # as stock does; the fleet brings it back)
    fes[0].graceful()
    r.start()
    for h in fes:
        H.deadline_poll(lambda: member_json(h, b.url)["flags"]["disabled"],
                        15, what="the queued edit on %s" % h.port)


def load(fes, stop, errors, counts):
    s = requests.Session()
    end = time.monotonic() + 60
    while not stop.is_set() and time.monotonic() < end:
        for h in fes:
            try:
                resp = s.get(h.base_url + "/app/x", timeout=10)
                counts.append(resp.status_code)
                if resp.status_code != 200:
                    errors.append(resp.status_code)
            except requests.RequestException as e:
                errors.append(repr(e))


def test_redis_outage_fails_no_request_and_edits_catch_up(
        make_httpd, backends, redis_server):
    r = redis_server()
    a, b, c = backends.start_many("a", "b", "c")
    fes = start_fleet(make_httpd, r.url, (a, b, c))
    for h in fes:
        H.deadline_poll(lambda: joined(h), 10, what="joined")
    stop, errors, counts = threading.Event(), [], []
    t = threading.Thread(target=load, args=(fes, stop, errors, counts))
    t.start()
    try:
        r.stop()
        for h in fes:
            H.deadline_poll(lambda: not fleet_json(h)["connected"], 10,
                            what="outage seen")
        edit(fes[0], w=c.url, w_status_D="1")  # during the outage
        assert member_json(fes[0], c.url)["flags"]["disabled"]
        assert fleet_json(fes[0])["queued"] == 1
        n = len(counts)
        H.deadline_poll(lambda: len(counts) >= n + 30, 20, what="load")
        r.start()
        for h in fes[1:]:
            H.deadline_poll(
                lambda: member_json(h, c.url)["flags"]["disabled"], 15,
                what="the outage's edit on %s" % h.port)
    finally:
        stop.set()
        t.join(timeout=30)
    assert not errors, errors[:5]
    assert len(counts) > 30
    for h in fes:
        log = h.error_log()
        assert len(re.findall(r"LBX20070", log)) == 1, log[-2000:]
        assert re.search(r"LBX20071.*back through", log), log[-2000:]


class FakeRedis:
    """A server on loopback that answers every connection with `reply`
    (then, with `flood`, sends that many more bytes) and never speaks
    Redis."""

    def __init__(self, reply, flood=0, chunk=b"x" * 65536):
        self.reply, self.flood, self.chunk = reply, flood, chunk
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        self.sock.settimeout(0.2)
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            try:
                conn.settimeout(2)
                conn.sendall(self.reply)
                left = self.flood
                while left > 0 and not self.done.is_set():
                    conn.sendall(self.chunk)
                    left -= len(self.chunk)
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self.done.set()
        self.sock.close()
        self.thread.join(timeout=5)


def test_bad_redis_servers_give_a_log_line_and_no_harm(make_httpd, backends,
                                                      redis_server, tmp_path):
    a, b = backends.start_many("a", "b")
    good = redis_server(password="s3cret")
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not-the-password\n")
    fakes = [FakeRedis(b"garbage that is not RESP\r\n"),
             FakeRedis(b"$999999999\r\n", flood=16 * 1024 * 1024),
             FakeRedis(b"*999999999999\r\n"),
             FakeRedis(b"*2147483647\r\n"),
             # a long array of small elements: counted as it arrives
             FakeRedis(b"*1048576\r\n", flood=16 * 1024 * 1024,
                       chunk=b":1000000000\r\n" * 4096)]
    cases = [(good.url, "password-file=%s" % wrong,
              r"authentication refused")]
    cases += [("redis://127.0.0.1:%d" % f.port, "",
               r"unreadable reply|reply too large")
              for f in fakes]
    cases.append(("redis://127.0.0.1:%d" % H.free_port(), "",
                  r"cannot connect"))
    try:
        for url, extra, why in cases:
            h = make_httpd("lbx", fleet_conf(url, "fe-x", (a, b), extra))
            h.wait_error_log(r"LBX20070.*(%s)" % why, timeout=10)
            t0 = time.monotonic()
            got = {h.get("/app/x").headers["X-Backend"] for _ in range(6)}
            assert got == {"a", "b"} and time.monotonic() - t0 < 5
            assert not fleet_json(h)["connected"]
            h.stop()
            assert not re.search(r"exit signal|Segmentation", h.error_log())
    finally:
        for f in fakes:
            f.close()


def test_a_password_file_works(make_httpd, backends, redis_server, tmp_path):
    a, b = backends.start_many("a", "b")
    r = redis_server(password="s3cret")
    pw = tmp_path / "fleet.pw"
    pw.write_text("s3cret\n")
    h = make_httpd("lbx", fleet_conf(r.url, "fe-a", (a, b),
                                     "password-file=%s" % pw))
    H.deadline_poll(lambda: joined(h), 10, what="joined with AUTH")


def test_bad_fleet_settings_stop_the_start(make_httpd, tmp_path):
    for line, says in [
            ("LBXFleet rediss://127.0.0.1 f", "TLS"),
            ("LBXFleet redis://127.0.0.1:99999 f", "bad port"),
            ("LBXFleet http://127.0.0.1 f", "not redis://"),
            ("LBXFleet redis://127.0.0.1", "a Redis URL and a fleet name"),
            ("LBXFleet redis://127.0.0.1 f password-file=%s" % (
                tmp_path / "none"), "cannot read password-file"),
            ("LBXFleet redis://127.0.0.1 f user=x", "needs password-file"),
            ("LBXFleet redis://127.0.0.1 f colour=red", "unknown option"),
            ("<VirtualHost 127.0.0.1:@PORT@>\nLBXFleet redis://127.0.0.1 f\n"
             "</VirtualHost>", "cannot occur within"),
    ]:
        h = make_httpd("lbx", line, start=False)
        out = h.config_error()
        assert says in out, (line, out[-500:])


def test_the_fleet_example_as_it_is(make_httpd, backends, redis_server):
    """conf/examples/fleet.conf, included unchanged by three front-ends
    that differ only in FLEET_ID."""
    r = redis_server()
    a, b = backends.start_many("a", "b")
    fes = [make_httpd("lbx", "Define FLEET_REDIS %s\nDefine FLEET_ID %s\n"
                      "Define APP_A 127.0.0.1:%d\nDefine APP_B 127.0.0.1:%d\n"
                      "Include %s\n" % (r.url, i, a.port, b.port, EXAMPLE))
           for i in ("web1", "web2", "web3")]
    for h in fes:
        H.deadline_poll(lambda: joined(h), 10, what="joined")
    page = requests.get(fes[2].base_url + MGR, timeout=H.TIMEOUT).text
    nonce = re.search(r"\?b=shop&amp;nonce=([0-9a-fA-F-]+)", page).group(1)
    resp = requests.post(fes[2].base_url + MGR, timeout=H.TIMEOUT,
                         headers={"Referer": fes[2].base_url + MGR},
                         data={"b": "shop", "w": b.url, "nonce": nonce,
                               "w_status_N": "1"})
    assert resp.status_code == 200
    for h in fes[:2]:
        H.deadline_poll(lambda: {h.get("/shop/x").headers["X-Backend"]
                                 for _ in range(4)} == {"a"}, 5,
                        what="drained on %s" % h.port)


def health_hits(backend, since):
    doc = requests.get(backend.url + "/_control/health_count",
                       timeout=H.TIMEOUT).json()
    return [h for h in doc["hits"] if h["t"] >= since]


HC = "hcmethod=GET hcuri=/health hcinterval=1 hcpasses=1 hcfails=1"


def test_one_prober_per_member_and_shared_verdicts(make_httpd, backends,
                                                   redis_server):
    """10 members checked every second by a fleet of three: each gets about
    one check a second (one prober), not three; every front-end shows the
    leases; a member whose health fails is out on all three; the prober
    front-end gone, the others take its members over."""
    r = redis_server()
    ms = backends.start_many(*("m%d" % i for i in range(10)))
    fes = [make_httpd("lbx", fleet_conf(r.url, i, ms, params=HC))
           for i in ("fe-a", "fe-b", "fe-c")]
    for h in fes:
        H.deadline_poll(lambda: joined(h), 10, what="joined")
    H.deadline_poll(lambda: sum(x["members"] for x in
                                fleet_json(fes[0])["leases"]) == 10, 10,
                    what="every member leased")
    checks = fleet_json(fes[1])["checks"]
    assert sorted(c["member"] for c in checks) == sorted(m.url for m in ms)
    assert {c["by"] for c in checks} <= {"fe-a", "fe-b", "fe-c"}
    assert "Checked by" in fes[2].get(MGR).text
    time.sleep(1.5)  # leases taken: count checks from here on
    t0 = time.time()
    time.sleep(6)
    per_member = [len(health_hits(m, t0)) for m in ms]
    # one prober: about 6 checks in 6 s (three probers would make ~18)
    assert all(3 <= n <= 9 for n in per_member), per_member
    # a member whose health fails: out on all three front-ends
    bad = ms[3]
    requests.get(bad.url + "/_control?health_status=500", timeout=H.TIMEOUT)
    for h in fes:
        H.deadline_poll(lambda: member_json(h, bad.url)["flags"]["hc_failed"],
                        6, what="verdict on %s" % h.port)
        got = {h.get("/app/x").headers["X-Backend"] for _ in range(20)}
        assert "m3" not in got, got
    # the front-end that checks the most goes away: its members move
    leases = fleet_json(fes[0])["leases"]
    top = max(leases, key=lambda x: x["members"])["frontend"]
    gone = fes[[ "fe-a", "fe-b", "fe-c"].index(top)]
    rest = [h for h in fes if h is not gone]
    gone.stop()
    H.deadline_poll(lambda: sum(x["members"] for x in
                                fleet_json(rest[0])["leases"]
                                if x["frontend"] != top) == 10, 10,
                    what="leases moved")
    t1 = time.time()
    time.sleep(4)
    assert all(len(health_hits(m, t1)) >= 2 for m in ms if m is not bad)
    requests.get(bad.url + "/_control?health_status=200", timeout=H.TIMEOUT)
    for h in rest:
        H.deadline_poll(
            lambda: not member_json(h, bad.url)["flags"]["hc_failed"], 6,
            what="back on %s" % h.port)


def test_a_prober_restarting_or_redis_away(make_httpd, backends,
                                           redis_server):
    """A member down; the front-end that checks it restarts (its flags are
    the configuration's again): the others keep the member out, and it
    learns the verdict.  Then Redis goes away: every front-end checks
    every member itself again."""
    r = redis_server()
    ms = backends.start_many("m0", "m1", "m2", "m3")
    fes = [make_httpd("lbx", fleet_conf(r.url, i, ms, params=HC)) for i in ("fe-a", "fe-b")]
    for h in fes:
        H.deadline_poll(lambda: joined(h), 10, what="joined")
    H.deadline_poll(lambda: len(fleet_json(fes[0])["checks"]) == 4, 10,
                    what="every member leased")
    down = ms[1]
    requests.get(down.url + "/_control?health_status=500", timeout=H.TIMEOUT)
    for h in fes:
        H.deadline_poll(
            lambda: member_json(h, down.url)["flags"]["hc_failed"], 6,
            what="down on %s" % h.port)
    by = {c["member"]: c["by"] for c in fleet_json(fes[0])["checks"]}
    prober = fes[["fe-a", "fe-b"].index(by[down.url])]
    other = fes[1] if prober is fes[0] else fes[0]
    prober.graceful()
    end = time.monotonic() + 4
    while time.monotonic() < end:  # the others never see it healthy
        assert member_json(other, down.url)["flags"]["hc_failed"]
        time.sleep(0.1)
    H.deadline_poll(lambda: member_json(prober, down.url)["flags"][
        "hc_failed"], 6, what="the restarted prober knows")
    r.stop()
    for h in fes:
        H.deadline_poll(lambda: not fleet_json(h)["connected"], 10,
                        what="outage seen")
    time.sleep(1)  # (each drops what it knew of leases when Redis went)
    t0 = time.time()
    time.sleep(3)
    # two front-ends each checking every member: about 6 checks in 3 s
    assert all(len(health_hits(m, t0)) >= 4 for m in ms), \
        [len(health_hits(m, t0)) for m in ms]
