"""What an identity holds: each of its grants as (role, permissions, scope, condition), from the IAM resources of
recorded runs (the bootstrap's preflight `--json`, the program itself) and roles given on the command line.
Predefined roles resolve through the role data, custom roles through their definition in a recorded run; a role
neither knows is kept with unknown permissions (it grants nothing the check can count on, and is reported)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from secure_invoke.policies.guardrails.iam import grants_of
from secure_invoke.preflight.deployer.data import predefined_roles
from secure_invoke.preflight.deployer.names import iam_target
from secure_invoke.preflight.engine.records import ProgramRun, Resource
from secure_invoke.preflight.outputs.wire import UNKNOWN

_CUSTOM_TYPES = {
    "gcp:projects/iAMCustomRole:IAMCustomRole": "projects",
    "gcp:organizations/iAMCustomRole:IAMCustomRole": "organizations",
}
MEMBER_KINDS = frozenset({"serviceAccount", "user", "group", "domain", "principal", "principalSet"})
_EMAIL = re.compile(r"^[^@:\s/]+@[^@:\s/]+$")


class IdentityError(Exception):
    """The identity or a role given for it cannot be used (one line naming the flag)."""


@dataclass(frozen=True)
class Holding:
    role: str
    scope: str  # the resource name the role is granted on (`projects/p`, `projects/p/serviceAccounts/e`, ...)
    permissions: frozenset[str] | None  # None: a role whose permissions are not known
    condition: Mapping[str, Any] | None
    source: str  # the URN of the IAM resource that grants it, or the flag

    def describe_scope(self) -> str:
        if self.scope.startswith("projects/") and self.scope.count("/") == 1:
            return f"project {self.scope.split('/', 1)[1]}"
        return self.scope


def run_from_json(document: Mapping[str, Any], origin: str) -> ProgramRun:
    """A preflight `--json` result as a ProgramRun (resources with their inputs, outputs and providers)."""
    resources = [
        Resource(
            urn=str(r.get("urn", "")),
            type=str(r.get("type", "")),
            name=str(r.get("name", "")),
            parent=r.get("parent"),
            custom=bool(r.get("custom")),
            inputs=dict(r.get("inputs") or {}),
            outputs=dict(r.get("outputs") or {}),
            dependencies=list(r.get("dependencies") or []),
            provider=r.get("provider"),
        )
        for r in document.get("resources") or []
        if isinstance(r, Mapping)
    ]
    return ProgramRun(
        project=str(document.get("project", "")),
        stack=str(document.get("stack", "")),
        preview=bool(document.get("preview")),
        resources=resources,
        outputs=dict(document.get("outputs") or {}),
        config={},
        secret_keys=set(),
        program_dir=Path(origin),
    )


def load_recorded(path: Path) -> Mapping[str, Any] | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(document, Mapping) and isinstance(document.get("resources"), list):
        return document
    return None


def resolve_member(spec: str, outputs: Mapping[str, Mapping[str, Any]], flag: str) -> str:
    """`serviceAccount:x@p.iam…`, `user:…`, … as given; `NAME:OUTPUT` reads a stack reference's output (an email
    becomes `serviceAccount:<email>`)."""
    kind, sep, rest = spec.partition(":")
    if sep and kind in outputs:
        value = outputs[kind].get(rest)
        if not isinstance(value, str) or not value or value == UNKNOWN:
            known = ", ".join(sorted(k for k, v in outputs[kind].items() if isinstance(v, str))[:8])
            raise IdentityError(f"{flag} {spec}: stack reference '{kind}' has no output '{rest}' (outputs: {known})")
        spec = value
    if _EMAIL.match(spec):
        return f"serviceAccount:{spec}"
    kind = spec.partition(":")[0]
    if kind not in MEMBER_KINDS:
        where = f"; stack references: {', '.join(sorted(outputs))}" if outputs else ""
        raise IdentityError(
            f"{flag} {spec}: '{kind}' is neither a member kind ({', '.join(sorted(MEMBER_KINDS))}) nor a "
            f"--stack-reference name{where}"
        )
    return spec


def _provider_project(run: ProgramRun, resource: Resource) -> tuple[str, str]:
    provider = run.by_urn().get(resource.provider_urn or "")
    inputs = provider.inputs if provider is not None else {}
    return str(inputs.get("project") or run.config.get("gcp:project") or ""), str(inputs.get("region") or "")


def custom_roles(runs: Iterable[ProgramRun]) -> dict[str, frozenset[str]]:
    """Custom roles defined in the runs: full name -> permissions."""
    found: dict[str, frozenset[str]] = {}
    for run in runs:
        for resource in run.resources:
            kind = _CUSTOM_TYPES.get(resource.type)
            if kind is None:
                continue
            role_id = resource.inputs.get("roleId")
            permissions = resource.inputs.get("permissions")
            if not isinstance(role_id, str) or not isinstance(permissions, list):
                continue
            owner = resource.inputs.get("project") or _provider_project(run, resource)[0]
            if kind == "organizations":
                owner = resource.inputs.get("orgId")
            found[f"{kind}/{owner}/roles/{role_id}"] = frozenset(p for p in permissions if isinstance(p, str))
    return found


def role_permissions(role: str, custom: Mapping[str, frozenset[str]]) -> frozenset[str] | None:
    if role in custom:
        return custom[role]
    return predefined_roles().get(role)


def holdings_of(member: str, runs: Iterable[ProgramRun], custom: Mapping[str, frozenset[str]]) -> list[Holding]:
    """Every grant to `member` in the runs' IAM resources, with the resource it is granted on."""
    out: list[Holding] = []
    for run in runs:
        for resource in run.resources:
            if not resource.custom:
                continue
            for grant in grants_of(resource.type, resource.inputs):
                if grant.member != member or not isinstance(grant.role, str):
                    continue
                project, region = _provider_project(run, resource)
                values = {**resource.outputs, **{k: v for k, v in resource.inputs.items() if v is not None}}
                target = iam_target(resource.type, values, project, region)
                scope = target.name if target is not None else f"(unresolved target of {resource.urn})"
                condition = grant.condition if isinstance(grant.condition, Mapping) else None
                out.append(Holding(grant.role, scope, role_permissions(grant.role, custom), condition, resource.urn))
    return out


def holdings_from_flags(
    specs: Iterable[str], default_scopes: Iterable[str], custom: Mapping[str, frozenset[str]], flag: str
) -> list[Holding]:
    """`--deployer-role ROLE[@SCOPE]`: ROLE on SCOPE (`projects/p`, a resource name), or on each project of the plan."""
    out: list[Holding] = []
    for spec in specs:
        role, _, scope = spec.partition("@")
        if not role.startswith(("roles/", "projects/", "organizations/")):
            raise IdentityError(f"{flag} {spec}: a role is roles/<name> or a custom role's full name")
        permissions = role_permissions(role, custom)
        if permissions is None:
            raise IdentityError(
                f"{flag} {spec}: {role} is neither a predefined role nor a custom role of a recorded run"
            )
        for where in [scope] if scope else list(default_scopes):
            out.append(
                Holding(role, where if "/" in where else f"projects/{where}", permissions, None, f"{flag} {spec}")
            )
    return out
