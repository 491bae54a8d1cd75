"""preflight's deployer check: what `pulumi up` (and `pulumi preview`) of a plan needs, against what the identity
holds — on a stack of this repository with its bootstrap, and on small programs of its own (deployer-app,
deployer-grants). That the bootstrap holds exactly what every environment needs: tests/cicd/test_deployer_roles.py."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from secure_invoke.preflight.deployer import UP, Backend, IdentitySpec, Verdict, backend_from, check_identity
from secure_invoke.preflight.deployer import data as deployer_data
from secure_invoke.preflight.deployer.conditions import evaluate
from secure_invoke.preflight.deployer.names import Target
from secure_invoke.preflight.deployer.plan import Need
from secure_invoke.preflight.deployer.report import lines, missing_lines
from secure_invoke.preflight.engine.program import ProgramRun, run_program
from secure_invoke.preflight.engine.records import Resource
from tests.cicd.paths import bootstrap_environments
from tests.preflight.running import run, run_json
from tests.stack.cases import settings_of

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).resolve().parent / "programs"
APP = PROGRAMS / "deployer-app"
GRANTS = PROGRAMS / "deployer-grants"
NOW = datetime(2026, 12, 1, tzinfo=UTC)
# The environment the check's mechanics are shown on (the first the bootstrap lists), and its project.
ENV = bootstrap_environments()[0]
PROJECT = settings_of(ENV).project


@cache
def bootstrap() -> ProgramRun:
    return run_program(ROOT / "bootstrap", "github")


@cache
def stack(name: str) -> ProgramRun:
    return run_program(ROOT, name)


def outputs() -> dict[str, dict[str, Any]]:
    return {"bootstrap": dict(bootstrap().outputs)}


def without(run: ProgramRun, name: str) -> ProgramRun:
    """The bootstrap as if one of its resources (a grant) were not in it."""
    kept = [r for r in run.resources if r.name != name]
    assert len(kept) == len(run.resources) - 1, name
    return dataclasses.replace(run, resources=kept)


def deployer(env: str, recorded: ProgramRun | None = None, roles: tuple[str, ...] = ()) -> Verdict:
    boot = recorded or bootstrap()
    spec = IdentitySpec("--deployer", UP, f"bootstrap:deployer_{env}_email", roles)
    backend = backend_from(f"bootstrap:backend_url_{env}", f"bootstrap:secrets_provider_{env}", outputs())
    return check_identity(stack(env), spec, outputs(), [boot], backend, NOW)


# --- on a stack of this repository with its bootstrap: what the report names ---------------------------------


def test_removing_one_role_names_the_resource_the_step_and_the_permission() -> None:
    verdict = deployer(ENV, without(bootstrap(), f"deployer-{ENV}-pubsub-admin"))
    shown = missing_lines(verdict)
    assert shown[0] == f"would fail: gcp:pubsub:Topic jobs create needs pubsub.topics.create (on project {PROJECT})"
    assert (
        f"would fail: gcp:pubsub:Topic jobs delete needs pubsub.topics.delete (on projects/{PROJECT}/topics/jobs-{ENV})"
        in shown
    )
    assert {m.need.permission.split(".")[0] for m in verdict.missing} == {"pubsub"}
    assert verdict.unused == []


def test_removing_act_as_names_the_account_the_workload_runs_as() -> None:
    verdict = deployer(ENV, without(bootstrap(), f"deployer-{ENV}-actas-worker-runtime"))
    account = f"projects/{PROJECT}/serviceAccounts/worker-runtime-{ENV}@{PROJECT}.iam.gserviceaccount.com"
    # Needed at create and at every update; named once, at the first step that needs it.
    assert missing_lines(verdict) == [
        f"would fail: gcp:cloudrunv2:Service worker create needs iam.serviceAccounts.actAs (on {account})"
    ]
    assert {
        n.step for n in verdict.plan.needs if n.permission == "iam.serviceAccounts.actAs" and n.target.name == account
    } == {"create", "update"}


def test_an_unneeded_admin_role_is_named_unused() -> None:
    verdict = deployer(ENV, roles=("roles/composer.admin",))
    granted = len(deployer_data.predefined_roles()["roles/composer.admin"])
    assert [line for _, line in lines(verdict) if line.startswith("unused")] == [
        f"unused: roles/composer.admin on project {PROJECT} — {granted} permissions granted, none needed"
    ]
    assert verdict.missing == []
    # An admin role whose only needed permission others give too: unused, and the report says which it gives.
    verdict = deployer(ENV, roles=("roles/compute.admin",))
    (line,) = [line for _, line in lines(verdict) if line.startswith("unused")]
    granted = len(deployer_data.predefined_roles()["roles/compute.admin"])
    assert line.startswith(
        f"unused: roles/compute.admin on project {PROJECT} — {granted} permissions granted, the 1 needed "
        "(resourcemanager.projects.get) also granted by roles/artifactregistry.admin, "
    )


def test_a_broad_role_whose_needed_permissions_others_give_is_the_one_named_unused() -> None:
    # Project-wide serviceAccountAdmin gives the account updates the per-account manager role already gives, and
    # setIamPolicy on every account: it is the grant to remove, not the narrow ones.
    verdict = deployer(ENV, roles=("roles/iam.serviceAccountAdmin",))
    assert [(u.holding.role, u.holding.scope) for u in verdict.unused] == [
        ("roles/iam.serviceAccountAdmin", f"projects/{PROJECT}")
    ]
    assert "iam.serviceAccounts.get" in verdict.unused[0].needed


def test_the_issue_s_three_findings_on_the_old_roles() -> None:
    # The roles the bootstrap held before: each of the three is reported, with why.
    old = ("roles/iam.serviceAccountCreator", "roles/eventarc.developer", "roles/browser")
    verdict = deployer(ENV, roles=old)
    assert {u.holding.role for u in verdict.unused} == set(old)
    eventarc = next(u for u in verdict.unused if u.holding.role == "roles/eventarc.developer")
    assert eventarc.needed == ("resourcemanager.projects.get",)


def test_a_resource_type_missing_from_the_table_is_unknown_never_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    table = dict(deployer_data.provider_methods())
    del table["gcp:logging/metric:Metric"]
    monkeypatch.setattr(deployer_data, "provider_methods", lambda: table)
    monkeypatch.setattr("secure_invoke.preflight.deployer.plan.provider_methods", lambda: table)
    monkeypatch.setattr("secure_invoke.preflight.deployer.names.provider_methods", lambda: table)
    verdict = deployer(ENV)
    assert [(u.label, u.what) for u in verdict.plan.unknown] == [
        ("gcp:logging:Metric access-audit-denials", "gcp:logging/metric:Metric is not in the provider table"),
        (
            "gcp:logging:Metric access-audit-operator-token-mints",
            "gcp:logging/metric:Metric is not in the provider table",
        ),
    ]
    assert verdict.failing
    # ... and the custom role that grants exactly the metrics' permissions is then unused: nothing else needs them.
    assert [u.holding.role for u in verdict.unused] == [f"projects/{PROJECT}/roles/secureInvokeLogMetricsWriter"]


# --- IAM conditions -------------------------------------------------------------------------------------------


@cache
def grants(case: str) -> ProgramRun:
    return run_program(GRANTS, "dev", {"deployer-grants:case": case})


@cache
def app(case: str) -> ProgramRun:
    return run_program(APP, "dev", {"deployer-app:case": case})


def app_verdict(grants_case: str, app_case: str = "bucket", mode: str = UP, who: str = "deployer_email") -> Verdict:
    recorded = grants(grants_case)
    references = {"ci": dict(recorded.outputs)}
    spec = IdentitySpec(f"--{mode.split()[-1]}", mode, f"ci:{who}")
    return check_identity(app(app_case), spec, references, [recorded], Backend(), NOW)


def test_an_unconditioned_project_role_covers_the_bucket() -> None:
    verdict = app_verdict("exact")
    assert verdict.missing == [] and verdict.unused == [] and verdict.findings == []
    assert not verdict.failing


def test_a_condition_that_limits_the_role_to_other_resources_is_honoured() -> None:
    verdict = app_verdict("other-buckets")
    bucket = "projects/_/buckets/pf-deployer-data"
    shown = missing_lines(verdict)
    assert (
        f"would fail: gcp:storage:Bucket data create needs storage.buckets.get, storage.buckets.getIamPolicy (on {bucket})"
        in shown
    )
    assert (
        f"would fail: gcp:storage:Bucket data delete needs storage.buckets.delete, storage.objects.delete, storage.objects.getIamPolicy, storage.objects.list (on {bucket})"
        in shown
    )
    # Its creation of the bucket cannot be decided before the request (the bucket's name is the new one's), so
    # the grant is not called unused either: the report lists it as undecided.
    assert verdict.unused == [] and [h.role for h in verdict.undecided] == ["roles/storage.admin"]


def test_a_condition_naming_the_resource_grants_on_it_but_cannot_decide_its_creation() -> None:
    verdict = app_verdict("this-bucket")
    # Reads, updates and deletes of the bucket are checked on the bucket itself: the condition holds. Its
    # creation, and the project read, are checked where the condition's attributes are not known here.
    assert {m.need.step for m in verdict.missing} == {"create", "invoke"}
    assert missing_lines(verdict) == [
        "would fail: gcp:storage:Bucket data create needs storage.buckets.create (on project pf-deployer); "
        "roles/storage.admin would give it, but its condition cannot be decided before the request",
        "would fail: invoke getProject invoke needs resourcemanager.projects.get (on project pf-deployer); "
        "roles/storage.admin would give it, but its condition cannot be decided before the request",
    ]
    assert verdict.unused == []


def test_an_expired_grant_grants_nothing() -> None:
    verdict = app_verdict("expired")
    assert {m.need.permission for m in verdict.missing} == {n.permission for n in verdict.plan.needs}
    assert [u.holding.role for u in verdict.unused] == ["roles/storage.admin"] and verdict.undecided == []


def test_modified_grants_by_role_decides_a_set_iam_policy() -> None:
    # projectIamAdmin limited to handing out logWriter: granting it passes, granting anything else does not.
    condition = {
        "expression": "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/logging.logWriter'])"
    }
    project = Target("projects/p", "p", "cloudresourcemanager.googleapis.com")

    def need(permission: str, roles: tuple[str, ...] | None) -> Need:
        return Need("urn", "r", "create", permission, project, "m", roles)

    assert evaluate(condition, need("resourcemanager.projects.setIamPolicy", ("roles/logging.logWriter",)), NOW) is True
    assert evaluate(condition, need("resourcemanager.projects.setIamPolicy", ("roles/owner",)), NOW) is False
    assert evaluate(condition, need("resourcemanager.projects.setIamPolicy", ()), NOW) is True  # an audit config
    assert evaluate(condition, need("resourcemanager.projects.getIamPolicy", None), NOW) is True  # the default []
    other = {"expression": "api.getAttribute('iam.googleapis.com/someOtherAttribute', '') == 'x'"}
    assert evaluate(other, need("resourcemanager.projects.setIamPolicy", ()), NOW) is None


# --- deploy preconditions: each rule with the fix that satisfies it -----------------------------------------


@pytest.mark.parametrize(
    ("case", "kinds"),
    [
        ("secret-env", ["secret-version"]),
        ("secret-env-version-unordered", ["secret-version"]),
        ("secret-env-version", []),
        ("secret-file", []),
        ("build-no-wait", ["build-grants-wait"]),
        ("build-short-wait", ["build-grants-wait"]),
        ("build-wait", []),
    ],
)
def test_deploy_preconditions(case: str, kinds: list[str]) -> None:
    verdict = app_verdict("exact", case)
    assert [f.kind for f in verdict.findings if f.kind != "api-not-enabled"] == kinds
    for finding in verdict.findings:
        if finding.kind == "build-grants-wait":
            assert "fn-build@pf-deployer.iam.gserviceaccount.com" in finding.message
            assert ("waits only 10s" in finding.message) == (case == "build-short-wait")


def test_apis_the_plan_calls_must_be_enabled_by_a_recorded_run() -> None:
    assert app_verdict("exact", "bucket").findings == []  # storage is enabled by deployer-grants
    (finding,) = [f for f in app_verdict("exact", "secret-file").findings if f.kind == "api-not-enabled"]
    assert finding.message.startswith(
        "project pf-deployer: the plan calls iam.googleapis.com, run.googleapis.com, secretmanager.googleapis.com, "
        "which no recorded run enables"
    )


# --- the command ----------------------------------------------------------------------------------------------


def test_command_exit_codes_and_json(tmp_path: Path) -> None:
    reference = tmp_path / "ci.json"
    # The pack rejects the project-wide storage.admin (as it should); the recorded plan is what matters here.
    code, _, _ = run("--program", str(GRANTS), "--stack", "dev", "--json", str(reference))
    assert code == 1 and "deployer-storage-admin" in reference.read_text()
    base = ("--program", str(APP), "--stack", "dev", "--stack-reference", f"ci={reference}")
    code, result, text = run_json(
        tmp_path, *base, "--deployer", "ci:deployer_email", "--previewer", "ci:previewer_email"
    )
    assert code == 0, text
    assert [(c["identity"], c["mode"], c["pass"]) for c in result["deployerCheck"]] == [
        ("serviceAccount:ci-deployer@pf-deployer.iam.gserviceaccount.com", "pulumi up", True),
        ("serviceAccount:ci-previewer@pf-deployer.iam.gserviceaccount.com", "pulumi preview", True),
    ]
    code, result, text = run_json(tmp_path, *base, "--deployer-role", "roles/storage.objectAdmin")
    assert code == 1
    (check,) = result["deployerCheck"]
    assert check["wouldFail"][0] == {
        "urn": "urn:pulumi:dev::deployer-app::gcp:storage/bucket:Bucket::data",
        "resource": "gcp:storage:Bucket data",
        "step": "create",
        "permission": "storage.buckets.create",
        "on": "projects/pf-deployer",
        "via": "storage.buckets.insert",
        "undecided": [],
        "message": "would fail: gcp:storage:Bucket data create needs storage.buckets.create (on project pf-deployer)",
    }
    assert "would fail: gcp:storage:Bucket data create needs storage.buckets.create (on project pf-deployer)" in text
    assert "deployer check failed for given roles" in text


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (("--deployer", "ci:nothing"), "'ci' is neither a member kind"),
        (("--deployer-role", "roles/not.a-role"), "roles/not.a-role is neither a predefined role nor a custom role"),
        (("--deployer", "user:a@b.c", "--backend-url", "s3://bucket"), "only a gs:// backend's permissions are known"),
    ],
)
def test_bad_flags_are_one_line(flags: tuple[str, ...], message: str) -> None:
    code, out, err = run("--program", str(APP), "--stack", "dev", *flags)
    assert out == ""
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.slow
def test_a_run_without_the_check_loads_none_of_it() -> None:
    script = (
        "import sys\n"
        "from secure_invoke.preflight.__main__ import main\n"
        f"code = main(['--program', {str(APP)!r}, '--stack', 'dev', '--json', '-'])\n"
        "print('LOADED' if any(m.startswith('secure_invoke.preflight.deployer') for m in sys.modules) else 'NOT-LOADED')\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180, check=False)
    *document, loaded = done.stdout.strip().splitlines()
    assert loaded == "NOT-LOADED", done.stdout[-500:] + done.stderr[-500:]
    assert "deployerCheck" not in json.loads("\n".join(document))


def test_unknown_and_outside_types_are_listed() -> None:
    run_ = dataclasses.replace(
        app("bucket"),
        resources=[
            *app("bucket").resources,
            Resource("urn:x", "random:index/randomId:RandomId", "suffix", None, True, {}, {}),
        ],
    )
    verdict = check_identity(
        run_, IdentitySpec("--deployer", UP, None, ("roles/storage.admin",)), {}, [], Backend(), NOW
    )
    assert verdict.plan.outside == {"random": 1}
    assert ("dim", "outside Google Cloud IAM, not checked: random (1)") in lines(verdict)
