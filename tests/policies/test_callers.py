"""Callers that are Google services: a Cloud Tasks queue (queue-level HTTP target) is a caller like a Cloud Scheduler
job, its identity judged like one; an HTTP caller whose request names a service — in its URL, its query, or its
body, also base64 encoded — calls it; every kind of caller this repository's components create is recognised."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from secure_invoke.components.callers import CALL_KINDS
from secure_invoke.policies.guardrails.identities import workload_identities
from secure_invoke.policies.guardrails.invokers import only_intended_invokers, unverified_invokers
from secure_invoke.policies.guardrails.stack import StackModel
from secure_invoke.policies.guardrails.workloads import queue_target_url
from tests.policies.guardrail_cases import UNKNOWN_OBJECT, UNKNOWN_STRING, ctx, judge, project_stack, urn

RUN_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
QUEUE = "gcp:cloudtasks/queue:Queue"
SCHEDULER = "gcp:cloudscheduler/job:Job"
PUSH = "gcp:pubsub/subscription:Subscription"
CALLER = "caller@si-dev-1234.iam.gserviceaccount.com"
ELSEWHERE = "https://elsewhere-xyz-uc.a.run.app"
PROGRAM = Path(__file__).resolve().parent / "programs" / "callers" / "__main__.py"


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def _worker_url(stack: list[dict]) -> str:
    return next(r for r in stack if r["name"] == "worker")["props"]["uri"]


def _with_caller(rtype: str, props: dict) -> tuple[list[dict], dict]:
    stack = project_stack()
    stack.append({"urn": urn("dev", rtype, "caller"), "type": rtype, "name": "caller", "props": props})
    grant = {"urn": urn("dev", RUN_MEMBER, "caller-invoker"), "type": RUN_MEMBER, "name": "caller-invoker",
             "props": {"name": "worker-dev", "location": "us-central1", "role": "roles/run.invoker",
                       "member": f"serviceAccount:{CALLER}"}}  # fmt: skip
    stack.append(grant)
    return stack, grant


def _queue(host: str, **extra: object) -> dict:
    target = {"uriOverride": {"host": host, **extra}, "oidcToken": {"serviceAccountEmail": CALLER}}
    return {"httpTarget": target}


CALLS_WORKER = {
    "queue, the worker's host": lambda url: (QUEUE, _queue(url.removeprefix("https://"))),
    "queue, host and path": lambda url: (QUEUE, _queue(url.removeprefix("https://"), pathOverride={"path": "/jobs"})),
    "queue, audience only": lambda url: (QUEUE, {"httpTarget": {
        "uriOverride": {"host": "lb.example"}, "oidcToken": {"serviceAccountEmail": CALLER, "audience": url}}}),
    "scheduler, URL in the base64 body": lambda url: (SCHEDULER, {"httpTarget": {
        "uri": "https://relay-xyz-uc.a.run.app/forward", "body": _b64({"target": f"{url}/jobs"}),
        "oidcToken": {"serviceAccountEmail": CALLER}}}),
    "scheduler, URL in a plain body": lambda url: (SCHEDULER, {"httpTarget": {
        "uri": "https://relay-xyz-uc.a.run.app/forward", "body": json.dumps({"target": url}),
        "oidcToken": {"serviceAccountEmail": CALLER}}}),
    "scheduler, URL in the query": lambda url: (SCHEDULER, {"httpTarget": {
        "uri": f"https://relay-xyz-uc.a.run.app/forward?to={url}/jobs", "oidcToken": {"serviceAccountEmail": CALLER}}}),
    "push, URL in the endpoint's query": lambda url: (PUSH, {"pushConfig": {
        "pushEndpoint": f"https://relay-xyz-uc.a.run.app/dispatch?to={url}",
        "oidcToken": {"serviceAccountEmail": CALLER}}}),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CALLS_WORKER))
def test_a_caller_whose_request_names_the_service_calls_it(case: str) -> None:
    stack, grant = _with_caller(*CALLS_WORKER[case](_worker_url(project_stack())))
    assert only_intended_invokers(StackModel(stack), ctx()) == []
    assert unverified_invokers(StackModel(stack), ctx()) == []
    # aimed elsewhere, the same caller no longer justifies its grant: its identity is placed and calls nothing here
    stack, grant = _with_caller(*CALLS_WORKER[case](ELSEWHERE))
    found = only_intended_invokers(StackModel(stack), ctx())
    assert [at for at, _ in found] == [grant["urn"]] and "'caller'" in found[0][1]


def test_a_url_that_only_starts_like_the_service_is_not_a_call() -> None:
    url = _worker_url(project_stack())
    body = {"target": url.replace(".a.run.app", "-evil.a.run.app")}
    stack, grant = _with_caller(SCHEDULER, {"httpTarget": {"uri": "https://relay-xyz-uc.a.run.app/forward",
                                                           "body": _b64(body),
                                                           "oidcToken": {"serviceAccountEmail": CALLER}}})  # fmt: skip
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [grant["urn"]]


@pytest.mark.parametrize(
    "props",
    [
        {"httpTarget": {"uri": "https://relay-xyz-uc.a.run.app/f", "body": UNKNOWN_STRING,
                        "oidcToken": {"serviceAccountEmail": CALLER}}},
        {"httpTarget": {"uriOverride": UNKNOWN_OBJECT, "oidcToken": {"serviceAccountEmail": CALLER}}},
        {"httpTarget": {"uriOverride": {"host": UNKNOWN_STRING}, "oidcToken": {"serviceAccountEmail": CALLER}}},
    ],
)  # fmt: skip
def test_a_request_not_known_yet_is_judged_once_known(props: dict) -> None:
    rtype = QUEUE if "uriOverride" in props["httpTarget"] else SCHEDULER
    stack, _ = _with_caller(rtype, props)
    assert only_intended_invokers(StackModel(stack), ctx()) == []


def test_a_queue_without_an_oidc_token_calls_no_service() -> None:
    oauth = {"httpTarget": {"uriOverride": {"host": "tasks.googleapis.com"},
                            "oauthToken": {"serviceAccountEmail": CALLER}}}  # fmt: skip
    stack, grant = _with_caller(QUEUE, oauth)
    # placed (it runs as the account) and calls nothing with an ID token: provably not a caller
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [grant["urn"]]


@pytest.mark.parametrize(
    ("props", "said"),
    [
        ({"httpTarget": {"oidcToken": {"serviceAccountEmail": "123-compute@developer.gserviceaccount.com"}}},
         "is the default service account"),
        ({"httpTarget": {"oidcToken": {"audience": "https://w"}}}, "although it requests a token"),
        ({"httpTarget": {"oauthToken": {"serviceAccountEmail": "p@appspot.gserviceaccount.com"}}},
         "httpTarget.oauthToken.serviceAccountEmail"),
    ],
)  # fmt: skip
def test_a_queue_identity_is_judged_like_a_scheduler_jobs(props: dict, said: str) -> None:
    found = judge("workload-identity-set", QUEUE, props, ctx(name="tasks"))
    assert len(found) == 1 and said in found[0] and "dedicated service account for this queue" in found[0]


@pytest.mark.parametrize(
    "props", [{}, {"httpTarget": {"uriOverride": {"host": "x"}}}, {"httpTarget": {"oidcToken": {"serviceAccountEmail":
                                                                                               CALLER}}}]
)  # fmt: skip
def test_a_queue_without_a_token_or_with_its_own_account_passes(props: dict) -> None:
    assert judge("workload-identity-set", QUEUE, props, ctx()) == []


def test_a_queue_sharing_a_schedulers_account_is_a_shared_identity() -> None:
    token = {"serviceAccountEmail": CALLER}
    resources = [
        {"urn": "urn:job", "type": SCHEDULER, "name": "job", "props": {"httpTarget": {"oidcToken": token}}},
        {"urn": "urn:queue", "type": QUEUE, "name": "queue", "props": {"httpTarget": {"oidcToken": token}}},
    ]
    found = workload_identities(StackModel(resources), ctx())
    assert [at for at, _ in found] == ["urn:queue"] and "queue identity" in found[0][1]


@pytest.mark.parametrize(
    ("override", "url"),
    [
        ({"host": "w-abc-uc.a.run.app"}, "https://w-abc-uc.a.run.app"),
        ({"scheme": "HTTP", "host": "w.internal", "port": "8080", "pathOverride": {"path": "jobs"},
          "queryOverride": {"queryParams": "a=1"}}, "http://w.internal:8080/jobs?a=1"),
        ({"host": "w.internal", "pathOverride": {"path": "/v1/run"}}, "https://w.internal/v1/run"),
        ({"scheme": "HTTPS"}, None),
    ],
)  # fmt: skip
def test_the_url_a_queue_sends_every_task_to(override: dict, url: str | None) -> None:
    assert queue_target_url({"httpTarget": {"uriOverride": override}}) == url


def test_the_caller_program_uses_every_kind_of_call_the_components_make() -> None:
    """tests/policies/programs/callers accepts the caller resources of every kind the components create: a new kind
    there must be added to the program (and recognised by the pack)."""
    source = PROGRAM.read_text(encoding="utf-8")
    assert all(f"{kind.__name__}(" in source for kind in CALL_KINDS), sorted(k.__name__ for k in CALL_KINDS)
