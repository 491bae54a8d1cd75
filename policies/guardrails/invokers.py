"""The intended-caller rule: every identity that can invoke a Cloud Run service, a gen2 function's underlying
service or a gen1 function of this stack must be the identity of something in the stack that calls it — a
workload whose known configuration (env values, args, command, workflow source, ...) holds the service's URL
or one of its audiences, a push subscription or scheduler job sending an OIDC token to it, an Eventarc trigger
targeting it — or, for a gen2 function, that function's trigger identity.

"Can invoke" is read from the role's permissions (the role table, or a custom role defined in the stack):
`run.routes.invoke` on a Cloud Run service, `cloudfunctions.functions.invoke`/`call` on a function. A grant on
a whole project, folder or organization whose condition confines it to named services is judged as a grant
on each of them.

Only what is provably wrong is mandatory: an identity of a fully known workload here that names the service
nowhere, or a malformed member. An identity whose workload takes configuration the pack cannot read (secret
env vars or volumes) or that the stack cannot place is advisory, unless `allowedInvokers` is set. A value
not known yet (preview) is judged once known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import conditions, iam
from .context import RuleContext
from .iam import Grant, grant_scope
from .invoker_graph import (
    FUNCTION_INVOKE,
    RUN_INVOKE,
    Callee,
    Callers,
    call_graph,
    is_operator,
)
from .power import RolePower
from .role_power import power_of
from .stack import Identities, StackModel
from .values import is_unknown, type_module
from .workloads import FUNCTION_V1, FUNCTION_V2, grant_target

__all__ = ["judge_invokers", "only_intended_invokers", "unverified_invokers"]


def _targets(rtype: str, props: Mapping[str, Any], grant: Grant) -> list[tuple[str, str]] | None:
    """(short name, collection) of the services/functions a grant applies to; None if it is no such grant or
    the target is not known yet. Resource-level grants name their service; a project/folder/organization
    grant counts when its condition confines it to services or functions only."""
    if grant_scope(rtype) == "resource":
        target = grant_target(rtype, props)
        if not isinstance(target, str):
            return None
        module = type_module(rtype)
        return [(target, "functions" if module.startswith(("cloudfunctions/", "cloudfunctionsv2/")) else "services")]
    if grant.condition_unknown:
        return None
    scope = conditions.resource_scope(grant.condition)
    if not scope or any(named.collection not in ("services", "functions") or named.partial for named in scope):
        return None
    return [(named.name, named.collection) for named in scope]


def _can_invoke(power: RolePower, callee: Callee, collection: str) -> bool:
    """Can a grant of this power on a `collection` named like the callee invoke it?"""
    is_function = callee.resource_type in (FUNCTION_V1, FUNCTION_V2)
    if collection == "functions":
        if not is_function:
            return False
        # A gen2 function's own IAM, or its service's: either may carry invoke power.
        extra = RUN_INVOKE if callee.resource_type == FUNCTION_V2 else ()
        return power.invokes(*FUNCTION_INVOKE, *extra)
    if callee.resource_type == FUNCTION_V1:
        return False  # a 1st gen function has no Cloud Run service
    return power.invokes(*RUN_INVOKE)


def judge_invokers(model: StackModel, ctx: RuleContext) -> list[tuple[str, str, bool]]:
    """(grant urn, message, mandatory) for every invoke grant on a service of this stack that is not one of
    its intended callers. Mandatory: provably wrong. Advisory: an identity the stack cannot place, or whose
    workload's configuration the pack cannot fully read, while no allowedInvokers list says otherwise. Judged
    once per stack and list, whichever of the two invoker policies asks first."""
    allowed = ctx.settings.allowed_invokers
    return model.judged(("invokers", allowed), lambda: _judge_all(model, allowed))


def _judge_all(model: StackModel, allowed_invokers: frozenset[str]) -> list[tuple[str, str, bool]]:
    graph = call_graph(model)
    custom = model.custom_roles
    out: list[tuple[str, str, bool]] = []
    for entry in model.grants:
        rtype, urn, props = entry.resource.type, entry.resource.urn, entry.resource.props
        for grant in entry.grants:
            role, member = grant.role, grant.member
            if not isinstance(role, str) or is_unknown(role) or not isinstance(member, str) or is_unknown(member):
                continue
            power = power_of(role, custom)
            if power is None or not power.invoke:
                continue  # no invoke permission, or a role the pack cannot see (custom-roles-verifiable)
            for target, collection in _targets(rtype, props, grant) or []:
                targets = [c for c in graph.callees.get(target, []) if _can_invoke(power, c, collection)]
                if not targets:
                    continue  # a service outside this stack, or a role that cannot invoke this one
                found = _judge(
                    urn, grant.where, role, power, member.strip(), targets, graph.callers, model.identities,
                    allowed_invokers,
                )  # fmt: skip
                if found is not None:
                    out.append(found)
                    break
    return out


def only_intended_invokers(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    return [(urn, message) for urn, message, mandatory in judge_invokers(model, ctx) if mandatory]


def unverified_invokers(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    return [(urn, message) for urn, message, mandatory in judge_invokers(model, ctx) if not mandatory]


def _named(email: str, targets: list[Callee]) -> bool:
    return any(email in callee.named for callee in targets)


def _invoker_role(targets: list[Callee]) -> str:
    if all(t.resource_type == FUNCTION_V1 for t in targets):
        return "roles/cloudfunctions.invoker on the function"
    return "roles/run.invoker on the service"


def _manage_finding(
    grant_urn: str, where: str, role: str, power: RolePower, member: str, targets: list[Callee]
) -> tuple[str, str, bool] | None:
    """A real caller that holds more than invoke power (redeploy, re-permission): told to take the invoker role."""
    if not power.identity_level:
        return None
    names = " / ".join(sorted({c.name for c in targets}))
    return (
        grant_urn,
        f"{where}: {member} only needs to call '{names}' but holds {role}, which also lets it redeploy or "
        f"re-permission the service; grant {_invoker_role(targets)} to {member} instead of {role}.",
        True,
    )


def _judge(
    grant_urn: str,
    where: str,
    role: str,
    power: RolePower,
    member: str,
    targets: list[Callee],
    callers: Callers,
    stack: Identities,
    allowed_invokers: frozenset[str],
) -> tuple[str, str, bool] | None:
    if iam.is_broad(member) or iam.is_human(member) or iam.is_convenience(member):
        return None  # no-public-members / no-broad-principals / human-access-expires / no-convenience-members
    email = iam.service_account(member)
    if email is not None and iam.is_default_account(email):
        return None  # no-default-identity-grants
    callee_names = " / ".join(sorted({c.name for c in targets}))
    allowed: set[str] = set()
    for callee in targets:
        allowed |= callee.triggers | callers.identities_calling(callee)
    configured = iam.normalize_member(member) in allowed_invokers
    # By design: an account created here that people borrow, or that the service itself names as a caller.
    operator = email is not None and (
        is_operator(email, stack) or (email in stack.created and email not in stack.placed and _named(email, targets))
    )
    if configured or operator or (email is not None and email in allowed):
        return _manage_finding(grant_urn, where, role, power, member, targets)

    if email is not None:
        maybe = callers.running_as(email) + callers.identity_unknown
        if any(t.triggers_unknown for t in targets):
            return None  # the function's trigger identity is not known yet
        if maybe and (any(t.endpoints_unknown for t in targets) or any(c.unknown for c in maybe)):
            return None  # a workload that may run as it targets something not known yet: judged once known
    return _unintended(grant_urn, f"{where}: {member} can invoke '{callee_names}' through {role}", member, email,
                       sorted(allowed), targets, callers, stack, allowed_invokers)  # fmt: skip


def _unintended(
    grant_urn: str,
    what: str,
    member: str,
    email: str | None,
    known_callers: list[str],
    targets: list[Callee],
    callers: Callers,
    stack: Identities,
    allowed_invokers: frozenset[str],
) -> tuple[str, str, bool]:
    """The finding for an invoker that is not one of the service's callers: mandatory where provably wrong."""
    fix_member = (
        f"serviceAccount:{known_callers[0]}" if len(known_callers) == 1 else "serviceAccount:<caller runtime email>"
    )
    if email is not None and email in stack.placed:
        # (the service's own secrets do not make it a caller of itself: its own URL is what it verifies)
        own = {t.urn for t in targets}
        hidden = sorted({h for c in callers.running_as(email) if c.urn not in own for h in c.hidden})
        if hidden:
            return (
                grant_urn,
                f"{what}; it is the identity of '{stack.placed[email]}' in this stack, whose known configuration "
                f"names the service nowhere, but part of it comes from Secret Manager ({', '.join(hidden[:3])}), "
                "which the pack cannot read. If the service's URL is there, pass it as a plain value instead (a URL "
                "is no secret), so the pack can see the call; otherwise remove this grant.",
                False,
            )
        return (
            grant_urn,
            f"{what} but is the identity of '{stack.placed[email]}' in this stack, which does not call it (no known "
            "configuration of a workload running as it, push subscription, scheduler job, Eventarc trigger or API "
            "Gateway config names "
            f"its URL, audience or name). Remove this grant; grant {_invoker_role(targets)} to {fix_member} instead "
            f"of {member}.",
            True,
        )
    if email is None and not iam.is_federated_workload(member):
        return (
            grant_urn,
            f"{what} but is not a service account (member prefixes are case-sensitive: serviceAccount:<email>). "
            f"Remove this grant; grant {_invoker_role(targets)} to {fix_member} instead.",
            True,
        )
    where_from = (
        "is created here but nothing here runs as it or may borrow it"
        if email in stack.created
        else "is not an identity of this stack"
    )
    if allowed_invokers:
        return (
            grant_urn,
            f"{what}; it {where_from}, and it is not in allowedInvokers. Add it there if it is a real caller in "
            "another stack or project; otherwise remove this grant.",
            True,
        )
    return (
        grant_urn,
        f"{what}; it {where_from}, so the pack cannot tell whether it really calls the service (e.g. a caller in "
        "another stack or project). If it does, list it in allowedInvokers of only-intended-invokers and "
        "unverified-invokers (then unlisted callers are rejected); otherwise remove this grant.",
        False,
    )
