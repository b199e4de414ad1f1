"""balancer-manager: page, XML, forms and what they change in the traffic.

Everything is driven the way an operator's browser does it: GET the page
(with a same-host Referer, as a click inside the page sends one), then a
form-urlencoded POST to the manager URL carrying `b`, `w`, `nonce` and the
edited fields.  Every change is checked twice: on the page/XML (what the
manager says) and in the traffic (what the balancer does).

Stock 2.4.71 facts relied upon (observed):
* nonces are in the page links (`?b=NAME&w=URL&nonce=UUID`), also without
  a Referer; the edit form is shown only behind the Referer gate;
* a POST or `?xml=1` without a Referer naming the server (127.0.0.1) has
  all its parameters dropped (AH10187 "ignoring params in balancer-manager
  cross-site access");
* a member added with `b_nwrkr` starts Disabled; `growth` bounds additions;
* a member name is printed without HTML escaping by stock (page link text
  and XML `httpd:name`), which is what test_script_in_member_name records.

The JSON (`?format=json`) and metrics (`?format=metrics`) views, input
validation with 400 and `w_remove` exist in mod_lbx only: those tests run
for lbx alone.
"""
import collections
import html
import json
import math
import re
import time
import uuid
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import lbxharness as H
from lbxharness import member

MGR = "/balancer-manager"
XMLNS = "{http://httpd.apache.org}"
CROSS_SITE = "ignoring params in balancer-manager cross-site access"

MEMBER_HEADERS = ["Worker URL", "Route", "RouteRedir", "Factor", "Set",
                  "Status", "Elected", "Busy", "Load", "To", "From",
                  "HC Method", "HC Interval", "Passes", "Fails", "HC uri",
                  "HC Expr"]
BALANCER_HEADERS = ["MaxMembers", "StickySession", "DisableFailover",
                    "Timeout", "FailoverAttempts", "Method", "Path", "Active"]
# XML elements stock always writes, in its order (optional ones may sit in
# between)
XML_BALANCER_ORDER = ["name", "nonce", "timeout", "lbmethod", "workers"]
XML_WORKER_ORDER = ["name", "scheme", "hostname", "loadfactor", "port", "min",
                    "smax", "max", "ttl", "status", "retries", "lbstatus",
                    "loadfactor", "transferred", "read", "elected", "route",
                    "redirect", "busy", "lbset"]
# status string token of each manager flag letter
FLAG_TOKEN = {"I": "Ign", "N": "Drn", "D": "Dis", "S": "Stop", "H": "Stby",
              "R": "Spar", "C": "HcFl"}


# mod_lbx extensions: these tests take impl="lbx" only (no stock variant)
lbx_only = pytest.mark.parametrize("impl", ["lbx"])


# --------------------------------------------------------------------------
# page parsing
# --------------------------------------------------------------------------
class _PageParser(HTMLParser):
    """Top-level tables (rows of cells with text and link targets), <h3>
    headings and forms (with their inputs), in document order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.items = []
        self.tables = []   # stack: list of rows; row: list of cells
        self.cells = []    # stack parallel to tables: the open cell or None
        self.h3 = None
        self.title = None
        self._in_title = False
        self.forms = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
            self.cells.append(None)
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th") and self.tables:
            if not self.tables[-1]:
                self.tables[-1].append([])
            cell = {"text": "", "th": tag == "th", "hrefs": []}
            self.tables[-1][-1].append(cell)
            self.cells[-1] = cell
        elif tag == "a" and "href" in a:
            if self.cells and self.cells[-1] is not None:
                self.cells[-1]["hrefs"].append(a["href"])
            if self.h3 is not None:
                self.h3["hrefs"].append(a["href"])
        elif tag == "h3":
            self.h3 = {"text": "", "hrefs": []}
        elif tag == "title":
            self._in_title = True
            self.title = ""
        elif tag == "form":
            self.forms.append({"attrs": a, "inputs": []})
        elif tag in ("input", "select", "textarea") and self.forms:
            self.forms[-1]["inputs"].append(dict(a, tag=tag))

    def handle_endtag(self, tag):
        if tag == "table" and self.tables:
            t = self.tables.pop()
            self.cells.pop()
            if not self.tables:
                self.items.append(("table", t))
        elif tag in ("td", "th") and self.cells:
            self.cells[-1] = None
        elif tag == "h3" and self.h3 is not None:
            self.items.append(("h3", self.h3))
            self.h3 = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, d):
        if self.h3 is not None:
            self.h3["text"] += d
        if self.cells and self.cells[-1] is not None:
            self.cells[-1]["text"] += d
        if self._in_title:
            self.title += d

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)


class Page:
    """A parsed manager page: .balancers[name] with 'nonce', 'sname',
    'info' (MaxMembers ... Active) and 'members' (URL -> column dict)."""

    def __init__(self, text):
        self.text = text
        p = _PageParser()
        p.feed(text)
        p.close()
        self.title = (p.title or "").strip()
        self.forms = p.forms
        self.balancers = collections.OrderedDict()
        self.member_headers = None
        self.balancer_headers = None
        self.expr_table = None
        cur = None
        for kind, item in p.items:
            if kind == "h3":
                m = re.search(r"LoadBalancer Status for\s+(balancer://\S+)"
                              r"\s*(?:\[(.*?)\])?", item["text"])
                if not m:
                    continue
                nonce = None
                for href in item["hrefs"]:
                    q = parse_qs(urlsplit(href).query,
                                 keep_blank_values=True)
                    if "nonce" in q:
                        nonce = q["nonce"][0]
                cur = {"name": m.group(1), "sname": m.group(2) or "",
                       "nonce": nonce, "hrefs": item["hrefs"], "info": {},
                       "members": collections.OrderedDict()}
                self.balancers[m.group(1)] = cur
                continue
            rows = item
            if not rows or not rows[0]:
                continue
            head = [c["text"].strip() for c in rows[0]]
            if head and head[0] == "MaxMembers" and cur is not None:
                self.balancer_headers = head
                if len(rows) > 1:
                    cur["info"] = dict(zip(head, [c["text"] for c in rows[1]]))
            elif head and head[0] == "Worker URL" and cur is not None:
                self.member_headers = head
                for row in rows[1:]:
                    if not row:
                        continue
                    d = dict(zip(head, [c["text"] for c in row]))
                    d["href"] = row[0]["hrefs"][0] if row[0]["hrefs"] else ""
                    cur["members"][d["Worker URL"]] = d
            elif any("Expr name" in c["text"] for row in rows[:2]
                     for c in row):
                self.expr_table = [[c["text"].strip() for c in row]
                                   for row in rows]

    def member(self, bal, url):
        return self.balancers["balancer://" + bal]["members"][url]

    def status(self, bal, url):
        return self.member(bal, url)["Status"]

    def form_fields(self):
        return {i.get("name") for f in self.forms for i in f["inputs"]}

    def plain_lines(self):
        """The visible text, one stripped line per block."""
        t = re.sub(r"(?is)<(script|style).*?</\1>", " ", self.text)
        t = re.sub(r"(?i)<(br|/?(tr|p|div|h\d|dt|dd|li|table|form))\b[^>]*>",
                   "\n", t)
        t = html.unescape(re.sub(r"<[^>]+>", " ", t))
        return [re.sub(r"\s+", " ", x).strip() for x in t.split("\n")
                if x.strip()]


def snapshot(page, bal):
    """What an edit could change, as shown on the page."""
    b = page.balancers["balancer://" + bal]
    info = {k: b["info"].get(k, "").strip() for k in
            ("MaxMembers", "StickySession", "DisableFailover", "Timeout",
             "FailoverAttempts", "Method")}
    mem = {url: {k: m[k].strip() for k in ("Route", "RouteRedir", "Factor",
                                            "Set", "Status")}
           for url, m in b["members"].items()}
    return info, mem


# --------------------------------------------------------------------------
# manager client
# --------------------------------------------------------------------------
class Manager:
    def __init__(self, h, path=MGR):
        self.h = h
        self.path = path

    @property
    def url(self):
        return self.h.base_url + self.path

    @property
    def ref(self):
        return {"Referer": self.url}

    def get(self, query="", referer=True, headers=None):
        hd = dict(self.ref) if referer else {}
        if headers:
            hd.update(headers)
        return self.h.get(self.path + query, headers=hd)

    def page(self, query="", referer=True):
        r = self.get(query, referer=referer)
        assert r.status_code == 200, (r.status_code, r.text[-2000:])
        assert r.headers["Content-Type"].startswith("text/html"), r.headers
        return Page(r.text)

    def nonce(self, bal):
        n = self.page().balancers["balancer://" + bal]["nonce"]
        assert n is not None
        return n

    def post(self, data, referer=True, headers=None):
        hd = {}
        if referer is True:
            hd.update(self.ref)
        elif referer:
            hd["Referer"] = referer
        if headers:
            hd.update(headers)
        return requests.post(self.url, data=data, headers=hd,
                             timeout=H.TIMEOUT, allow_redirects=False)

    def edit(self, bal, w=None, expect=200, nonce=None, **fields):
        """POST a change with the balancer's current nonce."""
        data = {"b": bal, "nonce": self.nonce(bal) if nonce is None
                else nonce}
        if w is not None:
            data["w"] = w
        data.update({k: str(v) for k, v in fields.items()})
        r = self.post(data)
        if expect is not None:
            assert r.status_code == expect, (data, r.status_code,
                                              r.text[-1500:])
        return r

    def set_flag(self, bal, w, letter, on):
        return self.edit(bal, w, **{"w_status_" + letter: 1 if on else 0})

    def xml(self):
        r = self.get("?xml=1")
        assert r.status_code == 200, r.status_code
        assert r.headers["Content-Type"].startswith("text/xml"), r.headers
        return parse_xml(r.text)

    def json(self, referer=False):
        r = self.get("?format=json", referer=referer)
        assert r.status_code == 200, (r.status_code, r.text[:500])
        assert r.headers["Content-Type"].split(";")[0].strip() == \
            "application/json", r.headers
        return r.json()

    def metrics(self, referer=False):
        r = self.get("?format=metrics", referer=referer)
        assert r.status_code == 200, (r.status_code, r.text[:500])
        ct = r.headers["Content-Type"].replace(" ", "").lower()
        assert ct.startswith("text/plain") and "version=0.0.4" in ct, ct
        return parse_metrics(r.text)


