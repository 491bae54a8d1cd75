"""Power over one resource (no-resource-admin-for-workloads) and deployers judged as deployers: who holds a role
that sets one resource's IAM or replaces what it runs, and which of them the stack's own patterns accept; the
intended-caller rule leaves a deployer's deploy role alone and rejects a role that can open a service of the
stack whoever holds it; each grant reported once."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from secure_invoke.policies.guardrails import deployers
from secure_invoke.policies.guardrails.invokers import only_intended_invokers, unverified_invokers
from secure_invoke.policies.guardrails.power import (
    ACL_ONLY_IAM,
    REDEPLOY_PERMISSIONS,
    RUNS_CODE_PERMISSIONS,
    predefined,
)
from secure_invoke.policies.guardrails.roles import TASK_ROLES, high_scope_privileged_roles, resource_power_bounded
from secure_invoke.policies.guardrails.stack import StackModel
from secure_invoke.policies.tools import generate_role_table
from tests.policies.guardrail_cases import (
    PROJECT,
    UNKNOWN_STRING,
    ctx,
    evaluate,
    mandatory,
    project_stack,
    sa_email,
    urn,
)

BUCKET_MEMBER = "gcp:storage/bucketIAMMember:BucketIAMMember"
TOPIC_MEMBER = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
RUN_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
JOB_MEMBER = "gcp:cloudrunv2/jobIamMember:JobIamMember"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
TRIGGER = "gcp:cloudbuild/trigger:Trigger"
POOL = "projects/123456789012/locations/global/workloadIdentityPools/github"
ACTIONS = f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/acme/app"
WORKER = f"serviceAccount:{sa_email('worker-runtime-dev')}"
RELAY = f"serviceAccount:{sa_email('relay-runtime-dev')}"
BUILD = f"serviceAccount:{sa_email('relay-build-dev')}"
OUTSIDE = "serviceAccount:pipeline@other-project.iam.gserviceaccount.com"


def resource(name: str, rtype: str, props: dict) -> dict:
    return {"urn": urn("dev", rtype, name), "type": rtype, "name": name, "props": props}


def grant(name: str, rtype: str, member: str, role: str, /, **target: object) -> dict:
    return resource(name, rtype, {**target, "role": role, "member": member})


def account(account_id: str) -> dict:
    email = sa_email(account_id)
    return resource(account_id, "gcp:serviceaccount/account:Account",
                    {"accountId": account_id, "email": email, "name": f"projects/{PROJECT}/serviceAccounts/{email}"})  # fmt: skip


def on_account(name: str, account_id: str, member: str, role: str) -> dict:
    return grant(
        name, SA_MEMBER, member, role, serviceAccountId=f"projects/{PROJECT}/serviceAccounts/{sa_email(account_id)}"
    )


def borrow_for_days(name: str, account_id: str, member: str) -> dict:
    """People borrowing an account just in time (human-access-expires: an expiry a few days ahead)."""
    borrowed = on_account(name, account_id, member, "roles/iam.serviceAccountOpenIdTokenCreator")
    until = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    borrowed["props"]["condition"] = {"title": "jit", "expression": f'request.time < timestamp("{until}")'}
    return borrowed


def build_trigger(name: str, account_id: str) -> dict:
    return resource(name, TRIGGER, {"filename": "cloudbuild.yaml",
                                    "serviceAccount": f"projects/{PROJECT}/serviceAccounts/{sa_email(account_id)}"})  # fmt: skip


def found(resources: list[dict]) -> list[tuple[str, str]]:
    return [(at.rsplit("::", 1)[1], message) for at, message in resource_power_bounded(StackModel(resources), ctx())]


def names(resources: list[dict]) -> list[str]:
    return [name for name, _ in found(resources)]


# --- the data behind it ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(TASK_ROLES))
def test_the_roles_a_fix_offers_exist_and_cannot_set_iam(kind: str) -> None:
    for role in TASK_ROLES[kind]:
        power = predefined(role)
        assert power is not None, role
        assert not power.resource_iam and not power.escalation, role


def test_redeploy_permissions_are_runs_code_permissions_and_iam_admin_evidence_survives_the_table() -> None:
    assert set(RUNS_CODE_PERMISSIONS) >= REDEPLOY_PERMISSIONS
    assert "run.jobs.runWithOverrides" not in REDEPLOY_PERMISSIONS  # what a job's runner is for
    document, _ = generate_role_table.load_data(generate_role_table.find_data())
    for role, record in document["roles"].items():
        full = set(record["permissions"])
        power = predefined(role)
        assert power is not None
        # the table's evidence is truncated: what the rules ask for must still be there
        admin = {p for p in full if p in {"resourcemanager.projects.setIamPolicy", "iam.serviceAccounts.setIamPolicy"}}
        assert admin <= set(power.iam_admin) or not admin <= set(power.iam), role
        assert bool(power.iam_admin) == bool(admin | {p for p in full if p in ("iam.roles.create", "iam.roles.update",
                "resourcemanager.folders.setIamPolicy", "resourcemanager.organizations.setIamPolicy")}), role  # fmt: skip
        opening = {p for p in full if p.endswith(".setIamPolicy") and p not in ACL_ONLY_IAM}
        assert bool(power.resource_iam) == bool(opening), role
        assert set(power.redeploys) == full & REDEPLOY_PERMISSIONS, role


def test_object_acls_alone_open_nothing_under_uniform_access() -> None:
    object_admin = predefined("roles/storage.objectAdmin")
    assert object_admin is not None and object_admin.iam == ("storage.objects.setIamPolicy",)
    assert object_admin.resource_iam == ()


# --- who holds it ---------------------------------------------------------------------------------------------


def holders() -> list[dict]:
    vm = resource("vm", "gcp:compute/instance:Instance", {"serviceAccount": {"email": sa_email("vm-runtime")}})
    return [
        *project_stack(),
        build_trigger("deploy", "deployer-build"),
        vm,
        account("ci"),
        on_account("actions-borrow-ci", "ci", ACTIONS, "roles/iam.workloadIdentityUser"),
        account("operator"),
        borrow_for_days("people-borrow-operator", "operator", "group:oncall@example.com"),
        account("delegate"),
        on_account("worker-borrows-delegate", "delegate", WORKER, "roles/iam.serviceAccountTokenCreator"),
        account("idle"),
    ]


@pytest.mark.parametrize(
    ("member", "kind"),
    [
        (WORKER, "workload"),
        (f"serviceAccount:{sa_email('relay-trigger-dev')}", "workload"),
        (BUILD, "builder"),  # a function's build account
        (f"serviceAccount:{sa_email('deployer-build')}", "builder"),  # a Cloud Build trigger's account
        (f"serviceAccount:{sa_email('vm-runtime')}", "workload"),
        (f"serviceAccount:{sa_email('ci')}", "ci"),
        (ACTIONS, "ci"),
        (f"serviceAccount:{sa_email('operator')}", "operator"),
        (f"serviceAccount:{sa_email('delegate')}", "workload"),
        (f"serviceAccount:{sa_email('idle')}", "unused"),
        (OUTSIDE, "outside"),
        ("domain:example.com", "customer"),
        ("user:dana@example.com", None),
        ("serviceAccount:123456789012-compute@developer.gserviceaccount.com", None),
        ("serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com", None),
        ("allUsers", None),
    ],
)
def test_holders_by_what_runs_as_them(member: str, kind: str | None) -> None:
    who = deployers.holder(member, deployers.power(StackModel(holders())))
    assert (who.kind if who is not None else None) == kind


# --- no-resource-admin-for-workloads ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member", "rtype", "role", "target", "expected"),
    [
        (WORKER, BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"}, "storage.buckets.setIamPolicy"),
        (WORKER, BUCKET_MEMBER, "roles/storage.legacyBucketOwner", {"bucket": "src-dev"}, "open it to anyone"),
        (RELAY, TOPIC_MEMBER, "roles/pubsub.admin", {"topic": "jobs-dev"}, "pubsub.topics.setIamPolicy"),
        (WORKER, "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "roles/pubsub.admin",
         {"subscription": "jobs-dev-pull"}, "pubsub.subscriptions.setIamPolicy"),  # its own, not its snapshots'
        (WORKER, "gcp:secretmanager/secretIamMember:SecretIamMember", "roles/secretmanager.admin",
         {"secretId": "upstream-api-key"}, "roles/secretmanager.secretAccessor"),
        (RELAY, SA_MEMBER, "roles/iam.serviceAccountAdmin",
         {"serviceAccountId": f"projects/{PROJECT}/serviceAccounts/{sa_email('worker-runtime-dev')}"},
         "token creation included"),
        (BUILD, "gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "roles/artifactregistry.admin",
         {"repository": "relay-builds"}, "build identity of function 'relay'"),
        (OUTSIDE, BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"}, "from outside this stack"),
        (f"serviceAccount:{sa_email('idle')}", BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"},
         "nothing here runs as it"),
        ("domain:example.com", BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"}, "the one group"),
        (WORKER, JOB_MEMBER, "roles/run.developer", {"name": "nightly"}, "roles/run.invoker to start the job"),
        (WORKER, "gcp:compute/instanceIAMMember:InstanceIAMMember", "roles/compute.instanceAdmin.v1",
         {"instanceName": "vm"}, "compute.instances.setIamPolicy"),
    ],
)  # fmt: skip
def test_power_over_one_resource_rejected(member: str, rtype: str, role: str, target: dict, expected: str) -> None:
    stack = [*holders(), grant("subject", rtype, member, role, **target)]
    result = found(stack)
    assert [n for n, _ in result] == ["subject"], result
    assert expected in result[0][1] and role in result[0][1] and member in result[0][1]


@pytest.mark.parametrize(
    ("member", "rtype", "role", "target"),
    [
        (WORKER, BUCKET_MEMBER, "roles/storage.objectAdmin", {"bucket": "src-dev"}),  # object ACLs only
        (WORKER, BUCKET_MEMBER, "roles/storage.objectUser", {"bucket": "src-dev"}),
        (RELAY, TOPIC_MEMBER, "roles/pubsub.publisher", {"topic": "jobs-dev"}),
        ("user:dana@example.com", BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"}),  # people
        ("group:admins@example.com", TOPIC_MEMBER, "roles/pubsub.admin", {"topic": "jobs-dev"}),
        (f"serviceAccount:{sa_email('ci')}", BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"}),
        (ACTIONS, BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"}),
        (f"serviceAccount:{sa_email('operator')}", BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"}),
        (f"serviceAccount:{sa_email('ci')}", SA_MEMBER, "roles/iam.serviceAccountAdmin",
         {"serviceAccountId": f"projects/{PROJECT}/serviceAccounts/{sa_email('worker-runtime-dev')}"}),
        ("serviceAccount:service-123456789012@gcp-sa-pubsub.iam.gserviceaccount.com", TOPIC_MEMBER,
         "roles/pubsub.admin", {"topic": "jobs-dev"}),  # Google's agent
        ("serviceAccount:123456789012-compute@developer.gserviceaccount.com", BUCKET_MEMBER, "roles/storage.admin",
         {"bucket": "src-dev"}),  # no-default-identity-grants' finding
        ("allUsers", BUCKET_MEMBER, "roles/storage.admin", {"bucket": "src-dev"}),  # no-public-members'
        (WORKER, BUCKET_MEMBER, "roles/storage.admin", {"bucket": UNKNOWN_STRING} | {"condition": UNKNOWN_STRING}),
        (f"serviceAccount:{sa_email('deployer-build')}", JOB_MEMBER, "roles/run.developer", {"name": "nightly"}),
        (OUTSIDE, JOB_MEMBER, "roles/run.developer", {"name": "nightly"}),  # perhaps a deployer elsewhere
        (WORKER, JOB_MEMBER, "roles/run.jobsExecutorWithOverrides", {"name": "nightly"}),  # runs it, no redeploy
        (WORKER, JOB_MEMBER, "roles/run.invoker", {"name": "nightly"}),
    ],
)  # fmt: skip
def test_roles_for_the_task_and_the_stacks_own_patterns_accepted(member: str, rtype: str, role: str, target: dict):
    stack = [*holders(), grant("subject", rtype, member, role, **target)]
    assert found(stack) == []


def test_a_project_grant_confined_to_one_bucket_is_judged_as_on_that_bucket() -> None:
    one = 'resource.name == "projects/_/buckets/src-dev" || resource.name.startsWith("projects/_/buckets/src-dev/objects/")'
    confined = grant("subject", PROJECT_MEMBER, WORKER, "roles/storage.admin", project=PROJECT,
                     condition={"title": "t", "expression": one})  # fmt: skip
    result = found([*holders(), confined])
    assert [n for n, _ in result] == ["subject"] and "projects/_/buckets/src-dev" in result[0][1]
    assert high_scope_privileged_roles(StackModel([*holders(), confined]), ctx()) == []
    # unconfined, or confined by a prefix that also matches other regions: the scope rule's, not this one's
    for expression in (None, 'resource.name.startsWith("projects/_/buckets/src-europe-west1")'):
        props = {k: v for k, v in confined["props"].items() if k != "condition"}
        if expression:
            props["condition"] = {"title": "t", "expression": expression}
        wide = resource("subject", PROJECT_MEMBER, props)
        assert found([*holders(), wide]) == []
        assert len(high_scope_privileged_roles(StackModel([*holders(), wide]), ctx())) == 1


# --- deployers on services of the stack: deploy power, not an invoker ---------------------------------------------


def deploy_setup(member: str, role: str = "roles/run.developer", act_as: bool = True) -> list[dict]:
    stack = [*holders(), grant("deploys-worker", RUN_MEMBER, member, role, name="worker-dev", location="us-central1")]
    if act_as:
        stack.append(on_account("acts-as-worker", "worker-runtime-dev", member, "roles/iam.serviceAccountUser"))
    return stack


@pytest.mark.parametrize(
    "member",
    [
        f"serviceAccount:{sa_email('deployer-build')}",  # a Cloud Build trigger's account
        ACTIONS,  # GitHub Actions, direct federation
        f"serviceAccount:{sa_email('ci')}",  # a CI account
        OUTSIDE,  # any deployer account that may act as the service's runtime account
    ],
)
def test_cloud_runs_least_privilege_deploy_setup_is_deploy_power(member: str) -> None:
    stack = deploy_setup(member)
    model = StackModel(stack)
    assert only_intended_invokers(model, ctx()) == [] and unverified_invokers(model, ctx()) == []
    assert found(stack) == []
    assert mandatory(evaluate(stack)) == []


def test_a_deployer_that_can_also_open_the_service_is_told_run_developer_once() -> None:
    stack = deploy_setup(f"serviceAccount:{sa_email('deployer-build')}", role="roles/run.admin")
    result = found(stack)
    assert [n for n, _ in result] == ["deploys-worker"]
    assert "grant roles/run.developer on it instead" in result[0][1]
    assert [(p, at.rsplit("::", 1)[1]) for p, at, _ in mandatory(evaluate(stack))] == [
        ("no-resource-admin-for-workloads", "deploys-worker")
    ]


def test_a_runtime_that_could_redeploy_another_service_is_no_deployer() -> None:
    stack = deploy_setup(RELAY)  # the relay calls the worker, but a caller needs run.invoker only
    assert [(p, at.rsplit("::", 1)[1]) for p, at, _ in mandatory(evaluate(stack))] == [
        ("only-intended-invokers", "deploys-worker")
    ]


@pytest.mark.parametrize(
    ("member", "before", "after"),
    [
        # an account from outside with a role that can open the service: was a note, now rejected, once
        (OUTSIDE, "unverified-invokers", "only-intended-invokers"),
    ],
)
def test_a_role_that_can_open_a_service_of_the_stack_is_rejected_whoever_holds_it(member, before, after) -> None:
    stack = deploy_setup(member, role="roles/run.admin", act_as=False)
    findings = [(p, at.rsplit("::", 1)[1]) for p, _, at, _ in evaluate(stack) if at.endswith("::deploys-worker")]
    assert findings == [(after, "deploys-worker")], findings
    message = next(m for p, _, at, m in evaluate(stack) if p == after)
    assert (
        "open it to anyone" in message and "roles/run.developer" in message and "run.services.setIamPolicy" in message
    )
    # without IAM power (a deploy role, no actAs the pack sees) it stays a note: perhaps a deployer elsewhere
    plain = deploy_setup(member, act_as=False)
    assert [p for p, _, at, _ in evaluate(plain) if at.endswith("::deploys-worker")] == [before]


def test_every_message_names_the_resource_the_power_and_the_fix() -> None:
    stack = [*holders(), grant("subject", BUCKET_MEMBER, WORKER, "roles/storage.admin", bucket="src-dev")]
    (_, message), = found(stack)  # fmt: skip
    assert "storage/bucket src-dev" in message  # the resource
    assert "storage.buckets.setIamPolicy" in message and "open it to anyone" in message  # the power
    assert "instead (roles/storage.objectViewer" in message  # the fix
    json.dumps(message)  # plain text


def test_an_account_people_borrow_deploys_only_with_act_as_on_the_runtime() -> None:
    """Google's deployer account that people impersonate: a deploy role plus actAs on the runtime is deploy power;
    without actAs, Cloud Run refuses its deploys, so it is a caller holding more than it needs."""
    operator = f"serviceAccount:{sa_email('operator')}"
    assert mandatory(evaluate(deploy_setup(operator))) == []
    findings = [(p, at.rsplit("::", 1)[1]) for p, at, _ in mandatory(evaluate(deploy_setup(operator, act_as=False)))]
    assert findings == [("only-intended-invokers", "deploys-worker")]
