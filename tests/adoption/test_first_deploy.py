"""The first deploy of docs/ci-cd.md, each step that can run here run as written: every `pulumi` command of the
list through preflight's engine with the config the list has set by then (no `--target` anywhere), the secret's
first version from the stack, and the operator's token request against the IAM Credentials stand-in with the
request the real API takes."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from google.auth import jwt

from local.operator import sign_in
from local.processes import Proc, start_iam_credentials, stopping
from secure_invoke.operator_token import request_body
from secure_invoke.preflight import run_program
from tests.stack.cases import REPO, STACKS, settings_of, stack_of_tier

CI_CD = REPO / "docs" / "ci-cd.md"
OPERATOR_ACCESS = REPO / "docs" / "operator-access.md"


def first_deploy_section() -> str:
    text = CI_CD.read_text(encoding="utf-8")
    start = text.index("## First deploy\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def shell_lines(section: str) -> list[str]:
    """The lines of its `sh` blocks, continuations joined."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [line.strip() for line in joined.splitlines() if line.strip()]
    return lines


@dataclass
class Step:
    """One `pulumi up` of the list, as preflight runs it."""

    program: Path
    stack: str
    overrides: dict[str, str]
    policy_pack: Path | None = None
    policy_pack_config: Path | None = None
    argv: list[str] = field(default_factory=list)


def pulumi_steps(lines: list[str]) -> tuple[list[Step], list[str]]:
    """Interpret the list's `pulumi` commands: `config set` updates the stack's config, `up` is a step.
    Returns the steps and the keys set with `--secret` (exercised separately: preflight cannot encrypt)."""
    config: dict[tuple[Path, str], dict[str, str]] = {}
    steps: list[Step] = []
    secrets: list[str] = []
    for line in lines:
        argv = shlex.split(line)
        if not argv or argv[0] != "pulumi":
            continue
        args = argv[1:]
        program = REPO
        if args[:1] == ["-C"]:
            program, args = (REPO / args[1]).resolve(), args[2:]
        stack = args[args.index("--stack") + 1] if "--stack" in args else ""
        if args[:2] == ["config", "set"]:
            rest = [a for a in args[2:] if a not in ("--stack", stack, "--secret")]
            if "--secret" in args:
                secrets.append(rest[0])
            else:
                config.setdefault((program, stack), {})[rest[0]] = rest[1]
        elif args[:1] == ["up"]:
            pack = program / args[args.index("--policy-pack") + 1] if "--policy-pack" in args else None
            pack_config = (
                program / args[args.index("--policy-pack-config") + 1] if "--policy-pack-config" in args else None
            )
            steps.append(Step(program, stack, dict(config.get((program, stack), {})), pack, pack_config, argv))
    return steps, secrets


def test_the_list_never_targets_part_of_a_stack() -> None:
    # pulumi/pulumi#14531: a targeted child whose parent component does not exist yet is refused.
    for path in (CI_CD, REPO / "README.md", REPO / "bootstrap" / "README.md", OPERATOR_ACCESS):
        assert not [line for line in shell_lines(path.read_text(encoding="utf-8")) if "--target" in line], path.name
    steps, _ = pulumi_steps(shell_lines(first_deploy_section()))
    # The bootstrap twice (without, then with the per-account grants), each environment's whole first up between.
    programs = [s.program.name for s in steps]
    assert programs[0] == programs[-1] == "bootstrap"
    assert steps[0].overrides == {"secure-invoke-bootstrap:grantRuntimeActAs": "false"}
    assert steps[-1].overrides == {"secure-invoke-bootstrap:grantRuntimeActAs": "true"}
    main = [s.stack for s in steps if s.program == REPO]
    assert main and set(main) <= set(STACKS)


def preflight(step: Step, report: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "secure_invoke.preflight", "--program", str(step.program), "--stack", step.stack]
    command += ["--json", str(report)]
    if step.policy_pack:
        command += ["--policy-pack", str(step.policy_pack)]
    if step.policy_pack_config:
        command += ["--policy-pack-config", str(step.policy_pack_config)]
    for key, value in step.overrides.items():
        command += ["--set", f"{key}={value}"]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


@pytest.mark.slow
def test_each_pulumi_step_of_the_list_passes_the_pack_in_order(tmp_path: Path) -> None:
    steps, _ = pulumi_steps(shell_lines(first_deploy_section()))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda i: preflight(steps[i], tmp_path / f"{i}.json"), range(len(steps))))
    for step, result in zip(steps, results, strict=True):
        assert result.returncode == 0, f"{shlex.join(step.argv)}:\n{result.stdout[-2000:]}{result.stderr[-2000:]}"
    # The first bootstrap pass grants nothing on the accounts the first `up` creates; the second does.
    first, second = (json.loads((tmp_path / f"{i}.json").read_text()) for i in (0, len(steps) - 1))

    def account_grants(report: dict) -> list[str]:
        return [g["role"] for g in report["grants"] if g["role"] in ("roles/iam.serviceAccountUser",)]

    assert account_grants(first) == [] and account_grants(second)


