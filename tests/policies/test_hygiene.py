"""Advisory hygiene: labels, warm instances in production, ingress open to all."""

from __future__ import annotations

import pytest

from secure_invoke.policies.guardrails.hygiene import ingress_restricted, labels_present, prod_min_instances
from tests.policies.guardrail_cases import UNKNOWN_OBJECT, UNKNOWN_STRING, ctx, judge


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:storage/bucket:Bucket", {}),
        ("gcp:pubsub/topic:Topic", {"labels": {}}),
        ("gcp:cloudrunv2/service:Service", {"labels": None}),
        ("gcp:cloudrun/service:Service", {"metadata": {}}),
        ("gcp:cloudfunctionsv2/function:Function", {}),
    ],
)
def test_missing_labels_reported(rtype: str, props: dict) -> None:
    assert len(labels_present(rtype, props, ctx())) == 1


@pytest.mark.parametrize(
    ("rtype", "props", "rule_ctx"),
    [
        ("gcp:storage/bucket:Bucket", {"labels": {"app": "si"}}, ctx()),
        ("gcp:cloudrun/service:Service", {"metadata": {"labels": {"app": "si"}}}, ctx()),
        ("gcp:pubsub/topic:Topic", {"labels": UNKNOWN_OBJECT}, ctx()),
        ("gcp:pubsub/topic:Topic", {}, ctx(provider_default_labels=True)),
        ("gcp:serviceaccount/account:Account", {}, ctx()),  # accounts carry no labels
    ],
)
def test_labelled_or_unlabelable_accepted(rtype: str, props: dict, rule_ctx) -> None:
    assert judge("labels-present", rtype, props, rule_ctx) == []


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:cloudrunv2/service:Service", {"template": {}}),
        ("gcp:cloudrunv2/service:Service", {"template": {"scaling": {"minInstanceCount": 0}}}),
        ("gcp:cloudrun/service:Service", {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/minScale": "0"}}}}),
    ],
)  # fmt: skip
def test_prod_service_without_min_instances_reported(rtype: str, props: dict) -> None:
    assert len(prod_min_instances(rtype, props, ctx(stack="prod"))) == 1
    assert prod_min_instances(rtype, props, ctx(stack="dev")) == []
    assert len(prod_min_instances(rtype, props, ctx(stack="live", production_stacks=frozenset({"live"})))) == 1


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:cloudrunv2/service:Service", {"template": {"scaling": {"minInstanceCount": 1}}}),
        ("gcp:cloudrunv2/service:Service", {"scaling": {"minInstanceCount": 2}}),
        ("gcp:cloudrunv2/service:Service", {"template": {"scaling": {"minInstanceCount": UNKNOWN_STRING}}}),
        ("gcp:cloudrun/service:Service", {"template": {"metadata": {"annotations": {"autoscaling.knative.dev/minScale": "1"}}}}),
        ("gcp:cloudfunctionsv2/function:Function", {}),
    ],
)  # fmt: skip
def test_prod_service_with_min_instances_accepted(rtype: str, props: dict) -> None:
    assert judge("prod-min-instances", rtype, props, ctx(stack="prod")) == []


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:cloudrunv2/service:Service", {}),
        ("gcp:cloudrunv2/service:Service", {"ingress": "INGRESS_TRAFFIC_ALL"}),
        ("gcp:cloudfunctionsv2/function:Function", {"serviceConfig": {"ingressSettings": "ALLOW_ALL"}}),
        ("gcp:cloudfunctions/function:Function", {}),
        ("gcp:cloudrun/service:Service", {"metadata": {"annotations": {"run.googleapis.com/ingress": "all"}}}),
    ],
)
def test_ingress_all_reported(rtype: str, props: dict) -> None:
    assert len(ingress_restricted(rtype, props, ctx())) == 1


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:cloudrunv2/service:Service", {"ingress": "INGRESS_TRAFFIC_INTERNAL_ONLY"}),
        ("gcp:cloudrunv2/service:Service", {"ingress": UNKNOWN_STRING}),
        ("gcp:cloudfunctionsv2/function:Function", {"serviceConfig": {"ingressSettings": "ALLOW_INTERNAL_ONLY"}}),
        ("gcp:cloudrun/service:Service", {"metadata": {"annotations": {"run.googleapis.com/ingress": "internal"}}}),
        ("gcp:cloudrunv2/job:Job", {}),
    ],
)
def test_restricted_ingress_accepted(rtype: str, props: dict) -> None:
    assert ingress_restricted(rtype, props, ctx()) == []
