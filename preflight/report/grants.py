"""Who may do what on which resource: (member, role, resource) triples from IAM resources of any type."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from secure_invoke.preflight.engine.records import Resource
from secure_invoke.preflight.outputs.wire import UNKNOWN

# Inputs of an IAM resource that say *how* it grants, not *on what*.
_NON_TARGET_KEYS = {"member", "members", "role", "condition", "policyData", "etag", "project", "location", "region"}
# Preferred identifiers of the target, most specific first.
_TARGET_KEYS = (
    "name",
    "service",
    "cloudFunction",
    "serviceAccountId",
    "secretId",
    "topic",
    "subscription",
    "bucket",
    "repository",
    "dataset",
    "datasetId",
    "tableId",
    "instance",
    "keyRing",
    "cryptoKeyId",
    "folder",
    "orgId",
)


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


def iam_kind(type_: str) -> str | None:
    """'member', 'binding' or 'policy' for IAM resource type tokens of any provider module."""
    last = type_.rsplit(":", 1)[-1].lower()
    for kind in ("member", "binding", "policy"):
        if last.endswith(f"iam{kind}"):
            return kind
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if value == UNKNOWN:
        return "(unknown until deployed)"
    return str(value)


def target_of(resource: Resource) -> str:
    """e.g. `cloudrunv2/service worker-dev`, `project my-project`, `storage/bucket src-1a2b`."""
    token = resource.type.split(":")
    module = token[1] if len(token) > 2 else resource.type
    module = module.split("/", 1)[0]
    inputs = resource.inputs
    if module in ("projects", "organizations", "folder") and not any(k in inputs for k in _TARGET_KEYS):
        if "folder" in inputs:
            return f"folder {_text(inputs['folder'])}"
        if "orgId" in inputs:
            return f"organization {_text(inputs['orgId'])}"
        return f"project {_text(inputs.get('project') or '(provider default)')}"
    kind = token[-1]
    for suffix in ("IamMember", "IAMMember", "IamBinding", "IAMBinding", "IamPolicy", "IAMPolicy"):
        if kind.endswith(suffix):
            kind = kind[: -len(suffix)]
            break
    kind = f"{module}/{kind[:1].lower()}{kind[1:]}" if kind else module
    for key in _TARGET_KEYS:
        if key in inputs:
            return f"{kind} {_text(inputs[key])}"
    rest = [f"{k}={_text(v)}" for k, v in sorted(inputs.items()) if k not in _NON_TARGET_KEYS]
    return f"{kind} {' '.join(rest)}".strip()


def _condition(value: Any) -> str | None:
    if isinstance(value, dict):
        return _text(value.get("title") or value.get("expression")) or None
    return None


_INVOKER_CHECK_OFF = "roles/run.invoker (invoker IAM check disabled)"


def _invoker_check_disabled(resource: Resource) -> list[Grant]:
    """A Cloud Run service without the invoker check lets anyone invoke it: show that as the grant it is."""
    inputs = resource.inputs
    disabled = False
    if resource.type == "gcp:cloudrunv2/service:Service":
        disabled = inputs.get("invokerIamDisabled") is True
    elif resource.type == "gcp:cloudrun/service:Service":
        annotations = (inputs.get("metadata") or {}).get("annotations") or {}
        disabled = str(annotations.get("run.googleapis.com/invoker-iam-disabled", "")).lower() == "true"
    if not disabled:
        return []
    name = resource.outputs.get("name") or inputs.get("name") or resource.name
    kind = resource.type.split(":")[1].split("/")[0]
    return [Grant("allUsers", _INVOKER_CHECK_OFF, f"{kind}/service {_text(name)}", resource.urn)]


def grants_of_resource(resource: Resource) -> list[Grant]:
    if resource.type in ("gcp:cloudrunv2/service:Service", "gcp:cloudrun/service:Service"):
        return _invoker_check_disabled(resource)
    kind = iam_kind(resource.type)
    if kind is None or not resource.custom:
        return []
    inputs = resource.inputs
    target = target_of(resource)
    if kind == "member":
        return [
            Grant(
                _text(inputs.get("member")),
                _text(inputs.get("role")),
                target,
                resource.urn,
                _condition(inputs.get("condition")),
            )
        ]
    if kind == "binding":
        members = inputs.get("members")
        if members == UNKNOWN or not isinstance(members, list):
            members = [members]
        return [
            Grant(_text(m), _text(inputs.get("role")), target, resource.urn, _condition(inputs.get("condition")))
            for m in members
        ]
    policy_data = inputs.get("policyData")
    if policy_data == UNKNOWN:
        return [Grant(_text(UNKNOWN), _text(UNKNOWN), target, resource.urn)]
    try:
        policy = json.loads(policy_data) if isinstance(policy_data, str) else policy_data
    except ValueError:
        return [Grant("(unparseable policyData)", "", target, resource.urn)]
    grants: list[Grant] = []
    for binding in (policy or {}).get("bindings") or []:
        for member in binding.get("members") or []:
            grants.append(
                Grant(
                    _text(member),
                    _text(binding.get("role")),
                    target,
                    resource.urn,
                    _condition(binding.get("condition")),
                )
            )
    return grants


def grants_of(resources: Iterable[Resource]) -> list[Grant]:
    """Every grant the program makes, in registration order."""
    return [grant for resource in resources for grant in grants_of_resource(resource)]