def parse_xml(text):
    """{balancer name: {'tags': [...], tag: text, 'workers':
    {name: {'tags': [...], tag: text (first occurrence)}}}}"""
    root = ET.fromstring(text.encode())
    assert root.tag == XMLNS + "manager", root.tag
    out = collections.OrderedDict()
    bals = root.find(XMLNS + "balancers")
    assert bals is not None
    for b in bals.findall(XMLNS + "balancer"):
        d = {"tags": [], "workers": collections.OrderedDict()}
        for el in b:
            tag = el.tag[len(XMLNS):]
            d["tags"].append(tag)
            if tag == "workers":
                for w in el.findall(XMLNS + "worker"):
                    wd = {"tags": []}
                    for e in w:
                        t = e.tag[len(XMLNS):]
                        wd["tags"].append(t)
                        wd.setdefault(t, e.text or "")
                    d["workers"][wd["name"]] = wd
            else:
                d[tag] = el.text or ""
        out[d["name"]] = d
    return out


def is_subsequence(want, got):
    it = iter(got)
    return all(any(x == y for y in it) for x in want)


# Prometheus text format 0.0.4
_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)'
                     r'(\s+-?\d+)?$')
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"'
                    r'\s*(,|$)')


def _unescape_label(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1),
                                                     m.group(1)), v)


HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def _family(name, types):
    """The declared family a sample name belongs to (histogram samples
    carry a suffix)."""
    if name in types:
        return name
    for suffix in HISTOGRAM_SUFFIXES:
        base = name[:-len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return None


def _check_histograms(out, types):
    """Per series: buckets in increasing `le` order, cumulative, ending in
    +Inf, which equals _count; _sum present."""
    for base, t in types.items():
        if t != "histogram":
            continue
        series = collections.defaultdict(list)
        for labels, v in out[base + "_bucket"].items():
            d = dict(labels)
            le = d.pop("le")
            series[frozenset(d.items())].append((float(le), v))
        assert series, "histogram without buckets: " + base
        for key, buckets in series.items():
            buckets.sort()
            assert buckets[-1][0] == float("inf"), (base, key)
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), (base, key, counts)
            assert out[base + "_count"][key] == counts[-1], (base, key)
            assert key in out[base + "_sum"], (base, key)


def parse_metrics(text):
    """Strict enough parser: every sample belongs to a family declared by
    a preceding # TYPE line, a family's samples are contiguous, histograms
    are well formed; returns {name: {frozenset(labels): value}} and checks
    no series repeats."""
    types, out = {}, collections.defaultdict(dict)
    done, current = set(), None
    assert text.endswith("\n"), "exposition must end with a newline"
    for line in text.split("\n"):
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] == "TYPE":
                assert parts[3] in ("counter", "gauge", "untyped",
                                    "summary", "histogram"), line
                assert parts[2] not in types, "TYPE repeated: " + line
                types[parts[2]] = parts[3]
            continue
        m = _SAMPLE.match(line)
        assert m, "unparsable sample line: %r" % line
        name, _, lbls, val = m.group(1), m.group(2), m.group(3), m.group(4)
        family = _family(name, types)
        assert family, "sample before/without # TYPE: %r" % line
        if family != current:
            assert family not in done, "family not contiguous: %r" % line
            done.add(current)
            current = family
        labels = {}
        rest = lbls or ""
        while rest.strip():
            lm = _LABEL.match(rest)
            assert lm, "bad labels in %r" % line
            assert lm.group(1) not in labels, line
            labels[lm.group(1)] = _unescape_label(lm.group(2))
            rest = rest[lm.end():]
        v = float(val)  # also accepts NaN/+Inf
        key = frozenset(labels.items())
        assert key not in out[name], "series repeated: %r" % line
        out[name][key] = v
    for name, t in types.items():
        if name.endswith("_total"):
            assert t == "counter", (name, t)
    _check_histograms(out, types)
    return out, types


# --------------------------------------------------------------------------
# traffic
# --------------------------------------------------------------------------
def hits(h, path, n, headers=None, expect=200):
    """n requests on fresh connections; Counter of X-Backend."""
    c = collections.Counter()
    for _ in range(n):
        r = h.get(path, headers=headers)
        assert r.status_code == expect, (path, r.status_code)
        c[H.backend_of(r)] += 1
    return c


