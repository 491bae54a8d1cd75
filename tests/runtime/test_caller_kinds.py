"""The worker accepts each declared caller kind exactly as docs/design.md §2's table says: its path, its body, the
headers it keys runs by; a push subscription's wrapper decoded and acknowledged only once processed; the upstream
key read from its file when a job needs it. The Flask app through its test client, tokens signed with the
stand-in's key; the same through Cloud Run's front end is tests/runtime/test_pack_agrees.py."""

from __future__ import annotations

import base64
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from local.processes import Proc
from tests.runtime.helpers import AUDIENCE, RELAY_EMAIL, TokenForge

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from worker.app import create_app
from worker.environment import WorkerConfig

KINDS = {
    "nightly-dev@acme-dev.iam.gserviceaccount.com": "scheduler",
    "billing-dev@acme-dev.iam.gserviceaccount.com": "pubsub-push",
    "batch-dev@acme-dev.iam.gserviceaccount.com": "cloud-tasks",
    "orchestrate-dev@acme-dev.iam.gserviceaccount.com": "workflows",
    "ledger-runtime@other-proj-123.iam.gserviceaccount.com": "service-account",
}
EMAIL = {kind: email for email, kind in KINDS.items()}
JOB_NAME = "projects/acme-dev/locations/europe-west1/jobs/nightly"
PRIMES = {"task": "primes", "limit": 100}


def config(identity: Proc, key_file: Path | None = None) -> WorkerConfig:
    return WorkerConfig(
        AUDIENCE,
        frozenset({RELAY_EMAIL, *KINDS}),
        identity.url + "/oauth2/v1/certs",
        upstream_api_key_file=str(key_file) if key_file else None,
        other_kinds=tuple(sorted(KINDS.items())),
    )


@pytest.fixture
def client(identity: Proc) -> Any:
    return create_app(config(identity)).test_client()


def auth(forge: TokenForge, kind: str) -> dict[str, str]:
    """Authorization only, as every Google caller sends it; the token intact (the app is not behind Cloud Run)."""
    return {"Authorization": f"Bearer {forge.sign(forge.claims(email=EMAIL[kind]))}"}


def scheduler_headers(forge: TokenForge, when: str = "2031-05-04T03:00:00Z") -> dict[str, str]:
    return {
        **auth(forge, "scheduler"),
        "X-CloudScheduler": "true",
        "X-CloudScheduler-JobName": JOB_NAME,
        "X-CloudScheduler-ScheduleTime": when,
        "User-Agent": "Google-Cloud-Scheduler",
    }


def push_body(job: Any, message_id: str = "4711", attempt: int | None = 1, data: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "message": {
            "data": data if data is not None else base64.b64encode(json.dumps(job).encode()).decode(),
            "attributes": {"origin": "billing"},
            "messageId": message_id,
            "publishTime": "2031-05-04T03:00:00.123Z",
        },
        "subscription": "projects/acme-dev/subscriptions/billing",
    }
    if attempt is not None:
        body["deliveryAttempt"] = attempt
    return body


def audit_lines(out: str) -> list[dict[str, Any]]:
    lines = (json.loads(x) for x in out.splitlines() if x.startswith("{"))
    return [r for r in lines if r["message"] == "request"]


# --- scheduler ---------------------------------------------------------------------------------------------


def test_a_scheduler_run_is_keyed_by_job_name_and_schedule_time(
    client: Any, forge: TokenForge, capsys: pytest.CaptureFixture[str]
) -> None:
    body = {"job": PRIMES}  # the same bytes every run: no id
    first = client.post("/jobs", json=body, headers=scheduler_headers(forge))
    assert first.status_code == 200, first.get_json()
    assert first.get_json()["id"] == f"{JOB_NAME}@2031-05-04T03:00:00Z"
    assert first.get_json()["duplicate"] is False
    # Cloud Scheduler's retry of the same run repeats both headers: not computed again.
    again = client.post("/jobs", json=body, headers=scheduler_headers(forge))
    assert again.get_json()["duplicate"] is True
    # The next run is another job.
    nxt = client.post("/jobs", json=body, headers=scheduler_headers(forge, "2031-05-05T03:00:00Z"))
    assert nxt.get_json()["duplicate"] is False
    lines = audit_lines(capsys.readouterr().out)
    assert [(x["caller_kind"], x["reason"]) for x in lines] == [
        ("scheduler", "processed"),
        ("scheduler", "duplicate"),
        ("scheduler", "processed"),
    ]
    assert lines[0]["message_id"] == f"{JOB_NAME}@2031-05-04T03:00:00Z"


