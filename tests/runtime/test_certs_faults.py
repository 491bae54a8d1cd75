"""Certificate faults against the worker as a real process: key rotation mid-stream through the relay,
a certs endpoint that is down, hangs, trickles or returns garbage, and junk tokens under load.

The worker runs with a 1 s fetch deadline and a 1 s refresh interval so that every bound can be
checked in seconds; the same code runs with 5 s and 30 s by default (services/worker/README.md, certificates).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from local.processes import Proc
from tests.runtime.helpers import (
    RELAY_EMAIL,
    CertsServer,
    Launcher,
    TokenForge,
    dead_letters,
    new_id,
    processed,
    publish,
    records,
    stats,
)

DEADLINE = 1.0
INTERVAL = 1.0
FAST_CERTS = {"CERTS_FETCH_DEADLINE_SECONDS": str(DEADLINE), "CERTS_REFRESH_INTERVAL_SECONDS": str(INTERVAL)}
JOB = {"task": "primes", "limit": 50}


def post(worker: Proc, token: str, message_id: str | None = None) -> tuple[int, float, requests.Response]:
    started = time.monotonic()
    response = requests.post(
        worker.url + "/jobs",
        json={"id": message_id or new_id(), "job": JOB},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.status_code, time.monotonic() - started, response


def until_ok(worker: Proc, forge: TokenForge, limit: float) -> float:
    """Seconds until a valid token is accepted again (polling every 50 ms), at most `limit`."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        if post(worker, forge.sign())[0] == 200:
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"no recovery within {limit} s")


@pytest.fixture(scope="module")
def real_certs(identity: Proc) -> str:
    return requests.get(identity.url + "/oauth2/v1/certs", timeout=5).text


@pytest.fixture(scope="module")
def certs_server(real_certs: str) -> Iterator[CertsServer]:
    server = CertsServer(lambda: real_certs, max_age=1)
    yield server
    server.close()


@pytest.fixture(scope="module")
def strict_worker(launcher: Launcher, certs_server: CertsServer) -> Proc:
    """No staleness allowed: once the 1 s freshness is over, a failing refresh shows at once."""
    return launcher.worker(certs_server.url, "worker-strict", extra_env={**FAST_CERTS, "CERTS_MAX_STALE_SECONDS": "0"})


FAULTS: dict[str, dict[str, Any]] = {
    "down (connection refused)": {"mode": "down"},
    "connection reset without an answer": {"mode": "reset"},
    "hangs": {"mode": "hang"},
    "trickles a byte every 0.2 s": {"mode": "trickle"},
    "HTTP 500": {"mode": "status", "status": 500},
    "HTTP 404": {"mode": "status", "status": 404},
    "200 with HTML": {"mode": "garbage", "body": b"<html>maintenance</html>"},
    "200 with an array": {"mode": "garbage", "body": b"[]"},
    "200 with {}": {"mode": "garbage", "body": b"{}"},
    "200 with a non-certificate": {"mode": "garbage", "body": b'{"abc": "-----BEGIN CERTIFICATE-----"}'},
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_certs_fault_gives_bounded_503s_then_recovers_within_one_refresh(
    strict_worker: Proc, certs_server: CertsServer, forge: TokenForge, fault: str
) -> None:
    until_ok(strict_worker, forge, 10)  # a known good start
    spec = FAULTS[fault]
    if spec["mode"] == "down":
        certs_server.stop()
    else:
        certs_server.set(spec["mode"], spec.get("body", b""), spec.get("status", 500))
    time.sleep(INTERVAL + 0.2)  # the good key set's freshness (floored at the interval) is over
    try:
        # A burst, as queued Eventarc deliveries would arrive: nobody queues behind anybody.
        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(lambda _: post(strict_worker, forge.sign()), range(16)))
    finally:
        if spec["mode"] == "down":
            certs_server.start()
        else:
            certs_server.set("ok")
    assert [status for status, _, _ in results] == [503] * 16
    assert max(latency for _, latency, _ in results) < DEADLINE + 1
    assert all(1 <= int(r.headers["Retry-After"]) <= 30 for _, _, r in results)
    assert all(r.json() == {"error": "token verification unavailable"} for _, _, r in results)
    # Fixed: accepted again within one refresh (the longest backoff is one interval) plus one fetch.
    assert until_ok(strict_worker, forge, 10) < INTERVAL + DEADLINE + 1


def test_failure_reasons_reach_the_audit_line(strict_worker: Proc) -> None:
    reasons = {r["reason"] for r in records(strict_worker, message="request", status=503)}
    assert any("certs endpoint unreachable" in r for r in reasons)
    assert any("did not answer within the deadline" in r for r in reasons)  # hangs
    assert any("did not complete within the deadline" in r for r in reasons)  # trickles
    assert any("not a JSON object" in r for r in reasons)
    assert any("answered HTTP 500" in r for r in reasons)
    assert all(r.startswith("cannot verify now: ") for r in reasons)


