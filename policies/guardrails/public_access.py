"""Public access: public or domain-wide members, wildcard principal sets, the invoker check switched off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .context import RuleContext
from .model import (
    PUBLIC_MEMBERS,
    RUN_V1_SERVICE,
    RUN_V2_SERVICE,
    grant_scope,
    grants_of,
)
from .values import get, get_map, is_true, is_unknown

_INVOKER_FIX = (
    "grant roles/run.invoker on the service to serviceAccount:<caller's runtime service account email> instead"
)


def no_public_members(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """allUsers / allAuthenticatedUsers in member, members or policyData — conditions do not help."""
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        if not isinstance(grant.member, str) or grant.member.strip() not in PUBLIC_MEMBERS:
            continue
        role = grant.role if isinstance(grant.role, str) else "an unknown role"
        condition = " (an IAM condition does not make a public member acceptable)" if grant.conditional else ""
        out.append(
            f"{grant.where}: {grant.member} holds {role} on {ctx.label} ({grant_scope(resource_type)} "
            f"scope), which opens it to anyone{condition}. Remove {grant.member}; {_INVOKER_FIX}."
        )
    return out


def no_broad_principals(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """domain: members, wildcard principalSets, and identities outside allowedMemberDomains."""
    out: list[str] = []
    allowed = {d.lower() for d in ctx.allowed_member_domains}
    for grant in grants_of(resource_type, props):
        member = grant.member
        if not isinstance(member, str) or is_unknown(member):
            continue
        member = member.strip()
        role = grant.role if isinstance(grant.role, str) else "an unknown role"
        if member.startswith("domain:"):
            domain = member[len("domain:") :].lower()
            if domain not in allowed:
                out.append(
                    f"{grant.where}: {member} grants {role} on {ctx.label} to every identity in {domain}. "
                    f"Grant it to the one service account or group that needs it instead (or add {domain} "
                    "to allowedMemberDomains if a whole-domain grant is really intended)."
                )
        elif member.startswith("principalSet://cloudresourcemanager.googleapis.com/"):
            out.append(
                f"{grant.where}: {member} grants {role} on {ctx.label} to every principal of that project, "
                "folder or organization. Grant it to the one service account that needs it instead."
            )
        elif member.startswith("principalSet://") and member.endswith("/*"):
            out.append(
                f"{grant.where}: {member} grants {role} on {ctx.label} to every identity in the pool. "
                "Narrow it to one attribute (e.g. principalSet://…/attribute.repository/<owner>/<repo>) "
                "or one principal:// subject."
            )
        elif allowed and member.startswith(("user:", "group:")) and "@" in member:
            domain = member.rsplit("@", 1)[1].lower()
            if domain not in allowed:
                out.append(
                    f"{grant.where}: {member} is outside the allowed member domains "
                    f"({', '.join(sorted(allowed))}). Grant {role} to an identity of an allowed domain."
                )
    return out


_INVOKER_IAM_ANNOTATION = "run.googleapis.com/invoker-iam-disabled"


def invoker_iam_check_enabled(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """Cloud Run's invoker IAM check switched off (v2 flag, v1 annotation) makes a service public."""
    out: list[str] = []
    if resource_type == RUN_V2_SERVICE and is_true(get(props, "invokerIamDisabled")):
        out.append(
            f"invokerIamDisabled is true on Cloud Run service {ctx.label}: anyone who can reach it can call it. "
            f"Set invokerIamDisabled=False and {_INVOKER_FIX}."
        )
    if resource_type == RUN_V1_SERVICE:
        for path in (("metadata", "annotations"), ("template", "metadata", "annotations")):
            annotations = get_map(props, *path)
            if isinstance(annotations, Mapping) and is_true(annotations.get(_INVOKER_IAM_ANNOTATION)):
                out.append(
                    f"{'.'.join(path)}[{_INVOKER_IAM_ANNOTATION}] is true on Cloud Run service {ctx.label}: "
                    f"anyone who can reach it can call it. Remove the annotation and {_INVOKER_FIX}."
                )
    return out
