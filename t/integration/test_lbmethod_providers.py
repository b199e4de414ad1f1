"""Third-party lbmethod providers and the startup refusals for missing
dependencies.
Co-loading with stock modules: test_lifecycle.py."""
import collections
import shutil
import subprocess

import pytest

import lbxharness as H
from lbxharness import member


@pytest.fixture(scope="module")
def testlast_so(tmp_path_factory):
    """Build thirdparty/mod_lbx_testlast.c with apxs, as a user would."""
    out = tmp_path_factory.mktemp("thirdparty")
    src = out / "mod_lbx_testlast.c"
    shutil.copy(H.HERE / "thirdparty" / "mod_lbx_testlast.c", src)
    subprocess.run(["apxs", "-c", "-o", str(out / "mod_lbx_testlast.la"),
                    str(src)], check=True, cwd=out, capture_output=True)
    so = out / ".libs" / "mod_lbx_testlast.so"
    assert so.exists()
    return so


def test_third_party_provider_is_used(impl, make_httpd, backends,
                                      testlast_so):
    a, b, c = backends.start_many("a", "b", "c")
    h = make_httpd(impl, """
LoadModule lbx_testlast_module %s
<Proxy balancer://tp>
    %s
    %s
    %s
    ProxySet lbmethod=testlast
</Proxy>
ProxyPass /app balancer://tp
""" % (testlast_so, member(a), member(b), member(c)))
    counts = collections.Counter(H.backend_of(h.get("/app/x"))
                                 for _ in range(10))
    assert counts == {"c": 10}
    c.kill()
    # c refused: mod_proxy marks it in error and the finder moves on to b.
    for _ in range(10):
        r = h.get("/app/x")
        assert r.status_code == 200
    assert H.backend_of(h.get("/app/x")) == "b"


def test_unknown_lbmethod_is_refused(impl, make_httpd, backends):
    a = backends.start("a")
    h = make_httpd(impl, """
<Proxy balancer://u>
    %s
    ProxySet lbmethod=nosuch
</Proxy>
""" % member(a), start=False)
    p = h.configtest()
    assert p.returncode != 0
    assert "unknown lbmethod" in (p.stderr + p.stdout).lower()


def test_missing_mod_proxy_is_named(make_httpd):
    mods = ["LoadModule %s %s" % (sym, H.MODDIR / so)
            for sym, so in H.BASE_MODULES
            if sym not in ("proxy_module", "proxy_http_module")]
    h = make_httpd("lbx", "", start=False,
                   modules=mods + ["LoadModule lbx_module %s" % H.LBX_SO])
    p = h.configtest()
    assert p.returncode != 0
    assert "LoadModule proxy_module" in p.stderr + p.stdout


def test_missing_slotmem_is_named(make_httpd, backends):
    a = backends.start("a")
    mods = ["LoadModule %s %s" % (sym, H.MODDIR / so)
            for sym, so in H.BASE_MODULES if sym != "slotmem_shm_module"]
    h = make_httpd("lbx", """
<Proxy balancer://m>
    %s
</Proxy>
""" % member(a), start=False,
                   modules=mods + ["LoadModule lbx_module %s" % H.LBX_SO])
    p = h.start(check=False)
    assert p.returncode != 0 or not h.running
    text = p.stderr + h.error_log()
    assert "LoadModule slotmem_shm_module" in text, text


def test_lbx_loaded_before_mod_proxy_works(make_httpd, backends):
    """Debian's a2enmod loads lbx.load before proxy.load (alphabetical)."""
    a, b = backends.start_many("a", "b")
    mods = ["LoadModule lbx_module %s" % H.LBX_SO] + [
        "LoadModule %s %s" % (sym, H.MODDIR / so)
        for sym, so in H.BASE_MODULES]
    h = make_httpd("lbx", """
<Proxy balancer://early>
    %s
    %s
</Proxy>
ProxyPass /app balancer://early
""" % (member(a), member(b)), modules=mods)
    seen = {H.backend_of(h.get("/app/x")) for _ in range(4)}
    assert seen == {"a", "b"}
