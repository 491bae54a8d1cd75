"""Broad roles: basic roles, admin/impersonation/invoker roles at project scope and above, key minting,
custom roles carrying dangerous permissions."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from .context import RuleContext
from .model import (
    DANGEROUS_PERMISSIONS,
    HIGH_SCOPE_DATA_ROLES,
    HIGH_SCOPE_INVOKER_ROLES,
    IMPERSONATION_ROLES,
    KEY_MINTING_ROLES,
    grant_scope,
    grants_of,
    is_admin_role,
    is_basic_role,
)
from .values import UNKNOWN, get, get_list, get_str, is_unknown

CUSTOM_ROLE_TYPES: Final = frozenset(
    {"gcp:projects/iAMCustomRole:IAMCustomRole", "gcp:organizations/iAMCustomRole:IAMCustomRole"}
)


def _who(member: object) -> str:
    return member if isinstance(member, str) and not is_unknown(member) else "<unknown member>"


def no_basic_roles(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """roles/owner, roles/editor, roles/viewer anywhere, also in authoritative policies and with conditions."""
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        if not is_basic_role(grant.role):
            continue
        condition = " An IAM condition does not make a basic role acceptable." if grant.conditional else ""
        out.append(
            f"{grant.where}: basic role {grant.role} granted to {_who(grant.member)} on {ctx.label} "
            f"({grant_scope(resource_type)} scope) carries thousands of permissions.{condition} Grant the "
            "predefined role for the one task instead (e.g. roles/run.invoker, roles/secretmanager.secretAccessor "
            "on the one resource)."
        )
    return out


def no_high_scope_privileged_roles(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """Admin, impersonation, invoker and secret-reading roles granted on a whole project/folder/org."""
    scope = grant_scope(resource_type)
    if scope == "resource":
        return []
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        role = grant.role
        if not isinstance(role, str) or is_unknown(role) or role in ctx.extra_allowed_roles:
            continue
        if role in IMPERSONATION_ROLES:
            fix = (
                "grant it on the one service account to be impersonated "
                "(gcp.serviceaccount.IAMMember) instead, so it cannot act as every service account"
            )
        elif role in HIGH_SCOPE_INVOKER_ROLES:
            fix = (
                "grant roles/run.invoker on the one service it calls (gcp.cloudrunv2.ServiceIamMember) "
                "instead, so it cannot invoke every service"
            )
        elif role in HIGH_SCOPE_DATA_ROLES:
            fix = "grant it on each secret it reads (gcp.secretmanager.SecretIamMember) instead"
        elif is_admin_role(role) and not is_basic_role(role):
            fix = "grant the narrow role the task needs on the one resource instead"
        else:
            continue
        out.append(
            f"{grant.where}: {role} granted to {_who(grant.member)} on the whole {scope} ({ctx.label}); {fix}. "
            "If this grant is deliberate, list the role in extraAllowedRoles or exempt this URN with a reason."
        )
    return out


def no_key_minting_grants(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        if isinstance(grant.role, str) and grant.role in KEY_MINTING_ROLES:
            out.append(
                f"{grant.where}: {grant.role} granted to {_who(grant.member)} on {ctx.label} lets it create "
                "long-lived service account keys. Remove the grant; workloads need no keys (metadata-server "
                "tokens, Workload Identity Federation)."
            )
    return out


def dangerous_permissions(permissions: object) -> list[str]:
    found = []
    if isinstance(permissions, list | tuple):
        for permission in permissions:
            if not isinstance(permission, str) or is_unknown(permission):
                continue
            if permission in DANGEROUS_PERMISSIONS or permission.endswith(".setIamPolicy"):
                found.append(permission)
    return sorted(set(found))


def no_privileged_custom_roles(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    if resource_type not in CUSTOM_ROLE_TYPES:
        return []
    permissions = get_list(props, "permissions")
    if permissions is UNKNOWN:
        return []
    found = dangerous_permissions(permissions)
    if not found:
        return []
    return [
        f"custom role {ctx.label} carries {', '.join(found)}, which let a holder change IAM, impersonate "
        "service accounts or mint keys. Remove these permissions from the role; grant impersonation "
        "(roles/iam.serviceAccountUser / TokenCreator) on a single service account where truly needed."
    ]


_CUSTOM_ROLE_RE: Final = re.compile(r"^(projects|organizations)/([^/]+)/roles/([^/]+)$")


def _defined_custom_roles(resources: Sequence[Mapping[str, Any]]) -> tuple[set[str], set[tuple[str, str]], bool]:
    """Full names, (kind, roleId) pairs of the custom roles the stack defines; flag: some roleId unknown."""
    names: set[str] = set()
    ids: set[tuple[str, str]] = set()
    unknown = False
    for resource in resources:
        rtype = get(resource, "type")
        if rtype not in CUSTOM_ROLE_TYPES:
            continue
        kind = "projects" if str(rtype).startswith("gcp:projects/") else "organizations"
        for key in ("name", "id"):
            value = get_str(resource, "props", key)
            if isinstance(value, str) and _CUSTOM_ROLE_RE.match(value):
                names.add(value)
        role_id = get_str(resource, "props", "roleId")
        if isinstance(role_id, str):
            ids.add((kind, role_id))
        else:
            unknown = True
    return names, ids, unknown


def custom_roles_verifiable(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str]]:
    """Grants of a custom role the stack does not define: its permissions are out of the pack's sight."""
    names, ids, unknown = _defined_custom_roles(resources)
    if unknown:
        return []  # a role whose id is not known yet might be the one granted
    out: list[tuple[str, str]] = []
    for resource in resources:
        rtype, urn, props = get(resource, "type"), get(resource, "urn"), get(resource, "props")
        if not isinstance(rtype, str) or not isinstance(urn, str) or not isinstance(props, Mapping):
            continue
        name = get_str(resource, "name")
        label = f"'{name}'" if isinstance(name, str) else urn
        reported: set[str] = set()
        for grant in grants_of(rtype, props):
            role = grant.role
            match = _CUSTOM_ROLE_RE.match(role) if isinstance(role, str) and not is_unknown(role) else None
            if match is None or role in reported or role in names or (match.group(1), match.group(3)) in ids:
                continue
            reported.add(str(role))
            out.append(
                (
                    urn,
                    f"{grant.where}: {role} granted to {_who(grant.member)} on {label} is a custom role defined "
                    "outside this stack, so the pack cannot verify its permissions (setIamPolicy, actAs, "
                    "getAccessToken, keys.create, run.routes.invoke). Define the role in this program "
                    "(gcp.projects.IAMCustomRole) or review it, then exempt this URN with the review as reason.",
                )
            )
    return out
