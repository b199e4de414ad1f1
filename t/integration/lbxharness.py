"""Harness for the mod_lbx integration tests.

Runs a real /usr/sbin/apache2 (event MPM, >= 2 children, loopback only) with a
generated configuration in a temporary ServerRoot, and real backend processes
(backend.py).  Everything is polled with deadlines; nothing sleeps blindly.

Two implementations of the balancer are compared:

* ``stock``: mod_proxy_balancer.so + mod_lbmethod_{byrequests,bytraffic,
  bybusyness,heartbeat}.so + mod_proxy_hcheck.so
* ``lbx``:   <repo>/.libs/mod_lbx.so (built by ``make``)
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
APACHE2 = os.environ.get("LBX_APACHE2", "/usr/sbin/apache2")
MODDIR = Path(os.environ.get("LBX_MODDIR", "/usr/lib/apache2/modules"))
LBX_SO = Path(os.environ.get("LBX_SO", str(REPO / ".libs" / "mod_lbx.so")))
PYTHON = "/usr/bin/python3"
BACKEND_PY = HERE / "backend.py"

# LBX_IMPLS=lbx runs only the mod_lbx variants (make check-asan).
IMPLS = os.environ.get("LBX_IMPLS", "lbx stock").split()

# Modules every generated config loads (unixd, log_config and watchdog are
# compiled into Debian's apache2).
BASE_MODULES = [
    ("mpm_event_module", "mod_mpm_event.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("proxy_module", "mod_proxy.so"),
    ("proxy_http_module", "mod_proxy_http.so"),
    ("slotmem_shm_module", "mod_slotmem_shm.so"),
    ("headers_module", "mod_headers.so"),
    ("rewrite_module", "mod_rewrite.so"),
    ("status_module", "mod_status.so"),
    ("env_module", "mod_env.so"),
    ("setenvif_module", "mod_setenvif.so"),
]

STOCK_MODULES = [
    ("proxy_balancer_module", "mod_proxy_balancer.so"),
    ("lbmethod_byrequests_module", "mod_lbmethod_byrequests.so"),
    ("lbmethod_bytraffic_module", "mod_lbmethod_bytraffic.so"),
    ("lbmethod_bybusyness_module", "mod_lbmethod_bybusyness.so"),
    ("lbmethod_heartbeat_module", "mod_lbmethod_heartbeat.so"),
    # health checks (needs mod_watchdog, which Debian compiles in); it only
    # acts on members with hc* parameters, so other tests are unaffected
    ("proxy_hcheck_module", "mod_proxy_hcheck.so"),
]

# Per-impl default LogLevel: a module-specific level for a module that is
# not loaded is a configuration error, so each impl names its own module.
DEFAULT_LOGLEVEL = {
    "stock": "warn proxy:debug proxy_balancer:debug",
    "lbx": "warn proxy:debug lbx:debug",
}

# The six variables the balancer exports, in access-log order.
BALANCER_VARS = [
    "BALANCER_NAME",
    "BALANCER_WORKER_NAME",
    "BALANCER_WORKER_ROUTE",
    "BALANCER_SESSION_STICKY",
    "BALANCER_SESSION_ROUTE",
    "BALANCER_ROUTE_CHANGED",
]
LOG_FIELDS = ["id", "status", "method", "uri", "backend"] + BALANCER_VARS + [
    "pid"]
# Tab separated; mod_log_config prints "-" for unset values.
ACCESS_FORMAT = "\\t".join(
    ["%{X-Test-Id}i", "%>s", "%m", "%U%q", "%{X-Backend}o"]
    + ["%%{%s}e" % v for v in BALANCER_VARS] + ["%P"])

TIMEOUT = 10  # seconds, for every single HTTP request a test makes

# Every request goes to loopback: never through an http_proxy from the
# environment (requests honours it otherwise).
for _var in ("no_proxy", "NO_PROXY"):
    os.environ[_var] = ",".join(
        x for x in (os.environ.get(_var), "127.0.0.1", "localhost") if x)


class HarnessError(Exception):
    pass


class GiveUp(HarnessError):
    """Raised by a deadline_poll() callback to stop polling at once."""


def deadline_poll(fn, timeout, interval=0.05, what="condition"):
    """Call fn() until it returns a truthy value or timeout expires.

    Returns the value; raises HarnessError on timeout.  The interval grows
    gently so a slow box is not hammered."""
    end = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = fn()
            if v:
                return v
        except GiveUp:
            raise
        except Exception as e:  # noqa: BLE001 - report the last one
            last_exc = e
        if time.monotonic() >= end:
            raise HarnessError("timed out after %.1fs waiting for %s%s" % (
                timeout, what, " (last error: %r)" % last_exc if last_exc
                else ""))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def free_port():
    """A currently free TCP port on 127.0.0.1 (bind to port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    # state is the field after the ')' closing the comm
    return stat[stat.rindex(")") + 2] not in "ZX"


def child_pids(ppid):
    """Live children of ppid (what `pgrep -P ppid` prints)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        rest = stat[stat.rindex(")") + 2:].split()
        if int(rest[1]) == ppid and rest[0] not in "ZX":
            out.append(int(d))
    return sorted(out)


def kill_pid(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


# --------------------------------------------------------------------------
# Backends
# --------------------------------------------------------------------------
class Backend:
    """One backend.py process, addressed by name and port.

    host: the loopback address it binds (e.g. 127.0.0.2 for tests that tell
    members apart by IP); delay_ms: extra delay before every answer except
    /health (a uniformly slow member)."""

    def __init__(self, name, workdir, host="127.0.0.1", delay_ms=0,
                 tls=None):
        self.name = name
        self.host = host
        self.delay_ms = delay_ms
        self.tls = tls  # (cert file, key file): an HTTPS backend
        self.port = None
        self.proc = None
        self._workdir = workdir

    @property
    def url(self):
        return "%s://%s:%d" % ("https" if self.tls else "http", self.host,
                               self.port)

    def start(self, port=None, timeout=10):
        """Start (or restart, on the same port) and wait until it answers."""
        assert self.proc is None or self.proc.poll() is not None
        want = self.port if port is None else port
        end = time.monotonic() + timeout
        while True:
            self.proc = subprocess.Popen(
                [PYTHON, str(BACKEND_PY), "--name", self.name,
                 "--port", str(want or 0), "--host", self.host,
                 "--delay-ms", str(self.delay_ms)]
                + (["--tls-cert", str(self.tls[0]), "--tls-key",
                    str(self.tls[1])] if self.tls else []),
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                stdin=subprocess.DEVNULL, cwd=self._workdir, text=True)
            line = self.proc.stdout.readline().strip()
            if line.startswith("READY "):
                self.port = int(line.split()[1])
                break
            self.proc.wait(timeout=5)
            # A restart on a fixed port may race with TIME_WAIT/another
            # process; retry until the deadline.
            if time.monotonic() >= end:
                raise HarnessError("backend %s did not start: %r" % (
                    self.name, line))
            time.sleep(0.1)
        deadline_poll(lambda: self._answers(), timeout,
                      what="backend %s on port %d" % (self.name, self.port))
        return self

    def _answers(self):
        r = requests.get(self.url + "/health", timeout=2, verify=False)
        return r.status_code == 200 and r.headers.get("X-Backend") == self.name

    def kill(self):
        """SIGKILL by pid and reap: afterwards connects are refused."""
        if self.proc is not None and self.proc.poll() is None:
            kill_pid(self.proc.pid)
            self.proc.wait(timeout=10)
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()

    stop = kill

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


class Backends:
    """Factory + registry so a fixture can clean up everything."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.all = []

    def start(self, name, port=None, host="127.0.0.1", delay_ms=0, tls=None):
        b = Backend(name, self.workdir, host=host, delay_ms=delay_ms, tls=tls)
        self.all.append(b)
        return b.start(port=port)

    def start_many(self, *names):
        return [self.start(n) for n in names]

    def cleanup(self):
        for b in self.all:
            try:
                b.kill()
            except Exception:  # noqa: BLE001
                pass


# --------------------------------------------------------------------------
# redis-server (for LBXFleet)
# --------------------------------------------------------------------------
REDIS_SERVER = "/usr/bin/redis-server"


class Redis:
    """A real redis-server on a loopback port, its data in workdir (append
    only file on, so a restart keeps what it had).  stop()/start() keep the
    port."""

    def __init__(self, workdir, password=None):
        self.workdir = workdir
        self.password = password
        self.port = None
        self.proc = None

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self, timeout=10):
        assert self.proc is None or self.proc.poll() is not None
        if self.port is None:
            self.port = free_port()
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1",
                "--dir", str(self.workdir), "--save", "",
                "--appendonly", "yes", "--daemonize", "no",
                "--logfile", str(Path(self.workdir) / "redis.log")]
        if self.password:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline_poll(lambda: self.command("PING") in ("+PONG", "-NOAUTH"),
                      timeout, what="redis-server on port %d" % self.port)
        return self

    def command(self, *words):
        """One command over a fresh socket (no client library): the first
        line of the reply, or None when nothing answers."""
        try:
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=2) as c:
                if self.password and words[0] != "PING":
                    c.sendall(self._encode(["AUTH", self.password]))
                    c.recv(64)
                c.sendall(self._encode(words))
                line = c.makefile("rb").readline().decode("latin-1")
                return line.rstrip("\r\n").split(" ")[0] if line.startswith(
                    "-") else line.rstrip("\r\n")
        except OSError:
            return None

    @staticmethod
    def _encode(words):
        out = b"*%d\r\n" % len(words)
        for w in words:
            w = w.encode() if isinstance(w, str) else w
            out += b"$%d\r\n%s\r\n" % (len(w), w)
        return out

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            kill_pid(self.proc.pid)
            self.proc.wait(timeout=10)


