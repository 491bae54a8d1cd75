"""How a config key is declared and checked, once, for every program of this repository (the stack, the CI
bootstrap): a `Key` holds its JSON Schema, default (one value, or one per tier), description and, where it
has one, the component argument it is carried to; `parse` decodes a stack's flat config map by those
declarations and collects every problem as one line naming its key.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

import jsonschema
import jsonschema.exceptions
import pulumi

Tier = Literal["development", "production"]
TIERS: Final[tuple[Tier, ...]] = get_args(Tier)


class ConfigError(pulumi.RunError):
    """Invalid stack config, of the stack or of the bootstrap: the settings layer's one error type. A RunError,
    so `pulumi up` prints the message without a traceback."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


@dataclass(frozen=True)
class ByTier:
    """A default that differs by tier (`tier: development|production`), never by an environment's name."""

    development: Any
    production: Any

    def of(self, tier: Tier) -> Any:
        return self.production if tier == "production" else self.development


@dataclass(frozen=True)
class Key:
    """One config key. `name` is bare for the program's own namespace, `ns:key` for another (`gcp:project`).

    `feeds` names the component argument the value is carried to, `(ArgsClass, "field")`, through `convert`
    where the component takes another type: the value reaches the component as declared here, never copied
    field by field. `explain` replaces JSON Schema's
    wording when the value does not match `schema["pattern"]`.
    """

    name: str
    schema: Mapping[str, Any]
    description: str
    default: Any = MISSING
    required: bool = False
    # Only as a Pulumi secret (`pulumi config set --secret`): a plaintext value is refused.
    secret: bool = False
    feeds: tuple[type, str] | None = None
    convert: Callable[[Any], Any] | None = None
    explain: str | None = None

    def __post_init__(self) -> None:
        if self.feeds is not None:
            cls, name = self.feeds
            if not dataclasses.is_dataclass(cls) or name not in {f.name for f in dataclasses.fields(cls)}:
                raise TypeError(f"Key {self.name!r}: {cls.__name__} has no field {name!r}")

    def default_for(self, tier: Tier | None) -> Any:
        """The default: per tier where it differs, None for an optional key without one."""
        if isinstance(self.default, ByTier):
            return self.default.of(tier or "production")
        return None if self.default is MISSING else self.default


# A project id as Google defines it (6-30 chars, a-z 0-9 -), unanchored: other patterns embed it.
PROJECT_ID: Final = r"[a-z][a-z0-9-]{4,28}[a-z0-9]"


def project_key(description: str) -> Key:
    """`gcp:project`, required, as every program of this repository declares it."""
    return Key(
        "gcp:project",
        {"type": "string", "pattern": f"^{PROJECT_ID}$"},
        description,
        required=True,
        explain="is not a project id (6-30 chars, a-z 0-9 -)",
    )


def region_key(description: str) -> Key:
    """`gcp:region`, required, as every program of this repository declares it."""
    return Key(
        "gcp:region",
        {"type": "string", "pattern": r"^[a-z]+-[a-z]+[0-9]+$"},
        description,
        required=True,
        explain="is not a region such as europe-west1",
    )


def full_name(namespace: str, key: Key) -> str:
    return key.name if ":" in key.name else f"{namespace}:{key.name}"


