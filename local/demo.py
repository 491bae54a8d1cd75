"""`make local`: the whole flow on one machine, with google-auth's real token paths.

Starts the metadata-server stand-ins (the relay's identity and a scheduler's), the Pub/Sub publish
stand-in (the dead-letter topic), the worker (the Dockerfile's CMD) on a private unix socket behind the
Cloud Run front-end stand-in (its IAM invoker check: the only way to the worker), and the relay
(functions-framework); publishes a few jobs as Pub/Sub CloudEvents and prints what became of each (the
result and the caller the worker verified, or the dead-letter record and its reason). Then a Cloud
Scheduler-like caller sends a job with its token in `Authorization` only, which the front end checks and
passes on with the signature removed. Then the operator path: a person signs in, mints an ID token as the
operator account through google-auth's impersonation code against the IAM Credentials stand-in, and
replays a job; a person whose grant has lapsed is refused. Last, the audit lines of the worker and of the
credentials API, then everything stops. The signing key lives in a temporary directory and is deleted at
the end.
"""

from __future__ import annotations

import base64
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from google.auth import exceptions

from local.operator import operator_id_token, sign_in
from local.processes import (
    LOCAL_AUDIENCE,
    Proc,
    StartupError,
    get_json,
    pubsub_event,
    run_scheduler,
    start_cloud_run,
    start_iam_credentials,
    start_metadata_server,
    start_pubsub,
    start_relay,
    start_worker,
    stopping,
    write_invokers,
)

RELAY_EMAIL = "relay-runtime-local@secure-invoke-local.iam.gserviceaccount.com"
OPERATOR_EMAIL = "worker-operator-local@secure-invoke-local.iam.gserviceaccount.com"
SCHEDULER_EMAIL = "nightly-scheduler-local@secure-invoke-local.iam.gserviceaccount.com"
SCHEDULED_JOB = ("2001", {"task": "hash", "input": "nightly report", "iterations": 100_000})
LEGAL_ATTRIBUTES = {f"attribute-{i:03d}": "x" * 1024 for i in range(100)}  # Pub/Sub's maximum
SAMPLE_JOBS: list[tuple[str, str, Any, dict[str, str]]] = [
    ("1001", "a new job", {"task": "primes", "limit": 1_000_000}, {}),
    ("1002", "a new job", {"task": "hash", "input": "hello", "iterations": 200_000}, {}),
    ("1001", "a redelivery: not computed again", {"task": "primes", "limit": 1_000_000}, {}),
    ("1003", "100 attributes of 1 KiB: legal, so processed", {"task": "primes", "limit": 1000}, LEGAL_ATTRIBUTES),
    ("1004", "invalid: the worker says 400, kept as a dead letter", {"task": "primes", "limit": -5}, {}),
    ("1005", "poison: a lone surrogate, kept as a dead letter", b'{"task": "hash", "input": "\\ud800"}', {}),
    ("1001", "the id of job 1001 with another job: 409, kept", {"task": "primes", "limit": 7}, {}),
]


def publish(relay: Proc, message_id: str, job: Any, attributes: dict[str, str]) -> int:
    raw = job if isinstance(job, bytes) else None
    headers, body = pubsub_event(None if raw else job, message_id=message_id, attributes=attributes, raw_data=raw)
    return requests.post(relay.url + "/", data=body, headers=headers, timeout=30).status_code


def write_operator_access(workdir: Path) -> Path:
    """The stack config's operatorAccess, as the credentials stand-in reads it, plus who is in which group."""
    now = datetime.now(UTC)
    access = {
        "operator": OPERATOR_EMAIL,
        "grants": [
            {"principal": "group:oncall@acme.local", "expires": f"{now + timedelta(hours=4):%Y-%m-%dT%H:%M:%SZ}",
             "reason": "INC-42 replay job 1002"},
            {"principal": "user:bob@acme.local", "expires": f"{now - timedelta(days=1):%Y-%m-%dT%H:%M:%SZ}",
             "reason": "INC-17 (lapsed)"},
        ],
        "groups": {"oncall@acme.local": ["alice@acme.local"]},
    }  # fmt: skip
    path = workdir / "operator-access.json"
    path.write_text(json.dumps(access))
    return path