def served_by_every_child(h, path, name, batches=30, batch=20):
    """Send batches of fresh requests until backend `name` answered in
    every child (the access log has the pid); returns {pid} and the
    Counter of all answers.  Bounded to batches*batch requests."""
    kids = set(str(p) for p in h.child_pids())
    assert len(kids) >= 2, kids
    seen, total = set(), collections.Counter()
    for _ in range(batches):
        ids = set()
        for _ in range(batch):
            r = h.get(path)
            assert r.status_code == 200, r.status_code
            total[H.backend_of(r)] += 1
            if H.backend_of(r) == name:
                ids.add(r.test_id)
        # each child logs its own lines: wait for every one of them
        for e in (h.log_entry(i) for i in ids):
            seen.add(e["pid"])
        if kids <= seen:
            break
    return seen, kids, total


def mgr_httpd(make_httpd, impl, proxies, top="", **kw):
    return make_httpd(impl, """
ProxyStatus On
%s
%s
<Location %s>
    SetHandler balancer-manager
</Location>
""" % (top, proxies, MGR), **kw)


def proxy(name, *members, sets="", path=None):
    return """
<Proxy balancer://%s>
    %s
    %s
</Proxy>
ProxyPass %s balancer://%s
""" % (name, "\n    ".join(members), ("ProxySet " + sets) if sets else "",
       path or "/" + name, name)


# --------------------------------------------------------------------------
# 1. page and XML: every balancer and member
# --------------------------------------------------------------------------
def test_page_lists_every_balancer_and_member(impl, make_httpd, backends):
    """The page lists every balancer and member with
    the table headers (HC columns included), section texts, nonce links;
    without a Referer the same list but no form and no parameters; the XML
    (behind the Referer) lists the same and agrees with the page."""
    a, b, c, d = backends.start_many("a", "b", "c", "d")
    h = mgr_httpd(make_httpd, impl, proxy(
        "one", member(a, route="ra"), member(b, route="rb", loadfactor=2),
        sets="stickysession=ROUTEID growth=1") + proxy(
        "two", member(c, hcmethod="GET", hcuri="/health", hcinterval=5,
                      hcexpr="ok"),
        member(d, status="+H", lbset=1), sets="lbmethod=bytraffic"),
        top="ProxyHCExpr ok {%{REQUEST_STATUS} =~ /^[23]/}")
    assert hits(h, "/one/x", 6) == {"a": 2, "b": 4}
    m = Manager(h)
    r = m.get()
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html"), r.headers
    page = Page(r.text)
    assert page.title == "Balancer Manager"
    lines = page.plain_lines()
    assert "Load Balancer Manager for 127.0.0.1" in lines, lines[:5]
    for text in ("Server Version:", "Server Built:",
                 "Balancer changes will NOT be persisted on restart."):
        assert any(text in x for x in lines), (text, lines[:12])
    assert list(page.balancers) == ["balancer://one", "balancer://two"]
    assert page.balancer_headers == BALANCER_HEADERS
    assert page.member_headers == MEMBER_HEADERS
    one, two = (page.balancers["balancer://" + n] for n in ("one", "two"))
    assert list(one["members"]) == [a.url, b.url]
    assert list(two["members"]) == [c.url, d.url]
    # balancer tables
    assert re.sub(r"\s+", " ", one["info"]["MaxMembers"]).strip() == \
        "3 [2 Used]"
    assert one["info"]["StickySession"].strip() == "ROUTEID"
    assert one["info"]["Method"].strip() == "byrequests"
    assert one["info"]["Path"].strip() == "/one"
    assert two["info"]["Method"].strip() == "bytraffic"
    assert re.sub(r"\s+", " ", two["info"]["MaxMembers"]).strip() == \
        "2 [2 Used]"
    # member rows
    ra, rb = one["members"][a.url], one["members"][b.url]
    assert (ra["Route"], ra["Factor"], ra["Status"].strip()) == \
        ("ra", "1.00", "Init Ok")
    assert (rb["Route"], rb["Factor"]) == ("rb", "2.00")
    assert (int(ra["Elected"]), int(rb["Elected"])) == (2, 4)
    rc, rd = two["members"][c.url], two["members"][d.url]
    assert (rc["HC Method"], rc["HC Interval"], rc["HC uri"],
            rc["HC Expr"]) == ("GET", "5000ms", "/health", "ok")
    assert rd["Set"] == "1" and "Stby" in rd["Status"], rd
    assert page.expr_table is not None, "no ProxyHCExpr table"
    assert ["ok", "%{REQUEST_STATUS} =~ /^[23]/"] in page.expr_table, \
        page.expr_table
    assert any("Health check cond. expressions:" in x for x in lines), \
        "no caption of the expression table"
    # nonce links: balancer and members carry the balancer's nonce
    for bal, name in ((one, "one"), (two, "two")):
        assert bal["nonce"], bal
        for url, row in bal["members"].items():
            q = parse_qs(urlsplit(row["href"]).query)
            assert q == {"b": [name], "w": [url], "nonce": [bal["nonce"]]}, \
                row["href"]
    assert one["nonce"] != two["nonce"]
    # no member selected: no worker form; balancer selected: balancer form
    assert "w_lf" not in page.form_fields()
    sel = m.page("?b=one&nonce=%s" % one["nonce"])
    assert {"b_lbm", "b_tmo", "b_max", "b_sforce", "b_ss", "b_nwrkr",
            "b_wyes"} <= sel.form_fields(), sel.form_fields()
    sel = m.page("?b=one&w=%s&nonce=%s" % (a.url, one["nonce"]))
    assert {"w_lf", "w_ls", "w_wr", "w_rr", "w_status_I", "w_status_N",
            "w_status_D", "w_status_H", "w_status_R", "w_status_S",
            "w_status_C", "b", "w", "nonce"} <= sel.form_fields()
    assert any("Edit worker settings for %s" % a.url in x
               for x in sel.plain_lines())

    # without a Referer: the same lists, no form, parameters dropped
    mark = len(h.error_log())
    bare = m.page("?b=one&w=%s&nonce=%s" % (a.url, one["nonce"]),
                  referer=False)
    assert list(bare.balancers) == list(page.balancers)
    assert list(bare.balancers["balancer://one"]["members"]) == [a.url, b.url]
    assert not bare.forms, bare.form_fields()
    h.wait_error_log(CROSS_SITE)
    assert CROSS_SITE in h.error_log()[mark:]
    # ?xml=1 without Referer is the HTML page
    r = m.get("?xml=1", referer=False)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith(
        "text/html"), r.headers

    # XML: same balancers, members, nonce; elements in stock's order
    # (XML_*_ORDER); agrees with page
    x = m.xml()
    assert list(x) == ["balancer://one", "balancer://two"]
    for name in ("one", "two"):
        xb = x["balancer://" + name]
        pb = page.balancers["balancer://" + name]
        assert xb["tags"][:2] == ["name", "nonce"], xb["tags"]
        assert is_subsequence(XML_BALANCER_ORDER, xb["tags"]), xb["tags"]
        assert xb["nonce"] == pb["nonce"]
        assert list(xb["workers"]) == list(pb["members"])
        for url, xw in xb["workers"].items():
            assert is_subsequence(XML_WORKER_ORDER, xw["tags"]), xw["tags"]
            pw = pb["members"][url]
            assert xw["loadfactor"] == pw["Factor"]
            assert xw["route"] == pw["Route"]
            assert xw["status"] == pw["Status"]
            assert xw["elected"] == pw["Elected"].strip()
            assert xw["lbset"] == pw["Set"].strip()
            assert xw["lbstatus"] == pw["Load"].strip()
    assert x["balancer://one"]["stickysession"] == "ROUTEID"
    assert x["balancer://two"]["lbmethod"] == "bytraffic"


