"""Identities: every workload and caller runs as its own, dedicated, non-default service account."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .context import RuleContext
from .model import (
    IDENTITY_TYPES,
    identity_slots,
    is_default_service_account,
    service_account_email,
)
from .values import UNKNOWN, get, get_str

_SETTERS = {
    "runtime": "a dedicated service account created for this workload",
    "trigger": "a dedicated trigger service account (roles/run.invoker on this function's service only)",
    "build": "a dedicated build service account's full name (projects/<p>/serviceAccounts/<email>)",
    "scheduler": "a dedicated service account for this job (roles/run.invoker on the one service it calls)",
    "push subscription": "a dedicated service account for this subscription (roles/run.invoker on its endpoint only)",
    "eventarc": "a dedicated service account for this trigger (roles/eventarc.eventReceiver, and roles/run.invoker "
    "on its destination only)",
}


def workload_identity_set(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """No service account set (falls back to the Compute Engine default) or a default one set; for callers
    (scheduler jobs, push subscriptions, Eventarc triggers) wherever they request a token."""
    out: list[str] = []
    if resource_type not in IDENTITY_TYPES:
        return out
    for slot in identity_slots(resource_type, props):
        if slot.value is UNKNOWN:
            continue
        if slot.value is None:
            if slot.falls_back:
                why = (
                    f"so its {slot.kind} identity falls back to the Compute Engine default service account "
                    "(broad project access)"
                )
            else:
                why = "although it requests a token: the identity that token is minted for must be named"
            out.append(f"{slot.path} is not set on {ctx.label}, {why}. Set {slot.path} to {_SETTERS[slot.kind]}.")
            continue
        email = service_account_email(slot.value)
        if email and is_default_service_account(email):
            out.append(
                f"{slot.path} of {ctx.label} is the default service account {email}, which is shared and "
                f"usually holds roles/editor. Set {slot.path} to {_SETTERS[slot.kind]}."
            )
    return out


def workload_identities(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str]]:
    """Across the stack: one service account in two identity slots (runtime, trigger, build, or a scheduler/
    push subscription/Eventarc caller identity), across resources or within one function; and a default
    service account in any slot of the deployed state. Reported at every use after the first."""
    uses: dict[str, list[tuple[str, str, str, str]]] = defaultdict(list)  # email -> (urn, name, kind, path)
    out: list[tuple[str, str]] = []
    for resource in resources:
        rtype = get_str(resource, "type")
        urn = get_str(resource, "urn")
        if not isinstance(rtype, str) or rtype not in IDENTITY_TYPES or not isinstance(urn, str):
            continue
        name = get_str(resource, "name")
        name = name if isinstance(name, str) else urn
        props = get(resource, "props")
        if not isinstance(props, Mapping):
            continue
        for slot in identity_slots(rtype, props):
            email = service_account_email(slot.value)
            if not email:
                continue
            if is_default_service_account(email):
                out.append(
                    (
                        urn,
                        f"'{name}' runs its {slot.kind} identity ({slot.path}) as the default service account "
                        f"{email}. Set {slot.path} to {_SETTERS[slot.kind]}.",
                    )
                )
                continue
            uses[email].append((urn, name, slot.kind, slot.path))
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
