"""What a workload declares: the identities it runs or calls as, its env and configuration (and what of it
the pack cannot read), the URLs and names it is reached at. Derived from pulumi-gcp type tokens and the
engine's camelCase property names, so the rules work on any program."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .values import (
    UNKNOWN,
    UNKNOWN_SENTINELS,
    Unknown,
    elements,
    get,
    get_list,
    get_map,
    get_str,
    is_true,
    is_unknown,
    items,
    last_segment,
    type_module,
)

__all__ = [
    "API_GATEWAY_CONFIG",
    "CALLER_TYPES",
    "EVENTARC_TRIGGER",
    "FUNCTION_V1",
    "FUNCTION_V2",
    "IDENTITY_TYPES",
    "MACHINE_TYPES",
    "MORE_WORKLOAD_TYPES",
    "PUSH_SUBSCRIPTION",
    "RUNS_AS_TYPES",
    "RUN_SERVICE_TYPES",
    "RUN_V1_SERVICE",
    "RUN_V2_JOB",
    "RUN_V2_SERVICE",
    "RUN_V2_WORKER_POOL",
    "SCHEDULER_JOB",
    "WORKLOAD_TYPES",
    "EnvVar",
    "IdentitySlot",
    "config_text",
    "endpoints_of",
    "env_vars",
    "gateway_documents",
    "grant_target",
    "has_unknown",
    "hidden_config",
    "identity_slots",
    "machine_slots",
    "mentions",
    "service_names",
]

FUNCTION_V2: Final = "gcp:cloudfunctionsv2/function:Function"
FUNCTION_V1: Final = "gcp:cloudfunctions/function:Function"
RUN_V2_SERVICE: Final = "gcp:cloudrunv2/service:Service"
RUN_V2_JOB: Final = "gcp:cloudrunv2/job:Job"
RUN_V2_WORKER_POOL: Final = "gcp:cloudrunv2/workerPool:WorkerPool"
RUN_V1_SERVICE: Final = "gcp:cloudrun/service:Service"
WORKLOAD_TYPES: Final = frozenset(
    {FUNCTION_V2, FUNCTION_V1, RUN_V2_SERVICE, RUN_V2_JOB, RUN_V2_WORKER_POOL, RUN_V1_SERVICE}
)
RUN_SERVICE_TYPES: Final = frozenset({RUN_V2_SERVICE, RUN_V1_SERVICE})


SCHEDULER_JOB: Final = "gcp:cloudscheduler/job:Job"
PUSH_SUBSCRIPTION: Final = "gcp:pubsub/subscription:Subscription"
EVENTARC_TRIGGER: Final = "gcp:eventarc/trigger:Trigger"
API_GATEWAY_CONFIG: Final = "gcp:apigateway/apiConfig:ApiConfig"
# Resources that call other services as a service account (an OIDC/OAuth token minted for it).
CALLER_TYPES: Final = frozenset({SCHEDULER_JOB, PUSH_SUBSCRIPTION, EVENTARC_TRIGGER, API_GATEWAY_CONFIG})
IDENTITY_TYPES: Final = WORKLOAD_TYPES | CALLER_TYPES

# More workloads that run code as a service account and fall back to a default one when it is not set
# (pulumi-gcp field names; tests/policies/test_gcp_types.py checks them against the provider).
WORKFLOW: Final = "gcp:workflows/workflow:Workflow"
BUILD_TRIGGER: Final = "gcp:cloudbuild/trigger:Trigger"
DATAFLOW_JOB: Final = "gcp:dataflow/job:Job"
DATAFLOW_FLEX_JOB: Final = "gcp:dataflow/flexTemplateJob:FlexTemplateJob"
DATAPROC_CLUSTER: Final = "gcp:dataproc/cluster:Cluster"
COMPOSER_ENVIRONMENT: Final = "gcp:composer/environment:Environment"
WORKBENCH_INSTANCE: Final = "gcp:workbench/instance:Instance"
APP_ENGINE_FLEX: Final = "gcp:appengine/flexibleAppVersion:FlexibleAppVersion"
APP_ENGINE_STANDARD: Final = "gcp:appengine/standardAppVersion:StandardAppVersion"
MORE_WORKLOAD_TYPES: Final = frozenset(
    {
        WORKFLOW,
        BUILD_TRIGGER,
        DATAFLOW_JOB,
        DATAFLOW_FLEX_JOB,
        DATAPROC_CLUSTER,
        COMPOSER_ENVIRONMENT,
        WORKBENCH_INSTANCE,
        APP_ENGINE_FLEX,
        APP_ENGINE_STANDARD,
    }
)
# Everything that runs (or sends requests) as a service account it names, or as a default one.
RUNS_AS_TYPES: Final = IDENTITY_TYPES | MORE_WORKLOAD_TYPES

COMPUTE_DEFAULT: Final = "the Compute Engine default service account"
APP_ENGINE_DEFAULT: Final = "the App Engine default service account (<project>@appspot.gserviceaccount.com)"
BUILD_DEFAULT: Final = (
    "a default build service account (the legacy Cloud Build account or, in newer projects, the Compute Engine "
    "default service account)"
)


@dataclass(frozen=True)
class IdentitySlot:
    kind: str  # runtime | trigger | build | scheduler | push subscription | eventarc | workflow | worker
    path: str
    value: Any  # str | UNKNOWN | None (not set)
    falls_back: bool = True  # unset means GCP uses a default SA (False: the token request is just incomplete)
    default: str = COMPUTE_DEFAULT  # what GCP runs it as when unset


def identity_slots(resource_type: str, props: Mapping[str, Any]) -> list[IdentitySlot]:
    """The service-account settings a workload has; value None means not set (falls back to a default).

    Long by nature: one line per workload type, the field pulumi-gcp names its identity by, in one table."""

    def slot(kind: str, *path: str | int, falls_back: bool = True, default: str = COMPUTE_DEFAULT) -> IdentitySlot:
        value = get(props, *path)
        if value is not UNKNOWN and not (isinstance(value, str) and value.strip()):
            value = None
        return IdentitySlot(kind, ".".join(str(p) for p in path), value, falls_back, default)

    def token_slots(kind: str, *token_paths: tuple[str, ...]) -> list[IdentitySlot]:
        # Only where a token is requested: an unauthenticated push or HTTP call has no identity.
        slots: list[IdentitySlot] = []
        for token_path in token_paths:
            token = get(props, *token_path)
            if token is UNKNOWN or isinstance(token, Mapping):
                slots.append(slot(kind, *token_path, "serviceAccountEmail", falls_back=False))
        return slots

    if resource_type == FUNCTION_V2:
        slots = [slot("runtime", "serviceConfig", "serviceAccountEmail")]
        trigger = get(props, "eventTrigger")
        if trigger is UNKNOWN or isinstance(trigger, Mapping):
            slots.append(slot("trigger", "eventTrigger", "serviceAccountEmail"))
        slots.append(slot("build", "buildConfig", "serviceAccount", default=BUILD_DEFAULT))
        return slots
    if resource_type == FUNCTION_V1:
        # 1st gen functions run as the App Engine default account when none is set.
        return [
            slot("runtime", "serviceAccountEmail", default=APP_ENGINE_DEFAULT),
            slot("build", "buildServiceAccount", default=BUILD_DEFAULT),
        ]
    if resource_type in (RUN_V2_SERVICE, RUN_V2_WORKER_POOL):
        return [slot("runtime", "template", "serviceAccount")]
    if resource_type == RUN_V2_JOB:
        return [slot("runtime", "template", "template", "serviceAccount")]
    if resource_type == RUN_V1_SERVICE:
        return [slot("runtime", "template", "spec", "serviceAccountName")]
    if resource_type == SCHEDULER_JOB:
        return token_slots("scheduler", ("httpTarget", "oidcToken"), ("httpTarget", "oauthToken"))
    if resource_type == PUSH_SUBSCRIPTION:
        return token_slots("push subscription", ("pushConfig", "oidcToken"))
    if resource_type == API_GATEWAY_CONFIG:
        # The gateway signs its backend calls' OIDC tokens as this account; without one it sends none.
        backend = get(props, "gatewayConfig", "backendConfig")
        if backend is UNKNOWN or isinstance(backend, Mapping):
            return [slot("gateway", "gatewayConfig", "backendConfig", "googleServiceAccount", falls_back=False)]
        return []
    if resource_type == EVENTARC_TRIGGER:
        # Unset, Eventarc mints the destination's tokens for the Compute Engine default service account.
        return [slot("eventarc", "serviceAccount")]
    if resource_type == WORKFLOW:
        return [slot("workflow", "serviceAccount")]
    if resource_type == BUILD_TRIGGER:
        return [slot("build", "serviceAccount", default=BUILD_DEFAULT)]
    if resource_type in (DATAFLOW_JOB, DATAFLOW_FLEX_JOB):
        return [slot("worker", "serviceAccountEmail")]
    if resource_type == DATAPROC_CLUSTER:
        if get(props, "virtualClusterConfig") is not None:
            return []  # Dataproc on GKE: the GKE node pools' identities (judged there)
        return [slot("worker", "clusterConfig", "gceClusterConfig", "serviceAccount")]
    if resource_type == COMPOSER_ENVIRONMENT:
        return [slot("worker", "config", "nodeConfig", "serviceAccount")]
    if resource_type == WORKBENCH_INSTANCE:
        return [slot("runtime", "gceSetup", "serviceAccounts", 0, "email")]
    if resource_type in (APP_ENGINE_FLEX, APP_ENGINE_STANDARD):
        return [slot("runtime", "serviceAccount", default=APP_ENGINE_DEFAULT)]
    return []


# --- machines: VMs, instance templates, GKE nodes -----------------------------------------------------------

COMPUTE_INSTANCE: Final = "gcp:compute/instance:Instance"
INSTANCE_TEMPLATES: Final = frozenset(
    {"gcp:compute/instanceTemplate:InstanceTemplate", "gcp:compute/regionInstanceTemplate:RegionInstanceTemplate"}
)
INSTANCE_FROM_TEMPLATE: Final = "gcp:compute/instanceFromTemplate:InstanceFromTemplate"
GKE_CLUSTER: Final = "gcp:container/cluster:Cluster"
GKE_NODE_POOL: Final = "gcp:container/nodePool:NodePool"
MACHINE_TYPES: Final = (
    frozenset({COMPUTE_INSTANCE, INSTANCE_FROM_TEMPLATE, GKE_CLUSTER, GKE_NODE_POOL}) | INSTANCE_TEMPLATES
)


def machine_slots(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """(path, service account or None when it falls back to the Compute Engine default, scopes) of each machine
    identity of a VM, instance template, GKE cluster or node pool."""
    slots: list[tuple[str, Any, Any]] = []
    if resource_type in (COMPUTE_INSTANCE, INSTANCE_FROM_TEMPLATE) or resource_type in INSTANCE_TEMPLATES:
        block = get(props, "serviceAccount")
        if isinstance(block, Unknown) or (block is None and resource_type == INSTANCE_FROM_TEMPLATE):
            return []  # unknown, or inherited from the template (judged there)
        if isinstance(block, Mapping):  # no block at all: the VM runs with no identity, which is fine
            slots.append(("serviceAccount.email", get(block, "email"), get(block, "scopes")))
    elif resource_type == GKE_CLUSTER:
        autopilot = is_true(get(props, "enableAutopilot"))
        pools = get_list(props, "nodePools")
        # GKE creates a default pool from nodeConfig only when no pools are given inline and it is not removed.
        default_pool = not autopilot and not is_true(get(props, "removeDefaultNodePool")) and not pools
        if default_pool and not isinstance(pools, Unknown):
            slots.append(("nodeConfig.serviceAccount", get(props, "nodeConfig", "serviceAccount"),
                          get(props, "nodeConfig", "oauthScopes")))  # fmt: skip
        for index, pool in enumerate(pools if isinstance(pools, list) else []):
            slots.append((f"nodePools[{index}].nodeConfig.serviceAccount", get(pool, "nodeConfig", "serviceAccount"),
                          get(pool, "nodeConfig", "oauthScopes")))  # fmt: skip
        if autopilot or is_true(get(props, "clusterAutoscaling", "enabled")):
            defaults = get(props, "clusterAutoscaling", "autoProvisioningDefaults")
            slots.append(("clusterAutoscaling.autoProvisioningDefaults.serviceAccount", get(defaults, "serviceAccount"),
                          get(defaults, "oauthScopes")))  # fmt: skip
    elif resource_type == GKE_NODE_POOL:
        slots.append(("nodeConfig.serviceAccount", get(props, "nodeConfig", "serviceAccount"),
                      get(props, "nodeConfig", "oauthScopes")))  # fmt: skip
    return slots


@dataclass(frozen=True)
class EnvVar:
    path: str
    name: str
    value: Any  # str | UNKNOWN | other junk


def env_vars(resource_type: str, props: Mapping[str, Any]) -> list[EnvVar]:
    """Plain-value environment variables a workload sets (secret references are not plain values)."""
    found: list[EnvVar] = []

    def from_map(*path: str) -> None:
        env = get_map(props, *path)
        if env is UNKNOWN:
            found.append(EnvVar(".".join(path), "*", UNKNOWN))
            return
        for name, value in items(env):
            found.append(EnvVar(".".join((*path, name)), name, value))

    def from_containers(*path: str) -> None:
        containers = get_list(props, *path)
        if isinstance(containers, Unknown):
            found.append(EnvVar(".".join(path), "*", UNKNOWN))
            return
        for c_index, container in enumerate(containers or []):
            envs = get_list(container, "envs")
            base = f"{'.'.join(path)}[{c_index}].envs"
            if isinstance(envs, Unknown):
                found.append(EnvVar(base, "*", UNKNOWN))
                continue
            for e_index, env in enumerate(envs or []):
                name = get_str(env, "name")
                value = get(env, "value")
                if value is None:
                    continue
                found.append(EnvVar(f"{base}[{e_index}]", name if isinstance(name, str) else "?", value))

    if resource_type == FUNCTION_V2:
        from_map("serviceConfig", "environmentVariables")
        from_map("buildConfig", "environmentVariables")
    elif resource_type == FUNCTION_V1:
        from_map("environmentVariables")
        from_map("buildEnvironmentVariables")
    elif resource_type in (RUN_V2_SERVICE, RUN_V2_WORKER_POOL):
        from_containers("template", "containers")
    elif resource_type == RUN_V2_JOB:
        from_containers("template", "template", "containers")
    elif resource_type == RUN_V1_SERVICE:
        from_containers("template", "spec", "containers")
    return found


def endpoints_of(resource_type: str, props: Mapping[str, Any]) -> tuple[list[str], bool]:
    """URLs and audiences a caller would use for this workload; the flag says some are unknown."""
    candidates: list[Any] = []
    if resource_type == RUN_V2_SERVICE:
        candidates += [get(props, "uri")]
        candidates += _list_or_unknown(get_list(props, "urls"))
        candidates += _list_or_unknown(get_list(props, "customAudiences"))
    elif resource_type == RUN_V1_SERVICE:
        statuses = get_list(props, "statuses")
        if statuses is UNKNOWN:
            candidates.append(UNKNOWN)
        for status in elements(statuses):
            candidates.append(get(status, "url"))
    elif resource_type == FUNCTION_V2:
        candidates += [get(props, "url"), get(props, "serviceConfig", "uri")]
    elif resource_type == FUNCTION_V1:
        candidates += [get(props, "httpsTriggerUrl")]
    unknown = any(c is UNKNOWN for c in candidates)
    urls = [c.rstrip("/") for c in candidates if isinstance(c, str) and c.strip() and not is_unknown(c)]
    return sorted(set(urls)), unknown


def _list_or_unknown(value: list[Any] | Unknown | None) -> list[Any]:
    if isinstance(value, Unknown):
        return [UNKNOWN]
    return list(value or [])


def service_names(resource_type: str, props: Mapping[str, Any]) -> set[str]:
    """Names by which IAM resources can target this workload (its Cloud Run service, or its function)."""
    names: set[str] = set()
    if resource_type in (RUN_V2_SERVICE, RUN_V1_SERVICE, FUNCTION_V2, FUNCTION_V1):
        for value in (get(props, "name"), get(props, "id"), get(props, "serviceConfig", "service")):
            segment = last_segment(value)
            if segment:
                names.add(segment)
    return names


def grant_target(resource_type: str, props: Mapping[str, Any]) -> str | Unknown | None:
    """Short name of the Cloud Run service (or function) a resource-level grant applies to."""
    module = type_module(resource_type)
    if module.startswith("cloudrunv2/service"):
        value = get(props, "name")
    elif module.startswith("cloudrun/iam"):
        value = get(props, "service")
    elif module.startswith("cloudfunctionsv2/function") or module.startswith("cloudfunctions/function"):
        value = get(props, "cloudFunction")
    else:
        return None
    if value is UNKNOWN:
        return UNKNOWN
    return last_segment(value)


# --- what a workload's configuration says (and hides) --------------------------------------------------------

# Keys under which a workload takes configuration from Secret Manager: values the pack never sees.
_HIDDEN_KEYS: Final = frozenset({"secretKeyRef", "secretEnvironmentVariables", "secretVolumes"})
_MAX_WALK_DEPTH: Final = 32


def config_text(props: Mapping[str, Any]) -> str:
    """A workload's whole known configuration as one text (env values, args, command, source, parameters, ...),
    so a URL anywhere in it, even inside a JSON value, can be found."""
    try:
        return json.dumps(props, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        return ""


def gateway_documents(props: Mapping[str, Any]) -> str:
    """An API Gateway config's OpenAPI documents and service configs as text (the provider takes them base64
    encoded): where its backends' addresses (`x-google-backend: address: <URL>`) are."""
    texts: list[str] = []
    for path in (("openapiDocuments", "document", "contents"), ("managedServiceConfigs", "contents")):
        entries = get_list(props, path[0])
        if entries is UNKNOWN:
            texts.append(next(iter(UNKNOWN_SENTINELS)))
        for entry in elements(entries):
            value = get(entry, *path[1:])
            if is_unknown(value):
                texts.append(next(iter(UNKNOWN_SENTINELS)))
            elif isinstance(value, str):
                texts.append(_decoded(value))
    return "\n".join(texts)


