"""Policy pack configuration as the Pulumi CLI reconciles and validates it.

Mirrors the CLI's `parsePolicyPackConfig`, `ReconcilePolicyPackConfig` and `validatePolicyPackConfig`:
schema defaults, then the pack's `initial_config`, then the `--policy-pack-config` file (each may use
the `"all"` key for an enforcement level), then JSON-schema validation of every policy's properties,
with the CLI's (gojsonschema's) wording.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

LEVELS = ("advisory", "mandatory", "remediate", "disabled")


class PolicyConfigError(Exception):
    """A --policy-pack-config file is malformed or fails a policy's schema (one-line message)."""


@dataclass
class PolicyConfig:
    enforcement_level: str = ""
    properties: dict[str, Any] | None = None


@dataclass
class PolicyInfo:
    name: str
    enforcement_level: str
    description: str = ""
    schema_properties: dict[str, Any] = field(default_factory=dict)
    required: list[str] = field(default_factory=list)
    has_schema: bool = False


def _extract_level(props: dict[str, Any]) -> str:
    if "enforcementLevel" not in props:
        return ""
    level = props.pop("enforcementLevel")
    if not isinstance(level, str):
        raise PolicyConfigError(f"{_go_value(level)} is not a valid enforcement level; must be a string")
    if level not in LEVELS:
        raise PolicyConfigError(f'"{level}" is not a valid enforcement level')
    return level


def parse_config_file(path: Path) -> dict[str, PolicyConfig]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PolicyConfigError(f"cannot read policy pack config {path}: {err.strerror}") from err
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise PolicyConfigError(f"{path}: invalid JSON: {err.msg} at line {err.lineno}") from err
    if not isinstance(document, dict):
        raise PolicyConfigError(f"{path}: expected a JSON object of policy names")
    return parse_config(document, str(path))


def parse_config(document: Mapping[str, Any], source: str = "config") -> dict[str, PolicyConfig]:
    result: dict[str, PolicyConfig] = {}
    for key, value in document.items():
        if isinstance(value, str):
            if value not in LEVELS:
                raise PolicyConfigError(
                    f'{source}: parsing enforcement level for "{key}": "{value}" is not a valid enforcement level'
                )
            level, properties = value, None
        elif isinstance(value, dict):
            props = dict(value)
            try:
                level = _extract_level(props)
            except PolicyConfigError as err:
                raise PolicyConfigError(f'{source}: parsing enforcement level for "{key}": {err}') from err
            properties = props or None
        else:
            raise PolicyConfigError(
                f'{source}: parsing "{key}": {_go_value(value)} is not a valid value; must be a string or object'
            )
        if not level and not properties:
            continue
        result[key] = PolicyConfig(level, properties)
    return result


def _go_value(value: Any) -> str:
    return json.dumps(value) if not isinstance(value, str) else value


def _apply(result: dict[str, PolicyConfig], given: Mapping[str, PolicyConfig]) -> None:
    everything = given.get("all")
    if everything is not None and everything.enforcement_level in LEVELS:
        for name, config in list(result.items()):
            result[name] = PolicyConfig(everything.enforcement_level, config.properties)
    for name, config in given.items():
        current = result.get(name, PolicyConfig())
        level = config.enforcement_level if config.enforcement_level in LEVELS else current.enforcement_level
        properties = dict(current.properties) if current.properties else None
        if config.properties:
            properties = properties or {}
            properties.update(config.properties)
        result[name] = PolicyConfig(level, properties)


def reconcile(
    pack: str,
    version: str,
    policies: list[PolicyInfo],
    initial: Mapping[str, PolicyConfig],
    given: Mapping[str, PolicyConfig] | None,
) -> dict[str, PolicyConfig]:
    result: dict[str, PolicyConfig] = {}
    for policy in policies:
        defaults = {
            k: v["default"] for k, v in policy.schema_properties.items() if isinstance(v, dict) and "default" in v
        }
        result[policy.name] = PolicyConfig(policy.enforcement_level, defaults or None)
    _apply(result, initial)
    if given:
        _apply(result, given)
    errors: list[str] = []
    for policy in policies:
        if not policy.has_schema:
            continue
        config = result.get(policy.name)
        document = dict(config.properties) if config and config.properties else {}
        errors.extend(f"{policy.name}: {message}" for message in validate(policy, document))
    if errors:
        raise PolicyConfigError(f"validating policy config: {pack} {version}  {'; '.join(errors)}")
    return result


_JSON_TYPES = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
    (type(None), "null"),
)


def _json_type(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return "integer"
    for py_type, name in _JSON_TYPES:
        if isinstance(value, py_type):
            return name
    return type(value).__name__


def _gojson(value: Any) -> str:
    return json.dumps(value)


def _describe(error: jsonschema.ValidationError) -> str:
    """One error in gojsonschema's words: `field: description`, root errors without a field."""
    path = ".".join(str(p) for p in error.absolute_path)
    field = path.rsplit(".", 1)[-1] if path else "(root)"
    v, instance = error.validator, error.instance
    value: Any = error.validator_value
    if v == "required":
        missing = error.message.split("'")[1] if "'" in error.message else str(value)
        return f"{path}: {missing} is required" if path else f"{missing} is required"
    if v == "type":
        expected = value if isinstance(value, str) else "/".join(value)
        text = f"Invalid type. Expected: {expected}, given: {_json_type(instance)}"
    elif v == "enum":
        text = f"{field} must be one of the following: {', '.join(_gojson(x) for x in value)}"
    elif v == "const":
        text = f"{field} does not match: {_gojson(value)}"
    elif v == "maxLength":
        text = f"String length must be less than or equal to {value}"
    elif v == "minLength":
        text = f"String length must be greater than or equal to {value}"
    elif v == "minimum":
        text = f"Must be greater than or equal to {value}"
    elif v == "maximum":
        text = f"Must be less than or equal to {value}"
    elif v == "exclusiveMinimum":
        text = f"Must be greater than {value}"
    elif v == "exclusiveMaximum":
        text = f"Must be less than {value}"
    elif v == "pattern":
        text = f"Does not match pattern '{value}'"
    elif v == "format":
        text = f"Does not match format '{value}'"
    elif v == "minItems":
        text = f"Array must have at least {value} items"
    elif v == "maxItems":
        text = f"Array must have at most {value} items"
    elif v == "uniqueItems":
        text = f"{field} shouldn't contain duplicates"
    elif v == "additionalProperties":
        extra = error.message.split("'")[1] if "'" in error.message else "property"
        text = f"Additional property {extra} is not allowed"
    else:
        text = error.message
    return f"{path}: {text}" if path else text


def validate(policy: PolicyInfo, document: dict[str, Any]) -> list[str]:
    schema: dict[str, Any] = {"type": "object"}
    if policy.schema_properties:
        schema["properties"] = policy.schema_properties
    if policy.required:
        schema["required"] = policy.required
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path])
    return [_describe(error) for error in errors]
