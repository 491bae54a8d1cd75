"""The CI bootstrap program run by preflight's engine, and its policy verdict through the real pack. What it must
plan is derived from its own stack file and from the main stacks it names, never from the sample's ids."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from secure_invoke.preflight.engine.program import ProgramError, ProgramRun, run_program
from secure_invoke.settings import read_stack_file
from tests.cicd.paths import ROOT

BOOTSTRAP = ROOT / "bootstrap"
STACK = "github"
SA_USER = "roles/iam.serviceAccountUser"
SA_ADMIN = "roles/iam.serviceAccountAdmin"
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


def _module(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"bootstrap_{name}_under_test", BOOTSTRAP / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@cache
def settings() -> Any:
    """The bootstrap's settings, read as the program reads them (environments from the main stack files)."""
    config, _ = read_stack_file(BOOTSTRAP / f"Pulumi.{STACK}.yaml", "secure-invoke-bootstrap")
    return _module("bootstrap_settings").settings_of(config, ROOT)


def environments() -> dict[str, Any]:
    return {e.name: e for e in settings().environments}


def deployer_email(env: str) -> str:
    return f"serviceAccount:deployer-{env}@{settings().ci_project}.iam.gserviceaccount.com"


def main_settings(env: str) -> Any:
    from tests.stack.cases import settings_of

    return settings_of(env)


def test_environments_come_from_the_main_stack_files() -> None:
    for env in environments().values():
        main = main_settings(env.name)
        assert (env.project, env.tier) == (main.project, main.tier)
        assert env.accounts == main.service_accounts()


def providers() -> dict[str, dict[str, Any]]:
    return {r.name: r.inputs for r in bootstrap_run().of_type(POOL_PROVIDER)}


def test_providers_pin_repository_workflow_and_event_exactly() -> None:
    # The attribute conditions are the hard gate, compared as whole strings: any widening fails here.
    repository, repository_id = settings().repository, settings().repository_id
    assert repository_id, "the sample pins the numeric repository id"
    repo = f"assertion.repository == '{repository}' && assertion.repository_id == '{repository_id}'"
    deploy = (
        "assertion.event_name in ['push', 'workflow_dispatch'] && assertion.ref == 'refs/heads/main'"
        f" && assertion.job_workflow_ref == '{repository}/.github/workflows/deploy.yml@refs/heads/main'"
    )
    pull_request = (
        "assertion.event_name == 'pull_request' && assertion.job_workflow_ref.startsWith("
        f"'{repository}/.github/workflows/pull-request.yml@refs/pull/')"
    )
    plans = [f"plan-{e.name}" for e in environments().values() if e.tier == "production"]
    plan = f"assertion.environment == '{plans[0]}'" if len(plans) == 1 else f"assertion.environment in {plans}"
    conditions = {name: inputs["attributeCondition"] for name, inputs in providers().items()}
    assert conditions == {
        **{
            f"github-deploy-{e.name}-provider": f"{repo} && {deploy} && assertion.environment == '{e.github_environment}'"
            for e in environments().values()
        },
        "github-preview-provider": f"{repo} && (({pull_request}) || ({deploy} && {plan}))"
        if plans
        else f"{repo} && {pull_request}",
    }


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
    number = bootstrap_run().outputs["workload_identity_provider_preview"].split("/")[1]
    repository = settings().repository
    expected: dict[str, str] = {}
    for env in environments().values():
        # Each deploy pool admits only deploy.yml's job in its environment, so the whole pool is the principal.
        expected[f"deployer-{env.name}-wif"] = (
            pools.format("Set", number) + f"github-deploy-{env.name}/attribute.repository/{repository}"
        )
        # The preview pool admits several jobs: previewers bind one GitHub environment each.
        for index, github_environment in enumerate(env.preview_environments):
            expected[f"previewer-{env.name}-wif" + (f"-{index}" if index else "")] = (
                pools.format("", number) + f"github-preview/subject/repo:{repository}:environment:{github_environment}"
            )
    assert wif == expected
    outputs = bootstrap_run().outputs
    pool_of = {"preview": "github-preview", **{e: f"github-deploy-{e}" for e in environments()}}
    for kind, pool in pool_of.items():
        assert outputs[f"workload_identity_provider_{kind}"] == (
            f"projects/{number}/locations/global/workloadIdentityPools/{pool}/providers/github"
        )


