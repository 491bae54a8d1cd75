"""build-identities-bounded: what a build trigger, a function build or a CI account runs as must not act as
every account or change IAM itself over a project, folder or organization, directly or through an account it may
act as; such a grant is this rule's finding, once, and no-high-scope-privileged-roles' for anyone else."""

from __future__ import annotations

import pytest

from secure_invoke.policies.guardrails.deployers import build_identities_bounded
from secure_invoke.policies.guardrails.roles import high_scope_privileged_roles
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import PROJECT, ctx, evaluate, mandatory, project_stack, sa_email, urn

PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
FOLDER_MEMBER = "gcp:folder/iAMMember:IAMMember"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
POOL = "projects/123456789012/locations/global/workloadIdentityPools/github"
ACTIONS = f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/acme/app"
BUILD = f"serviceAccount:{sa_email('relay-build-dev')}"  # the relay function's build account
TRIGGERED = f"serviceAccount:{sa_email('release')}"
CI = f"serviceAccount:{sa_email('ci')}"
WORKER = f"serviceAccount:{sa_email('worker-runtime-dev')}"
LIMIT = "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{}])"


def resource(name: str, rtype: str, props: dict) -> dict:
    return {"urn": urn("dev", rtype, name), "type": rtype, "name": name, "props": props}


def on_project(name: str, member: str, role: str, condition: str | None = None, rtype: str = PROJECT_MEMBER) -> dict:
    props: dict = {"project": PROJECT, "role": role, "member": member}
    if rtype == FOLDER_MEMBER:
        props = {"folder": "folders/42", "role": role, "member": member}
    if condition is not None:
        props["condition"] = {"title": "t", "expression": condition}
    return resource(name, rtype, props)


def on_account(name: str, account_id: str, member: str, role: str) -> dict:
    target = f"projects/{PROJECT}/serviceAccounts/{sa_email(account_id)}"
    return resource(name, SA_MEMBER, {"serviceAccountId": target, "role": role, "member": member})


def stack(*extra: dict) -> list[dict]:
    trigger = resource("release", "gcp:cloudbuild/trigger:Trigger", {
        "filename": "cloudbuild.yaml", "serviceAccount": f"projects/{PROJECT}/serviceAccounts/{sa_email('release')}"})  # fmt: skip
    borrow = on_account("actions-borrow-ci", "ci", ACTIONS, "roles/iam.workloadIdentityUser")
    return [*project_stack(), trigger, borrow, *extra]


def judged(resources: list[dict]) -> dict[str, list[str]]:
    """policy -> names of the grants it rejects (mandatory findings of the whole pack)."""
    out: dict[str, list[str]] = {}
    for policy, at, _ in mandatory(evaluate(resources)):
        out.setdefault(policy, []).append(at.rsplit("::", 1)[1])
    return out


@pytest.mark.parametrize("member", [BUILD, TRIGGERED, CI, ACTIONS])
@pytest.mark.parametrize(
    ("role", "power"),
    [
        ("roles/iam.serviceAccountUser", "act as or mint credentials for every service account"),
        ("roles/iam.serviceAccountTokenCreator", "act as or mint credentials for every service account"),
        ("roles/resourcemanager.projectIamAdmin", "change IAM itself"),
        ("roles/iam.securityAdmin", "change IAM itself"),
        ("roles/iam.serviceAccountAdmin", "change IAM itself"),
        ("roles/iam.roleAdmin", "change IAM itself"),
    ],
)
def test_build_identities_with_impersonation_or_iam_admin_rejected_once(member: str, role: str, power: str) -> None:
    resources = stack(on_project("subject", member, role))
    assert judged(resources) == {"build-identities-bounded": ["subject"]}
    (_, message), = build_identities_bounded(StackModel(resources), ctx())  # fmt: skip
    assert power in message and role in message and "every build runs the repository's code" in message
    assert "roles/run.developer on the one service" in message  # the fix


def test_a_folder_grant_is_judged_the_same() -> None:
    resources = stack(on_project("subject", TRIGGERED, "roles/iam.serviceAccountUser", rtype=FOLDER_MEMBER))
    assert judged(resources) == {"build-identities-bounded": ["subject"]}