@pytest.mark.parametrize(
    ("drop", "change", "error"),
    [
        ("X-CloudScheduler-JobName", {}, "X-CloudScheduler-JobName must be the job's name"),
        ("X-CloudScheduler-ScheduleTime", {}, "X-CloudScheduler-ScheduleTime must be an RFC 3339 time"),
        (None, {"X-CloudScheduler-ScheduleTime": "2031-05-04T03:00:00"}, "RFC 3339 time with its zone"),
        (None, {"X-CloudScheduler-ScheduleTime": "tomorrow"}, "RFC 3339 time with its zone"),
        (None, {"X-CloudScheduler-JobName": "two words"}, "X-CloudScheduler-JobName must be"),
    ],
)
def test_a_scheduler_run_without_its_headers_is_refused_naming_the_header(
    client: Any, forge: TokenForge, drop: str | None, change: dict[str, str], error: str
) -> None:
    headers = {k: v for k, v in scheduler_headers(forge).items() if k != drop} | change
    response = client.post("/jobs", json={"job": PRIMES}, headers=headers)
    assert response.status_code == 400
    assert error in response.get_json()["error"]


def test_a_scheduler_body_carries_no_id(client: Any, forge: TokenForge) -> None:
    response = client.post("/jobs", json={"id": "7", "job": PRIMES}, headers=scheduler_headers(forge))
    assert response.status_code == 400
    assert "keyed by X-CloudScheduler-JobName and X-CloudScheduler-ScheduleTime" in response.get_json()["error"]


def test_a_very_long_job_name_keys_its_runs_by_digest(client: Any, forge: TokenForge) -> None:
    headers = scheduler_headers(forge) | {"X-CloudScheduler-JobName": JOB_NAME + "-" + "x" * 400}
    first = client.post("/jobs", json={"job": PRIMES}, headers=headers)
    assert first.status_code == 200 and first.get_json()["id"].startswith("sha256:")
    assert client.post("/jobs", json={"job": PRIMES}, headers=headers).get_json()["duplicate"] is True


def test_only_scheduler_callers_are_keyed_by_the_scheduler_headers(client: Any, forge: TokenForge) -> None:
    # A relay that sends the scheduler's headers still needs its id: the headers mean nothing from it.
    headers = scheduler_headers(forge) | {"Authorization": f"Bearer {forge.sign()}"}
    response = client.post("/jobs", json={"job": PRIMES}, headers=headers)
    assert response.status_code == 400 and "`id` must be a string" in response.get_json()["error"]


# --- Pub/Sub push ------------------------------------------------------------------------------------------


def test_a_push_message_is_decoded_run_once_and_acknowledged(
    client: Any, forge: TokenForge, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = auth(forge, "pubsub-push")
    first = client.post("/pubsub", json=push_body(PRIMES), headers=headers)
    assert first.status_code == 200
    assert first.get_json()["id"] == "4711" and first.get_json()["result"]["prime_count"] == 25
    # Pub/Sub redelivers at least once: the same message id is the same job.
    again = client.post("/pubsub", json=push_body(PRIMES, attempt=2), headers=headers)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True
    lines = audit_lines(capsys.readouterr().out)
    assert [x["reason"] for x in lines] == ["processed", "duplicate"]
    assert lines[0]["caller_kind"] == "pubsub-push" and lines[0]["message_id"] == "4711"
    assert lines[0]["pubsub"] == {
        "subscription": "projects/acme-dev/subscriptions/billing",
        "delivery_attempt": 1,
        "then": "acknowledged",
    }


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (push_body(None, data="not base64!"), "message data is not base64"),
        (push_body(None, data=base64.b64encode(b"\xff").decode()), "message data is not UTF-8"),
        (push_body(None, data=base64.b64encode(b"[1]").decode()), "message data must be a JSON object"),
        (push_body(None, data=""), "Pub/Sub message has no data"),
        (push_body({"task": "primes", "limit": -5}), "`limit` must be between"),
        (push_body(PRIMES, message_id=""), "no usable messageId"),
        ({"subscription": "projects/acme-dev/subscriptions/billing", "deliveryAttempt": 3}, "no Pub/Sub `message`"),
    ],
)
def test_a_poison_push_message_is_not_acknowledged_and_the_audit_line_says_what_comes_next(
    client: Any, forge: TokenForge, capsys: pytest.CaptureFixture[str], body: dict[str, Any], error: str
) -> None:
    response = client.post("/pubsub", json=body, headers=auth(forge, "pubsub-push"))
    # Any 2xx would acknowledge it, and the message would be gone without being processed or kept.
    assert response.status_code == 400
    assert error in response.get_json()["error"]
    [line] = audit_lines(capsys.readouterr().out)
    assert line["decision"] == "allow" and line["caller_kind"] == "pubsub-push"
    then = line["pubsub"]["then"]
    assert then.startswith("not acknowledged: Pub/Sub redelivers it")
    assert "its dead-letter policy keeps it once the subscription's maximum delivery attempts are spent" in then


