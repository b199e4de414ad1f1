"""pytest fixtures for the mod_lbx integration suite.

Run:  /usr/bin/python3 -m pytest -q t/integration            (both impls)
      /usr/bin/python3 -m pytest -q t/integration -k stock   (reference only)

Every test that takes the ``impl`` fixture runs twice: ``lbx`` (the module
under test, <repo>/.libs/mod_lbx.so) and ``stock`` (mod_proxy_balancer +
the four mod_lbmethod_* modules).  A missing mod_lbx.so makes the lbx variants FAIL
(CI builds the module first).

Environment knobs:
  LBX_KEEP=1        keep every temporary ServerRoot (default: only failed ones
                    are kept, and their path is printed)
  LBX_LOGLEVEL=...  override the LogLevel of every generated config
"""
import os

import pytest

import lbxharness as H


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def _failed(node):
    return any(getattr(node, "rep_" + w, None) is not None
               and getattr(node, "rep_" + w).failed
               for w in ("setup", "call"))


@pytest.fixture(params=H.IMPLS)
def impl(request):
    """The balancer implementation under test: "lbx" or "stock"."""
    return request.param


@pytest.fixture
def backends(tmp_path):
    """Factory: backends.start(name[, port]) -> Backend (killed at the end)."""
    bs = H.Backends(str(tmp_path))
    yield bs
    bs.cleanup()


@pytest.fixture
def make_httpd(request):
    """Factory: make_httpd(impl, body, start=True, **kw) -> Httpd.

    The body is appended to the generated base config; "@PORT@" in it is
    replaced by the Listen port.  For impl="lbx" a missing mod_lbx.so fails
    the test (inside the test body, so it is reported as FAILED)."""
    made = []

    def factory(impl, body="", start=True, **kw):
        if impl == "lbx" and not H.LBX_SO.exists():
            pytest.fail("%s is missing: build it with `make` first "
                        "(lbx variants fail, never skip)" % H.LBX_SO)
        if os.environ.get("LBX_LOGLEVEL") and "loglevel" not in kw:
            kw["loglevel"] = os.environ["LBX_LOGLEVEL"]
        h = H.Httpd(impl, body, name=impl, **kw)
        made.append(h)
        if start:
            h.start()
        return h

    yield factory
    failed = _failed(request.node)
    keep = failed or os.environ.get("LBX_KEEP") == "1"
    for h in made:
        if failed:
            print("\n---- %s (impl=%s) kept at %s; error_log tail:\n%s" % (
                request.node.name, h.impl, h.root, h.error_log_tail(40)))
        h.cleanup(keep=keep)



@pytest.fixture
def redis_server(tmp_path):
    """Factory: redis_server(password=None) -> a started H.Redis (stopped
    at the end)."""
    made = []

    def factory(password=None):
        d = tmp_path / ("redis%d" % len(made))
        d.mkdir()
        r = H.Redis(d, password=password)
        made.append(r)
        return r.start()

    yield factory
    for r in made:
        r.stop()


def pytest_sessionfinish(session, exitstatus):
    """make check-asan: any sanitizer report from an httpd fails the run."""
    logs = os.environ.get("LBX_SANITIZER_LOGS")
    if not logs or not os.path.isdir(logs):
        return
    reports = sorted(os.listdir(logs))
    if reports:
        with open(os.path.join(logs, reports[0]), errors="replace") as f:
            first = f.read()[:3000]
        print("\nsanitizer reports (%d) in %s; the first:\n%s" % (
            len(reports), logs, first))
        session.exitstatus = 1
    else:
        print("\nsanitizers: no report from any httpd")
