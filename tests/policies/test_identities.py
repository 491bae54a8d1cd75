"""Identities: every workload sets dedicated, non-default service accounts, none shared."""

from __future__ import annotations

import pytest

from secure_invoke.policies.guardrails.identities import workload_identities, workload_identity_set
from secure_invoke.policies.guardrails.stack import StackModel
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
    found = workload_identities(StackModel(resources), ctx())
    assert [at for at, _ in found] == [resources[1]["urn"]]
    assert "runtime identity of 'relay'" in found[0][1]


def test_runtime_identity_reused_as_trigger_rejected() -> None:
    resources = [workload("relay", "gcp:cloudfunctionsv2/function:Function", gen2(trigger=RUNTIME))]
    found = workload_identities(StackModel(resources), ctx())
    assert len(found) == 1 and "trigger identity" in found[0][1]


def test_default_identity_reported_once_by_the_identity_rule_not_again_by_the_sharing_rule() -> None:
    resources = [workload("worker", "gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": COMPUTE}})]
    assert workload_identities(StackModel(resources), ctx()) == []
    assert len(workload_identity_set(resources[0]["type"], resources[0]["props"], ctx())) == 1


def test_distinct_or_unknown_identities_accepted() -> None:
    other = "worker-runtime-dev@si-dev-1234.iam.gserviceaccount.com"
    relay2_build = "projects/si-dev-1234/serviceAccounts/relay2-build@si-dev-1234.iam.gserviceaccount.com"
    resources = [
        workload("relay", "gcp:cloudfunctionsv2/function:Function", gen2()),
        workload(
            "relay2",
            "gcp:cloudfunctionsv2/function:Function",
            gen2(runtime=UNKNOWN_STRING, trigger=UNKNOWN_STRING, build=relay2_build),
        ),
        workload("worker", "gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": other}}),
        workload("job", "gcp:cloudrunv2/job:Job", {"template": {"template": {"serviceAccount": UNKNOWN_STRING}}}),
        workload("tick", SCHEDULER, scheduler(TICKER)),
        workload("push", SUBSCRIPTION, subscription(PUSHER)),
        workload("events", EVENTARC, {"serviceAccount": UNKNOWN_STRING}),
        {"urn": "x", "type": "gcp:serviceaccount/account:Account", "name": "sa", "props": {"email": RUNTIME}},
    ]
    assert workload_identities(StackModel(resources), ctx()) == []


# --- callers and any identity slot reused --------------------------------------------------------------------

SCHEDULER = "gcp:cloudscheduler/job:Job"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
EVENTARC = "gcp:eventarc/trigger:Trigger"
TICKER = "ticker@si-dev-1234.iam.gserviceaccount.com"
PUSHER = "pusher@si-dev-1234.iam.gserviceaccount.com"


def scheduler(email: object, kind: str = "oidcToken") -> dict:
    body = {} if email is None else {"serviceAccountEmail": email}
    return {"httpTarget": {"uri": "https://worker-dev-abcd1234-uc.a.run.app/tick", kind: body}}


def subscription(email: object) -> dict:
    body = {} if email is None else {"serviceAccountEmail": email}
    return {"pushConfig": {"pushEndpoint": "https://worker-dev-abcd1234-uc.a.run.app/jobs", "oidcToken": body}}


