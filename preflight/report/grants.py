"""Who may do what on which resource, and who runs as whom, as the report shows them: read from the pack's own
model of the stack (`secure_invoke.policies.guardrails.stack`, `.iam`), so the picture is what the pack judged."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

from secure_invoke.policies.guardrails import iam
from secure_invoke.policies.guardrails.stack import StackModel, StackResource
from secure_invoke.preflight.engine.records import Resource

__all__ = ["Grant", "RunsAs", "grants_of", "is_broad", "is_public", "model_of", "runs_as_of"]

# What the report says of a Cloud Run service that lets anyone invoke it (iam.open_access).
_INVOKER_CHECK_OFF = " (invoker IAM check disabled)"


class _Triple(NamedTuple):
    member: str
    role: str
    resource: str  # a readable description of what the role is granted on


class Grant(_Triple):
    """Compares and unpacks as (member, role, resource); also knows the IAM resource that grants it."""

    urn: str
    condition: str | None

    def __new__(cls, member: str, role: str, resource: str, urn: str = "", condition: str | None = None) -> Grant:
        grant = super().__new__(cls, member, role, resource)
        grant.urn = urn
        grant.condition = condition
        return grant

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"member": self.member, "role": self.role, "resource": self.resource, "urn": self.urn}
        if self.condition:
            data["condition"] = self.condition
        return data


class RunsAs(NamedTuple):
    """A workload (as the report names it) runs as a service account through one of its identity settings."""

    workload: str
    path: str
    member: str  # serviceAccount:<email>


def is_public(member: str) -> bool:
    """Anyone on the internet, as no-public-members judges a member."""
    return iam.public_member(member)


def is_broad(member: str) -> bool:
    """Public, a whole customer or domain, or a wildcard principal set, as the pack judges a member."""
    return iam.broad_member(member)


def _condition(grant: iam.Grant) -> str | None:
    """The condition as the table and graph show it: its title, else its expression."""
    if isinstance(grant.condition, Mapping):
        return iam.shown(grant.condition.get("title") or grant.condition.get("expression")) or None
    return iam.UNKNOWN_TEXT if grant.condition_unknown else None


def model_of(resources: Iterable[Resource]) -> StackModel:
    """The pack's model of the program's stack, from what each resource declares (its inputs, as the pack's
    resource policies judge them; AnalyzeStack's outputs hold the same grants and identities)."""
    return StackModel([{"type": r.type, "urn": r.urn, "name": r.name, "props": r.inputs} for r in resources])


def _label(resource: StackResource) -> str:
    return iam.resource_label(resource.type, iam.shown(resource.props.get("name") or resource.name))


def grants_of(resources: Iterable[Resource], model: StackModel | None = None) -> list[Grant]:
    """Every grant the program makes, in registration order; a Cloud Run service whose invoker check is off
    shows as allUsers holding roles/run.invoker on it."""
    model = model if model is not None else model_of(resources)
    found: list[Grant] = []
    for entry in model.access:
        resource = entry.resource
        if entry.by_setting:
            first = entry.grants[0]
            role = iam.shown(first.role) + _INVOKER_CHECK_OFF
            found.append(Grant(iam.shown(first.member), role, _label(resource), resource.urn))
            continue
        target = iam.grant_resource(resource.type, resource.props)
        found += [
            Grant(iam.shown(grant.member), iam.shown(grant.role), target, resource.urn, _condition(grant))
            for grant in entry.grants
        ]
    return found


def runs_as_of(resources: Iterable[Resource], model: StackModel | None = None) -> list[RunsAs]:
    """Who runs as whom: every identity setting of a workload, caller or machine that names a service account."""
    model = model if model is not None else model_of(resources)
    return [
        RunsAs(_label(runs.resource), runs.slot.path, f"serviceAccount:{runs.email}")
        for runs in (*model.runs_as, *model.machines)
        if runs.email is not None
    ]
