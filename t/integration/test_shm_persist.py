"""BalancerPersist files are interchangeable between stock and mod_lbx:
same slotmem names, same record sizes."""
import shutil

import pytest

from lbxharness import member

BODY = """
BalancerPersist On
ProxyStatus On
<Proxy balancer://keep>
    %s
    %s
</Proxy>
ProxyPass /app balancer://keep
"""


def elected(h, backend):
    return int(h.balancer_status()["balancer://keep"][backend.url]["Elected"])


@pytest.mark.parametrize("first,second", [("stock", "lbx"), ("lbx", "stock")])
def test_persisted_state_survives_a_switch(make_httpd, backends, first,
                                           second):
    a, b = backends.start_many("a", "b")
    body = BODY % (member(a), member(b))
    h1 = make_httpd(first, body)
    for _ in range(10):
        assert h1.get("/app/x").status_code == 200
    before = (elected(h1, a), elected(h1, b))
    assert sum(before) == 10
    h1.stop()
    persisted = sorted(p.name for p in (h1.root / "run").glob("*.persist"))
    # One balancer segment (p<id>) and one worker segment (p<id>_keep).
    assert len(persisted) == 2, persisted
    assert any(n.endswith("_keep.shm.persist") for n in persisted), persisted

    h2 = make_httpd(second, body, start=False)
    h2.port = h1.port          # same Listen address -> same server id
    for name in persisted:
        shutil.copy(h1.root / "run" / name, h2.root / "run" / name)
    h2.start()
    now = (elected(h2, a), elected(h2, b))
    # Counters came back from the other implementation's file (the status
    # page's own request does not go through the balancer).
    assert now == before, (before, now)
    assert "AH01205" not in h2.error_log() and "LBX01205" not in h2.error_log()
    h2.stop()
    assert sorted(p.name for p in (h2.root / "run").glob("*.persist")) \
        == persisted


def test_without_persist_state_is_dropped_on_graceful(impl, make_httpd,
                                                      backends):
    a, b = backends.start_many("a", "b")
    h = make_httpd(impl, (BODY % (member(a), member(b))).replace(
        "BalancerPersist On", "BalancerPersist Off"))
    for _ in range(6):
        assert h.get("/app/x").status_code == 200
    assert elected(h, a) + elected(h, b) == 6
    h.graceful()
    assert elected(h, a) + elected(h, b) == 0
    assert not list((h.root / "run").glob("*.persist"))
