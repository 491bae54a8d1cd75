"""Identities: every workload and caller runs as its own, dedicated, non-default service account; workloads of
one application that share one and use the same grants are noted (a judgement call), any other sharing is
rejected."""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import conditions, iam
from .context import RuleContext
from .iam import KEY_MINTING_ROLES, Grant, grant_scope, grants_of, is_default_account, service_account_email
from .invoker_graph import Caller, CallGraph, call_graph, calls
from .power import RolePower, predefined
from .role_power import power_of
from .stack import StackGrants, StackModel
from .values import UNKNOWN, elements, get, get_str, is_unknown, last_segment, type_module
from .workloads import IDENTITY_TYPES, RUNS_AS_TYPES, config_text, identity_slots, machine_slots, service_names

__all__ = [
    "no_default_identity_grants",
    "shared_identities",
    "workload_identities",
    "workload_identities_shared",
    "workload_identity_set",
]

_SETTERS = {
    "runtime": "a dedicated service account created for this workload",
    "trigger": "a dedicated trigger service account (roles/run.invoker on this function's service only)",
    "build": "a dedicated build service account's full name (projects/<p>/serviceAccounts/<email>)",
    "scheduler": "a dedicated service account for this job (roles/run.invoker on the one service it calls; for a "
    "Google API call, the role that call needs on its one resource)",
    "push subscription": "a dedicated service account for this subscription (roles/run.invoker on its endpoint only)",
    "queue": "a dedicated service account for this queue (roles/run.invoker on its target only)",
    "eventarc": "a dedicated service account for this trigger (roles/eventarc.eventReceiver, and roles/run.invoker "
    "on its destination only)",
    "workflow": "a dedicated service account for this workflow (roles/run.invoker on the services it calls, and "
    "what its steps need, on those resources only)",
    "gateway": "a dedicated service account for this gateway (roles/run.invoker on its backends only)",
    "worker": "a dedicated service account for its workers, holding only what the job or environment reads and writes",
}


