"""invokers-on-service-allowlist: an invoker of a service that checks its callers itself must be on its list, or
the service refuses it with 403 (issue 19). Reject and accept cases over plain resource dicts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from secure_invoke.policies.guardrails.allowlists import invokers_on_allowlist
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import UNKNOWN_STRING, ctx, project_stack, sa_email, urn

RUN_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
RUN_BINDING = "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding"
RUN_POLICY = "gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy"
TICK = sa_email("tick-dev")


def grant(name: str, member: Any, role: Any = "roles/run.invoker", target: str = "worker-dev") -> dict[str, Any]:
    return {
        "urn": urn("dev", RUN_MEMBER, name),
        "type": RUN_MEMBER,
        "name": name,
        "props": {"name": target, "location": "us-central1", "role": role, "member": member},
    }


def envs(stack: list[dict[str, Any]]) -> list[dict[str, Any]]:
    worker = next(r for r in stack if r["name"] == "worker")
    return worker["props"]["template"]["containers"][0]["envs"]


def allowlist(stack: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in envs(stack) if e["name"] == "ALLOWED_INVOKERS")


def test_the_project_stack_whose_invokers_are_all_listed_is_accepted() -> None:
    assert invokers_on_allowlist(StackModel(project_stack()), ctx()) == []


def test_a_deploy_role_is_deploy_power_not_a_caller_to_list() -> None:
    # run.developer can invoke (and redeploy): held by an account the stack does not run, it may deploy from
    # elsewhere (unverified-invokers notes it), so adding it to the list would be the wrong fix. A workload of the
    # stack holding it is still judged (only-intended-invokers: a caller needs run.invoker only).
    stack = project_stack()
    stack.append(grant("tick-dev-role", f"serviceAccount:{TICK}", role="roles/run.developer"))
    assert invokers_on_allowlist(StackModel(stack), ctx()) == []
    stack.append(grant("tick-invoker", f"serviceAccount:{TICK}"))
    assert [at for at, _ in invokers_on_allowlist(StackModel(stack), ctx())] == [urn("dev", RUN_MEMBER, "tick-invoker")]


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        (grant("tick-invoker", f"serviceAccount:{TICK}"), "member"),
        # The service's full resource name, as grants may give it.
        (grant("tick-full", f"serviceAccount:{TICK}", target="projects/p/locations/us-central1/services/worker-dev"),
         "member"),
        (
            {"urn": urn("dev", RUN_BINDING, "invokers"), "type": RUN_BINDING, "name": "invokers",
             "props": {"name": "worker-dev", "role": "roles/run.invoker",
                       "members": [f"serviceAccount:{sa_email('relay-runtime-dev')}", f"serviceAccount:{TICK}"]}},
            "members[1]",
        ),
        (
            {"urn": urn("dev", RUN_POLICY, "policy"), "type": RUN_POLICY, "name": "policy",
             "props": {"name": "worker-dev",
                       "policyData": '{"bindings": [{"role": "roles/run.invoker", "members": ["serviceAccount:'
                       + TICK + '"]}]}'}},
            "policyData",
        ),
    ],
)  # fmt: skip
def test_an_invoker_the_service_does_not_list_is_rejected_naming_grant_list_and_fix(
    extra: dict[str, Any], where: str
) -> None:
    stack = project_stack()
    stack.append(extra)
    [(at, message)] = invokers_on_allowlist(StackModel(stack), ctx())
    assert at == extra["urn"]
    assert message.startswith(f"{where}")
    assert f"serviceAccount:{TICK} can invoke 'worker-dev'" in message
    assert "its list (ALLOWED_INVOKERS of 'worker') does not name it" in message and "403" in message
    assert "Declare it as a caller of the service" in message and "remove this grant" in message


def test_listed_invokers_roles_without_invoke_and_other_members_are_accepted() -> None:
    stack = project_stack()
    allowlist(stack)["value"] += f", {TICK.upper()}"  # listed (emails compare case-insensitively)
    stack.append(grant("tick-invoker", f"serviceAccount:{TICK}"))
    stack.append(grant("viewer", f"serviceAccount:{sa_email('audit-dev')}", role="roles/run.viewer"))  # no invoke
    stack.append(grant("person", "user:alice@example.com"))  # people: human-access-expires judges them
    assert invokers_on_allowlist(StackModel(stack), ctx()) == []


def test_a_service_without_an_allowlist_is_not_judged() -> None:
    stack = project_stack()
    envs(stack).remove(allowlist(stack))
    stack.append(grant("tick-invoker", f"serviceAccount:{TICK}"))
    assert invokers_on_allowlist(StackModel(stack), ctx()) == []


def test_a_grant_on_another_service_is_judged_against_that_one() -> None:
    stack = project_stack()
    stack.append(grant("elsewhere", f"serviceAccount:{TICK}", target="reports-dev"))  # not this stack's worker
    assert invokers_on_allowlist(StackModel(stack), ctx()) == []


@pytest.mark.parametrize("unknown", ["member", "role", "list"])
def test_values_not_known_yet_are_judged_once_known(unknown: str) -> None:
    stack = copy.deepcopy(project_stack())
    extra = grant("tick-invoker", f"serviceAccount:{TICK}")
    if unknown == "list":
        allowlist(stack)["value"] = UNKNOWN_STRING
    else:
        extra["props"][unknown] = UNKNOWN_STRING
    stack.append(extra)
    assert invokers_on_allowlist(StackModel(stack), ctx()) == []


def test_with_the_same_allowed_invokers_a_caller_elsewhere_is_judged_once() -> None:
    # Listed in allowedInvokers (a caller in another project the pack cannot place), unlisted by the worker:
    # only this policy can say so. Not on allowedInvokers: only-intended-invokers rejects it, and this leaves it.
    from secure_invoke.policies.guardrails.invokers import only_intended_invokers

    elsewhere = "serviceAccount:frontend@other-project.iam.gserviceaccount.com"
    stack = project_stack()
    extra = grant("frontend", elsewhere)
    stack.append(extra)
    listed = ctx(allowed_invokers=frozenset({elsewhere}))
    assert only_intended_invokers(StackModel(stack), listed) == []
    assert [at for at, _ in invokers_on_allowlist(StackModel(stack), listed)] == [extra["urn"]]
    other = ctx(allowed_invokers=frozenset({"serviceAccount:backend@other-project.iam.gserviceaccount.com"}))
    assert [at for at, _ in only_intended_invokers(StackModel(stack), other)] == [extra["urn"]]
    assert invokers_on_allowlist(StackModel(stack), other) == []


def test_a_grant_the_intended_caller_rule_rejects_is_left_to_it() -> None:
    # The worker's own account calls nothing: only-intended-invokers rejects its grant; one finding per grant.
    from secure_invoke.policies.guardrails.invokers import only_intended_invokers

    stack = project_stack()
    worker = next(r for r in stack if r["name"] == "worker")["props"]["template"]["serviceAccount"]
    extra = grant("worker-self-invoke", f"serviceAccount:{worker}")
    stack.append(extra)
    assert [at for at, _ in only_intended_invokers(StackModel(stack), ctx())] == [extra["urn"]]
    assert invokers_on_allowlist(StackModel(stack), ctx()) == []
