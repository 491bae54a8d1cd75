"""The supply chain as committed: one version everywhere, every lock hash-pinned and in step with the
repository's, and every install of a lock hash-checked (Makefile, .ci/run, workflows, the worker image)."""

from __future__ import annotations

import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.runtime.test_packaging import _pins
from tools import audit

ROOT = Path(__file__).resolve().parents[2]


def _version() -> str:
    match = re.search(r'^__version__ = "(\d+\.\d+\.\d+)"$', (ROOT / "secure_invoke/__init__.py").read_text(), re.M)
    assert match
    return match.group(1)


def test_one_version_for_the_package_the_pack_the_example_and_the_changelog() -> None:
    version = _version()
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["dynamic"] == ["version"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "secure_invoke.__version__"}
    assert str(yaml.safe_load((ROOT / "policies/PulumiPolicy.yaml").read_text())["version"]) == version
    assert f"secure-invoke=={version}" in (ROOT / "examples/two-services/requirements.txt").read_text().split()
    # The newest CHANGELOG entry is this version.
    headings = re.findall(r"^## (\d+\.\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.M)
    assert headings and headings[0] == version


@pytest.mark.parametrize("lock", audit.LOCKS)
def test_every_lock_pins_every_release_with_hashes_at_the_repositorys_versions(lock: str) -> None:
    pins = _pins(ROOT / lock)  # asserts exact pins with hashes
    repository = _pins(ROOT / "requirements.txt")
    for name, version in pins.items():
        assert repository.get(name) == version, (
            f"{lock}: {name}=={version}, the repository's lock has {repository.get(name)}"
        )


def test_the_packs_lock_is_pulumi_policys_closure_and_the_examples_covers_the_packages_dependencies() -> None:
    pack = _pins(ROOT / "policies/requirements.txt")
    assert {"pulumi-policy", "pulumi", "grpcio", "protobuf"} <= set(pack)
    assert not {"pulumi-gcp", "rich", "jsonschema"} & set(pack)  # what the pack does not import
    declared = {
        re.split(r"[<>=~!; ]", d, maxsplit=1)[0]
        for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    assert declared <= set(_pins(ROOT / "examples/two-services/requirements.lock"))


def _installs(text: str) -> list[list[str]]:
    """Every `pip install` command line of a script or Makefile, with line continuations joined."""
    joined = re.sub(r"\\\n\s*", " ", text)
    commands = []
    for line in joined.splitlines():
        line = line.split(" #", 1)[0].strip()
        if "pip install" in line or "$(PIP)" in line:
            commands.append(shlex.split(line.replace("$(PIP)", "pip install")))
    return commands


def test_every_install_of_a_lock_is_hash_checked() -> None:
    sources = {
        "Makefile": (ROOT / "Makefile").read_text(),
        ".ci/run": (ROOT / ".ci/run").read_text(),
        "Dockerfile": (ROOT / "services/worker/Dockerfile").read_text(),
        "tools/example.py": (ROOT / "tools/example.py").read_text(),
    }
    for workflow in sorted((ROOT / ".github/workflows").glob("*.yml")):
        sources[workflow.name] = "\n".join(
            str(step.get("run", ""))
            for job in yaml.safe_load(workflow.read_text())["jobs"].values()
            for step in job.get("steps", [])
        )
    checked = 0
    for name, text in sources.items():
        for argv in _installs(text):
            if "-r" in argv and any(a.endswith((".txt", ".lock")) for a in argv):
                checked += 1
                assert "--require-hashes" in argv or "--no-index" in argv, f"{name}: {' '.join(argv)}"
    assert checked >= 2  # the Makefile's venv and the worker image, at least
    # tools/example.py installs the example's lock hash-checked (uv) and the wheel with no index at all.
    assert '"--require-hashes", "-r", "requirements.lock"' in sources["tools/example.py"]
    assert '"--no-index", "--no-deps"' in sources["tools/example.py"]


def test_make_lock_writes_every_lock_and_the_pack_ignores_its_venv() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile[makefile.index("\nlock:") : makefile.index("\n\n", makefile.index("\nlock:"))]
    for lock in audit.LOCKS:
        assert lock in recipe, lock
    assert "--generate-hashes" in makefile
    ignored = (ROOT / "policies/.pulumiignore").read_text().split()
    assert {"venv/", "__pycache__/", "tools/"} <= set(ignored)