def workload_identity_set(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """No service account set (falls back to the Compute Engine default) or a default one set; for callers
    (scheduler jobs, push subscriptions, Eventarc triggers) wherever they request a token; for VMs, instance
    templates and GKE nodes wherever they run as one."""
    out: list[str] = _machine_identities(resource_type, props, ctx)
    if resource_type not in RUNS_AS_TYPES:
        return out
    for slot in identity_slots(resource_type, props):
        if slot.value is UNKNOWN:
            continue
        if slot.value is None:
            if slot.falls_back:
                why = f"so its {slot.kind} identity falls back to {slot.default} (broad project access)"
            else:
                why = "although it requests a token: the identity that token is minted for must be named"
            out.append(f"{slot.path} is not set on {ctx.label}, {why}. Set {slot.path} to {_SETTERS[slot.kind]}.")
            continue
        email = service_account_email(slot.value)
        if email and is_default_account(email):
            out.append(
                f"{slot.path} of {ctx.label} is the default service account {email}, which is shared and "
                f"usually holds roles/editor. Set {slot.path} to {_SETTERS[slot.kind]}."
            )
    return out


def workload_identities(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    """Across the stack: one service account in two identity slots (runtime, trigger, build, or a scheduler/
    push subscription/Eventarc caller identity) where sharing widens what a workload can do, or where the pack
    cannot tell that it does not: within one function, or across workloads unless they provably use the same
    grants. Reported at every use after the first. VMs and GKE nodes are left out: instances of one template,
    or a cluster and its node pools, share an identity by design."""
    return [(urn, message) for urn, message, mandatory in shared_identities(model) if mandatory]


def workload_identities_shared(model: StackModel, ctx: RuleContext) -> list[tuple[str, str]]:
    """Workloads of one application that share an account and use the same grants (a job started and stopped by
    two scheduler jobs, a service and its migration job): a judgement call, noted with the reason."""
    return [(urn, message) for urn, message, mandatory in shared_identities(model) if not mandatory]


@dataclass(frozen=True)
class _Use:
    urn: str
    name: str
    kind: str
    path: str


def shared_identities(model: StackModel) -> list[tuple[str, str, bool]]:
    """(urn, message, mandatory) for every use of a shared account after the first; judged once per model."""
    return model.judged("shared identities", lambda: _shared(model))


def _shared(model: StackModel) -> list[tuple[str, str, bool]]:
    uses: dict[str, list[_Use]] = defaultdict(list)
    for runs in model.runs_as:
        resource, email = runs.resource, runs.email
        # A default account in a slot is workload-identity-set's finding, not a second one here.
        if resource.type not in IDENTITY_TYPES or not email or is_default_account(email):
            continue
        uses[email].append(_Use(resource.urn, resource.name or resource.urn, runs.slot.kind, runs.slot.path))
    out: list[tuple[str, str, bool]] = []
    for email, users in uses.items():
        if len(users) < 2:
            continue
        within = len({u.urn for u in users}) < len(users)
        need = None if within else _same_need(model, email, users)
        if need is not None:
            # Reported at every use but one, whatever order the engine registered them in: the ones sharing
            # widens last, callers after runtimes, then by name.
            widened = need.widened
            users = sorted(users, key=lambda u: (u.urn in widened, u.kind != "runtime", u.name))
        first = users[0]
        for use in users[1:]:
            if use.urn == first.urn:
                where = (
                    f"is both the {first.kind} identity ({first.path}) and the {use.kind} identity ({use.path}) "
                    f"of '{use.name}'"
                )
            else:
                where = (
                    f"is the {first.kind} identity of '{first.name}' and is also the {use.kind} identity of "
                    f"'{use.name}'"
                )
            fix = f"Set {use.path} of '{use.name}' to {_SETTERS[use.kind]}."
            if need is not None and need.same:
                out.append(
                    (
                        use.urn,
                        f"service account {email} {where}, and they use the same grants ({need.why}): sharing adds "
                        "no power to either, so this is a judgement call. A compromise of one is still a compromise of "
                        f"both, and their audit logs read as one account's. If they are separate jobs, {fix[0].lower()}"
                        f"{fix[1:]}",
                        False,
                    )
                )
                continue
            why = need.widened.get(use.urn, need.why) if need is not None else "they run different code"
            out.append(
                (
                    use.urn,
                    f"service account {email} {where}: {why}; a compromise of one is a compromise of both, and its "
                    f"grants cannot be scoped to one role. {fix}",
                    True,
                )
            )
    return out


@dataclass(frozen=True)
class _Need:
    """Whether the sharers use the same grants (`same`), why not or which (`why`), and per sharer (urn) that
    gains a grant only another one uses, which grant (`widened`)."""

    same: bool
    why: str
    widened: Mapping[str, str]


_TARGET_KEYS: Final = (
    "name", "service", "cloudFunction", "secretId", "topic", "subscription", "bucket", "repository", "datasetId",
    "dataset", "cryptoKeyId", "keyRingId", "instance", "instanceName", "serviceAccountId", "queue", "job",
)  # fmt: skip


def _targets_of(entry: StackGrants, grant: Grant) -> list[str]:
    """Short names of what a grant is on: its resource, or the resources its condition names; [] for a whole
    project, folder or organization."""
    if entry.scope == "resource":
        for key in _TARGET_KEYS:
            name = last_segment(get_str(entry.resource.props, key))
            if name:
                return [name.lower() if key == "serviceAccountId" else name]
        return []
    return [named.name for named in conditions.resource_scope(grant.condition)]


def _mentions(text: str, name: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9_.-]){re.escape(name)}(?![A-Za-z0-9_-])", text) is not None


def _same_need(model: StackModel, email: str, users: list[_Use]) -> _Need:
    """Do the workloads sharing `email` use the same grants of it? A grant is used by a workload whose known
    configuration names what it is on (not the workload itself), or that calls the service it is on."""
    graph = call_graph(model)
    callers = {caller.urn: caller for caller in graph.callers.all}
    resources = {r.urn: r for r in model.resources}
    texts = {u.urn: config_text(resources[u.urn].props) for u in users}
    own = {u.urn: service_names(resources[u.urn].type, resources[u.urn].props) | {u.name} for u in users}
    used: list[str] = []
    widened: dict[str, str] = {}
    unknown = ""
    for entry in model.grants:
        for grant in entry.grants:
            member = iam.known(grant.member)
            if member is None or iam.service_account(member) != email or not isinstance(grant.role, str):
                continue
            power = power_of(grant.role, model.custom_roles)
            harmless = power is not None and power.harmless
            targets = _targets_of(entry, grant)
            what = f"{grant.role} on {', '.join(targets) or f'the whole {entry.scope}'}"
            if not targets:
                if not harmless:  # (logs, metrics, traces: every workload needs them, sharing adds nothing)
                    unknown = unknown or f"it holds {what}, and the pack cannot tell which of them needs it"
                continue
            by = [u for u in users if any(_uses(u, t, texts, own, callers, graph) for t in targets)]
            if harmless and len(by) < len(users):
                continue  # on one resource, but adds nothing to whoever does not use it
            if not by:
                unknown = unknown or f"it holds {what}, which none of them names, so the pack cannot tell who needs it"
            elif len(by) < len(users):
                for without in (u for u in users if u not in by):
                    widened.setdefault(
                        without.urn,
                        f"it holds {what}, which '{by[0].name}' uses and '{without.name}' does not, so sharing gives "
                        f"'{without.name}' power it does not need",
                    )
            else:
                used.append(what)
    if widened:
        return _Need(False, next(iter(widened.values())), widened)
    if unknown:
        return _Need(False, unknown, {})
    if not used:
        return _Need(False, "the pack sees no grant they both use, so it cannot tell that sharing adds nothing", {})
    return _Need(True, "; ".join(sorted(set(used))[:3]), {})


def _uses(
    use: _Use,
    target: str,
    texts: Mapping[str, str],
    own: Mapping[str, set[str]],
    callers: Mapping[str, Caller],
    graph: CallGraph,
) -> bool:
    if target in own[use.urn]:
        return False  # a grant on the workload itself is not something it uses
    caller = callers.get(use.urn)
    if caller is not None and any(calls(caller, callee) for callee in graph.callees.get(target, [])):
        return True
    return _mentions(texts[use.urn], target)


# --- VMs, instance templates, GKE nodes ----------------------------------------------------------------------

_FULL_SCOPES: Final = frozenset({"https://www.googleapis.com/auth/cloud-platform", "cloud-platform"})


def _machine_identities(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    out: list[str] = []
    for path, value, scopes in machine_slots(resource_type, props):
        if value is UNKNOWN or is_unknown(value):
            continue
        text = value.strip() if isinstance(value, str) else ""
        if text and text.lower() != "default" and not is_default_account(service_account_email(text) or text):
            continue
        what = "is not set, so it runs as" if not text else "is"
        full = any(isinstance(s, str) and s.strip() in _FULL_SCOPES for s in elements(scopes))
        scope_note = (
            " With the cloud-platform scope every API that account may call is open to any code on the machine."
            if full
            else ""
        )
        out.append(
            f"{path} of {ctx.label} {what} the Compute Engine default service account, which is shared by every "
            f"default workload of the project and usually holds roles/editor.{scope_note} Set {path} to a "
            "dedicated service account holding only what the machine needs (e.g. roles/logging.logWriter and "
            "roles/monitoring.metricWriter for GKE nodes)."
        )
    return out


# Roles on a default account itself that let the member act as it or administer it.
def _powers_over_account(power: RolePower) -> bool:
    return bool(power.escalation or power.sets_service_account_iam or "service account" in power.writes)


def _default_accounts_granted_on(resource_type: str, props: Mapping[str, Any], grant: Grant) -> list[str]:
    """Default accounts a grant applies to: a grant on the account itself, or a project-level grant whose
    condition names it (`.../serviceAccounts/<default email>`)."""
    if type_module(resource_type).startswith("serviceaccount/"):
        email = service_account_email(get(props, "serviceAccountId"))
        return [email] if email and is_default_account(email) else []
    if grant_scope(resource_type) == "resource" or grant.condition_unknown:
        return []
    return [
        named.name.lower()
        for named in conditions.resource_scope(grant.condition)
        if named.collection == "serviceAccounts" and is_default_account(named.name)
    ]


def no_default_identity_grants(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """Roles granted to the Compute Engine, App Engine or legacy Cloud Build default service account: every
    workload left on defaults gets them too. And roles that let anyone act as or administer a default account,
    granted on that account: acting as it is acting as whatever it holds (often roles/editor)."""
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        member = iam.known(grant.member)
        email = iam.service_account(member) if member is not None else None
        role = grant.role if isinstance(grant.role, str) and not is_unknown(grant.role) else "a role"
        if email is not None and iam.is_default_account(email):
            out.append(
                f"{grant.where}: {role} is granted to the default service account {email} on {ctx.label} "
                f"({grant_scope(resource_type)} scope), so every workload left on the default identity gets it. "
                "Create a dedicated service account for the workload that needs it and grant the role to that "
                "account, on the one resource it uses, instead."
            )
            continue
        power = predefined(role) if role.startswith("roles/") else None
        if member is None or power is None or role in KEY_MINTING_ROLES or not _powers_over_account(power):
            continue  # (key minting is no-key-minting-grants' finding, on any account)
        for account in _default_accounts_granted_on(resource_type, props, grant):
            out.append(
                f"{grant.where}: {role} lets {member} act as or administer the default service account {account} "
                f"({ctx.label}), which is shared by every workload left on defaults and usually holds "
                "roles/editor: acting as it is acting as an editor of the project. Create a dedicated service "
                "account with only what is needed and grant this role on that account instead."
            )
            break
    return out
