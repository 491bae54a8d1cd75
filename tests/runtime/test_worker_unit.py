"""Worker units: idempotency store, jobs, settings, token verifier, and the Flask app via its test client."""

# The worker package is importable from services/worker only (as in its container), which the
# type checker cannot see from here.

from __future__ import annotations

import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from local.processes import Proc
from tests.runtime.helpers import AUDIENCE, OTHER_EMAIL, RELAY_EMAIL, TokenForge, b64url, stats

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from worker import jobs
from worker.app import create_app
from worker.auth import (
    SIGNATURE_REMOVED,
    CallerNotAllowed,
    CertsUnavailable,
    InvalidToken,
    NotValidNow,
    TokenVerifier,
    bearer_token,
    parse_token,
)
from worker.certs import fresh_seconds
from worker.environment import ConfigError, WorkerConfig, load_config
from worker.idempotency import Conflict, IdempotencyStore, StillProcessing

# --- idempotency -----------------------------------------------------------------------------------


def test_store_computes_once_and_replays_the_result() -> None:
    store = IdempotencyStore()
    calls: list[int] = []

    def compute() -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls)}

    assert store.run_once(("c", "m1"), compute) == ({"n": 1}, False)
    assert store.run_once(("c", "m1"), compute) == ({"n": 1}, True)
    assert store.run_once(("c", "m2"), compute) == ({"n": 2}, False)
    assert len(calls) == 2


def test_store_keys_results_by_caller_and_refuses_a_reused_id_with_another_job() -> None:
    store = IdempotencyStore()
    assert store.run_once(("relay-a", "m1"), lambda: {"who": "a"}, "digest-1") == ({"who": "a"}, False)
    # Another caller with the same id is another job: computed for it, never handed a's result.
    assert store.run_once(("relay-b", "m1"), lambda: {"who": "b"}, "digest-1") == ({"who": "b"}, False)
    assert store.run_once(("relay-a", "m1"), lambda: {"who": "x"}, "digest-1") == ({"who": "a"}, True)
    with pytest.raises(Conflict):
        store.run_once(("relay-a", "m1"), lambda: {"who": "x"}, "digest-2")


def test_store_conflict_is_detected_while_the_first_job_still_runs() -> None:
    store = IdempotencyStore()
    running = _Running(store, "busy")
    try:
        with pytest.raises(Conflict):
            store.run_once(("c", "busy"), lambda: {}, "another digest")
    finally:
        running.finish()


def test_store_forgets_a_failed_attempt_so_the_retry_computes() -> None:
    store = IdempotencyStore()

    def boom() -> dict[str, Any]:
        raise RuntimeError("transient")

    with pytest.raises(RuntimeError):
        store.run_once(("c", "m"), boom)
    assert store.run_once(("c", "m"), lambda: {"ok": True}) == ({"ok": True}, False)


def test_store_entries_expire_after_ttl() -> None:
    now = [1000.0]
    store = IdempotencyStore(ttl_seconds=60, clock=lambda: now[0])
    store.run_once(("c", "m"), lambda: {"v": 1})
    now[0] += 59
    assert store.run_once(("c", "m"), lambda: {"v": 2}) == ({"v": 1}, True)
    now[0] += 2
    assert store.run_once(("c", "m"), lambda: {"v": 3}) == ({"v": 3}, False)


