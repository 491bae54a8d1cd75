"""What the loopback stand-ins share: a threaded HTTP server, quiet handlers that answer JSON, and the one
`ready` line on stdout that local.processes waits for before it uses a stand-in."""

from __future__ import annotations

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive, as the real servers; every response has a length."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # each stand-in keeps its own record (counters at /_stats, audit lines); these would drown it


class JsonHandler(QuietHandler):
    def send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def port_number(text: str) -> int:
    """argparse type of --port: a TCP port, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is outside 0-65535 (0 = any free port)")
    return port


def loopback_server(host: str, port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    """A threaded server whose request threads never keep the process alive (OSError naming the address if
    it cannot listen there, e.g. the port is taken)."""
    try:
        server = ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    server.daemon_threads = True
    return server


def serve_until_interrupted(server: ThreadingHTTPServer, **ready: Any) -> int:
    """Print the ready line (`event`, `url`, then `ready`'s fields) and serve until interrupted; exit status 0."""
    host, port = server.server_address[:2]
    print(json.dumps({"event": "ready", "url": f"http://{host}:{port}", **ready}), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
