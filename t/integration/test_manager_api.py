"""balancer-manager for scripts: the JSON write endpoint, the page saying
why it ignored an edit, and an Ansible-style scraper still reading it.

* The JSON endpoint (mod_lbx only): a POST with Content-Type
  application/json and one object of the form's keys; no Referer needed,
  the nonce is; answers 200 {"changed", "balancer"} or a 4xx
  {"error", "field"} and then changes nothing.
* The form (both): an edit it ignores still answers 200 and the page, as
  stock (httpd's tests and scripts rely on it); mod_lbx's page then says
  "Nothing was changed" and why.
* Ansible's community.general.apache2_mod_proxy reads the page with
  BeautifulSoup: the server version from the text, every <a> after the
  first as a member's link, the second <table> of that link's page as the
  member table.  `scrape` below does the same reading (written for this
  test), so the page must keep that structure.
"""
import json
import re

import pytest
import requests
from bs4 import BeautifulSoup

import lbxharness as H
import test_manager as M
from lbxharness import member

lbx_only = pytest.mark.parametrize("impl", ["lbx"])


def post_json(m, body, headers=None, raw=None):
    hd = {"Content-Type": "application/json"}
    hd.update(headers or {})
    return requests.post(m.url, json=None if raw is not None else body,
                         data=raw, headers=hd, timeout=H.TIMEOUT,
                         allow_redirects=False)


def settings(m, bal):
    """What an edit can change, per member, from ?format=json."""
    b = [x for x in m.json()["balancers"]
         if x["name"] == "balancer://" + bal][0]
    keep = ("lbmethod", "sticky", "timeout", "max_attempts", "nofailover")
    return ({k: b[k] for k in keep},
            {w["name"]: (w["loadfactor"], w["lbset"], w["route"],
                         w["redirect"], w["flags"], w["hc"])
             for w in b["members"]})


@lbx_only
def test_json_edit_applies_and_answers_the_new_state(impl, make_httpd,
                                                     backends):
    """Drain-like edits from a script, without a Referer: the answer is
    the balancer after the edit, `changed` says whether anything changed,
    and the traffic follows."""
    a, b = backends.start_many("a", "b")
    h = M.mgr_httpd(make_httpd, impl, M.proxy("s", member(a), member(b)))
    m = M.Manager(h)
    nonce = m.nonce("s")

    r = post_json(m, {"b": "s", "w": a.url, "nonce": nonce,
                      "w_status_D": True, "w_lf": 3})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    assert r.headers.get("Cache-Control") == "no-store"
    ans = r.json()
    assert ans["changed"] is True
    assert ans["balancer"]["name"] == "balancer://s"
    mem = {w["name"]: w for w in ans["balancer"]["members"]}
    assert mem[a.url]["flags"]["disabled"] is True
    assert mem[a.url]["loadfactor"] == 3.0
    assert mem[b.url]["flags"]["disabled"] is False
    assert M.hits(h, "/s/x", 6) == {"b": 6}

    # the same edit again changes nothing, and says so
    r = post_json(m, {"b": "s", "w": a.url, "nonce": nonce,
                      "w_status_D": 1, "w_lf": "3"})
    assert r.status_code == 200 and r.json()["changed"] is False, r.text

    # a balancer edit by the same means
    r = post_json(m, {"b": "s", "nonce": nonce, "b_lbm": "bybusyness",
                      "b_tmo": 7})
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    assert r.json()["balancer"]["lbmethod"] == "bybusyness"
    assert r.json()["balancer"]["timeout"] == 7
    r = post_json(m, {"b": "s", "w": a.url, "nonce": nonce,
                      "w_status_D": False, "w_wr": "ra"})
    assert r.status_code == 200 and r.json()["changed"] is True
    r = post_json(m, {"b": "s", "w": a.url, "nonce": nonce, "w_wr": "ra"})
    assert r.status_code == 200 and r.json()["changed"] is False
    assert set(M.hits(h, "/s/x", 8)) == {"a", "b"}
    # the page agrees with the JSON answers
    page = m.page()
    assert "Dis" not in page.status("s", a.url)
    assert page.member("s", a.url)["Route"] == "ra"
    assert page.balancers["balancer://s"]["info"]["Method"] == "bybusyness"


