"""The dead-letter topic: where the relay keeps every message it gives up on, with the reason.

A record is one Pub/Sub message on `DEAD_LETTER_TOPIC` whose data is JSON: the reason, the
original Pub/Sub message exactly as it arrived (base64 `data`, `attributes`, `messageId`,
`publishTime`) and the CloudEvent's context, so an operator can read why and replay it. The reason
sits in the data, not in attributes: the original may already carry Pub/Sub's maximum of 100.

Published through Pub/Sub's REST API (`POST /v1/{topic}:publish`) with an OAuth2 access token from
the metadata server, via google-auth's compute_engine.Credentials and AuthorizedSession: no key
file, and the function's own identity, which holds roles/pubsub.publisher on that one topic only.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

# Pub/Sub refuses publish requests above 10 MB; the record travels base64-encoded inside one, so
# it must stay below 3/4 of that. Larger originals keep a prefix of their data and its digest.
MAX_RECORD_BYTES = 7 * 1024 * 1024
KEPT_PREFIX_BYTES = 64 * 1024
PUBLISH_TIMEOUT = (5.0, 20.0)  # connect, read (seconds)
PUBLISH_DEADLINE_SECONDS = 30.0  # the whole publish, access token included, headers included


class PublishFailed(RuntimeError):
    """The record could not be published; the relay raises so that Eventarc redelivers."""


def record(
    *,
    code: str,
    reason: str,
    event: Mapping[str, Any],
    data: Any,
    worker_status: int | None = None,
    age_seconds: float | None = None,
    now: datetime.datetime | None = None,
) -> bytes:
    """The dead-letter record (JSON bytes) for one CloudEvent whose data is `data`."""
    now = now or datetime.datetime.now(datetime.UTC)
    entry: dict[str, Any] = {
        "reason_code": code,
        "reason": reason,
        "dead_lettered_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "event": {k: v for k, v in event.items() if v is not None},
        "worker_status": worker_status,
        "age_seconds": None if age_seconds is None else round(age_seconds, 3),
    }
    if isinstance(data, dict) and isinstance(data.get("message"), dict):
        entry["message"] = data["message"]
        if isinstance(data.get("subscription"), str):
            entry["subscription"] = data["subscription"]
    elif isinstance(data, bytes):
        entry["event_data_base64"] = base64.b64encode(data).decode()
    else:
        entry["event_data"] = data
    encoded = _dumps(entry)
    if encoded is None or len(encoded) > MAX_RECORD_BYTES:
        encoded = _dumps(_shrunk(entry))
    if encoded is None or len(encoded) > MAX_RECORD_BYTES:
        # Last resort: the reason and a digest of what arrived; the content itself cannot be kept.
        entry = {k: v for k, v in entry.items() if k not in ("message", "event_data", "event_data_base64")}
        entry["original_sha256"] = _digest(_text(data).encode(errors="backslashreplace"))
        entry["original_dropped"] = "the original could not be serialised within Pub/Sub's size limit"
        encoded = _dumps(entry) or b"{}"
    return encoded


def _dumps(entry: Mapping[str, Any]) -> bytes | None:
    # ensure_ascii escapes lone surrogates instead of failing on them.
    try:
        return json.dumps(entry, ensure_ascii=True, separators=(",", ":"), default=str).encode()
    except (ValueError, TypeError, RecursionError):
        return None


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return repr(value)
    except (RecursionError, ValueError):
        return f"<unrepresentable {type(value).__name__}>"


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _shrunk(entry: dict[str, Any]) -> dict[str, Any]:
    """The record with the original's data cut to a prefix plus its size and digest."""
    shrunk = dict(entry)
    message = entry.get("message")
    if isinstance(message, dict) and isinstance(message.get("data"), str):
        data = message["data"]
        shrunk["message"] = {k: v for k, v in message.items() if k != "data"}
        shrunk["message"]["data_truncated"] = {
            "base64_prefix": data[:KEPT_PREFIX_BYTES],
            "base64_chars": len(data),
            "base64_sha256": _digest(data.encode(errors="backslashreplace")),
        }
    for key in ("event_data", "event_data_base64"):
        if key in entry:
            text = _text(entry[key])
            shrunk[key] = {
                "prefix": text[:KEPT_PREFIX_BYTES],
                "chars": len(text),
                "sha256": _digest(text.encode(errors="backslashreplace")),
            }
    shrunk["truncated"] = True
    return shrunk


class Publisher:
    """Publishes records to one topic; the credentials and HTTP session are created on first use."""

    def __init__(self, topic: str, endpoint: str) -> None:
        self.topic = topic
        self.url = f"{endpoint.rstrip('/')}/v1/{topic}:publish"
        self._session: Any = None
        self._lock = threading.Lock()

    def _authorized_session(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    import google.auth.compute_engine
                    import google.auth.transport.requests
                    import relay_deadline
                    import requests

                    credentials = google.auth.compute_engine.Credentials()
                    # Token refreshes go through their own session, as in the worker client; both obey
                    # the publish's overall deadline (relay_deadline.py).
                    auth_request = google.auth.transport.requests.Request(
                        session=relay_deadline.bounded(requests.Session())
                    )
                    self._session = relay_deadline.bounded(
                        google.auth.transport.requests.AuthorizedSession(credentials, auth_request=auth_request)
                    )
        return self._session

    def publish(self, data: bytes, attributes: Mapping[str, str]) -> str:
        """Publishes one message; returns its Pub/Sub message id or raises PublishFailed."""
        import relay_deadline

        message = {"data": base64.b64encode(data).decode(), "attributes": dict(attributes)}
        try:
            with relay_deadline.deadline(time.monotonic() + PUBLISH_DEADLINE_SECONDS):
                response = self._authorized_session().post(
                    self.url, json={"messages": [message]}, timeout=PUBLISH_TIMEOUT, allow_redirects=False
                )
        except Exception as exc:  # transport, token refresh, anything: the message waits for a retry
            # The type only: a library's message could quote what the metadata server answered.
            raise PublishFailed(f"publish to {self.topic} failed: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise PublishFailed(f"publish to {self.topic} answered {response.status_code}: {_error_status(response)}")
        try:
            ids = response.json()["messageIds"]
            return str(ids[0])
        except (ValueError, KeyError, IndexError, TypeError):
            raise PublishFailed(f"publish to {self.topic} answered 200 without a message id") from None


def _error_status(response: Any) -> str:
    """Google's error status name (PERMISSION_DENIED, NOT_FOUND, ...) from an error body, if any."""
    try:
        error = response.json().get("error", {})
        return f"{error.get('status', '?')} {str(error.get('message', ''))[:200]}".strip()
    except (ValueError, AttributeError):
        return "no error body"
