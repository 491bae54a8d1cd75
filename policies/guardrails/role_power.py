"""Role power as a grant in a stack sees it: a predefined role's from the generated table, a custom role's
from the stack's own definition of it. Shared by the rules that judge grants (roles, invokers, people,
prefixes); no rule of its own."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from .power import RolePower, predefined

__all__ = ["CUSTOM_ROLE_NAME", "CUSTOM_ROLE_TYPES", "CustomRoles", "impersonation_power", "power_of"]

CUSTOM_ROLE_TYPES: Final = frozenset(
    {"gcp:projects/iAMCustomRole:IAMCustomRole", "gcp:organizations/iAMCustomRole:IAMCustomRole"}
)
CUSTOM_ROLE_NAME: Final = re.compile(r"^(projects|organizations)/([^/]+)/roles/([^/]+)$")


CustomRoles = Mapping[str, RolePower]  # role name (or `*/roles/<id>` when only the id is known) -> power


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