@pytest.mark.parametrize(
    ("rtype", "props", "expected"),
    [
        (SCHEDULER, scheduler(None), "httpTarget.oidcToken.serviceAccountEmail is not set"),
        (SCHEDULER, scheduler(None, "oauthToken"), "httpTarget.oauthToken.serviceAccountEmail is not set"),
        (SCHEDULER, scheduler(COMPUTE), "default service account"),
        (SCHEDULER, scheduler(APPSPOT, "oauthToken"), "default service account"),
        (SUBSCRIPTION, subscription(None), "pushConfig.oidcToken.serviceAccountEmail is not set"),
        (SUBSCRIPTION, subscription(COMPUTE.upper()), "default service account"),
        (EVENTARC, {"destination": {"cloudRunService": {"service": "worker-dev"}}}, "falls back to the Compute"),
        (EVENTARC, {"serviceAccount": COMPUTE}, "default service account"),
    ],
)
def test_callers_without_dedicated_identity_rejected(rtype: str, props: dict, expected: str) -> None:
    messages = workload_identity_set(rtype, props, ctx())
    assert len(messages) == 1 and expected in messages[0] and "dedicated service account" in messages[0]


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        (SCHEDULER, scheduler(TICKER)),
        (SCHEDULER, scheduler(TICKER, "oauthToken")),
        (SCHEDULER, {"httpTarget": {"uri": "https://example.com/hook"}}),  # no token requested: no identity
        (SCHEDULER, {"pubsubTarget": {"topicName": "projects/p/topics/t"}}),
        (SCHEDULER, scheduler(UNKNOWN_STRING)),
        (SCHEDULER, {"httpTarget": UNKNOWN_OBJECT}),
        (SUBSCRIPTION, subscription(PUSHER)),
        (SUBSCRIPTION, {"pushConfig": {"pushEndpoint": "https://example.com/hook"}}),
        (SUBSCRIPTION, {"topic": "t"}),  # a pull subscription
        (EVENTARC, {"serviceAccount": PUSHER}),
        (EVENTARC, {"serviceAccount": UNKNOWN_STRING}),
    ],
)
def test_callers_with_dedicated_or_unknown_identity_accepted(rtype: str, props: dict) -> None:
    assert workload_identity_set(rtype, props, ctx()) == []


SHARED_CASES = {
    "trigger shared by two functions": [
        workload("a", "gcp:cloudfunctionsv2/function:Function", gen2()),
        workload(
            "b",
            "gcp:cloudfunctionsv2/function:Function",
            gen2(runtime="b-run@si-dev-1234.iam.gserviceaccount.com", build="projects/p/serviceAccounts/b@p.iam.gserviceaccount.com"),
        ),
    ],
    "build shared by two functions": [
        workload("a", "gcp:cloudfunctionsv2/function:Function", gen2()),
        workload(
            "b",
            "gcp:cloudfunctionsv2/function:Function",
            gen2(runtime="b-run@si-dev-1234.iam.gserviceaccount.com", trigger="b-trig@p.iam.gserviceaccount.com"),
        ),
    ],
    "trigger == build in one function": [
        workload("a", "gcp:cloudfunctionsv2/function:Function", gen2(build=f"projects/p/serviceAccounts/{TRIGGER}")),
    ],
    "build == runtime in one function": [
        workload("a", "gcp:cloudfunctionsv2/function:Function", gen2(build=RUNTIME.upper())),
    ],
    "v1 build == runtime": [
        workload("a", "gcp:cloudfunctions/function:Function", {"serviceAccountEmail": RUNTIME, "buildServiceAccount": f"projects/p/serviceAccounts/{RUNTIME}"}),
    ],
    "scheduler shares a workload's runtime": [
        workload("worker", "gcp:cloudrunv2/service:Service", {"template": {"serviceAccount": TICKER}}),
        workload("tick", SCHEDULER, scheduler(TICKER)),
    ],
    "subscription and eventarc share": [
        workload("push", SUBSCRIPTION, subscription(PUSHER)),
        workload("events", EVENTARC, {"serviceAccount": PUSHER}),
    ],
    "two scheduler jobs share": [
        workload("tick", SCHEDULER, scheduler(TICKER)),
        workload("tock", SCHEDULER, scheduler(TICKER, "oauthToken")),
    ],
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(SHARED_CASES))
def test_identity_in_two_slots_rejected_at_the_later_one(case: str) -> None:
    resources = SHARED_CASES[case]
    found = workload_identities(StackModel(resources), ctx())
    assert [at for at, _ in found] == [resources[-1]["urn"]], found
    assert "a compromise of one is a compromise of both" in found[0][1] and "dedicated" in found[0][1]


def test_identity_in_three_slots_reported_twice() -> None:
    resources = [workload("a", "gcp:cloudfunctionsv2/function:Function", gen2(trigger=RUNTIME, build=RUNTIME))]
    found = workload_identities(StackModel(resources), ctx())
    assert len(found) == 2
    assert "both the runtime identity" in found[0][1] and "trigger identity" in found[0][1]
    assert "build identity" in found[1][1]


def test_default_caller_identity_reported_once() -> None:
    resources = [workload("tick", SCHEDULER, scheduler(COMPUTE))]
    assert workload_identities(StackModel(resources), ctx()) == []
    found = workload_identity_set(SCHEDULER, resources[0]["props"], ctx())
    assert len(found) == 1 and "default service account" in found[0]
