"""The intended-caller rule: every identity that can invoke a Cloud Run service (or a gen2 function's
underlying service) must be the runtime identity of a workload in the stack that calls it — its env holds
the service's URL or one of its audiences — or, for a gen2 function, that function's trigger identity."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .context import RuleContext
from .model import (
    FUNCTION_V2,
    INVOKE_PERMISSION,
    RUN_INVOKE_ROLES,
    RUN_MANAGE_ROLES,
    RUN_V1_SERVICE,
    RUN_V2_SERVICE,
    WORKLOAD_TYPES,
    endpoints_of,
    env_vars,
    grant_target,
    grants_of,
    identity_slots,
    member_email,
    service_account_email,
    service_names,
)
from .roles import CUSTOM_ROLE_TYPES
from .values import UNKNOWN, get, get_list, get_str, is_unknown

_CALLABLE_TYPES = (RUN_V2_SERVICE, RUN_V1_SERVICE, FUNCTION_V2)


@dataclass
class _Workload:
    urn: str
    name: str
    runtime: set[str] = field(default_factory=set)
    runtime_unknown: bool = False
    env_values: list[str] = field(default_factory=list)
    env_unknown: bool = False


@dataclass
class _Callee:
    urn: str
    name: str
    resource_type: str
    endpoints: list[str]
    endpoints_unknown: bool
    triggers: set[str] = field(default_factory=set)
    triggers_unknown: bool = False


def _calls(workload: _Workload, endpoints: Sequence[str]) -> bool:
    for value in workload.env_values:
        text = value.strip().rstrip("/")
        for endpoint in endpoints:
            if text == endpoint or text.startswith((endpoint + "/", endpoint + "?")):
                return True
    return False


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


def only_intended_invokers(resources: Sequence[Mapping[str, Any]], ctx: RuleContext) -> list[tuple[str, str]]:
    workloads: list[_Workload] = []
    callees: dict[str, list[_Callee]] = defaultdict(list)
    for resource in resources:
        rtype, urn, props = get(resource, "type"), get(resource, "urn"), get(resource, "props")
        if rtype not in WORKLOAD_TYPES or not isinstance(urn, str) or not isinstance(props, Mapping):
            continue
        name = get_str(resource, "name")
        name = name if isinstance(name, str) else urn
        workload = _Workload(urn, name)
        for slot in identity_slots(rtype, props):
            if slot.kind != "runtime":
                continue
            if slot.value is UNKNOWN:
                workload.runtime_unknown = True
            email = service_account_email(slot.value)
            if email:
                workload.runtime.add(email)
        for env in env_vars(rtype, props):
            if is_unknown(env.value):
                workload.env_unknown = True
            elif isinstance(env.value, str):
                workload.env_values.append(env.value)
        workloads.append(workload)
        if rtype in _CALLABLE_TYPES:
            endpoints, endpoints_unknown = endpoints_of(rtype, props)
            callee = _Callee(urn, name, rtype, endpoints, endpoints_unknown)
            if rtype == FUNCTION_V2:
                for slot in identity_slots(rtype, props):
                    if slot.kind == "trigger":
                        callee.triggers_unknown |= slot.value is UNKNOWN
                        email = service_account_email(slot.value)
                        if email:
                            callee.triggers.add(email)
            for service_name in service_names(rtype, props, name):
                callees[service_name].append(callee)

    custom_invoke = _custom_invoke_roles(resources)
    out: list[tuple[str, str]] = []
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
            out.extend(_judge(urn, grant.where, role, member, callees[target], workloads))
    return out


def _judge(
    grant_urn: str,
    where: str,
    role: str,
    member: str,
    targets: list[_Callee],
    workloads: list[_Workload],
) -> list[tuple[str, str]]:
    email = member_email(member) if member.startswith("serviceAccount:") else None
    allowed: set[str] = set()
    ambiguous = False
    for callee in targets:
        allowed |= callee.triggers
        ambiguous |= callee.triggers_unknown or callee.endpoints_unknown
        for workload in workloads:
            if workload.urn == callee.urn:
                continue  # its own env names its URL as the audience it verifies, not as a call
            if _calls(workload, callee.endpoints):
                allowed |= workload.runtime
                ambiguous |= workload.runtime_unknown
            elif workload.env_unknown:
                ambiguous = True
    callee_names = " / ".join(sorted({c.name for c in targets}))
    callers = sorted(allowed)
    fix_member = f"serviceAccount:{callers[0]}" if len(callers) == 1 else "serviceAccount:<caller runtime email>"
    if email and email in allowed:
        if role in RUN_MANAGE_ROLES:
            return [
                (
                    grant_urn,
                    f"{where}: {member} only needs to call '{callee_names}' but holds {role}, which also lets "
                    f"it redeploy or re-permission the service; grant roles/run.invoker on the service to "
                    f"{member} instead of {role}.",
                )
            ]
        return []
    if ambiguous and email is not None:
        # Some callers are not known yet (preview): only judge an identity that cannot be one of them.
        could_be_caller = any(email in w.runtime or w.runtime_unknown for w in workloads)
        if could_be_caller or any(c.triggers_unknown for c in targets):
            return []
    why = (
        "is not a service account"
        if email is None
        else "is not the runtime identity of any workload in this stack that calls it "
        "(no workload's environment holds its URL or audience)"
    )
    return [
        (
            grant_urn,
            f"{where}: {member} can invoke '{callee_names}' through {role} but {why}. Remove this grant; "
            f"grant roles/run.invoker on the service to {fix_member} instead of {member}.",
        )
    ]
