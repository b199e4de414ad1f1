"""A backend that accepts health checks and never answers (checks honour
the member's timeout).  Regression tests for two mod_lbx bugs
found in review: such a check held its thread past the timeout, and a child
exiting with a check in flight deadlocked on graceful restart."""
import socket
import threading

import pytest

import lbxharness as H
from lbxharness import member


@pytest.fixture
def silent_backend():
    """Accepts connections and holds them open without a byte."""
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.2)
    conns, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except (socket.timeout, OSError):
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    yield srv.getsockname()[1], conns
    stop.set()
    t.join(timeout=5)
    srv.close()
    for c in conns:
        c.close()


def test_silent_member_fails_and_graceful_restart_completes(
        impl, make_httpd, backends, silent_backend):
    port, conns = silent_backend
    a = backends.start("a")
    silent = "http://127.0.0.1:%d" % port
    h = make_httpd(impl, """
ProxyStatus On
<Proxy balancer://s>
    %s
    BalancerMember %s hcmethod=GET hcuri=/health hcinterval=1 timeout=2
</Proxy>
ProxyPass /app balancer://s
""" % (member(a), silent))

    def status():
        return h.balancer_status()["balancer://s"][silent]["Status"]

    # The check times out after 2 s and counts as a failure.
    H.deadline_poll(lambda: "HcFl" in status(), 20, what="silent member HcFl")
    assert len(conns) >= 1
    # A check is in flight again about every 3 s; restart meanwhile: the
    # old generation's children must be able to exit.
    H.deadline_poll(lambda: len(conns) >= 2, 10, what="a second check")
    old = set(h.child_pids())
    h.graceful()
    H.deadline_poll(lambda: not (old & set(h.child_pids())), 30,
                    what="old children to exit after graceful")
    assert H.backend_of(h.get("/app/x")) == "a"