@pytest.mark.parametrize("role", [SA_USER, SA_ADMIN])
def test_deployer_holds_per_account_roles_on_exactly_the_identities_the_main_stack_creates(role: str) -> None:
    by_member = {deployer_email(env): env for env in environments()}
    granted: dict[str, set[str]] = {env: set() for env in environments()}
    for r in bootstrap_run().of_type(SA_MEMBER):
        if r.inputs["role"] == role:
            granted[by_member[r.inputs["member"]]].add(r.inputs["serviceAccountId"])
    for env in environments():
        main = main_stack_run(env)
        created = {
            a.name: f"projects/{a.outputs['project']}/serviceAccounts/{a.outputs['email']}"
            for a in main.of_type(ACCOUNT)
        }
        # The workloads' and each declared caller's accounts, and the operator's.
        assert len(created) == 5 + len([c for c in main_settings(env).callers if c.account_id])
        # The operator account runs nothing: the deployer administers it (its just-in-time grants), never acts as it.
        expected = {path for name, path in created.items() if role == SA_ADMIN or name != "worker-operator"}
        assert granted[env] == expected, env


def test_deployer_cannot_administer_other_service_accounts() -> None:
    # serviceAccountAdmin on the project would let the deployer setIamPolicy on every account in it
    # (e.g. grant itself TokenCreator on the default compute account): create only, admin per account.
    project_roles: dict[str, set[str]] = {env: set() for env in environments()}
    for r in bootstrap_run().of_type(PROJECT_MEMBER):
        for env in environments():
            if r.inputs["member"] == deployer_email(env):
                project_roles[env].add(r.inputs["role"])
    for env, roles in project_roles.items():
        assert "roles/iam.serviceAccountCreator" in roles, env
        assert not {SA_ADMIN, "roles/iam.securityAdmin", "roles/iam.serviceAccountKeyAdmin"} & roles, env
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
    assert not [r for r in first.of_type(SA_MEMBER) if r.inputs["role"] in {SA_USER, SA_ADMIN}]
    workloads = sum(runs for env in environments().values() for runs in env.accounts.values())
    accounts = sum(len(env.accounts) for env in environments().values())
    for role, count in ((SA_USER, workloads), (SA_ADMIN, accounts)):
        assert len([r for r in bootstrap_run().of_type(SA_MEMBER) if r.inputs["role"] == role]) == count


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("secure-invoke-bootstrap:githubRepository", "not a repo", "githubRepository: 'not a repo' must be"),
        ("secure-invoke-bootstrap:githubRepositoryId", "abc", "githubRepositoryId: 'abc' must be the numeric"),
        (
            "secure-invoke-bootstrap:environments",
            '{"nosuchenv": {}}',
            "environments.nosuchenv: no stack file Pulumi.nosuchenv.yaml",
        ),
        (
            "secure-invoke-bootstrap:environments",
            '{"dev": {"project": "acme-x"}}',
            "environments['dev']: unknown field 'project'",
        ),
        ("secure-invoke-bootstrap:grantRuntimeActAs", "maybe", "grantRuntimeActAs: 'maybe' is not a valid boolean"),
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
        assert resource.inputs["member"] in {deployer_email(env) for env in environments()}
        assert resource.inputs["role"] in entry["reason"]
        assert len(entry["reason"]) > 60
    # Five admin roles that set IAM and cloudfunctions.developer (runs code), per environment; projectIamAdmin
    # needs none: its condition limits the grantable roles to ones without identity power.
    assert len(exemptions) == 6 * len(environments())


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
def test_preflight_passes_with_the_exemptions_and_fails_without(tmp_path: Path) -> None:
    # The command: the config pairs with the default pack (policies/).
    passing = preflight("--policy-pack-config", "bootstrap/policy-config.json")
    assert passing.returncode == 0, passing.stdout[-3000:] + passing.stderr[-3000:]
    report = tmp_path / "report.json"
    failing = preflight("--json", str(report))
    assert failing.returncode == 1, failing.stdout[-3000:] + failing.stderr[-3000:]
    assert "no-high-scope-privileged-roles" in failing.stdout + failing.stderr
    # The committed file is what its command writes from this very verdict: a golden file, never hand-edited.
    exemptions = _module("exemptions")
    expected = exemptions.render(
        exemptions.exemptions(json.loads(report.read_text()), exemptions.deployer_project_roles())
    )
    assert (BOOTSTRAP / "policy-config.json").read_text(encoding="utf-8") == expected, (
        "bootstrap/policy-config.json is out of date: run `python bootstrap/exemptions.py`"
    )


def test_log_metrics_come_from_a_custom_role_without_sinks_or_exclusions() -> None:
    # logging.configWriter could also route or drop the audit logs the metrics count.
    roles = {r.inputs["project"]: r.inputs for r in bootstrap_run().of_type("gcp:projects/iAMCustomRole:IAMCustomRole")}
    for env in environments():
        project = environments()[env].project
        assert sorted(roles[project]["permissions"]) == [
            f"logging.logMetrics.{verb}" for verb in ("create", "delete", "get", "list", "update")
        ]
        granted = {
            r.inputs["role"]
            for r in bootstrap_run().of_type(PROJECT_MEMBER)
            if r.inputs["member"] == deployer_email(env)
        }
        assert f"projects/{project}/roles/{roles[project]['roleId']}" in granted
        assert "roles/logging.configWriter" not in granted and "roles/logging.admin" not in granted