def test_a_poison_message_of_a_subscription_without_dead_letter_policy_is_called_what_it_is(
    client: Any, forge: TokenForge, capsys: pytest.CaptureFixture[str]
) -> None:
    # Pub/Sub sets deliveryAttempt only with a dead-letter policy: without one, redelivery ends with retention.
    body = push_body({"task": "nope"}, attempt=None)
    assert client.post("/pubsub", json=body, headers=auth(forge, "pubsub-push")).status_code == 400
    [line] = audit_lines(capsys.readouterr().out)
    assert line["pubsub"]["delivery_attempt"] is None
    assert "no dead-letter policy and the message is dropped when its retention ends" in line["pubsub"]["then"]


@pytest.mark.parametrize(
    ("kind", "path", "body", "served"),
    [
        ("pubsub-push", "/jobs", {"id": "1", "job": PRIMES}, "/pubsub"),
        ("cloud-tasks", "/pubsub", push_body(PRIMES), "/jobs"),
        ("scheduler", "/pubsub", push_body(PRIMES), "/jobs"),
        ("relay", "/pubsub", push_body(PRIMES), "/jobs"),
    ],
)
def test_each_kind_is_served_at_its_own_path_only(
    client: Any, forge: TokenForge, capsys: pytest.CaptureFixture[str], kind: str, path: str, body: Any, served: str
) -> None:
    headers = {"Authorization": f"Bearer {forge.sign()}"} if kind == "relay" else auth(forge, kind)
    response = client.post(path, json=body, headers=headers)
    assert response.status_code == 403
    assert response.get_json() == {"error": f"a {kind} caller calls {served}"}
    [line] = audit_lines(capsys.readouterr().out)
    assert line["decision"] == "deny" and line["reason"] == f"caller kind {kind} is served at {served} only"


# --- Cloud Tasks, Workflows, a workload elsewhere ------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "extra"),
    [
        (
            "cloud-tasks",
            {
                "X-CloudTasks-QueueName": "batch",
                "X-CloudTasks-TaskName": "0123456789",
                "X-CloudTasks-TaskRetryCount": "0",
                "X-CloudTasks-TaskExecutionCount": "0",
                "X-CloudTasks-TaskETA": "1967795200.0",
                "User-Agent": "Google-Cloud-Tasks",
            },
        ),
        ("workflows", {"User-Agent": "GoogleCloudWorkflows; (+https://cloud.google.com/workflows/docs)"}),
        ("service-account", {}),
    ],
)
def test_id_and_job_callers_post_to_jobs(
    client: Any, forge: TokenForge, capsys: pytest.CaptureFixture[str], kind: str, extra: dict[str, str]
) -> None:
    response = client.post("/jobs", json={"id": f"{kind}-1", "job": PRIMES}, headers=auth(forge, kind) | extra)
    assert response.status_code == 200 and response.get_json()["caller"] == EMAIL[kind]
    [line] = audit_lines(capsys.readouterr().out)
    assert (line["caller_kind"], line["message_id"], line["reason"]) == (kind, f"{kind}-1", "processed")
    # Without its id it is refused: the table says these kinds send one.
    missing = client.post("/jobs", json={"job": PRIMES}, headers=auth(forge, kind) | extra)
    assert missing.status_code == 400


# --- the upstream key, read when a job needs it --------------------------------------------------------------


