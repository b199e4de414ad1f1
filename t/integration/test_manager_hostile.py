"""Hostile balancer-manager traffic: thousands of generated malformed,
oversized and mixed-encoding requests (with and without a valid nonce and
Referer) against a live httpd; afterwards the balancer state is byte for
byte what it was and httpd still answers.  Requests that carry the valid
nonce and Referer hold any mix of good and bad values but always an invalid
b_tmo last, which must make the manager change nothing (a request with one
bad value changes nothing, even where the good values would apply)."""
import random
import re
import time

import requests

import lbxharness as H

MGR = "/balancer-manager"
REQUESTS = 3000
BUDGET_S = 90

CONF = """
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
<Proxy balancer://hx growth=2>
    BalancerMember %s route=r1
    BalancerMember %s route=r2 loadfactor=3
    BalancerMember %s route=r3 lbset=1
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /app balancer://hx
"""

KEYS = ["b", "w", "nonce", "w_lf", "w_ls", "w_wr", "w_rr", "w_status_D",
        "w_status_I", "w_status_N", "w_status_H", "w_status_R", "w_status_S",
        "w_hm", "w_hi", "w_hp", "w_hf", "w_hu", "w_he", "b_lbm", "b_tmo",
        "b_max", "b_sforce", "b_ss", "b_nwrkr", "b_wyes", "w_remove", "xml",
        "format"]
# Values no manager may accept for the key they go with.
INVALID = {
    "w_lf": ["-1", "0", "101", "1e9", "abc", "", "%00", "9" * 40],
    "w_ls": ["-1", "100", "x", "99999999999999999999"],
    "w_status_D": ["2", "-1", "yes", "1x"],
    "w_hi": ["0", "-5", "x", "9" * 30],
    "w_hp": ["-1", "1000000", "y"],
    "w_hm": ["NOPE", "%ff%fe", "G\x00ET"],
    "b_lbm": ["nosuchmethod", "../../etc", "x" * 300],
    "b_tmo": ["-1", "x", "9" * 30],
    "b_max": ["-3", "z"],
    "w_wr": ["x" * 200],
    "b_nwrkr": ["not a url", "ftp://127.0.0.1:1", "http://" + "a" * 600],
}
JUNK = ["%", "%%", "%G0", "%0", "%00", "%c0%af", "%ef%bb%bf", "\xff\xfe",
        "\u00e9", "\ud7ff", "+", "&&&", "===", ";", "\r\n", "\t", "..",
        "\u202e", "<script>", "'\"", "A" * 70000]


def rand_text(rnd, n):
    alphabet = ("abcXYZ019%&=+;/?#[]@!$'()*,-._~ \t\x00\x01\x7f\x80\xc3"
                "\xa9\xff")
    return "".join(rnd.choice(alphabet) for _ in range(n))


def enc(s):
    # mixed encodings: latin-1 bytes, UTF-8, and raw %-escapes as written
    return s.encode("utf-8" if any(ord(c) > 255 for c in s) else "latin-1")


# Values the manager would accept on their own.
GOOD = {
    "w_lf": ["1", "7", "100"], "w_ls": ["0", "2"], "w_wr": ["rX", ""],
    "w_rr": ["r9"], "w_status_D": ["0", "1"], "w_status_I": ["1"],
    "w_status_N": ["1"], "w_status_H": ["1"], "w_status_R": ["1"],
    "w_status_S": ["1"], "w_hm": ["GET", "TCP"], "w_hi": ["5"],
    "w_hp": ["2"], "w_hf": ["2"], "w_hu": ["/health"], "w_he": [""],
    "b_lbm": ["bybusyness", "bytraffic"], "b_tmo": ["5"], "b_max": ["2"],
    "b_sforce": ["1"], "b_ss": ["JSESSIONID", "-"],
    "b_nwrkr": ["http://127.0.0.1:1/new"], "b_wyes": ["1"],
    "w_remove": ["1"],
}
BAD_TMO = ["x", "-1", "9" * 30, "1.5", "%2D1", "5x"]


