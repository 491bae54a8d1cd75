"""A message with no usable age is kept, not retried into a silent loss (issue 24, finding 7).

The relay dead-letters a failing message just before Eventarc's 24-hour retry window ends, reading its age
from `publishTime` (else the CloudEvent `time`). Without either, or with one in the future, it used to retry
for ever, and the platform dropped the message after the window: lost without a trace. Now a retryable
failure of such a message keeps it in the dead-letter topic at once, with the reason.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from local.processes import Proc, cloudevent_headers, rfc3339
from tests.runtime.helpers import Launcher, dead_letters_for, new_id, wait_for_records
from tests.runtime.test_relay import FrontEnd


@pytest.fixture(scope="module")
def failing_front() -> Iterator[FrontEnd]:
    front = FrontEnd()
    yield front
    front.close()


@pytest.fixture(scope="module")
def relay_to_failing(launcher: Launcher, identity: Proc, failing_front: FrontEnd, pubsub: Proc) -> Proc:
    return launcher.relay(failing_front.url, identity.url, "relay-ageless", pubsub)


def deliver(relay: Proc, message_id: str, publish_time: str | None, event_time: str | None) -> int:
    message: dict[str, Any] = {
        "data": base64.b64encode(json.dumps({"task": "primes", "limit": 10}).encode()).decode(),
        "messageId": message_id,
    }
    if publish_time is not None:
        message["publishTime"] = publish_time
    headers = cloudevent_headers(message_id)
    if event_time is None:
        del headers["ce-time"]
    else:
        headers["ce-time"] = event_time
    body = json.dumps({"message": message, "subscription": "projects/secure-invoke-local/subscriptions/s"})
    return requests.post(relay.url + "/", data=body, headers=headers, timeout=30).status_code


TOMORROW = rfc3339(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1))


@pytest.mark.parametrize(
    ("publish_time", "event_time"),
    [(None, None), (TOMORROW, None), (None, TOMORROW), ("not a time", "neither")],
    ids=["no time at all", "publish time tomorrow", "event time tomorrow", "unparsable times"],
)
def test_an_ageless_message_that_fails_is_kept_with_a_reason(
    relay_to_failing: Proc, failing_front: FrontEnd, pubsub: Proc, publish_time: str | None, event_time: str | None
) -> None:
    message_id = new_id()
    failing_front.statuses[message_id] = 503  # a failure a retry might fix, if the message lived to see it
    assert deliver(relay_to_failing, message_id, publish_time, event_time) == 200  # acknowledged: kept
    [record] = dead_letters_for(pubsub, message_id)
    assert record["reason_code"] == "no_usable_age"
    assert "no usable publish or event time" in record["reason"]
    assert record["worker_status"] == 503
    assert record["message"]["messageId"] == message_id


def test_a_message_with_an_age_is_still_retried(relay_to_failing: Proc, failing_front: FrontEnd, pubsub: Proc) -> None:
    message_id = new_id()
    failing_front.statuses[message_id] = 503
    now = rfc3339()
    assert deliver(relay_to_failing, message_id, now, None) == 500
    assert deliver(relay_to_failing, message_id, None, now) == 500  # the event time is the fallback
    assert len(wait_for_records(relay_to_failing, message_id=message_id, worker_status=503)) == 2
    assert dead_letters_for(pubsub, message_id, timeout=0.5) == []


def test_an_ageless_message_that_succeeds_is_simply_delivered(
    relay_to_failing: Proc, failing_front: FrontEnd, pubsub: Proc
) -> None:
    message_id = new_id()
    assert deliver(relay_to_failing, message_id, None, None) == 200
    [line] = wait_for_records(relay_to_failing, message_id=message_id, message="job delivered")
    assert line["worker_status"] == 200
    assert dead_letters_for(pubsub, message_id, timeout=0.5) == []
