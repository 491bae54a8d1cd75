"""`make local`: the dev stack as planned, on one machine, with google-auth's real token paths.

First preflight plans the dev stack offline (`python -m secure_invoke.preflight --stack dev --json`): local mode
runs what that plan says. The Cloud Run front-end stand-in's invoker members are the plan's `roles/run.invoker`
grants on the worker and its audiences the worker's; the worker (the Dockerfile's CMD, on a private unix socket
behind the front end: the only way to it) gets its planned environment (allowlist, caller kinds, audience,
`CLOUD_RUN_INVOKER_IAM_CHECK`), with its upstream key in a file where Cloud Run would mount the secret; the relay
(functions-framework) its planned audience and dead-letter topic; the metadata stand-in the relay's planned
identity, the IAM Credentials stand-in the operator account's.

Then: a few jobs published as Pub/Sub CloudEvents through the relay; each declared caller of the dev stack run as
Google runs it from its planned resource (local/google_callers.py: a scheduler run and its repeat, a push message
and a poison one that Pub/Sub dead-letters after its delivery attempts, a Cloud Tasks task, a workflow execution,
a workload elsewhere); the dead-letter topic as an operator pulls it; the operator path (a person mints an ID
token as the operator account through google-auth's impersonation code against the IAM Credentials stand-in and
replays a job; a person whose grant lapsed is refused); the audit lines of the worker and of the credentials API.
Then everything stops. The signing key and the plan live in a temporary directory, deleted at the end.
"""

from __future__ import annotations

import base64
import datetime
import json
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import requests
from google.auth import exceptions

from local.google_callers import GoogleCallers, Outcome
from local.operator import operator_id_token, sign_in
from local.plan import Plan, PlanError, load_plan
from local.processes import (
    Proc,
    StartupError,
    get_json,
    plan_report,
    pubsub_event,
    start_iam_credentials,
    start_metadata_server,
    start_planned_cloud_run,
    start_planned_worker,
    start_pubsub,
    start_relay,
    stopping,
)

STACK = "dev"
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
# What the declared callers of the dev stack are asked to do (the scheduler's job is the one its config holds).
PUSH_MESSAGE = ("5001", {"task": "hash", "input": "invoice 5001", "iterations": 50_000})
POISON_PUSH = ("5002", b"invoice 5002, not JSON")
TASK = {"id": "batch-7", "job": {"task": "sign", "input": "settlement batch 7"}}
EXECUTION = {"id": "report-2031-05", "job": {"task": "primes", "limit": 50_000}}
LEDGER_JOB = {"id": "ledger-88", "job": {"task": "hash", "input": "ledger 88", "iterations": 10_000}}


def publish(relay: Proc, message_id: str, job: Any, attributes: dict[str, str]) -> int:
    raw = job if isinstance(job, bytes) else None
    headers, body = pubsub_event(None if raw else job, message_id=message_id, attributes=attributes, raw_data=raw)
    return requests.post(relay.url + "/", data=body, headers=headers, timeout=30).status_code


