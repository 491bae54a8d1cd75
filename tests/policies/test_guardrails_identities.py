"""Identities: every workload sets dedicated, non-default service accounts, none shared."""

from __future__ import annotations

import pytest

from policies.guardrails.identities import workload_identities, workload_identity_set
from tests.policies.guardrail_cases import UNKNOWN_OBJECT, UNKNOWN_STRING, ctx, urn

RUNTIME = "relay-runtime-dev@si-dev-1234.iam.gserviceaccount.com"
TRIGGER = "relay-trigger-dev@si-dev-1234.iam.gserviceaccount.com"
BUILD = "projects/si-dev-1234/serviceAccounts/relay-build-dev@si-dev-1234.iam.gserviceaccount.com"
COMPUTE = "123456789012-compute@developer.gserviceaccount.com"
APPSPOT = "si-dev-1234@appspot.gserviceaccount.com"


def gen2(runtime: object = RUNTIME, trigger: object = TRIGGER, build: object = BUILD) -> dict:
    props: dict = {"serviceConfig": {}, "eventTrigger": {"pubsubTopic": "t"}, "buildConfig": {}}
    if runtime is not None:
        props["serviceConfig"]["serviceAccountEmail"] = runtime
    if trigger is not None:
        props["eventTrigger"]["serviceAccountEmail"] = trigger
    if build is not None:
        props["buildConfig"]["serviceAccount"] = build
    return props


def test_gen2_function_with_all_identities_accepted() -> None:
    assert workload_identity_set("gcp:cloudfunctionsv2/function:Function", gen2(), ctx()) == []


@pytest.mark.parametrize(
    ("props", "expected_path"),
    [
        (gen2(runtime=None), "serviceConfig.serviceAccountEmail"),
        (gen2(trigger=None), "eventTrigger.serviceAccountEmail"),
        (gen2(build=None), "buildConfig.serviceAccount"),
        (gen2(runtime=COMPUTE), "serviceConfig.serviceAccountEmail"),
        (gen2(runtime=APPSPOT.upper()), "serviceConfig.serviceAccountEmail"),
        (gen2(trigger=COMPUTE), "eventTrigger.serviceAccountEmail"),
        (gen2(build=f"projects/p/serviceAccounts/{COMPUTE}"), "buildConfig.serviceAccount"),
        (gen2(build="projects/p/serviceAccounts/123456789012@cloudbuild.gserviceaccount.com"), "buildConfig.serviceAccount"),
        (gen2(runtime="  "), "serviceConfig.serviceAccountEmail"),
    ],
)  # fmt: skip
def test_gen2_function_missing_or_default_identity_rejected(props: dict, expected_path: str) -> None:
    messages = workload_identity_set("gcp:cloudfunctionsv2/function:Function", props, ctx())
    assert len(messages) == 1 and expected_path in messages[0]


def test_http_function_has_no_trigger_identity_to_set() -> None:
    props = gen2()
    del props["eventTrigger"]
    assert workload_identity_set("gcp:cloudfunctionsv2/function:Function", props, ctx()) == []


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:cloudrunv2/service:Service", {"template": {}}),
        ("gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": COMPUTE}}),
        ("gcp:cloudrunv2/job:Job", {"template": {"template": {}}}),
        ("gcp:cloudrunv2/workerPool:WorkerPool", {}),
        ("gcp:cloudrun/service:Service", {"template": {"spec": {"serviceAccountName": APPSPOT}}}),
        ("gcp:cloudfunctions/function:Function", {"buildServiceAccount": BUILD}),
        ("gcp:cloudfunctions/function:Function", {"serviceAccountEmail": RUNTIME}),
    ],
)
def test_other_workloads_without_dedicated_identity_rejected(rtype: str, props: dict) -> None:
    assert len(workload_identity_set(rtype, props, ctx())) == 1


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": RUNTIME}}),
        ("gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": UNKNOWN_STRING}}),
        ("gcp:cloudrunv2/service:Service", {"template": UNKNOWN_OBJECT}),
        ("gcp:cloudrunv2/job:Job", {"template": {"template": {"serviceAccount": RUNTIME}}}),
        ("gcp:cloudrun/service:Service", {"template": {"spec": {"serviceAccountName": RUNTIME}}}),
        ("gcp:cloudfunctions/function:Function", {"serviceAccountEmail": RUNTIME, "buildServiceAccount": BUILD}),
        ("gcp:cloudfunctionsv2/function:Function", gen2(runtime=UNKNOWN_STRING, trigger=UNKNOWN_STRING)),
        ("gcp:serviceaccount/account:Account", {}),
    ],
)
def test_dedicated_or_unknown_identity_accepted(rtype: str, props: dict) -> None:
    assert workload_identity_set(rtype, props, ctx()) == []


def workload(name: str, rtype: str, props: dict) -> dict:
    return {"urn": urn("dev", rtype, name), "type": rtype, "name": name, "props": props}


def test_one_runtime_identity_shared_by_two_workloads_rejected_at_the_second() -> None:
    resources = [
        workload("relay", "gcp:cloudfunctionsv2/function:Function", gen2()),
        workload("worker", "gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": RUNTIME.upper()}}),
    ]
    found = workload_identities(resources, ctx())
    assert [at for at, _ in found] == [resources[1]["urn"]]
    assert "runtime identity of 'relay'" in found[0][1]


def test_runtime_identity_reused_as_trigger_rejected() -> None:
    resources = [workload("relay", "gcp:cloudfunctionsv2/function:Function", gen2(trigger=RUNTIME))]
    found = workload_identities(resources, ctx())
    assert len(found) == 1 and "trigger identity" in found[0][1]


def test_default_identity_in_deployed_state_rejected() -> None:
    resources = [workload("worker", "gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": COMPUTE}})]
    assert len(workload_identities(resources, ctx())) == 1


def test_distinct_or_unknown_identities_accepted() -> None:
    other = "worker-runtime-dev@si-dev-1234.iam.gserviceaccount.com"
    resources = [
        workload("relay", "gcp:cloudfunctionsv2/function:Function", gen2()),
        workload("relay2", "gcp:cloudfunctionsv2/function:Function", gen2(runtime=UNKNOWN_STRING, build=BUILD)),
        workload("worker", "gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": other}}),
        workload("job", "gcp:cloudrunv2/job:Job", {"template": {"template": {"serviceAccount": UNKNOWN_STRING}}}),
        {"urn": "x", "type": "gcp:serviceaccount/account:Account", "name": "sa", "props": {"email": RUNTIME}},
    ]
    # a build identity and a trigger identity shared across functions is fine (not runtime identities)
    assert workload_identities(resources, ctx()) == []
