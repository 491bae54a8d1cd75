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
        assert env.caller_kinds == {c.kind for c in main.callers}
        assert env.legacy_pubsub_agent == main.value("legacyPubsubServiceAgent")
        assert env.operator_token_alert == main.alerts_on_operator_tokens
        assert env.accounts == main.service_accounts()


# Every stack's deployer holds these project roles (and the log-metrics custom role); each creates types every
# stack plans. What creates a type only some stacks plan — the role, and the API it calls — follows the plan.
EVERY_STACK_ROLES = {
    "roles/run.admin",
    "roles/cloudfunctions.developer",
    "roles/pubsub.admin",
    "roles/storage.admin",
    "roles/artifactregistry.admin",
    "roles/secretmanager.admin",
    "roles/resourcemanager.projectIamAdmin",
}
ONLY_WHEN_PLANNED = {
    "gcp:monitoring/alertPolicy:AlertPolicy": ("roles/monitoring.alertPolicyEditor", "monitoring.googleapis.com"),
    "gcp:cloudscheduler/job:Job": ("roles/cloudscheduler.admin", "cloudscheduler.googleapis.com"),
    "gcp:cloudtasks/queue:Queue": ("roles/cloudtasks.queueAdmin", "cloudtasks.googleapis.com"),
    "gcp:workflows/workflow:Workflow": ("roles/workflows.editor", "workflows.googleapis.com"),
}
REJECTED_CALLER_ROLES = {"roles/cloudtasks.queueAdmin", "roles/workflows.editor"}


def project_roles_of(env: str) -> list[str]:
    return [
        r.inputs["role"] for r in bootstrap_run().of_type(PROJECT_MEMBER) if r.inputs["member"] == deployer_email(env)
    ]


def test_deployer_project_roles_follow_what_each_stack_plans() -> None:
    for env, environment in environments().items():
        planned = {r.type for r in main_stack_run(env).resources}
        expected = EVERY_STACK_ROLES | {role for kind, (role, _) in ONLY_WHEN_PLANNED.items() if kind in planned}
        custom = f"projects/{environment.project}/roles/secureInvokeLogMetricsWriter"
        assert sorted(project_roles_of(env)) == sorted({*expected, custom}), env
        # The alert exists in a production tier only: so does the role that creates it.
        alert = "gcp:monitoring/alertPolicy:AlertPolicy" in planned
        assert alert == (environment.tier == "production"), env


def test_each_environment_s_apis_are_enabled_and_kept() -> None:
    for env, environment in environments().items():
        planned = {r.type for r in main_stack_run(env).resources}
        services = {
            r.inputs["service"]: r.inputs
            for r in bootstrap_run().of_type("gcp:projects/service:Service")
            if r.inputs["project"] == environment.project
        }
        for kind, (_, api) in ONLY_WHEN_PLANNED.items():
            # Monitoring for every stack: its log-based metrics (token mints, denials) are read there.
            if kind != "gcp:monitoring/alertPolicy:AlertPolicy":
                assert (api in services) == (kind in planned), (env, api)
        assert {"run.googleapis.com", "cloudfunctions.googleapis.com", "cloudbuild.googleapis.com"} <= set(services)
        # Never disabled by the bootstrap: a `destroy` here must not break the environment's stack.
        assert all(s["disableOnDestroy"] is False for s in services.values()), env


def test_the_deployer_may_attach_subscriptions_to_other_projects_topics_only() -> None:
    # A push caller on another team's topic: Pub/Sub checks attachSubscription on that topic at create.
    for env, environment in environments().items():
        topics = {r.inputs["topic"] for r in main_stack_run(env).of_type("gcp:pubsub/subscription:Subscription")}
        foreign = {
            t for t in topics if t.startswith("projects/") and not t.startswith(f"projects/{environment.project}/")
        }
        granted = {
            r.inputs["topic"]: r.inputs["role"]
            for r in bootstrap_run().of_type("gcp:pubsub/topicIAMMember:TopicIAMMember")
            if r.inputs["member"] == deployer_email(env)
        }
        assert granted == dict.fromkeys(foreign, "roles/pubsub.subscriber"), env


def test_legacy_pubsub_agent_and_callers_are_read_from_the_stack_file(tmp_path: Path) -> None:
    # The bootstrap's settings of a main program whose stack file sets them (the deployer check on such a
    # stack: tests/cicd/test_deployer_roles.py).
    (env, *_) = environments()
    text = (ROOT / f"Pulumi.{env}.yaml").read_text(encoding="utf-8")
    text += (
        "  secure-invoke:legacyPubsubServiceAgent: true\n"
        "  secure-invoke:callers:\n"
        "    - {name: orders, kind: pubsub-push, topic: projects/orders-platform-7731/topics/order-events}\n"
        "    - {name: refunds, kind: cloud-tasks}\n"
    )
    (tmp_path / f"Pulumi.{env}.yaml").write_text(text, encoding="utf-8")
    config, _ = read_stack_file(BOOTSTRAP / f"Pulumi.{STACK}.yaml", "secure-invoke-bootstrap")
    config["secure-invoke-bootstrap:environments"] = json.dumps({env: None})
    (read,) = _module("bootstrap_settings").settings_of(config, tmp_path).environments
    assert read.legacy_pubsub_agent is True and environments()[env].legacy_pubsub_agent is False
    assert read.caller_kinds == {"pubsub-push", "cloud-tasks"}
    assert read.foreign_topics == ("projects/orders-platform-7731/topics/order-events",)
    assert set(read.accounts) == set(environments()[env].accounts) | {f"orders-{env}", f"refunds-{env}"}


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