def write_operator_access(workdir: Path, operator: str) -> Path:
    """The stack config's operatorAccess, as the credentials stand-in reads it, plus who is in which group."""
    now = datetime.datetime.now(UTC)
    access = {
        "operator": operator,
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


@dataclass(frozen=True)
class Running:
    plan: Plan
    metadata: Proc
    pubsub: Proc
    iam: Proc
    worker: Proc
    front: Proc
    relay: Proc
    callers: GoogleCallers


def start_all(workdir: Path, procs: list[Proc], report: Path) -> Running:
    """Every process of local mode from the plan, each added to `procs` as soon as it runs."""
    plan = load_plan(report)
    if plan.relay_email is None:
        raise StartupError(f"the {STACK} plan has no relay calling {plan.service_name}")
    operators = [e for e in plan.env.get("OPERATOR_INVOKERS", "").split(",") if e]
    topic = plan.relay_env["DEAD_LETTER_TOPIC"]
    key = workdir / "signing-key.pem"
    identity = start_metadata_server(plan.relay_email, key, workdir)
    procs.append(identity)
    pubsub = start_pubsub(identity.url + "/tokeninfo", plan.relay_email, workdir, topic=topic)
    procs.append(pubsub)
    iam = start_iam_credentials(key, write_operator_access(workdir, operators[0]), workdir)
    procs.append(iam)
    certs = identity.url + "/oauth2/v1/certs"
    # What Cloud Run mounts from Secret Manager: a version of the upstream key, as a file.
    upstream_key = workdir / "upstream-api-key"
    upstream_key.write_text(secrets.token_urlsafe(24) + "\n")
    worker = start_planned_worker(plan, certs, workdir, upstream_key)
    procs.append(worker)
    front = start_planned_cloud_run(worker, certs, report, workdir)
    procs.append(front)
    relay = start_relay(
        front.url,
        plan.relay_env["WORKER_AUDIENCE"],
        identity.url,
        workdir,
        pubsub_url=pubsub.url,
        dead_letter_topic=topic,
    )
    procs.append(relay)

    def forward(message: dict[str, Any]) -> None:
        requests.post(pubsub.url + "/_forward", json=message, timeout=10).raise_for_status()

    callers = GoogleCallers(plan, key, front.url, forward)
    return Running(plan, identity, pubsub, iam, worker, front, relay, callers)


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


def _said(outcome: Outcome) -> str:
    last = outcome.last
    if isinstance(last.answer, dict) and "result" in last.answer:
        what = "duplicate" if last.answer.get("duplicate") else "processed"
        return f"{last.status} {what}, result {json.dumps(last.answer['result'])}"
    error = last.answer.get("error") if isinstance(last.answer, dict) else last.answer
    return f"{last.status} {error}"


def declared_callers(running: Running) -> None:
    plan, google = running.plan, running.callers
    print(
        f"\nThe declared callers of the {STACK} stack, each run as Google runs it from its planned resource "
        "(token in Authorization only unless said, through the Cloud Run front end):"
    )
    nightly = plan.call("scheduler")
    run_at = datetime.datetime.now(UTC).replace(hour=3, minute=0, second=0, microsecond=0)
    first = google.scheduled_run(nightly, run_at)
    print(f"  scheduler {nightly.name}: the run of {run_at:%Y-%m-%dT%H:%MZ} → {_said(first)}")
    again = google.scheduled_run(nightly, run_at)
    print(f"  scheduler {nightly.name}: that run delivered again (same schedule time) → {_said(again)}")

    push = plan.call("pubsub-push")
    message_id, job = PUSH_MESSAGE
    delivered = google.push(push, json.dumps(job).encode(), message_id)
    print(f"  pubsub-push {push.name}: message {message_id} {json.dumps(job)} → {_said(delivered)}, acknowledged")
    message_id, data = POISON_PUSH
    poison = google.push(push, data, message_id)
    fate = "forwarded by Pub/Sub to the dead-letter topic" if poison.dead_lettered else poison.note
    print(
        f"  pubsub-push {push.name}: poison message {message_id} (data not JSON) → {poison.last.status} on each of "
        f"{len(poison.attempts)} deliveries; {fate}"
    )
    queue = plan.call("cloud-tasks")
    task = google.task(queue, json.dumps(TASK).encode(), f"projects/{plan.project}/queues/{queue.name}/tasks/7")
    print(f"  cloud-tasks {queue.name}: task {json.dumps(TASK)} → {_said(task)} (signed with the upstream key)")
    flow = plan.call("workflows")
    execution = google.execute_workflow(flow, EXECUTION)
    print(f"  workflows {flow.name}: execution {json.dumps(EXECUTION)} → {_said(execution)}")
    ledger = plan.call("service-account")
    call = google.workload(ledger, LEDGER_JOB)
    print(f"  service-account {ledger.name} (a workload elsewhere, both headers): {json.dumps(LEDGER_JOB)}")
    print(f"    → {_said(call)}")


def show_dead_letters(pubsub: Proc) -> None:
    print("\nThe dead-letter subscription, as an operator pulls it:")
    for message in get_json(pubsub.url + "/_messages")["messages"]:
        attributes = message.get("attributes", {})
        source = attributes.get("CloudPubSubDeadLetterSourceSubscription")
        if source:
            # Forwarded by Pub/Sub from a push subscription: the message as it was published, plus Pub/Sub's attributes.
            print(
                f"  [{message['messageId']}] forwarded by Pub/Sub from subscription {source} after "
                f"{attributes['CloudPubSubDeadLetterSourceDeliveryCount']} delivery attempts, data "
                f"{base64.b64decode(message['data'])[:40]!r}"
            )
            continue
        record = json.loads(base64.b64decode(message["data"]))
        original = record.get("message", {})
        print(
            f"  [{message['messageId']}] {record['reason_code']}: {record['reason']}\n"
            f"      original message {original.get('messageId')}, data {original.get('data', '')[:48]}…, "
            f"{len(original.get('attributes', {}))} attributes"
        )


def operator_calls(running: Running) -> None:
    print("\nOperator access (just in time, ID tokens only, as worker-operator, through the front end):")
    operator = running.plan.env["OPERATOR_INVOKERS"].split(",")[0]
    iam, front = running.iam, running.front
    for person in ("alice@acme.local", "bob@acme.local"):
        try:
            token = operator_id_token(sign_in(iam.url, person), operator, running.plan.custom_audience, iam.url)
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


def audit_rows(worker: Proc) -> list[str]:
    """The worker's audit lines for its job paths, one row each; a row repeated in a row is shown once, with
    its count."""
    rows: list[tuple[str, int]] = []
    for line in worker.log_records():
        if line.get("message") != "request" or line.get("path") not in ("/jobs", "/pubsub"):
            continue
        row = (
            f"{line['status']} {line['decision']:<6} {line.get('caller_kind') or '-':<15} "
            f"{line.get('verified_by') or '-':<13} {line['path']:<7} {line.get('message_id')}  {line['reason']}"
        )
        if rows and rows[-1][0] == row:
            rows[-1] = (row, rows[-1][1] + 1)
        else:
            rows.append((row, 1))
    return [row + (f"  ({count} times)" if count > 1 else "") for row, count in rows]


def show_audit_and_counts(running: Running) -> None:
    print("\nThe worker's audit lines (one per request; verified by its own signature check, or by Cloud Run's):")
    for row in audit_rows(running.worker):
        print(f"  {row}")
    stats = get_json(running.metadata.url + "/_stats")
    operator_stats = get_json(running.iam.url + "/_stats")
    front = get_json(running.front.url + "/_frontend/stats")
    computed: dict[str, int] = {}
    for record in running.worker.log_records():
        if record.get("reason") == "processed":
            computed[record.get("caller_kind") or "-"] = computed.get(record.get("caller_kind") or "-", 0) + 1
    declared = sum(n for kind, n in computed.items() if kind not in ("relay", "operator"))
    operator = computed.get("operator", 0)
    print(
        f"\nfront end: {front['forwarded']} requests forwarded to the worker, "
        f"{front['refused_401'] + front['refused_403']} refused"
    )
    print(
        f"ID tokens minted: {stats['identity_tokens']} (relay) + {running.callers.minted} (by Google, for the declared "
        f"callers) + {operator_stats['id_tokens']} (operator, {operator_stats['denied']} refused), access tokens: "
        f"{stats['access_tokens']}, certs served: {stats['certs_served']}, jobs computed by the worker: "
        f"{computed.get('relay', 0)} of {len(SAMPLE_JOBS)} relay deliveries, + {declared} for the declared callers, "
        f"+ {operator} operator " + ("replay" if operator == 1 else "replays")
    )


def run(workdir: Path) -> int:
    try:
        print(f"Planning the {STACK} stack (python -m secure_invoke.preflight --stack {STACK} --json) …")
        report = plan_report(STACK, workdir / f"preflight-{STACK}.json")
        with stopping() as procs:
            return show(start_all(workdir, procs, report))
    except (StartupError, PlanError) as exc:
        print(f"local demo: {exc}", file=sys.stderr)
        return 1


def show(running: Running) -> int:
    """What local mode shows: the plan it runs, each job's fate, the callers, dead letters, operator, audit."""
    plan = running.plan
    kinds = ", ".join(f"{c.kind} {c.name}" for c in plan.calls)
    print(
        f"plan: {plan.service_name} with {len(plan.invokers)} invoker grants (the relay, the operator account and "
        f"{len(plan.calls)} declared callers: {kinds})"
    )
    print(
        f"metadata {running.metadata.url}  pubsub {running.pubsub.url}  Cloud Run front end {running.front.url}  "
        f"(worker only behind it)  relay {running.relay.url}"
    )
    publish_samples(running.relay)
    declared_callers(running)
    show_dead_letters(running.pubsub)
    operator_calls(running)
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
