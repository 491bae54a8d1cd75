"""What a GCP resource means for IAM: the grants it makes, the workloads and identities it declares.

Everything is derived from the pulumi-gcp type token and the engine's camelCase property names, so the
rules work on any program. Grant resources are recognised generically by the token's suffix
(`*IamMember`, `*IAMBinding`, `*IamPolicy`, ... across every service).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import members
from .values import (
    UNKNOWN,
    Unknown,
    elements,
    get,
    get_list,
    get_str,
    is_unknown,
    parse_json,
    type_module,
    type_name,
)

PUBLIC_MEMBERS: Final = frozenset({"allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all"})
BASIC_ROLES: Final = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
KEY_MINTING_ROLES: Final = frozenset({"roles/iam.serviceAccountKeyAdmin"})

_GRANT_SUFFIXES: Final = ("IamMember", "IAMMember", "IamBinding", "IAMBinding", "IamPolicy", "IAMPolicy")
_HIGH_SCOPES: Final = {"projects": "project", "folder": "folder", "organizations": "organization"}
_SA_NAME_RE: Final = re.compile(r"^projects/[^/]+/serviceAccounts/(.+)$")


@dataclass(frozen=True)
class Grant:
    member: str | Unknown
    role: str | Unknown
    conditional: bool
    where: str
    condition: Any = None  # the condition block ({title, expression, ...}) when there is one
    # The condition (or its expression) is not known yet (preview): what it allows cannot be judged now.
    condition_unknown: bool = False


def _condition_of(value: object) -> tuple[bool, Any, bool]:
    """(conditional, condition block, unknown) of a grant's `condition` value."""
    if is_unknown(value):
        return True, None, True
    if isinstance(value, Mapping):
        return True, value, is_unknown(value.get("expression"))
    return False, None, False


def is_grant_type(resource_type: object) -> bool:
    return type_name(resource_type).endswith(_GRANT_SUFFIXES)


def grant_kind(resource_type: object) -> str:
    name = type_name(resource_type)
    for kind in ("Member", "Binding", "Policy"):
        if name.endswith(kind):
            return kind.lower()
    return ""


def grant_scope(resource_type: object) -> str:
    """`project`, `folder`, `organization` for grants on those; `resource` for anything narrower."""
    return _HIGH_SCOPES.get(type_module(resource_type).split("/", 1)[0], "resource")


def grants_of(resource_type: str, props: Mapping[str, Any]) -> list[Grant]:
    """Every (member, role) a grant resource makes; unknown parts stay UNKNOWN, junk is skipped."""
    if not is_grant_type(resource_type):
        return []
    kind = grant_kind(resource_type)
    conditional, condition, unknown = _condition_of(props.get("condition"))
    if kind == "member":
        member = get_str(props, "member")
        role = get_str(props, "role")
        if member is None:
            return []
        return [Grant(member, role if role is not None else UNKNOWN, conditional, "member", condition, unknown)]
    if kind == "binding":
        role = get_str(props, "role")
        role = role if role is not None else UNKNOWN
        members = get_list(props, "members")
        if isinstance(members, Unknown):
            return [Grant(UNKNOWN, role, conditional, "members", condition, unknown)]
        return [
            Grant(m if isinstance(m, str) else UNKNOWN, role, conditional, f"members[{i}]", condition, unknown)
            for i, m in enumerate(members or [])
            if isinstance(m, str) or is_unknown(m)
        ]
    return _policy_grants(get(props, "policyData"))


def _policy_grants(policy_data: object) -> list[Grant]:
    doc = parse_json(policy_data)
    if doc is UNKNOWN:
        return [Grant(UNKNOWN, UNKNOWN, False, "policyData")]
    grants: list[Grant] = []
    for b_index, binding in enumerate(elements(get(doc, "bindings"))):
        role = get_str(binding, "role")
        role = role if role is not None else UNKNOWN
        conditional, condition, unknown = _condition_of(get(binding, "condition"))
        members = get_list(binding, "members")
        where = f"policyData.bindings[{b_index}]"
        if isinstance(members, Unknown):
            grants.append(Grant(UNKNOWN, role, conditional, f"{where}.members", condition, unknown))
            continue
        for m_index, member in enumerate(members or []):
            if isinstance(member, str):
                grants.append(Grant(member, role, conditional, f"{where}.members[{m_index}]", condition, unknown))
    return grants


def service_account_email(value: object) -> str | None:
    """Email of an SA given as email, `serviceAccount:email` or `projects/p/serviceAccounts/email`."""
    if not isinstance(value, str) or is_unknown(value):
        return None
    text = value.strip()
    if text.startswith("serviceAccount:"):
        text = text[len("serviceAccount:") :]
    match = _SA_NAME_RE.match(text)
    if match:
        text = match.group(1)
    return text.lower() if "@" in text else None


def is_default_service_account(email: str) -> bool:
    return members.is_default_account(email)


def is_basic_role(role: object) -> bool:
    return isinstance(role, str) and role.strip() in BASIC_ROLES


def is_admin_role(role: object) -> bool:
    if not isinstance(role, str) or not role.startswith("roles/"):
        return False
    # roles/<service>.<name>[.<version>]: roles/run.admin, roles/iam.securityAdmin, roles/compute.instanceAdmin.v1
    return any(part.lower().endswith("admin") for part in role[len("roles/") :].split(".")[1:])


def last_segment(value: object) -> str | None:
    if not isinstance(value, str) or is_unknown(value) or not value.strip():
        return None
    return value.rstrip("/").rsplit("/", 1)[-1]
