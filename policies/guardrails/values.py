"""Plain-value helpers shared by every rule.

Rules take plain dicts. In a real preview some values are the engine's unknown sentinels (strings);
a rule must never report a violation for a value that is merely unknown, so every read goes through
these helpers, which answer UNKNOWN for a sentinel and None for an absent or ill-typed value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = [
    "UNKNOWN",
    "UNKNOWN_SENTINELS",
    "Unknown",
    "as_number",
    "elements",
    "get",
    "get_list",
    "get_map",
    "get_str",
    "is_true",
    "is_unknown",
    "items",
    "last_segment",
    "parse_json",
    "stack_of_urn",
    "type_module",
    "type_name",
]

# Copies of pulumi_policy.proxy's sentinels; a test fails if the SDK changes them.
UNKNOWN_SENTINELS: Final = frozenset(
    {
        "1c4a061d-8072-4f0a-a4cb-0ff528b18fe7",  # boolean
        "3eeb2bf0-c639-47a8-9e75-3b44932eb421",  # number
        "04da6b54-80e4-46f7-96ec-b56ff0331ba9",  # string
        "6a19a0b0-7e62-4c92-b797-7f8e31da9cc2",  # array
        "030794c1-ac77-496b-92df-f27374a8bd58",  # asset
        "e48ece36-62e2-4504-bad9-02848725956a",  # archive
        "dd056dcd-154b-4c76-9bd3-c8f88648b5ff",  # object
    }
)


class Unknown:
    """Marker returned for a value the engine does not know yet (preview)."""

    _instance: Unknown | None = None

    def __new__(cls) -> Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNKNOWN"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Final = Unknown()


def is_unknown(value: object) -> bool:
    return value is UNKNOWN or (isinstance(value, str) and value in UNKNOWN_SENTINELS)


def get(obj: object, *path: str | int) -> Any:
    """Read obj[path0][path1]...: UNKNOWN if any step is unknown, None if absent or of the wrong type."""
    current: Any = obj
    for step in path:
        if is_unknown(current):
            return UNKNOWN
        if isinstance(step, str):
            if not isinstance(current, Mapping) or step not in current:
                return None
            current = current[step]
        else:
            if not isinstance(current, list | tuple) or not -len(current) <= step < len(current):
                return None
            current = current[step]
    return UNKNOWN if is_unknown(current) else current


def get_str(obj: object, *path: str | int) -> str | Unknown | None:
    value = get(obj, *path)
    if value is UNKNOWN or isinstance(value, str):
        return value
    return None


def get_list(obj: object, *path: str | int) -> list[Any] | Unknown | None:
    value = get(obj, *path)
    if value is UNKNOWN:
        return UNKNOWN
    if isinstance(value, list | tuple):
        return list(value)
    return None


def get_map(obj: object, *path: str | int) -> Mapping[str, Any] | Unknown | None:
    value = get(obj, *path)
    if value is UNKNOWN or isinstance(value, Mapping):
        return value
    return None


def items(obj: object) -> Iterator[tuple[str, Any]]:
    """(key, value) pairs of a mapping with string keys; nothing for anything else."""
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            if isinstance(key, str):
                yield key, value


def elements(obj: object) -> Iterator[Any]:
    if isinstance(obj, list | tuple):
        yield from obj


def is_true(value: object) -> bool:
    """A known true flag; strings as in annotations ("true") count too."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and not is_unknown(value):
        return value.strip().lower() == "true"
    return False


def as_number(value: object) -> float | Unknown | None:
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def parse_json(value: object) -> Any:
    """A JSON document given as a string (policyData) or already decoded; UNKNOWN/None when not usable."""
    if is_unknown(value):
        return UNKNOWN
    if isinstance(value, Mapping | list):
        return value
    if not isinstance(value, str):
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return None


_STACK_RE = re.compile(r"^urn:pulumi:([^:]+)::")


def stack_of_urn(urn: object) -> str | None:
    if not isinstance(urn, str):
        return None
    match = _STACK_RE.match(urn)
    return match.group(1) if match else None


def type_module(resource_type: object) -> str:
    """`gcp:cloudrunv2/service:Service` -> `cloudrunv2/service`."""
    if not isinstance(resource_type, str):
        return ""
    parts = resource_type.split(":")
    return parts[1] if len(parts) == 3 else ""


def type_name(resource_type: object) -> str:
    if not isinstance(resource_type, str):
        return ""
    return resource_type.rsplit(":", 1)[-1]


def last_segment(value: object) -> str | None:
    if not isinstance(value, str) or is_unknown(value) or not value.strip():
        return None
    return value.rstrip("/").rsplit("/", 1)[-1]