def parse(
    namespace: str, keys: Iterable[Key], config: Mapping[str, str], secret_keys: Iterable[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """Each declared key's value, decoded by its schema type and validated (absent keys are left out), and
    every problem: unknown keys of `namespace` (with a did-you-mean), wrong types, values outside the schema,
    missing required keys, secret-only keys in plaintext. Keys of other namespaces not declared here are
    their owners' business."""
    declared = {full_name(namespace, k): k for k in keys}
    secrets = set(secret_keys)
    values: dict[str, Any] = {}
    errors: list[str] = []
    prefix = namespace + ":"
    for full, raw in config.items():
        key = declared.get(full)
        if key is None:
            if full.startswith(prefix):
                errors.append(f"{full}: {_unknown(full[len(prefix) :], declared, prefix)}")
            continue
        if key.secret and full not in secrets:
            errors.append(
                f"{full}: must be stored encrypted, not in plaintext in Pulumi.<stack>.yaml; "
                f"set it with `pulumi config set --secret {full} <value>`"
            )
            continue
        problem, value = _decode(full, key, raw)
        if problem is not None:
            errors.append(problem)
            continue
        values[key.name] = value
    for full, key in declared.items():
        named = (f"{full}:", f"{full}[", f"{full}.")
        if key.required and key.name not in values and not any(e.startswith(named) for e in errors):
            errors.append(f"{full}: required{_how_to_set(full, key)}")
    return values, errors


def _how_to_set(full: str, key: Key) -> str:
    if "enum" in key.schema:
        return f" (one of {key.schema['enum']})"
    return f", set it with `pulumi config set {full} <value>`"


def _unknown(name: str, declared: Mapping[str, Key], prefix: str) -> str:
    own = [k.name for k in declared.values() if ":" not in k.name]
    close = difflib.get_close_matches(name, own, n=1)
    # A close match is the likely fix; only without one is the whole list of keys worth reading.
    return (
        f"unknown key; did you mean {prefix}{close[0]}?"
        if close
        else f"unknown key; allowed keys: {', '.join(sorted(own))}"
    )


def _decode(full: str, key: Key, raw: str) -> tuple[str | None, Any]:
    """(problem, value): the engine's string decoded by the key's type, then checked against its schema."""
    value: Any = raw
    if key.schema.get("type") in ("integer", "boolean", "object", "array") and isinstance(raw, str):
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            return f"{full}: {raw!r} is not a valid {key.schema['type']}", None
    problem = first_problem(list(jsonschema.Draft202012Validator(dict(key.schema)).iter_errors(value)))
    if problem is not None:
        where = "".join(f"[{p!r}]" for p in problem.absolute_path)
        if problem.validator == "pattern" and not problem.absolute_path and key.explain:
            return f"{full}: {value!r} {key.explain}", None
        return f"{full}{where}: {describe(problem)}", None
    return None, value


def first_problem(problems: list[jsonschema.ValidationError]) -> jsonschema.ValidationError | None:
    # An unknown field first: a typo'd `expires` also makes `expires` missing, and the typo is the cause.
    unknown = [p for p in problems if p.validator == "additionalProperties" and _allowed_fields(p)]
    return unknown[0] if unknown else jsonschema.exceptions.best_match(problems)


def _allowed_fields(problem: jsonschema.ValidationError) -> list[str]:
    """The fields an object with `additionalProperties: false` names, sorted (none for other schemas)."""
    schema = problem.schema
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return sorted(properties) if isinstance(properties, dict) else []


def describe(problem: jsonschema.ValidationError) -> str:
    """jsonschema's own wording, with booleans shown as in YAML (False → false) and bools-as-ints rejected."""
    if problem.validator == "additionalProperties" and isinstance(problem.instance, dict):
        allowed = _allowed_fields(problem)
        if allowed:
            unknown = sorted(k for k in problem.instance if k not in allowed)
            close = difflib.get_close_matches(unknown[0], allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"unknown field {', '.join(map(repr, unknown))}{hint} (allowed: {', '.join(allowed)})"
    if problem.validator == "type":
        return f"{json.dumps(problem.instance)} is not of type {problem.validator_value}"
    if problem.validator == "enum":
        return f"{json.dumps(problem.instance)} is not one of {json.dumps(problem.validator_value)}"
    return problem.message


def one_error(title: str, errors: Iterable[str]) -> ConfigError:
    """All problems as one ConfigError: one line for one problem, one line each for several."""
    problems = sorted(set(errors))
    if len(problems) == 1:
        return ConfigError(f"{title}: {problems[0]}")
    return ConfigError(f"{title}:\n" + "\n".join(f"  - {e}" for e in problems))


# A name that ends up in account ids and resource names: lower case, digits, inner hyphens.
NAME = re.compile(r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$")
