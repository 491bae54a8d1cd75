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

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from . import conditions, members
from .config import normalize_member
from .context import RuleContext
from .model import (
    EVENTARC_TRIGGER,
    FUNCTION_V1,
    FUNCTION_V2,
    MORE_WORKLOAD_TYPES,
    PUSH_SUBSCRIPTION,
    RUN_V1_SERVICE,
    RUN_V2_SERVICE,
    SCHEDULER_JOB,
    WORKLOAD_TYPES,
    Grant,
    config_text,
    endpoints_of,
    env_vars,
    grant_scope,
    grant_target,
    grants_of,
    has_unknown,
    hidden_config,
    identity_slots,
    last_segment,
    mentions,
    service_account_email,
    service_names,
)
from .power import RolePower
from .roles import CustomRoles, custom_roles_of, impersonation_power, power_of
from .values import UNKNOWN, get, get_str, is_unknown, type_module

_CALLABLE_TYPES: Final = (RUN_V2_SERVICE, RUN_V1_SERVICE, FUNCTION_V2, FUNCTION_V1)
SERVICE_ACCOUNT: Final = "gcp:serviceaccount/account:Account"
RUN_INVOKE: Final = ("run.routes.invoke",)
FUNCTION_INVOKE: Final = ("cloudfunctions.functions.invoke", "cloudfunctions.functions.call")
# Identity slots through which a workload runs code that may call services (not a function's build or trigger).
_CALLING_KINDS: Final = frozenset({"runtime", "workflow", "worker", "build"})


@dataclass
class _Caller:
    """Something in the stack that calls services as an identity: a workload (its configuration names the
    callee), a Pub/Sub push subscription or Cloud Scheduler job (OIDC token to a URL), an Eventarc trigger."""

    urn: str
    name: str
    identities: set[str] = field(default_factory=set)
    identities_unknown: bool = False
    refs: list[str] = field(default_factory=list)  # URLs / audiences it sends tokens to
    text: str = ""  # a workload's whole known configuration
    unknown: bool = False  # some of what it targets is not known yet
    hidden: list[str] = field(default_factory=list)  # configuration the pack cannot read (Secret Manager)
    service_refs: set[str] = field(default_factory=set)  # Cloud Run service names it targets

    def add_identity(self, value: object) -> None:
        if is_unknown(value):
            self.identities_unknown = True
        email = service_account_email(value)
        if email:
            self.identities.add(email)

    def add_ref(self, value: object) -> None:
        if is_unknown(value):
            self.unknown = True
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
            named |= {t.lower() for t in env.value.replace(",", " ").replace(";", " ").split() if t.count("@") == 1}
    return named


def _calls(caller: _Caller, callee: _Callee) -> bool:
    if caller.service_refs & callee.names:
        return True
    for value in caller.refs:
        text = value.strip().rstrip("/")
        for endpoint in callee.endpoints:
            if text == endpoint or text.startswith((endpoint + "/", endpoint + "?")):
                return True
    return bool(caller.text) and any(mentions(caller.text, endpoint) for endpoint in callee.endpoints)


# A URL's host and first path segment (functions share a host and differ by path).
_URL_KEY = re.compile(r"://(?:[^@/\s\"']*@)?([A-Za-z0-9.-]+)(?::[0-9]+)?(?:/([^/?#\s\"'\\,;]*))?")


def _url_keys(text: str) -> set[tuple[str, str]]:
    """Index keys of every URL in `text`: (host, "") and (host, first path segment)."""
    keys: set[tuple[str, str]] = set()
    for host, segment in _URL_KEY.findall(text):
        keys |= {(host.lower(), ""), (host.lower(), segment)}
    return keys


def _endpoint_key(endpoint: str) -> tuple[str, str] | None:
    """The key a URL endpoint is found under; None for an endpoint that is no URL (an arbitrary audience)."""
    if "://" not in endpoint:
        return None
    try:
        url = urlsplit(endpoint.strip())
    except ValueError:
        return None
    if not url.hostname:
        return None
    return url.hostname, url.path.split("/")[1] if url.path.count("/") >= 1 else ""