def accounts_with_iam(env: str) -> set[str]:
    """The accounts whose IAM the deployer sets: those the main stack grants on (the trigger account with
    legacyPubsubServiceAgent), and the operator account always (its expiring grants come and go by date)."""
    main = main_stack_run(env)
    created = {
        a.name: f"projects/{a.outputs['project']}/serviceAccounts/{a.outputs['email']}" for a in main.of_type(ACCOUNT)
    }
    return {created["worker-operator"]} | {r.inputs["serviceAccountId"] for r in main.of_type(SA_MEMBER)}


@pytest.mark.parametrize("role", [SA_USER, SA_ADMIN, MANAGER])
def test_deployer_holds_per_account_roles_on_exactly_the_identities_the_main_stack_creates(role: str) -> None:
    by_member = {deployer_email(env): env for env in environments()}
    granted: dict[str, set[str]] = {env: set() for env in environments()}
    for r in bootstrap_run().of_type(SA_MEMBER):
        env = by_member.get(r.inputs["member"])
        if env is not None and r.inputs["role"] == role.format(project=environments()[env].project):
            granted[env].add(r.inputs["serviceAccountId"])
    for env in environments():
        main = main_stack_run(env)
        created = {
            a.name: f"projects/{a.outputs['project']}/serviceAccounts/{a.outputs['email']}"
            for a in main.of_type(ACCOUNT)
        }
        # The workloads' and each declared caller's accounts, and the operator's.
        assert len(created) == 5 + len([c for c in main_settings(env).callers if c.account_id])
        operator = {created["worker-operator"]}
        # It acts as every account a workload runs as, never as the operator account people borrow; where the
        # stack sets an account's IAM it administers it (serviceAccountAdmin), elsewhere it only manages it
        # (the custom role without setIamPolicy).
        expected = {
            SA_USER: set(created.values()) - operator,
            SA_ADMIN: accounts_with_iam(env),
            MANAGER: set(created.values()) - accounts_with_iam(env),
        }[role]
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
        # The owner's first `up` creates the accounts: the deployer creates none (preflight's deployer check
        # reports serviceAccountCreator as unused).
        assert not {SA_ADMIN, "roles/iam.serviceAccountCreator", "roles/iam.securityAdmin"} & roles, env
        assert "roles/iam.serviceAccountKeyAdmin" not in roles, env
    manager = [
        r for r in bootstrap_run().of_type("gcp:projects/iAMCustomRole:IAMCustomRole") if "account-manager" in r.name
    ]
    assert len(manager) == len(environments())
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
    accounts = sum(len(env.accounts) for env in environments().values())
    workloads = sum(runs for env in environments().values() for runs in env.accounts.values())
    administered = sum(len(accounts_with_iam(env)) for env in environments())
    for role, count in ((SA_USER, workloads), (SA_ADMIN, administered), (MANAGER, accounts - administered)):
        grants = [r for r in bootstrap_run().of_type(SA_MEMBER) if r.inputs["role"].endswith(role.rsplit("/")[-1])]
        assert len(grants) == count, role


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
    # needs none: its condition limits the grantable roles to ones without identity power. And per environment
    # with such callers: cloudtasks.queueAdmin (sets queues' IAM) and workflows.editor (replaces the steps of
    # workflows that run as other identities); cloudscheduler.admin and alertPolicyEditor the pack accepts.
    callers = sum(len(REJECTED_CALLER_ROLES & set(project_roles_of(env))) for env in environments())
    assert len(exemptions) == 6 * len(environments()) + callers


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
    roles = {
        r.inputs["project"]: r.inputs
        for r in bootstrap_run().of_type("gcp:projects/iAMCustomRole:IAMCustomRole")
        if r.inputs["roleId"] == "secureInvokeLogMetricsWriter"
    }
    for env in environments():
        project = environments()[env].project
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


def test_ci_iterates_the_environments_the_bootstrap_lists() -> None:
    # What .ci/run's loop and the pull-request matrix jobs run on (tests/cicd/test_workflows.py).
    for flags, parse in (((), str.split), (("--json",), json.loads)):
        done = subprocess.run(
            [sys.executable, "bootstrap/environments.py", *flags],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert parse(done.stdout) == list(environments())
    broken = subprocess.run(
        [sys.executable, "bootstrap/environments.py", "--stack", "nosuchstack"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert broken.returncode == 2 and broken.stdout == ""
    assert (
        broken.stderr.startswith("error: ")
        and broken.stderr.count("\n") == 1
        and "Pulumi.nosuchstack.yaml" in broken.stderr
    )