@lbx_only
def test_json_member_add_and_remove_report_changed(impl, make_httpd,
                                                   backends):
    a, b, c = backends.start_many("a", "b", "c")
    h = M.mgr_httpd(make_httpd, impl,
                    M.proxy("g", member(a), member(b), sets="growth=1"))
    m = M.Manager(h)
    nonce = m.nonce("g")
    add = {"b": "g", "nonce": nonce, "b_nwrkr": c.url, "b_wyes": True}
    r = post_json(m, add)
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    names = [w["name"] for w in r.json()["balancer"]["members"]]
    assert c.url in names
    # added members start disabled (as stock); enabling takes traffic
    r = post_json(m, {"b": "g", "w": c.url, "nonce": nonce,
                      "w_status_D": 0})
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    assert "c" in M.hits(h, "/g/x", 9)
    # adding it again: nothing to add, nothing changed
    r = post_json(m, add)
    assert r.status_code == 400 and r.json()["field"] == "b_nwrkr", r.text
    r = post_json(m, {"b": "g", "w": c.url, "nonce": nonce,
                      "w_status_D": 1, "w_remove": 1})
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    assert c.url not in [w["name"] for w in r.json()["balancer"]["members"]]
    assert set(M.hits(h, "/g/x", 6)) == {"a", "b"}
    # a removed member is no longer a member
    r = post_json(m, {"b": "g", "w": c.url, "nonce": nonce, "w_lf": 2})
    assert r.status_code == 404 and r.json()["field"] == "w", r.text