def test_last_good_keys_keep_verifying_while_the_endpoint_is_down(
    launcher: Launcher, real_certs: str, forge: TokenForge
) -> None:
    server = CertsServer(lambda: real_certs, max_age=1)
    try:
        worker = launcher.worker(server.url, "worker-stale", extra_env={**FAST_CERTS, "CERTS_MAX_STALE_SECONDS": "3"})
        until_ok(worker, forge, 10)
        server.set("hang")
        time.sleep(INTERVAL + 0.2)
        # Stale within the bound: served at once, without waiting for the hanging refresh.
        for _ in range(10):
            status, latency, _ = post(worker, forge.sign())
            assert status == 200 and latency < 0.5
        time.sleep(3)  # past freshness + the 3 s staleness bound
        assert post(worker, forge.sign())[0] == 503
    finally:
        server.close()


def test_junk_tokens_under_load_cost_at_most_one_certs_fetch_per_interval(
    launcher: Launcher, real_certs: str, forge: TokenForge
) -> None:
    server = CertsServer(lambda: real_certs, max_age=3600)
    interval = 2.0
    try:
        worker = launcher.worker(
            server.url, "worker-junk", extra_env={**FAST_CERTS, "CERTS_REFRESH_INTERVAL_SECONDS": str(interval)}
        )
        until_ok(worker, forge, 10)
        fetched_before = server.fetches
        # Plausible tokens (right audience, issuer, times) with random key ids: each is a refetch
        # candidate. Signing is the client's cost, so a pool of them is reused.
        junk = [forge.sign(signer=forge.foreign_signer(kid=f"junk-{i:04d}")) for i in range(40)]
        invalid_anyway = [forge.sign(forge.claims(aud="https://x.example"), signer=forge.foreign_signer(kid="z"))]
        statuses: dict[str, list[int]] = {"junk": [], "invalid": [], "valid": []}
        lock = threading.Lock()
        stop = time.monotonic() + 4.0

        def hammer(n: int) -> None:
            with requests.Session() as session:
                i = 0
                while time.monotonic() < stop:
                    kind = "valid" if i % 10 == 0 else ("invalid" if i % 10 == 1 else "junk")
                    token = (
                        forge.sign()
                        if kind == "valid"
                        else (invalid_anyway[0] if kind == "invalid" else junk[(n + i) % 40])
                    )
                    response = session.post(
                        worker.url + "/jobs",
                        json={"id": new_id(), "job": JOB},
                        headers={"Authorization": f"Bearer {token}"},
                        timeout=30,
                    )
                    with lock:
                        statuses[kind].append(response.status_code)
                    i += 1

        started = time.monotonic()
        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(32)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        elapsed = time.monotonic() - started
        fetches = server.fetches - fetched_before
        assert len(statuses["junk"]) > 100, statuses
        assert set(statuses["junk"]) == {503}
        assert set(statuses["invalid"]) == {401}
        assert set(statuses["valid"]) == {200}
        assert 1 <= fetches <= int(elapsed / interval) + 1, (fetches, elapsed)
    finally:
        server.close()


# --- a key rotation reaching the worker late, end to end through the relay ------------------------


@pytest.fixture(scope="module")
def rotating(launcher: Launcher) -> dict[str, Proc]:
    # Its own key file, so rotating it does not disturb other tests. A 60 s token lifetime is
    # below google-auth's refresh margin: the relay mints a new token (with the current key) for
    # every delivery, as it would after its cached token expired during a rotation.
    identity = Launcher(launcher.workdir / "rotating").identity(RELAY_EMAIL, "identity-rotating", token_lifetime=60)
    launcher.procs.append(identity)
    pubsub = launcher.pubsub(identity)
    worker = launcher.worker(identity.url + "/oauth2/v1/certs", "worker-rotating", extra_env=FAST_CERTS)
    relay = launcher.relay(worker.url, identity.url, "relay-rotating", pubsub)
    return {"identity": identity, "pubsub": pubsub, "worker": worker, "relay": relay}


def test_key_rotated_mid_stream_loses_no_job(rotating: dict[str, Proc]) -> None:
    identity, worker, relay = rotating["identity"], rotating["worker"], rotating["relay"]
    jobs = [(new_id(), {"task": "primes", "limit": 100 + i}) for i in range(24)]
    attempts: dict[str, list[int]] = {}

    def deliver(message_id: str, job: dict[str, Any]) -> None:
        # Eventarc's part: redeliver after every failure (faster than its real backoff).
        statuses = attempts.setdefault(message_id, [])
        while len(statuses) < 40:
            statuses.append(publish(relay, job, message_id=message_id).status_code)
            if statuses[-1] == 200:
                return
            time.sleep(0.25)

    for message_id, job in jobs[:4]:
        deliver(message_id, job)
    # New tokens are signed with the new key at once; the certs list it only 2.5 s later.
    requests.post(identity.url + "/_rotate", params={"publish_after": "2.5"}, timeout=5)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda item: (deliver(*item), time.sleep(0.1)), jobs[4:]))

    assert all(statuses[-1] == 200 for statuses in attempts.values()), attempts
    assert any(500 in statuses for statuses in attempts.values()), "the rotation window was never hit"
    for message_id, _ in jobs:  # every job processed exactly once, none given up
        assert len(processed(worker, message_id)) == 1
    assert dead_letters(rotating["pubsub"]) == []
    refused = [r for r in records(worker, message="request") if r["status"] == 503]
    assert refused and all("key id is not in" in r["reason"] for r in refused)
    assert not [r for r in records(worker, message="request") if r["status"] in (401, 403)]
    assert stats(identity)["rotations"] == 1
