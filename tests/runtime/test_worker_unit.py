"""Worker units: idempotency store, jobs, settings, token verifier, and the Flask app via its test client."""

# The worker package is importable from services/worker only (as in its container), which the
# type checker cannot see from here.

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from local.processes import Proc
from tests.runtime.helpers import AUDIENCE, OTHER_EMAIL, RELAY_EMAIL, TokenForge, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from worker import jobs
from worker.app import create_app
from worker.auth import (
    CallerNotAllowed,
    CertsUnavailable,
    InvalidToken,
    TokenVerifier,
    bearer_token,
    fresh_seconds,
)
from worker.config import ConfigError, WorkerConfig, load_config
from worker.idempotency import IdempotencyStore, StillProcessing

# --- idempotency -----------------------------------------------------------------------------------


def test_store_computes_once_and_replays_the_result() -> None:
    store = IdempotencyStore()
    calls: list[int] = []

    def compute() -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls)}

    assert store.run_once("m1", compute) == ({"n": 1}, False)
    assert store.run_once("m1", compute) == ({"n": 1}, True)
    assert store.run_once("m2", compute) == ({"n": 2}, False)
    assert len(calls) == 2


def test_store_forgets_a_failed_attempt_so_the_retry_computes() -> None:
    store = IdempotencyStore()

    def boom() -> dict[str, Any]:
        raise RuntimeError("transient")

    with pytest.raises(RuntimeError):
        store.run_once("m", boom)
    assert store.run_once("m", lambda: {"ok": True}) == ({"ok": True}, False)


def test_store_entries_expire_after_ttl() -> None:
    now = [1000.0]
    store = IdempotencyStore(ttl_seconds=60, clock=lambda: now[0])
    store.run_once("m", lambda: {"v": 1})
    now[0] += 59
    assert store.run_once("m", lambda: {"v": 2}) == ({"v": 1}, True)
    now[0] += 2
    assert store.run_once("m", lambda: {"v": 3}) == ({"v": 3}, False)


def test_store_memory_is_bounded() -> None:
    store = IdempotencyStore(max_entries=100)
    for i in range(1000):
        store.run_once(f"m{i}", lambda: {})
    assert len(store) == 100
    # The oldest ids were evicted; the newest are still remembered.
    assert store.run_once("m999", lambda: {"new": True})[1] is True
    assert store.run_once("m0", lambda: {"new": True}) == ({"new": True}, False)


