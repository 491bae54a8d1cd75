"""The pack directory is what `pulumi up --policy-pack policies` expects."""

from __future__ import annotations

from pathlib import Path

import yaml

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"


def test_pulumi_policy_yaml_names_nothing_outside_the_pack() -> None:
    # `pulumi policy publish` tars this folder alone: no option may point outside it. Without a virtualenv
    # option the CLI runs the pack in place on the ambient (activated) Python, and installs a published one
    # into a venv of its own from the pack's requirements.txt.
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == "python"
    assert project["description"] and project["version"]
    assert "../" not in (PACK_DIR / "PulumiPolicy.yaml").read_text()
    assert (PACK_DIR / "requirements.txt").is_file()


def test_main_only_assembles_the_pack() -> None:
    source = (PACK_DIR / "__main__.py").read_text()
    assert "PolicyPack(" in source and "def " not in source