# --------------------------------------------------------------------------
# httpd
# --------------------------------------------------------------------------
def impl_modules(impl):
    """LoadModule lines that provide the balancer for impl."""
    if impl == "stock":
        return ["LoadModule %s %s" % (sym, MODDIR / so)
                for sym, so in STOCK_MODULES]
    if impl == "lbx":
        return ["LoadModule lbx_module %s" % LBX_SO]
    raise ValueError(impl)


def mpm_block(children):
    """Event MPM sizing that keeps `children` processes alive: the MPM adds
    one when more than half a child's threads are busy at one of its
    once-a-second checks, or when a child died (its threads are then
    missing from the idle count), and never stops one (MaxSpareThreads
    above every thread).  MinSpareThreads equal to every thread, as
    before, added a child whenever a single request was in flight at a
    check, and tests counting on exactly these children then saw three."""
    tpc = 8
    spare = tpc * children - tpc // 2
    limit = max(children, 4)
    return "\n".join([
        "StartServers %d" % children,
        "ServerLimit %d" % limit,
        "ThreadsPerChild %d" % tpc,
        "ThreadLimit %d" % tpc,
        "MinSpareThreads %d" % spare,
        "MaxSpareThreads %d" % (tpc * children + tpc * 2),
        "MaxRequestWorkers %d" % (tpc * limit),
        "MaxConnectionsPerChild 0",
    ])


