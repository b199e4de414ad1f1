#!/usr/bin/python3
"""A tiny demo backend for scripts/setup-demo.sh (Python standard library only).

    demo_backend.py --name NAME [--colour CSS-COLOUR] [--port PORT]
                    [--host 127.0.0.1]

Binds HOST:PORT (PORT 0 = any free port), prints one line ``READY <port>`` on
stdout, then serves until it is killed.  Every answer is a small HTML page
that names the backend (in its own colour) and shows the request's path and
Cookie header, so a browser shows which member of the balancer answered and
which sticky cookie it sent.  Every response also carries the header
``X-Demo-Backend: NAME``.  ``/health`` answers a plain "ok".

It exits by itself when the process that started it goes away, so a demo
script killed without a chance to clean up leaves no backend behind.
"""
import argparse
import html
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = """<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<title>{name}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
h1 {{ background: {colour}; color: white; padding: 0.5em; }}
td {{ padding: 0.2em 1em 0.2em 0; vertical-align: top; }}
code {{ word-break: break-all; }}
</style>
</head>
<body>
<h1>Hello from {name}</h1>
<table>
<tr><td>Backend</td><td><code>{name}</code> on port {port}</td></tr>
<tr><td>Path</td><td><code>{path}</code></td></tr>
<tr><td>Cookie</td><td><code>{cookie}</code></td></tr>
</table>
<p>Reload: with the <code>ROUTEID</code> cookie your browser stays on this
backend; without it (clear cookies, or use curl) requests are balanced.</p>
</body>
</html>
"""


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lbx-demo-backend"
    sys_version = ""

    def log_message(self, fmt, *args):  # quiet: the demo prints URLs only
        pass

    def _reply(self, code, body, ctype):
        body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("X-Demo-Backend", self.server.backend_name)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(n)
        if self.path == "/health":
            self._reply(200, "ok\n", "text/plain; charset=utf-8")
            return
        page = PAGE.format(
            name=html.escape(self.server.backend_name),
            colour=html.escape(self.server.colour),
            port=self.server.server_address[1],
            path=html.escape(self.path),
            cookie=html.escape(self.headers.get("Cookie") or "(none)"))
        self._reply(200, page, "text/html; charset=utf-8")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--colour", default="steelblue")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args()

    srv = ThreadingHTTPServer((args.host, args.port), Handler)
    srv.daemon_threads = True
    srv.backend_name = args.name
    srv.colour = args.colour
    parent = os.getppid()

    def watch_parent():
        while os.getppid() == parent:
            time.sleep(1)
        srv.shutdown()
    threading.Thread(target=watch_parent, daemon=True).start()

    print("READY %d" % srv.server_address[1], flush=True)
    sys.stdout.close()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        srv.server_close()


if __name__ == "__main__":
    main()
