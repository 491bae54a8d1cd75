"""The pack directory is what `pulumi up --policy-pack policies` expects."""

from __future__ import annotations

from pathlib import Path

import yaml

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"


def test_pulumi_policy_yaml_runs_python_from_the_repo_venv() -> None:
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"]["name"] == "python"
    venv = project["runtime"]["options"]["virtualenv"]
    assert venv == "../.venv" and (PACK_DIR / venv / "bin" / "python").exists()
    assert project["description"] and project["version"]


def test_main_only_assembles_the_pack() -> None:
    source = (PACK_DIR / "__main__.py").read_text()
    assert "PolicyPack(" in source and "def " not in source
