"""Stack configuration as the Pulumi CLI would hand it to a program, read from the YAML files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from secure_invoke import stack_yaml

# `secure:` values are encrypted with the stack's secrets provider; offline we cannot decrypt them.
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
SECRET_PLACEHOLDER = "[preflight: secret value not decrypted]"  # noqa: S105 (a marker, not a secret)

# Keys of a project-level config *declaration* (Pulumi.yaml `config:` with a type/default block).
_DECLARATION_KEYS = {"type", "default", "description", "secret", "items", "value"}


class ConfigError(Exception):
    """The program's Pulumi.yaml or stack file is missing or malformed (one-line message)."""


@dataclass
class Project:
    name: str
    directory: Path
    main: Path  # the file to run
    config: dict[str, str] = field(default_factory=dict)
    secret_keys: set[str] = field(default_factory=set)
    # Pulumi.yaml `runtime.options` (virtualenv, toolchain, ...), as the language host reads them.
    runtime_options: dict[str, Any] = field(default_factory=dict)
    # What the language host passes as the entry point: `main:` as written, or "." for the directory.
    entry_point: str = "."


def _load_yaml(path: Path) -> Any:
    try:
        return stack_yaml.load(path)
    except OSError as err:
        raise ConfigError(f"cannot read {path.name}: {err.strerror}") from err
    except stack_yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path.name}{where}: invalid YAML") from err


def _namespaced(project: str, key: str) -> str:
    return key if ":" in key else f"{project}:{key}"


def _project_file(program_dir: Path) -> Path:
    for name in ("Pulumi.yaml", "Pulumi.yml"):
        if (program_dir / name).is_file():
            return program_dir / name
    raise ConfigError(f"no Pulumi.yaml in {program_dir}")


def _runtime(doc: dict[str, Any], project_file: Path) -> dict[str, Any]:
    runtime = doc.get("runtime")
    runtime_name = runtime.get("name") if isinstance(runtime, dict) else runtime
    if runtime_name != "python":
        raise ConfigError(f"{project_file.name}: runtime {runtime_name!r} is not supported, only Python programs")
    options = runtime.get("options") if isinstance(runtime, dict) else None
    if options is not None and not isinstance(options, dict):
        raise ConfigError(f"{project_file.name}: `runtime.options` must be a mapping")
    return dict(options or {})


def _entry_point(doc: dict[str, Any], program_dir: Path, project_file: Path) -> tuple[Path, str]:
    main_value = doc.get("main")
    main = program_dir
    if main_value is not None:
        if not isinstance(main_value, str):
            raise ConfigError(f"{project_file.name}: `main` must be a path")
        main = (program_dir / main_value).resolve()
    if main.is_dir():
        main = main / "__main__.py"
    if not main.is_file():
        raise ConfigError(f"program entry point {main.name} not found (Pulumi.yaml `main`)")
    return main, main_value if isinstance(main_value, str) else "."


def _project_config(doc: dict[str, Any], name: str, project_file: Path) -> dict[str, str]:
    project_config = doc.get("config") or {}
    if not isinstance(project_config, dict):
        raise ConfigError(f"{project_file.name}: `config` must be a mapping")
    config: dict[str, str] = {}
    for key, value in project_config.items():
        if isinstance(value, dict) and value and set(value) <= _DECLARATION_KEYS:
            if "value" in value:
                value = value["value"]
            elif "default" in value:
                value = value["default"]
            else:
                continue
        config[_namespaced(name, str(key))] = stack_yaml.encode_value(value)
    return config


def _stack_config(stack_file: Path, name: str) -> tuple[dict[str, str], set[str]]:
    if not stack_file.is_file():
        raise ConfigError(f"stack config {stack_file.name} not found in {stack_file.parent}")
    stack_doc = _load_yaml(stack_file) or {}
    if not isinstance(stack_doc, dict):
        raise ConfigError(f"{stack_file.name}: expected a mapping")
    stack_config = stack_doc.get("config") or {}
    if not isinstance(stack_config, dict):
        raise ConfigError(f"{stack_file.name}: `config` must be a mapping")
    config: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in stack_config.items():
        full_key = _namespaced(name, str(key))
        if stack_yaml.has_secure(value):
            secret_keys.add(full_key)
            value = stack_yaml.with_placeholders(value, SECRET_PLACEHOLDER)
        config[full_key] = stack_yaml.encode_value(value)
    return config, secret_keys


def _stack_config_dir(doc: dict[str, Any], program_dir: Path, project_file: Path) -> Path:
    # `stackConfigDir` moves the Pulumi.<stack>.yaml files, relative to the project directory.
    value = doc.get("stackConfigDir")
    if value is None:
        return program_dir
    if not isinstance(value, str):
        raise ConfigError(f"{project_file.name}: `stackConfigDir` must be a path")
    return (program_dir / value).resolve()


def load_project(program_dir: Path, stack: str, overrides: Mapping[str, str] | None = None) -> Project:
    """Pulumi.yaml and Pulumi.<stack>.yaml as the CLI reads them, with `--set` overrides on top."""
    program_dir = program_dir.resolve()
    if not program_dir.is_dir():
        raise ConfigError(f"program directory {program_dir} not found")
    # The CLI's own rule for stack names; it also keeps `Pulumi.<stack>.yaml` inside the program directory.
    if not _STACK_NAME.fullmatch(stack):
        raise ConfigError(f"invalid stack name {stack!r}: use letters, digits, '-', '_' and '.'")
    project_file = _project_file(program_dir)
    doc = _load_yaml(project_file)
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str) or not doc["name"]:
        raise ConfigError(f"{project_file.name}: missing project `name`")
    name: str = doc["name"]
    options = _runtime(doc, project_file)
    main, entry_point = _entry_point(doc, program_dir, project_file)
    config = _project_config(doc, name, project_file)
    stack_file = _stack_config_dir(doc, program_dir, project_file) / f"Pulumi.{stack}.yaml"
    stack_config, secret_keys = _stack_config(stack_file, name)
    config.update(stack_config)
    for key, value in (overrides or {}).items():
        if not key:
            raise ConfigError("--set needs KEY=VALUE with a non-empty KEY")
        config[_namespaced(name, key)] = value
    return Project(
        name=name,
        directory=program_dir,
        main=main,
        config=config,
        secret_keys=secret_keys,
        runtime_options=options,
        entry_point=entry_point,
    )
