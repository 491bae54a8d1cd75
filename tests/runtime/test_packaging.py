"""What gets deployed: pinned requirements that match the tested venv, and the worker's Dockerfile.

There is no Docker engine here, so the Dockerfile is parsed and its properties asserted; that its
CMD really starts the worker is proven by every end-to-end test (local.processes runs that CMD).
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
WORKER = ROOT / "services" / "worker"


def _pins(path: Path) -> dict[str, str]:
    """name → version of a lock written by `make lock`: every requirement pinned exactly, with its hashes."""
    pins = {}
    text = path.read_text().replace("\\\n", " ")
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement, *options = line.split()
        name, sep, version = requirement.partition("==")
        assert sep and version and not any(c in version for c in "<>=~*,;"), f"{path.name}: unpinned {raw!r}"
        hashes = [o for o in options if o.startswith("--hash=sha256:")]
        assert hashes and len(hashes) == len(options), f"{path.name}: {name} without hashes (make lock)"
        pins[canonicalize_name(name)] = version
    return pins


def _closure(roots: list[str], python_version: str) -> set[str]:
    """Every distribution the roots need on Linux/CPython `python_version`, from installed metadata."""
    environment = {
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": "x86_64",
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
    }
    seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in roots]
    while todo:
        requirement = todo.pop()
        name = canonicalize_name(requirement.name)
        if name in seen and set(requirement.extras) <= seen[name]:
            continue
        extras = seen.setdefault(name, set())
        extras.update(requirement.extras)
        for raw in importlib.metadata.distribution(requirement.name).requires or []:
            dependency = Requirement(raw)
            if dependency.marker is None or any(
                dependency.marker.evaluate({**environment, "extra": extra}) for extra in ["", *sorted(extras)]
            ):
                todo.append(dependency)
    return set(seen)


@pytest.mark.parametrize(
    ("requirements", "roots", "python_version"),
    [
        (ROOT / "functions" / "relay" / "requirements.txt", ["functions-framework", "google-auth", "requests"], "3.12"),
        (WORKER / "requirements.txt", ["flask", "gunicorn", "google-auth", "requests", "cachecontrol"], "3.11"),
    ],
)
def test_deployed_requirements_are_the_exact_closure_at_the_tested_versions(
    requirements: Path, roots: list[str], python_version: str
) -> None:
    deployed = _pins(requirements)
    repo = _pins(ROOT / "requirements.txt")
    assert set(deployed) == _closure(roots, python_version), "missing or superfluous distributions"
    for name, version in deployed.items():
        assert repo.get(name) == version, f"{requirements.name}: {name}=={version} but the repo pins {repo.get(name)}"


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_is_slim_pinned_non_root_and_exec_form() -> None:
    instructions = _instructions(WORKER / "Dockerfile")
    keywords = [k for k, _ in instructions]

    [base] = [rest for k, rest in instructions if k == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", base), base

    runs = [rest for k, rest in instructions if k == "RUN"]
    installs = [shlex.split(r) for r in runs if "pip install" in r]
    assert len(installs) == 1
    assert {"--no-cache-dir", "--require-hashes", "-r", "requirements.txt"} <= set(installs[0])

    users = [rest for k, rest in instructions if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, (k, r) in enumerate(instructions) if k == "RUN")

    [cmd] = [rest for k, rest in instructions if k == "CMD"]
    argv = json.loads(cmd)  # exec form: a JSON array, so gunicorn is PID 1 and gets SIGTERM
    assert argv[0] == "gunicorn" and "-c" in argv and "gunicorn.conf.py" in argv
    assert "ENTRYPOINT" not in keywords


def test_dockerfile_carries_no_credentials() -> None:
    text = (WORKER / "Dockerfile").read_text()
    for forbidden in ("GOOGLE_APPLICATION_CREDENTIALS", "UPSTREAM_API_KEY", ".pem", ".json", "ARG "):
        assert forbidden not in text
    copies = [rest for k, rest in _instructions(WORKER / "Dockerfile") if k in ("COPY", "ADD")]
    assert all(rest.split()[0] in ("requirements.txt", "gunicorn.conf.py", "worker/") for rest in copies)
    assert "*.pem" in (WORKER / ".dockerignore").read_text().split()


def test_no_key_material_is_tracked_in_runtime_paths() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "functions", "services", "local", "tests/runtime", "benchmarks"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not [path for path in tracked if path.endswith((".pem", ".key", ".p12"))]
    for path in tracked:
        file = ROOT / path
        if file.is_file():
            assert "PRIVATE " + "KEY-----" not in file.read_text(errors="ignore"), path