def test_store_concurrent_same_id_computes_once() -> None:
    store = IdempotencyStore()
    calls: list[int] = []
    start = threading.Barrier(8)
    results: list[tuple[dict[str, Any], bool]] = []

    def compute() -> dict[str, Any]:
        calls.append(1)
        time.sleep(0.05)
        return {"v": 42}

    def request() -> None:
        start.wait()
        results.append(store.run_once("same", compute))

    threads = [threading.Thread(target=request) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert sorted(dup for _, dup in results) == [False] + [True] * 7
    assert all(result == {"v": 42} for result, _ in results)


def test_store_waiter_gives_up_when_the_first_attempt_is_still_running() -> None:
    store = IdempotencyStore()
    release = threading.Event()
    owner = threading.Thread(target=lambda: store.run_once("slow", lambda: (release.wait(5), {})[1]))
    owner.start()
    try:
        deadline = time.monotonic() + 5
        while len(store) == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        with pytest.raises(StillProcessing):
            store.run_once("slow", lambda: {"second": True}, wait_seconds=0.05)
    finally:
        release.set()
        owner.join()


class _Running:
    """A job held running in its own thread until released; counts how often it was computed."""

    def __init__(self, store: IdempotencyStore, key: str) -> None:
        self.calls = 0
        self.release = threading.Event()
        self.started = threading.Event()
        self.outcome: list[tuple[dict[str, Any], bool]] = []

        def compute() -> dict[str, Any]:
            self.calls += 1
            self.started.set()
            self.release.wait(5)
            return {"key": key}

        self.compute = compute
        self.thread = threading.Thread(target=lambda: self.outcome.append(store.run_once(key, compute)))
        self.thread.start()
        assert self.started.wait(5)

    def finish(self) -> None:
        self.release.set()
        self.thread.join(5)


def test_store_never_evicts_a_running_job() -> None:
    store = IdempotencyStore(max_entries=2)
    running = _Running(store, "long")
    try:
        # Enough finished ids to push the cap several times over; the running one is older than all.
        for i in range(10):
            store.run_once(f"quick{i}", lambda: {})
        assert len(store) == 2
        duplicate: list[tuple[dict[str, Any], bool]] = []
        waiter = threading.Thread(target=lambda: duplicate.append(store.run_once("long", running.compute)))
        waiter.start()
        time.sleep(0.05)
        assert running.calls == 1  # the duplicate waits for the first attempt instead of running it again
        running.finish()
        waiter.join(5)
    finally:
        running.finish()
    assert running.calls == 1
    assert running.outcome == [({"key": "long"}, False)]
    assert duplicate == [({"key": "long"}, True)]


def test_store_evicts_the_oldest_finished_entry_first() -> None:
    store = IdempotencyStore(max_entries=3)
    running = _Running(store, "a-running")
    try:
        store.run_once("b", lambda: {})
        store.run_once("c", lambda: {})
        store.run_once("d", lambda: {})  # over the cap: "b" goes, not the older running "a-running"
        assert len(store) == 3
        assert store.run_once("c", lambda: {"again": True})[1] is True
        assert store.run_once("d", lambda: {"again": True})[1] is True
        with pytest.raises(StillProcessing):
            store.run_once("a-running", lambda: {"again": True}, wait_seconds=0.01)
    finally:
        running.finish()
    assert running.calls == 1
    assert store.run_once("b", lambda: {"again": True}) == ({"again": True}, False)


def test_store_exceeds_its_cap_while_every_entry_is_running_then_shrinks() -> None:
    store = IdempotencyStore(max_entries=2)
    jobs_running = [_Running(store, f"r{i}") for i in range(4)]
    try:
        assert len(store) == 4  # over the cap rather than forgetting a running job
        for i, job in enumerate(jobs_running):
            with pytest.raises(StillProcessing):
                store.run_once(f"r{i}", job.compute, wait_seconds=0.01)
    finally:
        for job in jobs_running:
            job.finish()
    assert [job.calls for job in jobs_running] == [1, 1, 1, 1]
    store.run_once("next", lambda: {})
    assert len(store) == 2


def test_store_expiry_is_not_held_up_by_an_older_running_entry() -> None:
    now = [1000.0]
    store = IdempotencyStore(ttl_seconds=60, clock=lambda: now[0])
    running = _Running(store, "first")
    try:
        store.run_once("done", lambda: {"v": 1})
        now[0] += 61
        assert store.run_once("other", lambda: {})[1] is False
        assert len(store) == 2  # "done" expired although the running "first" is older
    finally:
        running.finish()


# --- jobs ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "count", "largest"),
    [(2, 0, None), (3, 1, 2), (100, 25, 97), (1_000_000, 78498, 999983)],
)
def test_count_primes(limit: int, count: int, largest: int | None) -> None:
    assert jobs.count_primes(limit) == {"limit": limit, "prime_count": count, "largest_prime": largest}


def test_hash_job_is_deterministic_and_depends_on_its_inputs() -> None:
    one = jobs.run(jobs.validate({"task": "hash", "input": "a", "iterations": 1000}))
    assert one == jobs.run(jobs.validate({"task": "hash", "input": "a", "iterations": 1000}))
    assert one != jobs.run(jobs.validate({"task": "hash", "input": "a", "iterations": 1001}))
    assert one != jobs.run(jobs.validate({"task": "hash", "input": "b", "iterations": 1000}))
    assert len(one["sha256_pbkdf2"]) == 64