def test_store_memory_is_bounded() -> None:
    store = IdempotencyStore(max_entries=100)
    for i in range(1000):
        store.run_once(("c", f"m{i}"), lambda: {})
    assert len(store) == 100
    # The oldest ids were evicted; the newest are still remembered.
    assert store.run_once(("c", "m999"), lambda: {"new": True})[1] is True
    assert store.run_once(("c", "m0"), lambda: {"new": True}) == ({"new": True}, False)


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
        results.append(store.run_once(("c", "same"), compute))

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
    owner = threading.Thread(target=lambda: store.run_once(("c", "slow"), lambda: (release.wait(5), {})[1]))
    owner.start()
    try:
        deadline = time.monotonic() + 5
        while len(store) == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        with pytest.raises(StillProcessing):
            store.run_once(("c", "slow"), lambda: {"second": True}, wait_seconds=0.05)
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
        self.thread = threading.Thread(target=lambda: self.outcome.append(store.run_once(("c", key), compute)))
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
            store.run_once(("c", f"quick{i}"), lambda: {})
        assert len(store) == 2
        duplicate: list[tuple[dict[str, Any], bool]] = []
        waiter = threading.Thread(target=lambda: duplicate.append(store.run_once(("c", "long"), running.compute)))
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
        store.run_once(("c", "b"), lambda: {})
        store.run_once(("c", "c"), lambda: {})
        store.run_once(("c", "d"), lambda: {})  # over the cap: "b" goes, not the older running "a-running"
        assert len(store) == 3
        assert store.run_once(("c", "c"), lambda: {"again": True})[1] is True
        assert store.run_once(("c", "d"), lambda: {"again": True})[1] is True
        with pytest.raises(StillProcessing):
            store.run_once(("c", "a-running"), lambda: {"again": True}, wait_seconds=0.01)
    finally:
        running.finish()
    assert running.calls == 1
    assert store.run_once(("c", "b"), lambda: {"again": True}) == ({"again": True}, False)


def test_store_exceeds_its_cap_while_every_entry_is_running_then_shrinks() -> None:
    store = IdempotencyStore(max_entries=2)
    jobs_running = [_Running(store, f"r{i}") for i in range(4)]
    try:
        assert len(store) == 4  # over the cap rather than forgetting a running job
        for i, job in enumerate(jobs_running):
            with pytest.raises(StillProcessing):
                store.run_once(("c", f"r{i}"), job.compute, wait_seconds=0.01)
    finally:
        for job in jobs_running:
            job.finish()
    assert [job.calls for job in jobs_running] == [1, 1, 1, 1]
    store.run_once(("c", "next"), lambda: {})
    assert len(store) == 2


def test_store_expiry_is_not_held_up_by_an_older_running_entry() -> None:
    now = [1000.0]
    store = IdempotencyStore(ttl_seconds=60, clock=lambda: now[0])
    running = _Running(store, "first")
    try:
        store.run_once(("c", "done"), lambda: {"v": 1})
        now[0] += 61
        assert store.run_once(("c", "other"), lambda: {})[1] is False
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


def _no_key() -> str:
    raise AssertionError("a job that needs no key asked for it")


def test_hash_job_is_deterministic_and_depends_on_its_inputs() -> None:
    one = jobs.run(jobs.validate({"task": "hash", "input": "a", "iterations": 1000}), _no_key)
    assert one == jobs.run(jobs.validate({"task": "hash", "input": "a", "iterations": 1000}), _no_key)
    assert one != jobs.run(jobs.validate({"task": "hash", "input": "a", "iterations": 1001}), _no_key)
    assert one != jobs.run(jobs.validate({"task": "hash", "input": "b", "iterations": 1000}), _no_key)
    assert len(one["sha256_pbkdf2"]) == 64