class Httpd:
    """A real apache2 instance in its own temporary ServerRoot."""

    def __init__(self, impl, body="", children=2, loglevel=None,
                 modules=None, extra_top="", name="httpd"):
        self.impl = impl
        self.body = body
        self.children = children
        self.loglevel = loglevel or DEFAULT_LOGLEVEL[impl]
        self.modules = modules  # None = BASE + impl
        self.extra_top = extra_top
        self.root = Path(tempfile.mkdtemp(prefix="lbx-it-%s-" % name))
        # Children run as nobody: everything they might open must be
        # reachable.  The parent (root) opens logs and the pid file.
        os.chmod(self.root, 0o755)
        for d in ("logs", "run", "htdocs", "conf"):
            (self.root / d).mkdir()
            os.chmod(self.root / d, 0o755)
        (self.root / "htdocs" / "index.html").write_text("docroot\n")
        self.port = None
        self.pid = None
        self.conf = self.root / "conf" / "httpd.conf"
        self.error_log_path = self.root / "logs" / "error_log"
        self.access_log_path = self.root / "logs" / "access_log"
        self.pid_path = self.root / "run" / "httpd.pid"
        self.last_start = None  # CompletedProcess-like of the last -k start
        self._known_pids = set()

    # ---- configuration -------------------------------------------------
    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def config_text(self):
        mods = self.modules
        if mods is None:
            mods = ["LoadModule %s %s" % (sym, MODDIR / so)
                    for sym, so in BASE_MODULES] + impl_modules(self.impl)
        body = self.body.replace("@PORT@", str(self.port))
        return "\n".join([
            "# generated by t/integration/lbxharness.py (impl=%s)" % self.impl,
            'ServerRoot "%s"' % self.root,
            'DefaultRuntimeDir "%s"' % (self.root / "run"),
            'PidFile "%s"' % self.pid_path,
            "Listen 127.0.0.1:%d" % self.port,
            "ServerName 127.0.0.1",
            "User nobody",
            "Group nogroup",
            *mods,
            mpm_block(self.children),
            "Timeout 30",
            "KeepAlive On",
            'ErrorLog "%s"' % self.error_log_path,
            "LogLevel %s" % self.loglevel,
            'LogFormat "%s" lbxtest' % ACCESS_FORMAT,
            'CustomLog "%s" lbxtest' % self.access_log_path,
            'DocumentRoot "%s"' % (self.root / "htdocs"),
            "<Directory />",
            "    Require all granted",
            "</Directory>",
            "<Location /server-status>",
            "    SetHandler server-status",
            "</Location>",
            self.extra_top,
            body,
            "",
        ])

    def write_config(self):
        if self.port is None:
            self.port = free_port()
        self.conf.write_text(self.config_text())

    def ctl(self, *args, timeout=60):
        """Run apache2 -f conf -d root ARGS; return CompletedProcess."""
        out = self.root / "ctl.out"
        err = self.root / "ctl.err"
        with open(out, "w") as fo, open(err, "w") as fe:
            p = subprocess.run(
                [APACHE2, "-f", str(self.conf), "-d", str(self.root), *args],
                stdout=fo, stderr=fe, stdin=subprocess.DEVNULL,
                timeout=timeout, env=self._env())
        p.stdout = out.read_text()
        p.stderr = err.read_text()
        return p

    @staticmethod
    def _env():
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("APACHE_")}
        env["LANG"] = "C"
        # make check-asan: the sanitizer runtimes for httpd alone, and
        # every report into a file the suite looks at when it ends.
        if os.environ.get("LBX_HTTPD_PRELOAD"):
            logs = os.environ["LBX_SANITIZER_LOGS"]
            env["LD_PRELOAD"] = os.environ["LBX_HTTPD_PRELOAD"]
            env["ASAN_OPTIONS"] = (
                "detect_leaks=0:halt_on_error=1:log_path=%s/asan" % logs)
            env["UBSAN_OPTIONS"] = (
                "print_stacktrace=1:halt_on_error=1:log_path=%s/ubsan" % logs)
        return env

    def configtest(self):
        self.write_config()
        return self.ctl("-t")

    def config_error(self):
        """apache2 -t must refuse the configuration; returns its output."""
        p = self.configtest()
        out = p.stdout + p.stderr
        assert p.returncode != 0, out[-2000:]
        return out

    # ---- lifecycle -----------------------------------------------------
    def start(self, wait_children=True, timeout=20, check=True):
        """Start the server; with check=False return the -k start result
        even if it failed (for tests expecting a refusal)."""
        attempts = 3
        self._start_mark = len(self.error_log())
        for attempt in range(attempts):
            self.write_config()
            p = self.ctl("-k", "start")
            self.last_start = p
            if p.returncode != 0:
                if ("Address already in use" in p.stderr
                        and attempt + 1 < attempts):
                    self.port = None  # someone took the port: pick another
                    continue
                if check:
                    raise HarnessError(
                        "apache2 -k start failed rc=%d\nstderr:\n%s\n"
                        "error_log:\n%s" % (p.returncode, p.stderr,
                                            self.error_log_tail()))
                return p
            break
        try:
            self.pid = deadline_poll(self._read_pid_or_give_up, timeout,
                                     what="pid file %s" % self.pid_path)
            self._known_pids.add(self.pid)
            deadline_poll(lambda: port_open(self.port), timeout,
                          what="port %d" % self.port)
            if wait_children:
                deadline_poll(lambda: len(self.child_pids()) >= self.children,
                              timeout, what="%d children" % self.children)
            # the first request proves children serve
            deadline_poll(self._serves, timeout, what="httpd serving")
        except HarnessError:
            if check:
                raise HarnessError(
                    "httpd did not come up: stderr=%s\nerror_log:\n%s" % (
                        p.stderr, self.error_log_tail()))
        return p

    # A start that fails after apache2 detached (second configuration pass)
    # exits 0 from -k start; these lines say the daemon is gone for good.
    FATAL_START = re.compile(r"AH0001[3-6]:|Configuration Failed|"
                             r"\[[a-z_]+:emerg\]")

    def _read_pid_or_give_up(self):
        pid = self._read_pid()
        if pid is None and self.FATAL_START.search(
                self.error_log()[self._start_mark:]):
            raise GiveUp("httpd failed to start (see error_log)")
        return pid

    def _read_pid(self):
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def _serves(self):
        r = requests.get(self.base_url + "/server-status?auto",
                         timeout=TIMEOUT)
        return r.status_code == 200

    def child_pids(self):
        if self.pid is None:
            return []
        pids = child_pids(self.pid)
        self._known_pids.update(pids)
        return pids

    @property
    def running(self):
        return self.pid is not None and pid_alive(self.pid)

    def generation(self):
        """ParentServerConfigGeneration from mod_status (?auto)."""
        r = requests.get(self.base_url + "/server-status?auto",
                         timeout=TIMEOUT)
        m = re.search(r"^ParentServerConfigGeneration:\s*(\d+)", r.text, re.M)
        return int(m.group(1)) if m else None

    def graceful(self, timeout=30):
        """apache2 -k graceful, then poll until the new generation serves
        (generation counter bumped and a child that did not exist before
        answers)."""
        old_gen = self.generation()
        old_children = set(self.child_pids())
        p = self.ctl("-k", "graceful")
        if p.returncode != 0:
            raise HarnessError("graceful failed: %s" % p.stderr)

        def new_gen_serving():
            g = self.generation()
            kids = set(self.child_pids())
            return g is not None and g > old_gen and (kids - old_children)
        deadline_poll(new_gen_serving, timeout, what="new generation")
        return p

    def stop(self, timeout=20):
        if self.pid is None:
            # maybe it wrote a pid file after a failed check
            self.pid = self._read_pid()
            if self.pid is None:
                return
        self.child_pids()
        try:
            self.ctl("-k", "stop", timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            deadline_poll(lambda: not pid_alive(self.pid), timeout,
                          what="httpd parent %d to exit" % self.pid)
        except HarnessError:
            kill_pid(self.pid)
        # children (and anything we ever saw) by pid
        for pid in sorted(self._known_pids):
            if pid_alive(pid):
                try:
                    deadline_poll(lambda: not pid_alive(pid), 5,
                                  what="pid %d" % pid)
                except HarnessError:
                    kill_pid(pid)
        self.pid = None

    def cleanup(self, keep=False):
        self.stop()
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

    def balancer_status(self):
        """mod_status' ProxyStatus block (needs `ProxyStatus On`), parsed
        from /server-status?auto: {balancer: {member URL: {field: value}}}
        with fields Status, Elected, Busy, Sent, Rcvd."""
        r = requests.get(self.base_url + "/server-status?auto",
                         timeout=TIMEOUT)
        out, names, wnames = {}, {}, {}
        for line in r.text.splitlines():
            m = re.match(r"ProxyBalancer\[(\d+)\]Name: (.*)$", line)
            if m:
                names[m.group(1)] = m.group(2).strip()
                out[m.group(2).strip()] = {}
                continue
            m = re.match(r"ProxyBalancer\[(\d+)\]Worker\[(\d+)\](\w+): ?(.*)$",
                         line)
            if m:
                b, w, k, v = m.groups()
                if k == "Name":
                    wnames[(b, w)] = v.strip()
                    out[names[b]][v.strip()] = {}
                else:
                    out[names[b]][wnames[(b, w)]][k] = v
        return out

    def member_status(self, balancer, backend):
        """Status string (e.g. 'Init Err ') of backend in balancer."""
        return self.balancer_status()[balancer][backend.url]["Status"]

    # ---- logs ----------------------------------------------------------
    def error_log(self):
        try:
            return self.error_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def error_log_tail(self, n=60):
        return "\n".join(self.error_log().splitlines()[-n:])

    def access_lines(self):
        """Parsed access-log entries (dicts keyed by LOG_FIELDS)."""
        try:
            text = self.access_log_path.read_text(errors="replace")
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            parts = line.split("\t")
            if len(parts) != len(LOG_FIELDS):
                continue
            out.append(dict(zip(LOG_FIELDS, parts)))
        return out

    def log_entry(self, test_id, timeout=10):
        """The access-log entry of the request carrying X-Test-Id test_id.
        The line is written after the response went out: poll for it."""
        def find():
            for e in self.access_lines():
                if e["id"] == test_id:
                    return e
            return None
        return deadline_poll(find, timeout, what="access log id %s" % test_id)

    def wait_error_log(self, pattern, timeout=10, count=1):
        """Poll until regex pattern occurs >= count times in error_log."""
        rx = re.compile(pattern)
        return deadline_poll(lambda: len(rx.findall(self.error_log())) >= count,
                             timeout, what="error_log /%s/" % pattern)

    # ---- requests ------------------------------------------------------
    def get(self, path, session=None, headers=None, **kw):
        """GET base_url+path with a fresh X-Test-Id (resp.test_id)."""
        tid = uuid.uuid4().hex[:16]
        h = {"X-Test-Id": tid}
        if headers:
            h.update(headers)
        kw.setdefault("timeout", TIMEOUT)
        kw.setdefault("allow_redirects", False)
        getter = session.get if session is not None else requests.get
        r = getter(self.base_url + path, headers=h, **kw)
        r.test_id = tid
        return r

    def get_logged(self, path, **kw):
        """GET and return (response, access-log entry)."""
        r = self.get(path, **kw)
        return r, self.log_entry(r.test_id)


def member(backend, **params):
    """'BalancerMember http://127.0.0.1:PORT k=v ...' for a Backend."""
    extra = "".join(" %s=%s" % (k, v) for k, v in params.items())
    return "BalancerMember %s%s" % (backend.url, extra)


def backend_of(resp):
    return resp.headers.get("X-Backend")


def raw_exchange(port, data, timeout=TIMEOUT):
    """Send these bytes on a new loopback connection; all that comes back
    until the server closes it."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return buf


def raw_get(port, raw_path, headers=None, timeout=TIMEOUT):
    """Send a request line exactly as given (requests would normalise
    ';jsessionid=' etc.); headers is a dict or a list of (name, value)
    pairs.  Returns (status, headers dict, body, X-Test-Id)."""
    tid = uuid.uuid4().hex[:16]
    lines = ["GET %s HTTP/1.1" % raw_path, "Host: 127.0.0.1:%d" % port,
             "Connection: close", "X-Test-Id: %s" % tid]
    pairs = headers.items() if isinstance(headers, dict) else headers or ()
    for k, v in pairs:  # a list of pairs may repeat a header
        lines.append("%s: %s" % (k, v))
    buf = raw_exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode(),
                       timeout)
    head, _, body = buf.partition(b"\r\n\r\n")
    hl = head.decode("latin-1").split("\r\n")
    status = int(hl[0].split()[1])
    hdrs = {}
    for line in hl[1:]:
        k, _, v = line.partition(":")
        hdrs.setdefault(k.strip().lower(), v.strip())
    return status, hdrs, body, tid


if __name__ == "__main__":  # manual smoke: python3 lbxharness.py stock
    impl = sys.argv[1] if len(sys.argv) > 1 else "stock"
    bs = Backends(tempfile.gettempdir())
    a, b = bs.start_many("a", "b")
    h = Httpd(impl, """
<Proxy balancer://c1>
    BalancerMember %s
    BalancerMember %s
</Proxy>
ProxyPass /app balancer://c1
""" % (a.url, b.url))
    try:
        h.start()
        for _ in range(4):
            r = h.get("/app/x")
            print(r.status_code, backend_of(r))
        print(h.child_pids())
        print(h.access_lines())
    finally:
        h.cleanup(keep=True)
        bs.cleanup()
        print(h.root)