def scheduled_call(scheduler: Proc, front: Proc) -> None:
    print("\nA Cloud Scheduler-like caller (its token in Authorization only, through the Cloud Run front end):")
    job_id, job = SCHEDULED_JOB
    outcome = run_scheduler(scheduler.url, front.url, LOCAL_AUDIENCE, job_id, job)
    answer = outcome["answer"]
    print(f"  {SCHEDULER_EMAIL.split('@')[0]}: job {job_id} {json.dumps(job)} → {outcome['status']}")
    if isinstance(answer, dict):
        print(f"  verified caller {answer.get('caller')}, result {answer.get('result')}")


def operator_calls(iam: Proc, front: Proc) -> None:
    print("\nOperator access (just in time, ID tokens only, as worker-operator, through the front end):")
    for person in ("alice@acme.local", "bob@acme.local"):
        try:
            token = operator_id_token(sign_in(iam.url, person), OPERATOR_EMAIL, LOCAL_AUDIENCE, iam.url)
        except exceptions.RefreshError:
            print(f"  {person}: the credentials API refused to mint (no live grant: bob's expired yesterday)")
            continue
        body = {"id": "1002", "job": {"task": "hash", "input": "hello", "iterations": 200_000}}
        answer = requests.post(front.url + "/jobs", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        print(f"  {person}: minted an operator token, replayed job 1002 → {answer.status_code} {answer.json()}")
    for line in iam.log_records():
        payload = line.get("protoPayload", {})
        if payload.get("methodName") == "GenerateIdToken":
            print(
                f"  credentials API audit: {line['message']} to {payload['authenticationInfo']['principalEmail']} "
                f"as {payload['resourceName'].rsplit('/', 1)[-1]}"
                + (f" (grant {line['granted_by']}: {line['reason']})" if line.get("granted_by") else "")
            )


@dataclass(frozen=True)
class Running:
    metadata: Proc
    scheduler: Proc
    pubsub: Proc
    iam: Proc
    worker: Proc
    front: Proc
    relay: Proc


def start_all(workdir: Path, procs: list[Proc]) -> Running:
    """Every process of local mode, each added to `procs` as soon as it runs (so it is stopped whatever fails)."""
    key = workdir / "signing-key.pem"
    identity = start_metadata_server(RELAY_EMAIL, key, workdir)
    procs.append(identity)
    scheduler = start_metadata_server(SCHEDULER_EMAIL, key, workdir, name="identity-scheduler")
    procs.append(scheduler)
    pubsub = start_pubsub(identity.url + "/tokeninfo", RELAY_EMAIL, workdir)
    procs.append(pubsub)
    iam = start_iam_credentials(key, write_operator_access(workdir), workdir)
    procs.append(iam)
    certs = identity.url + "/oauth2/v1/certs"
    worker = start_worker(
        LOCAL_AUDIENCE,
        f"{RELAY_EMAIL},{OPERATOR_EMAIL},{SCHEDULER_EMAIL}",
        certs,
        workdir,
        extra_env={"OPERATOR_INVOKERS": OPERATOR_EMAIL, "CALLER_KINDS": f"{SCHEDULER_EMAIL}=scheduler"},
        behind_front_end=workdir / "cloud-run",
    )
    procs.append(worker)
    # The run.invoker grants the front end enforces: the stack's, one member per caller.
    invokers = write_invokers(workdir / "invokers.txt", [RELAY_EMAIL, OPERATOR_EMAIL, SCHEDULER_EMAIL])
    front = start_cloud_run(worker, certs, LOCAL_AUDIENCE, invokers, workdir)
    procs.append(front)
    relay = start_relay(front.url, LOCAL_AUDIENCE, identity.url, workdir, pubsub_url=pubsub.url)
    procs.append(relay)
    return Running(identity, scheduler, pubsub, iam, worker, front, relay)


def publish_samples(relay: Proc) -> None:
    for message_id, what, job, attributes in SAMPLE_JOBS:
        status = publish(relay, message_id, job, attributes)
        outcome = [r for r in relay.log_records() if r.get("message_id") == message_id][-1:]
        last = outcome[0] if outcome else {}
        shown = job.decode() if isinstance(job, bytes) else json.dumps(job)
        print(f"\n{message_id}  {what}\n  job {shown}\n  relay answered {status}: {last.get('message', '?')}")
        if last.get("message") == "job delivered":
            print(f"  verified caller {last.get('verified_caller')}, duplicate {last.get('duplicate')}")
            print(f"  result {last.get('result')}")
        elif last.get("acked"):
            print(f"  dead-letter message {last.get('dead_letter_message_id')} on {last.get('dead_letter_topic')}")


def show_dead_letters(pubsub: Proc) -> None:
    print("\nThe dead-letter subscription, as an operator pulls it:")
    for message in get_json(pubsub.url + "/_messages")["messages"]:
        record = json.loads(base64.b64decode(message["data"]))
        original = record.get("message", {})
        print(
            f"  [{message['messageId']}] {record['reason_code']}: {record['reason']}\n"
            f"      original message {original.get('messageId')}, data {original.get('data', '')[:48]}…, "
            f"{len(original.get('attributes', {}))} attributes"
        )


def show_audit_and_counts(running: Running) -> None:
    print("\nThe worker's audit lines (one per request; verified by its own signature check, or by Cloud Run's):")
    for line in running.worker.log_records():
        if line.get("message") == "request" and line.get("path") == "/jobs":
            print(
                f"  {line['status']} {line['decision']:<6} {line.get('caller_kind') or '-':<9} "
                f"{line.get('verified_by') or '-':<13} {line.get('message_id')}  {line['reason']}  "
                f"({line['latency_ms']} ms)"
            )

    stats = get_json(running.metadata.url + "/_stats")
    scheduler_stats = get_json(running.scheduler.url + "/_stats")
    operator_stats = get_json(running.iam.url + "/_stats")
    front = get_json(running.front.url + "/_frontend/stats")
    computed = {"relay": 0, "scheduler": 0, "operator": 0}  # per caller kind: only the relay's are deliveries
    for record in running.worker.log_records():
        if record.get("reason") == "processed" and record.get("caller_kind") in computed:
            computed[record["caller_kind"]] += 1
    print(
        f"\nfront end: {front['forwarded']} requests forwarded to the worker, "
        f"{front['refused_401'] + front['refused_403']} refused"
    )
    print(
        f"ID tokens minted: {stats['identity_tokens']} (relay) + {scheduler_stats['identity_tokens']} (scheduler) + "
        f"{operator_stats['id_tokens']} (operator, {operator_stats['denied']} refused), access tokens: "
        f"{stats['access_tokens']}, certs served: {stats['certs_served']}, jobs computed by the worker: "
        f"{computed['relay']} of {len(SAMPLE_JOBS)} relay deliveries, + {computed['scheduler']} scheduled, "
        f"+ {computed['operator']} operator " + ("replay" if computed["operator"] == 1 else "replays")
    )


def run(workdir: Path) -> int:
    try:
        with stopping() as procs:
            return show(start_all(workdir, procs))
    except StartupError as exc:
        print(f"local demo: {exc}", file=sys.stderr)
        return 1


def show(running: Running) -> int:
    """What local mode shows: each sample job's fate, the dead letters, the operator path, the audit trail."""
    print(
        f"metadata {running.metadata.url}  pubsub {running.pubsub.url}  Cloud Run front end {running.front.url}  "
        f"(worker only behind it)  relay {running.relay.url}"
    )
    publish_samples(running.relay)
    show_dead_letters(running.pubsub)
    scheduled_call(running.scheduler, running.front)
    operator_calls(running.iam, running.front)
    show_audit_and_counts(running)
    return 0


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="secure-invoke-local-") as tmp:
        code = run(Path(tmp))
    print(f"stopped all processes ({time.perf_counter() - started:.1f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