def test_sign_job_is_the_hmac_of_its_input_under_the_upstream_key() -> None:
    import hashlib
    import hmac

    job = jobs.validate({"task": "sign", "input": "payload"})
    signed = jobs.run(job, lambda: "key-1")
    assert signed == {"hmac_sha256": hmac.new(b"key-1", b"payload", hashlib.sha256).hexdigest(), "input_chars": 7}
    assert jobs.run(job, lambda: "key-2") != signed  # it depends on the key it is given


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
        ({"task": "sign"}, "`input` must be a string of 1 to"),
        ({"task": "sign", "input": ""}, "`input` must be a string of 1 to"),
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
    assert config.upstream_api_key_file is None
    assert load_config({**BASE_ENV, "UPSTREAM_API_KEY_FILE": "/secrets/key/value"}).upstream_api_key_file == (
        "/secrets/key/value"
    )
    assert config.verify_tokens is True
    assert config.threads == 8
    assert (config.certs_fetch_deadline_seconds, config.certs_refresh_interval_seconds) == (5.0, 30.0)
    assert config.certs_max_stale_seconds == 3600.0
    assert config.project is None
    assert config.behind_cloud_run_invoker_check is False
    on_cloud_run = {**BASE_ENV, "CLOUD_RUN_INVOKER_IAM_CHECK": "enforced", "K_SERVICE": "worker-dev"}
    assert load_config(on_cloud_run).behind_cloud_run_invoker_check is True
    assert load_config(
        {**on_cloud_run, "HOST": "127.0.0.1", "UNIX_SOCKET": "/run/w.sock"}
    ).behind_cloud_run_invoker_check
    tuned = load_config(
        {
            **BASE_ENV,
            "WORKER_THREADS": "16",
            "CERTS_FETCH_DEADLINE_SECONDS": "2.5",
            "CERTS_REFRESH_INTERVAL_SECONDS": "60",
            "CERTS_MAX_STALE_SECONDS": "0",
            "GOOGLE_CLOUD_PROJECT": "acme-secure-invoke-dev",
        }
    )
    assert tuned.threads == 16
    assert (tuned.certs_fetch_deadline_seconds, tuned.certs_refresh_interval_seconds) == (2.5, 60.0)
    assert tuned.certs_max_stale_seconds == 0.0
    assert tuned.project == "acme-secure-invoke-dev"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"INVOKER_AUDIENCE": ""}, "INVOKER_AUDIENCE is not set"),
        ({"ALLOWED_INVOKERS": " , "}, "ALLOWED_INVOKERS is empty"),
        ({"ALLOWED_INVOKERS": "relay-sa"}, "ALLOWED_INVOKERS has entries that are not emails: relay-sa"),
        (
            {"ALLOWED_INVOKERS": RELAY_EMAIL.replace("k", "\u212a")},
            "ALLOWED_INVOKERS has non-ASCII entries: 'relay-runtime-test@secure-invo\\u212ae",
        ),
        ({"GOOGLE_CERTS_URL": "file:///etc/passwd"}, "GOOGLE_CERTS_URL is not an http"),
        ({"WORKER_THREADS": "0"}, "WORKER_THREADS must be an integer within 1..100, got '0'"),
        ({"WORKER_THREADS": "many"}, "WORKER_THREADS must be an integer within 1..100, got 'many'"),
        ({"CERTS_FETCH_DEADLINE_SECONDS": "0"}, "CERTS_FETCH_DEADLINE_SECONDS must be a number of seconds within"),
        ({"CERTS_REFRESH_INTERVAL_SECONDS": "nan"}, "CERTS_REFRESH_INTERVAL_SECONDS must be a number of seconds"),
        ({"CERTS_MAX_STALE_SECONDS": "-1"}, "CERTS_MAX_STALE_SECONDS must be a number of seconds within 0..86400"),
        ({"GOOGLE_CLOUD_PROJECT": "Not A Project"}, "GOOGLE_CLOUD_PROJECT is not a project id"),
        (
            {"OPERATOR_INVOKERS": "op@x.iam.gserviceaccount.com"},
            "OPERATOR_INVOKERS has entries that are not in ALLOWED_INVOKERS: op@x.iam.gserviceaccount.com",
        ),
        ({"OPERATOR_INVOKERS": "operator"}, "OPERATOR_INVOKERS has entries that are not emails: operator"),
        ({"CLOUD_RUN_INVOKER_IAM_CHECK": "yes"}, "CLOUD_RUN_INVOKER_IAM_CHECK must be 'enforced' or unset, got 'yes'"),
        ({"CLOUD_RUN_INVOKER_IAM_CHECK": "enforced"}, "K_SERVICE is not: not on Cloud Run; refusing to start"),
        (
            {"CLOUD_RUN_INVOKER_IAM_CHECK": "enforced", "K_SERVICE": "worker-dev", "HOST": "127.0.0.1"},
            "CLOUD_RUN_INVOKER_IAM_CHECK is set on a loopback port",
        ),
    ],
)
def test_config_errors_name_the_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
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
    return TokenVerifier(AUDIENCE, {RELAY_EMAIL: "relay"}, identity.url + "/oauth2/v1/certs")


