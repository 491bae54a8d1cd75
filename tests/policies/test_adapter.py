"""The pulumi-policy adapter: unknown-checking proxies, config validation, exemptions by URN."""

from __future__ import annotations

from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import proxy as sdk_proxy
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from secure_invoke.policies.guardrails.adapter import to_plain
from secure_invoke.policies.guardrails.config import ConfigError, parse_settings
from secure_invoke.policies.guardrails.pack import SPECS, build_policies, initial_config
from secure_invoke.policies.guardrails.values import UNKNOWN_SENTINELS
from tests.policies.guardrail_cases import UNKNOWN_STRING, project_stack

MEMBER_URN = "urn:pulumi:dev::secure-invoke::gcp:cloudrunv2/serviceIamMember:ServiceIamMember::open"
MEMBER_TYPE = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"


def test_sentinels_match_the_sdk() -> None:
    sdk = {value for name, value in vars(sdk_proxy).items() if name.startswith("UNKNOWN_") and name.endswith("_VALUE")}
    assert len(sdk) == 7
    assert sdk == UNKNOWN_SENTINELS


def test_sdk_proxy_raises_on_unknown_and_to_plain_does_not() -> None:
    props = unknown_checking_proxy({"member": "allUsers", "role": UNKNOWN_STRING, "nested": {"x": [UNKNOWN_STRING]}})
    with pytest.raises(UnknownValueError):
        _ = props["role"]
    with pytest.raises(UnknownValueError):
        _ = "role" in props  # even membership reads the value
    assert to_plain(props) == {"member": "allUsers", "role": UNKNOWN_STRING, "nested": {"x": [UNKNOWN_STRING]}}


def _policy(name: str) -> Any:
    return next(p for p in build_policies() if p.name == name)


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _run_resource(name: str, props: dict, config: dict | None = None, urn: str = MEMBER_URN) -> list[str]:
    policy = _policy(name)
    assert isinstance(policy, ResourceValidationPolicy)
    args = ResourceValidationArgs(
        MEMBER_TYPE, unknown_checking_proxy(props), urn, urn.rsplit("::", 1)[1], _opts(), None, config
    )
    messages: list[str] = []
    policy.validate(args, lambda message, _urn=None: messages.append(message))
    return messages


def test_known_public_member_reported_next_to_unknown_role() -> None:
    messages = _run_resource(
        "no-public-members", {"member": "allUsers", "role": UNKNOWN_STRING, "name": UNKNOWN_STRING}
    )
    assert len(messages) == 1 and "allUsers" in messages[0] and "'open'" in messages[0]


def test_unknown_member_is_not_a_violation_and_does_not_raise() -> None:
    assert _run_resource("no-public-members", {"member": UNKNOWN_STRING, "role": "roles/run.invoker"}) == []