# --------------------------------------------------------------------------
# 2. load factor, route, redirect, lbset through the form
# --------------------------------------------------------------------------
def test_member_fields_change_the_traffic(impl, make_httpd, backends):
    """w_lf=3 turns a 1:1 split into 3:1; a new route is
    what sticky requests follow; w_ls=1 moves a member behind lbset 0;
    redirect is shown on page and XML."""
    a, b = backends.start_many("a", "b")
    h = mgr_httpd(make_httpd, impl, proxy(
        "w", member(a, route="ra"), member(b, route="rb"),
        sets="stickysession=ROUTEID"))
    m = Manager(h)
    assert hits(h, "/w/x", 40) == {"a": 20, "b": 20}

    m.edit("w", a.url, w_lf=3)
    page = m.page()
    assert page.member("w", a.url)["Factor"] == "3.00"
    assert page.member("w", b.url)["Factor"] == "1.00"
    assert m.xml()["balancer://w"]["workers"][a.url]["loadfactor"] == "3.00"
    c = hits(h, "/w/x", 100)
    assert abs(c["a"] - 75) <= 3 and c["a"] + c["b"] == 100, c

    m.edit("w", b.url, w_wr="nr", w_rr="ra")
    row = m.page().member("w", b.url)
    assert (row["Route"], row["RouteRedir"]) == ("nr", "ra"), row
    xw = m.xml()["balancer://w"]["workers"][b.url]
    assert (xw["route"], xw["redirect"]) == ("nr", "ra"), xw
    assert hits(h, "/w/x", 8, headers={"Cookie": "ROUTEID=s.nr"}) == {"b": 8}
    # the old route names nobody now: balanced, so a (factor 3) is seen
    assert "a" in hits(h, "/w/x", 8, headers={"Cookie": "ROUTEID=s.rb"})

    m.edit("w", b.url, w_ls=1)
    assert m.page().member("w", b.url)["Set"].strip() == "1"
    assert hits(h, "/w/x", 12) == {"a": 12}
    m.edit("w", b.url, w_ls=0, w_lf=1)
    assert m.page().member("w", b.url)["Set"].strip() == "0"
    c = hits(h, "/w/x", 40)
    assert c["b"] >= 8, c


# --------------------------------------------------------------------------
# 3. status flags
# --------------------------------------------------------------------------
def test_status_flags_take_effect(impl, make_httpd, backends):
    """Disabled and Stopped take a member out and back;
    Draining keeps only its sticky sessions; a Hot Standby gets traffic
    only once the regular member is unusable.  The status column shows
    each flag (Dis, Stop, Drn, Stby)."""
    a, b = backends.start_many("a", "b")
    h = mgr_httpd(make_httpd, impl, proxy(
        "f", member(a, route="ra"), member(b, route="rb"),
        sets="stickysession=ROUTEID"))
    m = Manager(h)
    sticky_a = {"Cookie": "ROUTEID=s.ra"}
    assert set(hits(h, "/f/x", 6)) == {"a", "b"}

    for letter in ("D", "S"):
        m.set_flag("f", a.url, letter, True)
        st = m.page().status("f", a.url)
        assert FLAG_TOKEN[letter] in st and "Ok" not in st, st
        assert hits(h, "/f/x", 10) == {"b": 10}, letter
        # an unusable member does not keep its sticky sessions either
        assert hits(h, "/f/x", 4, headers=sticky_a) == {"b": 4}, letter
        m.set_flag("f", a.url, letter, False)
        assert m.page().status("f", a.url).split() == ["Init", "Ok"]
        assert "a" in hits(h, "/f/x", 6), letter

    # draining: no new sessions, existing ones still served
    m.set_flag("f", a.url, "N", True)
    st = m.page().status("f", a.url)
    assert "Drn" in st and "Ok" in st, st
    assert hits(h, "/f/x", 10) == {"b": 10}
    assert hits(h, "/f/x", 5, headers=sticky_a) == {"a": 5}
    m.set_flag("f", a.url, "N", False)
    assert "a" in hits(h, "/f/x", 6)

    # hot standby: idle while b is usable, takes over when b is disabled
    m.set_flag("f", a.url, "H", True)
    assert "Stby" in m.page().status("f", a.url)
    assert hits(h, "/f/x", 10) == {"b": 10}
    m.set_flag("f", b.url, "D", True)
    assert hits(h, "/f/x", 6) == {"a": 6}
    m.edit("f", b.url, w_status_D=0)
    assert hits(h, "/f/x", 6) == {"b": 6}
    m.set_flag("f", a.url, "H", False)
    assert set(hits(h, "/f/x", 6)) == {"a", "b"}
    x = m.xml()["balancer://f"]["workers"]
    assert x[a.url]["status"].split() == x[b.url]["status"].split() == \
        ["Init", "Ok"]


# --------------------------------------------------------------------------
# 4. adding members (growth)
# --------------------------------------------------------------------------
def test_growth_adds_a_member_that_takes_traffic(impl, make_httpd,
                                                 backends):
    """With growth=1 `b_nwrkr` + `b_wyes=1` adds a member
    that starts Disabled; enabled, it serves from every child; a second
    addition (no free slot) and one to a balancer without growth are
    refused with 400; without b_wyes=1 nothing is added."""
    a, b, c, d = backends.start_many("a", "b", "c", "d")
    h = mgr_httpd(make_httpd, impl,
                  proxy("g", member(a), member(b), sets="growth=1")
                  + proxy("ng", member(b)))
    m = Manager(h)
    page = m.page("?b=g&nonce=%s" % m.nonce("g"))
    assert "b_nwrkr" in page.form_fields()
    assert re.sub(r"\s+", " ", page.balancers["balancer://g"]["info"][
        "MaxMembers"]).strip() == "3 [2 Used]"
    ng = m.page("?b=ng&nonce=%s" % m.nonce("ng"))
    assert "b_nwrkr" not in ng.form_fields(), "form offers a missing slot"

    m.edit("g", b_nwrkr=c.url)                    # no b_wyes
    m.edit("g", b_nwrkr=c.url, b_wyes="yes")      # not exactly 1
    assert c.url not in m.page().balancers["balancer://g"]["members"]

    m.edit("g", b_nwrkr=c.url, b_wyes=1)
    page = m.page()
    g = page.balancers["balancer://g"]
    assert list(g["members"]) == [a.url, b.url, c.url]
    assert "Dis" in g["members"][c.url]["Status"], g["members"][c.url]
    assert re.sub(r"\s+", " ", g["info"]["MaxMembers"]).strip() == \
        "3 [3 Used]"
    assert c.url in m.xml()["balancer://g"]["workers"]
    assert set(hits(h, "/g/x", 12)) == {"a", "b"}

    m.set_flag("g", c.url, "D", False)
    assert m.page().status("g", c.url).split() == ["Init", "Ok"]
    seen, kids, total = served_by_every_child(h, "/g/x", "c")
    assert kids <= seen, ("new member not used by every child", seen, kids,
                          total)
    assert total["c"] >= sum(total.values()) // 4, total

    assert m.edit("g", b_nwrkr=d.url, b_wyes=1, expect=None).status_code \
        == 400
    assert m.edit("ng", b_nwrkr=d.url, b_wyes=1, expect=None).status_code \
        == 400
    page = m.page()
    assert list(page.balancers["balancer://g"]["members"]) == \
        [a.url, b.url, c.url]
    assert list(page.balancers["balancer://ng"]["members"]) == [b.url]
    assert "d" not in hits(h, "/g/x", 9) + hits(h, "/ng/x", 3)


