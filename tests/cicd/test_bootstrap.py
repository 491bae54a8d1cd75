"""The CI bootstrap program run by preflight's engine, and its policy verdict through the real pack."""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from typing import Any

import pytest
import yaml

from secure_invoke.preflight.engine.program import ProgramError, ProgramRun, run_program
from tests.cicd.paths import ROOT

BOOTSTRAP = ROOT / "bootstrap"
STACK = "github"
SA_USER = "roles/iam.serviceAccountUser"
SA_ADMIN = "roles/iam.serviceAccountAdmin"
MANAGER = "projects/{project}/roles/secureInvokeServiceAccountManager"
WIF_USER = "roles/iam.workloadIdentityUser"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
POOL_PROVIDER = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"
ACCOUNT = "gcp:serviceaccount/account:Account"


@cache
def bootstrap_run() -> ProgramRun:
    return run_program(BOOTSTRAP, STACK)


@cache
def main_stack_run(stack: str) -> ProgramRun:
    return run_program(ROOT, stack)


def stack_config() -> dict[str, Any]:
    return yaml.safe_load((BOOTSTRAP / f"Pulumi.{STACK}.yaml").read_text())["config"]


def deployer_email(env: str) -> str:
    return f"serviceAccount:deployer-{env}@{stack_config()['gcp:project']}.iam.gserviceaccount.com"


def providers() -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in bootstrap_run().of_type(POOL_PROVIDER)}


def test_providers_pin_repository_workflow_and_event_exactly() -> None:
    # The attribute conditions are the hard gate, compared as whole strings: any widening fails here.
    repo = "assertion.repository == 'acme/secure-invoke' && assertion.repository_id == '123456789'"
    deploy = (
        "assertion.event_name in ['push', 'workflow_dispatch'] && assertion.ref == 'refs/heads/main'"
        " && assertion.job_workflow_ref == 'acme/secure-invoke/.github/workflows/deploy.yml@refs/heads/main'"
    )
    pull_request = (
        "assertion.event_name == 'pull_request' && assertion.job_workflow_ref.startsWith("
        "'acme/secure-invoke/.github/workflows/pull-request.yml@refs/pull/')"
    )
    conditions = {name: inputs["attributeCondition"] for name, inputs in providers().items()}
    assert conditions == {
        "github-deploy-dev-provider": f"{repo} && {deploy} && assertion.environment == 'dev'",
        "github-deploy-prod-provider": f"{repo} && {deploy} && assertion.environment == 'production'",
        "github-preview-provider": (
            f"{repo} && (({pull_request}) || ({deploy} && assertion.environment == 'plan-prod'))"
        ),
    }
    assert stack_config()["secure-invoke-bootstrap:githubRepository"] == "acme/secure-invoke"
    assert stack_config()["secure-invoke-bootstrap:githubRepositoryId"] == "123456789"


def test_providers_map_every_claim_their_condition_reads() -> None:
    for name, inputs in providers().items():
        assert inputs["oidc"]["issuerUri"] == "https://token.actions.githubusercontent.com", name
        mapping = inputs["attributeMapping"]
        assert mapping["google.subject"] == "assertion.sub", name
        for claim in ("repository", "repository_id", "ref", "event_name", "job_workflow_ref"):
            assert mapping[f"attribute.{claim}"] == f"assertion.{claim}", (name, claim)
        assert len(inputs["attributeCondition"]) <= 4096  # the API's limit
        assert len(inputs["description"]) <= 256


def test_federated_principals_are_narrow() -> None:
    wif = {r.name: r.inputs["member"] for r in bootstrap_run().of_type(SA_MEMBER) if r.inputs["role"] == WIF_USER}
    pools = "principal{}://iam.googleapis.com/projects/{}/locations/global/workloadIdentityPools/"
    number = bootstrap_run().outputs["workload_identity_provider_dev"].split("/")[1]
    assert wif == {
        # Each deploy pool admits only deploy.yml's job in its environment, so the whole pool is the principal.
        "deployer-dev-wif": pools.format("Set", number) + "github-deploy-dev/attribute.repository/acme/secure-invoke",
        "deployer-prod-wif": pools.format("Set", number) + "github-deploy-prod/attribute.repository/acme/secure-invoke",
        # The preview pool admits several jobs: previewers bind one GitHub environment each.
        "previewer-dev-wif": pools.format("", number)
        + "github-preview/subject/repo:acme/secure-invoke:environment:preview-dev",
        "previewer-prod-wif": pools.format("", number)
        + "github-preview/subject/repo:acme/secure-invoke:environment:preview-prod",
        "previewer-prod-wif-1": pools.format("", number)
        + "github-preview/subject/repo:acme/secure-invoke:environment:plan-prod",
    }
    outputs = bootstrap_run().outputs
    for kind, pool in (("preview", "github-preview"), ("dev", "github-deploy-dev"), ("prod", "github-deploy-prod")):
        assert outputs[f"workload_identity_provider_{kind}"] == (
            f"projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/github"
        )