def test_exemption_by_urn_requires_reason_and_makes_policy_not_applicable() -> None:
    from pulumi_policy.policy import _NotApplicableError

    config = {"exemptions": [{"urn": MEMBER_URN, "reason": "public status page, approved SEC-12"}]}
    with pytest.raises(_NotApplicableError) as raised:
        _run_resource("no-public-members", {"member": "allUsers", "role": "roles/run.invoker"}, config)
    assert raised.value.reason == "exempted: public status page, approved SEC-12"
    # another URN is still checked
    other = MEMBER_URN.replace("::open", "::other")
    assert len(_run_resource("no-public-members", {"member": "allUsers", "role": "r"}, config, other)) == 1
    # an exemption scoped to other policies does not apply here
    scoped = {"exemptions": [{"urn": MEMBER_URN, "reason": "r", "policies": ["no-basic-roles"]}]}
    assert len(_run_resource("no-public-members", {"member": "allUsers", "role": "r"}, scoped)) == 1


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"exemptions": [{"urn": MEMBER_URN}]}, "exemptions[0].reason is required"),
        ({"exemptions": [{"urn": MEMBER_URN, "reason": "   "}]}, "exemptions[0].reason is required"),
        ({"exemptions": [{"reason": "x"}]}, "exemptions[0].urn must be a resource URN"),
        ({"exemptions": "all"}, "exemptions must be a list"),
        ({"exemptions": [{"urn": MEMBER_URN, "reason": "x", "policies": "no-basic-roles"}]}, "policies must be a list"),
        ({"allowedMemberDomains": "example.com"}, "allowedMemberDomains must be a list of non-empty strings"),
        ({"extraAllowedRoles": [1]}, "extraAllowedRoles must be a list"),
    ],
)
def test_bad_config_is_a_one_line_error(config: dict, error: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_settings("no-public-members", config)
    assert error in str(raised.value) and "\n" not in str(raised.value)
    # The policy stops the run with it (a violation would be easy to miss, and advisory on advisory policies).
    policy = "no-broad-principals" if "Domains" in error else "no-public-members"
    if "extraAllowedRoles" in error:
        policy = "no-high-scope-privileged-roles"
        with pytest.raises(ConfigError, match="extraAllowedRoles must be a list"):
            _run_stack(policy, project_stack(), config)
        return
    with pytest.raises(ConfigError) as stopped:
        _run_resource(policy, {"member": "user:a@example.com", "role": "r"}, config)
    assert error in str(stopped.value)


@pytest.mark.parametrize(
    ("policy", "config", "hint"),
    [
        ("only-intended-invokers", {"allowedInvoker": ["serviceAccount:a@b.iam.gserviceaccount.com"]},
         "unknown config key 'allowedInvoker' (did you mean 'allowedInvokers'?)"),
        ("no-public-members", {"exemption": []}, "unknown config key 'exemption' (did you mean 'exemptions'?)"),
        ("no-public-members", {"allowedMemberDomains": ["acme.com"]},  # another policy's key
         "unknown config key 'allowedMemberDomains' (no-public-members takes enforcementLevel, exemptions)"),
        ("human-access-expires", {"maxHumanAccesDays": 3}, "did you mean 'maxHumanAccessDays'?"),
    ],
)  # fmt: skip
def test_unknown_config_key_stops_the_run_naming_the_key_and_the_closest_valid_one(
    policy: str, config: dict, hint: str
) -> None:
    runs_on_stack = isinstance(_policy(policy), StackValidationPolicy)
    with pytest.raises(ConfigError) as raised:
        if runs_on_stack:
            _run_stack(policy, project_stack(), config)
        else:
            _run_resource(policy, {"member": "user:a@example.com", "role": "r"}, config)
    assert str(raised.value) == f"{policy}: {hint}" or hint in str(raised.value)
    assert str(raised.value).startswith(f"{policy}: unknown config key")


def test_defaults_are_strict() -> None:
    settings = parse_settings("x", {})
    assert settings.allowed_member_domains == frozenset()
    assert settings.extra_allowed_roles == frozenset()
    assert settings.exemptions == {}


def test_config_reaches_rules() -> None:
    props = {"member": "domain:example.com", "role": "roles/run.invoker"}
    assert len(_run_resource("no-broad-principals", props)) == 1
    assert _run_resource("no-broad-principals", props, {"allowedMemberDomains": ["example.com"]}) == []


def _policy_resources(resources: list[dict]) -> list[PolicyResource]:
    return [
        PolicyResource(r["type"], unknown_checking_proxy(r["props"]), r["urn"], r["name"], _opts(), None, None, [], {})
        for r in resources
    ]


def _run_stack(name: str, resources: list[dict], config: dict | None = None) -> list[tuple[str, str | None]]:
    policy = _policy(name)
    assert isinstance(policy, StackValidationPolicy)
    found: list[tuple[str, str | None]] = []
    policy.validate(StackValidationArgs(_policy_resources(resources), config), lambda m, u=None: found.append((m, u)))
    return found


def test_stack_policy_reports_urn_of_grant_and_honours_exemption() -> None:
    stack = project_stack()
    worker_sa = next(r for r in stack if r["name"] == "worker")["props"]["template"]["serviceAccount"]
    intruder = {
        "urn": "urn:pulumi:dev::secure-invoke::gcp:cloudrunv2/serviceIamMember:ServiceIamMember::intruder",
        "type": MEMBER_TYPE,
        "name": "intruder",
        # The worker's own identity: placed in this stack, and it does not call itself.
        "props": {"name": "worker-dev", "role": "roles/run.invoker", "member": f"serviceAccount:{worker_sa}"},
    }
    stack.append(intruder)
    found = _run_stack("only-intended-invokers", stack)
    assert [u for _, u in found] == [intruder["urn"]]
    exempt = {"exemptions": [{"urn": intruder["urn"], "reason": "break-glass until 2027-01-01"}]}
    assert _run_stack("only-intended-invokers", stack, exempt) == []


def test_each_invoker_policy_reads_the_outside_callers_from_its_own_config() -> None:
    stack = project_stack()
    outside = {
        "urn": "urn:pulumi:dev::secure-invoke::gcp:cloudrunv2/serviceIamMember:ServiceIamMember::outside",
        "type": MEMBER_TYPE,
        "name": "outside",
        "props": {"name": "worker-dev", "role": "roles/run.invoker",
                  "member": "serviceAccount:frontend@other-project.iam.gserviceaccount.com"},
    }  # fmt: skip
    stack.append(outside)
    # No list: the mandatory policy is silent, the advisory one notes the caller it cannot place.
    assert _run_stack("only-intended-invokers", stack) == []
    assert [u for _, u in _run_stack("unverified-invokers", stack)] == [outside["urn"]]
    # A list without it: mandatory there, and the advisory one, given the same list, stays quiet.
    listed = {"allowedInvokers": ["serviceAccount:backend@other-project.iam.gserviceaccount.com"]}
    assert [u for _, u in _run_stack("only-intended-invokers", stack, listed)] == [outside["urn"]]
    assert _run_stack("unverified-invokers", stack, listed) == []
    # Each reads its own config, never the list another policy ran with before it.
    assert [u for _, u in _run_stack("unverified-invokers", stack)] == [outside["urn"]]
    # A list naming it: neither reports it.
    named = {"allowedInvokers": ["serviceAccount:frontend@other-project.iam.gserviceaccount.com"]}
    assert _run_stack("only-intended-invokers", stack, named) == []
    assert _run_stack("unverified-invokers", stack, named) == []


def test_stack_policy_with_unknown_outputs_does_not_raise() -> None:
    stack = project_stack()
    for resource in stack:
        if resource["type"].startswith("gcp:serviceaccount/account"):
            resource["props"]["email"] = UNKNOWN_STRING
        if resource["name"] == "worker":
            resource["props"]["uri"] = UNKNOWN_STRING
            resource["props"]["template"]["serviceAccount"] = UNKNOWN_STRING
    assert _run_stack("only-intended-invokers", stack) == []
    assert _run_stack("workload-identities-not-shared", stack) == []


def test_every_policy_has_an_explicit_level_in_initial_config() -> None:
    names = [p.name for p in build_policies()]
    assert len(names) == len(set(names)) == len(SPECS)
    config = initial_config()
    assert set(config) == set(names)
    assert all(isinstance(entry, dict) and "enforcementLevel" in entry for entry in config.values())
    for policy in build_policies():
        assert policy.enforcement_level == next(s.level for s in SPECS if s.name == policy.name)
        assert policy.config_schema is not None
        reason = policy.config_schema.properties["exemptions"]["items"]
        assert reason["required"] == ["urn", "reason"]


def test_private_sdk_surface_the_adapter_unwraps() -> None:
    """to_plain is the one place the pack touches pulumi-policy's private proxies: their names and the
    `__target` key it unwraps them by must still exist (a renamed SDK fails here, not on a user's stack)."""
    from pulumi_policy import Secret
    from pulumi_policy.proxy import _DictProxy, _ListProxy
    from pulumi_policy.secret import _DictSecretsProxy, _ListSecretsProxy

    target = {"a": [1, {"b": UNKNOWN_STRING}]}
    proxied = unknown_checking_proxy(target)
    assert isinstance(proxied, _DictProxy) and isinstance(proxied["a"], _ListProxy)
    assert isinstance(proxied["__target"], dict) and set(proxied["__target"]) == {"a"}
    secrets = _DictSecretsProxy({"s": Secret("v"), "l": [Secret("w")]})
    assert secrets["__target"]["s"].value == "v"
    assert isinstance(_ListSecretsProxy([1])["__target"], list)
    assert to_plain(secrets) == {"s": "v", "l": ["w"]}
    assert to_plain(proxied) == target