def test_a_job_that_needs_the_upstream_key_waits_for_its_file_and_never_stops_the_worker(
    identity: Proc, forge: TokenForge, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_file = tmp_path / "secrets" / "upstream-api-key-file" / "value"
    client = create_app(config(identity, key_file)).test_client()  # starts although the file is absent
    startup = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert startup[0]["upstream_api_key_file"].startswith("absent now")
    headers = {"Authorization": f"Bearer {forge.sign()}"}
    sign = {"id": "s1", "job": {"task": "sign", "input": "payload"}}
    absent = client.post("/jobs", json=sign, headers=headers)
    assert absent.status_code == 503 and absent.headers["Retry-After"] == "30"
    assert absent.get_json() == {"error": "the upstream key is not available now", "code": "upstream_key_unavailable"}
    # Jobs that need no key are unaffected meanwhile.
    assert client.post("/jobs", json={"id": "p1", "job": PRIMES}, headers=headers).status_code == 200
    key_file.parent.mkdir(parents=True)
    key_file.write_text("the-upstream-key\n")
    # The failed attempt was forgotten: the retry runs, with the key as the file holds it (newline stripped).
    signed = client.post("/jobs", json=sign, headers=headers)
    assert signed.status_code == 200 and signed.get_json()["duplicate"] is False
    import hashlib
    import hmac

    expected = hmac.new(b"the-upstream-key", b"payload", hashlib.sha256).hexdigest()
    assert signed.get_json()["result"]["hmac_sha256"] == expected
    out = capsys.readouterr().out
    reasons = [x["reason"] for x in audit_lines(out)]
    assert reasons == [
        "cannot run now: the upstream key file is absent (no secret version yet?)",
        "processed",
        "processed",
    ]
    assert "the-upstream-key" not in out


@pytest.mark.parametrize(
    ("content", "reason"),
    [(None, "UPSTREAM_API_KEY_FILE is not set"), ("\n", "the upstream key file is empty")],
)
def test_an_unusable_key_setting_fails_only_the_job_that_needs_it(
    identity: Proc,
    forge: TokenForge,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    reason: str,
) -> None:
    key_file = None
    if content is not None:
        key_file = tmp_path / "value"
        key_file.write_text(content)
    client = create_app(config(identity, key_file)).test_client()
    capsys.readouterr()
    response = client.post(
        "/jobs", json={"id": "s2", "job": {"task": "sign", "input": "x"}}, headers=auth(forge, "cloud-tasks")
    )
    assert response.status_code == 503 and response.get_json()["code"] == "upstream_key_unavailable"
    [line] = audit_lines(capsys.readouterr().out)
    assert line["reason"] == f"cannot run now: {reason}" and line["decision"] == "allow"


# --- what the denials metric counts ------------------------------------------------------------------------


def test_the_denials_metric_counts_every_request_not_admitted_on_its_credentials_and_nothing_else(
    identity: Proc, forge: TokenForge, capsys: pytest.CaptureFixture[str]
) -> None:
    from secure_invoke.components.access_audit import COUNTED_DECISIONS, denials_filter

    client = create_app(config(identity)).test_client()
    now = int(time.time())
    primes = {"id": "m1", "job": PRIMES}
    relay = {"Authorization": f"Bearer {forge.sign()}"}
    outsider = forge.claims(email="x-dev@acme-dev.iam.gserviceaccount.com")
    # (what, status, counted, headers, body)
    cases = [
        ("bad signature", 401, True, {"Authorization": f"Bearer {forge.sign(signer=forge.foreign_signer())}"}, primes),
        ("not an invoker", 403, True, {"Authorization": f"Bearer {forge.sign(outsider)}"}, primes),
        ("kind on another path", 403, True, auth(forge, "pubsub-push"), primes),
        ("unknown key id", 503, True, {"Authorization": f"Bearer {forge.sign(signer=forge.foreign_signer('k2'))}"}, primes),
        ("expired", 503, True, {"Authorization": f"Bearer {forge.sign(forge.claims(iat=now - 7200, exp=now - 3600))}"}, primes),
        ("invalid job, admitted", 400, False, relay, {"id": "m2", "job": {"task": "nope"}}),
        ("no upstream key, admitted", 503, False, relay, {"id": "m3", "job": {"task": "sign", "input": "x"}}),
    ]  # fmt: skip
    capsys.readouterr()
    statuses = [client.post("/jobs", json=body, headers=headers).status_code for *_, headers, body in cases]
    assert statuses == [status for _, status, *_ in cases]
    lines = audit_lines(capsys.readouterr().out)
    assert [line["decision"] in COUNTED_DECISIONS for line in lines] == [counted for _, _, counted, *_ in cases]
    assert all(f'jsonPayload.decision="{d}"' in denials_filter("worker-dev") for d in COUNTED_DECISIONS)


def test_a_push_delivery_refused_on_its_token_says_what_pub_sub_does_next(
    client: Any, forge: TokenForge, capsys: pytest.CaptureFixture[str]
) -> None:
    # E.g. a subscription sending the wrong audience: 401, and the line says the message is not acknowledged.
    token = forge.sign(forge.claims(email=EMAIL["pubsub-push"], aud="https://worker-dev-abc-ew.a.run.app/pubsub"))
    response = client.post("/pubsub", json=push_body(PRIMES), headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    [line] = audit_lines(capsys.readouterr().out)
    assert line["decision"] == "deny" and line["pubsub"]["then"].startswith("not acknowledged")
