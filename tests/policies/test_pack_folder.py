"""The pack folder is what `pulumi up --policy-pack policies` expects, and stands alone: the CLI runs it from
its own directory, where nothing of the repository but the folder itself can be imported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
REPO = PACK_DIR.parent

# Loads the pack as the CLI's Python host does (from its folder), builds its policies, and lists where every
# loaded module came from.
LOAD = """
import json, sys
sys.path.insert(0, ".")
from guardrails.pack import SPECS, build_policies
policies = build_policies()
files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
print(json.dumps({"policies": [p.name for p in policies], "specs": [s.name for s in SPECS], "files": files}))
"""


def test_pulumi_policy_yaml_names_nothing_outside_the_pack() -> None:
    # `pulumi policy publish` tars this folder alone: no option may point outside it. Without a virtualenv
    # option the CLI runs the pack in place on the ambient (activated) Python, and installs a published one
    # into a venv of its own from the pack's requirements.txt.
    project = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert project["runtime"] == "python"
    assert project["description"] and project["version"]
    assert "../" not in (PACK_DIR / "PulumiPolicy.yaml").read_text()
    assert (PACK_DIR / "requirements.txt").is_file()


def test_the_pack_loads_from_its_folder_alone_and_imports_nothing_else_of_the_repository() -> None:
    # -P: the interpreter adds no directory of its own to sys.path; the pack adds its folder, as the host does.
    result = subprocess.run(
        [sys.executable, "-P", "-c", LOAD],
        cwd=PACK_DIR,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    loaded = json.loads(result.stdout)
    assert loaded["policies"] == loaded["specs"] and len(loaded["policies"]) > 20
    from_repo = {Path(f) for f in loaded["files"] if f and Path(f).resolve().is_relative_to(REPO)}
    venv = (REPO / ".venv").resolve()
    outside_pack = {
        f for f in from_repo if not f.resolve().is_relative_to(PACK_DIR) and not f.resolve().is_relative_to(venv)
    }
    assert outside_pack == set()
    assert {f.name for f in from_repo if f.resolve().is_relative_to(PACK_DIR)} >= {"pack.py", "iam.py", "stack.py"}
