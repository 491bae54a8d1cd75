"""A local stand-in for Cloud Run's front end with the IAM invoker check on: the only way to the worker.

What Cloud Run does with a request to a service whose invoker IAM check is on (docs/design.md §3):

- It reads the ID token from `X-Serverless-Authorization` if present, else from `Authorization`.
- It checks it: Google's signature (the certs at `--certs`), not expired, an audience of the service
  (`--audience`: its URL or a custom audience), and the caller's email as an invoker member
  (`serviceAccount:<email>` from `--invokers` files and `--invoker` flags: the `roles/run.invoker` grants).
  With `--plan REPORT --service NAME` both come from what a stack plans (a `preflight --json` report): the
  members the plan grants `roles/run.invoker` on that service, and its URL and custom audiences.
- It answers 401 (no usable token) or 403 (a valid token of a non-invoker) itself, with Google's HTML page.
- It replaces the checked header's signature with `SIGNATURE_REMOVED_BY_GOOGLE` and forwards the request,
  the other header and the body untouched, to the container. The request is read whole first (Cloud Run's
  front end buffers requests), so a slow client never reaches the container slowly.

The container listens on a private unix socket (`--upstream-socket`, in a directory only this user can
enter): as on Cloud Run, nothing reaches it except through this front end.

    python -m local.cloud_run --port PORT --upstream-socket PATH --certs URL --audience AUD --invokers FILE
    python -m local.cloud_run --port PORT --upstream-socket PATH --certs URL --plan REPORT --service worker

Control path, not part of Cloud Run: GET /_frontend/stats counts requests, refusals and forwards. One JSON
line per request on stdout: the header checked, the member, the verdict; never any token text.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import requests
from google.auth import exceptions, jwt

from local.plan import PlanError, load_plan
from local.serving import QuietHandler, loopback_server, port_number, serve_until_interrupted

SIGNATURE_REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"
ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
MAX_BODY_BYTES = 32 * 1024 * 1024  # Cloud Run's limit for an HTTP/1 request body
CLOCK_SKEW_SECONDS = 30
# Not forwarded: they describe this hop's connection, not the request.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}
)

# Google's front end answers its own refusals with HTML like these (the relay retries them: not the worker's).
_PAGE = (
    '<html><head>\n<meta http-equiv="content-type" content="text/html;charset=utf-8">\n<title>{status}</title>\n'
    "</head>\n<body text=#000000 bgcolor=#ffffff>\n<h1>Error: {title}</h1>\n<h2>{detail}</h2>\n<h2></h2>\n"
    "</body></html>\n"
)


class FrontEndError(Exception):
    """A bad command-line input (invokers file, member, ...); printed as one line."""


def load_members(files: list[Path], flags: list[str]) -> frozenset[str]:
    """The invoker members: one `serviceAccount:<email>` per line of each file (`#` comments), plus flags."""
    members: list[str] = list(flags)
    for path in files:
        try:
            text = path.read_text()
        except OSError as exc:
            raise FrontEndError(f"--invokers {path}: {exc.strerror or exc}") from None
        members += [line.split("#", 1)[0].strip() for line in text.splitlines()]
    found = {m for m in members if m}
    for member in found:
        kind, _, email = member.partition(":")
        if kind != "serviceAccount" or email.count("@") != 1:
            raise FrontEndError(f"invoker {member!r} is not serviceAccount:<email>")
    return frozenset("serviceAccount:" + m.partition(":")[2].lower() for m in found)


class Certs:
    """Google's signing certificates ({kid: PEM}), fetched on first use and again for an unknown key id."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._certs: dict[str, str] = {}
        self._fetched = 0.0
        self._lock = threading.Lock()

    def get(self, kid: str | None) -> dict[str, str]:
        with self._lock:
            stale = not self._certs or (kid is not None and kid not in self._certs)
            if stale and time.monotonic() - self._fetched > 1.0:
                response = requests.get(self.url, timeout=5)
                response.raise_for_status()
                self._certs = response.json()
                self._fetched = time.monotonic()
            return dict(self._certs)


