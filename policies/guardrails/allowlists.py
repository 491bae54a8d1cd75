"""Invokers a service refuses itself: a Cloud Run service of the stack that checks its callers itself names them
in its environment (`ALLOWED_INVOKERS`: comma-separated service-account emails, as PrivateService's CallerEnv
writes it, and as the worker reads it). Cloud Run's front end lets every holder of invoke power through; the
service then answers 403 to any caller not on its list. So an invoke grant on such a service to a service
account its list does not name is a caller that can never get in, or a grant nobody needs: the pack and the
runtime must say the same thing about it (issue 19: the pack approved a scheduler job granted by hand that the
worker refused).

Judged on resource-level grants on the service (Member, Binding, Policy), by the role's invoke permission
(`run.routes.invoke`, from the role table or the stack's custom role), for `serviceAccount:` members (people and
other principals are other policies' concern). A deploy role (one that redeploys the service) held by a deployer
(deployers.py: a build or CI identity, or one that may act as the service's runtime account) or by an identity
the stack does not run is deploy power, not a caller: the list need not name it. A
grant only-intended-invokers rejects (its member calls
nothing, or is no identity on its `allowedInvokers`; this policy takes the same list) is left to that policy: one
finding per grant. A value not known yet (preview) is judged once known.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from . import deployers
from .context import RuleContext
from .invokers import judge_invokers
from .power import RolePower
from .role_power import power_of
from .stack import StackModel, StackResource
from .values import get_str, is_unknown, type_module
from .workloads import RUN_V2_SERVICE, env_vars, grant_target

__all__ = ["ALLOWLIST_VARIABLES", "invokers_on_allowlist", "judge_allowlists"]

# The environment variables through which a service names the callers it accepts (PrivateService's CallerEnv).
ALLOWLIST_VARIABLES: Final = ("ALLOWED_INVOKERS",)
_RUN_INVOKE: Final = "run.routes.invoke"


@dataclass(frozen=True)
class _Allowlist:
    service: str  # the service's short name, as grants name it
    label: str  # how the message names the service
    variable: str
    emails: frozenset[str]


def _allowlists(resources: Iterable[StackResource]) -> dict[str, _Allowlist]:
    """Each Cloud Run service of the stack that names its callers, by short name; none whose list is unknown."""
    found: dict[str, _Allowlist] = {}
    for resource in resources:
        if resource.type != RUN_V2_SERVICE:
            continue
        name = get_str(resource.props, "name")
        if not isinstance(name, str) or is_unknown(name):
            continue
        for env in env_vars(RUN_V2_SERVICE, resource.props):
            if env.name in ALLOWLIST_VARIABLES and isinstance(env.value, str) and not is_unknown(env.value):
                emails = frozenset(e.strip().lower() for e in env.value.split(",") if e.strip())
                found[name] = _Allowlist(name, resource.name or name, env.name, emails)
    return found


def judge_allowlists(model: StackModel, judged_elsewhere: frozenset[str] = frozenset()) -> list[tuple[str, str]]:
    """(grant urn, message) for every invoke grant on a service with an allowlist to a service account not on it,
    but for the grants in `judged_elsewhere`."""
    lists = _allowlists(model.resources)
    if not lists:
        return []
    custom, facts = model.custom_roles, deployers.power(model)
    out: list[tuple[str, str]] = []
    for entry in model.grants:
        rtype, urn, props = entry.resource.type, entry.resource.urn, entry.resource.props
        if entry.scope != "resource" or not type_module(rtype).startswith("cloudrunv2/service"):
            continue
        if urn in judged_elsewhere:
            continue
        target = grant_target(rtype, props)
        allowlist = lists.get(target) if isinstance(target, str) else None
        if allowlist is None:
            continue
        for grant in entry.grants:
            role, member = grant.role, grant.member
            if not isinstance(role, str) or is_unknown(role) or not isinstance(member, str) or is_unknown(member):
                continue
            kind, _, email = member.strip().partition(":")
            if kind != "serviceAccount" or email.lower() in allowlist.emails:
                continue
            power = power_of(role, custom)
            if power is None or not power.invokes(_RUN_INVOKE):
                continue
            if _deploy_role(member.strip(), power, facts):
                continue
            out.append((urn, _message(grant.where, member.strip(), role, allowlist)))
    return out


def _deploy_role(member: str, power: RolePower, facts: deployers.Power) -> bool:
    """A role that redeploys the service, held by a deployer — or by an identity this stack does not run, which
    may deploy from elsewhere (unverified-invokers notes it): deploy power, which other policies judge. (Every
    holder `deployers.deploys` accepts is of these kinds.)"""
    if not power.redeploys:
        return False
    who = deployers.holder(member, facts)
    return who is None or who.kind not in ("workload", "customer")


def _message(where: str, member: str, role: str, allowlist: _Allowlist) -> str:
    return (
        f"{where}: {member} can invoke '{allowlist.service}' through {role}, but the service checks its callers "
        f"itself and its list ({allowlist.variable} of '{allowlist.label}') does not name it, so every call it "
        "makes is refused with 403. Declare it as a caller of the service (one `callers` entry, or a `Caller` of "
        "PrivateService: the grant and the list entry are then made together); if nothing calls as it, remove "
        "this grant."
    )


def invokers_on_allowlist(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    """The pack's stack rule: invoke grants the service itself would refuse (and the intended-caller rule, with
    the same allowedInvokers, does not reject)."""
    rejected = frozenset(urn for urn, _, mandatory in judge_invokers(model, ctx) if mandatory)
    return judge_allowlists(model, rejected)
