"""Identities: every workload runs as its own, dedicated, non-default service account."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from .context import RuleContext
from .model import (
    WORKLOAD_TYPES,
    identity_slots,
    is_default_service_account,
    service_account_email,
)
from .values import UNKNOWN, get, get_str

_SETTERS = {
    "runtime": "a dedicated service account created for this workload",
    "trigger": "a dedicated trigger service account (roles/run.invoker on this function's service only)",
    "build": "a dedicated build service account's full name (projects/<p>/serviceAccounts/<email>)",
}


def workload_identity_set(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """No service account set (falls back to the Compute Engine default) or a default one set."""
    out: list[str] = []
    if resource_type not in WORKLOAD_TYPES:
        return out
    for slot in identity_slots(resource_type, props):
        if slot.value is UNKNOWN:
            continue
        if slot.value is None:
            out.append(
                f"{slot.path} is not set on {ctx.label}, so its {slot.kind} identity falls back to the "
                f"Compute Engine default service account (broad project access). Set {slot.path} to "
                f"{_SETTERS[slot.kind]}."
            )
            continue
        email = service_account_email(slot.value)
        if email and is_default_service_account(email):
            out.append(
                f"{slot.path} of {ctx.label} is the default service account {email}, which is shared and "
                f"usually holds roles/editor. Set {slot.path} to {_SETTERS[slot.kind]}."
            )
    return out


def workload_identities(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str]]:
    """Across the stack: a runtime identity used by two workloads, or reused as another workload's
    trigger/build identity; and a default service account in a workload's deployed state."""
    uses: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # email -> (urn, name, kind)
    out: list[tuple[str, str]] = []
    for resource in resources:
        rtype = get_str(resource, "type")
        urn = get_str(resource, "urn")
        if not isinstance(rtype, str) or rtype not in WORKLOAD_TYPES or not isinstance(urn, str):
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
            uses[email].append((urn, name, slot.kind))
    for email, users in uses.items():
        runtime_users = [u for u in users if u[2] == "runtime"]
        if not runtime_users:
            continue
        # One workload's own trigger/build identities may not double as its runtime, nor may two workloads share.
        if len(users) < 2:
            continue
        first_urn, first_name, _ = runtime_users[0]
        for urn, name, kind in users:
            if (urn, kind) == (first_urn, "runtime"):
                continue
            out.append(
                (
                    urn,
                    f"service account {email} is the runtime identity of '{first_name}' and is also the {kind} "
                    f"identity of '{name}': a compromise of one is a compromise of both, and its grants cannot "
                    f"be scoped to one caller. Create a dedicated service account for the {kind} identity of "
                    f"'{name}'.",
                )
            )
    return out