# --------------------------------------------------------------------------
# 5. nonce, Referer and method gates
# --------------------------------------------------------------------------
EVIL = {"w_lf": "5", "w_wr": "evil", "w_rr": "evil", "w_ls": "1",
        "w_status_D": "1"}


def test_gates_change_nothing(impl, make_httpd, backends):
    """A wrong, empty or missing nonce, a missing or
    foreign Referer, and a GET carrying the edit fields change nothing
    (member fields, balancer fields, member addition) and still answer
    200; the same POST with nonce and Referer does change it."""
    a, b, c = backends.start_many("a", "b", "c")
    h = mgr_httpd(make_httpd, impl, proxy(
        "s", member(a, route="ra"), member(b, route="rb"),
        sets="growth=1"))
    m = Manager(h)
    nonce = m.nonce("s")
    base = snapshot(m.page(), "s")
    wdata = dict(EVIL, b="s", w=a.url, nonce=nonce)
    bdata = dict(b="s", nonce=nonce, b_lbm="bybusyness", b_tmo="7",
                 b_max="3", b_sforce="1", b_ss="EVIL|evil", b_nwrkr=c.url,
                 b_wyes="1")
    other = str(uuid.uuid4())
    cases = []
    for name, data in (("worker", wdata), ("balancer", bdata)):
        cases += [
            ("%s wrong nonce" % name, dict(data, nonce=other), True),
            ("%s empty nonce" % name, dict(data, nonce=""), True),
            ("%s nonce None" % name, dict(data, nonce="None"), True),
            ("%s no nonce" % name, {k: v for k, v in data.items()
                                    if k != "nonce"}, True),
            ("%s no Referer" % name, data, None),
            ("%s foreign Referer" % name, data,
             "http://evil.example/balancer-manager"),
            ("%s look-alike Referer" % name, data,
             "http://127.0.0.1.evil.example:%d%s" % (h.port, MGR)),
        ]
    mark = len(h.error_log())
    for what, data, referer in cases:
        r = m.post(data, referer=referer)
        assert r.status_code == 200, (what, r.status_code)
        assert snapshot(m.page(), "s") == base, what
    # a GET carrying everything (the real nonce and a Referer)
    for data in (wdata, bdata):
        r = requests.get(m.url, params=data, headers=m.ref, timeout=H.TIMEOUT)
        assert r.status_code == 200, r.status_code
        assert snapshot(m.page(), "s") == base, "GET " + str(data)
    # other methods are not the manager's: it declines them
    for method in ("PUT", "DELETE", "PATCH"):
        for data in (wdata, bdata):
            requests.request(method, m.url, data=data, headers=m.ref,
                             timeout=H.TIMEOUT, allow_redirects=False)
            assert snapshot(m.page(), "s") == base, method
    assert set(hits(h, "/s/x", 6)) == {"a", "b"}
    assert len(re.findall(CROSS_SITE, h.error_log()[mark:])) >= 4

    # the positive control: the same POSTs, properly made, do change
    assert m.post(wdata).status_code == 200
    assert m.post(bdata).status_code == 200
    info, mem = snapshot(m.page(), "s")
    assert mem[a.url]["Factor"] == "5.00" and mem[a.url]["Route"] == "evil"
    assert "Dis" in mem[a.url]["Status"] and mem[a.url]["Set"] == "1"
    assert info["Method"] == "bybusyness" and info["Timeout"] == "7"
    assert info["StickySession"] == "EVIL|evil"
    assert c.url in mem


def test_nonce_none_and_fixed_nonce(impl, make_httpd, backends):
    """`nonce=None` empties the nonce, and then no change is ever
    applied, whatever nonce is sent; a fixed `nonce=` value is the one in
    the links and the one that works."""
    a, b = backends.start_many("a", "b")
    h = mgr_httpd(make_httpd, impl,
                  proxy("nn", member(a), member(b), sets="nonce=None")
                  + proxy("fx", member(a), member(b),
                          sets="nonce=fixed-secret-1"))
    m = Manager(h)
    page = m.page()
    assert page.balancers["balancer://nn"]["nonce"] == ""
    assert page.balancers["balancer://fx"]["nonce"] == "fixed-secret-1"
    base = snapshot(page, "nn")
    for nonce in ("", "None", "none", "x"):
        m.edit("nn", a.url, nonce=nonce, w_lf=4, w_status_D=1)
    assert snapshot(m.page(), "nn") == base
    assert set(hits(h, "/nn/x", 4)) == {"a", "b"}
    m.edit("fx", a.url, nonce="fixed-secret-2", w_status_D=1)
    assert "Dis" not in m.page().status("fx", a.url)
    m.edit("fx", a.url, nonce="fixed-secret-1", w_status_D=1)
    assert "Dis" in m.page().status("fx", a.url)
    assert hits(h, "/fx/x", 4) == {"b": 4}


# --------------------------------------------------------------------------
# 6. escaping
# --------------------------------------------------------------------------
def test_script_in_route_is_escaped(impl, make_httpd, backends):
    """Routes and redirects, from httpd.conf or from the form, are
    HTML-escaped in the table and in the form's value attributes, and
    XML-escaped in the XML."""
    a, b = backends.start_many("a", "b")
    h = mgr_httpd(make_httpd, impl, proxy(
        "x", member(a, route="<script>alert(1)</script>"), member(b)))
    m = Manager(h)
    payload = '"><script>alert(2)</script>'
    m.edit("x", b.url, w_wr=payload, w_rr="<script>alert(3)</script>")
    for q in ("", "?b=x&w=%s&nonce=%s" % (b.url, m.nonce("x")),
              "?b=x&w=%s&nonce=%s" % (a.url, m.nonce("x"))):
        r = m.get(q)
        assert r.status_code == 200
        assert "<script" not in r.text.lower(), (q, re.findall(
            r"(?i).{40}<script.{20}", r.text))
        assert "&lt;script&gt;alert(1)" in r.text
        assert "&lt;script&gt;alert(2)" in r.text
    page = m.page()
    assert page.member("x", a.url)["Route"] == "<script>alert(1)</script>"
    assert page.member("x", b.url)["Route"] == payload
    assert page.member("x", b.url)["RouteRedir"] == \
        "<script>alert(3)</script>"
    x = m.xml()["balancer://x"]["workers"]
    assert x[a.url]["route"] == "<script>alert(1)</script>"
    assert x[b.url]["route"] == payload
    # and the route still works for sticky traffic
    assert "a" in hits(h, "/x/x", 4)


