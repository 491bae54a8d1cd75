"""What a deploy (or a preview) asks Google for: every permission each step of the plan needs, on which resource.

Per resource of the plan, from the provider's own calls (provider_methods.json): `create` for a resource the
plan creates — the create call on its parent, the operation polls, the read that follows; `read`, `update` and
`delete` for the resource itself, because the deployer owns its whole life (the next plan may change or remove
it). A resource the identity already holds a grant on exists before the deploy (a grant needs its resource),
so it needs no `create`. Beyond the provider's calls: `iam.serviceAccounts.actAs` on every account a workload,
trigger, job or build runs as; the provider functions (invokes) the program calls; image pushes to Artifact
Registry; and the state backend and secrets provider when they are given. A preview needs only the invokes and
the backend reads: it registers nothing with Google.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from secure_invoke.policies.guardrails.workloads import APP_ENGINE_DEFAULT, BUILD_DEFAULT, identity_slots
from secure_invoke.preflight.deployer.additions import (
    ACT_AS,
    AR_PUSH,
    CHECKED_ELSEWHERE,
    IMAGE_TYPES,
    INVOKES,
    PULUMI_GCS_BACKEND,
    PULUMI_KMS,
    RUNS_AS_EXTRA,
    STEP_OVERRIDES,
)
from secure_invoke.preflight.deployer.data import method_permissions, provider_methods
from secure_invoke.preflight.deployer.names import (
    Target,
    fill,
    iam_target,
    parent_of,
    project_of,
    project_target,
    resource_target,
    service_account_name,
)
from secure_invoke.preflight.engine.records import PROVIDER_PREFIX, ProgramRun, Resource
from secure_invoke.preflight.outputs.formats import project_number
from secure_invoke.preflight.outputs.wire import UNKNOWN

STEPS = ("create", "read", "update", "delete")
_AR_HOST = re.compile(r"^([a-z0-9-]+)-docker\.pkg\.dev/([^/]+)/([^/]+)/")


@dataclass(frozen=True)
class Need:
    """`permission` on `target`, for `step` of the resource `urn` (shown as `label`), through `via`."""

    urn: str
    label: str
    step: str
    permission: str
    target: Target
    via: str
    modified_roles: tuple[str, ...] | None = None  # setIamPolicy: the roles the change grants or removes
    # Checked on a resource the call only names (another project's topic): its project's APIs are not called.
    elsewhere: bool = False


@dataclass(frozen=True)
class Unknown:
    urn: str
    label: str
    what: str


@dataclass(frozen=True)
class Backend:
    """The stack's state bucket (`gs://b`) and secrets key (`gcpkms://projects/.../cryptoKeys/k`), when known."""

    state_bucket: str | None = None
    secrets_key: str | None = None


@dataclass
class Plan:
    needs: list[Need] = field(default_factory=list)
    unknown: list[Unknown] = field(default_factory=list)
    outside: dict[str, int] = field(default_factory=dict)  # non-Google types: how many resources
    existing: list[str] = field(default_factory=list)  # resources taken as existing (no create)
    projects: set[str] = field(default_factory=set)
    services: dict[str, list[str]] = field(default_factory=dict)  # project -> APIs the plan calls
    notes: list[str] = field(default_factory=list)


def is_iam_type(token: str) -> bool:
    """A resource that changes an IAM policy: members, bindings, policies, audit configs."""
    from secure_invoke.policies.guardrails.iam import is_grant_type

    return is_grant_type(token) or token.endswith("IAMAuditConfig")


def label_of(resource: Resource) -> str:
    parts = resource.type.split(":")
    shown = (
        f"{parts[0]}:{parts[1].split('/', 1)[0]}:{parts[2]}" if len(parts) == 3 and "/" in parts[1] else resource.type
    )
    return f"{shown} {resource.name}"


def _values(resource: Resource) -> dict[str, Any]:
    values = dict(resource.outputs)
    values.update({k: v for k, v in resource.inputs.items() if v is not None})
    values.setdefault("id", resource.id)
    return values


def _provider_settings(run: ProgramRun, resource: Resource) -> tuple[str, str]:
    by_urn = run.by_urn()
    provider = by_urn.get(resource.provider_urn or "")
    inputs = provider.inputs if provider is not None else {}
    project = inputs.get("project") or run.config.get("gcp:project") or ""
    region = inputs.get("region") or run.config.get("gcp:region") or ""
    return str(project), str(region)


def _modified_roles(resource: Resource) -> tuple[str, ...]:
    from secure_invoke.policies.guardrails.iam import grants_of

    return tuple(sorted({g.role for g in grants_of(resource.type, resource.inputs) if isinstance(g.role, str)}))


