"""Pulumi's YAML files as the Pulumi CLI reads them, shared by preflight's engine and `settings.read_stack_file`.

The CLI's parser (go-yaml v3, decoding into untyped values) keeps a timestamp or a bare date as the text it was
written as, and only true/false are booleans (not yes/no/on/off); PyYAML's SafeLoader would hand a `datetime`
or turn `on` into True, and a value the CLI passes as text would then differ (or fail to encode)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

__all__ = ["YAMLError", "encode_value", "has_secure", "load", "with_placeholders"]

YAMLError = yaml.YAMLError


class _CliLoader(yaml.SafeLoader):
    """SafeLoader without the timestamp resolver and with YAML 1.2's booleans."""


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


def load(path: Path) -> Any:
    """The document at `path`; OSError and YAMLError pass through for the caller to name the file."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CliLoader)  # noqa: S506 (a SafeLoader)


def encode_value(value: Any) -> str:
    """The text the CLI passes to a program for a config value: scalars as written, structures as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def has_secure(value: Any) -> bool:
    """Whether a config value is, or holds, a `secure:` (encrypted) value."""
    if isinstance(value, dict):
        return set(value) == {"secure"} or any(has_secure(v) for v in value.values())
    if isinstance(value, list):
        return any(has_secure(v) for v in value)
    return False


def with_placeholders(value: Any, placeholder: str) -> Any:
    """The value with each `secure:` part replaced by `placeholder`: offline, nothing can decrypt it."""
    if isinstance(value, dict):
        if set(value) == {"secure"}:
            return placeholder
        return {k: with_placeholders(v, placeholder) for k, v in value.items()}
    if isinstance(value, list):
        return [with_placeholders(v, placeholder) for v in value]
    return value