def test_script_in_member_name(impl, make_httpd, backends):
    """A member URL with `<script>` in its path: mod_lbx escapes the name
    in the page (link text) and XML; stock 2.4.71 prints it raw (an XSS
    and malformed XML) - asserted for the record."""
    a, b = backends.start_many("a", "b")
    evil = "%s/<script>alert(4)</script>" % a.url
    h = mgr_httpd(make_httpd, impl, proxy(
        "n", "BalancerMember %s" % evil, member(b)))
    m = Manager(h)
    r = m.get()
    xr = m.get("?xml=1")
    if impl == "stock":
        assert ">%s</a>" % evil in r.text
        assert "<httpd:name>%s</httpd:name>" % evil in xr.text
        return
    assert "<script" not in r.text.lower(), re.findall(
        r"(?i).{40}<script.{20}", r.text)
    assert "&lt;script&gt;alert(4)" in r.text
    assert evil in Page(r.text).balancers["balancer://n"]["members"]
    assert evil in parse_xml(xr.text)["balancer://n"]["workers"]
    assert m.json()["balancers"][0]["members"][0]["name"] == evil


# --------------------------------------------------------------------------
# 7. balancer settings
# --------------------------------------------------------------------------
def test_balancer_settings(impl, make_httpd, backends):
    """b_ss round-trips as COOKIE|param and steers
    sticky traffic, `-` removes it; b_sforce=1 makes a sticky request to a
    disabled member fail (503) instead of failing over; b_lbm, b_tmo and
    b_max are shown on the page and in the XML."""
    a, b = backends.start_many("a", "b")
    h = mgr_httpd(make_httpd, impl, proxy(
        "bs", member(a, route="ra"), member(b, route="rb")))
    m = Manager(h)
    m.edit("bs", b_ss="JSID|jsid")
    info = m.page().balancers["balancer://bs"]["info"]
    assert info["StickySession"].strip() == "JSID|jsid"
    x = m.xml()["balancer://bs"]
    assert x["stickysession"] == "JSID"
    assert hits(h, "/bs/x", 5, headers={"Cookie": "JSID=s.rb"}) == {"b": 5}
    assert hits(h, "/bs/x?jsid=s.ra", 5) == {"a": 5}

    m.set_flag("bs", a.url, "D", True)
    assert hits(h, "/bs/x?jsid=s.ra", 3) == {"b": 3}   # fails over
    m.edit("bs", b_sforce=1)
    assert m.page().balancers["balancer://bs"]["info"][
        "DisableFailover"].strip() == "On"
    assert m.xml()["balancer://bs"]["nofailover"] == "On"
    hits(h, "/bs/x?jsid=s.ra", 3, expect=503)
    m.edit("bs", b_sforce=0)
    assert hits(h, "/bs/x?jsid=s.ra", 3) == {"b": 3}
    m.set_flag("bs", a.url, "D", False)

    m.edit("bs", b_ss="-")
    assert m.page().balancers["balancer://bs"]["info"][
        "StickySession"].strip() == "(None)"
    assert "stickysession" not in m.xml()["balancer://bs"]
    assert set(hits(h, "/bs/x", 6, headers={"Cookie": "JSID=s.rb"})) == \
        {"a", "b"}

    # b_lbm reaches every child: heartbeat without its hb.dat answers 503
    m.edit("bs", b_lbm="heartbeat")
    assert m.xml()["balancer://bs"]["lbmethod"] == "heartbeat"
    # which child accepts a new connection is the kernel's choice: on a
    # busy machine one child may take many in a row, so poll until both
    # answered, bounded in time rather than in count
    pids = set()
    deadline = time.monotonic() + 30
    while len(pids) < 2 and time.monotonic() < deadline:
        r = h.get("/bs/x")
        assert r.status_code == 503, r.status_code
        pids.add(h.log_entry(r.test_id)["pid"])
    assert set(map(str, h.child_pids())) <= pids, pids
    m.edit("bs", b_lbm="byrequests")
    assert set(hits(h, "/bs/x", 6)) == {"a", "b"}

    # b_tmo: with every member unusable, the 503 waits for the timeout
    m.set_flag("bs", a.url, "D", True)
    m.set_flag("bs", b.url, "D", True)
    m.edit("bs", b_tmo=1)
    t0 = time.monotonic()
    hits(h, "/bs/x", 1, expect=503)
    assert time.monotonic() - t0 >= 0.9
    m.edit("bs", b_tmo=0)
    t0 = time.monotonic()
    hits(h, "/bs/x", 1, expect=503)
    assert time.monotonic() - t0 < 0.5
    m.set_flag("bs", a.url, "D", False)
    m.set_flag("bs", b.url, "D", False)

    m.edit("bs", b_lbm="bybusyness", b_tmo=3, b_max=2)
    info = m.page().balancers["balancer://bs"]["info"]
    assert (info["Method"].strip(), info["Timeout"].strip(),
            info["FailoverAttempts"].strip()) == ("bybusyness", "3", "2")
    x = m.xml()["balancer://bs"]
    assert (x["lbmethod"], x["timeout"], x["maxattempts"]) == \
        ("bybusyness", "3", "2")
    # unknown provider: stock ignores it (200), mod_lbx refuses it (400)
    m.edit("bs", b_lbm="nosuchmethod", expect={"stock": 200,
                                               "lbx": 400}[impl])
    assert m.xml()["balancer://bs"]["lbmethod"] == "bybusyness"
    assert set(hits(h, "/bs/x", 6)) == {"a", "b"}


def test_vhost_without_proxy_config_shares_the_manager(impl, make_httpd,
                                                      backends):
    """A name-based vhost with no proxy directive of its own
    shows the same balancers, sname and nonce in its own manager, and an
    edit made there (Referer naming that vhost) is the shared state."""
    a, b = backends.start_many("a", "b")
    h = mgr_httpd(make_httpd, impl, proxy("sh", member(a), member(b)) + """
<VirtualHost 127.0.0.1:@PORT@>
    ServerName 127.0.0.1
</VirtualHost>
<VirtualHost 127.0.0.1:@PORT@>
    ServerName vh.test
</VirtualHost>
""")
    m = Manager(h)
    vh = {"Host": "vh.test", "Referer": "http://vh.test%s" % MGR}

    def vget(query=""):
        r = requests.get(m.url + query, headers=vh, timeout=H.TIMEOUT)
        assert r.status_code == 200, r.status_code
        return Page(r.text)
    main, other = m.page(), vget()
    assert any("Load Balancer Manager for vh.test" in x
               for x in other.plain_lines())
    mb, ob = main.balancers["balancer://sh"], other.balancers["balancer://sh"]
    assert list(main.balancers) == list(other.balancers)
    assert (ob["sname"], ob["nonce"]) == (mb["sname"], mb["nonce"])
    assert list(ob["members"]) == list(mb["members"])
    # the Referer gate of that vhost wants its own name
    r = requests.post(m.url, data={"b": "sh", "w": b.url,
                                   "nonce": mb["nonce"], "w_status_D": "1"},
                      headers=dict(vh, Referer=m.url), timeout=H.TIMEOUT)
    assert r.status_code == 200
    assert "Dis" not in m.page().status("sh", b.url)
    r = requests.post(m.url, data={"b": "sh", "w": b.url,
                                   "nonce": mb["nonce"], "w_status_D": "1"},
                      headers=vh, timeout=H.TIMEOUT)
    assert r.status_code == 200
    assert "Dis" in m.page().status("sh", b.url)
    assert hits(h, "/sh/x", 6, headers={"Host": "vh.test"}) == {"a": 6}
    assert hits(h, "/sh/x", 6) == {"a": 6}


