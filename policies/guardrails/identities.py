"""Identities: every workload and caller runs as its own, dedicated, non-default service account."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final

from . import conditions, iam
from .context import RuleContext
from .iam import KEY_MINTING_ROLES, Grant, grant_scope, grants_of, is_default_account, service_account_email
from .power import RolePower, predefined
from .stack import StackModel
from .values import UNKNOWN, elements, get, is_unknown, type_module
from .workloads import IDENTITY_TYPES, RUNS_AS_TYPES, identity_slots, machine_slots

__all__ = ["no_default_identity_grants", "workload_identities", "workload_identity_set"]

_SETTERS = {
    "runtime": "a dedicated service account created for this workload",
    "trigger": "a dedicated trigger service account (roles/run.invoker on this function's service only)",
    "build": "a dedicated build service account's full name (projects/<p>/serviceAccounts/<email>)",
    "scheduler": "a dedicated service account for this job (roles/run.invoker on the one service it calls)",
    "push subscription": "a dedicated service account for this subscription (roles/run.invoker on its endpoint only)",
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
    push subscription/Eventarc caller identity), across resources or within one function. Reported at every
    use after the first. VMs and GKE nodes are left out: instances of one template, or a cluster and its
    node pools, share an identity by design."""
    uses: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)  # email -> (urn, name, kind, path)
    out: list[tuple[str, str]] = []
    for runs in model.runs_as:
        resource, email = runs.resource, runs.email
        # A default account in a slot is workload-identity-set's finding, not a second one here.
        if resource.type not in IDENTITY_TYPES or not email or is_default_account(email):
            continue
        uses[email].append((resource.urn, resource.name or resource.urn, runs.slot.kind, runs.slot.path))
    for email, users in uses.items():
        first_urn, first_name, first_kind, first_path = users[0]
        for urn, name, kind, path in users[1:]:
            if urn == first_urn:
                where = f"is both the {first_kind} identity ({first_path}) and the {kind} identity ({path}) of '{name}'"
            else:
                where = f"is the {first_kind} identity of '{first_name}' and is also the {kind} identity of '{name}'"
            out.append(
                (
                    urn,
                    f"service account {email} {where}: a compromise of one is a compromise of both, and its grants "
                    f"cannot be scoped to one role. Set {path} of '{name}' to {_SETTERS[kind]}.",
                )
            )
    return out


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