def _decoded(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return value  # not base64: the text itself


def has_unknown(text: str) -> bool:
    """Does a config text hold a value the engine does not know yet (preview)?"""
    return any(sentinel in text for sentinel in UNKNOWN_SENTINELS)


def hidden_config(props: Mapping[str, Any]) -> list[str]:
    """Paths of configuration taken from Secret Manager (secret env vars and volumes), whose values the pack
    cannot read."""
    found: list[str] = []

    def walk(value: Any, path: str, depth: int) -> None:
        if depth > _MAX_WALK_DEPTH:
            return
        if isinstance(value, Mapping):
            for key, child in value.items():
                here = f"{path}.{key}" if path else str(key)
                if key in _HIDDEN_KEYS and child:
                    found.append(here)
                elif key == "secret" and isinstance(child, Mapping) and path.rsplit(".", 1)[-1].startswith("volumes"):
                    found.append(here)  # a secret mounted as a volume (Cloud Run)
                else:
                    walk(child, here, depth + 1)
        elif isinstance(value, list | tuple):
            for index, child in enumerate(value):
                walk(child, f"{path}[{index}]", depth + 1)

    walk(props, "", 0)
    return found


_HOST_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


def mentions(text: str, endpoint: str) -> bool:
    """Does `text` contain `endpoint` as a whole URL (not as the start of a longer host name)? Linear."""
    if not endpoint:
        return False
    start = text.find(endpoint)
    while start >= 0:
        after = start + len(endpoint)
        following = text[after] if after < len(text) else ""
        longer_host = following in _HOST_CHARS or (
            following == "." and after + 1 < len(text) and text[after + 1] in _HOST_CHARS
        )
        if not following or not longer_host:
            return True
        start = text.find(endpoint, start + 1)
    return False
