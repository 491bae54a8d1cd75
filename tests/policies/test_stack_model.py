"""The stack model: built once per AnalyzeStack and read by every stack policy; a judgement two policies report
on (the invokers) made once; no policy depends on another having run — each alone gives what it gives in the
pack, whatever the order."""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    Secret,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from secure_invoke.policies.guardrails import adapter
from secure_invoke.policies.guardrails.adapter import stack_policy
from secure_invoke.policies.guardrails.pack import SPECS, build_policies
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import PROJECT, project_stack, sa_email, urn

MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
OUTSIDE = "serviceAccount:frontend@other-project.iam.gserviceaccount.com"
STACK_SPECS = [spec for spec in SPECS if spec.stack_rule is not None]


def _grant(name: str, rtype: str, props: dict[str, Any]) -> dict[str, Any]:
    return {"urn": urn("dev", rtype, name), "type": rtype, "name": name, "props": props}


def _stacks() -> dict[str, list[dict[str, Any]]]:
    """The project's stack, and the same with a finding for each stack policy."""
    worker = {"name": "worker-dev", "location": "us-central1", "role": "roles/run.invoker"}
    stranger = _grant("stranger", MEMBER, {**worker, "member": f"serviceAccount:{sa_email('worker-runtime-dev')}"})
    outside = _grant("outside", MEMBER, {**worker, "member": OUTSIDE})
    wide = _grant("wide", PROJECT_MEMBER, {"project": PROJECT, "role": "roles/run.admin",
                                           "member": f"serviceAccount:{sa_email('relay-build-dev')}"})  # fmt: skip
    partial = _grant("partial", PROJECT_MEMBER, {
        "project": PROJECT, "role": "roles/storage.objectViewer", "member": f"serviceAccount:{sa_email('x')}",
        "condition": {"title": "t", "expression": 'resource.name.startsWith("projects/_/buckets/app")'}})  # fmt: skip
    unseen = _grant("unseen", PROJECT_MEMBER, {"project": PROJECT, "role": f"projects/{PROJECT}/roles/elsewhere",
                                               "member": f"serviceAccount:{sa_email('x')}"})  # fmt: skip
    shared = project_stack()
    relay = next(r for r in shared if r["name"] == "relay")
    relay["props"]["eventTrigger"]["serviceAccountEmail"] = sa_email("relay-runtime-dev")
    return {
        "project": project_stack(),
        "every finding": [*shared, stranger, outside, wide, partial, unseen],
    }


def _resources(resources: list[dict[str, Any]]) -> list[PolicyResource]:
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    # A fresh deserialized copy per policy, as the SDK hands each policy its own.
    return [
        PolicyResource(
            r["type"],
            unknown_checking_proxy(copy.deepcopy(r["props"])),
            r["urn"],
            r["name"],
            options,
            None,
            None,
            [],
            {},
        )
        for r in resources
    ]


def _run(built: StackValidationPolicy, resources: list[dict[str, Any]], config: dict | None) -> list[tuple]:
    found: list[tuple] = []
    args = StackValidationArgs(_resources(resources), config)
    built.validate(args, lambda message, at=None: found.append((at, message)))
    return found


CONFIGS = {"none": {}, "outside caller listed": {"allowedInvokers": [OUTSIDE]}}


def _config(spec_settings: tuple[str, ...], config: dict) -> dict | None:
    return {k: v for k, v in config.items() if k in spec_settings} or None


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("stack_name", sorted(_stacks()))
def test_each_stack_policy_alone_gives_what_it_gives_in_the_pack_in_any_order(stack_name: str, config_name: str):
    resources = _stacks()[stack_name]
    config = CONFIGS[config_name]
    # alone: each built on its own (its own model of the stack), run once
    alone = {spec.name: _run(stack_policy(spec), resources, _config(spec.settings, config)) for spec in STACK_SPECS}
    stack_policies = {p.name: p for p in build_policies() if isinstance(p, StackValidationPolicy)}
    specs = {spec.name: spec for spec in STACK_SPECS}
    for order in (list(stack_policies), list(reversed(stack_policies))):
        in_pack = {name: _run(stack_policies[name], resources, _config(specs[name].settings, config)) for name in order}
        assert in_pack == alone, order
    if stack_name == "every finding":
        # every stack policy has something to say here, so the comparison compares findings
        assert all(alone.values()) or config_name != "none", {k for k, v in alone.items() if not v}


def test_the_stack_is_modelled_once_per_analysis_and_the_invokers_judged_once(monkeypatch: pytest.MonkeyPatch):
    built: list[int] = []
    judged: list[Hashable] = []

    class Counted(StackModel):
        def __init__(self, resources: Any) -> None:
            built.append(len(resources))
            super().__init__(resources)

        def judged(self, key: Hashable, judge: Callable[[], Any]) -> Any:
            def counting() -> Any:
                judged.append(key)
                return judge()

            return super().judged(key, counting)

    monkeypatch.setattr(adapter, "StackModel", Counted)
    resources = _stacks()["every finding"]
    stack_policies = [p for p in build_policies() if isinstance(p, StackValidationPolicy)]
    for built_policy in stack_policies:
        _run(built_policy, resources, None)
    assert built == [len(resources)] and judged == [("invokers", frozenset()), "call graph"]
    # Another stack (or the same one changed): a new model, judged anew.
    changed = [
        *resources,
        _grant("late", MEMBER, {"name": "worker-dev", "role": "roles/run.invoker", "member": OUTSIDE}),
    ]
    for built_policy in stack_policies:
        _run(built_policy, changed, None)
    assert len(built) == 2 and len(judged) == 4
    # Different lists on the two invoker policies: one judgement per list.
    names = {"only-intended-invokers", "unverified-invokers"}
    for built_policy in (p for p in stack_policies if p.name in names):
        listed = {"allowedInvokers": [OUTSIDE]} if built_policy.name == "unverified-invokers" else None
        _run(built_policy, changed, listed)
    assert len(built) == 2 and judged[4:] == [("invokers", frozenset({OUTSIDE}))]


def test_stacks_that_differ_only_inside_a_secret_are_judged_apart() -> None:
    """The model is reused for equal resources only: the fingerprint reads into secret values."""
    mandatory = next(p for p in build_policies() if p.name == "only-intended-invokers")
    assert isinstance(mandatory, StackValidationPolicy)

    def with_secret_worker_url(url: str) -> list[dict[str, Any]]:
        resources = project_stack()
        relay = next(r for r in resources if r["name"] == "relay")
        env = relay["props"]["serviceConfig"]["environmentVariables"]
        env["WORKER_URL"] = env["WORKER_AUDIENCE"] = Secret(url)
        return resources

    calls_worker = with_secret_worker_url("https://worker-dev-abcd1234-uc.a.run.app")
    calls_elsewhere = with_secret_worker_url("https://elsewhere.example.com")
    assert _run(mandatory, calls_worker, None) == []
    found = _run(mandatory, calls_elsewhere, None)
    assert [at.rsplit("::", 1)[1] for at, _ in found] == ["worker-invoker-relay"]
    assert _run(mandatory, calls_worker, None) == []
