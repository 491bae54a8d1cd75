"""What a stack plans, as local mode reads it: the JSON report of `python -m secure_invoke.preflight --json FILE`.

Local mode runs what the program plans, not a copy of it: the front-end stand-in's invoker members are the
`roles/run.invoker` grants on the service, its audiences the service's URL and custom audiences; the worker's
environment is the planned container's; and each caller Google would run (a Cloud Scheduler job, a Pub/Sub push
subscription, a Cloud Tasks queue, a workflow) is read off its planned resource: where it sends, as whom, with
which token audience, what body and headers. An invoker no resource of the plan places is a workload elsewhere
(`service-account`). So "the invoker grants the stack produces" is literal, and a variant program that grants
or configures something else is run as planned.

    plan = load_plan(Path("out/preflight-dev.json"), "worker")
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

RUN_SERVICE = "gcp:cloudrunv2/service:Service"
FUNCTION = "gcp:cloudfunctionsv2/function:Function"
SCHEDULER_JOB = "gcp:cloudscheduler/job:Job"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
QUEUE = "gcp:cloudtasks/queue:Queue"
WORKFLOW = "gcp:workflows/workflow:Workflow"
INVOKER_ROLE = "roles/run.invoker"
PUBLISHER_ROLE = "roles/pubsub.publisher"
SUBSCRIBER_ROLE = "roles/pubsub.subscriber"


class PlanError(ValueError):
    """The report does not plan what local mode needs (one line, naming what is missing)."""


@dataclass(frozen=True)
class Call:
    """One caller of the service as Google (or the workload) runs it, from its planned configuration.

    `kind`: `scheduler`, `pubsub-push`, `cloud-tasks`, `workflows`, or `service-account` (an invoker no resource of
    the plan places: a workload elsewhere, whose audience is its own code's). `audience` is what the caller is
    configured to mint its token for (None: not configured, so Google's default, the target URL)."""

    name: str
    kind: str
    email: str
    path: str
    audience: str | None
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    """The planned service, its invokers and callers, and the relay that calls it (if the program has one)."""

    project: str
    region: str
    service_name: str
    url: str
    audiences: tuple[str, ...]
    env: Mapping[str, str]
    invokers: frozenset[str]
    calls: tuple[Call, ...]
    grants: tuple[Mapping[str, str], ...]
    relay_email: str | None = None
    relay_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def custom_audience(self) -> str:
        """The audience the worker checks (INVOKER_AUDIENCE), else the service's first audience."""
        return self.env.get("INVOKER_AUDIENCE") or self.audiences[0]

    def call(self, kind: str) -> Call:
        found = [c for c in self.calls if c.kind == kind]
        if len(found) != 1:
            raise PlanError(f"the plan has {len(found)} callers of kind {kind!r} of {self.service_name}, not one")
        return found[0]

    def holds(self, member: str, role: str, resource: str) -> bool:
        """Does the plan grant `role` to `member` on `resource` (as preflight names it: `<type> <name>`)?"""
        return any(g["member"] == member and g["role"] == role and g["resource"] == resource for g in self.grants)


def load_plan(report: Path, service: str = "worker") -> Plan:
    """The plan of the Cloud Run service whose resource is named `service`, from a preflight JSON report."""
    try:
        data = json.loads(report.read_text())
    except (OSError, ValueError) as exc:
        raise PlanError(f"{report}: not a preflight JSON report ({exc})") from None
    resources = data.get("resources")
    if not isinstance(resources, list):
        raise PlanError(f"{report}: no resources (was it written by preflight --json?)")
    services = [r for r in resources if r.get("type") == RUN_SERVICE and r.get("name") == service]
    if len(services) != 1:
        raise PlanError(f"{report}: {len(services)} Cloud Run services named {service!r}, expected one")
    svc = services[0]
    name = str(svc["outputs"].get("name") or svc["inputs"].get("name"))
    url = str(svc["outputs"].get("uri", "")).rstrip("/")
    if not url.startswith("https://"):
        raise PlanError(f"{report}: service {service!r} has no planned URL")
    custom = svc["outputs"].get("customAudiences") or svc["inputs"].get("customAudiences") or []
    audiences = (*(str(a) for a in custom), url)
    (container,) = svc["inputs"]["template"]["containers"]
    env = {e["name"]: e["value"] for e in container.get("envs", []) if isinstance(e.get("value"), str)}
    grants = tuple(g for g in data.get("grants", []) if isinstance(g, dict))
    target = f"cloudrunv2/service {name}"
    invokers = frozenset(g["member"] for g in grants if g["role"] == INVOKER_ROLE and g["resource"] == target)
    relay_email, relay_env = _relay(resources, url)
    placed = {relay_email} if relay_email else set()
    calls = list(_google_calls(resources, url))
    placed |= {c.email for c in calls}
    operators = {e.strip() for e in env.get("OPERATOR_INVOKERS", "").split(",") if e.strip()}
    names = {g["member"]: _grant_name(g, service) for g in grants if g["role"] == INVOKER_ROLE}
    for member in sorted(invokers):
        kind, _, email = member.partition(":")
        if kind == "serviceAccount" and email not in placed and email not in operators:
            calls.append(Call(names.get(member) or email.split("@")[0], "service-account", email, "/jobs", None))
    project = str(svc["inputs"].get("project", ""))
    return Plan(
        project=project,
        region=str(svc["inputs"].get("location", "")),
        service_name=name,
        url=url,
        audiences=audiences,
        env=env,
        invokers=invokers,
        calls=tuple(calls),
        grants=grants,
        relay_email=relay_email,
        relay_env=relay_env,
    )


def _grant_name(grant: Mapping[str, str], service: str) -> str:
    """A caller's name from its grant's (`<service>-invoker-<name>`, as PrivateService names it), else the grant's."""
    name = str(grant.get("urn", "")).rsplit("::", 1)[-1]
    return name.removeprefix(f"{service}-invoker-")


def _relay(resources: list[dict[str, Any]], url: str) -> tuple[str | None, dict[str, str]]:
    for r in resources:
        if r.get("type") != FUNCTION:
            continue
        config = r["inputs"].get("serviceConfig", {})
        env = config.get("environmentVariables") or {}
        if str(env.get("WORKER_URL", "")).rstrip("/") == url:
            return config.get("serviceAccountEmail"), dict(env)
    return None, {}


def _path_on(uri: object, url: str) -> str | None:
    """The path of `uri` on the service at `url`, or None if it targets something else."""
    if not isinstance(uri, str):
        return None
    parts, service = urlsplit(uri), urlsplit(url)
    if parts.hostname != service.hostname:
        return None
    return parts.path or "/"


def _google_calls(resources: list[dict[str, Any]], url: str) -> Iterator[Call]:
    host = urlsplit(url).hostname
    for r in resources:
        rtype, name, inputs = r.get("type"), str(r.get("name")), r.get("inputs") or {}
        if rtype == SCHEDULER_JOB:
            target = inputs.get("httpTarget") or {}
            token = target.get("oidcToken") or {}
            path = _path_on(target.get("uri"), url)
            if path and token.get("serviceAccountEmail"):
                yield Call(name, "scheduler", token["serviceAccountEmail"], path, token.get("audience"), inputs)
        elif rtype == SUBSCRIPTION:
            push = inputs.get("pushConfig") or {}
            token = push.get("oidcToken") or {}
            path = _path_on(push.get("pushEndpoint"), url)
            if path and token.get("serviceAccountEmail"):
                yield Call(name, "pubsub-push", token["serviceAccountEmail"], path, token.get("audience"), inputs)
        elif rtype == QUEUE:
            target = inputs.get("httpTarget") or {}
            token = target.get("oidcToken") or {}
            override = target.get("uriOverride") or {}
            if override.get("host") == host and token.get("serviceAccountEmail"):
                path = (override.get("pathOverride") or {}).get("path") or "/"
                yield Call(name, "cloud-tasks", token["serviceAccountEmail"], path, token.get("audience"), inputs)
        elif rtype == WORKFLOW:
            step = workflow_http_step(inputs.get("sourceContents"))
            path = _path_on((step or {}).get("url"), url)
            if step is not None and path and inputs.get("serviceAccount"):
                auth = step.get("auth") or {}
                yield Call(name, "workflows", inputs["serviceAccount"], path, auth.get("audience"), inputs)


def workflow_http_step(source: object) -> dict[str, Any] | None:
    """The `args` of the workflow's first `http.post` step with OIDC auth (JSON source, as PrivateService writes
    it), or None."""
    if not isinstance(source, str):
        return None
    try:
        document = json.loads(source)
    except ValueError:
        return None
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("call") == "http.post" and isinstance(node.get("args"), dict):
                args = node["args"]
                if isinstance(args.get("auth"), dict) and args["auth"].get("type") == "OIDC":
                    return args
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return None


def scheduler_body(call: Call) -> bytes:
    """What a scheduler job posts: its planned body (base64, as the API takes it)."""
    encoded = (call.inputs.get("httpTarget") or {}).get("body") or ""
    return base64.b64decode(encoded)