@pytest.mark.parametrize(
    ("job", "message"),
    [
        ("primes", "`job` must be an object"),
        ({"task": "sleep"}, "`task` must be one of"),
        ({"task": "primes"}, "`limit` must be an integer"),
        ({"task": "primes", "limit": True}, "`limit` must be an integer"),
        ({"task": "primes", "limit": 2.5}, "`limit` must be an integer"),
        ({"task": "primes", "limit": 1}, "`limit` must be between 2 and"),
        ({"task": "primes", "limit": 10**9}, "`limit` must be between 2 and"),
        ({"task": "hash", "iterations": 0}, "`iterations` must be between 1 and"),
        ({"task": "hash", "iterations": 5, "input": "x" * 2000}, "`input` must be a string"),
        ({"task": "hash", "iterations": 5, "input": 7}, "`input` must be a string"),
    ],
)
def test_invalid_jobs_are_rejected_with_the_field_named(job: Any, message: str) -> None:
    with pytest.raises(jobs.InvalidJob, match=message.replace("`", ".")):
        jobs.validate(job)


# --- settings ------------------------------------------------------------------------------------

BASE_ENV = {
    "INVOKER_AUDIENCE": AUDIENCE,
    "ALLOWED_INVOKERS": f" {RELAY_EMAIL.upper()} , ,other@x.iam.gserviceaccount.com",
}


def test_config_reads_the_stack_contract() -> None:
    config = load_config(BASE_ENV)
    assert config.audience == AUDIENCE
    assert config.allowed_invokers == {RELAY_EMAIL, "other@x.iam.gserviceaccount.com"}
    assert config.certs_url == "https://www.googleapis.com/oauth2/v1/certs"
    assert config.upstream_api_key is None
    assert config.verify_tokens is True
    assert config.threads == 8
    assert load_config({**BASE_ENV, "WORKER_THREADS": "16"}).threads == 16


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"INVOKER_AUDIENCE": ""}, "INVOKER_AUDIENCE is not set"),
        ({"ALLOWED_INVOKERS": " , "}, "ALLOWED_INVOKERS is empty"),
        ({"ALLOWED_INVOKERS": "relay-sa"}, "ALLOWED_INVOKERS has entries that are not emails: relay-sa"),
        ({"GOOGLE_CERTS_URL": "file:///etc/passwd"}, "GOOGLE_CERTS_URL is not an http"),
        ({"WORKER_THREADS": "0"}, "WORKER_THREADS must be an integer within 1..100, got '0'"),
        ({"WORKER_THREADS": "many"}, "WORKER_THREADS must be an integer within 1..100, got 'many'"),
    ],
)
def test_config_errors_name_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config({**BASE_ENV, **change})


HARNESS = {"SECURE_INVOKE_BENCH_AUTH_OFF": "1", "SECURE_INVOKE_BENCH_HARNESS": "1", "HOST": "127.0.0.1"}


def test_auth_can_be_switched_off_only_inside_the_benchmark_harness() -> None:
    assert load_config({**BASE_ENV, **HARNESS}).verify_tokens is False


@pytest.mark.parametrize(
    "change",
    [
        {"SECURE_INVOKE_BENCH_HARNESS": ""},  # the flag alone
        {"K_SERVICE": "worker-dev"},  # on Cloud Run
        {"HOST": "0.0.0.0"},  # noqa: S104 -- reachable from outside the machine
        {"HOST": ""},
    ],
)
def test_auth_off_flag_outside_the_harness_refuses_to_start(change: dict[str, str]) -> None:
    env = {k: v for k, v in {**BASE_ENV, **HARNESS, **change}.items() if v}
    with pytest.raises(ConfigError, match="refusing to start"):
        load_config(env)


# --- token verifier against the stand-in's certs endpoint ------------------------------------------


