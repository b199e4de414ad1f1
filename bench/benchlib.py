"""What the benchmarks share: processes seen through /proc, ports,
polling with deadlines.  Imported by bench/*.py (run from anywhere: the
script's own folder is on sys.path)."""
import os
import signal
import socket
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
APACHE2 = os.environ.get("LBX_APACHE2", "/usr/sbin/apache2")
MODDIR = Path(os.environ.get("LBX_MODDIR", "/usr/lib/apache2/modules"))
LBX_SO = Path(os.environ.get("LBX_SO", str(REPO / ".libs" / "mod_lbx.so")))
CLK_TCK = os.sysconf("SC_CLK_TCK")

# What every benchmarked httpd loads besides the balancer modules.
PROXY_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("slotmem_shm_module", "mod_slotmem_shm.so"),
]


class Deadline(Exception):
    """The benchmark's global deadline was reached."""


class GiveUp(RuntimeError):
    """Raised inside a poll() callback: stop polling at once."""


def _stat(pid):
    """(state, ppid, utime+stime ticks) of pid, or None if gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    # after the ")" closing the command name: state, ppid, ... utime is the
    # 12th and stime the 13th field of what follows
    rest = s[s.rindex(")") + 2:].split()
    return rest[0], int(rest[1]), int(rest[11]) + int(rest[12])


def pid_alive(pid):
    st = _stat(pid)
    return st is not None and st[0] not in "ZX"


def child_pids(ppid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st and st[1] == ppid and st[0] not in "ZX":
                out.append(int(d))
    return sorted(out)


def cpu_ticks(pids):
    """{pid: utime+stime ticks} of each pid still there."""
    out = {}
    for p in pids:
        st = _stat(p)
        if st:
            out[p] = st[2]
    return out


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def poll(fn, timeout, what, deadline, interval=0.05):
    """Call fn() until it returns something true, backing off to 0.5 s;
    RuntimeError after `timeout` seconds, Deadline at `deadline`
    (time.monotonic()).  Exceptions from fn count as "not yet", but
    GiveUp."""
    end = min(time.monotonic() + timeout, deadline)
    last = None
    while True:
        try:
            v = fn()
        except GiveUp:
            raise
        except Exception as e:  # noqa: BLE001 - keep polling until the end
            v, last = None, e
        if v:
            return v
        if time.monotonic() >= end:
            if end == deadline:
                raise Deadline("global deadline reached waiting for " + what)
            raise RuntimeError("timed out after %.0fs waiting for %s%s" % (
                timeout, what, " (last error: %r)" % last if last else ""))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)
