"""Custom role definitions IAM itself refuses: a wildcard permission fails the create call, so the pack says so
before the deploy starts instead of halfway through it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import RuleContext
from .values import elements, get, is_unknown

__all__ = ["custom_role_permissions_valid"]


def custom_role_permissions_valid(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """A custom role listing a permission with `*` (`storage.*`, `*`, `run.services.*`): IAM accepts only whole
    permission names in a custom role, so creating or updating it fails."""
    wildcards = [
        p for p in elements(get(props, "permissions")) if isinstance(p, str) and not is_unknown(p) and "*" in p
    ]
    if not wildcards:
        return []
    shown = ", ".join(repr(p) for p in wildcards[:3]) + (" …" if len(wildcards) > 3 else "")
    return [
        f"permissions of custom role {ctx.label} include {shown}: IAM takes no wildcard in a custom role (the create "
        "or update call fails with 'Permission … is not valid', mid-deploy), and a role that wants every "
        "permission of a service wants more than its holder needs. List each permission the role needs by its "
        "full name (gcloud iam list-testable-permissions shows them), or grant the predefined role."
    ]