@pytest.fixture(scope="module")
def verifier(identity: Proc) -> TokenVerifier:
    return TokenVerifier(AUDIENCE, frozenset({RELAY_EMAIL}), identity.url + "/oauth2/v1/certs")


def test_verifier_accepts_a_valid_token_case_insensitively(verifier: TokenVerifier, forge: TokenForge) -> None:
    caller = verifier.verify(f"Bearer {forge.sign(forge.claims(email=RELAY_EMAIL.upper()))}")
    assert caller.email == RELAY_EMAIL.upper()
    assert verifier.verify(f"bearer {forge.sign()}").email == RELAY_EMAIL


def test_verifier_rejects_other_callers_with_403(verifier: TokenVerifier, forge: TokenForge) -> None:
    with pytest.raises(CallerNotAllowed) as caught:
        verifier.verify(f"Bearer {forge.sign(forge.claims(email=OTHER_EMAIL))}")
    assert caught.value.email == OTHER_EMAIL


def test_verifier_reasons(verifier: TokenVerifier, forge: TokenForge) -> None:
    now = int(time.time())
    cases = {
        "wrong audience": (forge.sign(forge.claims(aud="https://x.example")), "wrong audience"),
        "expired": (forge.sign(forge.claims(iat=now - 7200, exp=now - 3600)), "Token expired"),
        # Within the bounded clock skew (10 s) an expired token is still accepted, beyond it not.
        "expired beyond skew": (forge.sign(forge.claims(iat=now - 3600, exp=now - 15)), "Token expired"),
        "wrong issuer": (forge.sign(forge.claims(iss="accounts.google.com.evil")), "wrong issuer"),
        "unverified email": (forge.sign(forge.claims(email_verified=False)), "email_verified is not true"),
        "foreign key": (forge.sign(signer=forge.foreign_signer()), "Could not verify token signature"),
        "alg none": ("eyJhbGciOiJub25lIn0.e30.", "Unsupported signature algorithm none"),
        "garbage": ("aaaa.bbbb.cccc", "MalformedError"),
    }
    for name, (token, reason) in cases.items():
        with pytest.raises(InvalidToken) as caught:
            verifier.verify(f"Bearer {token}")
        assert reason in str(caught.value), name
        assert token not in str(caught.value), f"{name}: the token must not be echoed into logs"
    # Within the skew: accepted.
    assert verifier.verify(f"Bearer {forge.sign(forge.claims(iat=now - 3600, exp=now - 5))}").email == RELAY_EMAIL


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no Authorization header"),
        ("", "no Authorization"),
        ("Basic abc", "not `Bearer"),
        ("Bearer ", "not `Bearer"),
    ],
)
def test_bearer_header_parsing(header: str | None, reason: str) -> None:
    with pytest.raises(InvalidToken, match=reason.replace("`", ".")):
        bearer_token(header)


def test_oversized_token_is_rejected_before_any_crypto() -> None:
    with pytest.raises(InvalidToken, match="too long"):
        bearer_token("Bearer " + "a" * 9000)


def test_certs_endpoint_failures_are_503_not_401(forge: TokenForge, worker: Proc, identity: Proc) -> None:
    for certs_url in (worker.url + "/healthz", identity.url + "/no-such-path", "http://127.0.0.1:9/certs"):
        verifier = TokenVerifier(AUDIENCE, frozenset({RELAY_EMAIL}), certs_url)
        with pytest.raises(CertsUnavailable):
            verifier.verify(f"Bearer {forge.sign()}")


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Cache-Control": "public, max-age=19876, must-revalidate, no-transform"}, 19876),
        ({"cache-control": "max-age=300", "Age": "100"}, 200),
        ({"Cache-Control": "max-age=30", "Age": "100"}, 0),
        ({"Cache-Control": "no-cache, max-age=300"}, 0),
        ({"Cache-Control": "no-store"}, 0),
        ({"Cache-Control": "max-age=soon"}, 0),
        ({"Cache-Control": "max-age=999999999"}, 24 * 3600),
        ({"Expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, 0),  # left to CacheControl's HTTP cache
        ({}, 0),
    ],
)
def test_certs_reuse_follows_max_age(headers: dict[str, str], seconds: float) -> None:
    assert fresh_seconds(headers) == seconds


