"""One structured audit line per request, whatever happens to it.

`AuditMiddleware` wraps the whole WSGI app, so the line is written for every status the app can
answer (routing errors and crashes included), exactly once, as soon as the response is built and
before any of it reaches the client. Views
fill in the `Audit` record they find in the environ. Field names follow Cloud Logging's structured
logging: `severity`, `message`, `httpRequest`, `logging.googleapis.com/trace` (from
X-Cloud-Trace-Context, or W3C traceparent), `logging.googleapis.com/spanId`.

No part of a token is ever written: reasons are fixed phrases and the caller fields come from verified
claims. The fields that carry the request's own text (the path, the message id, extra fields such as a push
subscription's name) are scrubbed, as a last line of defence, of the credential the request carries: each
bearer token whole and its signature segment (`credential_parts`). Nothing else is scrubbed, so no caller can
blank a field by choosing its Authorization header (issue 24, finding 4).
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

AUDIT_KEY = "secure_invoke.audit"
_TRACE_CONTEXT = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([0-9]+))?$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
# An RS256 signature is 342 base64url characters; anything this short is no credential, only a word a
# caller could choose to blank part of a field with.
_MIN_SECRET_CHARS = 32
REDACTED = "<redacted>"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def log(severity: str, message: str, **fields: Any) -> None:
    # One JSON object per line: Cloud Logging reads `severity` and `message`, keeps the rest.
    entry = {"severity": severity, "message": message, "component": "worker", **fields}
    sys.stdout.write(json.dumps(entry, default=str) + "\n")
    sys.stdout.flush()


@dataclass
class Audit:
    """What a request's audit line says beyond status and timing; the views fill it in."""

    decision: str = "not_checked"  # allow | deny | unverifiable | not_checked | off
    reason: str = ""
    caller: str | None = None
    caller_kind: str | None = None  # "relay" or "operator" (OPERATOR_INVOKERS); None when unverified or refused
    verified_by: str | None = None  # "signature" (the worker checked it) or "cloud_run_iam" (Cloud Run did)
    sub: str | None = None
    aud: str | None = None
    message_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)  # for scrubbing only, never logged

    def forbid(self, header: Any) -> None:
        """Never let the credential in this Authorization-style header reach a field that quotes the request."""
        self.secrets.extend(credential_parts(header))


def credential_parts(header: Any) -> list[str]:
    """What of an `Authorization: Bearer <token>` value is a credential: a JWT-shaped token whole, and its
    signature segment.

    A JWT's header and claims segments are not secret (the line records the verified claims anyway); a
    bearer value that is not a JWT is no credential of ours, only text a caller could pick to blank a field
    with, and neither is anything shorter than _MIN_SECRET_CHARS."""
    if not isinstance(header, str):
        return []
    token = header.strip().partition(" ")[2].strip()
    if token.count(".") != 2 or not all(token.split(".")):
        return []
    return [part for part in (token, token.rsplit(".", 1)[-1]) if len(part) >= _MIN_SECRET_CHARS]


def trace_fields(environ: dict[str, Any], project: str | None) -> dict[str, Any]:
    """Cloud Logging's trace fields from the request's trace header, if it is well formed."""
    trace_id = span = sampled = None
    match = _TRACE_CONTEXT.match(str(environ.get("HTTP_X_CLOUD_TRACE_CONTEXT", "")).strip())
    if match:
        trace_id = match.group(1).lower()
        span = format(int(match.group(2)) % 2**64, "016x") if match.group(2) else None
        sampled = match.group(3) == "1" if match.group(3) else None
    else:
        parent = _TRACEPARENT.match(str(environ.get("HTTP_TRACEPARENT", "")).strip())
        if parent:
            trace_id, span, flags = parent.group(1), parent.group(2), parent.group(3)
            sampled = bool(int(flags, 16) & 1)
    if trace_id is None:
        return {}
    fields: dict[str, Any] = {
        "logging.googleapis.com/trace": f"projects/{project}/traces/{trace_id}" if project else trace_id
    }
    if span:
        fields["logging.googleapis.com/spanId"] = span
    if sampled is not None:
        fields["logging.googleapis.com/trace_sampled"] = sampled
    return fields


def _scrub(value: Any, secrets: list[str]) -> Any:
    if not isinstance(value, str):
        return value
    for secret in secrets:
        if secret in value:
            value = value.replace(secret, REDACTED)
    return value


def _scrub_nested(value: Any, secrets: list[str]) -> Any:
    """Extra fields can quote the request too (a scheduler job's name, a push subscription): scrubbed alike."""
    if isinstance(value, dict):
        return {k: _scrub(v, secrets) for k, v in value.items()}
    return _scrub(value, secrets)


def _severity(status: int, path: str) -> str:
    if status >= 500:
        return "ERROR"
    if status >= 400:
        return "WARNING"
    return "DEBUG" if path == "/healthz" else "INFO"


class AuditMiddleware:
    def __init__(self, app: WsgiApp, project: str | None, on_crash: Callable[[BaseException], bytes]) -> None:
        self.app = app
        self.project = project
        self.on_crash = on_crash  # the 500 body when the app itself raises (Flask normally answers first)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        audit = Audit()
        environ[AUDIT_KEY] = audit
        audit.forbid(environ.get("HTTP_AUTHORIZATION"))
        audit.forbid(environ.get("HTTP_X_SERVERLESS_AUTHORIZATION"))
        status: list[int] = []

        def recording_start_response(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status[:] = [int(status_line.split(" ", 1)[0])]
            return start_response(status_line, headers, exc_info)

        try:
            body = self.app(environ, recording_start_response)
        except Exception as exc:  # the app is Flask, which handles its own errors; this is the backstop
            audit.reason = f"internal error ({type(exc).__name__})"
            payload = self.on_crash(exc)
            recording_start_response(
                "500 Internal Server Error",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
                sys.exc_info(),
            )
            body = [payload]
        # Flask has built the whole response by now: write the line before the client can see it.
        self._write(environ, audit, status[0] if status else 500, started)
        return body

    def _write(self, environ: dict[str, Any], audit: Audit, status: int, started: float) -> None:
        write_line(environ, audit, status, time.perf_counter() - started, self.project)


def write_line(environ: dict[str, Any], audit: Audit, status: int, latency: float, project: str | None) -> None:
    """The audit line of one request (its WSGI environ, or as much of one as the server parsed)."""
    path = _scrub(str(environ.get("PATH_INFO", "")), audit.secrets)[:256]
    method = str(environ.get("REQUEST_METHOD", ""))[:16]
    entry = {
        "status": status,
        "decision": audit.decision,
        "reason": audit.reason,
        "caller": audit.caller,
        "caller_kind": audit.caller_kind,
        "verified_by": audit.verified_by,
        "sub": audit.sub,
        "aud": audit.aud,
        "message_id": _scrub(audit.message_id, audit.secrets),
        "method": method,
        "path": path,
        "latency_ms": round(latency * 1000, 2),
        "httpRequest": {
            "requestMethod": method,
            "requestUrl": path,  # the path only: a query string could carry a credential
            "status": status,
            "latency": f"{latency:.6f}s",
            "protocol": str(environ.get("SERVER_PROTOCOL", ""))[:16],
        },
        **{name: _scrub_nested(value, audit.secrets) for name, value in audit.extra.items()},
        **trace_fields(environ, project),
    }
    log(_severity(status, path), "request", **entry)
