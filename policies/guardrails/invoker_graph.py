"""Who calls what in a stack, for the intended-caller rule: its callers (workloads by what their known
configuration names, push subscriptions, scheduler jobs, Eventarc triggers, API Gateway configs), its callable
services and functions, and the identities the stack can place. Indexed by the URLs, service names and
identities callers name, so judging a grant looks at the few callers that could call its service, not at all
of them."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from . import iam
from .iam import service_account_email
from .stack import Identities, StackModel
from .values import UNKNOWN, get, is_unknown, last_segment
from .workloads import (
    API_GATEWAY_CONFIG,
    EVENTARC_TRIGGER,
    FUNCTION_V1,
    FUNCTION_V2,
    MORE_WORKLOAD_TYPES,
    PUSH_SUBSCRIPTION,
    RUN_V1_SERVICE,
    RUN_V2_SERVICE,
    SCHEDULER_JOB,
    WORKLOAD_TYPES,
    config_text,
    endpoints_of,
    env_vars,
    gateway_documents,
    has_unknown,
    hidden_config,
    identity_slots,
    mentions,
    service_names,
)

__all__ = [
    "FUNCTION_INVOKE",
    "RUN_INVOKE",
    "CallGraph",
    "Callee",
    "Caller",
    "Callers",
    "call_graph",
    "calls",
    "is_operator",
]

CALLABLE_TYPES: Final = (RUN_V2_SERVICE, RUN_V1_SERVICE, FUNCTION_V2, FUNCTION_V1)
RUN_INVOKE: Final = ("run.routes.invoke",)
FUNCTION_INVOKE: Final = ("cloudfunctions.functions.invoke", "cloudfunctions.functions.call")
# Identity slots through which a workload runs code that may call services (not a function's build or trigger).
_CALLING_KINDS: Final = frozenset({"runtime", "workflow", "worker", "build"})


@dataclass
class Caller:
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
class Callee:
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


def named_emails(rtype: str, props: Mapping[str, Any]) -> set[str]:
    named: set[str] = set()
    for env in env_vars(rtype, props):
        if isinstance(env.value, str):
            named |= {t.lower() for t in env.value.replace(",", " ").replace(";", " ").split() if t.count("@") == 1}
    return named


def calls(caller: Caller, callee: Callee) -> bool:
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
class Callers:
    """The stack's callers, indexed so that a grant is judged against the few that could call its service
    (by host of a URL they name, by service name, by identity) instead of against all of them."""

    all: list[Caller]
    by_url: dict[tuple[str, str], list[Caller]] = field(default_factory=lambda: defaultdict(list))
    by_service: dict[str, list[Caller]] = field(default_factory=lambda: defaultdict(list))
    by_identity: dict[str, list[Caller]] = field(default_factory=lambda: defaultdict(list))
    identity_unknown: list[Caller] = field(default_factory=list)
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

    def _candidates(self, callee: Callee) -> Iterable[Caller]:
        keys = [_endpoint_key(e) for e in callee.endpoints]
        if any(k is None for k in keys):
            return self.all  # an audience that is no URL: only a full scan can find it
        found = {id(c): c for k in keys for c in self.by_url.get(k or ("", ""), [])}
        found |= {id(c): c for n in callee.names for c in self.by_service.get(n, [])}
        return found.values()

    def identities_calling(self, callee: Callee) -> set[str]:
        if callee.urn not in self.calling:
            # (a service's own env names its URL as the audience it verifies, not as a call)
            self.calling[callee.urn] = {
                email
                for caller in self._candidates(callee)
                if caller.urn != callee.urn and calls(caller, callee)
                for email in caller.identities
            }
        return self.calling[callee.urn]

    def running_as(self, email: str) -> list[Caller]:
        return self.by_identity.get(email, [])


def caller_of(rtype: str, urn: str, name: str, props: Mapping[str, Any]) -> Caller | None:
    caller = Caller(urn, name)
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
    elif rtype == API_GATEWAY_CONFIG:
        # Its OpenAPI documents name the backends it calls (x-google-backend), with tokens for this account.
        slots = identity_slots(rtype, props)
        if not slots:
            return None  # no backend account: the gateway sends no token, so no invoker grant can be its
        caller.add_identity(slots[0].value)
        caller.text = gateway_documents(props)
        caller.unknown = has_unknown(caller.text)
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


def is_operator(email: str, stack: Identities) -> bool:
    """An account created here, run by nothing here, that only people borrow (through grants that
    human-access-expires requires to expire): a caller by design."""
    borrowers = stack.impersonators.get(email, [])
    return (
        email in stack.created
        and email not in stack.placed
        and bool(borrowers)
        and all(iam.is_human(m) for m in borrowers)
    )


@dataclass(frozen=True)
class CallGraph:
    """Who calls what in a stack: its callers (indexed) and its callable services by short name."""

    callers: Callers
    callees: Mapping[str, list[Callee]]


def call_graph(model: StackModel) -> CallGraph:
    """The stack's callers and callees; built once per model (`StackModel.judged`), when a policy asks."""
    return model.judged("call graph", lambda: _call_graph(model))


def _call_graph(model: StackModel) -> CallGraph:
    callers: list[Caller] = []
    callees: dict[str, list[Callee]] = defaultdict(list)
    for resource in model.resources:
        rtype, urn, props = resource.type, resource.urn, resource.props
        name = resource.name if resource.name is not None else urn
        caller = caller_of(rtype, urn, name, props)
        if caller is not None:
            callers.append(caller)
        if rtype in CALLABLE_TYPES:
            endpoints, endpoints_unknown = endpoints_of(rtype, props)
            callee = Callee(urn, name, rtype, endpoints, endpoints_unknown, service_names(rtype, props))
            callee.named = named_emails(rtype, props)
            if rtype == FUNCTION_V2:
                for slot in identity_slots(rtype, props):
                    if slot.kind == "trigger":
                        callee.triggers_unknown |= slot.value is UNKNOWN
                        email = service_account_email(slot.value)
                        if email:
                            callee.triggers.add(email)
            for service_name in callee.names:
                callees[service_name].append(callee)
    return CallGraph(Callers(callers), dict(callees))