def test_verifier_accepts_a_valid_token_case_insensitively(verifier: TokenVerifier, forge: TokenForge) -> None:
    caller = verifier.verify(f"Bearer {forge.sign(forge.claims(email=RELAY_EMAIL.upper()))}")
    assert caller.email == RELAY_EMAIL.upper()
    assert caller.kind == "relay"
    assert caller.subject == "123456789012345678901" and caller.audience == AUDIENCE
    assert verifier.verify(f"bearer {forge.sign()}").email == RELAY_EMAIL


def test_verifier_rejects_other_callers_with_403(verifier: TokenVerifier, forge: TokenForge) -> None:
    with pytest.raises(CallerNotAllowed) as caught:
        verifier.verify(f"Bearer {forge.sign(forge.claims(email=OTHER_EMAIL))}")
    assert caught.value.caller.email == OTHER_EMAIL
    assert caught.value.caller.kind is None


def test_verifier_refuses_addresses_that_match_only_by_unicode_folding(
    verifier: TokenVerifier, forge: TokenForge
) -> None:
    for look_alike in (RELAY_EMAIL.replace("k", "\u212a"), RELAY_EMAIL.replace("i", "\u0130", 1)):
        with pytest.raises(CallerNotAllowed):
            verifier.verify(f"Bearer {forge.sign(forge.claims(email=look_alike))}")


def test_verifier_reasons(verifier: TokenVerifier, forge: TokenForge) -> None:
    now = int(time.time())
    cases = {
        "wrong audience": (forge.sign(forge.claims(aud="https://x.example")), "wrong audience"),
        "exp before iat": (forge.sign(forge.claims(iat=now, exp=now - 1)), "expires before it was issued"),
        "two-hour lifetime": (forge.sign(forge.claims(iat=now, exp=now + 7200)), "lifetime exceeds one hour"),
        "wrong issuer": (forge.sign(forge.claims(iss="accounts.google.com.evil")), "issuer is not Google"),
        "unverified email": (forge.sign(forge.claims(email_verified=False)), "email_verified is not true"),
        "no sub": (forge.sign(forge.claims(sub=None)), "no sub claim"),
        # Python's JSON admits these; an exp of NaN would otherwise pass every comparison.
        "exp NaN": (forge.sign(forge.claims(exp=float("nan"))), "iat and exp must be numbers"),
        "exp Infinity": (forge.sign(forge.claims(exp=float("inf"))), "iat and exp must be numbers"),
        "nbf NaN": (forge.sign(forge.claims(nbf=float("nan"))), "nbf must be a number"),
        "foreign key": (forge.sign(signer=forge.foreign_signer()), "signature does not verify"),
        "alg none": ("eyJhbGciOiJub25lIn0.e30.", "algorithm is not RS256"),
        "garbage": ("aaaa.bbbb.cccc", "malformed token"),
        "kid not a string": (f"{b64url({'alg': 'RS256', 'kid': 7})}.{b64url(forge.claims())}.c2ln", "malformed key id"),
        "non-ASCII": ("\u00e9" * 20, "malformed token"),
    }
    for name, (token, reason) in cases.items():
        with pytest.raises(InvalidToken) as caught:
            verifier.verify(f"Bearer {token}")
        assert str(caught.value) == reason, name
    # Within the bounded skew (10 s): accepted.
    assert verifier.verify(f"Bearer {forge.sign(forge.claims(iat=now - 3600, exp=now - 5))}").email == RELAY_EMAIL
    assert verifier.verify(f"Bearer {forge.sign(forge.claims(nbf=now + 5))}").email == RELAY_EMAIL


