"""This project's own stack (its grants: docs/design.md §2) passes with zero mandatory violations; breaking it fails."""

from __future__ import annotations

import copy

import pytest
from pulumi_policy import EnforcementLevel

from tests.policies.guardrail_cases import evaluate, mandatory, project_stack


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_project_stack_has_no_mandatory_violations(stack: str) -> None:
    found = evaluate(project_stack(stack))
    assert mandatory(found) == []
    advisories = {name for name, level, _, _ in found if level is EnforcementLevel.ADVISORY}
    assert advisories == {"ingress-restricted"}  # worker keeps ingress ALL with IAM as the gate (docs/design.md §2)


def test_dev_worker_without_min_instances_is_only_flagged_in_prod() -> None:
    prod = project_stack("prod")
    worker = next(r for r in prod if r["name"] == "worker")
    worker["props"]["template"]["scaling"]["minInstanceCount"] = 0
    names = {name for name, _, _, _ in evaluate(prod)}
    assert "prod-min-instances" in names
    assert "prod-min-instances" not in {name for name, _, _, _ in evaluate(project_stack("dev"))}


def _with(resources: list[dict], name: str) -> dict:
    return next(r for r in resources if r["name"] == name)


def test_mutations_of_project_stack_are_caught() -> None:
    base = project_stack("dev")

    shared = copy.deepcopy(base)
    _with(shared, "worker")["props"]["template"]["serviceAccount"] = _with(shared, "relay")["props"]["serviceConfig"][
        "serviceAccountEmail"
    ]
    assert "workload-identities-not-shared" in {n for n, _, _ in mandatory(evaluate(shared))}

    wrong_invoker = copy.deepcopy(base)
    _with(wrong_invoker, "worker-invoker-relay")["props"]["member"] = (
        "serviceAccount:" + _with(wrong_invoker, "worker")["props"]["template"]["serviceAccount"]
    )
    violations = mandatory(evaluate(wrong_invoker))
    assert [(n, at) for n, at, _ in violations] == [
        ("only-intended-invokers", _with(wrong_invoker, "worker-invoker-relay")["urn"])
    ]
    assert "relay-runtime-dev@" in violations[0][2]  # the fix names the real caller

    public = copy.deepcopy(base)
    _with(public, "worker-invoker-relay")["props"]["member"] = "allUsers"
    # One finding per root cause: the public member, not a second one for "not an intended caller".
    assert [n for n, _, _ in mandatory(evaluate(public))] == ["no-public-members"]
