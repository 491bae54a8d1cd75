"""gunicorn's gthread worker, plus an audit line for the requests gunicorn refuses before the app runs,
and a JSON formatter for gunicorn's own log.

A request line or headers that gunicorn cannot accept (431 Request Header Fields Too Large, 414,
400 for a malformed request) are answered by gunicorn itself; without this, they would leave no
audit line. The line says which exception and which status, never the request's text (a request
line can carry a credential in its query string). For the same reason the formatter cuts
gunicorn's "Invalid request from ip=...: <details>" down to its first part.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from gunicorn.http import errors
from gunicorn.workers.gthread import ThreadWorker

from worker.audit import log

_STATUS_BY_ERROR: tuple[tuple[type[Exception], int], ...] = (
    (errors.LimitRequestHeaders, 431),
    (errors.LimitRequestLine, 414),
    (errors.ForbiddenProxyRequest, 403),
    (errors.UnsupportedTransferCoding, 501),
    (errors.ExpectationFailed, 417),
    (errors.ConfigurationProblem, 500),
    (errors.ParseException, 400),
)


def status_of(exc: BaseException) -> int:
    """The status gunicorn answers `exc` with (mirrors gunicorn.workers.base.Worker.handle_error)."""
    for error_type, status in _STATUS_BY_ERROR:
        if isinstance(exc, error_type):
            return status
    return 500


class AuditedThreadWorker(ThreadWorker):
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        status = status_of(exc)
        log(
            "WARNING" if status < 500 else "ERROR",
            "request",
            status=status,
            decision="not_checked",
            reason=f"refused by gunicorn before the app ({type(exc).__name__})",
            caller=None,
            caller_kind=None,
            sub=None,
            aud=None,
            message_id=None,
            method=getattr(req, "method", None),
            path=str(getattr(req, "path", "") or "")[:256] or None,
            httpRequest={"status": status},
        )
        super().handle_error(req, client, addr, exc)


class JsonLogFormatter(logging.Formatter):
    """gunicorn's error log as one JSON object per line, like every other line the worker writes."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if message.startswith("Invalid request from ip="):
            # The details can quote the request line; the audit line already has the exception type.
            message = message.split(":", 1)[0]
        entry = {"severity": record.levelname, "message": message, "component": "gunicorn"}
        if record.exc_info and record.exc_info[0] is not None:
            entry["error"] = record.exc_info[0].__name__
        return json.dumps(entry)
