"""The worker's HTTP server: waitress, which reads every request whole before a thread sees it.

`python -m worker.server` (the Dockerfile's CMD) reads the settings once, builds the app and serves it:

- **Slow clients cost no thread.** waitress's I/O thread reads each request, headers and body, into a
  buffer; only a complete request is handed to one of the `WORKER_THREADS` request threads. A client that
  trickles its headers or body, or never sends the body it announced, holds a buffer in the I/O loop, never
  a thread (issue 24: under gunicorn's gthread workers such clients held every thread). Idle connections are
  closed after CHANNEL_TIMEOUT_SECONDS without a byte; at most CONNECTION_LIMIT are open at once, each
  buffering at most MAX_HEADER_BYTES of headers and the app's MAX_BODY_BYTES of body.
- **Graceful stop.** On SIGTERM (Cloud Run gives 10 s before SIGKILL) it stops accepting, closes idle
  connections, lets the requests in progress finish and their answers reach the client within
  GRACEFUL_SECONDS, then exits 0.
- **One audit line for what the server refuses itself** (headers over the limit, a body over the limit, a
  malformed request line or chunked body): `AuditedErrorTask` writes it, and answers JSON like the app.
  Neither the line nor the answer quotes the request (it could carry a credential).
- Its own log lines are JSON (`JsonLogFormatter`), like every other line the worker writes.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer, create_server
from waitress.task import ErrorTask

from worker.app import MAX_BODY_BYTES, create_app
from worker.audit import Audit, log, write_line
from worker.environment import ConfigError, load_config

MAX_HEADER_BYTES = 20 * 1024  # two 8 KiB tokens (Authorization, X-Serverless-Authorization) and the rest
CONNECTION_LIMIT = 1000
CHANNEL_TIMEOUT_SECONDS = 75  # above the idle timeout of Google's front ends, so they close connections first
GRACEFUL_SECONDS = 8.0  # Cloud Run allows 10 s between SIGTERM and SIGKILL
_LOOP_TIMEOUT_SECONDS = 0.2  # how soon the I/O loop notices a stop


class AuditedErrorTask(ErrorTask):
    """waitress's answer to a request it refuses before the app: JSON, and one audit line."""

    project: str | None = None  # for the line's trace field; set per server by build_server

    def execute(self) -> None:
        request: Any = self.request  # waitress's parser, holding the error it stopped at
        error = request.error
        status = int(getattr(error, "code", 500))
        reason = str(getattr(error, "reason", "Error"))
        audit = Audit(reason=f"refused by the server before the app ({type(error).__name__})")
        # As much of a WSGI environ as the server parsed; never the request line's query string.
        environ = {f"HTTP_{name}": value for name, value in (request.headers or {}).items()}
        environ |= {
            "REQUEST_METHOD": request.command or "",
            "PATH_INFO": request.path or "",
            "SERVER_PROTOCOL": f"HTTP/{request.version or '1.0'}",
        }
        audit.forbid(environ.get("HTTP_AUTHORIZATION"))
        audit.forbid(environ.get("HTTP_X_SERVERLESS_AUTHORIZATION"))
        write_line(environ, audit, status, 0.0, self.project)
        body = json.dumps({"error": reason.lower()}).encode()
        self.status = f"{status} {reason}"
        headers: Any = self.response_headers
        headers.append(("Content-Type", "application/json"))
        self.set_close_on_finish()
        self.content_length = len(body)
        self.write(body)


class JsonLogFormatter(logging.Formatter):
    """waitress's own log as one JSON object per line, like every other line the worker writes."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {"severity": record.levelname, "message": record.getMessage(), "component": "waitress"}
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__  # the type only: a message could quote the request
        return json.dumps(entry)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonLogFormatter())
    waitress_log = logging.getLogger("waitress")
    waitress_log.handlers[:] = [handler]
    waitress_log.setLevel(logging.INFO)
    waitress_log.propagate = False
    # "Task queue depth is N" on every request that waits for a thread: normal at full concurrency.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)


def build_server(
    app: Any, threads: int, project: str | None = None, environ: Mapping[str, str] | None = None
) -> BaseWSGIServer:
    """The server for `app`: on $UNIX_SOCKET if set (local mode's private socket), else $HOST:$PORT."""
    env = os.environ if environ is None else environ
    listen: dict[str, Any]
    if env.get("UNIX_SOCKET"):
        listen = {"unix_socket": env["UNIX_SOCKET"], "unix_socket_perms": "600"}
    else:
        # Cloud Run sends traffic to $PORT on all interfaces; local mode and tests set HOST=127.0.0.1.
        listen = {"host": env.get("HOST", "0.0.0.0"), "port": int(env.get("PORT", "8080"))}  # noqa: S104
    server = create_server(
        app,
        threads=threads,
        connection_limit=CONNECTION_LIMIT,
        channel_timeout=CHANNEL_TIMEOUT_SECONDS,
        max_request_header_size=MAX_HEADER_BYTES,
        max_request_body_size=MAX_BODY_BYTES + 1,  # waitress refuses a body of this size or more
        asyncore_use_poll=True,  # no select() limit of 1,024 descriptors
        ident="",  # no Server header
        expose_tracebacks=False,
        clear_untrusted_proxy_headers=True,
        **listen,
    )
    if not isinstance(server, BaseWSGIServer):  # one address, so never waitress's MultiSocketServer
        raise TypeError("expected a single waitress server")
    error_task = type("ErrorTask", (AuditedErrorTask,), {"project": project})
    server.channel_class = type("Channel", (HTTPChannel,), {"error_task_class": error_task})
    return server


def serve(server: Any, stop: threading.Event, graceful_seconds: float = GRACEFUL_SECONDS) -> int:
    """Runs the I/O loop until `stop` is set, then drains: returns the requests still unfinished (0 normally).

    `server` is waitress's (typed Any: waitress has no type hints for the attributes used here)."""
    channels = server._map  # waitress's loop map: the listener, the trigger and every connection
    while not stop.is_set():
        wasyncore.loop(timeout=_LOOP_TIMEOUT_SECONDS, map=channels, use_poll=True, count=1)
    log("INFO", "worker stopping", open_connections=len(server.active_channels))
    wasyncore.dispatcher.close(server)  # stop accepting; the trigger stays, worker threads still use it
    deadline = time.monotonic() + graceful_seconds
    while True:
        busy = _close_idle(server)
        if not busy or time.monotonic() >= deadline:
            break
        wasyncore.loop(timeout=_LOOP_TIMEOUT_SECONDS, map=channels, use_poll=True, count=1)
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=1)
    return busy


def _close_idle(server: Any) -> int:
    """Closes every connection with nothing in progress; returns how many still have a request or an answer."""
    busy = 0
    for channel in list(server.active_channels.values()):
        if channel.requests or channel.request is not None or channel.total_outbufs_len:
            busy += 1
        else:
            channel.handle_close()
    return busy


def main() -> int:
    try:
        config = load_config()
    except ConfigError as exc:
        # One clear line and a non-zero exit before anything listens, instead of a traceback.
        print(f"worker: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging()
    server: Any = build_server(create_app(config), config.threads, config.project)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stop.set()  # only this: the handler may run while the main thread is writing a log line

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log("INFO", "worker listening", address=str(server.effective_host), port=server.effective_port)
    unfinished = serve(server, stop)
    log("INFO" if not unfinished else "WARNING", "worker stopped", unfinished_requests=unfinished)
    return 0


if __name__ == "__main__":
    sys.exit(main())
