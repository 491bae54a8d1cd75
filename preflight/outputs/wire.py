"""The engine's wire form of property values, and the one conversion to plain Python.

Values travel between the program, the engine and policy packs as protobuf Structs in which secrets,
resource references and output values are objects tagged with a signature key, and unknown values are
a sentinel string. This module knows those tags; nothing else in preflight spells them out.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format, struct_pb2

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"  # noqa: S105 (the SDK's secret marker)
RESOURCE_SIG = "5cf8f73096256a8f31e491e813e4eb8e"
OUTPUT_VALUE_SIG = "d0e6a833031e9bbcd3f4e8bde6ca49a4"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # the engine's unknown-value sentinel


def plain(value: Any, secret_mask: str | None = None) -> Any:
    """Engine wire value → plain Python: references as URNs, unknowns as the sentinel, and secrets unwrapped
    or, given `secret_mask`, replaced by it."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            return secret_mask if secret_mask is not None else plain(value.get("value"))
        if sig == RESOURCE_SIG:
            return value.get("urn")
        if sig == OUTPUT_VALUE_SIG:
            if secret_mask is not None and value.get("secret"):
                return secret_mask
            return plain(value.get("value", UNKNOWN), secret_mask)
        return {k: plain(v, secret_mask) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v, secret_mask) for v in value]
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def secret(value: Any) -> dict[str, Any]:
    """A value the provider marks secret, in wire form."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def without_references(value: Any) -> Any:
    """Resource references as the engine marshals them for a policy pack (which cannot read them): the
    resource's id when it has one, else its URN. Returns `value` itself when it holds no reference."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == RESOURCE_SIG:
            return value.get("id") or value.get("urn")
        changed = {k: without_references(v) for k, v in value.items()}
        return changed if any(changed[k] is not value[k] for k in value) else value
    if isinstance(value, list):
        items = [without_references(v) for v in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    return value


def to_struct(value: dict[str, Any]) -> struct_pb2.Struct:
    result = struct_pb2.Struct()
    result.update(value)
    return result


def from_struct(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


def unknown_like(value: Any) -> Any:
    """What a preview sees of a computed value: unknown, keeping an object's keys."""
    if isinstance(value, dict) and not value.get(SIG_KEY):
        return {k: UNKNOWN for k in value}
    return UNKNOWN
