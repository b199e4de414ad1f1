"""The Debian package: `make deb` builds libapache2-mod-lbx with debhelper
and dh_apache2; the test reads its metadata and files, installs it with
dpkg, and then, on a copy of /etc/apache2 (APACHE_CONFDIR, which a2enmod
and apache2ctl honour), `a2enmod lbx` works and `apache2ctl configtest`
passes, while `a2enmod lbx` next to an enabled stock balancer module is
refused.  The real /etc/apache2 configuration is never enabled or changed
beyond the package's own files, and the package is purged at the end
unless it was installed before.
"""
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import lbxharness as H

REPLACED = ["proxy_balancer", "proxy_hcheck", "lbmethod_byrequests",
            "lbmethod_bytraffic", "lbmethod_bybusyness", "lbmethod_heartbeat"]


def run(args, timeout=120, env=None, check=True, cwd=None):
    p = subprocess.run(args, capture_output=True, timeout=timeout, env=env,
                       cwd=cwd)
    out = (p.stdout + p.stderr).decode(errors="replace")
    if check:
        assert p.returncode == 0, (args, out[-3000:])
    return p.returncode, out


@pytest.fixture(scope="module")
def deb():
    for old in H.REPO.glob("libapache2-mod-lbx_*.deb"):
        old.unlink()
    run(["make", "-C", str(H.REPO), "deb"], timeout=900)
    debs = list(H.REPO.glob("libapache2-mod-lbx_*.deb"))
    assert len(debs) == 1, debs
    return debs[0]


def test_package_metadata_and_files(deb, tmp_path):
    _, fields = run(["dpkg-deb", "-f", str(deb), "Package", "Architecture",
                     "Depends", "Description"])
    assert "Package: libapache2-mod-lbx" in fields
    assert "Architecture: amd64" in fields or "Architecture: arm64" in fields
    # dh_apache2 ties it to the module API of Debian's apache2
    assert "apache2-api-20120211" in fields, fields
    assert "libhiredis" in fields, fields
    for name in REPLACED:
        assert name in fields, (name, fields)
    _, files = run(["dpkg-deb", "-c", str(deb)])
    names = [line.split()[-1] for line in files.splitlines()]
    for want in ("./usr/lib/apache2/modules/mod_lbx.so",
                 "./etc/apache2/mods-available/lbx.load",
                 "./etc/apache2/mods-available/lbx.conf"):
        assert want in names, (want, names)
    run(["dpkg-deb", "-e", str(deb), str(tmp_path / "control")])
    conffiles = (tmp_path / "control" / "conffiles").read_text().split()
    assert "/etc/apache2/mods-available/lbx.load" in conffiles
    # --noenable: no script enables the module; removing it disables it
    assert not (tmp_path / "control" / "postinst").exists() or "enmod" not in \
        (tmp_path / "control" / "postinst").read_text()
    assert "dismod" in (tmp_path / "control" / "prerm").read_text()
    run(["dpkg-deb", "-x", str(deb), str(tmp_path / "root")])
    load = (tmp_path / "root" / "etc/apache2/mods-available/lbx.load"
            ).read_text()
    assert "LoadModule lbx_module /usr/lib/apache2/modules/mod_lbx.so" in load
    assert "# Depends: proxy slotmem_shm" in load
    assert "# Conflicts: " + " ".join(REPLACED) in load


def _confdir(tmp_path, name):
    """A copy of /etc/apache2 where a2enmod and apache2ctl may write."""
    d = tmp_path / name
    shutil.copytree("/etc/apache2", d, symlinks=True)
    env = dict(os.environ, APACHE_CONFDIR=str(d))
    return d, env


def test_installs_and_a2enmod_works(deb, tmp_path):
    if os.geteuid() != 0:
        pytest.fail("dpkg -i needs root (CI runs as root)")
    rc, _ = run(["dpkg-query", "-W", "-f=${Status}", "libapache2-mod-lbx"],
                check=False)
    installed_before = rc == 0
    try:
        run(["dpkg", "-i", str(deb)], timeout=300)
        assert Path("/usr/lib/apache2/modules/mod_lbx.so").exists()

        # a2enmod lbx: enables it and what it depends on; configtest passes
        d, env = _confdir(tmp_path, "apache2")
        # the package description's two lines, as written there; the
        # stock modules enabled first, so the a2dismod line has work to do
        run(["a2enmod", "-q"] + REPLACED, env=env)
        _, desc = run(["dpkg-deb", "-f", str(deb), "Description"])
        lines = " ".join(desc.split("\n")).replace("\\ ", "")
        dismod = re.search(r"a2dismod [^.]*?proxy_balancer", lines).group(0)
        run(dismod.split(), env=env)
        assert "a2enmod lbx proxy_http" in lines
        run(["a2enmod", "lbx", "proxy_http"], env=env)
        for name in ("lbx.load", "lbx.conf", "proxy.load", "slotmem_shm.load",
                     "proxy_http.load"):
            assert (d / "mods-enabled" / name).exists(), name
        (d / "conf-enabled" / "lbx-test.conf").write_text(
            "<Proxy balancer://pkgtest>\n"
            "    BalancerMember http://127.0.0.1:9 hcmethod=GET hcuri=/\n"
            "    ProxySet lbmethod=bybusyness\n"
            "</Proxy>\n"
            "ProxyPass /pkgtest balancer://pkgtest\n")
        rc, out = run(["apache2ctl", "configtest"], env=env, check=False)
        assert rc == 0 and "Syntax OK" in out, out

        # a stock module it replaces is enabled: a2enmod lbx refuses
        d2, env2 = _confdir(tmp_path, "apache2-stock")
        run(["a2enmod", "proxy_balancer"], env=env2)
        rc, out = run(["a2enmod", "lbx"], env=env2, check=False)
        assert rc != 0 and "conflict" in out.lower(), out
        assert not (d2 / "mods-enabled" / "lbx.load").exists()
    finally:
        if not installed_before:
            run(["dpkg", "-P", "libapache2-mod-lbx"], timeout=300,
                check=False)
    if not installed_before:
        assert not Path("/usr/lib/apache2/modules/mod_lbx.so").exists()