class Planner:
    def __init__(self, run: ProgramRun, existing: set[str], backend: Backend | None) -> None:
        self.run = run
        self.existing_names = existing
        self.backend = backend or Backend()
        self.plan = Plan()

    def _add(self, resource: Resource | None, label: str, step: str, method: str, target: Target, **extra: Any) -> None:
        urn = resource.urn if resource is not None else ""
        found = method_permissions(method)
        if found is None:
            self.plan.unknown.append(Unknown(urn, label, f"{step} calls {method}, whose permissions nobody lists"))
            return
        for permission in found.permissions:
            self.plan.needs.append(Need(urn, label, step, permission, target, method, **extra))

    def _need(
        self, resource: Resource | None, label: str, step: str, permission: str, target: Target, via: str
    ) -> None:
        urn = resource.urn if resource is not None else ""
        self.plan.needs.append(Need(urn, label, step, permission, target, via))

    def deploy(self) -> Plan:
        for resource in self.run.resources:
            if not resource.custom or resource.type.startswith(PROVIDER_PREFIX):
                continue
            if resource.type in IMAGE_TYPES:
                self._image(resource)
            elif resource.type.startswith("gcp:"):
                self._resource(resource)
            elif resource.type.startswith("pulumi:"):
                continue
            else:
                package = resource.type.split(":", 1)[0]
                self.plan.outside[package] = self.plan.outside.get(package, 0) + 1
        self._invokes()
        self._backend(write=True)
        return self._finish()

    def preview(self) -> Plan:
        self._invokes()
        self._backend(write=False)
        return self._finish()

    def _uses(self, project: str, service: str) -> None:
        if not project:
            return
        self.plan.projects.add(project)
        services = self.plan.services.setdefault(project, [])
        if service and service not in services:
            services.append(service)

    def _finish(self) -> Plan:
        for need in self.plan.needs:
            if (need.urn or need.step == "invoke") and not need.elsewhere:
                self._uses(need.target.project, need.target.service)
        return self.plan

    def _resource(self, resource: Resource) -> None:
        label = label_of(resource)
        entry = provider_methods().get(resource.type)
        if entry is None:
            self.plan.unknown.append(Unknown(resource.urn, label, f"{resource.type} is not in the provider table"))
            return
        project, region = _provider_settings(self.run, resource)
        values = _values(resource)
        iam = is_iam_type(resource.type)
        target = (
            iam_target(resource.type, values, project, region)
            if iam
            else resource_target(resource.type, values, project, region)
        )
        if target is None:
            self.plan.unknown.append(Unknown(resource.urn, label, "its resource name cannot be built from its inputs"))
            return
        if entry.get("unresolved"):
            for line in entry["unresolved"]:
                step = line.split(":", 1)[0].split(" ", 1)[0]
                if step in STEPS:
                    self.plan.unknown.append(
                        Unknown(resource.urn, label, f"a call of its {line} is not in the discovery")
                    )
        self._uses(target.project, entry.get("service", ""))
        existing = not iam and target.name in self.existing_names
        if existing:
            self.plan.existing.append(label)
        steps = [s for s in STEPS if not (s == "create" and existing)]
        options = resource.options or {}
        if options.get("protect") or options.get("retainOnDelete"):
            steps = [s for s in steps if s != "delete"]
        modified = _modified_roles(resource) if iam else None
        for step in steps:
            dropped, _why = STEP_OVERRIDES.get((resource.type, step), (frozenset(), ""))
            methods = [m for m in entry.get(step, []) if m not in dropped]
            if step == "update":
                for prop, extra in (entry.get("updateWhenSet") or {}).items():
                    if resource.inputs.get(prop) is not None:
                        methods += extra
            for method in methods:
                where = self._where(method, step, target, iam)
                roles = modified if method.endswith("setIamPolicy") else None
                self._add(resource, label, step, method, where, modified_roles=roles)
            self._elsewhere(resource, label, step, values, project, region)
        self._runs_as(resource, label, project, steps)

    def _elsewhere(
        self, resource: Resource, label: str, step: str, values: Mapping[str, Any], project: str, region: str
    ) -> None:
        """What `step` checks on a resource its inputs name (CHECKED_ELSEWHERE), e.g. the topic a subscription
        attaches to, which may be another team's in another project."""
        for permission, template, service, kind, method, _source in CHECKED_ELSEWHERE.get((resource.type, step), ()):
            name = fill(template, values, project, region)
            if name is None:
                self.plan.unknown.append(Unknown(resource.urn, label, f"{step} checks {permission} on {template}, "
                                                 "whose name cannot be built from its inputs"))  # fmt: skip
                continue
            where = Target(name, project_of(name, {}, project), service, kind)
            self.plan.needs.append(Need(resource.urn, label, step, permission, where, method, elsewhere=True))

    @staticmethod
    def _where(method: str, step: str, target: Target, iam: bool) -> Target:
        last = method.rsplit(".", 1)[-1]
        if method.endswith("operations.get"):
            return project_target(target.project, target.service)
        if not iam and step == "create" and last in ("create", "insert"):
            return parent_of(target)
        return target

    def _runs_as(self, resource: Resource, label: str, project: str, steps: list[str]) -> None:
        accounts: list[tuple[str, str]] = []  # (account name, what)
        for slot in identity_slots(resource.type, resource.inputs):
            if isinstance(slot.value, str) and slot.value != UNKNOWN:
                accounts.append((service_account_name(slot.value, project), f"{slot.kind} identity ({slot.path})"))
            elif slot.value is None and slot.falls_back and slot.default not in (BUILD_DEFAULT,):
                default = (
                    f"{project}@appspot.gserviceaccount.com"
                    if slot.default == APP_ENGINE_DEFAULT
                    else f"{project_number(project)}-compute@developer.gserviceaccount.com"
                )
                accounts.append((service_account_name(default, project), f"{slot.kind} identity (default, unset)"))
        for path in RUNS_AS_EXTRA.get(resource.type, ()):
            value: Any = resource.inputs
            for step in path:
                value = value.get(step) if isinstance(value, Mapping) else None
                if isinstance(value, list) and value:
                    value = value[0]
            if isinstance(value, str) and value != UNKNOWN:
                accounts.append((service_account_name(value, project), f"runs as {'.'.join(map(str, path))}"))
        for name, what in accounts:
            target = Target(name, name.split("/")[1], "iam.googleapis.com", "iam.googleapis.com/ServiceAccount")
            for step in ("create", "update"):
                if step in steps:
                    self._need(resource, label, step, "iam.serviceAccounts.actAs", target, f"actAs: {what}; {ACT_AS}")

    def _image(self, resource: Resource) -> None:
        push_key, tags_key = IMAGE_TYPES[resource.type]
        if push_key and resource.inputs.get(push_key) is not True:
            return
        tags = resource.inputs.get(tags_key)
        tags = tags if isinstance(tags, list) else [tags]
        label = label_of(resource)
        for tag in tags:
            if not isinstance(tag, str):
                continue
            match = _AR_HOST.match(tag)
            if match is None:
                if ".gcr.io/" in tag or tag.startswith("gcr.io/"):
                    self.plan.unknown.append(Unknown(resource.urn, label, f"pushes to Container Registry ({tag})"))
                continue
            location, project, repository = match.groups()
            target = Target(
                f"projects/{project}/locations/{location}/repositories/{repository}",
                project,
                "artifactregistry.googleapis.com",
                "artifactregistry.googleapis.com/Repository",
            )
            for permission in (
                "artifactregistry.repositories.uploadArtifacts",
                "artifactregistry.repositories.downloadArtifacts",
            ):
                self._need(resource, label, "create", permission, target, f"image push; {AR_PUSH}")
                self._need(resource, label, "update", permission, target, f"image push; {AR_PUSH}")

    def _invokes(self) -> None:
        seen: set[tuple[str, str]] = set()
        for invoke in self.run.invokes:
            if not invoke.token.startswith("gcp:"):
                continue
            label = f"invoke {invoke.token.rsplit(':', 1)[-1]}"
            project = str(invoke.args.get("project") or invoke.provider_inputs.get("project") or "")
            region = str(invoke.provider_inputs.get("region") or "")
            known = INVOKES.get(invoke.token, ...)
            if known is None:
                continue
            if known is ...:
                self.plan.unknown.append(
                    Unknown("", label, f"{invoke.token} is not in the table of provider functions")
                )
                continue
            method, template = known
            values = {"projectId": project, "project": project, **invoke.args}
            name = fill(template, values, project, region)
            if name is None:
                self.plan.unknown.append(
                    Unknown("", label, f"its target ({template}) cannot be built from its arguments")
                )
                continue
            if (method, name) in seen:
                continue
            seen.add((method, name))
            target = project_target(project) if name == f"projects/{project}" else Target(name, project)
            self._add(None, label, "invoke", method, target)

    def _backend(self, write: bool) -> None:
        bucket = self.backend.state_bucket
        if bucket:
            target = Target(
                f"projects/_/buckets/{bucket}", "", "storage.googleapis.com", "storage.googleapis.com/Bucket"
            )
            verbs = ("get", "list", "create", "delete") if write else ("get", "list")
            for verb in verbs:
                self._need(
                    None, f"state backend gs://{bucket}", "state", f"storage.objects.{verb}", target, PULUMI_GCS_BACKEND
                )
        key = self.backend.secrets_key
        if key:
            match = re.match(r"^projects/([^/]+)/", key)
            target = Target(
                key, match.group(1) if match else "", "cloudkms.googleapis.com", "cloudkms.googleapis.com/CryptoKey"
            )
            self._need(
                None,
                "secrets provider gcpkms://",
                "state",
                "cloudkms.cryptoKeyVersions.useToDecrypt",
                target,
                PULUMI_KMS,
            )


def deploy_plan(run: ProgramRun, existing: Iterable[str] = (), backend: Backend | None = None) -> Plan:
    return Planner(run, set(existing), backend).deploy()


def preview_plan(run: ProgramRun, backend: Backend | None = None) -> Plan:
    return Planner(run, set(), backend).preview()