@dataclass
class _Callers:
    """The stack's callers, indexed so that a grant is judged against the few that could call its service
    (by host of a URL they name, by service name, by identity) instead of against all of them."""

    all: list[_Caller]
    by_url: dict[tuple[str, str], list[_Caller]] = field(default_factory=lambda: defaultdict(list))
    by_service: dict[str, list[_Caller]] = field(default_factory=lambda: defaultdict(list))
    by_identity: dict[str, list[_Caller]] = field(default_factory=lambda: defaultdict(list))
    identity_unknown: list[_Caller] = field(default_factory=list)
    # Identities that call each service (by callee URN): computed once, whatever the number of grants on it.
    calling: dict[str, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for caller in self.all:
            for key in {key for text in (*caller.refs, caller.text) for key in _url_keys(text)}:
                self.by_url[key].append(caller)
            for service in caller.service_refs:
                self.by_service[service].append(caller)
            for email in caller.identities:
                self.by_identity[email].append(caller)
            if caller.identities_unknown:
                self.identity_unknown.append(caller)

    def _candidates(self, callee: _Callee) -> Iterable[_Caller]:
        keys = [_endpoint_key(e) for e in callee.endpoints]
        if any(k is None for k in keys):
            return self.all  # an audience that is no URL: only a full scan can find it
        found = {id(c): c for k in keys for c in self.by_url.get(k or ("", ""), [])}
        found |= {id(c): c for n in callee.names for c in self.by_service.get(n, [])}
        return found.values()

    def identities_calling(self, callee: _Callee) -> set[str]:
        if callee.urn not in self.calling:
            # (a service's own env names its URL as the audience it verifies, not as a call)
            self.calling[callee.urn] = {
                email
                for caller in self._candidates(callee)
                if caller.urn != callee.urn and _calls(caller, callee)
                for email in caller.identities
            }
        return self.calling[callee.urn]

    def running_as(self, email: str) -> list[_Caller]:
        return self.by_identity.get(email, [])


def _caller_of(rtype: str, urn: str, name: str, props: Mapping[str, Any]) -> _Caller | None:
    caller = _Caller(urn, name)
    if rtype in WORKLOAD_TYPES or rtype in MORE_WORKLOAD_TYPES:
        for slot in identity_slots(rtype, props):
            if slot.kind in _CALLING_KINDS and not (slot.kind == "build" and rtype in WORKLOAD_TYPES):
                caller.add_identity(slot.value)
        caller.text = config_text(props)
        caller.unknown = has_unknown(caller.text)
        caller.hidden = hidden_config(props)
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
            caller.unknown = True
        segment = last_segment(service)
        if segment:
            caller.service_refs.add(segment)
    else:
        return None
    return caller


@dataclass(frozen=True)
class _Stack:
    """Who the stack can place: identities its workloads and callers run as, accounts it creates, and the
    impersonation grants on each account it creates."""

    placed: dict[str, str]  # email -> name of a resource that runs as it
    created: set[str]
    impersonators: dict[str, list[str]]  # created account email -> members with impersonation power on it


def _stack_identities(resources: Sequence[Mapping[str, Any]], custom: CustomRoles) -> _Stack:
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
        if target is None or target not in created:
            continue
        for grant in grants_of(rtype, props):
            power = power_of(grant.role, custom) if isinstance(grant.role, str) else None
            member = members.known(grant.member)
            # Setting IAM on the account is impersonation power too: the holder can grant itself the rest.
            if power is not None and impersonation_power(power, on_service_account=True) and member is not None:
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


def _can_invoke(power: RolePower, callee: _Callee, collection: str) -> bool:
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


def judge_invokers(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str, bool]]:
    """(grant urn, message, mandatory) for every invoke grant on a service of this stack that is not one of
    its intended callers. Mandatory: provably wrong. Advisory: an identity the stack cannot place, or whose
    workload's configuration the pack cannot fully read, while no allowedInvokers list says otherwise."""
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

    custom = custom_roles_of(resources)
    stack = _stack_identities(resources, custom)
    indexed = _Callers(callers)
    out: list[tuple[str, str, bool]] = []
    for resource in resources:
        rtype, urn, props = get(resource, "type"), get(resource, "urn"), get(resource, "props")
        if not isinstance(rtype, str) or not isinstance(urn, str) or not isinstance(props, Mapping):
            continue
        for grant in grants_of(rtype, props):
            role, member = grant.role, grant.member
            if not isinstance(role, str) or is_unknown(role) or not isinstance(member, str) or is_unknown(member):
                continue
            power = power_of(role, custom)
            if power is None or not power.invoke:
                continue  # no invoke permission, or a role the pack cannot see (custom-roles-verifiable)
            for target, collection in _targets(rtype, props, grant) or []:
                targets = [c for c in callees.get(target, []) if _can_invoke(power, c, collection)]
                if not targets:
                    continue  # a service outside this stack, or a role that cannot invoke this one
                found = _judge(urn, grant.where, role, power, member.strip(), targets, indexed, stack, ctx)
                if found is not None:
                    out.append(found)
                    break
    return out