@pytest.mark.parametrize("role", [SA_USER, SA_ADMIN, MANAGER])
def test_deployer_holds_per_account_roles_on_exactly_the_identities_the_main_stack_creates(role: str) -> None:
    granted: dict[str, set[str]] = {"dev": set(), "prod": set()}
    projects = stack_config()["secure-invoke-bootstrap:environments"]
    for r in bootstrap_run().of_type(SA_MEMBER):
        if r.inputs["role"] in {role.format(project=p["project"]) for p in projects.values()}:
            env = "dev" if r.inputs["member"] == deployer_email("dev") else "prod"
            assert r.inputs["member"] == deployer_email(env)
            granted[env].add(r.inputs["serviceAccountId"])
    for env in ("dev", "prod"):
        main = main_stack_run(env)
        created = {
            a.name: f"projects/{a.outputs['project']}/serviceAccounts/{a.outputs['email']}"
            for a in main.of_type(ACCOUNT)
        }
        assert len(created) == 5
        # The operator account runs nothing and the stack sets its IAM (just-in-time grants): the deployer
        # administers it, never acts as it. The workload accounts it acts as and manages, without their IAM.
        operator = {path for name, path in created.items() if name == "worker-operator"}
        expected = operator if role == SA_ADMIN else set(created.values()) - operator
        assert granted[env] == expected, env


def test_deployer_cannot_administer_other_service_accounts() -> None:
    # serviceAccountAdmin on the project would let the deployer setIamPolicy on every account in it
    # (e.g. grant itself TokenCreator on the default compute account): create only, admin per account.
    project_roles: dict[str, set[str]] = {"dev": set(), "prod": set()}
    for r in bootstrap_run().of_type(PROJECT_MEMBER):
        for env in ("dev", "prod"):
            if r.inputs["member"] == deployer_email(env):
                project_roles[env].add(r.inputs["role"])
    for env, roles in project_roles.items():
        # The owner's first `up` creates the accounts: the deployer creates none (preflight's deployer check
        # reports serviceAccountCreator as unused).
        assert not {SA_ADMIN, "roles/iam.serviceAccountCreator", "roles/iam.securityAdmin"} & roles, env
        assert "roles/iam.serviceAccountKeyAdmin" not in roles, env
    manager = [
        r for r in bootstrap_run().of_type("gcp:projects/iAMCustomRole:IAMCustomRole") if "account-manager" in r.name
    ]
    assert len(manager) == 2
    for role in manager:  # no IAM on the accounts, no keys, no token minting
        assert not [p for p in role.inputs["permissions"] if "IamPolicy" in p or "Keys" in p or "Token" in p]
    config = json.loads((BOOTSTRAP / "policy-config.json").read_text())
    assert not [e for e in config["no-high-scope-privileged-roles"]["exemptions"] if "serviceaccount" in e["urn"]]


def test_service_account_user_never_at_project_scope() -> None:
    roles = {r.inputs["role"] for r in bootstrap_run().of_type(PROJECT_MEMBER)}
    assert SA_USER not in roles
    assert "roles/iam.serviceAccountTokenCreator" not in roles
    assert not {"roles/owner", "roles/editor", "roles/viewer"} & roles
    assert not bootstrap_run().of_type("gcp:serviceaccount/key:Key")


def test_project_iam_admin_is_limited_to_the_roles_the_stack_grants() -> None:
    (grant, *_) = [r for r in bootstrap_run().of_type(PROJECT_MEMBER) if "projectIamAdmin" in r.inputs["role"]]
    expression = grant.inputs["condition"]["expression"]
    assert expression == (
        "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', [])"
        ".hasOnly(['roles/logging.logWriter', 'roles/storage.objectViewer'])"
    )


