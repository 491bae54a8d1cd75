"""caller-audiences-accepted: a scheduler job, push subscription, Cloud Tasks queue or workflow of the stack must
mint its OIDC token for an audience the Cloud Run service it calls accepts — Cloud Run's (the URL, a custom
audience) and, for a service that checks its own (INVOKER_AUDIENCE), exactly that one (issue 19). Reject and
accept cases over plain resource dicts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from secure_invoke.components.callers import workflow_source
from secure_invoke.policies.guardrails.audiences import caller_audiences_accepted
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import UNKNOWN_STRING, ctx, project_stack, sa_email, urn

URL = "https://worker-dev-abcd1234-uc.a.run.app"  # project_stack's worker
CUSTOM = "https://worker-dev.acme.secure-invoke.internal"
TICK = sa_email("tick-dev")


def stack_with(custom: list[str] | None = None, checks: str | None = None) -> list[dict[str, Any]]:
    """The project stack's worker with these custom audiences and (if given) its own audience check."""
    stack = project_stack()
    worker = next(r for r in stack if r["name"] == "worker")["props"]
    if custom is not None:
        worker["customAudiences"] = custom
    envs = worker["template"]["containers"][0]["envs"]
    envs[:] = [e for e in envs if e["name"] != "INVOKER_AUDIENCE"]
    if checks is not None:
        envs.append({"name": "INVOKER_AUDIENCE", "value": checks})
    return stack


def resource(rtype: str, name: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"urn": urn("dev", rtype, name), "type": rtype, "name": name, "props": {"name": name, **props}}


def scheduler(audience: str | None, uri: str = URL + "/jobs") -> dict[str, Any]:
    token = {"serviceAccountEmail": TICK} | ({"audience": audience} if audience is not None else {})
    return resource("gcp:cloudscheduler/job:Job", "nightly", {"httpTarget": {"uri": uri, "oidcToken": token}})


def push(audience: str | None, endpoint: str = URL + "/pubsub") -> dict[str, Any]:
    token = {"serviceAccountEmail": TICK} | ({"audience": audience} if audience is not None else {})
    config = {"pushEndpoint": endpoint, "oidcToken": token}
    return resource("gcp:pubsub/subscription:Subscription", "invoices", {"pushConfig": config})


def queue(audience: str | None, host: str = URL.removeprefix("https://")) -> dict[str, Any]:
    token = {"serviceAccountEmail": TICK} | ({"audience": audience} if audience is not None else {})
    override = {"scheme": "HTTPS", "host": host, "pathOverride": {"path": "/jobs"}, "uriOverrideEnforceMode": "ALWAYS"}
    return resource(
        "gcp:cloudtasks/queue:Queue", "batch", {"httpTarget": {"uriOverride": override, "oidcToken": token}}
    )


def workflow(audience: str | None, url: str = URL) -> dict[str, Any]:
    source = json.loads(workflow_source(url, "/jobs", audience or "", 300))
    if audience is None:
        del source["main"]["steps"][0]["call_service"]["try"]["args"]["auth"]["audience"]
    return resource(
        "gcp:workflows/workflow:Workflow", "reports", {"sourceContents": json.dumps(source), "serviceAccount": TICK}
    )


CALLERS = {"scheduler": scheduler, "push": push, "queue": queue, "workflow": workflow}
FIELDS = {
    "scheduler": "httpTarget.oidcToken.audience",
    "push": "pushConfig.oidcToken.audience",
    "queue": "httpTarget.oidcToken.audience",
    "workflow": "auth.audience",
}


@pytest.mark.parametrize("kind", CALLERS)
def test_the_audience_the_service_checks_is_accepted(kind: str) -> None:
    stack = stack_with([CUSTOM], checks=CUSTOM)
    stack.append(CALLERS[kind](CUSTOM))
    assert caller_audiences_accepted(StackModel(stack), ctx()) == []


