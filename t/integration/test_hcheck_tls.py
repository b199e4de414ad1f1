"""Health checks of https:// members speak TLS through mod_ssl (the vhost's
SSLProxy* settings, SNI), on stock and on mod_lbx: a check passes against
an HTTPS backend with a test certificate the proxy trusts, fails against a
plain HTTP backend behind an https:// member, and judges the answer it
got over TLS (a 500 fails it)."""
import subprocess

import pytest
import requests
import urllib3

import lbxharness as H
import test_hcheck as T

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


@pytest.fixture
def test_cert(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        check=True, capture_output=True, timeout=60)
    cert.chmod(0o644)
    key.chmod(0o644)
    return cert, key


def set_health(b, status):
    r = requests.get(b.url + "/_control", params={"health_status": status},
                     timeout=H.TIMEOUT, verify=False)
    assert r.status_code == 200, r.text


def health_hits(b):
    return requests.get(b.url + "/_control/health_count", timeout=H.TIMEOUT,
                        verify=False).json()["count"]


def test_tls_checks_pass_on_tls_and_fail_on_plain(impl, make_httpd, backends,
                                                  test_cert):
    tls = backends.start("tls", tls=test_cert)
    plain = backends.start("plain")
    plain_as_https = "https://127.0.0.1:%d" % plain.port
    h = T.hc_httpd(make_httpd, impl, """
LoadModule ssl_module %s/mod_ssl.so
SSLProxyEngine On
SSLProxyVerify require
SSLProxyCheckPeerName off
SSLProxyCACertificateFile %s
""" % (H.MODDIR, test_cert[0]) + T.balancer(
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=300ms "
        "hcfails=1 hcpasses=1" % tls.url,
        "BalancerMember %s hcmethod=GET hcuri=/health hcinterval=300ms "
        "hcfails=1 hcpasses=1" % plain_as_https) + """
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
""")
    status = lambda url: h.balancer_status()["balancer://hc"][url]["Status"]
    T.poll(lambda: "HcFl" in status(plain_as_https), 15,
           "the plain member failing its TLS check")
    # the TLS member's checks arrive as HTTP requests, and pass
    T.poll(lambda: health_hits(tls) >= 3, 15, "three checks over TLS")
    assert "HcFl" not in status(tls.url)
    # the answer is judged, not only the handshake
    set_health(tls, 500)
    T.poll(lambda: "HcFl" in status(tls.url), 15, "a failing TLS check")
    set_health(tls, 200)
    T.poll(lambda: "HcFl" not in status(tls.url), 15, "a passing TLS check")
    r = h.get("/app/x")
    assert r.status_code == 200 and r.headers["X-Backend"] == "tls"
    if impl == "lbx":
        doc = requests.get(h.base_url + "/balancer-manager?format=json",
                           timeout=H.TIMEOUT).json()
        last = {m["name"]: m["last_check"]
                for m in doc["balancers"][0]["members"]}
        assert last[plain_as_https]["result"] == "TLS handshake failed", last
        assert last[tls.url]["result"] == "passed", last
        assert last[tls.url]["status"] == 200, last
        assert "LBX20022" not in h.error_log()  # mod_ssl is loaded
