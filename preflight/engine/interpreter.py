"""Which Python runs the program, chosen the way the Pulumi Python language host chooses it.

`--python PATH` wins; else Pulumi.yaml's `runtime.options`: `virtualenv` (relative to the project), or the
environment `toolchain: uv` / `toolchain: poetry` manage; else the interpreter running preflight. The CLI
would create a missing virtualenv (`pulumi install`), which needs the network: preflight runs such a
program on its own interpreter instead and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from secure_invoke.preflight.engine.project import ConfigError, Project

_PROBE = "import json, sys; print(json.dumps(sys.path))"
_BIN = "Scripts" if os.name == "nt" else "bin"
_EXE = "python.exe" if os.name == "nt" else "python"


@dataclass(frozen=True)
class Interpreter:
    python: str
    source: str  # how it was chosen, for the report
    env: dict[str, str] = field(default_factory=dict)  # what activating its virtualenv sets
    note: str = ""  # set when preflight could not do what the CLI would

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        env.update(self.env)
        if "VIRTUAL_ENV" in self.env:
            env["PATH"] = os.pathsep.join([str(Path(self.env["VIRTUAL_ENV"]) / _BIN), base.get("PATH", "")])
            env.pop("PYTHONHOME", None)
        return env


def _current(note: str = "") -> Interpreter:
    return Interpreter(sys.executable, "the interpreter running preflight", note=note)


def _in_venv(venv: Path, source: str) -> Interpreter:
    python = venv / _BIN / _EXE
    if not python.exists():
        raise ConfigError(f"{source}: {venv} has no Python interpreter ({_BIN}/{_EXE})")
    return Interpreter(str(python), source, env={"VIRTUAL_ENV": str(venv)})


def _poetry_venv(directory: Path) -> Path | None:
    poetry = shutil.which("poetry")
    if poetry is None:
        return None
    try:
        found = subprocess.run(
            [poetry, "env", "info", "--path"], cwd=directory, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    path = found.stdout.strip()
    return Path(path) if found.returncode == 0 and path else None


def resolve(project: Project, override: Path | None = None) -> Interpreter:
    """The interpreter for `project`; ConfigError when what Pulumi.yaml names is unusable."""
    if override is not None:
        python = shutil.which(str(override)) or str(override)
        if not Path(python).exists():
            raise ConfigError(f"--python {override}: no such interpreter")
        return Interpreter(str(Path(python).absolute()), f"--python {override}")
    options = project.runtime_options
    toolchain = options.get("toolchain", "pip")
    if toolchain not in ("pip", "uv", "poetry"):
        raise ConfigError(f"Pulumi.yaml: unsupported toolchain option: {toolchain} (pip, uv or poetry)")
    virtualenv = options.get("virtualenv")
    if virtualenv is not None and not isinstance(virtualenv, str):
        raise ConfigError("Pulumi.yaml: `runtime.options.virtualenv` must be a path")
    if virtualenv:
        venv, source = project.directory / virtualenv, f"virtualenv {virtualenv}"
    elif toolchain == "uv":
        venv = Path(os.environ.get("UV_PROJECT_ENVIRONMENT") or project.directory / ".venv")
        source = f"toolchain uv ({venv.name})"
    elif toolchain == "poetry":
        venv = _poetry_venv(project.directory) or project.directory / ".venv"
        source = f"toolchain poetry ({venv.name})"
    else:
        return _current()
    if venv.is_dir():
        return _in_venv(venv.resolve(), source)
    return _current(f"{source} does not exist (`pulumi install` would create it): ran on {sys.executable}")


@lru_cache(maxsize=32)
def search_path(python: str, cwd: Path, pythonpath: str | None) -> tuple[Path, ...]:
    """The program interpreter's sys.path, where its provider SDKs are found (asked once per interpreter)."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    try:
        probe = subprocess.run(
            [python, "-c", _PROBE], cwd=cwd, capture_output=True, text=True, timeout=60, check=False, env=env
        )
    except OSError as err:
        raise ConfigError(f"cannot run the program's interpreter {python}: {err.strerror}") from err
    except subprocess.TimeoutExpired as err:
        raise ConfigError(f"the program's interpreter {python} did not start within 60 s") from err
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or [f"exit status {probe.returncode}"])[-1]
        raise ConfigError(f"the program's interpreter {python} does not run: {last}")
    return tuple(Path(entry) for entry in json.loads(probe.stdout) if entry)
