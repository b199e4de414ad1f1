#!/usr/bin/python3
"""Tiny HTTP backend for the mod_lbx integration tests (stdlib only).

    backend.py --name NAME [--port PORT] [--host 127.0.0.1] [--delay-ms N]
               [--tls-cert CERT.pem --tls-key KEY.pem]

Binds HOST:PORT (PORT 0 = pick a free one), then prints one line
``READY <port>`` on stdout and serves until killed.  Every response carries
``X-Backend: NAME``; the body is NAME unless a path below says otherwise:

    /status/<code>     answer with that status code (body NAME)
    /slow?ms=N         wait N milliseconds, then answer 200
    /big?bytes=N       answer N bytes of 'x'
    /setcookie/<name>  200, with "Set-Cookie: <name>=NAME.frombackend; Path=/"
    /health            200 "ok" (any path whose last segment is "health";
                       status and body settable through /_control)
    /echo              200, JSON: request line, method, path, version, headers
    anything else      200 NAME

Control endpoints (tests call them directly on the backend's port, never
through the proxy; they are not recorded and not delayed):

    /_control?health_status=500&health_body=TEXT
                       set what /health answers from now on (either key
                       alone is fine; reset=1 also clears the records);
                       answers the JSON below
    /_control/health_count
                       JSON {"count": N, "status": S, "body": B,
                       "hits": [{"n", "t", "requestline", "host",
                       "method", "path", "version", "status"}...],
                       "last": <last hit or null>}:
                       the /health requests since start (or reset), oldest
                       first (the last 1000): n numbers them from 1 (hits
                       with n > the "count" a /_control call answered got
                       the state it set), t is the wall-clock arrival time
                       (time.time()), status what was answered
    /_control/requests JSON list of the last 200 recorded requests of any
                       path (the fields of a hit but "n" and "status")

With --delay-ms N every answer except /health waits N milliseconds first
(a uniformly slow member; default 0).  With --tls-cert/--tls-key it
speaks HTTPS (the handshake in the connection's thread).

It writes nothing to disk.
"""
import argparse
import collections
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lbx-test-backend"
    sys_version = ""
    # headers and body go out in separate writes: without TCP_NODELAY a
    # reused proxy connection waits for a delayed ACK (~20-40 ms) each time
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):  # keep quiet: nothing to stderr/disk
        pass

    def _reply(self, code, body, ctype="text/plain", cookie=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("X-Backend", self.server.backend_name)
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _drain_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _control(self, path, query):
        srv = self.server
        with srv.lock:
            if path in ("/_control", "/_control/"):
                if query.get("reset", [""])[0] == "1":
                    srv.health_hits.clear()
                    srv.health_count = 0
                    srv.requests.clear()
                if "health_status" in query:
                    v = query["health_status"][0]
                    code = int(v) if v.isdigit() else 0
                    if not 100 <= code <= 599:
                        return self._reply(400, "bad health_status")
                    srv.health_status = code
                if "health_body" in query:
                    srv.health_body = query["health_body"][0]
            elif path == "/_control/requests":
                return self._reply(200, json.dumps(list(srv.requests)),
                                   "application/json")
            elif path != "/_control/health_count":
                return self._reply(404, "unknown control path")
            doc = {
                "count": srv.health_count,
                "status": srv.health_status,
                "body": srv.health_body,
                "hits": list(srv.health_hits),
                "last": srv.health_hits[-1] if srv.health_hits else None,
            }
        return self._reply(200, json.dumps(doc), "application/json")

    def _record(self, path, is_health):
        rec = {
            "t": time.time(),
            "requestline": self.requestline,
            "host": self.headers.get("Host"),
            "method": self.command,
            "path": self.path,
            "version": self.request_version,
        }
        srv = self.server
        with srv.lock:
            srv.requests.append(rec)
            if is_health:
                srv.health_count += 1
                rec["n"] = srv.health_count
                rec["status"] = srv.health_status
                srv.health_hits.append(rec)
                return srv.health_status, srv.health_body
        return None

    def _handle(self):
        body_in = self._drain_body()
        parts = urlsplit(self.path)
        path = parts.path
        query = parse_qs(parts.query, keep_blank_values=True)
        name = self.server.backend_name
        if path == "/_control" or path.startswith("/_control/"):
            return self._control(path, query)
        # mod_proxy may forward path parameters (;jsessionid=...) as part of
        # the path; look at the path's segments without them.
        bare = path.split(";", 1)[0]
        seg = [s for s in bare.split("/") if s]
        status_path = seg[:1] == ["status"] and len(seg) >= 2 and \
            seg[1].isdigit()
        health = self._record(path, seg[-1:] == ["health"] and
                              not status_path)
        if self.server.delay_ms > 0 and seg[-1:] != ["health"]:
            time.sleep(self.server.delay_ms / 1000.0)
        if status_path:
            return self._reply(int(seg[1]), name)
        if seg[-1:] == ["slow"]:
            ms = int(query.get("ms", ["0"])[0])
            time.sleep(min(ms, 60000) / 1000.0)
            return self._reply(200, name)
        if seg[:1] == ["setcookie"] and len(seg) >= 2:
            return self._reply(200, name, cookie="%s=%s.frombackend; Path=/"
                               % (seg[1], name))
        if seg[-1:] == ["big"]:
            n = int(query.get("bytes", ["0"])[0])
            return self._reply(200, b"x" * min(n, 64 << 20),
                               "application/octet-stream")
        if health is not None:
            return self._reply(*health)
        if seg[-1:] == ["echo"]:
            doc = {
                "backend": name,
                "requestline": self.requestline,
                "method": self.command,
                "path": self.path,
                "version": self.request_version,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": len(body_in),
            }
            return self._reply(200, json.dumps(doc), "application/json")
        return self._reply(200, name)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_OPTIONS = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    args = ap.parse_args(argv)
    try:
        srv = Server((args.host, args.port), Handler)
    except OSError as e:
        print("ERROR %s" % e, flush=True)
        return 2
    srv.backend_name = args.name
    srv.delay_ms = min(max(args.delay_ms, 0), 60000)
    srv.lock = threading.Lock()
    srv.health_status, srv.health_body = 200, "ok"
    srv.health_count = 0
    srv.health_hits = collections.deque(maxlen=1000)
    srv.requests = collections.deque(maxlen=200)
    srv.socket.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    print("READY %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
