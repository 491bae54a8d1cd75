"""Turns a Pub/Sub messagePublished event into the one request body the worker needs, or says why not.

Standard library only (imported with the function, before the first event). Every way a message can
be unusable ends in `Poison` with a fixed reason code and a short reason that never quotes the
message's bytes: the relay dead-letters it (redelivering it would fail the same way for 24 hours).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import re
from dataclasses import dataclass
from typing import Any

# The worker refuses bodies above this (its Flask MAX_CONTENT_LENGTH, services/worker/worker/app.py);
# the relay checks the exact bytes it is about to send against the same number. A test pins both.
MAX_WORKER_BODY_BYTES = 64 * 1024
MAX_JOB_DEPTH = 32  # a job is a flat object; anything deeper is not one, and deep JSON costs recursion
# Pub/Sub's documented limits: a message outside them did not come from Pub/Sub.
MAX_ATTRIBUTES = 100
MAX_ATTRIBUTE_KEY_BYTES = 256
MAX_ATTRIBUTE_VALUE_BYTES = 1024
# The worker's id rule: printable ASCII, no spaces, 1..128 characters.
MESSAGE_ID = re.compile(r"^[\x21-\x7e]{1,128}$")


class Poison(ValueError):
    """A message that can never be delivered as it is: dead-letter it with this reason."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    message_id: str
    body: bytes  # exactly what is POSTed to the worker: {"id": ..., "job": ...}
    task: str
    published: datetime.datetime | None


def message_of(data: Any) -> dict[str, Any] | None:
    """The Pub/Sub `message` object of the event data, if it has one (for the dead-letter record)."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            return None
    if isinstance(data, dict) and isinstance(data.get("message"), dict):
        return data["message"]
    return None


def parse_time(value: Any) -> datetime.datetime | None:
    """An RFC 3339 timestamp as Pub/Sub and CloudEvents write it (`Z`, up to nanoseconds), or None."""
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("z", "Z")
    text = text[:-1] + "+00:00" if text.endswith("Z") else text
    # Python parses at most microseconds: drop digits beyond six.
    text = re.sub(r"(\.\d{6})\d+", r"\1", text)
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def parse(data: Any, event_id: Any, event_time: Any = None) -> Delivery:
    """The worker request for a messagePublished event's data, or Poison naming what is wrong."""
    if isinstance(data, bytes | str):
        try:
            data = json.loads(data)
        except (ValueError, RecursionError):
            raise Poison("malformed_event", "event data is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("message"), dict):
        raise Poison("malformed_event", "event data has no Pub/Sub `message` object")
    message: dict[str, Any] = data["message"]
    message_id = message.get("messageId") or message.get("message_id") or event_id
    if not isinstance(message_id, str) or not MESSAGE_ID.match(message_id):
        raise Poison("malformed_event", "Pub/Sub message has no usable message id (printable ASCII, 1..128)")
    _check_attributes(message.get("attributes"))
    published = parse_time(message.get("publishTime") or message.get("publish_time")) or parse_time(event_time)

    encoded = message.get("data")
    if not isinstance(encoded, str) or not encoded:
        raise Poison("malformed_job", "Pub/Sub message has no data")
    # Larger data could never fit the worker's limit; refuse before decoding it.
    if len(encoded) > 2 * MAX_WORKER_BODY_BYTES:
        raise Poison("job_too_large", f"message data is {len(encoded)} base64 characters, far above the job limit")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise Poison("malformed_job", "message data is not base64") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Poison("malformed_job", "message data is not UTF-8") from None
    try:
        job = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise Poison("malformed_job", f"job is nested deeper than {MAX_JOB_DEPTH} levels") from None
    except ValueError:
        raise Poison("malformed_job", "message data is not JSON (or uses NaN/Infinity)") from None
    _check_value(job)
    if not isinstance(job, dict):
        raise Poison("malformed_job", "job is not a JSON object")
    task = job.get("task")
    if not isinstance(task, str):
        raise Poison("malformed_job", "job has no string `task`")
    # Only what the worker reads: its message id and the job. Attributes stay here (and in the
    # dead-letter record); forwarding them could push a legal message over the worker's limit.
    body = json.dumps({"id": message_id, "job": job}, separators=(",", ":")).encode()
    if len(body) > MAX_WORKER_BODY_BYTES:
        raise Poison("job_too_large", f"job request is {len(body)} bytes; the worker accepts {MAX_WORKER_BODY_BYTES}")
    return Delivery(message_id=message_id, body=body, task=task, published=published)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_attributes(attributes: Any) -> None:
    if attributes is None:
        return
    if not isinstance(attributes, dict):
        raise Poison("malformed_event", "Pub/Sub message attributes are not an object")
    if len(attributes) > MAX_ATTRIBUTES:
        raise Poison("malformed_event", f"{len(attributes)} attributes; Pub/Sub allows {MAX_ATTRIBUTES}")
    for key, value in attributes.items():
        if not isinstance(value, str):
            raise Poison("malformed_event", "an attribute value is not a string")
        if len(_utf8(key)) > MAX_ATTRIBUTE_KEY_BYTES or len(_utf8(value)) > MAX_ATTRIBUTE_VALUE_BYTES:
            raise Poison(
                "malformed_event",
                f"an attribute exceeds Pub/Sub's limits ({MAX_ATTRIBUTE_KEY_BYTES}-byte keys, "
                f"{MAX_ATTRIBUTE_VALUE_BYTES}-byte values)",
            )


def _utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise Poison("malformed_event", "an attribute is not valid Unicode (lone surrogate)") from None


def _check_value(value: Any) -> None:
    """Depth and Unicode of a parsed job, iteratively (the point is to not recurse on hostile input)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JOB_DEPTH:
            raise Poison("malformed_job", f"job is nested deeper than {MAX_JOB_DEPTH} levels")
        if isinstance(item, str):
            _job_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _job_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _job_text(text: str) -> None:
    # JSON's \\ud800 escapes decode to lone surrogates, which no UTF-8 encoder accepts: the worker
    # could never run such a job, so it is refused here rather than retried.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise Poison("malformed_job", "job contains a lone surrogate (not valid Unicode)") from None