def build(rnd, nonce, members):
    """One request's body; valid=True when it carries the balancer's nonce
    (and then a same-host Referer): its last b_tmo is always invalid, so
    the whole edit must be refused, whatever else it holds."""
    pairs = []
    valid = rnd.random() < 0.5
    for _ in range(rnd.randrange(0, 12)):
        k = rnd.choice(KEYS + JUNK)
        roll = rnd.random()
        if k in INVALID and roll < 0.4:
            v = rnd.choice(INVALID[k])
        elif k in GOOD and roll < 0.8:
            v = rnd.choice(GOOD[k])
        else:
            v = rnd.choice(JUNK + [rand_text(rnd, rnd.randrange(0, 40))])
        pairs.append((k, v))
    rnd.shuffle(pairs)
    if valid:
        head = [("b", "hx"), ("nonce", nonce)]
        if rnd.random() < 0.7:
            head.append(("w", rnd.choice(members)))
        pairs = [p for p in pairs if p[0] not in ("b", "nonce", "w")]
        pairs = head + pairs + [("b_tmo", rnd.choice(BAD_TMO))]
    if rnd.random() < 0.05:
        pairs += [("k%d" % i, "v") for i in range(200)]  # too many params
    body = b"&".join(enc(k) + b"=" + enc(v) for k, v in pairs)
    if rnd.random() < 0.1:
        valid = False
        body = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 300)))
    if rnd.random() < 0.03:
        body = b"a=" + b"x" * (17 * 1024)  # over the manager's body limit
    return valid, body


def send(port, method, target, headers, body, timeout=10):
    req = b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" % (
        method, target)
    for k, v in headers.items():
        req += k + b": " + v + b"\r\n"
    if body is not None:
        req += b"Content-Length: %d\r\n" % len(body)
    req += b"\r\n" + (body or b"")
    data = H.raw_exchange(port, req, timeout)
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0


def snapshot(h):
    j = requests.get(h.base_url + MGR + "?format=json", timeout=H.TIMEOUT)
    x = requests.get(h.base_url + MGR + "?xml=1", timeout=H.TIMEOUT)
    assert j.status_code == 200 and x.status_code == 200
    return j.content, x.content


def test_hostile_manager_traffic_changes_nothing(make_httpd, backends):
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd("lbx", CONF % (a.url, b.url, c.url))
    page = requests.get(h.base_url + MGR, timeout=H.TIMEOUT).text
    nonce = re.search(r"\?b=hx&amp;nonce=([0-9a-fA-F-]+)", page).group(1)
    before = snapshot(h)
    rnd = random.Random(20261203)
    members = [a.url, b.url, c.url, "http://127.0.0.1:1", "*", ""]
    referer = (h.base_url + MGR).encode()
    statuses = {}
    end = time.monotonic() + BUDGET_S
    sent = 0
    while sent < REQUESTS and time.monotonic() < end:
        valid, body = build(rnd, nonce, members)
        headers = {}
        if valid or rnd.random() < 0.3:
            headers[b"Referer"] = referer if valid or rnd.random() < 0.5 \
                else b"http://evil.example/" + referer
        if rnd.random() < 0.8:
            headers[b"Content-Type"] = rnd.choice([
                b"application/x-www-form-urlencoded",
                b"application/x-www-form-urlencoded; charset=utf-16",
                b"multipart/form-data; boundary=x", b"text/plain"])
        if rnd.random() < 0.7:
            st = send(h.port, b"POST", MGR.encode(), headers, body)
        else:
            q = body.replace(b" ", b"%20").replace(b"\r", b"").replace(
                b"\n", b"").replace(b"#", b"%23")[:6000]
            st = send(h.port, b"GET", MGR.encode() + b"?" + q, headers, None)
        statuses[st] = statuses.get(st, 0) + 1
        sent += 1
    assert sent == REQUESTS, "only %d requests in %d s" % (sent, BUDGET_S)
    # every answer a real HTTP status; the refusals are 400/413/414 or the
    # page (stock's answer when it ignores parameters)
    assert set(statuses) <= {200, 400, 403, 404, 405, 413, 414}, statuses
    assert statuses.get(200, 0) > 0 and statuses.get(400, 0) > 0, statuses
    assert snapshot(h) == before
    assert h.get("/app/x").status_code == 200
    log = h.error_log()
    assert not re.search(r"exit signal|Segmentation|AddressSanitizer", log)


def test_an_add_that_fails_changes_nothing_else(make_httpd, backends):
    """Adding a member is the one step that can fail after the values were
    checked (here: it exists already): the member edit in the same request
    must not have been applied either."""
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd("lbx", CONF % (a.url, b.url, c.url))
    page = requests.get(h.base_url + MGR, timeout=H.TIMEOUT).text
    nonce = re.search(r"\?b=hx&amp;nonce=([0-9a-fA-F-]+)", page).group(1)
    before = snapshot(h)
    r = requests.post(h.base_url + MGR, timeout=H.TIMEOUT,
                      headers={"Referer": h.base_url + MGR},
                      data={"b": "hx", "nonce": nonce, "w": a.url,
                            "w_status_D": "1", "w_lf": "9", "b_tmo": "7",
                            "b_nwrkr": b.url, "b_wyes": "1"})
    assert r.status_code == 400 and "already matches" in r.text
    assert snapshot(h) == before