def test_the_secret_can_come_from_the_stack_before_the_worker(tmp_path: Path) -> None:
    # Step 5's alternative: an encrypted upstreamApiKey makes the first version, and the worker waits for it.
    _, secrets = pulumi_steps(shell_lines(first_deploy_section()))
    assert secrets == ["secure-invoke:upstreamApiKey"]
    for name in ("Pulumi.yaml", "__main__.py", "stack.py"):
        shutil.copy(REPO / name, tmp_path / name)
    for folder in ("functions", "services"):
        shutil.copytree(REPO / folder, tmp_path / folder, ignore=shutil.ignore_patterns("__pycache__"))
    stack = STACKS[0]
    source = (REPO / f"Pulumi.{stack}.yaml").read_text(encoding="utf-8")
    (tmp_path / f"Pulumi.{stack}.yaml").write_text(
        source + "  secure-invoke:upstreamApiKey:\n    secure: AAABAHNlY3JldA==\n"
    )
    run = run_program(tmp_path, stack)
    (version,) = run.of_type("gcp:secretmanager/secretVersion:SecretVersion")
    (worker,) = run.of_type("gcp:cloudrunv2/service:Service")
    assert version.urn in worker.dependencies
    assert version.inputs["secret"].endswith(f"/secrets/upstream-api-key-{settings_of(stack).environment}")


# --- the operator's token, with the narrow grant ------------------------------------------------------------


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def iam(tmp_path_factory: pytest.TempPathFactory):
    """The IAM Credentials stand-in for a stack's operator account, with one live grant for a group."""
    cfg = settings_of(stack_of_tier("development"))
    operator = f"{cfg.account_id('worker-operator')}@{cfg.project}.iam.gserviceaccount.com"
    workdir = tmp_path_factory.mktemp("iam")
    access = workdir / "access.json"
    access.write_text(
        json.dumps(
            {
                "operator": operator,
                "grants": [{"principal": "group:oncall@acme.com", "expires": _at(1), "reason": "INC-1"}],
                "groups": {"oncall@acme.com": ["alice@acme.com"]},
            }
        )
    )
    with stopping() as procs:
        proc = start_iam_credentials(workdir / "key.pem", access, workdir)
        procs.append(proc)
        yield proc, operator, cfg.worker_audience


def documented_flags() -> set[str]:
    """The flags the docs' operator token command uses (operator-access.md and the first-deploy list)."""
    flags: set[str] = set()
    for text in (OPERATOR_ACCESS.read_text(encoding="utf-8"), first_deploy_section()):
        for line in shell_lines(text):
            if "secure_invoke.operator_token" in line:
                command = line.split("secure_invoke.operator_token", 1)[1]
                while re.search(r"\$\([^()]*\)", command):  # the values: `$(pulumi stack output …)`
                    command = re.sub(r"\$\([^()]*\)", "", command)
                flags |= set(re.findall(r"(?<![\w-])--[a-z][a-z-]*", command))
    assert flags, "no operator token command in the docs"
    return flags


def operator_token(proc: Proc, person_token: str, operator: str, audience: str) -> subprocess.CompletedProcess[str]:
    # The documented command; the person's token on stdin and the stand-in's URL stand in for ADC and Google.
    argv = ["--service-account", operator, "--audience", audience, "--access-token-stdin", "--endpoint", proc.url]
    return subprocess.run(
        [sys.executable, "-m", "secure_invoke.operator_token", *argv],
        input=person_token, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_documented_operator_command_mints_with_the_narrow_grant(iam) -> None:
    proc, operator, audience = iam
    assert documented_flags() == {"--service-account", "--audience"}
    before = requests.get(f"{proc.url}/_stats", timeout=10).json()
    done = operator_token(proc, sign_in(proc.url, "alice@acme.com").token, operator, audience)
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), verify=False)
    assert (claims["email"], claims["aud"]) == (operator, audience)
    after = requests.get(f"{proc.url}/_stats", timeout=10).json()
    # One call, generateIdToken, as the person: nothing that would need getAccessToken.
    assert after["id_tokens"] == before["id_tokens"] + 1
    assert after["denied"] == before["denied"] and after["unauthenticated"] == before["unauthenticated"]
    minted = [r for r in proc.log_records() if r.get("message") == "GenerateIdToken granted"]
    assert minted[-1]["protoPayload"]["authenticationInfo"] == {"principalEmail": "alice@acme.com"}


def test_without_a_live_grant_google_refuses_in_one_line(iam) -> None:
    proc, operator, audience = iam
    done = operator_token(proc, sign_in(proc.url, "mallory@acme.com").token, operator, audience)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert f"generateIdToken for {operator}: 403 PERMISSION_DENIED" in done.stderr


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--service-account", "alice@acme.com", "--audience", "a"], "", "is not a service account email"),
        (
            [
                "--service-account",
                "op-account@proj-123.iam.gserviceaccount.com",
                "--audience",
                "a",
                "--access-token-stdin",
            ],
            "",
            "standard input holds no access token",
        ),
    ],
)
def test_bad_input_is_one_line(argv: list[str], stdin: str, message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "secure_invoke.operator_token", *argv],
        input=stdin, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 2 and message in done.stderr and done.stderr.count("\n") == 1


def test_the_request_is_the_apis_own() -> None:
    # IAM Credentials' GenerateIdTokenRequest: delegates, audience, includeEmail (what google-auth's own
    # IDTokenCredentials sends), and nothing else.
    assert request_body("https://worker.example") == {
        "audience": "https://worker.example",
        "includeEmail": True,
        "delegates": [],
    }
