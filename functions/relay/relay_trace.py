"""What the relay reads from the incoming request itself: the trace header it forwards to the worker (and
the log fields that put its own lines on the same trace in Cloud Logging), and the event time as sent.
Standard library only at import."""

from __future__ import annotations

import re
from typing import Any

TRACE_CONTEXT = re.compile(r"^([0-9a-fA-F]{32})(?:/(\d{1,20}))?(?:;o=([0-9]+))?$")
TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def incoming_header() -> str | None:
    """The incoming trace context as an X-Cloud-Trace-Context value (forwarded to the worker), if valid."""
    import flask  # already loaded by functions_framework

    if not flask.has_request_context():
        return None
    header = flask.request.headers.get("X-Cloud-Trace-Context", "").strip()
    if TRACE_CONTEXT.match(header):
        return header
    parent = TRACEPARENT.match(flask.request.headers.get("traceparent", "").strip())
    if parent:
        trace_id, span, flags = parent.groups()
        return f"{trace_id}/{int(span, 16)};o={int(flags, 16) & 1}"
    return None


def log_fields(header: str | None, project: str | None) -> dict[str, Any]:
    """`logging.googleapis.com/trace` (and `spanId`) for a valid header in a known project; else nothing."""
    match = TRACE_CONTEXT.match(header or "")
    if not match or not project:
        return {}
    fields: dict[str, Any] = {"logging.googleapis.com/trace": f"projects/{project}/traces/{match.group(1).lower()}"}
    if match.group(2):
        fields["logging.googleapis.com/spanId"] = format(int(match.group(2)) % 2**64, "016x")
    return fields


def sent_event_time() -> str | None:
    """The CloudEvent `time` as the request carried it (`ce-time`, or `time` of a structured event), or None.

    Not the CloudEvent object's `time`: the SDK fills a missing one in with the moment of parsing, and
    functions-framework does the same for a Pub/Sub push without `publishTime`, so every redelivery of such
    a message would look new."""
    import flask  # already loaded by functions_framework

    if not flask.has_request_context():
        return None
    header = flask.request.headers.get("ce-time")
    if header:
        return header
    if flask.request.mimetype == "application/cloudevents+json":
        body = flask.request.get_json(silent=True)
        value = body.get("time") if isinstance(body, dict) else None
        return value if isinstance(value, str) else None
    return None
