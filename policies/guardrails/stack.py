"""The model of a whole stack, built once from its resources: who has access to what (grants, and settings
that open a resource to everyone: iam.py), the custom roles it defines, who runs as whom (workloads.py), the
accounts it creates, and, when a policy asks, who calls what (invoker_graph.py). Every stack policy reads it,
once per AnalyzeStack; a judgement several policies report on is made once per model and settings
(`judged`). Preflight's report builds it from the same resources for its IAM table and graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final, TypeVar

from . import iam
from .iam import Grant, grant_scope, grants_of, is_grant_type, open_access, service_account_email
from .power import RolePower, classify
from .role_power import CUSTOM_ROLE_NAME, CUSTOM_ROLE_TYPES, CustomRoles, impersonation_power, power_of
from .values import get, get_list, get_str, is_unknown, last_segment, stack_of_urn
from .workloads import IdentitySlot, identity_slots, machine_slots

__all__ = ["SERVICE_ACCOUNT", "DefinedRoles", "Identities", "RunsAs", "StackGrants", "StackModel", "StackResource"]

SERVICE_ACCOUNT: Final = "gcp:serviceaccount/account:Account"
# Properties a resource's short name may be in (for conditions that name resources by prefix).
_NAME_KEYS: Final = ("name", "id", "secretId", "repositoryId", "datasetId", "accountId", "workloadIdentityPoolId")

_T = TypeVar("_T")


@dataclass(frozen=True)
class StackResource:
    type: str
    urn: str
    props: Mapping[str, Any]
    name: str | None


def stack_resources(resources: Iterable[Mapping[str, Any]]) -> Iterator[StackResource]:
    """The resources of a stack policy's input whose type, URN and properties can be read (others can't be
    judged), with their name where it is known."""
    for resource in resources:
        rtype, urn, props = get(resource, "type"), get(resource, "urn"), get(resource, "props")
        if isinstance(rtype, str) and isinstance(urn, str) and isinstance(props, Mapping):
            name = get_str(resource, "name")
            yield StackResource(rtype, urn, props, name if isinstance(name, str) else None)


@dataclass(frozen=True)
class StackGrants:
    """The grants one IAM resource of the stack makes, and the scope it makes them at; or (`by_setting`) the
    access a resource gives everyone by a setting (iam.open_access: a Cloud Run service without its invoker
    check)."""

    resource: StackResource
    scope: str  # project | folder | organization | resource (iam.grant_scope)
    grants: tuple[Grant, ...]
    by_setting: bool = False


@dataclass(frozen=True)
class RunsAs:
    """One identity setting of a workload or caller of the stack, and the service account it names (None:
    not set, unknown, or no service account)."""

    resource: StackResource
    slot: IdentitySlot
    email: str | None


@dataclass(frozen=True)
class DefinedRoles:
    """The custom roles the stack defines: full names, (projects|organizations, roleId) pairs, and whether
    some roleId is not known yet (then any custom role granted might be one of them)."""

    names: frozenset[str]
    ids: frozenset[tuple[str, str]]
    unknown: bool


@dataclass(frozen=True)
class Identities:
    """Who the stack can place: identities its workloads and callers run as, accounts it creates, and the
    impersonation grants on each account it creates."""

    placed: Mapping[str, str]  # email -> name of a resource that runs as it
    created: frozenset[str]
    impersonators: Mapping[str, list[str]]  # created account email -> members with impersonation power on it


class StackModel:
    """A stack as the pack reads it, built once: what the stack policies judge and preflight's report shows."""

    def __init__(self, resources: Sequence[Mapping[str, Any]]) -> None:
        self.resources: tuple[StackResource, ...] = tuple(stack_resources(resources))
        self._judged: dict[Hashable, Any] = {}
        access: list[StackGrants] = []
        runs_as: list[RunsAs] = []
        machines: list[RunsAs] = []
        created: set[str] = set()
        for resource in self.resources:
            rtype, props = resource.type, resource.props
            if is_grant_type(rtype):
                access.append(StackGrants(resource, grant_scope(rtype), tuple(grants_of(rtype, props))))
                continue
            opened = open_access(rtype, props)
            if opened:
                access.append(StackGrants(resource, "resource", tuple(opened), by_setting=True))
            for slot in identity_slots(rtype, props):
                runs_as.append(RunsAs(resource, slot, service_account_email(slot.value)))
            for path, value, _scopes in machine_slots(rtype, props):
                machines.append(RunsAs(resource, IdentitySlot("machine", path, value), service_account_email(value)))
            if rtype == SERVICE_ACCOUNT:
                email = get_str(props, "email")
                if isinstance(email, str) and "@" in email:
                    created.add(email.lower())
        # Who has access to what, in the order of the resources: grants, and access given by a setting.
        self.access: tuple[StackGrants, ...] = tuple(access)
        # The grants the stack's IAM resources make (what the stack policies judge).
        self.grants: tuple[StackGrants, ...] = tuple(entry for entry in access if not entry.by_setting)
        # The identity settings of workloads and callers (what the stack can place), and of machines (VMs,
        # instance templates, GKE nodes: judged on their own, never a caller's identity).
        self.runs_as: tuple[RunsAs, ...] = tuple(runs_as)
        self.machines: tuple[RunsAs, ...] = tuple(machines)
        self.created: frozenset[str] = frozenset(created)

    @cached_property
    def stack(self) -> str:
        """The stack's name, from the first URN that carries one."""
        return next((s for s in (stack_of_urn(r.urn) for r in self.resources) if s), "")

    @cached_property
    def custom_roles(self) -> CustomRoles:
        """The custom roles the stack defines, by every name a grant may use for them (role_power.power_of)."""
        found: dict[str, RolePower] = {}
        for resource in self.resources:
            if resource.type not in CUSTOM_ROLE_TYPES:
                continue
            permissions = get_list(resource.props, "permissions")
            if not isinstance(permissions, list):
                continue
            power = classify(p for p in permissions if isinstance(p, str) and not is_unknown(p))
            for key in ("name", "id"):
                value = get_str(resource.props, key)
                if isinstance(value, str) and CUSTOM_ROLE_NAME.match(value):
                    found[value] = power
            role_id = get_str(resource.props, "roleId")
            if isinstance(role_id, str):
                found[f"*/roles/{role_id}"] = power
        return found

    @cached_property
    def defined_roles(self) -> DefinedRoles:
        names: set[str] = set()
        ids: set[tuple[str, str]] = set()
        unknown = False
        for resource in self.resources:
            if resource.type not in CUSTOM_ROLE_TYPES:
                continue
            kind = "projects" if resource.type.startswith("gcp:projects/") else "organizations"
            for key in ("name", "id"):
                value = get_str(resource.props, key)
                if isinstance(value, str) and CUSTOM_ROLE_NAME.match(value):
                    names.add(value)
            role_id = get_str(resource.props, "roleId")
            if isinstance(role_id, str):
                ids.add((kind, role_id))
            else:
                unknown = True
        return DefinedRoles(frozenset(names), frozenset(ids), unknown)

    @cached_property
    def declared_names(self) -> frozenset[str]:
        """Short names of the resources the stack declares (not of the grants that refer to them)."""
        names: set[str] = set()
        for resource in self.resources:
            if is_grant_type(resource.type):
                continue
            for key in _NAME_KEYS:
                segment = last_segment(get_str(resource.props, key))
                if segment:
                    names.add(segment)
        return frozenset(names)

    @cached_property
    def identities(self) -> Identities:
        placed: dict[str, str] = {}
        for runs in self.runs_as:
            if runs.email:
                placed.setdefault(runs.email, runs.resource.name or runs.resource.type)
        impersonators: dict[str, list[str]] = defaultdict(list)
        for entry in self.grants:
            resource = entry.resource
            if not resource.type.startswith("gcp:serviceaccount/"):
                continue
            target = service_account_email(get(resource.props, "serviceAccountId"))
            if target is None or target not in self.created:
                continue
            for grant in entry.grants:
                power = power_of(grant.role, self.custom_roles) if isinstance(grant.role, str) else None
                member = iam.known(grant.member)
                # Setting IAM on the account is impersonation power too: the holder can grant itself the rest.
                if power is not None and impersonation_power(power, on_service_account=True) and member is not None:
                    impersonators[target].append(member)
        return Identities(placed, self.created, dict(impersonators))

    def judged(self, key: Hashable, judge: Callable[[], _T]) -> _T:
        """A judgement of this stack that depends only on the model and `key` (the settings it reads): made
        once, whichever policy asks first, and the same for every policy that asks."""
        if key not in self._judged:
            self._judged[key] = judge()
        return self._judged[key]