@lbx_only
def test_json_answers_stay_valid_utf8(impl, make_httpd, backends):
    """A route set through the form with a raw byte (%FF) is not UTF-8:
    every JSON answer still is."""
    a, b = backends.start_many("a", "b")
    h = M.mgr_httpd(make_httpd, impl, M.proxy("s", member(a), member(b)))
    m = M.Manager(h)
    nonce = m.nonce("s")
    r = m.post("b=s&w=%s&nonce=%s&w_wr=%%FFr%%C3%%A9" % (a.url, nonce),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200
    raw = requests.get(m.url + "?format=json", timeout=H.TIMEOUT).content
    routes = {w["name"]: w["route"] for w in
              json.loads(raw.decode("utf-8"))["balancers"][0]
              ["members"]}
    assert routes[a.url] == "\u00ffr\u00e9", routes
    r = post_json(m, {"b": "s", "w": a.url, "nonce": nonce, "w_lf": 2})
    assert r.status_code == 200
    r.content.decode("utf-8")


@lbx_only
def test_json_refusals_name_the_field_and_change_nothing(impl, make_httpd,
                                                         backends):
    a, b = backends.start_many("a", "b")
    h = M.mgr_httpd(make_httpd, impl,
                    M.proxy("s", member(a), member(b))
                    + M.proxy("nn", member(a), member(b), sets="nonce=None"))
    m = M.Manager(h)
    nonce = m.nonce("s")
    ok = {"b": "s", "w": a.url, "nonce": nonce}
    before = settings(m, "s"), settings(m, "nn")
    cases = [
        # (body or raw bytes, headers, status, field)
        (None, b"{\"b\": \"s\", ", {}, 400, None),
        (None, b"[1, 2]", {}, 400, None),
        (None, b"{\"b\": \"s\"} trailing", {}, 400, None),
        (None, b"{\"b\": \"s\", \"w_wr\": \"\xff\"}", {}, 400, "w_wr"),
        (dict(ok, w_status_D=1, w_lff=3), None, {}, 400, "w_lff"),
        (dict(ok, w_status_D=1, xml=1), None, {}, 400, "xml"),
        (dict(ok, w_status_D=1, w_lf="abc"), None, {}, 400, "w_lf"),
        (dict(ok, w_status_D=1, w_lf=None), None, {}, 400, "w_lf"),
        (dict(ok, w_status_D=1, w_ls=[1]), None, {}, 400, "w_ls"),
        (dict(ok, w_status_D=1, w_hi="1ms"), None, {}, 400, "w_hi"),
        ({"b": "s", "nonce": nonce, "w_lf": "garbage"}, None, {}, 400, "w"),
        ({"b": "s", "nonce": nonce, "b_nwrkr": "http://127.0.0.1:1"}, None,
         {}, 400, "b_wyes"),
        (dict(ok, b_lbm="nosuchmethod"), None, {}, 400, "b_lbm"),
        ({"w": a.url, "nonce": nonce, "w_status_D": 1}, None, {}, 400, "b"),
        (dict(ok, b="nosuch", w_status_D=1), None, {}, 404, "b"),
        (dict(ok, w="http://127.0.0.1:1", w_status_D=1), None, {}, 404,
         "w"),
        ({"b": "s", "w": a.url, "w_status_D": 1}, None, {}, 403, "nonce"),
        (dict(ok, nonce="x" + nonce, w_status_D=1), None, {}, 403, "nonce"),
        ({"b": "nn", "w": a.url, "nonce": "", "w_status_D": 1}, None, {},
         403, "nonce"),
        (dict(ok, w_status_D=1), None,
         {"Origin": "http://evil.example"}, 403, None),
        (None, b"{\"b\": \"" + b"x" * 20000 + b"\"}", {}, 413, None),
        (None, b"{\"b\": \"s\\u0000\"}", {}, 400, "b"),
    ]
    for body, raw, headers, status, field in cases:
        r = post_json(m, body, headers=headers, raw=raw)
        assert r.status_code == status, (body or raw[:60], r.status_code,
                                         r.text[:300])
        ans = r.json()
        assert ans["field"] == field, (body or raw[:60], ans)
        assert isinstance(ans["error"], str) and ans["error"], ans
    assert (settings(m, "s"), settings(m, "nn")) == before
    assert set(M.hits(h, "/s/x", 6)) == {"a", "b"}
    # refusals of the nonce and the Origin are logged, as the form's are
    assert len(re.findall(r"LBX20078: balancer-manager: JSON edit refused",
                          h.error_log())) >= 4
    # a look-alike media type is not JSON: the form path, which ignores it
    r = post_json(m, None, raw=json.dumps(dict(ok, w_status_D=1)).encode(),
                  headers={"Content-Type": "application/json-seq"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "text/html")
    assert (settings(m, "s"), settings(m, "nn")) == before
    # the positive control: the same edit with everything right, the
    # media type in any case and with its parameters
    r = post_json(m, dict(ok, w_status_D=1),
                  headers={"Origin": h.base_url,
                           "Content-Type": "Application/JSON\t; charset=utf-8"})
    assert r.status_code == 200 and r.json()["changed"] is True, r.text
    assert M.hits(h, "/s/x", 4) == {"b": 4}


def test_ignored_form_edit_answers_200_and_says_why(impl, make_httpd,
                                                    backends):
    """What Ansible's module did before it sent a Referer: a POST with the
    nonce but no Referer.  Stock and mod_lbx both answer 200 with the page
    and change nothing; mod_lbx's page also says nothing changed and why.
    So do a GET carrying an edit and a same-site POST with a wrong nonce;
    browsing (b, w and nonce only) shows no such notice."""
    a, b = backends.start_many("a", "b")
    h = M.mgr_httpd(make_httpd, impl, M.proxy("s", member(a), member(b)))
    m = M.Manager(h)
    nonce = m.nonce("s")
    base = M.snapshot(m.page(), "s")
    edit = {"b": "s", "w": a.url, "nonce": nonce, "w_status_D": "1"}
    answers = {
        "no Referer": m.post(edit, referer=None),
        "GET": requests.get(m.url, params=edit, headers=m.ref,
                            timeout=H.TIMEOUT),
        "wrong nonce": m.post(dict(edit, nonce="x" + nonce)),
    }
    for what, r in answers.items():
        assert r.status_code == 200, (what, r.status_code)
        assert M.snapshot(M.Page(r.text), "s") == base, what
    browse = m.get("?b=s&w=%s&nonce=%s" % (a.url, nonce))
    assert browse.status_code == 200
    notice = "Nothing was changed:"
    if impl == "lbx":
        why = {"no Referer": "no Referer header naming this server",
               "GET": "changes are made only by a POST",
               "wrong nonce": "the nonce is not the balancer's"}
        for what, r in answers.items():
            lines = [x for x in M.Page(r.text).plain_lines() if notice in x]
            assert len(lines) == 1 and why[what] in lines[0], (what, lines)
    assert notice not in browse.text
    assert M.snapshot(m.page(), "s") == base


# --------------------------------------------------------------------------
# the Ansible-style scraper
# --------------------------------------------------------------------------
VERSION = re.compile(r"Server Version: Apache/([\d.]+) \((\w+)\)", re.I)
LINK = re.compile(r"b=([\w.\-]+)&w=(https?|ajp|wss?|ftp|[sf]cgi)://"
                  r"([\w.\-]+):?(\d*)([/\w.\-]*)&?[\w\-=]*")
STATUS_TOKENS = {"disabled": "Dis", "drained": "Drn",
                 "hot_standby": "Stby", "ignore_errors": "Ign"}


def scrape(base, path):
    """What the Ansible module reads: [(host, port, attributes, status)]."""
    page = requests.get(base + path, timeout=H.TIMEOUT)
    assert page.status_code == 200
    version = VERSION.search(page.text)
    assert version and version.group(1).startswith("2.4."), page.text[:400]
    soup = BeautifulSoup(page.text, "html.parser")
    found = []
    for a in soup.find_all("a")[1:]:
        url = base + str(a.get("href"))
        link = LINK.search(url)
        assert link, url
        host, port = link.group(3), link.group(4)
        sub = requests.get(url, headers={"Referer": url}, timeout=H.TIMEOUT)
        assert sub.status_code == 200
        rows = BeautifulSoup(sub.text, "html.parser").find_all(
            "table")[1].find_all("tr")
        keys = rows[0].find_all("th")
        attrs = None
        for row in rows[1:]:
            if re.search(re.escape(host) + ":" + port, str(row)):
                cells = row.find_all("td")
                attrs = {keys[i].string: cells[i].string
                         for i in range(len(keys))}
                break
        assert attrs is not None, (host, port)
        status = {k: tok in attrs["Status"]
                  for k, tok in STATUS_TOKENS.items()}
        found.append((host, port, url, attrs, status))
    return found


def set_status(url, status, referer=True):
    """The module's status change: the link's query plus the flags."""
    body = LINK.search(url).group(0)
    flags = {"disabled": "D", "drained": "N", "hot_standby": "H",
             "ignore_errors": "I"}
    body += "".join("&w_status_%s=%d" % (flags[k], 1 if v else 0)
                    for k, v in status.items())
    hd = {"Content-Type": "application/x-www-form-urlencoded"}
    if referer:
        hd["Referer"] = url
    r = requests.post(url, data=body, headers=hd, timeout=H.TIMEOUT)
    assert r.status_code == 200
    return r


def test_ansible_style_scraper_reads_the_page(impl, make_httpd, backends):
    """Members, their columns and status as the module reads them; a drain
    through its POST (with a Referer, as current versions send) shows on
    the next read and in the traffic, on stock and mod_lbx alike."""
    a, b = backends.start_many("a", "b")
    h = M.mgr_httpd(make_httpd, impl,
                    M.proxy("web", member(a, route="ra"),
                            member(b, route="rb")))
    found = scrape(h.base_url, M.MGR)
    assert sorted(p for _, p, _, _, _ in found) == sorted(
        [str(a.port), str(b.port)])
    for host, port, url, attrs, status in found:
        assert host == "127.0.0.1"
        assert list(attrs)[:11] == M.MEMBER_HEADERS[:11], attrs
        assert attrs["Worker URL"] == "http://127.0.0.1:%s" % port
        assert attrs["Route"] in ("ra", "rb")
        assert not any(status.values()), attrs
    url_a = [u for _, p, u, _, _ in found if p == str(a.port)][0]
    set_status(url_a, dict(disabled=False, drained=True, hot_standby=False,
                           ignore_errors=False))
    again = {p: s for _, p, _, _, s in scrape(h.base_url, M.MGR)}
    assert again[str(a.port)]["drained"] is True
    assert again[str(b.port)]["drained"] is False
    assert M.hits(h, "/web/x", 6) == {"b": 6}
    # the module's older versions sent no Referer: nothing changes
    r = set_status(url_a, dict(disabled=False, drained=False,
                               hot_standby=False, ignore_errors=False),
                   referer=False)
    again = {p: s for _, p, _, _, s in scrape(h.base_url, M.MGR)}
    assert again[str(a.port)]["drained"] is True
    if impl == "lbx":
        assert "Nothing was changed" in r.text


@lbx_only
def test_hostile_json_bodies_change_nothing(impl, make_httpd, backends):
    """1,000 generated JSON requests (broken syntax, random bytes, deep
    nesting, huge numbers, every key with a bad value last, valid nonce
    or not): each is answered with a JSON 4xx naming what was wrong, httpd
    keeps serving, and the state is what it was."""
    import random
    rnd = random.Random(20261203)
    a, b = backends.start_many("a", "b")
    h = M.mgr_httpd(make_httpd, impl, M.proxy("s", member(a), member(b),
                                              sets="growth=1"))
    m = M.Manager(h)
    nonce = m.nonce("s")
    before = settings(m, "s")
    good = [("w_lf", 3), ("w_ls", 1), ("w_wr", "r1"), ("w_status_D", True),
            ("b_lbm", "bybusyness"), ("b_tmo", 5), ("w_hi", "5s")]
    bad = [("w_lf", 0), ("w_lf", "1e999"), ("w_ls", 100), ("w_ls", -1),
           ("w_wr", "x" * 200), ("w_status_D", "yes"), ("b_lbm", "nosuch"),
           ("b_tmo", "-3"), ("w_hi", "1ms"), ("b_max", "x"),
           ("w_status_Q", 1), ("b_nwrkr", "notaurl"), ("w_he", "nosuch")]

    def body():
        kind = rnd.randrange(6)
        if kind == 0:
            return bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
        if kind == 1:
            return (b"{" * rnd.randrange(1, 2000)) + b"}" * rnd.randrange(3)
        if kind == 2:
            return b'{"b": "s", "w_lf": ' + b"9" * rnd.randrange(1, 400) + b"}"
        d = {"b": "s", "w": a.url}
        if rnd.random() < 0.8:
            d["nonce"] = nonce
        for k, v in rnd.sample(good, rnd.randrange(len(good))):
            d[k] = v
        k, v = rnd.choice(bad)
        d.pop(k, None)
        d[k] = v  # last: every good value before it must stay unapplied
        text = json.dumps(d).encode()
        if kind == 4:
            cut = rnd.randrange(1, len(text))
            return text[:cut]
        return text

    for i in range(1000):
        raw = body()
        r = post_json(m, None, raw=raw)
        assert 400 <= r.status_code < 500, (i, raw[:300], r.status_code,
                                            r.text[:200])
        ans = r.json()
        assert ans["error"] and "field" in ans, (i, ans)
    assert settings(m, "s") == before
    assert set(M.hits(h, "/s/x", 6)) == {"a", "b"}
