"""Property-based: no rule raises on any property dict — missing keys, None, wrong types, nested unknown
sentinels, huge strings — whether called directly or through the SDK's unknown-checking proxies."""

from __future__ import annotations

import json
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy

from secure_invoke.policies.guardrails.context import RuleContext
from secure_invoke.policies.guardrails.pack import SPECS, build_policies
from secure_invoke.policies.guardrails.stack import StackModel
from secure_invoke.policies.guardrails.values import UNKNOWN_SENTINELS

FUZZ = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)

KEYS = [
    "member", "members", "role", "policyData", "condition", "bindings", "name", "id", "service", "cloudFunction",
    "serviceConfig", "serviceAccountEmail", "environmentVariables", "buildEnvironmentVariables", "eventTrigger",
    "buildConfig", "serviceAccount", "buildServiceAccount", "template", "spec", "serviceAccountName",
    "containers", "envs", "value", "valueSource", "metadata", "annotations", "labels", "ingress",
    "ingressSettings", "invokerIamDisabled", "scaling", "minInstanceCount", "restrictions", "apiTargets",
    "browserKeyRestrictions", "permissions", "roleId", "uri", "urls", "customAudiences", "url", "statuses",
    "httpsTriggerUrl", "run.googleapis.com/invoker-iam-disabled", "run.googleapis.com/ingress",
    "autoscaling.knative.dev/minScale", "defaultLabels", "credentials", "pushConfig", "pushEndpoint", "oidcToken", "audience",
    "httpTarget", "destination", "cloudRunService", "oauthToken", "entity", "roleEntities", "predefinedAcl",
    "defaultAcl", "accesses", "specialGroup", "iamMember",
]  # fmt: skip
STRINGS = [
    "allUsers", "allAuthenticatedUsers", "domain:example.com", "serviceAccount:a@p.iam.gserviceaccount.com",
    "serviceAccount:", "user:", "principalSet://iam.googleapis.com/x/*", "roles/owner", "roles/run.invoker",
    "roles/run.admin", "roles/iam.serviceAccountKeyAdmin", "projects/p/roles/x", "iam.serviceAccounts.actAs",
    "run.routes.invoke", "123-compute@developer.gserviceaccount.com", "projects/p/serviceAccounts/",
    "https://w-abc-uc.a.run.app", "true", "1", "INGRESS_TRAFFIC_ALL", "AIza" + "x" * 35, "-----BEGIN PRIVATE KEY-----",
    '{"bindings": [{"role": "roles/owner", "members": ["allUsers"]}]}', '{"bindings": 5}', "{", "",
    "urn:pulumi:dev::p::gcp:x:Y::n", "A" * 200_000, "aB3" * 5_000, "READER:allUsers", "publicRead", "a1" * 32,
    "projects/p/roles/custom", "organizations/1/roles/custom", "key.json",
]  # fmt: skip
RESOURCE_TYPES = sorted(
    {
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
        "gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding",
        "gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy",
        "gcp:cloudrun/iamMember:IamMember",
        "gcp:cloudfunctionsv2/functionIamMember:FunctionIamMember",
        "gcp:projects/iAMMember:IAMMember",
        "gcp:projects/iAMBinding:IAMBinding",
        "gcp:projects/iAMPolicy:IAMPolicy",
        "gcp:organizations/iAMPolicy:IAMPolicy",
        "gcp:serviceaccount/iAMMember:IAMMember",
        "gcp:projects/iAMCustomRole:IAMCustomRole",
        "gcp:cloudfunctionsv2/function:Function",
        "gcp:cloudfunctions/function:Function",
        "gcp:cloudrunv2/service:Service",
        "gcp:cloudrunv2/job:Job",
        "gcp:cloudrunv2/workerPool:WorkerPool",
        "gcp:cloudrun/service:Service",
        "gcp:serviceaccount/key:Key",
        "gcp:storage/hmacKey:HmacKey",
        "gcp:projects/apiKey:ApiKey",
        "gcp:storage/bucket:Bucket",
        "gcp:pubsub/subscription:Subscription",
        "gcp:cloudscheduler/job:Job",
        "gcp:eventarc/trigger:Trigger",
        "gcp:storage/bucketAccessControl:BucketAccessControl",
        "gcp:storage/bucketACL:BucketACL",
        "gcp:storage/objectACL:ObjectACL",
        "gcp:bigquery/datasetAccess:DatasetAccess",
        "gcp:bigquery/dataset:Dataset",
        "pulumi:pulumi:Stack",
        "pulumi:providers:gcp",
        "",
        "not-a-token",
    }
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(sorted(UNKNOWN_SENTINELS)),
    st.sampled_from(STRINGS),
    st.text(alphabet=string.printable, max_size=40),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), children, max_size=6),
    ),
    max_leaves=30,
)