def only_intended_invokers(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str]]:
    return [(urn, message) for urn, message, mandatory in judge_invokers(resources, ctx) if mandatory]


def unverified_invokers(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str]]:
    return [(urn, message) for urn, message, mandatory in judge_invokers(resources, ctx) if not mandatory]


def _named(email: str, targets: list[_Callee]) -> bool:
    return any(email in callee.named for callee in targets)


def _invoker_role(targets: list[_Callee]) -> str:
    if all(t.resource_type == FUNCTION_V1 for t in targets):
        return "roles/cloudfunctions.invoker on the function"
    return "roles/run.invoker on the service"


def _manage_finding(
    grant_urn: str, where: str, role: str, power: RolePower, member: str, targets: list[_Callee]
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
    targets: list[_Callee],
    callers: _Callers,
    stack: _Stack,
    ctx: RuleContext,
) -> tuple[str, str, bool] | None:
    if members.is_broad(member) or members.is_human(member) or members.is_convenience(member):
        return None  # no-public-members / no-broad-principals / human-access-expires / no-convenience-members
    email = members.service_account(member)
    if email is not None and members.is_default_account(email):
        return None  # no-default-identity-grants
    callee_names = " / ".join(sorted({c.name for c in targets}))
    allowed: set[str] = set()
    for callee in targets:
        allowed |= callee.triggers | callers.identities_calling(callee)
    configured = normalize_member(member) in ctx.allowed_invokers
    # By design: an account created here that people borrow, or that the service itself names as a caller.
    operator = email is not None and (
        _is_operator(email, stack) or (email in stack.created and email not in stack.placed and _named(email, targets))
    )
    if configured or operator or (email is not None and email in allowed):
        return _manage_finding(grant_urn, where, role, power, member, targets)

    if email is not None:
        maybe = callers.running_as(email) + callers.identity_unknown
        if any(t.triggers_unknown for t in targets):
            return None  # the function's trigger identity is not known yet
        if maybe and (any(t.endpoints_unknown for t in targets) or any(c.unknown for c in maybe)):
            return None  # a workload that may run as it targets something not known yet: judged once known
    known_callers = sorted(allowed)
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
                f"{where}: {member} can invoke '{callee_names}' through {role}; it is the identity of "
                f"'{stack.placed[email]}' in this stack, whose known configuration names the service nowhere, but "
                f"part of it comes from Secret Manager ({', '.join(hidden[:3])}), which the pack cannot read. If "
                "the service's URL is there, pass it as a plain value instead (a URL is no secret), so the pack "
                "can see the call; otherwise remove this grant.",
                False,
            )
        return (
            grant_urn,
            f"{where}: {member} can invoke '{callee_names}' through {role} but is the identity of "
            f"'{stack.placed[email]}' in this stack, which does not call it (no known configuration of a workload "
            "running as it, push subscription, scheduler job or Eventarc trigger names its URL, audience or "
            f"name). Remove this grant; grant {_invoker_role(targets)} to {fix_member} instead of {member}.",
            True,
        )
    if email is None and not members.is_federated_workload(member):
        return (
            grant_urn,
            f"{where}: {member} can invoke '{callee_names}' through {role} but is not a service account "
            "(member prefixes are case-sensitive: serviceAccount:<email>). Remove this grant; grant "
            f"{_invoker_role(targets)} to {fix_member} instead.",
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