class Verdict(Exception):
    def __init__(self, status: int, reason: str, member: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.member = member


class FrontEnd:
    def __init__(
        self, upstream_socket: str, certs: Certs, audiences: list[str], members: frozenset[str], url: str | None = None
    ) -> None:
        self.upstream_socket = upstream_socket
        self.certs = certs
        self.audiences = audiences
        # The service's URL, when known (--plan): an audience of that URL followed by a path is taken too (Pub/Sub's
        # default audience is its push endpoint, path included; Google's own push-to-Cloud Run setup sets none).
        self.url = url.rstrip("/") if url else None
        self.members = members
        self.counters = {"requests": 0, "refused_401": 0, "refused_403": 0, "forwarded": 0, "upstream_errors": 0}
        self._lock = threading.Lock()

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] += 1

    def check(self, header: str | None) -> tuple[str, str]:
        """(the member, the token with its signature removed), or Verdict (401/403) as Cloud Run decides."""
        if not header:
            raise Verdict(401, "no token")
        scheme, _, token = header.strip().partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or token.count(".") != 2:
            raise Verdict(401, "not a bearer ID token")
        try:
            kid = jwt.decode_header(token).get("kid")
            claims = jwt.decode(
                token,
                certs=self.certs.get(kid if isinstance(kid, str) else None),
                audience=None,  # checked below: the service's audiences, or its URL with a path
                clock_skew_in_seconds=CLOCK_SKEW_SECONDS,
            )
        except (ValueError, exceptions.GoogleAuthError, requests.RequestException):
            # Signature, expiry or audience: Cloud Run does not say which.
            raise Verdict(401, "token not accepted") from None
        aud = claims.get("aud")
        under_url = self.url is not None and isinstance(aud, str) and aud.startswith(self.url + "/")
        if aud not in self.audiences and not under_url:
            raise Verdict(401, "token not accepted")
        if claims.get("iss") not in ISSUERS:
            raise Verdict(401, "token not issued by Google")
        email = claims.get("email")
        member = f"serviceAccount:{email.lower()}" if isinstance(email, str) else None
        if member is None or member not in self.members:
            raise Verdict(403, "not an invoker", member)
        return member, token.rsplit(".", 1)[0] + "." + SIGNATURE_REMOVED

    def forward(
        self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = _UnixConnection(self.upstream_socket, timeout=600)
        try:
            conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            payload = response.read()
            kept = [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]
            return response.status, kept, payload
        finally:
            conn.close()


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.unix_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


class FrontEndHandler(QuietHandler):
    front: FrontEnd  # bound per server by make_handler

    server_version = "Google Frontend"
    sys_version = ""

    def do_GET(self) -> None:
        if self.path == "/_frontend/stats":
            with self.front._lock:
                return self._send(200, [("Content-Type", "application/json")], json.dumps(self.front.counters).encode())
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_POST

    def _handle(self) -> None:
        self.front.count("requests")
        body = self._body()
        if body is None:
            return
        serverless = self.headers.get("X-Serverless-Authorization")
        checked_name = "X-Serverless-Authorization" if serverless is not None else "Authorization"
        record: dict[str, Any] = {"method": self.command, "path": self.path.split("?", 1)[0][:256]}
        record["checked_header"] = checked_name
        try:
            member, stripped = self.front.check(self.headers.get(checked_name))
        except Verdict as verdict:
            self.front.count(f"refused_{verdict.status}")
            self._log(verdict.status, record, decision="deny", reason=verdict.reason, member=verdict.member)
            title = "Unauthorized" if verdict.status == 401 else "Forbidden"
            detail = (
                f"Your client does not have permission to the requested URL <code>{record['path']}</code>."
                if verdict.status == 403
                else "Your client does not have permission to the requested URL."
            )
            page = _PAGE.format(status=f"{verdict.status} {title}", title=title, detail=detail).encode()
            return self._send(verdict.status, [("Content-Type", "text/html; charset=UTF-8")], page)
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP]
        headers = [(k, f"Bearer {stripped}" if k.lower() == checked_name.lower() else v) for k, v in headers]
        try:
            status, reply_headers, payload = self.front.forward(self.command, self.path, headers, body)
        except OSError:
            self.front.count("upstream_errors")
            self._log(503, record, decision="allow", member=member, reason="container unavailable")
            return self._send(503, [("Content-Type", "text/html; charset=UTF-8")], b"Service Unavailable\n")
        self.front.count("forwarded")
        self._log(status, record, decision="allow", member=member)
        self._send(status, reply_headers, payload)

    def _body(self) -> bytes | None:
        """The whole request body (Content-Length or chunked), or None after answering 413/400 itself."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            size = 0
            while True:
                line = self.rfile.readline(1024)
                try:
                    length = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    self._send(400, [("Content-Type", "text/html; charset=UTF-8")], b"Bad Request\n")
                    return None
                if length == 0:
                    while self.rfile.readline(1024).strip():
                        pass  # trailers
                    return b"".join(chunks)
                size += length
                if size > MAX_BODY_BYTES:
                    self._send(413, [("Content-Type", "text/html; charset=UTF-8")], b"Request Entity Too Large\n")
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline(16)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._send(413, [("Content-Type", "text/html; charset=UTF-8")], b"Request Entity Too Large\n")
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _log(self, status: int, record: dict[str, Any], **fields: Any) -> None:
        entry = {"severity": "INFO" if status < 400 else "WARNING", "message": "front end", "status": status}
        sys.stdout.write(json.dumps({**entry, "component": "cloud-run-front-end", **record, **fields}) + "\n")
        sys.stdout.flush()


def make_handler(front: FrontEnd) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (FrontEndHandler,), {"front": front})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m local.cloud_run", description="Local stand-in for Cloud Run's front end (IAM invoker check)."
    )
    parser.add_argument("--port", type=port_number, required=True, help="TCP port on 127.0.0.1 (0 = any free port)")
    parser.add_argument("--upstream-socket", required=True, help="the container's unix socket")
    parser.add_argument("--certs", required=True, help="URL of Google's certs ({kid: PEM}): the metadata stand-in's")
    parser.add_argument("--audience", action="append", default=[], help="an audience of the service (repeat)")
    parser.add_argument(
        "--plan", type=Path, help="a preflight --json report: invokers and audiences of --service as planned"
    )
    parser.add_argument("--service", default="worker", help="the Cloud Run service's resource name in --plan")
    parser.add_argument(
        "--invokers", type=Path, action="append", default=[], help="file of invoker members, one a line (repeat)"
    )
    parser.add_argument(
        "--invoker", action="append", default=[], help="an invoker member, serviceAccount:<email> (repeat)"
    )
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args(argv)
    try:
        audiences = list(args.audience)
        planned: list[str] = []
        url = None
        if args.plan is not None:
            plan = load_plan(args.plan, args.service)
            planned, audiences, url = sorted(plan.invokers), [*audiences, *plan.audiences], plan.url
        members = load_members(args.invokers, [*args.invoker, *planned])
        if not members:
            raise FrontEndError("no invoker members: give --plan, --invokers FILE or --invoker serviceAccount:<email>")
        if not audiences:
            raise FrontEndError("no audience: give --plan or --audience")
        front = FrontEnd(args.upstream_socket, Certs(args.certs), audiences, members, url)
        server = loopback_server(args.host, args.port, make_handler(front))
    except (FrontEndError, PlanError, OSError) as exc:
        print(f"local.cloud_run: {exc}", file=sys.stderr)
        return 2
    return serve_until_interrupted(server, invokers=sorted(members), audiences=audiences)


if __name__ == "__main__":
    sys.exit(main())
