"""A policy is declared whole in its Spec: the resource types its rule judges and the settings it takes; the
adapter calls the rule for those types only and gives the policy exactly those config keys."""

from __future__ import annotations

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyProviderResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from secure_invoke.policies.guardrails.adapter import policy
from secure_invoke.policies.guardrails.config import SETTINGS, ConfigError
from secure_invoke.policies.guardrails.pack import SPECS, build_policies
from secure_invoke.policies.guardrails.spec import GRANTS, MANDATORY, MEDIUM, Spec, types

BUCKET = "gcp:storage/bucket:Bucket"


def _rule(resource_type: str, props: object, ctx: object) -> list[str]:
    return [f"judged {resource_type}"]


def _stack_rule(resources: object, ctx: object) -> list[tuple[str, str]]:
    return []


def _validate(spec: Spec, resource_type: str, config: dict | None = None) -> list[str]:
    built = policy(spec)
    assert isinstance(built, ResourceValidationPolicy)
    urn = f"urn:pulumi:dev::p::{resource_type}::r"
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)
    args = ResourceValidationArgs(resource_type, unknown_checking_proxy({}), urn, "r", options, None, config)
    messages: list[str] = []
    built.validate(args, lambda message, _urn=None: messages.append(message))
    return messages


def test_the_rule_is_called_for_the_types_its_spec_lists_only() -> None:
    spec = Spec("probe", "d", MANDATORY, MEDIUM, "c", resource_rule=_rule, types=types((BUCKET,)))
    assert _validate(spec, BUCKET) == [f"judged {BUCKET}"]
    assert _validate(spec, "gcp:pubsub/topic:Topic") == []
    grants = Spec("probe", "d", MANDATORY, MEDIUM, "c", resource_rule=_rule, types=GRANTS)
    assert _validate(grants, "gcp:kms/cryptoKeyIAMBinding:CryptoKeyIAMBinding") != []
    assert _validate(grants, BUCKET) == []


def test_a_broken_config_stops_the_run_even_on_a_type_the_policy_does_not_judge() -> None:
    spec = Spec("probe", "d", MANDATORY, MEDIUM, "c", resource_rule=_rule, types=types((BUCKET,)))
    with pytest.raises(ConfigError, match="probe: unknown config key 'allowedInvokers'"):
        _validate(spec, "pulumi:pulumi:Stack", {"allowedInvokers": []})


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"resource_rule": _rule}, "lists the resource types it judges"),
        ({"resource_rule": _rule, "stack_rule": _stack_rule, "types": GRANTS}, "exactly one rule"),
        ({}, "exactly one rule"),
        ({"stack_rule": _stack_rule, "settings": ("allowedInvoker",)}, "allowedInvoker is no setting"),
    ],
)
def test_a_spec_that_is_not_whole_is_refused(kwargs: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        Spec("probe", "d", MANDATORY, MEDIUM, "c", **kwargs)


def test_each_policy_takes_exactly_its_specs_settings_with_a_described_default() -> None:
    built = {p.name: p for p in build_policies()}
    for spec in SPECS:
        schema = built[spec.name].config_schema
        assert schema is not None
        assert set(schema.properties) == {"exemptions", *spec.settings}, spec.name
        for key in spec.settings:
            assert schema.properties[key] == SETTINGS[key][1].schema
            assert schema.properties[key]["description"] and "default" in schema.properties[key]
    # every setting is taken by some policy: none is declared for nothing
    assert set(SETTINGS) == {key for spec in SPECS for key in spec.settings}


def test_labels_present_reads_the_providers_default_labels_through_the_adapter() -> None:
    labels_present = next(p for p in build_policies() if p.name == "labels-present")
    assert isinstance(labels_present, ResourceValidationPolicy)
    topic = "gcp:pubsub/topic:Topic"
    urn = f"urn:pulumi:dev::p::{topic}::t"
    options = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)

    def messages(provider: PolicyProviderResource | None) -> list[str]:
        found: list[str] = []
        args = ResourceValidationArgs(topic, unknown_checking_proxy({}), urn, "t", options, provider, None)
        labels_present.validate(args, lambda message, _urn=None: found.append(message))
        return found

    def provider(props: dict) -> PolicyProviderResource:
        return PolicyProviderResource("pulumi:providers:gcp", unknown_checking_proxy(props), "urn:p", "default")

    assert len(messages(None)) == 1
    assert len(messages(provider({"project": "p"}))) == 1
    assert messages(provider({"defaultLabels": {"app": "si"}})) == []
    assert messages(provider({"defaultLabels": '{"app": "si"}'})) == []  # as the engine passes it: JSON text