# --------------------------------------------------------------------------
# 8. persistence across a graceful restart
# --------------------------------------------------------------------------
@pytest.mark.parametrize("persist", [False, True], ids=["persist-off",
                                                        "persist-on"])
def test_changes_across_graceful(persist, impl, make_httpd, backends):
    """With BalancerPersist Off a graceful restart
    drops every manager change (factor, route, flags, added member) and
    makes a new nonce; with On all of them, and the nonce, survive, and
    the .persist files are written in DefaultRuntimeDir."""
    a, b, c = backends.start_many("a", "b", "c")
    h = mgr_httpd(make_httpd, impl, proxy(
        "p", member(a, route="ra"), member(b, route="rb"), sets="growth=1"),
        top="BalancerPersist %s" % ("On" if persist else "Off"))
    m = Manager(h)
    lines = m.page().plain_lines()
    assert ("Balancer changes will %sbe persisted on restart." % (
        "" if persist else "NOT ")) in lines, lines[:8]
    nonce = m.nonce("p")
    m.edit("p", a.url, w_lf=4, w_wr="na")
    m.set_flag("p", b.url, "D", True)
    m.edit("p", b_nwrkr=c.url, b_wyes=1)
    m.set_flag("p", c.url, "D", False)
    m.edit("p", b_lbm="bytraffic")
    before = snapshot(m.page(), "p")
    assert "b" not in hits(h, "/p/x", 10)

    h.graceful()
    after_page = m.page()
    after = snapshot(after_page, "p")
    if persist:
        # stock restores the slots but not their in-use map, so its page
        # says "3 [2 Used]" for three members: only the size is compared
        for snap in (before, after):
            snap[0]["MaxMembers"] = snap[0]["MaxMembers"].split()[0]
        assert after == before, (before, after)
        assert m.nonce("p") == nonce
        assert set(hits(h, "/p/x", 15)) == {"a", "c"}
        names = sorted(p.name for p in (h.root / "run").glob("*.persist"))
        assert any(n.endswith("_p.shm.persist") for n in names), names
    else:
        info, mem = after
        assert list(mem) == [a.url, b.url], mem
        assert (mem[a.url]["Factor"], mem[a.url]["Route"]) == ("1.00", "ra")
        assert mem[b.url]["Status"].split() == ["Init", "Ok"]
        assert info["Method"] == "byrequests"
        assert m.nonce("p") != nonce
        assert set(hits(h, "/p/x", 10)) == {"a", "b"}
        assert not list((h.root / "run").glob("*.persist"))


# --------------------------------------------------------------------------
# 9. mod_lbx only: validation, removal, JSON and metrics
# --------------------------------------------------------------------------
ERROR_WORDS = re.compile(r"(?i)invalid|error|reject|refus|not changed|"
                         r"nothing|range|too long|must|between")


def new_error_lines(bad, good):
    """Visible lines of the 400 page that the normal page lacks and that
    read like an error message."""
    known = set(good.plain_lines())
    return [x for x in bad.plain_lines()
            if x not in known and ERROR_WORDS.search(x)]


INVALID = [
    ("lf-not-a-number", {"w_lf": "abc"}),
    ("lf-500", {"w_lf": "500"}),
    ("lf-0", {"w_lf": "0"}),
    ("route-100-chars", {"w_wr": "r" * 100}),
    ("redirect-100-chars", {"w_rr": "x" * 100}),
    ("lbset-100", {"w_ls": "100"}),
    # one valid and one invalid field: the valid one is not applied either
    ("valid-lf-with-long-route", {"w_lf": "2", "w_wr": "r" * 100}),
]


@lbx_only
def test_invalid_values_are_rejected(impl, make_httpd, backends):
    """mod_lbx: an invalid value is refused with 400 and an error visible
    on the page, and nothing of the request is applied (stock ignores
    the field or clears it, with 200)."""
    a, b = backends.start_many("a", "b")
    h = mgr_httpd(make_httpd, impl, proxy(
        "v", member(a, route="ra"), member(b, route="rb")))
    m = Manager(h)
    base = snapshot(m.page(), "v")
    good = m.page("?b=v&w=%s&nonce=%s" % (a.url, m.nonce("v")))
    for what, fields in INVALID:
        r = m.edit("v", a.url, expect=None, **fields)
        assert r.status_code == 400, (what, r.status_code)
        assert r.headers["Content-Type"].startswith("text/html")
        bad = Page(r.text)
        assert "balancer://v" in bad.balancers, what  # the page, with...
        assert new_error_lines(bad, good), (what, bad.plain_lines()[:12])
        assert snapshot(m.page(), "v") == base, what  # ...nothing changed
    assert hits(h, "/v/x", 10) == {"a": 5, "b": 5}
    # the valid neighbours are accepted
    m.edit("v", a.url, w_lf="100", w_wr="r" * 63, w_ls="99")
    row = m.page().member("v", a.url)
    assert (row["Factor"], row["Route"], row["Set"].strip()) == \
        ("100.00", "r" * 63, "99")


@lbx_only
def test_remove_member_added_at_runtime(impl, make_httpd, backends):
    """mod_lbx: `w_remove=1` removes a member that was added with growth
    (gone from page and XML, no more traffic in any child); a member from
    httpd.conf is refused with 400; without the nonce nothing happens."""
    a, b, c = backends.start_many("a", "b", "c")
    h = mgr_httpd(make_httpd, impl, proxy(
        "r", member(a), member(b), sets="growth=1"))
    m = Manager(h)
    m.edit("r", b_nwrkr=c.url, b_wyes=1)
    m.set_flag("r", c.url, "D", False)
    seen, kids, total = served_by_every_child(h, "/r/x", "c")
    assert kids <= seen, (seen, kids, total)

    m.edit("r", c.url, nonce=str(uuid.uuid4()), w_remove=1)
    assert m.post({"b": "r", "w": c.url, "nonce": m.nonce("r"),
                   "w_remove": "1"}, referer=None).status_code == 200
    assert c.url in m.page().balancers["balancer://r"]["members"]

    r = m.edit("r", a.url, w_remove=1, expect=None)
    assert r.status_code == 400, r.status_code
    assert new_error_lines(Page(r.text), m.page())
    assert list(m.page().balancers["balancer://r"]["members"]) == \
        [a.url, b.url, c.url]

    m.edit("r", c.url, w_remove=1)
    assert list(m.page().balancers["balancer://r"]["members"]) == \
        [a.url, b.url]
    assert list(m.xml()["balancer://r"]["workers"]) == [a.url, b.url]
    assert [x["name"] for x in m.json()["balancers"][0]["members"]] == \
        [a.url, b.url]
    # no child uses it any more: both children serve, never c
    seen, kids, total = served_by_every_child(h, "/r/x", "a")
    assert kids <= seen and total["c"] == 0, (seen, kids, total)


JSON_BALANCER = {"name": str, "sname": str, "lbmethod": str, "nonce": str,
                 "sticky": str, "sticky_param": str, "nofailover": bool,
                 "timeout": int, "max_attempts": int, "max_members": int,
                 "members": list}
JSON_MEMBER = {"name": str, "route": str, "redirect": str,
               "loadfactor": (int, float), "lbset": int, "status": str,
               "flags": dict, "usable": bool, "elected": int, "busy": int,
               "lbstatus": int, "transferred": int, "read": int, "hc": dict}
