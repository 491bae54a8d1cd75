"""People with invoke or impersonation power: on one resource, through a grant that expires.

A person (user:, group:, a whole domain, a workforce identity federation principal) may hold a role that
invokes services or acts as service accounts only on one resource and only with a condition that ends it
(`request.time < timestamp("...")`, read strictly by conditions.py) at most `maxHumanAccessDays` ahead of
the pack's clock. Standing access is a finding; so is an expiry too far out. An expiry that has passed is
harmless but stale: advisory. On a whole project such a role is `no-high-scope-privileged-roles`'s finding.
On a service account, a role that sets its IAM is impersonation power too: the holder can grant itself the
token roles at any time, so just-in-time access is only as good as who may edit the account's policy.
Grants on a default service account are `no-default-identity-grants`' finding.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from . import conditions, iam
from .context import RuleContext
from .iam import KEY_MINTING_ROLES, Grant, grant_scope, grants_of, is_default_account, service_account_email
from .power import predefined
from .role_power import impersonation_power
from .values import get, is_unknown, type_module

__all__ = ["human_access_expired", "human_access_expires"]


def _on_service_accounts(resource_type: str, props: Mapping[str, Any], grant: Grant) -> tuple[bool, bool]:
    """(the grant applies to service accounts only, one of them is a default account)."""
    if type_module(resource_type).startswith("serviceaccount/"):
        email = service_account_email(get(props, "serviceAccountId"))
        return True, bool(email and is_default_account(email))
    scope = conditions.resource_scope(grant.condition) if grant_scope(resource_type) != "resource" else []
    if scope and all(named.collection == "serviceAccounts" for named in scope):
        return True, any(is_default_account(named.name) for named in scope)
    return False, False


def _human_power_grants(resource_type: str, props: Mapping[str, Any]) -> Iterator[tuple[Grant, str, str]]:
    """(grant, member, what the role lets a person do) for people's grants of invoke/impersonation roles on
    one resource (or on a project, confined by its condition to named resources)."""
    scope = grant_scope(resource_type)
    for grant in grants_of(resource_type, props):
        member, role = iam.known(grant.member), grant.role
        if member is None or not iam.is_human(member) or not isinstance(role, str) or is_unknown(role):
            continue
        if grant.condition_unknown:
            continue  # not known yet (preview): judged once known
        if scope != "resource" and not conditions.resource_scope(grant.condition):
            continue
        power = predefined(role)
        if power is None or role in KEY_MINTING_ROLES:
            continue  # unknown, or no-key-minting-grants' finding at any scope
        on_accounts, on_default = _on_service_accounts(resource_type, props, grant)
        if on_default:
            continue  # no-default-identity-grants
        if power.escalation:
            yield grant, member, f"act as a service account ({', '.join(power.escalation)})"
        elif impersonation_power(power, on_service_account=on_accounts):
            yield grant, member, "grant itself any role on the service account, token roles included (setIamPolicy)"
        elif power.invoke:
            yield grant, member, "invoke the service"


def human_access_expires(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    out: list[str] = []
    for grant, member, can in _human_power_grants(resource_type, props):
        verdict = conditions.judge_expiry(grant.condition, ctx.now, ctx.settings.max_human_access_days)
        fix = (
            f'add an IAM condition request.time < timestamp("<RFC 3339 time>") at most '
            f"{ctx.settings.max_human_access_days} days ahead (maxHumanAccessDays), renewed when still needed"
        )
        if verdict.state == "none":
            why = (
                "with no expiry the pack can prove (a condition with || or ?, or one it cannot read, never ends)"
                if grant.conditional
                else "with no expiry"
            )
            out.append(
                f"{grant.where}: {member} holds {grant.role} on {ctx.label}, so a person can {can}, {why}"
                f"{conditions.describe(grant.condition)}. Standing access for people is what just-in-time "
                f"grants replace: {fix}."
            )
        elif verdict.state == "too-far" and verdict.until is not None:
            days = (verdict.until - ctx.now).total_seconds() / 86400
            out.append(
                f"{grant.where}: {member} holds {grant.role} on {ctx.label} until {verdict.until:%Y-%m-%dT%H:%M:%SZ}, "
                f"{days:.0f} days from now, longer than maxHumanAccessDays ({ctx.settings.max_human_access_days}); "
                f"{fix}."
            )
    return out


def human_access_expired(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    out: list[str] = []
    for grant, member, _can in _human_power_grants(resource_type, props):
        verdict = conditions.judge_expiry(grant.condition, ctx.now, ctx.settings.max_human_access_days)
        if verdict.state == "expired" and verdict.until is not None:
            out.append(
                f"{grant.where}: {member}'s grant of {grant.role} on {ctx.label} expired at "
                f"{verdict.until:%Y-%m-%dT%H:%M:%SZ}; it no longer works. Remove it from the program to keep the "
                "IAM picture honest."
            )
    return out
