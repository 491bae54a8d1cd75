"""A `Pulumi.<stack>.yaml` read as the Pulumi CLI hands it to a program: a flat map of `namespace:key` to text,
and the keys stored as secrets. For programs that read another program's stack (the CI bootstrap reads the main
stack's) and for tests; a running program gets the same map from the engine (`settings.load`)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from secure_invoke.settings.keys import ConfigError

# `secure:` values are encrypted with the stack's secrets provider; they cannot be read here.
SECRET_PLACEHOLDER = "[secret value not decrypted]"  # noqa: S105 (a marker, not a secret)


class _CliLoader(yaml.SafeLoader):
    """YAML as the CLI's parser (go-yaml v3, decoding into untyped values) reads it: a timestamp or a bare date
    stays the text it was written as, and only true/false are booleans (not yes/no/on/off)."""


_CliLoader.yaml_implicit_resolvers = {
    first: [
        (tag, regexp)
        for tag, regexp in resolvers
        if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CliLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def encode(value: Any) -> str:
    """The text the CLI passes for a value: scalars as written, structures as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _has_secure(value: Any) -> bool:
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(_has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_secure(v) for v in value)
    return False


def _placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return SECRET_PLACEHOLDER
        return {k: _placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    return value


def read_stack_file(path: Path, project: str) -> tuple[dict[str, str], set[str]]:
    """(config, secret keys) of the stack file at `path`, for the Pulumi project named `project` (bare keys are
    in its namespace). Raises ConfigError naming the file when it is missing or not a stack file."""
    try:
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CliLoader)  # noqa: S506 (a SafeLoader)
    except OSError as err:
        raise ConfigError(f"{path.name}: cannot read ({err.strerror})") from err
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        raise ConfigError(f"{path.name}{f' line {mark.line + 1}' if mark else ''}: invalid YAML") from err
    raw = (doc or {}).get("config") or {} if isinstance(doc, dict) else None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path.name}: `config` must be a mapping of keys to values")
    config: dict[str, str] = {}
    secret_keys: set[str] = set()
    for key, value in raw.items():
        full = key if ":" in str(key) else f"{project}:{key}"
        if _has_secure(value):
            secret_keys.add(full)
        config[full] = encode(_placeholders(value))
    return config, secret_keys