@st.composite
def props_dicts(draw: st.DrawFn) -> dict[str, Any]:
    props = draw(st.dictionaries(st.sampled_from(KEYS), values, max_size=8))
    if draw(st.booleans()):
        # policyData as the JSON string the provider takes, built from arbitrary structure
        props["policyData"] = json.dumps(draw(values), default=str)
    return props


@st.composite
def stacks(draw: st.DrawFn) -> list[dict[str, Any]]:
    resources = []
    for index in range(draw(st.integers(min_value=0, max_value=6))):
        resource: dict[str, Any] = {
            "urn": draw(st.one_of(st.just(f"urn:pulumi:prod::p::t::r{index}"), scalars)),
            "type": draw(st.one_of(st.sampled_from(RESOURCE_TYPES), scalars)),
            "name": draw(st.one_of(st.sampled_from(["worker-dev", "relay-dev", "r"]), scalars)),
            "props": draw(st.one_of(props_dicts(), values)),
        }
        for key in draw(st.lists(st.sampled_from(sorted(resource)), max_size=2)):
            resource.pop(key, None)
        resources.append(resource)
    return resources


RESOURCE_SPECS = [s for s in SPECS if s.resource_rule is not None]
STACK_RULES = [(s.name, s.stack_rule) for s in SPECS if s.stack_rule is not None]
CTX = RuleContext(urn="urn:pulumi:prod::p::t::n", name="n", stack="prod")


# Every example goes through every rule: generation dominates the cost, so sharing it keeps this fast
# while each rule still sees a thousand dicts (about 14 000 rule calls in all).
@settings(FUZZ, max_examples=1000)
@given(rtype=st.one_of(st.sampled_from(RESOURCE_TYPES), st.text(max_size=20)), props=props_dicts())
def test_resource_rules_never_raise(rtype: str, props: dict[str, Any]) -> None:
    # A rule is called for the types its Spec lists (the adapter never calls it for another one).
    for spec in RESOURCE_SPECS:
        assert spec.resource_rule is not None
        for judged in (rtype, *sorted(spec.types.tokens), "gcp:projects/iAMBinding:IAMBinding"):
            if spec.judges(judged):
                result = spec.resource_rule(judged, props, CTX)
                assert isinstance(result, list) and all(isinstance(m, str) and m for m in result), spec.name


@settings(FUZZ, max_examples=250)
@given(resources=stacks())
def test_stack_rules_never_raise(resources: list[dict[str, Any]]) -> None:
    model = StackModel(resources)
    for name, rule in STACK_RULES:
        result = rule(model, CTX)
        assert all(isinstance(urn, str) and isinstance(m, str) for urn, m in result), name


def _opts() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


@settings(FUZZ, max_examples=150)
@given(rtype=st.sampled_from(RESOURCE_TYPES), props=props_dicts())
def test_every_policy_through_sdk_proxies_never_raises(rtype: str, props: dict[str, Any]) -> None:
    urn = "urn:pulumi:prod::p::" + (rtype or "t") + "::n"
    for policy in build_policies():
        if isinstance(policy, ResourceValidationPolicy):
            args = ResourceValidationArgs(rtype, unknown_checking_proxy(props), urn, "n", _opts(), None, None)
        else:
            assert isinstance(policy, StackValidationPolicy)
            resource = PolicyResource(rtype, unknown_checking_proxy(props), urn, "n", _opts(), None, None, [], {})
            args = StackValidationArgs([resource], None)
        policy.validate(args, lambda message, _urn=None: None)  # type: ignore[arg-type]