def test_a_genuine_token_outside_its_time_window_cannot_be_judged_now(
    verifier: TokenVerifier, forge: TokenForge
) -> None:
    # Beyond the skew, a Google-signed token of an allowed caller is "cannot tell now" (503), never a verdict:
    # the clocks disagree or the caller holds an old token, and a later attempt succeeds.
    now = int(time.time())
    cases = {
        "expired beyond skew": (forge.claims(iat=now - 3600, exp=now - 15), "token expired by this worker's clock", 5),
        "issued in the future": (forge.claims(iat=now + 60, exp=now + 3660), "token issued in the future by this worker's clock", 50),
        "nbf beyond skew": (forge.claims(nbf=now + 15), "token not valid yet (nbf) by this worker's clock", 5),
    }  # fmt: skip
    for name, (claims, reason, retry_after) in cases.items():
        with pytest.raises(NotValidNow) as caught:
            verifier.verify(f"Bearer {forge.sign(claims)}")
        assert caught.value.reason == reason, name
        assert abs(caught.value.retry_after - retry_after) <= 2, name
        assert caught.value.caller.email == RELAY_EMAIL
    # Only for a token that is genuine and allowed: signed by another key it is invalid; another caller, 403.
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verifier.verify(f"Bearer {forge.sign(forge.claims(iat=now + 60, exp=now + 3660), forge.foreign_signer())}")
    with pytest.raises(CallerNotAllowed):
        verifier.verify(f"Bearer {forge.sign(forge.claims(iat=now + 60, exp=now + 3660, email=OTHER_EMAIL))}")


def test_tokens_are_decoded_strictly(verifier: TokenVerifier, forge: TokenForge) -> None:
    token = forge.sign()
    header, claims, signature = token.split(".")
    assert parse_token(token).claims["email"] == RELAY_EMAIL
    assert parse_token(f"{header}.{claims}.{SIGNATURE_REMOVED}").stripped
    for bad in (
        f"{token}==",  # padding
        f"{header}=.{claims}.{signature}",
        f"{header}.{claims}.{signature[:-1]}+",  # base64, not base64url
        f"{header}.{claims}.{signature}.x",
        f"{header}.{claims}",
        f"{header[:-1]}{'B' if header[-1] != 'B' else 'C'}.{claims}.{signature}",  # stray bits or other JSON
    ):
        with pytest.raises(InvalidToken):
            verifier.verify(f"Bearer {bad}")
    for header_value in (f"Bearer {token} !!!", f"Bearer {token} {token}", f"Bearer {token}\t!"):
        with pytest.raises(InvalidToken, match="not `Bearer <token>`"):
            verifier.verify(header_value)
    assert verifier.verify(f"Bearer   {token}").email == RELAY_EMAIL  # RFC 6750: one or more spaces


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "no Authorization header"),
        ("", "no Authorization"),
        ("Basic abc", "not `Bearer"),
        ("Bearer ", "not `Bearer"),
        ("Bearer a b", "not `Bearer"),
        ("Bearer \u00e9", "malformed token"),
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
        verifier = TokenVerifier(AUDIENCE, {RELAY_EMAIL: "relay"}, certs_url)
        with pytest.raises(CertsUnavailable) as caught:
            verifier.verify(f"Bearer {forge.sign()}")
        assert caught.value.retry_after >= 1


