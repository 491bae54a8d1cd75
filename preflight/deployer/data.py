"""The check's data, loaded once on first use: what the provider calls per type, what each call checks, what each
predefined role grants."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from secure_invoke.preflight.deployer.additions import METHOD_PERMISSIONS

HERE = Path(__file__).resolve().parent
METHODS_TABLE = HERE / "provider_methods.json"
METHOD_PERMISSIONS_DATA = HERE / "gcp-api-method-permissions.json.gz"


class DataError(Exception):
    """A data file is missing or not what the check expects (one line)."""


def _load(path: Path) -> Any:
    try:
        raw = path.read_bytes()
        return json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, ValueError) as error:
        raise DataError(f"{path.name}: cannot read ({error})") from error


@cache
def provider_methods() -> dict[str, dict[str, Any]]:
    """pulumi type token -> {create, read, update, delete: [method ids], name, service, target, ...}."""
    return _load(METHODS_TABLE)["types"]


@cache
def _dataset() -> dict[str, list[str] | None]:
    """method id -> its permissions (names as roles spell them), [] when the dataset lists the method but none."""
    document = _load(METHOD_PERMISSIONS_DATA)
    out: dict[str, list[str] | None] = {}
    for api in document.get("api", {}).values():
        for method, entry in (api.get("methods") or {}).items():
            # The dataset spells a few IAM permissions `iam.googleapis.com-x.y`; roles say `iam.googleapis.com/x.y`.
            names = [
                p["name"].replace("iam.googleapis.com-", "iam.googleapis.com/") for p in entry.get("permissions", [])
            ]
            out[method] = list(dict.fromkeys(names))
    return out


@cache
def predefined_roles() -> dict[str, frozenset[str]]:
    """Every predefined role's permissions, from the data the pack's role table is generated from."""
    from secure_invoke.policies.tools.generate_role_table import DataError as RolesError
    from secure_invoke.policies.tools.generate_role_table import find_data, load_data

    try:
        document, _ = load_data(find_data())
    except RolesError as error:
        raise DataError(str(error)) from error
    return {name: frozenset(entry["permissions"]) for name, entry in document["roles"].items()}


@cache
def _operations_permission_services() -> frozenset[str]:
    """Services some predefined role grants an `<service>.operations.*` permission of."""
    return frozenset(
        p.split(".", 1)[0] for permissions in predefined_roles().values() for p in permissions if ".operations." in p
    )


@dataclass(frozen=True)
class MethodPermissions:
    permissions: tuple[str, ...]  # empty: Google checks none
    source: str  # "dataset", or the reference an addition cites, or why none is needed


def method_permissions(method: str) -> MethodPermissions | None:
    """What `method` checks; None when neither the dataset nor a documented addition says (reported as unknown)."""
    if method in METHOD_PERMISSIONS:
        permissions, source = METHOD_PERMISSIONS[method]
        return MethodPermissions(permissions, source)
    listed = _dataset().get(method)
    if listed:
        return MethodPermissions(tuple(listed), "dataset")
    service = method.split(".", 1)[0]
    if method.endswith(".operations.get") and service not in _operations_permission_services():
        # No predefined role holds any operations permission of this service, yet its admin role can poll its
        # own long-running operations: the poll checks no permission of its own.
        return MethodPermissions((), f"no predefined role carries a {service}.operations.* permission")
    return None