def test_verifier_caches_certs_across_calls(launcher: Any, forge: TokenForge) -> None:
    own = launcher.identity(RELAY_EMAIL, "identity-unit-cache", certs_max_age=300)
    verifier = TokenVerifier(AUDIENCE, frozenset({RELAY_EMAIL}), own.url + "/oauth2/v1/certs")
    token = f"Bearer {forge.sign()}"
    threads = [threading.Thread(target=lambda: [verifier.verify(token) for _ in range(50)]) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stats(own)["certs_served"] == 1


# --- the app through Flask's test client ---------------------------------------------------------


def _config(identity: Proc, verify: bool = True) -> WorkerConfig:
    return WorkerConfig(AUDIENCE, frozenset({RELAY_EMAIL}), identity.url + "/oauth2/v1/certs", None, verify)


def test_app_runs_a_job_for_the_allowed_caller_and_logs_it(
    identity: Proc, forge: TokenForge, capsys: pytest.CaptureFixture[str]
) -> None:
    client = create_app(_config(identity)).test_client()
    headers = {"Authorization": f"Bearer {forge.sign()}"}
    response = client.post("/jobs", json={"id": "u1", "job": {"task": "primes", "limit": 100}}, headers=headers)
    assert response.status_code == 200
    assert response.get_json() == {
        "id": "u1",
        "task": "primes",
        "result": {"limit": 100, "prime_count": 25, "largest_prime": 97},
        "caller": RELAY_EMAIL,
        "duplicate": False,
    }
    again = client.post("/jobs", json={"id": "u1", "job": {"task": "primes", "limit": 100}}, headers=headers)
    assert again.get_json()["duplicate"] is True
    out = capsys.readouterr().out
    assert out.count('"message": "job processed"') == 1
    assert out.count(f'"caller": "{RELAY_EMAIL}"') >= 3  # processed + two audit lines
    assert forge.sign() not in out


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("not json", 400, "body must be a JSON object"),
        ({"job": {"task": "primes", "limit": 10}}, 400, "`id` must be a string"),
        ({"id": "x" * 200, "job": {"task": "primes", "limit": 10}}, 400, "`id` must be a string"),
        ({"id": "ok", "job": {"task": "primes", "limit": 0}}, 400, "`limit` must be between"),
        ({"id": "big", "job": {"task": "hash", "input": "x" * 70_000, "iterations": 1}}, 413, "body larger than"),
    ],
)
def test_app_rejects_bad_bodies(identity: Proc, forge: TokenForge, body: Any, status: int, error: str) -> None:
    client = create_app(_config(identity)).test_client()
    headers = {"Authorization": f"Bearer {forge.sign()}"}
    if isinstance(body, str):
        response = client.post("/jobs", data=body, headers={**headers, "Content-Type": "application/json"})
    else:
        response = client.post("/jobs", json=body, headers=headers)
    assert response.status_code == status
    assert error in response.get_json()["error"]


def test_app_without_verification_in_the_harness(identity: Proc) -> None:
    client = create_app(_config(identity, verify=False)).test_client()
    response = client.post("/jobs", json={"id": "nv", "job": {"task": "primes", "limit": 10}})
    assert response.status_code == 200
    assert response.get_json()["caller"] is None


def test_app_get_on_jobs_is_not_allowed(identity: Proc) -> None:
    client = create_app(_config(identity)).test_client()
    assert client.get("/jobs").status_code == 405
    assert client.get("/healthz").data == b"ok\n"
