#!/bin/bash
# Build mod_lbx and start a live demo on this machine (Debian 12).
#
#   sudo ./scripts/setup-demo.sh            install what is missing, build,
#                                           run the demo until Ctrl-C
#   sudo ./scripts/setup-demo.sh --check    same, but request the site a few
#                                           times, check the answers, stop and
#                                           exit 0 (pass) or 1 (fail)
#   options: --port N   listen on 127.0.0.1:N (default 8080, or a free port
#                       if 8080 is taken)
#
# What runs: three small backends (scripts/demo_backend.py) on 127.0.0.1 and
# a /usr/sbin/apache2 (event MPM) with a generated configuration in a
# temporary ServerRoot that loads mod_lbx from this tree instead of
# mod_proxy_balancer, and balances balancer://demo over the backends with
# sticky sessions (cookie ROUTEID).  Everything listens on 127.0.0.1 only.
# On Ctrl-C (or any exit) httpd and the backends are stopped by pid and the
# temporary directory is removed.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
APACHE2=/usr/sbin/apache2
MODDIR=/usr/lib/apache2/modules
PYTHON=/usr/bin/python3
LBX_SO=$REPO/.libs/mod_lbx.so
HOST=127.0.0.1
DEFAULT_PORT=8080

CHECK=0
PORT_ARG=
usage() {
    sed -n '2,19s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}
while [ $# -gt 0 ]; do
    case $1 in
        --check) CHECK=1 ;;
        --port) [ $# -ge 2 ] || { usage >&2; exit 2; }; PORT_ARG=$2; shift ;;
        --port=*) PORT_ARG=${1#--port=} ;;
        -h|--help) usage; exit 0 ;;
        *) echo "setup-demo: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$PORT_ARG" ] && ! [[ $PORT_ARG =~ ^[0-9]+$ && $PORT_ARG -ge 1 && $PORT_ARG -le 65535 ]]; then
    echo "setup-demo: --port needs a number from 1 to 65535" >&2
    exit 2
fi

say() { echo "setup-demo: $*"; }
die() { echo "setup-demo: error: $*" >&2; exit 1; }

# httpd must not pick up Debian's apache2ctl environment.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^APACHE_' || true)
export LANG=C LC_ALL=C

IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

# ---- packages ---------------------------------------------------------------
command -v dpkg-query >/dev/null 2>&1 || die "this script needs Debian (dpkg-query not found)"
mapfile -t PACKAGES < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$REPO/scripts/packages.txt" \
                        | grep -v '^$')
MISSING=()
for p in "${PACKAGES[@]}"; do
    if [ "$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)" != installed ]; then
        MISSING+=("$p")
    fi