def test_previewers_hold_no_write_role() -> None:
    for r in bootstrap_run().resources:
        member = str(r.inputs.get("member", ""))
        if member.startswith("serviceAccount:previewer-"):
            assert r.inputs["role"] in {
                "roles/storage.objectViewer",
                "roles/cloudkms.cryptoKeyDecrypter",
                "roles/browser",
            }, r.urn


def test_act_as_grants_wait_for_the_runtime_identities() -> None:
    first = run_program(BOOTSTRAP, STACK, {"secure-invoke-bootstrap:grantRuntimeActAs": "false"})
    assert not [r for r in first.of_type(SA_MEMBER) if r.inputs["member"].startswith("serviceAccount:deployer-")]
    for role, accounts in ((SA_USER, 4), (SA_ADMIN, 1), ("secureInvokeServiceAccountManager", 4)):  # per environment
        grants = [r for r in bootstrap_run().of_type(SA_MEMBER) if r.inputs["role"].endswith(role)]
        assert len(grants) == 2 * accounts, role


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("secure-invoke-bootstrap:githubRepository", "not a repo", "githubRepository: 'not a repo' must be"),
        ("secure-invoke-bootstrap:githubRepositoryId", "abc", "githubRepositoryId: 'abc' must be the numeric"),
        ("secure-invoke-bootstrap:environments", '{"staging": {"project": "acme-x-staging"}}', "environments.staging"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(key: str, value: str, message: str) -> None:
    with pytest.raises(ProgramError) as caught:
        run_program(BOOTSTRAP, STACK, {key: value})
    assert message in caught.value.args[0]
    assert "\n" not in caught.value.args[0]


def test_exemptions_cover_only_deployer_project_grants_with_reasons() -> None:
    config = json.loads((BOOTSTRAP / "policy-config.json").read_text())
    assert set(config) == {"no-high-scope-privileged-roles"}
    exemptions = config["no-high-scope-privileged-roles"]["exemptions"]
    resources = bootstrap_run().by_urn()
    assert len(exemptions) == len({e["urn"] for e in exemptions})
    for entry in exemptions:
        resource = resources[entry["urn"]]  # a KeyError is an exemption for nothing
        assert resource.type == PROJECT_MEMBER
        assert resource.inputs["member"] in {deployer_email("dev"), deployer_email("prod")}
        assert resource.inputs["role"] in entry["reason"]
        assert len(entry["reason"]) > 60
    # Five admin roles that set IAM and cloudfunctions.developer (runs code), per environment; projectIamAdmin
    # needs none: its condition limits the grantable roles to ones without identity power.
    assert len(exemptions) == 12


def preflight(*extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "secure_invoke.preflight", "--program", "bootstrap", "--stack", STACK, *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_preflight_passes_with_the_exemptions_and_fails_without() -> None:
    # The command: the config pairs with the default pack (policies/).
    passing = preflight("--policy-pack-config", "bootstrap/policy-config.json")
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    failing = preflight()
    assert failing.returncode == 1, failing.stdout[-3000:] + failing.stderr[-3000:]
    assert "no-high-scope-privileged-roles" in failing.stdout + failing.stderr


def test_log_metrics_come_from_a_custom_role_without_sinks_or_exclusions() -> None:
    # logging.configWriter could also route or drop the audit logs the metrics count.
    roles = {
        r.inputs["project"]: r.inputs
        for r in bootstrap_run().of_type("gcp:projects/iAMCustomRole:IAMCustomRole")
        if r.inputs["roleId"] == "secureInvokeLogMetricsWriter"
    }
    for env in ("dev", "prod"):
        project = stack_config()["secure-invoke-bootstrap:environments"][env]["project"]
        # What the provider calls for a log metric (create, get, update, delete): no list.
        assert sorted(roles[project]["permissions"]) == [
            f"logging.logMetrics.{verb}" for verb in ("create", "delete", "get", "update")
        ]
        granted = {
            r.inputs["role"]
            for r in bootstrap_run().of_type(PROJECT_MEMBER)
            if r.inputs["member"] == deployer_email(env)
        }
        assert f"projects/{project}/roles/{roles[project]['roleId']}" in granted
        assert "roles/logging.configWriter" not in granted and "roles/logging.admin" not in granted
