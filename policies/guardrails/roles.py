"""Roles judged by what they can do (`power.py`): basic roles anywhere; identity, IAM, code-running and
data power on a whole project, folder or organization; service-agent roles outside Google's agents; write
power for convenience members; key minting; custom roles with identity power; roles the pack cannot see."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

from . import conditions, iam
from .context import RuleContext
from .iam import BASIC_ROLES, KEY_MINTING_ROLES, Grant, grant_scope, grants_of, is_basic_role
from .power import (
    ESCALATION_PERMISSIONS,
    ORG_POLICY_PERMISSIONS,
    RUNS_CODE_PERMISSIONS,
    RolePower,
    classify,
    kind_named,
    predefined,
    table_version,
)
from .role_power import CUSTOM_ROLE_NAME, CustomRoles, power_of
from .stack import StackModel
from .values import UNKNOWN, get_list, is_unknown

__all__ = [
    "custom_roles_verifiable",
    "high_scope_privileged_roles",
    "judge_high_scope",
    "no_basic_roles",
    "no_convenience_members",
    "no_key_minting_grants",
    "no_privileged_custom_roles",
    "service_agent_roles_for_agents",
]


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


# --- class x scope ------------------------------------------------------------------------------------------

_SCOPE_FIX: Final = (
    "grant it on the one resource that needs it instead, or confine this grant with an IAM condition on "
    "resource.name naming that resource"
)


def _why_and_fix(role: str, power: RolePower, grant: Grant, scope: str, custom: CustomRoles) -> tuple[str, str] | None:
    """(what the grant can do across the scope, the fix) — the most severe reason only; None if acceptable.

    Long by nature: one (message, fix) pair per power class, in severity order; split, the order would hide."""
    if power.escalation:
        if set(power.escalation) <= {"storage.hmacKeys.create", "iam.serviceAccountKeys.create"}:
            return (
                f"can create long-lived keys for every service account in the {scope} "
                f"({_reasons(power.escalation, ESCALATION_PERMISSIONS)})",
                "remove it: workloads use their own service account's short-lived tokens, and no key is needed",
            )
        if any(p.startswith("container.") for p in power.escalation):
            return (
                f"can act as every service account in the {scope} that GKE workloads are bound to "
                f"({_reasons(power.escalation, ESCALATION_PERMISSIONS)})",
                "grant roles/container.clusterViewer on the project and give the member Kubernetes RBAC in the one "
                "namespace it deploys to instead",
            )
        return (
            f"can act as or mint credentials for every service account in the {scope} "
            f"({_reasons(power.escalation, ESCALATION_PERMISSIONS)})",
            "grant it on the one service account to be used (gcp.serviceaccount.IAMMember) instead",
        )
    if power.iam:
        limited = conditions.grantable_roles(grant.condition)
        if limited is None:
            return (
                f"can change IAM across the {scope} ({', '.join(power.iam[:3])}), i.e. grant itself anything",
                "grant it on the one resource whose IAM it manages instead, or limit the grantable roles with a "
                "condition: api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([...])",
            )
        unsafe = [r for r in limited if _delegation_unsafe(r, custom)]
        if unsafe:
            return (
                f"may hand out {', '.join(unsafe)} across the {scope} (its condition's grantable roles), which "
                "carry power over identities or IAM, or which the pack cannot see",
                "limit the grantable roles to ones without identity or IAM power",
            )
    if power.runs_code:
        fix = "grant it on the one service, function or job it deploys instead"
        if any(p.startswith(("container.", "composer.")) for p in power.runs_code):
            fix = (
                "GKE and Composer have no per-resource grants: keep such roles for the platform's own automation "
                "(exempt that URN with a reason) and give people Kubernetes RBAC in one namespace instead"
            )
        reasons = _reasons(power.runs_code, RUNS_CODE_PERMISSIONS)
        return (f"can run code as identities across the {scope} ({reasons})", fix)
    if power.org_policy:
        return (
            f"can change or switch off organization policy constraints in the {scope} "
            f"({_reasons(power.org_policy, ORG_POLICY_PERMISSIONS)}), the guardrails behind every other grant "
            "(no service account keys, allowed member domains, ...)",
            "leave organization policies to the organization's administrators: remove this grant",
        )
    kinds = power.writes or power.reads
    if kinds:
        verb = "write or manage" if power.writes else "read"
        fixes = sorted({kind.iam_member for kind in map(kind_named, kinds) if kind is not None})
        return (
            f"can {verb} every {', '.join(kinds)} in the {scope}",
            f"grant it on the one {kinds[0]} it uses ({', '.join(fixes[:3])}) instead, or confine this grant with "
            "an IAM condition on resource.name naming it",
        )
    return None


def _reasons(permissions: Sequence[str], why: Mapping[str, str]) -> str:
    return "; ".join(f"{p}: {why[p]}" if p in why else p for p in permissions[:2])


def _delegation_unsafe(role: str, custom: CustomRoles) -> bool:
    if role in BASIC_ROLES:
        return True
    power = power_of(role, custom)
    return power is None or power.identity_level or power.service_agent


def judge_high_scope(
    resource_type: str, props: Mapping[str, Any], ctx: RuleContext, custom: CustomRoles | None = None
) -> list[str]:
    """Roles on a whole project/folder/organization that carry identity, IAM, code-running or data power: the
    judgement of one grant resource (custom roles by the stack's definitions, when given)."""
    return _judge_high_scope(grant_scope(resource_type), grants_of(resource_type, props), ctx, custom or {})


def _judge_high_scope(scope: str, grants: Iterable[Grant], ctx: RuleContext, custom: CustomRoles) -> list[str]:
    if scope == "resource":
        return []
    out: list[str] = []
    for grant in grants:
        role = grant.role
        if not isinstance(role, str) or is_unknown(role) or role in ctx.settings.extra_allowed_roles:
            continue
        if role in BASIC_ROLES or role in KEY_MINTING_ROLES:
            continue  # no-basic-roles / no-key-minting-grants report these
        member = iam.known(grant.member)
        if member is not None and _owned_elsewhere(member):
            continue
        power = power_of(role, custom)
        if power is None or power.service_agent:
            continue  # custom-roles-verifiable / service-agent-roles-for-agents report these
        if grant.condition_unknown:
            continue  # what the condition allows is not known yet (preview): judged once known
        if conditions.resource_scope(grant.condition):
            continue  # confined to named resources: resource scope (partial prefixes: resource-prefix-bounded)
        found = _why_and_fix(role, power, grant, scope, custom)
        if found is None:
            continue
        why, fix = found
        out.append(
            f"{grant.where}: {role} granted to {_who(grant.member)} on the whole {scope} ({ctx.label}) {why}; "
            f"{fix}. If this grant is deliberate, list the role in extraAllowedRoles or exempt this URN with a reason."
        )
    return out


def _owned_elsewhere(member: str) -> bool:
    """Members whose grants other policies judge as a whole (one finding per root cause). A whole customer
    (`domain:`) is not one of them: allowedMemberDomains may accept the member, never the role at this scope."""
    if (iam.is_broad(member) and not iam.is_whole_customer(member)) or iam.is_convenience(member):
        return True
    email = iam.service_account(member)
    return email is not None and (iam.is_default_account(email) or iam.is_service_agent(email))


def high_scope_privileged_roles(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    """Every grant in the stack, custom roles defined in it judged by their permissions."""
    out: list[tuple[str, str]] = []
    for entry in model.grants:
        resource = entry.resource
        label_ctx = replace(ctx, urn=resource.urn, name=resource.name or "")
        messages = _judge_high_scope(entry.scope, entry.grants, label_ctx, model.custom_roles)
        out.extend((resource.urn, message) for message in messages)
    return out


# --- service-agent roles, convenience members, key minting --------------------------------------------------


def service_agent_roles_for_agents(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """`*.serviceAgent` roles carry a service's full power (often actAs on every account): Google grants them
    to its own agents; anyone else holding one is an escalation."""
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        role, member = grant.role, iam.known(grant.member)
        if not isinstance(role, str) or is_unknown(role) or member is None or iam.is_broad(member):
            continue
        power = predefined(role)
        if power is None or not power.service_agent:
            continue
        email = iam.service_account(member)
        if email is not None and (iam.is_service_agent(email) or iam.is_default_account(email)):
            continue  # Google's own agent, or a default account (no-default-identity-grants)
        out.append(
            f"{grant.where}: {role} is a service-agent role, made for Google's own agents, but is granted to "
            f"{member} on {ctx.label}; it carries the service's full power"
            f"{' (' + ', '.join(power.escalation) + ')' if power.escalation else ''}. Remove it; grant {member} "
            "the narrow predefined role for its task on the one resource instead (agents are addressed as "
            "service-<project number>@gcp-sa-<service>.iam.gserviceaccount.com)."
        )
    return out


def no_convenience_members(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """projectViewer:/projectEditor:/projectOwner: follow whoever holds a basic role on a project: they must
    not get write, admin or identity power."""
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        role, member = grant.role, iam.known(grant.member)
        if member is None or not iam.is_convenience(member) or not isinstance(role, str) or is_unknown(role):
            continue
        if role in BASIC_ROLES:
            continue  # no-basic-roles
        power = predefined(role)
        if power is None or not (power.identity_level or power.writes or power.service_agent):
            continue
        out.append(
            f"{grant.where}: {role} granted to {member} on {ctx.label} gives write or admin power to whoever "
            "holds a basic role on that project, now and later. Grant it to the one serviceAccount:/group: that "
            "needs it instead."
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
    """Permissions of a custom role that give power over identities or IAM (see power.py)."""
    if not isinstance(permissions, list | tuple):
        return []
    power = classify(p for p in permissions if isinstance(p, str) and not is_unknown(p))
    return sorted({*power.escalation, *power.iam, *power.runs_code, *power.org_policy})


def no_privileged_custom_roles(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    permissions = get_list(props, "permissions")
    if permissions is UNKNOWN:
        return []
    found = dangerous_permissions(permissions)
    if not found:
        return []
    return [
        f"custom role {ctx.label} carries {', '.join(found)}, which let a holder change IAM, impersonate "
        "service accounts, mint keys, run code as other identities or change organization policies. Remove these "
        "permissions from the role; "
        "grant impersonation (roles/iam.serviceAccountUser / TokenCreator) on a single service account where "
        "truly needed."
    ]


# --- roles the pack cannot see ------------------------------------------------------------------------------


def custom_roles_verifiable(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    """Grants of a role whose permissions the pack cannot see: a custom role the stack does not define, or a
    predefined role newer than the pack's role table."""
    defined = model.defined_roles
    names, ids, unknown = defined.names, defined.ids, defined.unknown
    out: list[tuple[str, str]] = []
    for entry in model.grants:
        urn, name = entry.resource.urn, entry.resource.name
        label = f"'{name}'" if isinstance(name, str) else urn
        reported: set[str] = set()
        for grant in entry.grants:
            role = grant.role
            if not isinstance(role, str) or is_unknown(role) or role in reported:
                continue
            if role.startswith("roles/"):
                if predefined(role) is not None:
                    continue
                reported.add(role)
                out.append(
                    (
                        urn,
                        f"{grant.where}: {role} granted to {_who(grant.member)} on {label} is not in the pack's "
                        f"table of predefined roles (version {table_version()}), so its power is not judged. "
                        "Check the role name; if it is new, regenerate the table "
                        "(python -m policies.tools.generate_role_table) or exempt this URN after a review.",
                    )
                )
                continue
            match = CUSTOM_ROLE_NAME.match(role)
            if match is None or unknown or role in names or (match.group(1), match.group(3)) in ids:
                continue  # a role whose id is not known yet might be the one granted
            reported.add(role)
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