done
if [ ${#MISSING[@]} -gt 0 ]; then
    [ "$IS_ROOT" = 1 ] || die "missing packages: ${MISSING[*]} (run as root: sudo $0)"
    say "installing missing packages: ${MISSING[*]}"
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${MISSING[@]}"
    # Only promtool of the prometheus package is used (by the tests): a
    # server its install started is not the demo's to keep running.
    case " ${MISSING[*]} " in
        *" prometheus "*) service prometheus stop >/dev/null 2>&1 || true ;;
    esac
fi

# ---- deadlines and process helpers ------------------------------------------
now_ms() { local t=${EPOCHREALTIME//[!0-9]/}; echo $((t / 1000)); }

# wait_until SECONDS CMD...: run CMD every 0.1 s until it succeeds; 1 on timeout.
wait_until() {
    local end=$(( $(now_ms) + $1 * 1000 ))
    shift
    while ! "$@"; do
        [ "$(now_ms)" -lt "$end" ] || return 1
        sleep 0.1
    done
}

# alive PID: the process exists and is not a zombie.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat:0:1} != [ZX] ]]
}
dead() { ! alive "$1"; }

# ---- temporary ServerRoot and cleanup ---------------------------------------
ROOT=
HTTPD_CONF=
HTTPD_STARTED=0
HTTPD_PID=
BACKEND_PIDS=()

httpd_pid_from_file() {
    local pid
    pid=$(cat "$ROOT/run/httpd.pid" 2>/dev/null) || return 1
    [[ $pid =~ ^[0-9]+$ ]] && alive "$pid" && echo "$pid"
}

stop_httpd() {
    local pid kids k
    [ "$HTTPD_STARTED" = 1 ] || return 0
    pid=$HTTPD_PID
    if [ -z "$pid" ]; then
        # started, but the pid file may still be on its way
        wait_until 3 httpd_pid_from_file >/dev/null || true
        pid=$(httpd_pid_from_file || true)
    fi
    [ -n "$pid" ] || return 0
    mapfile -t kids < <(pgrep -P "$pid" || true)
    "$APACHE2" -f "$HTTPD_CONF" -d "$ROOT" -k stop >/dev/null 2>&1 || true
    if ! wait_until 10 dead "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
    fi
    for k in "${kids[@]}"; do
        if ! wait_until 5 dead "$k"; then
            kill -KILL "$k" 2>/dev/null || true
        fi
    done
    HTTPD_STARTED=0
}

stop_backends() {
    local pid
    for pid in "${BACKEND_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${BACKEND_PIDS[@]}"; do
        if ! wait_until 5 dead "$pid"; then
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    BACKEND_PIDS=()
}

cleanup() {
    local rc=$?
    trap '' INT TERM HUP PIPE
    trap - EXIT
    set +e
    if [ -n "$ROOT" ]; then
        [ "$CHECK" = 1 ] || echo 2>/dev/null
        say "stopping httpd and the backends" 2>/dev/null
        stop_httpd
        stop_backends
        rm -rf "$ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

ROOT=$(mktemp -d /tmp/lbx-demo.XXXXXX)
# httpd's children and the backends run as nobody: they must reach ROOT.
chmod 755 "$ROOT"
mkdir -m 755 "$ROOT/conf" "$ROOT/logs" "$ROOT/run" "$ROOT/htdocs" "$ROOT/backend"
HTTPD_CONF=$ROOT/conf/httpd.conf

# ---- build --------------------------------------------------------------------
# As root in a tree owned by someone else (sudo), build as the tree's owner so
# that a later plain `make` still works.
say "building mod_lbx (make)"
MAKE=(make -C "$REPO")
owner_uid=$(stat -c %u "$REPO")
if [ "$IS_ROOT" = 1 ] && [ "$owner_uid" != 0 ]; then
    MAKE=(setpriv --reuid="$owner_uid" --regid="$(stat -c %g "$REPO")" --clear-groups -- "${MAKE[@]}")
fi
if ! "${MAKE[@]}" >"$ROOT/make.log" 2>&1; then
    cat "$ROOT/make.log" >&2
    die "make failed"
fi
[ -f "$LBX_SO" ] || die "make did not produce $LBX_SO"

# ---- backends -----------------------------------------------------------------
NAMES=(backend-1 backend-2 backend-3)
COLOURS=(firebrick seagreen royalblue)
ROUTES=(r1 r2 r3)
LOADFACTORS=(1 2 1)
BACKEND_PORTS=()

cp "$REPO/scripts/demo_backend.py" "$ROOT/backend/demo_backend.py"
chmod 644 "$ROOT/backend/demo_backend.py"
RUN_AS=()
if [ "$IS_ROOT" = 1 ]; then
    RUN_AS=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi

backend_ready() { grep -q '^READY [0-9]' "$1" 2>/dev/null || dead "$2"; }

for i in 0 1 2; do
    out=$ROOT/backend/${NAMES[$i]}.out
    (cd "$ROOT/backend" && exec "${RUN_AS[@]}" "$PYTHON" "$ROOT/backend/demo_backend.py" \
        --name "${NAMES[$i]}" --colour "${COLOURS[$i]}" --host "$HOST" --port 0 \
        >"$out" 2>"$ROOT/backend/${NAMES[$i]}.err" </dev/null) &
    BACKEND_PIDS+=("$!")
done
for i in 0 1 2; do
    out=$ROOT/backend/${NAMES[$i]}.out
    if ! wait_until 10 backend_ready "$out" "${BACKEND_PIDS[$i]}" \
       || ! grep -q '^READY [0-9]' "$out"; then
        cat "$ROOT/backend/${NAMES[$i]}.err" >&2
        die "${NAMES[$i]} did not start"
    fi
    BACKEND_PORTS+=("$(sed -n 's/^READY \([0-9]*\).*/\1/p' "$out")")
done

# ---- httpd --------------------------------------------------------------------
# port_free PORT: nobody listens on HOST:PORT (bind test, as httpd binds).
port_free() {
    "$PYTHON" - "$HOST" "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind((sys.argv[1], int(sys.argv[2])))
except OSError:
    sys.exit(1)
EOF
}
any_free_port() {
    "$PYTHON" - "$HOST" <<'EOF'
import socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
print(s.getsockname()[1])
EOF
}

write_config() {
    local user_group=""
    if [ "$IS_ROOT" = 1 ]; then
        user_group=$'User nobody\nGroup nogroup'
    fi
    cat >"$HTTPD_CONF" <<EOF
# generated by scripts/setup-demo.sh
ServerRoot "$ROOT"
DefaultRuntimeDir "$ROOT/run"
PidFile "$ROOT/run/httpd.pid"
Listen $HOST:$PORT
ServerName $HOST
$user_group

LoadModule mpm_event_module $MODDIR/mod_mpm_event.so
LoadModule authz_core_module $MODDIR/mod_authz_core.so
LoadModule authz_host_module $MODDIR/mod_authz_host.so
LoadModule proxy_module $MODDIR/mod_proxy.so
LoadModule proxy_http_module $MODDIR/mod_proxy_http.so
LoadModule slotmem_shm_module $MODDIR/mod_slotmem_shm.so
LoadModule headers_module $MODDIR/mod_headers.so
LoadModule status_module $MODDIR/mod_status.so
# mod_lbx instead of mod_proxy_balancer + mod_lbmethod_* + mod_proxy_hcheck;
# it must be loaded after mod_proxy.
LoadModule lbx_module $LBX_SO

StartServers 2
ServerLimit 4
ThreadsPerChild 16
ThreadLimit 16
MinSpareThreads 16
MaxSpareThreads 48
MaxRequestWorkers 64

ErrorLog "$ROOT/logs/error_log"
LogLevel warn
LogFormat "%h %t \"%r\" %>s route=%{BALANCER_WORKER_ROUTE}e changed=%{BALANCER_ROUTE_CHANGED}e" demo
CustomLog "$ROOT/logs/access_log" demo
DocumentRoot "$ROOT/htdocs"
<Directory "$ROOT/htdocs">
    Require all granted
</Directory>

ProxyStatus On
<Proxy balancer://demo>
    BalancerMember http://$HOST:${BACKEND_PORTS[0]} loadfactor=${LOADFACTORS[0]} route=${ROUTES[0]}
    BalancerMember http://$HOST:${BACKEND_PORTS[1]} loadfactor=${LOADFACTORS[1]} route=${ROUTES[1]}
    BalancerMember http://$HOST:${BACKEND_PORTS[2]} loadfactor=${LOADFACTORS[2]} route=${ROUTES[2]}
    ProxySet stickysession=ROUTEID
</Proxy>
# The sticky-cookie idiom: set ROUTEID when the balancer picked a (new) route.
Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/" env=BALANCER_ROUTE_CHANGED

ProxyPass /balancer-manager !
ProxyPass /server-status !
ProxyPass / balancer://demo/

<Location /balancer-manager>
    SetHandler balancer-manager
    Require local
</Location>
<Location /server-status>
    SetHandler server-status
    Require local
</Location>
EOF
}

if [ -n "$PORT_ARG" ]; then
    PORT=$PORT_ARG
    port_free "$PORT" || die "port $PORT on $HOST is taken (try another --port)"
elif port_free "$DEFAULT_PORT"; then
    PORT=$DEFAULT_PORT
else
    PORT=$(any_free_port)
    say "port $DEFAULT_PORT is taken; using $PORT"
fi

httpd_serves() {
    [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "http://$HOST:$PORT/server-status?auto")" = 200 ]
}
httpd_pid_ready() { HTTPD_PID=$(httpd_pid_from_file) ; }

for attempt in 1 2 3; do
    write_config
    if "$APACHE2" -f "$HTTPD_CONF" -d "$ROOT" -k start >"$ROOT/start.out" 2>&1; then
        HTTPD_STARTED=1
        break
    fi
    if [ -z "$PORT_ARG" ] && [ "$attempt" -lt 3 ] \
       && grep -q 'Address already in use' "$ROOT/start.out"; then
        PORT=$(any_free_port)   # someone took the port meanwhile
        continue
    fi
    cat "$ROOT/start.out" >&2
    tail -n 20 "$ROOT/logs/error_log" >&2 2>/dev/null || true
    die "apache2 did not start"
done
if ! wait_until 20 httpd_pid_ready || ! wait_until 20 httpd_serves; then
    cat "$ROOT/start.out" >&2
    tail -n 20 "$ROOT/logs/error_log" >&2 2>/dev/null || true
    die "apache2 did not come up on $HOST:$PORT"
fi

BASE=http://$HOST:$PORT

# ---- --check: a few requests, then stop ---------------------------------------
# fetch URL [curl args...]: sets CODE, WHO (X-Demo-Backend), COOKIE (Set-Cookie)
fetch() {
    local url=$1 hdr=$ROOT/fetch.hdr
    shift
    CODE=$(curl -s -m 10 -o /dev/null -D "$hdr" -w '%{http_code}' "$@" "$url" || true)
    WHO=$(tr -d '\r' <"$hdr" | sed -n 's/^[Xx]-[Dd]emo-[Bb]ackend: *//p' | head -n 1)
    COOKIE=$(tr -d '\r' <"$hdr" | sed -n 's/^[Ss]et-[Cc]ookie: *//p' | head -n 1)
}

if [ "$CHECK" = 1 ]; then
    fail=0
    declare -A seen=()
    for n in 1 2 3 4 5 6; do
        fetch "$BASE/"
        say "GET / #$n: $CODE from ${WHO:-?} (Set-Cookie: ${COOKIE:-none})"
        if [ "$CODE" != 200 ] || [ -z "$WHO" ]; then
            fail=1
        else
            seen[$WHO]=1
        fi
    done
    if [ "${#seen[@]}" -ge 2 ]; then
        say "PASS: 6 x 200, ${#seen[@]} different backends answered (${!seen[*]})"
    else
        say "FAIL: expected 6 x 200 from at least 2 backends, got ${#seen[@]} backend(s)"
        fail=1
    fi
    # The sticky cookie pins a client to its backend.
    sticky_ok=1
    for n in 1 2 3; do
        fetch "$BASE/sticky" -H "Cookie: ROUTEID=.${ROUTES[2]}"
        if [ "$CODE" != 200 ] || [ "$WHO" != "${NAMES[2]}" ]; then
            sticky_ok=0
        fi
    done
    if [ "$sticky_ok" = 1 ]; then
        say "PASS: cookie ROUTEID=.${ROUTES[2]} sticks to ${NAMES[2]} (3 of 3)"
    else
        say "FAIL: cookie ROUTEID=.${ROUTES[2]} did not stick to ${NAMES[2]} (last: $CODE from ${WHO:-?})"
        fail=1
    fi
    MANAGER=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$BASE/balancer-manager?format=json" || true)
    if [ "$MANAGER" = 200 ]; then
        say "PASS: balancer-manager answers (JSON view)"
    else
        say "FAIL: balancer-manager answered HTTP $MANAGER"
        fail=1
    fi
    DASH=$(curl -s -m 5 "$BASE/balancer-manager?view=dashboard" || true)
    case "$DASH" in
        *"<title>Balancer dashboard</title>"*) say "PASS: the live dashboard answers" ;;
        *) say "FAIL: no live dashboard at ?view=dashboard"; fail=1 ;;
    esac
    exit "$fail"
fi

# ---- interactive demo -----------------------------------------------------------
cat <<EOF

mod_lbx demo is running: apache2 (pid $HTTPD_PID, ServerRoot $ROOT)
with LoadModule lbx_module $LBX_SO

  site:             $BASE/
  server-status:    $BASE/server-status
  balancer-manager: $BASE/balancer-manager  (JSON: ?format=json, metrics: ?format=metrics)
  live dashboard:   $BASE/balancer-manager?view=dashboard

balancer://demo, sticky on cookie ROUTEID:
  route ${ROUTES[0]}  loadfactor ${LOADFACTORS[0]}  ${NAMES[0]} (${COLOURS[0]})  http://$HOST:${BACKEND_PORTS[0]}/
  route ${ROUTES[1]}  loadfactor ${LOADFACTORS[1]}  ${NAMES[1]} (${COLOURS[1]})  http://$HOST:${BACKEND_PORTS[1]}/
  route ${ROUTES[2]}  loadfactor ${LOADFACTORS[2]}  ${NAMES[2]} (${COLOURS[2]})  http://$HOST:${BACKEND_PORTS[2]}/

A browser sticks to the backend that answered first (cookie ROUTEID); curl,
which keeps no cookies, is balanced:  curl -si $BASE/
Logs: $ROOT/logs/

Press Ctrl-C to stop.
EOF

# Idle until a signal (read on a FIFO that never gets data: no sleep process,
# and a trapped signal interrupts it at once).  Every second, check that
# httpd and the backends are still there.
mkfifo "$ROOT/idle"
exec {IDLE_FD}<>"$ROOT/idle"
while :; do
    read -r -t 1 -u "$IDLE_FD" _ || true
    if dead "$HTTPD_PID"; then
        tail -n 20 "$ROOT/logs/error_log" >&2 2>/dev/null || true
        die "apache2 (pid $HTTPD_PID) exited"
    fi
    for i in 0 1 2; do
        if dead "${BACKEND_PIDS[$i]}"; then
            die "${NAMES[$i]} (pid ${BACKEND_PIDS[$i]}) exited"
        fi
    done
done