@pytest.mark.parametrize("kind", CALLERS)
def test_the_url_cloud_run_accepts_is_refused_by_a_service_that_checks_its_own(kind: str) -> None:
    stack = stack_with([CUSTOM], checks=CUSTOM)
    caller = CALLERS[kind](URL)
    stack.append(caller)
    [(at, message)] = caller_audiences_accepted(StackModel(stack), ctx())
    assert at == caller["urn"]
    assert f"with an OIDC token for the audience '{URL}'" in message
    assert "Cloud Run would let it through, but 'worker-dev' checks the audience itself (INVOKER_AUDIENCE)" in message
    assert message.endswith(f"Set {FIELDS[kind]} to '{CUSTOM}'.")


@pytest.mark.parametrize("kind", CALLERS)
def test_an_unset_audience_is_googles_default_the_url_called(kind: str) -> None:
    stack = stack_with([CUSTOM], checks=CUSTOM)
    stack.append(CALLERS[kind](None))
    [(_, message)] = caller_audiences_accepted(StackModel(stack), ctx())
    assert "(none set: Google sends the URL)" in message and f"'{URL}" in message
    # Without a check of its own the service takes it: Cloud Run accepts its URL (a path after it too).
    plain = stack_with([CUSTOM])
    plain.append(CALLERS[kind](None))
    assert caller_audiences_accepted(StackModel(plain), ctx()) == []


@pytest.mark.parametrize("kind", CALLERS)
def test_an_audience_cloud_run_does_not_accept_is_refused(kind: str) -> None:
    stack = stack_with([CUSTOM])
    caller = CALLERS[kind]("https://another-service.example.com")
    stack.append(caller)
    [(at, message)] = caller_audiences_accepted(StackModel(stack), ctx())
    assert at == caller["urn"]
    assert f"Cloud Run accepts only the URL of 'worker-dev' or its custom audiences ({CUSTOM}): 401" in message
    assert message.endswith(f"Set {FIELDS[kind]} to '{CUSTOM}'.")
    # A custom audience of the service is accepted by Cloud Run, and by the service when it checks none itself.
    accepted = stack_with([CUSTOM, "https://billing.acme.example"])
    accepted.append(CALLERS[kind]("https://billing.acme.example"))
    assert caller_audiences_accepted(StackModel(accepted), ctx()) == []


def test_a_checked_audience_cloud_run_does_not_know_is_refused_first() -> None:
    stack = stack_with([], checks=CUSTOM)  # the service checks an audience it never declared to Cloud Run
    stack.append(scheduler(CUSTOM))
    [(_, message)] = caller_audiences_accepted(StackModel(stack), ctx())
    assert "not one Cloud Run accepts for it" in message


@pytest.mark.parametrize(
    "caller",
    [
        scheduler("https://anything", uri="https://reports-xyz-uc.a.run.app/run"),  # a service outside the stack
        push(None, endpoint="https://hooks.example.com/in"),
        scheduler(UNKNOWN_STRING),  # not known yet (preview): judged once known
        resource("gcp:cloudscheduler/job:Job", "plain", {"httpTarget": {"uri": URL + "/jobs"}}),  # no OIDC token
        resource("gcp:workflows/workflow:Workflow", "yaml", {"sourceContents": "main:\n  steps: []\n"}),
    ],
)
def test_callers_the_rule_cannot_or_need_not_judge_are_accepted(caller: dict[str, Any]) -> None:
    stack = stack_with([CUSTOM], checks=CUSTOM)
    stack.append(caller)
    assert caller_audiences_accepted(StackModel(stack), ctx()) == []


def test_a_service_whose_url_is_not_known_yet_is_not_judged() -> None:
    stack = stack_with([CUSTOM], checks=CUSTOM)
    next(r for r in stack if r["name"] == "worker")["props"]["uri"] = UNKNOWN_STRING
    stack.append(scheduler("https://wrong.example"))
    assert caller_audiences_accepted(StackModel(stack), ctx()) == []