def test_a_token_that_is_invalid_anyway_costs_no_certs_fetch(launcher: Any, forge: TokenForge) -> None:
    own = launcher.identity(RELAY_EMAIL, "identity-unit-nofetch")
    verifier = TokenVerifier(AUDIENCE, {RELAY_EMAIL: "relay"}, own.url + "/oauth2/v1/certs")
    for claims in (forge.claims(aud="https://x.example"), forge.claims(exp=1), forge.claims(iss="evil")):
        with pytest.raises(InvalidToken):
            verifier.verify(f"Bearer {forge.sign(claims, signer=forge.foreign_signer(kid='unknown-kid'))}")
    assert stats(own)["certs_served"] == 0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Cache-Control": "public, max-age=19876, must-revalidate, no-transform"}, 19876),
        ({"cache-control": "max-age=300", "Age": "100"}, 200),
        ({"Cache-Control": "max-age=30", "Age": "100"}, 0),
        ({"Cache-Control": "no-cache, max-age=300"}, 0),
        ({"Cache-Control": "no-store"}, 0),
        ({"Cache-Control": "max-age=soon"}, 0),
        ({"Cache-Control": "max-age=999999999"}, 999999999),  # CertsCache caps it at a day
        ({"Expires": "Thu, 01 Jan 2099 00:00:00 GMT"}, 0),  # no Date to measure it from
        ({"Expires": "Thu, 01 Jan 2099 01:00:00 GMT", "Date": "Thu, 01 Jan 2099 00:00:00 GMT"}, 3600),
        ({"Expires": "soon", "Date": "Thu, 01 Jan 2099 00:00:00 GMT"}, 0),
        ({}, 0),
    ],
)
def test_certs_freshness_follows_http_caching(headers: dict[str, str], seconds: float) -> None:
    assert fresh_seconds(headers) == seconds


def test_verifier_caches_certs_across_calls(launcher: Any, forge: TokenForge) -> None:
    own = launcher.identity(RELAY_EMAIL, "identity-unit-cache", certs_max_age=300)
    verifier = TokenVerifier(AUDIENCE, {RELAY_EMAIL: "relay"}, own.url + "/oauth2/v1/certs")
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


def _audit_lines(out: str) -> list[dict[str, Any]]:
    return [r for r in (json.loads(x) for x in out.splitlines() if x.startswith("{")) if r["message"] == "request"]


def test_app_runs_a_job_for_the_allowed_caller_and_logs_it(
    identity: Proc, forge: TokenForge, capsys: pytest.CaptureFixture[str]
) -> None:
    client = create_app(_config(identity)).test_client()
    token = forge.sign()
    headers = {"Authorization": f"Bearer {token}"}
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
    conflict = client.post("/jobs", json={"id": "u1", "job": {"task": "primes", "limit": 101}}, headers=headers)
    assert conflict.status_code == 409
    assert conflict.get_json() == {"error": "this id was already used for a different job"}
    out = capsys.readouterr().out
    lines = _audit_lines(out)
    assert [(r["status"], r["reason"]) for r in lines] == [
        (200, "processed"),
        (200, "duplicate"),
        (409, "id reused for a different job"),
    ]
    assert all(r["caller"] == RELAY_EMAIL and r["caller_kind"] == "relay" and r["message_id"] == "u1" for r in lines)
    assert token not in out and token.split(".")[2] not in out


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ("not json", 400, "body is not JSON"),
        (b"\xff\xfe", 400, "body is not UTF-8"),
        ("[" * 100_00 + "]" * 100_00, 400, "body is nested too deeply"),
        ('{"id": "n", "job": {"task": "primes", "limit": NaN}}', 400, "body is not JSON"),
        ("[1]", 400, "body must be a JSON object"),
        ({"job": {"task": "primes", "limit": 10}}, 400, "`id` must be a string"),
        ({"id": "x" * 200, "job": {"task": "primes", "limit": 10}}, 400, "`id` must be a string"),
        ({"id": "has space", "job": {"task": "primes", "limit": 10}}, 400, "`id` must be a string"),
        ({"id": "ok", "job": {"task": "primes", "limit": 0}}, 400, "`limit` must be between"),
        ({"id": "ok", "job": {"task": "hash", "input": "\ud800", "iterations": 1}}, 400, "lone surrogate"),
        ({"id": "big", "job": {"task": "hash", "input": "x" * 70_000, "iterations": 1}}, 413, "body larger than"),
    ],
)
def test_app_rejects_bad_bodies(identity: Proc, forge: TokenForge, body: Any, status: int, error: str) -> None:
    client = create_app(_config(identity)).test_client()
    headers = {"Authorization": f"Bearer {forge.sign()}"}
    if isinstance(body, str | bytes):
        response = client.post("/jobs", data=body, headers={**headers, "Content-Type": "application/json"})
    else:
        response = client.post("/jobs", json=body, headers=headers)
    assert response.status_code == status
    assert error in response.get_json()["error"]