JSON_FLAGS = {"ignore_errors": "Ign", "draining": "Drn", "disabled": "Dis",
              "standby": "Stby", "spare": "Spar", "stopped": "Stop",
              "in_error": "Err", "hc_failed": "HcFl"}
JSON_HC = {"method": str, "interval_ms": int, "passes": int, "fails": int,
           "uri": str, "expr": str}
METRICS = {"lbx_member_usable": ("gauge", "usable"),
           "lbx_member_elected_total": ("counter", "elected"),
           "lbx_member_busy": ("gauge", "busy"),
           "lbx_member_transferred_bytes_total": ("counter", "transferred"),
           "lbx_member_read_bytes_total": ("counter", "read"),
           "lbx_member_lbfactor": ("gauge", "loadfactor")}


def check_types(d, spec, what):
    for k, t in spec.items():
        assert k in d, (what, "missing key", k, sorted(d))
        assert isinstance(d[k], t) and not (
            t is int and isinstance(d[k], bool)), (what, k, d[k])


@lbx_only
def test_json_and_metrics_views_agree(impl, make_httpd, backends):
    """mod_lbx: `?format=json` (application/json) and `?format=metrics`
    (Prometheus 0.0.4) need no Referer, are read-only, parse, have the
    documented shape and names, and agree with each other, with the XML
    and with the HTML page after traffic and manager edits."""
    a, b, c, d = backends.start_many("a", "b", "c", "d")
    h = mgr_httpd(make_httpd, impl, proxy(
        "v1", member(a, route="ra"), member(b, route="rb"),
        sets="stickysession=JSID|jsid growth=1") + proxy(
        "v2", member(c, hcmethod="GET", hcuri="/health", hcinterval=60),
        member(d, status="+H", lbset=1),
        sets="lbmethod=bytraffic timeout=3 maxattempts=2 nofailover=On"))
    m = Manager(h)
    hits(h, "/v1/x", 10)
    hits(h, "/v2/x", 4)
    route = 'q"uo\\te<x>'
    m.edit("v1", a.url, w_lf=2)
    m.edit("v1", b.url, w_wr=route, w_status_D=1)

    # read-only: the edit fields on a view URL change nothing
    before = snapshot(m.page(), "v1")
    for fmt in ("json", "metrics"):
        r = m.get("?format=%s&b=v1&w=%s&nonce=%s&w_lf=9&w_status_D=0" % (
            fmt, b.url, m.nonce("v1")))
        assert r.status_code == 200
    assert snapshot(m.page(), "v1") == before

    j = m.json()
    (met, types) = m.metrics()
    x = m.xml()
    page = m.page()
    assert j["server"] == "127.0.0.1"
    assert [bal["name"] for bal in j["balancers"]] == list(x) == \
        list(page.balancers) == ["balancer://v1", "balancer://v2"]
    series = collections.defaultdict(dict)
    for name, by in met.items():
        for labels, v in by.items():
            series[name][tuple(sorted(labels))] = v
    expected_series = collections.Counter()
    for bal in j["balancers"]:
        check_types(bal, JSON_BALANCER, bal["name"])
        xb, pb = x[bal["name"]], page.balancers[bal["name"]]
        assert bal["nonce"] == xb["nonce"] == pb["nonce"]
        assert bal["sname"] == pb["sname"]
        assert bal["lbmethod"] == xb["lbmethod"] == pb["info"][
            "Method"].strip()
        assert bal["timeout"] == int(xb["timeout"]) == int(pb["info"][
            "Timeout"])
        assert bal["max_attempts"] == int(pb["info"]["FailoverAttempts"])
        assert bal["max_members"] == int(pb["info"]["MaxMembers"].split()[0])
        assert bal["nofailover"] == (pb["info"]["DisableFailover"].strip()
                                     == "On")
        assert [mm["name"] for mm in bal["members"]] == list(xb["workers"]) \
            == list(pb["members"])
        for mm in bal["members"]:
            what = (bal["name"], mm["name"])
            check_types(mm, JSON_MEMBER, what)
            check_types(mm["hc"], JSON_HC, what)
            assert set(mm["flags"]) == set(JSON_FLAGS), mm["flags"]
            xw, pw = xb["workers"][mm["name"]], pb["members"][mm["name"]]
            assert mm["status"] == xw["status"] == pw["Status"], what
            tokens = mm["status"].split()
            for flag, token in JSON_FLAGS.items():
                assert mm["flags"][flag] is (token in tokens), (what, flag)
            assert mm["usable"] is ("Ok" in tokens), what
            assert mm["route"] == xw["route"] == pw["Route"]
            assert mm["redirect"] == xw["redirect"]
            assert math.isclose(mm["loadfactor"], float(xw["loadfactor"]))
            assert "%.2f" % mm["loadfactor"] == pw["Factor"]
            for k in ("lbset", "elected", "busy", "lbstatus", "transferred",
                      "read"):
                assert mm[k] == int(xw[k]), (what, k, mm[k], xw[k])
            assert mm["elected"] == int(pw["Elected"])
            assert mm["hc"]["method"] == pw["HC Method"]
            assert "%dms" % mm["hc"]["interval_ms"] == pw["HC Interval"]
            assert mm["hc"]["uri"] == pw["HC uri"]
            assert pw["Passes"].startswith("%d " % mm["hc"]["passes"])
            assert pw["Fails"].startswith("%d " % mm["hc"]["fails"])
            lab = (("balancer", bal["name"]), ("member", mm["name"]))
            for metric, (mtype, key) in METRICS.items():
                assert types.get(metric) == mtype, (metric, types.get(metric))
                want = float(mm[key])
                assert series[metric].get(lab) == want, (metric, lab,
                                                         series[metric])
                expected_series[metric] += 1
            for flag in JSON_FLAGS:
                k = tuple(sorted(lab + (("flag", flag),)))
                assert series["lbx_member_status"].get(k) == \
                    float(mm["flags"][flag]), (what, flag)
                expected_series["lbx_member_status"] += 1
    # no series for anything that is not a member
    for metric, n in expected_series.items():
        assert len(series[metric]) == n, (metric, series[metric])

    # what the edits and the configuration should show
    v1, v2 = ({mm["name"]: mm for mm in bal["members"]}
              for bal in j["balancers"])
    assert v1[a.url]["loadfactor"] == 2 and v1[a.url]["usable"] is True
    assert v1[b.url]["route"] == route and v1[b.url]["flags"]["disabled"]
    assert v1[b.url]["usable"] is False
    assert sum(mm["elected"] for mm in v1.values()) == 10
    assert (j["balancers"][0]["sticky"], j["balancers"][0][
        "sticky_param"]) == ("JSID", "jsid")
    assert j["balancers"][0]["max_members"] == 3
    assert v2[c.url]["hc"] == dict(v2[c.url]["hc"], method="GET",
                                   interval_ms=60000, uri="/health")
    assert v2[d.url]["flags"]["standby"] and v2[d.url]["lbset"] == 1
    assert v2[c.url]["elected"] == 4
    assert (j["balancers"][1]["lbmethod"], j["balancers"][1]["timeout"],
            j["balancers"][1]["max_attempts"],
            j["balancers"][1]["nofailover"]) == ("bytraffic", 3, 2, True)
    # the route with quote, backslash and '<' is escaped correctly in JSON
    r = m.get("?format=json", referer=False)
    assert route not in r.text
    assert json.loads(r.text)["balancers"][0]["members"][1]["route"] == route