@pytest.mark.parametrize(
    ("role", "condition"),
    [
        ("roles/resourcemanager.projectIamAdmin", LIMIT.format("'roles/logging.logWriter'")),  # limited, harmlessly
        ("roles/logging.logWriter", None),
        ("roles/artifactregistry.reader", 'resource.name == "projects/p/locations/l/repositories/images"'),
    ],
)
def test_what_builds_need_accepted(role: str, condition: str | None) -> None:
    resources = stack(on_project("subject", TRIGGERED, role, condition))
    assert build_identities_bounded(StackModel(resources), ctx()) == []
    assert judged(resources) == {}


def test_the_rest_of_a_builders_project_power_stays_with_the_scope_rule() -> None:
    """roles/run.admin sets the IAM of services, not IAM itself: no-high-scope-privileged-roles' finding."""
    resources = stack(on_project("subject", TRIGGERED, "roles/run.admin"))
    assert judged(resources) == {"no-high-scope-privileged-roles": ["subject"]}


def test_anyone_elses_project_impersonation_stays_with_the_scope_rule() -> None:
    resources = stack(on_project("subject", WORKER, "roles/iam.serviceAccountUser"))
    assert judged(resources) == {"no-high-scope-privileged-roles": ["subject"]}
    assert build_identities_bounded(StackModel(resources), ctx()) == []


@pytest.mark.parametrize(
    ("role", "policy"),
    [
        ("roles/iam.serviceAccountTokenCreator", "build-identities-bounded"),
        ("roles/iam.serviceAccountUser", "build-identities-bounded"),
        # setting the account's IAM: a build identity's IAM power on one resource, whatever the account holds
        ("roles/iam.serviceAccountAdmin", "no-resource-admin-for-workloads"),
    ],
)
def test_a_build_that_may_become_an_admin_account_rejected_once(role: str, policy: str) -> None:
    admin = on_project("admin-grant", f"serviceAccount:{sa_email('ops-admin')}", "roles/iam.securityAdmin")
    borrow = on_account("borrows-admin", "ops-admin", TRIGGERED, role)
    resources = stack(admin, borrow)
    assert judged(resources) == {"no-high-scope-privileged-roles": ["admin-grant"], policy: ["borrows-admin"]}
    if policy != "build-identities-bounded":
        return
    found = build_identities_bounded(StackModel(resources), ctx())
    assert "act as ops-admin@" in found[0][1] and "roles/iam.securityAdmin on the whole project" in found[0][1]
    # the same account without that power: a build may act as it (e.g. the runtime it deploys)
    assert build_identities_bounded(StackModel(stack(borrow)), ctx()) == []


def test_federation_borrowing_a_ci_account_is_not_a_second_finding() -> None:
    """The CI account's own project grant is the finding; the pool's binding on it is what makes it CI."""
    resources = stack(on_project("subject", CI, "roles/iam.serviceAccountTokenCreator"))
    assert [at.rsplit("::", 1)[1] for at, _ in build_identities_bounded(StackModel(resources), ctx())] == ["subject"]


def test_the_bootstraps_deployer_shape_accepted() -> None:
    """A CI deployer borrowed by GitHub Actions, with the IAM admin its deploy needs limited to harmless roles,
    actAs and admin on the accounts it deploys with: deployer patterns, not a build with admin power."""
    resources = [
        *project_stack(),
        on_account("actions-borrow-deployer", "deployer", ACTIONS, "roles/iam.workloadIdentityUser"),
        on_project(
            "deployer-iam",
            f"serviceAccount:{sa_email('deployer')}",
            "roles/resourcemanager.projectIamAdmin",
            LIMIT.format("'roles/logging.logWriter', 'roles/storage.objectViewer'"),
        ),
        on_account(
            "deployer-acts-as",
            "worker-runtime-dev",
            f"serviceAccount:{sa_email('deployer')}",
            "roles/iam.serviceAccountUser",
        ),
        on_account(
            "deployer-admin",
            "worker-runtime-dev",
            f"serviceAccount:{sa_email('deployer')}",
            "roles/iam.serviceAccountAdmin",
        ),
    ]
    assert build_identities_bounded(StackModel(resources), ctx()) == []
    assert high_scope_privileged_roles(StackModel(resources), ctx()) == []
    assert judged(resources) == {}
