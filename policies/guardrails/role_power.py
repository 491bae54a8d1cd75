"""Role power as a grant in a stack sees it: a predefined role's from the generated table, a custom role's
from the stack's own definition of it. Shared by the rules that judge grants (roles, invokers, people,
prefixes); no rule of its own."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .power import RolePower, classify, predefined
from .values import get, get_list, get_str, is_unknown

CUSTOM_ROLE_TYPES: Final = frozenset(
    {"gcp:projects/iAMCustomRole:IAMCustomRole", "gcp:organizations/iAMCustomRole:IAMCustomRole"}
)
CUSTOM_ROLE_NAME: Final = re.compile(r"^(projects|organizations)/([^/]+)/roles/([^/]+)$")


CustomRoles = Mapping[str, RolePower]  # role name (or `*/roles/<id>` when only the id is known) -> power


def custom_roles_of(resources: Sequence[Mapping[str, Any]]) -> dict[str, RolePower]:
    """The custom roles a stack defines, by every name a grant may use for them."""
    found: dict[str, RolePower] = {}
    for resource in resources:
        if get(resource, "type") not in CUSTOM_ROLE_TYPES:
            continue
        permissions = get_list(resource, "props", "permissions")
        if not isinstance(permissions, list):
            continue
        power = classify(p for p in permissions if isinstance(p, str) and not is_unknown(p))
        for key in ("name", "id"):
            value = get_str(resource, "props", key)
            if isinstance(value, str) and CUSTOM_ROLE_NAME.match(value):
                found[value] = power
        role_id = get_str(resource, "props", "roleId")
        if isinstance(role_id, str):
            found[f"*/roles/{role_id}"] = power
    return found


def power_of(role: str, custom: CustomRoles) -> RolePower | None:
    """A predefined role's power from the table, a custom role's from the stack's definition; None if unseen."""
    if role.startswith("roles/"):
        return predefined(role)
    if role in custom:
        return custom[role]
    match = CUSTOM_ROLE_NAME.match(role)
    return custom.get(f"*/roles/{match.group(3)}") if match else None


def impersonation_power(power: RolePower, on_service_account: bool) -> bool:
    """Acting as a service account; on a service account itself, setting its IAM is the same power (the holder
    can grant itself the token roles at any time)."""
    return bool(power.escalation) or (on_service_account and power.sets_service_account_iam)
