"""Clock skew is "cannot tell now", never a rejection (issue 24, finding 2).

With the token issuer's clock a minute ahead, the worker used to answer 401 "issued in the future" and the
relay dead-lettered every job as rejected. Now the worker answers 503 with `code: clock_skew`, the relay
retries (with a freshly minted token), and only a message still failing at the end of Eventarc's retry
window is kept, under its own reason code.
"""

from __future__ import annotations

import datetime
import time

import pytest
import requests

from local.processes import Proc
from tests.runtime.helpers import (
    RELAY_EMAIL,
    Launcher,
    TokenForge,
    dead_letters_for,
    new_id,
    publish,
    records,
    stats,
    wait_for_records,
)

JOB = {"task": "primes", "limit": 100}


def test_a_token_from_a_clock_ahead_is_503_cannot_tell_now(worker: Proc, forge: TokenForge) -> None:
    now = int(time.time())
    token = forge.sign(forge.claims(iat=now + 60, exp=now + 3660))
    message_id = new_id()
    response = requests.post(
        worker.url + "/jobs",
        json={"id": message_id, "job": JOB},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 503, response.text
    assert response.json() == {"error": "token not valid at this worker's time (clock skew?)", "code": "clock_skew"}
    assert 40 <= int(response.headers["Retry-After"]) <= 60
    [line] = wait_for_records(worker, message="request", status=503, caller=RELAY_EMAIL, decision="unverifiable")
    assert line["reason"] == "cannot verify now: token issued in the future by this worker's clock (clock skew?)"
    assert line["verified_by"] == "signature"
    assert not records(worker, message_id=message_id, reason="processed")


@pytest.fixture(scope="module")
def skewed(launcher: Launcher, worker: Proc) -> dict[str, Proc]:
    """A relay whose metadata server's clock runs 60 s ahead (same signing key: the worker knows it)."""
    identity = launcher.identity(RELAY_EMAIL, "identity-ahead", clock_offset=60)
    pubsub = launcher.pubsub(identity)
    relay = launcher.relay(worker.url, identity.url, "relay-skewed", pubsub)
    return {"identity": identity, "pubsub": pubsub, "relay": relay}


def test_skewed_tokens_are_retried_not_dead_lettered(skewed: dict[str, Proc]) -> None:
    relay, pubsub = skewed["relay"], skewed["pubsub"]
    message_id = new_id()
    for _ in range(2):  # Eventarc's redeliveries: each one retried, none acknowledged
        assert publish(relay, JOB, message_id=message_id).status_code == 500
    lines = wait_for_records(relay, message_id=message_id, worker_status=503)
    assert len(lines) == 2
    assert all("clock skew" in line["message"] and "will retry" in line["message"] for line in lines)
    assert dead_letters_for(pubsub, message_id, timeout=0.5) == []
    # Each retry asks for a fresh token instead of resending the one the worker could not place in time.
    assert stats(skewed["identity"])["identity_tokens"] >= 2


def test_skew_that_outlasts_the_retry_window_is_kept_under_its_own_reason(skewed: dict[str, Proc]) -> None:
    relay, pubsub = skewed["relay"], skewed["pubsub"]
    message_id = new_id()
    published = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=23.6)
    assert publish(relay, JOB, message_id=message_id, published=published).status_code == 200
    [record] = dead_letters_for(pubsub, message_id)
    assert record["reason_code"] == "clock_skew"
    assert record["reason"].startswith("the worker cannot judge the ID token's time now (clock skew?); the message")
    assert record["worker_status"] == 503
    assert record["_attributes"]["reason_code"] == "clock_skew"
