"""The intended-caller rule: every identity that can invoke a Cloud Run service (or a gen2 function's
underlying service) must be the identity of something in the stack that calls it — a workload whose env
holds the service's URL or one of its audiences, a push subscription or scheduler job sending an OIDC
token to it, an Eventarc trigger targeting it — or, for a gen2 function, that function's trigger identity."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import members
from .config import normalize_member
from .context import RuleContext
from .model import (
    EVENTARC_TRIGGER,
    FUNCTION_V2,
    INVOKE_PERMISSION,
    PUSH_SUBSCRIPTION,
    RUN_INVOKE_ROLES,
    RUN_MANAGE_ROLES,
    RUN_V1_SERVICE,
    RUN_V2_SERVICE,
    SCHEDULER_JOB,
    WORKLOAD_TYPES,
    endpoints_of,
    env_vars,
    grant_target,
    grants_of,
    identity_slots,
    last_segment,
    service_account_email,
    service_names,
)
from .power import predefined
from .roles import CUSTOM_ROLE_TYPES
from .values import UNKNOWN, get, get_list, get_str, is_unknown

_CALLABLE_TYPES = (RUN_V2_SERVICE, RUN_V1_SERVICE, FUNCTION_V2)
SERVICE_ACCOUNT = "gcp:serviceaccount/account:Account"


@dataclass
class _Caller:
    """Something in the stack that calls services as an identity: a workload (its env names the callee),
    a Pub/Sub push subscription or Cloud Scheduler job (OIDC token to a URL), an Eventarc trigger."""

    urn: str
    name: str
    identities: set[str] = field(default_factory=set)
    identities_unknown: bool = False
    refs: list[str] = field(default_factory=list)  # URLs / audiences it sends to
    refs_unknown: bool = False
    service_refs: set[str] = field(default_factory=set)  # Cloud Run service names it targets

    def add_identity(self, value: object) -> None:
        if is_unknown(value):
            self.identities_unknown = True
        email = service_account_email(value)
        if email:
            self.identities.add(email)

    def add_ref(self, value: object) -> None:
        if is_unknown(value):
            self.refs_unknown = True
        elif isinstance(value, str) and value.strip():
            self.refs.append(value)


@dataclass
class _Callee:
    urn: str
    name: str
    resource_type: str
    endpoints: list[str]
    endpoints_unknown: bool
    names: set[str] = field(default_factory=set)
    triggers: set[str] = field(default_factory=set)
    triggers_unknown: bool = False
    # Emails the service names in its own env (an allow-list it enforces itself, e.g. ALLOWED_INVOKERS).
    named: set[str] = field(default_factory=set)


def _named_emails(rtype: str, props: Mapping[str, Any]) -> set[str]:
    named: set[str] = set()
    for env in env_vars(rtype, props):
        if isinstance(env.value, str):
            named |= {t.lower() for t in re.split(r"[\s,;]+", env.value) if t.count("@") == 1}
    return named


def _calls(caller: _Caller, callee: _Callee) -> bool:
    if caller.service_refs & callee.names:
        return True
    for value in caller.refs:
        text = value.strip().rstrip("/")
        for endpoint in callee.endpoints:
            if text == endpoint or text.startswith((endpoint + "/", endpoint + "?")):
                return True
    return False


def _caller_of(rtype: str, urn: str, name: str, props: Mapping[str, Any]) -> _Caller | None:
    caller = _Caller(urn, name)
    if rtype in WORKLOAD_TYPES:
        for slot in identity_slots(rtype, props):
            if slot.kind == "runtime":
                caller.add_identity(slot.value)
        for env in env_vars(rtype, props):
            caller.add_ref(env.value)
    elif rtype == PUSH_SUBSCRIPTION:
        token = get(props, "pushConfig", "oidcToken")
        if token is None:
            return None  # unauthenticated push cannot pass an invoker check: no identity to judge
        caller.add_identity(get(token, "serviceAccountEmail"))
        caller.add_ref(get(props, "pushConfig", "pushEndpoint"))
        caller.add_ref(get(token, "audience"))
    elif rtype == SCHEDULER_JOB:
        token = get(props, "httpTarget", "oidcToken")
        if token is None:
            return None
        caller.add_identity(get(token, "serviceAccountEmail"))
        caller.add_ref(get(props, "httpTarget", "uri"))
        caller.add_ref(get(token, "audience"))
    elif rtype == EVENTARC_TRIGGER:
        caller.add_identity(get(props, "serviceAccount"))
        service = get(props, "destination", "cloudRunService", "service")
        if is_unknown(service):
            caller.refs_unknown = True
        segment = last_segment(service)
        if segment:
            caller.service_refs.add(segment)
    else:
        return None
    return caller


def _custom_invoke_roles(resources: Sequence[Mapping[str, Any]]) -> set[str]:
    """Names (projects/<p>/roles/<id>, organizations/<o>/roles/<id>) of custom roles that can invoke."""
    names: set[str] = set()
    for resource in resources:
        if get(resource, "type") not in CUSTOM_ROLE_TYPES:
            continue
        permissions = get_list(resource, "props", "permissions")
        if not isinstance(permissions, list) or INVOKE_PERMISSION not in permissions:
            continue
        for key in ("name", "id"):
            value = get_str(resource, "props", key)
            if isinstance(value, str) and "/roles/" in value:
                names.add(value)
        role_id = get_str(resource, "props", "roleId")
        if isinstance(role_id, str):
            names.add(f"*/roles/{role_id}")
    return names


def _is_custom_invoke_role(role: str, custom: set[str]) -> bool:
    return role in custom or any(n.startswith("*/") and role.endswith(n[1:]) for n in custom)


@dataclass(frozen=True)
class _Stack:
    """Who the stack can place: identities its workloads and callers run as, accounts it creates, and the
    impersonation grants on each account it creates."""

    placed: dict[str, str]  # email -> name of a resource that runs as it
    created: set[str]
    impersonators: dict[str, list[str]]  # created account email -> members with an impersonation role on it


def _stack_identities(resources: Sequence[Mapping[str, Any]]) -> _Stack:
    placed: dict[str, str] = {}
    created: set[str] = set()
    impersonators: dict[str, list[str]] = defaultdict(list)
    for resource in resources:
        rtype, props = get(resource, "type"), get(resource, "props")
        if not isinstance(rtype, str) or not isinstance(props, Mapping):
            continue
        name = get_str(resource, "name")
        for slot in identity_slots(rtype, props):
            email = service_account_email(slot.value)
            if email:
                placed.setdefault(email, name if isinstance(name, str) else rtype)
        if rtype == SERVICE_ACCOUNT:
            email = get_str(props, "email")
            if isinstance(email, str) and "@" in email:
                created.add(email.lower())
    for resource in resources:
        rtype, props = get(resource, "type"), get(resource, "props")
        if not isinstance(rtype, str) or not isinstance(props, Mapping) or not rtype.startswith("gcp:serviceaccount/"):
            continue
        target = service_account_email(get(props, "serviceAccountId"))
        if target not in created:
            continue
        for grant in grants_of(rtype, props):
            power = predefined(grant.role) if isinstance(grant.role, str) else None
            member = members.known(grant.member)
            if power is not None and power.escalation and member is not None and target is not None:
                impersonators[target].append(member)
    return _Stack(placed, created, dict(impersonators))


def _is_operator(email: str, stack: _Stack) -> bool:
    """An account created here, run by nothing here, that only people borrow (through grants that
    human-access-expires requires to expire): a caller by design."""
    borrowers = stack.impersonators.get(email, [])
    return (
        email in stack.created
        and email not in stack.placed
        and bool(borrowers)
        and all(members.is_human(m) for m in borrowers)
    )


def judge_invokers(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str, bool]]:
    """(grant urn, message, mandatory) for every invoke grant on a service of this stack that is not one of
    its intended callers. Mandatory: provably wrong. Advisory: an identity the stack cannot place, while no
    allowedInvokers list says who may call from outside."""
    callers: list[_Caller] = []
    callees: dict[str, list[_Callee]] = defaultdict(list)
    for resource in resources:
        rtype, urn, props = get(resource, "type"), get(resource, "urn"), get(resource, "props")
        if not isinstance(rtype, str) or not isinstance(urn, str) or not isinstance(props, Mapping):
            continue
        name = get_str(resource, "name")
        name = name if isinstance(name, str) else urn
        caller = _caller_of(rtype, urn, name, props)
        if caller is not None:
            callers.append(caller)
        if rtype in _CALLABLE_TYPES:
            endpoints, endpoints_unknown = endpoints_of(rtype, props)
            callee = _Callee(urn, name, rtype, endpoints, endpoints_unknown, service_names(rtype, props))
            callee.named = _named_emails(rtype, props)
            if rtype == FUNCTION_V2:
                for slot in identity_slots(rtype, props):
                    if slot.kind == "trigger":
                        callee.triggers_unknown |= slot.value is UNKNOWN
                        email = service_account_email(slot.value)
                        if email:
                            callee.triggers.add(email)
            for service_name in callee.names:
                callees[service_name].append(callee)

    stack = _stack_identities(resources)
    custom_invoke = _custom_invoke_roles(resources)
    out: list[tuple[str, str, bool]] = []
    for resource in resources:
        rtype, urn, props = get(resource, "type"), get(resource, "urn"), get(resource, "props")
        if not isinstance(rtype, str) or not isinstance(urn, str) or not isinstance(props, Mapping):
            continue
        target = grant_target(rtype, props)
        if not isinstance(target, str) or target not in callees:
            continue  # not a service-level grant, unknown target, or a service outside this stack
        for grant in grants_of(rtype, props):
            role, member = grant.role, grant.member
            if not isinstance(role, str) or is_unknown(role) or not isinstance(member, str) or is_unknown(member):
                continue
            if role not in RUN_INVOKE_ROLES and not _is_custom_invoke_role(role, custom_invoke):
                continue
            found = _judge(urn, grant.where, role, member.strip(), callees[target], callers, stack, ctx)
            if found is not None:
                out.append(found)
    return out


def only_intended_invokers(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str]]:
    return [(urn, message) for urn, message, mandatory in judge_invokers(resources, ctx) if mandatory]


def unverified_invokers(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str]]:
    return [(urn, message) for urn, message, mandatory in judge_invokers(resources, ctx) if not mandatory]


def _named(email: str, targets: list[_Callee]) -> bool:
    return any(email in callee.named for callee in targets)


def _judge(
    grant_urn: str,
    where: str,
    role: str,
    member: str,
    targets: list[_Callee],
    callers: list[_Caller],
    stack: _Stack,
    ctx: RuleContext,
) -> tuple[str, str, bool] | None:
    if members.is_broad(member) or members.is_human(member) or members.is_convenience(member):
        return None  # no-public-members / no-broad-principals / human-access-expires / no-convenience-members
    email = members.service_account(member)
    if email is not None and members.is_default_account(email):
        return None  # no-default-identity-grants
    configured = normalize_member(member) in ctx.allowed_invokers
    allowed: set[str] = set()
    ambiguous = False
    for callee in targets:
        allowed |= callee.triggers
        ambiguous |= callee.triggers_unknown or callee.endpoints_unknown
        for caller in callers:
            if caller.urn == callee.urn:
                continue  # its own env names its URL as the audience it verifies, not as a call
            if _calls(caller, callee):
                allowed |= caller.identities
                ambiguous |= caller.identities_unknown
            elif caller.refs_unknown:
                ambiguous = True
    callee_names = " / ".join(sorted({c.name for c in targets}))
    known_callers = sorted(allowed)
    fix_member = (
        f"serviceAccount:{known_callers[0]}" if len(known_callers) == 1 else "serviceAccount:<caller runtime email>"
    )
    # By design: an account created here that people borrow, or that the service itself names as a caller.
    operator = email is not None and (
        _is_operator(email, stack) or (email in stack.created and email not in stack.placed and _named(email, targets))
    )
    if configured or operator or (email and email in allowed):
        if role in RUN_MANAGE_ROLES:
            return (
                grant_urn,
                f"{where}: {member} only needs to call '{callee_names}' but holds {role}, which also lets "
                f"it redeploy or re-permission the service; grant roles/run.invoker on the service to "
                f"{member} instead of {role}.",
                True,
            )
        return None
    if ambiguous and email is not None:
        # Some callers are not known yet (preview): only judge an identity that cannot be one of them.
        could_be_caller = any(email in c.identities or c.identities_unknown for c in callers)
        if could_be_caller or any(c.triggers_unknown for c in targets):
            return None
    if email is not None and email in stack.placed:
        return (
            grant_urn,
            f"{where}: {member} can invoke '{callee_names}' through {role} but is the identity of "
            f"'{stack.placed[email]}' in this stack, which does not call it (no workload env, push subscription, "
            "scheduler job or Eventarc trigger targets its URL, audience or name). Remove this grant; grant "
            f"roles/run.invoker on the service to {fix_member} instead of {member}.",
            True,
        )
    if email is None and not members.is_federated_workload(member):
        return (
            grant_urn,
            f"{where}: {member} can invoke '{callee_names}' through {role} but is not a service account "
            "(member prefixes are case-sensitive: serviceAccount:<email>). Remove this grant; grant "
            f"roles/run.invoker on the service to {fix_member} instead.",
            True,
        )
    where_from = (
        "is created here but nothing here runs as it or may borrow it"
        if email in stack.created
        else "is not an identity of this stack"
    )
    if ctx.allowed_invokers:
        return (
            grant_urn,
            f"{where}: {member} can invoke '{callee_names}' through {role}; it {where_from}, and it is not in "
            "allowedInvokers. Add it there if it is a real caller in another stack or project; otherwise remove "
            "this grant.",
            True,
        )
    return (
        grant_urn,
        f"{where}: {member} can invoke '{callee_names}' through {role}; it {where_from}, so the pack cannot "
        "tell whether it really calls the service (e.g. a caller in another stack or project). If it does, list "
        "it in only-intended-invokers' allowedInvokers (then unlisted callers are rejected); otherwise remove "
        "this grant.",
        False,
    )
