"""busy survives a child that dies mid-request.

Stock increments a member's busy when a request picks it and decrements it
when the request ends, so a child killed in between leaves the member busy
forever (bybusyness then starves it).  mod_lbx gives the count back when
the replacement child starts."""
import os
import signal
import threading

import requests

import lbxharness as H
from lbxharness import member


def test_busy_repaired_after_child_killed_mid_request(impl, make_httpd,
                                                      backends):
    a = backends.start("a")
    h = make_httpd(impl, """
ProxyStatus On
<Proxy balancer://k>
    %s
</Proxy>
ProxyPass /app balancer://k
""" % member(a))

    def busy():
        return int(h.balancer_status()["balancer://k"][a.url]["Busy"])

    def slow_request():
        try:
            requests.get(h.base_url + "/app/slow?ms=15000", timeout=20)
        except requests.RequestException:
            pass  # the child serving it is killed: that is the point

    t = threading.Thread(target=slow_request, daemon=True)
    t.start()
    H.deadline_poll(lambda: busy() == 1, 10, what="busy 1 while in flight")
    old = set(h.child_pids())
    for pid in old:
        os.kill(pid, signal.SIGKILL)
    # The MPM replaces the killed children; wait until new ones serve.
    H.deadline_poll(lambda: set(h.child_pids()) - old and
                    h.get("/app/x").status_code == 200, 20,
                    what="replacement children serving")
    t.join(timeout=20)
    if impl == "lbx":
        H.deadline_poll(lambda: busy() == 0, 20, what="busy repaired to 0")
        assert "gave them back" in h.error_log()
    else:
        # Stock never gives it back: the count leaked (a probe request
        # that the kill cut short may have leaked one more).
        assert busy() >= 1
