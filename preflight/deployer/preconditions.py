"""What Google enforces when it deploys, beyond permissions — findings of the same check:

- **secret-version**: a Cloud Run revision (service, job, gen2 function) that reads a secret as an environment
  variable resolves it when an instance starts, and a deploy starts one: a secret this plan creates has no
  version until something adds one, so the revision fails unless a secret version of that secret is created
  before it (the workload depends on it). A secret mounted as a file is read when the file is read, so a
  revision starts without a version (Cloud Run: "Configure secrets"), and a secret the plan does not create is
  taken to have its versions already.
- **build-grants-wait**: a gen2 function's build runs as its build account as soon as the function is created;
  grants to that account made in the same update may not have taken effect (IAM: "changes typically take
  effect within 2 minutes", https://cloud.google.com/iam/docs/access-change-propagation). Google's own example
  (Terraform "cloudfunctions2_basic_builder") waits 60 s after them (`time_sleep`): the function must wait for
  a sleep of at least 60 s that itself follows every such grant.
- **api-not-enabled**: a Google API the plan calls in a project where no recorded run (the bootstrap) enables
  it (`gcp:projects/service:Service`) or lists it (an output `{"project": p, "services": [...]}`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from secure_invoke.policies.guardrails.iam import grants_of, service_account_email
from secure_invoke.preflight.deployer.check import Finding
from secure_invoke.preflight.deployer.plan import Plan, label_of
from secure_invoke.preflight.engine.records import ProgramRun, Resource
from secure_invoke.preflight.outputs.wire import UNKNOWN

SECRET = "gcp:secretmanager/secret:Secret"  # noqa: S105 (a type token)
SECRET_VERSION = "gcp:secretmanager/secretVersion:SecretVersion"  # noqa: S105 (a type token)
FUNCTION_V2 = "gcp:cloudfunctionsv2/function:Function"
GRANT_WAIT_SECONDS = 60
# APIs a resource needs enabled beyond the one it is called through (Cloud Functions 2nd gen builds with Cloud
# Build into Artifact Registry and runs on Cloud Run; its triggers are Eventarc's).
IMPLIED_APIS: Mapping[str, tuple[str, ...]] = {
    FUNCTION_V2: (
        "cloudbuild.googleapis.com",
        "artifactregistry.googleapis.com",
        "run.googleapis.com",
        "eventarc.googleapis.com",
    ),
    "gcp:cloudfunctions/function:Function": ("cloudbuild.googleapis.com",),
}
_DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")


def _deps(run: ProgramRun) -> dict[str, set[str]]:
    """URN -> what it waits for: its dependencies, and a component's descendants (waiting for a component waits
    for everything below it)."""
    children: dict[str, set[str]] = {}
    for resource in run.resources:
        if resource.parent:
            children.setdefault(resource.parent, set()).add(resource.urn)

    def below(urn: str) -> set[str]:
        out: set[str] = set()
        todo = list(children.get(urn, ()))
        while todo:
            child = todo.pop()
            if child not in out:
                out.add(child)
                todo.extend(children.get(child, ()))
        return out

    graph: dict[str, set[str]] = {}
    for resource in run.resources:
        edges = set(resource.dependencies)
        for urns in resource.property_dependencies.values():
            edges |= set(urns)
        for edge in list(edges):
            edges |= below(edge)
        graph[resource.urn] = edges
    return graph


def _upstream(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        urn = todo.pop()
        if urn in seen:
            continue
        seen.add(urn)
        todo.extend(graph.get(urn, ()))
    return seen


def _names(resource: Resource) -> set[str]:
    values = {**resource.outputs, **resource.inputs}
    found = {str(values[k]) for k in ("secretId", "name", "id") if isinstance(values.get(k), str)}
    found.add(resource.id)
    return {n for n in found if n and n != UNKNOWN} | {n.rsplit("/", 1)[-1] for n in found if n and "/" in n}


def _env_secret_refs(resource: Resource) -> list[str]:
    """Secrets a workload reads as environment variables (not as mounted files)."""
    inputs = resource.inputs
    refs: list[str] = []
    if resource.type in ("gcp:cloudrunv2/service:Service", "gcp:cloudrunv2/job:Job"):
        template = inputs.get("template") or {}
        if resource.type.endswith("job:Job"):
            template = template.get("template") or {}
        for container in template.get("containers") or []:
            for env in (container or {}).get("envs") or []:
                ref = ((env or {}).get("valueSource") or {}).get("secretKeyRef") or {}
                if isinstance(ref.get("secret"), str):
                    refs.append(ref["secret"])
    elif resource.type == "gcp:cloudrun/service:Service":
        spec = ((inputs.get("template") or {}).get("spec")) or {}
        for container in spec.get("containers") or []:
            for env in (container or {}).get("envs") or []:
                ref = ((env or {}).get("valueFrom") or {}).get("secretKeyRef") or {}
                if isinstance(ref.get("name"), str):
                    refs.append(ref["name"])
    elif resource.type == FUNCTION_V2:
        for entry in (inputs.get("serviceConfig") or {}).get("secretEnvironmentVariables") or []:
            if isinstance((entry or {}).get("secret"), str):
                refs.append(entry["secret"])
    elif resource.type == "gcp:cloudfunctions/function:Function":
        for entry in inputs.get("secretEnvironmentVariables") or []:
            if isinstance((entry or {}).get("secret"), str):
                refs.append(entry["secret"])
    return refs


def secret_versions(run: ProgramRun, graph: Mapping[str, set[str]]) -> list[Finding]:
    secrets = [r for r in run.resources if r.type == SECRET and r.custom]
    versions = [r for r in run.resources if r.type == SECRET_VERSION and r.custom]
    out: list[Finding] = []
    for workload in run.resources:
        for ref in _env_secret_refs(workload):
            short = ref.rsplit("/", 1)[-1]
            secret = next((s for s in secrets if ref in _names(s) or short in _names(s)), None)
            if secret is None:
                continue  # not created by this plan: its versions are taken to exist
            own = [v for v in versions if str(v.inputs.get("secret", "")).rsplit("/", 1)[-1] in _names(secret)]
            before = _upstream(graph, workload.urn)
            if any(v.urn in before for v in own):
                continue
            why = (
                "a version of it is created, but not before it (add it to depends_on)"
                if own
                else "nothing creates a version of it"
            )
            out.append(
                Finding(
                    "secret-version",
                    workload.urn,
                    f"{label_of(workload)} reads secret {short} (created by this plan) as an environment variable, "
                    f"and {why}: Cloud Run resolves it when the revision's first instance starts, so the deploy "
                    "fails. Create a gcp.secretmanager.SecretVersion the workload depends on, or mount the secret "
                    "as a file (read when used).",
                )
            )
    return out


def _seconds(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value)
    if not match or not any(match.groups()):
        return None
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def build_grant_waits(run: ProgramRun, graph: Mapping[str, set[str]]) -> list[Finding]:
    out: list[Finding] = []
    sleeps = [r for r in run.resources if r.custom and r.type.endswith("/sleep:Sleep")]
    for function in run.resources:
        if function.type != FUNCTION_V2 or not function.custom:
            continue
        email = service_account_email((function.inputs.get("buildConfig") or {}).get("serviceAccount"))
        if email is None:
            continue
        grants = [
            r
            for r in run.resources
            if r.custom and any(g.member == f"serviceAccount:{email}" for g in grants_of(r.type, r.inputs))
        ]
        if not grants:
            continue
        before = _upstream(graph, function.urn)
        waits = [s for s in sleeps if s.urn in before and {g.urn for g in grants} <= _upstream(graph, s.urn)]
        long_enough = [s for s in waits if (_seconds(s.inputs.get("createDuration")) or 0) >= GRANT_WAIT_SECONDS]
        if long_enough:
            continue
        names = ", ".join(g.name for g in grants[:4]) + (" …" if len(grants) > 4 else "")
        if waits:
            how = f"waits only {waits[0].inputs.get('createDuration')} after them"
        elif all(g.urn in before for g in grants):
            how = "depends on them but does not wait for them to take effect"
        else:
            how = "may start before them"
        out.append(
            Finding(
                "build-grants-wait",
                function.urn,
                f"{label_of(function)} builds as {email}, whose grants in this update ({names}) may not be in effect "
                f"yet: it {how}. IAM changes take up to minutes to propagate; Google's own example waits "
                f"{GRANT_WAIT_SECONDS} s (a time.Sleep of createDuration ≥ {GRANT_WAIT_SECONDS}s that depends on the "
                "grants, and the function depends on it).",
            )
        )
    return out


def enabled_apis(runs: Iterable[ProgramRun]) -> dict[str, set[str]]:
    """project -> APIs enabled (projects.Service resources) or listed (`{"project", "services"}` outputs)."""
    found: dict[str, set[str]] = {}
    for run in runs:
        for resource in run.resources:
            if resource.type == "gcp:projects/service:Service" and resource.custom:
                project = resource.inputs.get("project") or run.config.get("gcp:project")
                service = resource.inputs.get("service")
                if isinstance(project, str) and isinstance(service, str):
                    found.setdefault(project, set()).add(service)
        for value in run.outputs.values():
            if isinstance(value, Mapping) and isinstance(value.get("project"), str):
                services = value.get("services")
                if isinstance(services, list):
                    found.setdefault(value["project"], set()).update(s for s in services if isinstance(s, str))
    return found


def apis(run: ProgramRun, plan: Plan, recorded: list[ProgramRun]) -> list[Finding]:
    if not recorded:
        return []
    enabled = enabled_apis([*recorded, run])
    needed = {project: set(services) for project, services in plan.services.items() if project}
    for resource in run.resources:
        for api in IMPLIED_APIS.get(resource.type, ()):
            for project in {n.target.project for n in plan.needs if n.urn == resource.urn and n.step != "state"}:
                needed.setdefault(project, set()).add(api)
    out: list[Finding] = []
    for project in sorted(needed):
        missing = sorted(needed[project] - enabled.get(project, set()))
        if missing:
            out.append(
                Finding(
                    "api-not-enabled",
                    "",
                    f"project {project}: the plan calls {', '.join(missing)}, which no recorded run enables "
                    "(gcp.projects.Service) or lists; a call to a disabled API fails with SERVICE_DISABLED. "
                    "Enable them in the bootstrap.",
                )
            )
    return out


def preconditions(run: ProgramRun, plan: Plan, recorded: list[ProgramRun]) -> list[Finding]:
    graph = _deps(run)
    return [*secret_versions(run, graph), *build_grant_waits(run, graph), *apis(run, plan, recorded)]
