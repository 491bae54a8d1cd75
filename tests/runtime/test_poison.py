"""A poison corpus through the real relay: every message that can never be delivered ends in the
dead-letter topic (the Pub/Sub publish stand-in) with its reason and the original message, and is
acknowledged only then. None reaches the worker as work, none is retried forever, none is lost."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from local.processes import Proc, cloudevent_headers, pubsub_event
from tests.runtime.helpers import dead_letters_for, new_id, processed, publish, records, wait_for_records

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "functions" / "relay"))
sys.path.insert(0, str(ROOT / "services" / "worker"))

import relay_envelope  # noqa: E402
from worker import app as worker_app  # noqa: E402


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


Mutation = Callable[[dict[str, Any]], None]


def set_data(raw: bytes) -> Mutation:
    return lambda message: message.__setitem__("data", b64(raw))


def set_field(name: str, value: Any) -> Mutation:
    return lambda message: message.__setitem__(name, value)


def drop(name: str) -> Mutation:
    return lambda message: message.pop(name, None)


# name -> (how the Pub/Sub message is spoiled, reason code, a fragment of the reason)
CORPUS: dict[str, tuple[Mutation, str, str]] = {
    "bad base64": (set_field("data", "%%% not base64 %%%"), "malformed_job", "not base64"),
    "base64 of invalid UTF-8": (set_data(b"\xff\xfe\xfd"), "malformed_job", "not UTF-8"),
    "not JSON": (set_data(b"{task: primes"), "malformed_job", "not JSON"),
    "NaN in JSON": (set_data(b'{"task": "primes", "limit": NaN}'), "malformed_job", "not JSON"),
    "nested 1,000 levels": (set_data(b"[" * 1000 + b"]" * 1000), "malformed_job", "nested deeper"),
    "nested 50 levels in a field": (
        set_data(b'{"task": "primes", "x": ' + b"[" * 50 + b"]" * 50 + b"}"),
        "malformed_job",
        "nested deeper",
    ),
    "lone surrogate in the input": (
        set_data(b'{"task": "hash", "input": "\\ud800", "iterations": 5}'),
        "malformed_job",
        "lone surrogate",
    ),
    "lone surrogate in an attribute": (set_field("attributes", {"k": "\ud800"}), "malformed_event", "lone surrogate"),
    "101 attributes": (
        set_field("attributes", {f"a{i}": "x" for i in range(101)}),
        "malformed_event",
        "101 attributes",
    ),
    "a 2 KiB attribute value": (set_field("attributes", {"k": "x" * 2048}), "malformed_event", "Pub/Sub's limits"),
    "job is an array": (set_data(b"[1, 2, 3]"), "malformed_job", "not a JSON object"),
    "task is a number": (set_data(b'{"task": 7}'), "malformed_job", "no string `task`"),
    "attributes are a list": (set_field("attributes", ["a"]), "malformed_event", "not an object"),
    "attribute value is a number": (set_field("attributes", {"n": 1}), "malformed_event", "not a string"),
    "no data": (drop("data"), "malformed_job", "has no data"),
    "no task": (set_data(b'{"limit": 5}'), "malformed_job", "no string `task`"),
    "message id with spaces": (set_field("messageId", "id with spaces"), "malformed_event", "no usable message id"),
    "job of 70 KiB": (
        set_data(json.dumps({"task": "primes", "limit": 10, "pad": "x" * 70_000}).encode()),
        "job_too_large",
        "the worker accepts 65536",
    ),
    "job of 200 KiB": (
        set_data(json.dumps({"task": "primes", "limit": 10, "pad": "x" * 200_000}).encode()),
        "job_too_large",
        "far above the job limit",
    ),
    "job request of 64 KiB + 1": (
        lambda message: message.__setitem__("data", b64(_job_of_body_size(relay_envelope.MAX_WORKER_BODY_BYTES + 1))),
        "job_too_large",
        "the worker accepts 65536",
    ),
    "invalid job (the worker's 400)": (set_data(b'{"task": "primes", "limit": -5}'), "rejected_by_worker", "400"),
    "unknown task (the worker's 400)": (set_data(b'{"task": "mine-bitcoin"}'), "rejected_by_worker", "`task`"),
}


def _job_of_body_size(size: int, message_id: str = "0000000000000000") -> bytes:
    """A job whose worker request ({"id": <16 chars>, "job": ...}) is exactly `size` bytes."""
    job: dict[str, Any] = {"task": "primes", "limit": 10, "pad": ""}
    overhead = len(json.dumps({"id": message_id, "job": job}, separators=(",", ":")))
    job["pad"] = "x" * (size - overhead)
    return json.dumps(job, separators=(",", ":")).encode()


def send(relay: Proc, message_id: str, mutate: Mutation) -> tuple[requests.Response, dict[str, Any]]:
    headers, body = pubsub_event({"task": "primes", "limit": 10}, message_id=message_id)
    event = json.loads(body)
    mutate(event["message"])
    response = requests.post(relay.url + "/", data=json.dumps(event), headers=headers, timeout=30)
    return response, event["message"]


@pytest.mark.parametrize("name", list(CORPUS))
def test_poison_ends_in_the_dead_letter_topic_with_its_reason(
    relay: Proc, worker: Proc, pubsub: Proc, name: str
) -> None:
    mutate, code, fragment = CORPUS[name]
    message_id = f"{new_id()}{len(name)}"
    response, original = send(relay, message_id, mutate)
    assert response.status_code == 200, "acknowledged once kept, not retried for 24 h"
    [record] = dead_letters_for(pubsub, message_id)
    assert record["reason_code"] == code
    assert fragment in record["reason"]
    assert record["_attributes"]["reason_code"] == code
    # The original message as it arrived, for inspection and replay.
    assert record["message"] == original
    assert record["event"]["type"] == "google.cloud.pubsub.topic.v1.messagePublished"
    assert record["subscription"].endswith("/subscriptions/eventarc-relay")
    [line] = wait_for_records(relay, event_id=message_id, acked=True)
    assert line["severity"] == "ERROR" and line["reason_code"] == code
    assert line["dead_letter_message_id"] == record["_id"]
    assert not processed(worker, message_id)


def test_event_without_a_pubsub_message_is_kept_too(relay: Proc, pubsub: Proc) -> None:
    event_id = new_id()
    response = requests.post(
        relay.url + "/", data=b'{"hello": "world"}', headers=cloudevent_headers(event_id), timeout=10
    )
    assert response.status_code == 200
    [record] = dead_letters_for(pubsub, event_id)
    assert record["reason_code"] == "malformed_event"
    assert record["event_data"] == {"hello": "world"}


def test_a_reused_id_with_another_job_is_kept_not_overwritten(relay: Proc, worker: Proc, pubsub: Proc) -> None:
    message_id = new_id()
    assert publish(relay, {"task": "primes", "limit": 10}, message_id=message_id).status_code == 200
    assert publish(relay, {"task": "primes", "limit": 11}, message_id=message_id).status_code == 200
    [record] = dead_letters_for(pubsub, message_id)
    assert record["reason"] == "worker answered 409: this id was already used for a different job"
    assert json.loads(base64.b64decode(record["message"]["data"])) == {"task": "primes", "limit": 11}
    assert len(processed(worker, message_id)) == 1


def test_the_largest_job_the_relay_sends_is_one_the_worker_accepts(relay: Proc, worker: Proc) -> None:
    # The two limits are one number, and a job exactly at it goes through (no 413 to give up on).
    assert relay_envelope.MAX_WORKER_BODY_BYTES == worker_app.MAX_BODY_BYTES
    message_id = "1234567890123456"
    raw = _job_of_body_size(relay_envelope.MAX_WORKER_BODY_BYTES, message_id)
    assert len(relay_envelope.parse({"message": {"messageId": message_id, "data": b64(raw)}}, None).body) == 65536
    assert publish(relay, None, message_id=message_id, raw_data=raw).status_code == 200
    [delivered] = wait_for_records(relay, message_id=message_id, message="job delivered")
    assert delivered["worker_status"] == 200
    assert len(processed(worker, message_id)) == 1


def test_a_message_too_big_for_a_dead_letter_record_keeps_a_prefix_and_digest(relay: Proc, pubsub: Proc) -> None:
    # Pub/Sub's 10 MB cap applies to the dead-letter record too: a huge original keeps its first
    # 64 KiB, its size and its SHA-256, and the record says it was truncated.
    message_id = new_id()
    raw = os.urandom(8 * 1024 * 1024)
    response = publish(relay, None, message_id=message_id, raw_data=raw)
    assert response.status_code == 200
    [record] = dead_letters_for(pubsub, message_id, timeout=15)
    assert record["reason_code"] == "job_too_large"
    assert record["truncated"] is True
    kept = record["message"]["data_truncated"]
    full = b64(raw)
    assert kept["base64_chars"] == len(full)
    assert full.startswith(kept["base64_prefix"]) and len(kept["base64_prefix"]) == 64 * 1024
    assert kept["base64_sha256"] == hashlib.sha256(full.encode()).hexdigest()


def test_nothing_was_acknowledged_without_being_delivered_or_kept(relay: Proc, pubsub: Proc) -> None:
    # Over everything this session sent through the main relay: each outcome it logged is a
    # delivery, a dead-letter record that exists, or a retry (the event is not acknowledged).
    kept = {m["messageId"] for m in requests.get(pubsub.url + "/_messages", timeout=5).json()["messages"]}
    outcomes = records(relay)
    assert outcomes
    for line in outcomes:
        if line.get("acked"):
            assert line["dead_letter_message_id"] in kept, line
        else:
            assert line["message"] == "job delivered" or line["message"].endswith("; will retry"), line