def test_app_answers_a_crash_with_json_500_and_one_audit_line(
    identity: Proc, forge: TokenForge, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(job: dict[str, Any], upstream_key: Any) -> dict[str, Any]:
        raise KeyError("something the request said")

    monkeypatch.setattr(jobs, "run", broken)
    client = create_app(_config(identity)).test_client()
    headers = {"Authorization": f"Bearer {forge.sign()}"}
    response = client.post("/jobs", json={"id": "boom", "job": {"task": "primes", "limit": 10}}, headers=headers)
    assert response.status_code == 500
    assert response.get_json() == {"error": "internal error"}
    out = capsys.readouterr().out
    [line] = _audit_lines(out)
    assert line["reason"] == "internal error (KeyError)" and line["severity"] == "ERROR"
    assert line["error_at"].startswith("test_worker_unit.py:")
    assert "Traceback" not in out and "something the request said" not in out
    # The failed computation is forgotten: the retry runs it again.
    monkeypatch.undo()
    again = client.post("/jobs", json={"id": "boom", "job": {"task": "primes", "limit": 10}}, headers=headers)
    assert again.status_code == 200 and again.get_json()["duplicate"] is False


def test_config_marks_operator_invokers_apart_from_relays() -> None:
    config = load_config({**BASE_ENV, "OPERATOR_INVOKERS": " Other@x.iam.gserviceaccount.com "})
    assert config.operator_invokers == {"other@x.iam.gserviceaccount.com"}
    assert config.caller_kinds() == {RELAY_EMAIL: "relay", "other@x.iam.gserviceaccount.com": "operator"}


def test_app_audit_line_tells_an_operator_call_from_the_relays(
    identity: Proc, forge: TokenForge, capsys: pytest.CaptureFixture[str]
) -> None:
    config = WorkerConfig(
        AUDIENCE,
        frozenset({RELAY_EMAIL, OTHER_EMAIL}),
        identity.url + "/oauth2/v1/certs",
        operator_invokers=frozenset({OTHER_EMAIL}),
    )
    client = create_app(config).test_client()
    for email, message_id in ((RELAY_EMAIL, "from-relay"), (OTHER_EMAIL, "from-operator")):
        headers = {"Authorization": f"Bearer {forge.sign(forge.claims(email=email))}"}
        job = {"id": message_id, "job": {"task": "primes", "limit": 10}}
        assert client.post("/jobs", json=job, headers=headers).status_code == 200
    kinds = {r["message_id"]: (r["caller"], r["caller_kind"]) for r in _audit_lines(capsys.readouterr().out)}
    assert kinds == {"from-relay": (RELAY_EMAIL, "relay"), "from-operator": (OTHER_EMAIL, "operator")}


def test_app_without_verification_in_the_harness(identity: Proc) -> None:
    client = create_app(_config(identity, verify=False)).test_client()
    response = client.post("/jobs", json={"id": "nv", "job": {"task": "primes", "limit": 10}})
    assert response.status_code == 200
    assert response.get_json()["caller"] is None


def test_app_get_on_jobs_is_not_allowed(identity: Proc) -> None:
    client = create_app(_config(identity)).test_client()
    response = client.get("/jobs")
    assert response.status_code == 405
    assert response.get_json() == {"error": "method not allowed"}
    assert response.headers["Allow"] == "POST"
    assert client.options("/jobs").status_code == 405  # no automatic OPTIONS: nothing serves browsers
    assert client.get("/healthz").data == b"ok\n"


def test_signature_removed_tokens_are_trusted_only_behind_cloud_runs_check_and_only_where_it_checked(
    identity: Proc, forge: TokenForge
) -> None:
    certs = identity.url + "/oauth2/v1/certs"
    behind = TokenVerifier(AUDIENCE, {RELAY_EMAIL: "relay"}, certs, trust_cloud_run=True)
    elsewhere = TokenVerifier(AUDIENCE, {RELAY_EMAIL: "relay"}, certs)
    token = forge.sign()
    removed = f"Bearer {token.rsplit('.', 1)[0]}.{SIGNATURE_REMOVED}"
    assert behind.verify(removed).verified_by == "cloud_run_iam"
    assert behind.verify(None, removed).verified_by == "cloud_run_iam"  # X-Serverless-Authorization only
    assert behind.verify(f"Bearer {token}", removed).verified_by == "signature"  # the relay's two headers
    refusals = [
        (elsewhere, (removed, None), "signature removed, and this worker is not behind Cloud Run's IAM check"),
        (behind, (removed, removed), "signature removed from Authorization, which Cloud Run did not check"),
        (behind, (None, f"Bearer {token}"), "X-Serverless-Authorization was not checked by Cloud Run"),
        (behind, (None, None), "no Authorization header"),
    ]
    for verifier, (authorization, serverless), reason in refusals:
        with pytest.raises(InvalidToken) as caught:
            verifier.verify(authorization, serverless)
        assert str(caught.value) == reason
    # Every claim is still checked on the trusted path.
    wrong = forge.sign(forge.claims(aud="https://worker-x.a.run.app"))
    with pytest.raises(InvalidToken, match="wrong audience"):
        behind.verify(f"Bearer {wrong.rsplit('.', 1)[0]}.{SIGNATURE_REMOVED}")
    other = forge.sign(forge.claims(email=OTHER_EMAIL))
    with pytest.raises(CallerNotAllowed):
        behind.verify(f"Bearer {other.rsplit('.', 1)[0]}.{SIGNATURE_REMOVED}")


def test_a_verified_signature_is_reused_only_for_the_same_token_under_the_same_key(forge: TokenForge) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa
    from worker.certs import CertsCache, Fetched

    from local.metadata_server import self_signed_cert

    real = {forge.kid: json.loads(forge_certs(forge))[forge.kid]}
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    swapped = {forge.kid: self_signed_cert(other_key, "not Google").decode()}
    answers = [real]
    clock = [0.0]
    certs = CertsCache(lambda _deadline: Fetched(answers[-1], 60), start=lambda run: run(), clock=lambda: clock[0])
    verifier = TokenVerifier(AUDIENCE, {RELAY_EMAIL: "relay"}, certs)
    header = f"Bearer {forge.sign()}"
    assert verifier.verify(header).email == RELAY_EMAIL
    assert verifier.verify(header).email == RELAY_EMAIL  # the second time from the cache
    answers.append(swapped)  # Google's key for this kid changed: the cached verdict no longer counts
    clock[0] += 7200  # past freshness and the staleness bound: the next lookup takes the new set
    with pytest.raises(InvalidToken, match="signature does not verify"):
        verifier.verify(header)


def forge_certs(forge: TokenForge) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from local.metadata_server import self_signed_cert

    key = serialization.load_pem_private_key(forge.key_path.read_bytes(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return json.dumps({forge.kid: self_signed_cert(key, "local").decode()})
