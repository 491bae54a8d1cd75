"""End to end on loopback: stand-in metadata server -> relay (functions-framework) -> worker (waitress)."""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
import uuid
from typing import Any

import pytest
import requests

from local.processes import Proc, free_port, pubsub_event
from tests.runtime.helpers import (
    AUDIENCE,
    OTHER_EMAIL,
    RELAY_EMAIL,
    Launcher,
    TokenForge,
    b64url,
    dead_letters_for,
    new_id,
    processed,
    publish,
    records,
    stats,
    wait_for_records,
)

SMALL_JOB = {"task": "primes", "limit": 100}


def post_job(worker: Proc, token: str | None, message_id: str | None = None, job: Any = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    body = {"id": message_id or new_id(), "job": job or SMALL_JOB}
    return requests.post(worker.url + "/jobs", json=body, headers=headers, timeout=30)


def metadata_token(identity: Proc, audience: str = AUDIENCE) -> str:
    url = identity.url + "/computeMetadata/v1/instance/service-accounts/default/identity"
    response = requests.get(
        url, params={"audience": audience, "format": "full"}, headers={"Metadata-Flavor": "Google"}, timeout=5
    )
    response.raise_for_status()
    return response.text


# --- the happy path and idempotency -------------------------------------------------------------


def test_job_flows_relay_to_worker_and_is_processed_once(relay: Proc, worker: Proc) -> None:
    message_id = new_id()
    trace_id = uuid.uuid4().hex
    headers, body = pubsub_event({"task": "primes", "limit": 1_000_000}, message_id=message_id)
    headers["X-Cloud-Trace-Context"] = f"{trace_id}/123;o=1"  # as Cloud Run hands it to the function
    response = requests.post(relay.url + "/", data=body, headers=headers, timeout=30)
    assert response.status_code == 200

    [delivered] = wait_for_records(relay, message_id=message_id, message="job delivered")
    assert delivered["severity"] == "INFO"
    assert delivered["worker_status"] == 200
    assert delivered["verified_caller"] == RELAY_EMAIL
    assert delivered["result"] == {"limit": 1_000_000, "prime_count": 78498, "largest_prime": 999983}
    assert delivered["duplicate"] is False
    trace = f"projects/secure-invoke-local/traces/{trace_id}"
    assert delivered["logging.googleapis.com/trace"] == trace

    # The worker's one audit line for it: who called (verified), as what, and the same trace.
    [audit] = wait_for_records(worker, message_id=message_id, message="request")
    assert audit["status"] == 200 and audit["reason"] == "processed" and audit["decision"] == "allow"
    assert audit["caller"] == RELAY_EMAIL and audit["caller_kind"] == "relay"
    assert audit["sub"] == stats_sub(RELAY_EMAIL) and audit["aud"] == AUDIENCE
    assert audit["logging.googleapis.com/trace"] == trace
    assert audit["task"] == "primes" and audit["compute_ms"] >= 0


def stats_sub(email: str) -> str:
    from local.metadata_server import subject_for

    return subject_for(email)


def test_replayed_event_is_not_processed_twice(relay: Proc, worker: Proc) -> None:
    message_id = new_id()
    job = {"task": "hash", "input": "replay", "iterations": 50_000}
    for _ in range(3):
        assert publish(relay, job, message_id=message_id).status_code == 200

    delivered = wait_for_records(relay, message_id=message_id, message="job delivered")
    assert [r["duplicate"] for r in delivered] == [False, True, True]
    assert len({str(r["result"]) for r in delivered}) == 1
    assert len(processed(worker, message_id)) == 1
    assert [r["reason"] for r in records(worker, message_id=message_id, message="request")] == [
        "processed",
        "duplicate",
        "duplicate",
    ]


def test_concurrent_redeliveries_are_processed_once(relay: Proc, worker: Proc) -> None:
    message_id = new_id()
    job = {"task": "hash", "input": "race", "iterations": 300_000}
    statuses: list[int] = []
    threads = [
        threading.Thread(target=lambda: statuses.append(publish(relay, job, message_id=message_id).status_code))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 4
    assert len(processed(worker, message_id)) == 1


@pytest.mark.parametrize("shape", ["pubsub push", "background event"])
def test_non_cloudevent_pubsub_bodies_are_accepted(relay: Proc, worker: Proc, shape: str) -> None:
    # functions-framework converts a raw Pub/Sub push body and a legacy background event to a CloudEvent.
    message_id = new_id()
    data = base64.b64encode(json.dumps(SMALL_JOB).encode()).decode()
    if shape == "pubsub push":
        path = "/projects/local/topics/jobs"
        body: dict[str, Any] = {
            "message": {"data": data, "attributes": {}, "messageId": message_id},
            "subscription": "projects/local/subscriptions/push",
        }
    else:
        path = "/"
        body = {
            "context": {
                "eventId": message_id,
                "timestamp": "2026-01-01T00:00:00.000Z",
                "eventType": "google.pubsub.topic.publish",
                "resource": {"service": "pubsub.googleapis.com", "name": "projects/local/topics/jobs"},
            },
            "data": {"data": data, "attributes": {}},
        }
    assert requests.post(relay.url + path, json=body, timeout=30).status_code == 200
    [delivered] = wait_for_records(relay, message_id=message_id, message="job delivered")
    assert delivered["verified_caller"] == RELAY_EMAIL
    assert len(processed(worker, message_id)) == 1


def test_legal_attributes_at_pubsub_limits_do_not_stop_a_job(relay: Proc, worker: Proc) -> None:
    # 100 attributes of 1 KiB each are legal in Pub/Sub; the relay does not forward them, so they
    # cannot push the request over the worker's body limit (they once caused a 413 and a lost job).
    message_id = new_id()
    attributes = {f"a{i:03d}": "x" * 1024 for i in range(100)}
    assert publish(relay, SMALL_JOB, message_id=message_id, attributes=attributes).status_code == 200
    [delivered] = wait_for_records(relay, message_id=message_id, message="job delivered")
    assert delivered["worker_status"] == 200
    assert len(processed(worker, message_id)) == 1


# --- who may call: 403 and the 401 attack cases ---------------------------------------------------


def test_caller_not_in_allowed_list_gets_403(launcher: Launcher, other_identity: Proc, worker: Proc) -> None:
    token = metadata_token(other_identity)
    response = post_job(worker, token)
    assert response.status_code == 403
    assert response.json() == {"error": "caller not allowed"}
    denied = [r for r in records(worker, message="request") if r["status"] == 403 and r["caller"] == OTHER_EMAIL]
    assert denied and denied[-1]["decision"] == "deny" and denied[-1]["caller_kind"] is None

    # Through a relay running as that other identity (with a dead-letter topic it may publish to):
    # the worker's 403 is its verdict, so the message is dead-lettered with it, then acknowledged.
    intruder_pubsub = launcher.pubsub(other_identity, publisher=OTHER_EMAIL)
    intruder_relay = launcher.relay(worker.url, other_identity.url, "relay-intruder", intruder_pubsub)
    message_id = new_id()
    assert publish(intruder_relay, SMALL_JOB, message_id=message_id).status_code == 200
    [rejected] = wait_for_records(intruder_relay, message_id=message_id, worker_status=403)
    assert rejected["severity"] == "ERROR" and rejected["acked"] is True
    [kept] = dead_letters_for(intruder_pubsub, message_id)
    assert kept["reason_code"] == "rejected_by_worker"
    assert kept["reason"] == "worker answered 403: caller not allowed"
    assert not processed(worker, message_id)


def test_caller_matching_only_by_unicode_folding_gets_403(worker: Proc, forge: TokenForge) -> None:
    # "K" (U+212A KELVIN SIGN).lower() == "k": an address that only matches after Unicode case
    # folding is a different address. The token is validly signed, so the verdict is 403.
    look_alike = RELAY_EMAIL.replace("k", "\u212a")
    assert look_alike != RELAY_EMAIL and look_alike.lower() == RELAY_EMAIL
    response = post_job(worker, forge.sign(forge.claims(email=look_alike)))
    assert response.status_code == 403


def _attack_tokens(forge: TokenForge) -> dict[str, str | None]:
    valid = forge.sign()
    header, _payload, signature = valid.split(".")
    now = int(time.time())
    return {
        "no token": None,
        "garbage": "not-a-jwt",
        "garbage three segments": "aaaa.bbbb.cccc",
        "alg none": f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(forge.claims())}.",
        "alg none with kid": f"{b64url({'alg': 'none', 'kid': forge.kid})}.{b64url(forge.claims())}.{signature}",
        "tampered payload": f"{header}.{b64url(forge.claims(email=RELAY_EMAIL.upper(), exp=now + 86400))}.{signature}",
        "foreign key": forge.sign(signer=forge.foreign_signer()),
        "wrong audience": forge.sign(forge.claims(aud="https://someone-else.example")),
        # Outside its time window and not signed by Google: 401. (Google-signed, the same would be "cannot tell
        # now", 503: test_clock_skew.py.)
        "expired, foreign key": forge.sign(forge.claims(iat=now - 7200, exp=now - 3600), forge.foreign_signer()),
        "issued in the future, foreign key": forge.sign(
            forge.claims(iat=now + 3600, exp=now + 7200), forge.foreign_signer()
        ),
        "expires before it was issued": forge.sign(forge.claims(iat=now, exp=now - 60)),
        "wrong issuer": forge.sign(forge.claims(iss="https://evil.example")),
        "no issuer": forge.sign(forge.claims(iss=None)),
        "email not verified": forge.sign(forge.claims(email_verified=False)),
        "email_verified as string": forge.sign(forge.claims(email_verified="true")),
        "no email": forge.sign(forge.claims(email=None)),
        "no exp": forge.sign(forge.claims(exp=None)),
        "not valid yet (nbf), foreign key": forge.sign(forge.claims(nbf=now + 600), forge.foreign_signer()),
        "lives longer than an hour": forge.sign(forge.claims(iat=now - 60, exp=now + 7200)),
        "exp as a string": forge.sign(forge.claims(exp=str(now + 600))),
        "alg HS256": f"{b64url({'alg': 'HS256', 'kid': forge.kid})}.{b64url(forge.claims())}.{signature}",
        "foreign key without kid": forge.sign(signer=forge.foreign_signer(with_kid=False)),
    }


ATTACKS = [
    "no token",
    "garbage",
    "garbage three segments",
    "alg none",
    "alg none with kid",
    "tampered payload",
    "foreign key",
    "wrong audience",
    "expired, foreign key",
    "issued in the future, foreign key",
    "expires before it was issued",
    "wrong issuer",
    "no issuer",
    "email not verified",
    "email_verified as string",
    "no email",
    "no exp",
    "not valid yet (nbf), foreign key",
    "lives longer than an hour",
    "exp as a string",
    "alg HS256",
    "foreign key without kid",
]


@pytest.mark.parametrize("attack", ATTACKS)
def test_bad_tokens_get_401(worker: Proc, forge: TokenForge, attack: str) -> None:
    token = _attack_tokens(forge)[attack]
    message_id = new_id()
    response = post_job(worker, token, message_id)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.json() == {"error": "invalid token"}
    assert not processed(worker, message_id)


def test_token_with_an_unknown_key_id_is_503_not_401(worker: Proc, forge: TokenForge) -> None:
    # A key id missing from the certs may be a rotation the worker has not seen yet: it cannot tell
    # now, so the caller retries (a 401 would make the relay give the job up).
    response = post_job(worker, forge.sign(signer=forge.foreign_signer(kid="k" + "0" * 39)))
    assert response.status_code == 503
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json() == {"error": "token verification unavailable"}


def test_forged_token_control_is_accepted(worker: Proc, forge: TokenForge) -> None:
    # The forge signs exactly like the stand-in: its valid token passing proves the 401s above are
    # caused by the one thing each case changes.
    assert post_job(worker, forge.sign()).status_code == 200


def test_token_only_in_x_serverless_authorization_is_rejected(worker: Proc, forge: TokenForge) -> None:
    # On Cloud Run that header arrives with its signature stripped; the worker verifies Authorization.
    headers = {"X-Serverless-Authorization": f"Bearer {forge.sign()}"}
    body = {"id": new_id(), "job": SMALL_JOB}
    assert requests.post(worker.url + "/jobs", json=body, headers=headers, timeout=10).status_code == 401


def test_bad_job_after_valid_token_gets_400(worker: Proc, forge: TokenForge) -> None:
    response = post_job(worker, forge.sign(), job={"task": "mine-bitcoin"})
    assert response.status_code == 400
    assert "task" in response.json()["error"]


def test_healthz_needs_no_token_and_reveals_nothing(worker: Proc) -> None:
    response = requests.get(worker.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.text == "ok\n"
    revealed = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    for secret in (RELAY_EMAIL, AUDIENCE, "27.0", "Python", "Werkzeug", "127.0.0.1"):
        assert secret not in revealed


# --- failure policy: what the relay retries and what it acknowledges ----------------------------


@pytest.fixture(scope="module")
def faulty(launcher: Launcher, identity: Proc, pubsub: Proc) -> dict[str, Proc]:
    dead_url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    certless_worker = launcher.worker(dead_url + "/oauth2/v1/certs", "worker-certless")
    return {
        "to_dead_worker": launcher.relay(dead_url, identity.url, "relay-dead", pubsub),
        "certless_worker": certless_worker,
        "to_certless_worker": launcher.relay(certless_worker.url, identity.url, "relay-certless", pubsub),
        "to_dead_metadata": launcher.relay(certless_worker.url, dead_url, "relay-nometadata", pubsub),
    }


def test_worker_down_relay_raises_for_retry(faulty: dict[str, Proc]) -> None:
    relay = faulty["to_dead_worker"]
    message_id = new_id()
    assert publish(relay, SMALL_JOB, message_id=message_id).status_code == 500
    [line] = wait_for_records(relay, message_id=message_id, message="worker unreachable; will retry")
    assert line["severity"] == "WARNING" and line["error"] == "ConnectionError"


def test_certs_unreachable_gives_503_and_the_relay_retries(faulty: dict[str, Proc], forge: TokenForge) -> None:
    response = post_job(faulty["certless_worker"], forge.sign())
    assert response.status_code == 503
    assert response.headers["Retry-After"]

    relay = faulty["to_certless_worker"]
    message_id = new_id()
    assert publish(relay, SMALL_JOB, message_id=message_id).status_code == 500
    [line] = wait_for_records(relay, message_id=message_id, worker_status=503)
    assert line["message"] == "worker failed transiently; will retry"


def test_metadata_server_down_relay_raises_for_retry(faulty: dict[str, Proc]) -> None:
    relay = faulty["to_dead_metadata"]
    message_id = new_id()
    assert publish(relay, SMALL_JOB, message_id=message_id).status_code == 500
    [line] = wait_for_records(relay, message_id=message_id, message="could not mint an ID token; will retry")
    assert line["severity"] == "ERROR"


def test_worker_timeout_raises_then_the_retry_gets_the_same_job(
    launcher: Launcher, identity: Proc, worker: Proc, relay: Proc, pubsub: Proc
) -> None:
    impatient = launcher.relay(worker.url, identity.url, "relay-impatient", pubsub, timeout_seconds=0.3)
    message_id = new_id()
    job = {"task": "hash", "input": "slow", "iterations": 3_000_000}
    assert publish(impatient, job, message_id=message_id).status_code == 500
    [line] = wait_for_records(impatient, message_id=message_id, message="worker unreachable; will retry")
    assert line["error"] in ("ReadTimeout", "Timeout")

    # The redelivery arrives while the first computation still runs: it waits for that result
    # instead of starting a second computation. Nothing is lost and nothing runs twice.
    assert not processed(worker, message_id)
    assert publish(relay, job, message_id=message_id).status_code == 200
    [delivered] = wait_for_records(relay, message_id=message_id, message="job delivered")
    assert delivered["duplicate"] is True
    assert len(wait_for_records(worker, message_id=message_id, reason="processed")) == 1


# --- caching, proven by the stand-in's counters ---------------------------------------------------


def test_1000_relay_invocations_mint_one_identity_token(launcher: Launcher, worker: Proc, pubsub: Proc) -> None:
    # A stand-in and relay of its own, so its counter sees only this relay process. The token
    # lifetime (1 h) exceeds the test, so "at most one per token lifetime" means exactly one.
    token_identity = launcher.identity(RELAY_EMAIL, "identity-tokens")
    counted_relay = launcher.relay(worker.url, token_identity.url, "relay-tokens", pubsub)
    with requests.Session() as session:
        for i in range(1000):
            headers, body = pubsub_event({"task": "primes", "limit": 10 + i % 7})
            assert session.post(counted_relay.url + "/", data=body, headers=headers, timeout=30).status_code == 200
    counters = stats(token_identity)
    assert counters["identity_tokens"] == 1
    assert counters["service_account_info"] == 1  # one credentials object per process
    assert counters["rejected"] == 0
    assert len(records(counted_relay, message="job delivered", worker_status=200)) == 1000


def test_1000_verifications_fetch_certs_once_per_max_age(launcher: Launcher, forge: TokenForge) -> None:
    certs_identity = launcher.identity(RELAY_EMAIL, "identity-certs", certs_max_age=300)
    counted_worker = launcher.worker(certs_identity.url + "/oauth2/v1/certs", "worker-certs")
    token = forge.sign()
    with requests.Session() as session:
        headers = {"Authorization": f"Bearer {token}"}
        for _ in range(1000):
            body = {"id": new_id(), "job": {"task": "primes", "limit": 10}}
            response = session.post(counted_worker.url + "/jobs", json=body, headers=headers, timeout=10)
            assert response.status_code == 200
    assert stats(certs_identity)["certs_served"] == 1


def test_certs_are_fetched_again_after_max_age(launcher: Launcher, forge: TokenForge) -> None:
    short_identity = launcher.identity(RELAY_EMAIL, "identity-short", certs_max_age=1)
    short_worker = launcher.worker(
        short_identity.url + "/oauth2/v1/certs", "worker-short", extra_env={"CERTS_REFRESH_INTERVAL_SECONDS": "1"}
    )
    assert post_job(short_worker, forge.sign()).status_code == 200
    assert post_job(short_worker, forge.sign()).status_code == 200
    assert stats(short_identity)["certs_served"] == 1
    time.sleep(1.5)  # let the 1 s max-age lapse
    # Stale keys within the staleness bound still verify at once; the refresh runs beside it.
    assert post_job(short_worker, forge.sign()).status_code == 200
    deadline = time.monotonic() + 5
    while stats(short_identity)["certs_served"] < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert stats(short_identity)["certs_served"] == 2


# --- lifecycle -----------------------------------------------------------------------------------


def test_sigterm_finishes_in_flight_request_then_exits(launcher: Launcher, identity: Proc, forge: TokenForge) -> None:
    doomed = launcher.worker(identity.url + "/oauth2/v1/certs", "worker-sigterm")
    results: list[requests.Response] = []
    job = {"task": "hash", "input": "in flight", "iterations": 1_000_000}
    sender = threading.Thread(target=lambda: results.append(post_job(doomed, forge.sign(), job=job)))
    sender.start()
    # The request is in flight once the worker has read it; there is no earlier signal to poll for.
    time.sleep(0.3)
    doomed.popen.send_signal(signal.SIGTERM)
    sender.join(15)
    assert results and results[0].status_code == 200, "the in-flight job must complete"
    assert doomed.popen.wait(15) == 0
    with pytest.raises(requests.ConnectionError):
        requests.get(doomed.url + "/healthz", timeout=2)


def test_worker_refuses_to_start_without_config(tmp_path: Any) -> None:
    import os
    import subprocess

    from local.processes import BIN, WORKER_DIR, base_env, dockerfile_cmd

    cmd = dockerfile_cmd()
    cmd[0] = str(BIN / cmd[0])
    env = base_env({"HOST": "127.0.0.1", "PORT": str(free_port()), "ALLOWED_INVOKERS": RELAY_EMAIL})
    env.pop("INVOKER_AUDIENCE", None)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    done = subprocess.run(cmd, cwd=WORKER_DIR, env=env, capture_output=True, text=True, timeout=20)
    assert done.returncode != 0
    assert done.stderr.strip().splitlines()[-1] == (
        "worker: configuration error: INVOKER_AUDIENCE is not set (the audience callers mint their ID tokens for)"
    )
    assert "Traceback" not in done.stderr
