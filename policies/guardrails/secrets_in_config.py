"""Secrets in plain configuration: environment variables of every workload (functions, Cloud Run, workflows,
Cloud Build triggers, App Engine, Composer) and the rest of what a workload or machine is configured with in
plain text (container args and commands, Cloud Build steps, a workflow's source, scheduler requests, VM, template,
project and node metadata and startup scripts, also base64 inside them).

A value is judged by what it is (secret_values: a key, a token's shape), by its name (a variable named like a
credential set to a literal, where a reference, number, flag, URL without userinfo, resource name or path would
be legitimate), and — when preflight sends provenance — by where it came from: a Pulumi secret
(`config.require_secret(...)`, a secret output) passed into plain configuration is stored there in plain text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .context import RuleContext
from .provenance import Provenance, path_of
from .secret_values import (
    PREFLIGHT_SECRET_MARKER,
    SECRET_SHAPES,
    credential_name,
    key_material,
    legitimate_value,
    secret_shape,
    text_findings,
)
from .values import Unknown, elements, get, get_list, get_map, is_unknown, items
from .workloads import (
    APP_ENGINE_FLEX,
    APP_ENGINE_STANDARD,
    BUILD_TRIGGER,
    COMPOSER_ENVIRONMENT,
    COMPUTE_INSTANCE,
    DATAPROC_CLUSTER,
    FUNCTION_V1,
    FUNCTION_V2,
    GKE_CLUSTER,
    GKE_NODE_POOL,
    INSTANCE_FROM_TEMPLATE,
    INSTANCE_TEMPLATES,
    RUN_V1_SERVICE,
    RUN_V2_JOB,
    RUN_V2_SERVICE,
    RUN_V2_WORKER_POOL,
    SCHEDULER_JOB,
    WORKBENCH_INSTANCE,
    WORKFLOW,
    WORKLOAD_TYPES,
    env_vars,
)

__all__ = [
    "CONFIG_TYPES",
    "ENV_TYPES",
    "PROJECT_METADATA",
    "PROJECT_METADATA_ITEM",
    "Setting",
    "config_settings",
    "env_settings",
    "no_plaintext_secrets_in_config",
    "no_plaintext_secrets_in_env",
]

PROJECT_METADATA: Final = "gcp:compute/projectMetadata:ProjectMetadata"
PROJECT_METADATA_ITEM: Final = "gcp:compute/projectMetadataItem:ProjectMetadataItem"

ENV_TYPES: Final = WORKLOAD_TYPES | {
    WORKFLOW, BUILD_TRIGGER, APP_ENGINE_FLEX, APP_ENGINE_STANDARD, COMPOSER_ENVIRONMENT
}  # fmt: skip
_RUN_TYPES: Final = frozenset({RUN_V2_SERVICE, RUN_V2_WORKER_POOL, RUN_V2_JOB, RUN_V1_SERVICE})
_METADATA_TYPES: Final = frozenset(
    {COMPUTE_INSTANCE, INSTANCE_FROM_TEMPLATE, PROJECT_METADATA, PROJECT_METADATA_ITEM, GKE_CLUSTER, GKE_NODE_POOL,
     DATAPROC_CLUSTER, WORKBENCH_INSTANCE} | INSTANCE_TEMPLATES
)  # fmt: skip
CONFIG_TYPES: Final = _RUN_TYPES | _METADATA_TYPES | {BUILD_TRIGGER, WORKFLOW, SCHEDULER_JOB}


@dataclass(frozen=True)
class Setting:
    """One plain value a resource is configured with: where it is (`path`, the provenance path of the value),
    what a message calls it, the name it is set under (judged by credential_name), and how to read it."""

    path: str
    what: str
    name: str | None
    value: Any
    form: str = "value"  # value: one value | text: a script, argument or document to scan | yaml: a YAML document


# --- environment variables ------------------------------------------------------------------------------------------


def env_settings(resource_type: str, props: Mapping[str, Any]) -> list[Setting]:
    """Every plain environment variable (or variable of the same kind) a resource sets."""
    found: list[Setting] = []

    def from_map(label: str, *path: str) -> None:
        values = get_map(props, *path)
        if isinstance(values, Unknown):
            return
        for name, value in items(values):
            found.append(Setting(path_of(*path, name), f"{label} {name}", name, value))

    def from_pairs(label: str, *path: str | int) -> None:
        # Cloud Build's env: "NAME=VALUE" strings.
        for index, entry in enumerate(elements(get_list(props, *path))):
            if isinstance(entry, str) and not is_unknown(entry) and "=" in entry:
                name, value = entry.split("=", 1)
                found.append(Setting(path_of(*path, index), f"{label} {name}", name, value))

    if resource_type in WORKLOAD_TYPES:
        for env in env_vars(resource_type, props):
            if env.name == "*":
                continue
            # Container env entries are {name, value} (the value one step further); maps hold the value itself.
            path = f"{env.path}.value" if env.path.endswith("]") else env.path
            found.append(Setting(path, f"environment variable {env.name}", env.name, env.value))
    elif resource_type == WORKFLOW:
        from_map("user environment variable", "userEnvVars")
    elif resource_type == BUILD_TRIGGER:
        for index, _ in enumerate(elements(get_list(props, "build", "steps"))):
            from_pairs(f"step {index} environment variable", "build", "steps", index, "envs")
        from_pairs("build environment variable", "build", "options", "envs")
        from_map("substitution", "build", "substitutions")
        from_map("substitution", "substitutions")
    elif resource_type in (APP_ENGINE_FLEX, APP_ENGINE_STANDARD):
        from_map("environment variable", "envVariables")
    elif resource_type == COMPOSER_ENVIRONMENT:
        from_map("environment variable", "config", "softwareConfig", "envVariables")
        from_map("Airflow configuration override", "config", "softwareConfig", "airflowConfigOverrides")
    return found


def _env_fix(resource_type: str) -> str:
    if resource_type in (FUNCTION_V1, FUNCTION_V2) or resource_type in _RUN_TYPES:
        return (
            "Store it in Secret Manager and reference it (Cloud Run: env valueSource.secretKeyRef; functions: "
            "serviceConfig.secretEnvironmentVariables), granting roles/secretmanager.secretAccessor on that one "
            "secret to the runtime service account."
        )
    if resource_type == WORKFLOW:
        return (
            "Store it in Secret Manager and read it when the workflow runs (the Secret Manager connector, "
            "googleapis.secretmanager.v1.projects.secrets.versions.accessString), granting "
            "roles/secretmanager.secretAccessor on that one secret to the workflow's service account."
        )
    if resource_type == BUILD_TRIGGER:
        return (
            "Store it in Secret Manager and hand it to the step as a secret (build.availableSecrets."
            "secretManagers[].env, the step's secretEnvs, $$NAME in its script), granting "
            "roles/secretmanager.secretAccessor on that one secret to the build's service account."
        )
    if resource_type == COMPOSER_ENVIRONMENT:
        return (
            "Store it in Secret Manager and let Airflow read it through its Secret Manager secrets backend, "
            "granting roles/secretmanager.secretAccessor on that one secret to the environment's service account."
        )
    return (
        "Store it in Secret Manager and read it at start-up as the app's service account (App Engine has no "
        "secret references in its env), granting roles/secretmanager.secretAccessor on that one secret."
    )


# --- everything else in plain configuration --------------------------------------------------------------------------

# Metadata keys Google reads scripts from (their whole text is scanned), and keys that hold public keys only.
_SCRIPT_KEYS: Final = frozenset(
    {"startup-script", "shutdown-script", "user-data", "startup-script-ps1", "startup-script-cmd",
     "startup-script-bat", "shutdown-script-ps1", "shutdown-script-cmd", "shutdown-script-bat",
     "windows-startup-script-ps1", "windows-startup-script-cmd", "windows-startup-script-bat",
     "windows-shutdown-script-ps1", "windows-shutdown-script-cmd", "windows-shutdown-script-bat",
     "sysprep-specialize-script-ps1", "sysprep-specialize-script-cmd", "sysprep-specialize-script-bat",
     "gce-container-declaration", "kube-env"}
)  # fmt: skip
_PUBLIC_KEY_KEYS: Final = frozenset({"ssh-keys", "sshKeys", "windows-keys", "block-project-ssh-keys"})


def _metadata_entry(where: str, key: str, value: Any) -> Setting:
    if key in _SCRIPT_KEYS:
        form = "yaml" if key in ("gce-container-declaration", "user-data") else "text"
        return Setting(where, f"metadata {key}", None, value, form)
    if key in _PUBLIC_KEY_KEYS:
        return Setting(where, f"metadata {key}", None, value, "text")
    return Setting(where, f"metadata {key}", key, value)


def _metadata(found: list[Setting], props: Mapping[str, Any], *path: str | int) -> None:
    values = get_map(props, *path)
    if isinstance(values, Unknown):
        return
    for key, value in items(values):
        found.append(_metadata_entry(path_of(*path, key), key, value))


def _list(found: list[Setting], props: Mapping[str, Any], label: str, *path: str | int) -> None:
    """A list of arguments: each scanned as text; `--password` followed by its value is a pair."""
    args = get_list(props, *path)
    values = list(elements(args))
    for index, value in enumerate(values):
        found.append(Setting(path_of(*path, index), f"{label}[{index}]", None, value, "text"))
        following = values[index + 1] if index + 1 < len(values) else None
        if (
            isinstance(value, str)
            and value.startswith("--")
            and "=" not in value
            and isinstance(following, str)
            and not following.startswith("-")
        ):
            name = value[2:]
            found.append(Setting(path_of(*path, index + 1), f"{label}[{index + 1}] (after {value})", name, following))


def config_settings(resource_type: str, props: Mapping[str, Any]) -> list[Setting]:
    """Every plain value outside environment variables a resource is configured with, that could carry a
    credential."""
    found: list[Setting] = []
    if resource_type in _RUN_TYPES:
        base: tuple[str, ...] = {
            RUN_V2_JOB: ("template", "template", "containers"),
            RUN_V1_SERVICE: ("template", "spec", "containers"),
        }.get(resource_type, ("template", "containers"))
        for index, _ in enumerate(elements(get_list(props, *base))):
            _list(found, props, "container args", *base, index, "args")
            _list(found, props, "container command", *base, index, "commands")
    elif resource_type == BUILD_TRIGGER:
        for index, step in enumerate(elements(get_list(props, "build", "steps"))):
            _list(found, props, f"step {index} args", "build", "steps", index, "args")
            script = get(step, "script")
            found.append(Setting(path_of("build", "steps", index, "script"), f"step {index} script", None, script,
                                 "text"))  # fmt: skip
    elif resource_type == WORKFLOW:
        found.append(Setting("sourceContents", "source", None, get(props, "sourceContents"), "yaml"))
    elif resource_type == SCHEDULER_JOB:
        for target in ("httpTarget", "appEngineHttpTarget"):
            for name, value in items(get_map(props, target, "headers")):
                found.append(Setting(path_of(target, "headers", name), f"request header {name}", name, value))
            found.append(Setting(path_of(target, "body"), "request body", None, get(props, target, "body"), "text"))
        found.append(Setting("httpTarget.uri", "request URI", None, get(props, "httpTarget", "uri")))
        found.append(Setting("pubsubTarget.data", "message data", None, get(props, "pubsubTarget", "data"), "text"))
        for name, value in items(get_map(props, "pubsubTarget", "attributes")):
            found.append(Setting(path_of("pubsubTarget", "attributes", name), f"message attribute {name}", name, value))
    elif resource_type == PROJECT_METADATA:
        _metadata(found, props, "metadata")
    elif resource_type == PROJECT_METADATA_ITEM:
        key = get(props, "key")
        if isinstance(key, str) and not is_unknown(key):
            found.append(_metadata_entry("value", key, get(props, "value")))
    elif resource_type in _METADATA_TYPES:
        if resource_type in (COMPUTE_INSTANCE, INSTANCE_FROM_TEMPLATE) or resource_type in INSTANCE_TEMPLATES:
            _metadata(found, props, "metadata")
            script = get(props, "metadataStartupScript")
            found.append(Setting("metadataStartupScript", "metadataStartupScript", None, script, "text"))
        elif resource_type == GKE_CLUSTER:
            _metadata(found, props, "nodeConfig", "metadata")
            for index, _ in enumerate(elements(get_list(props, "nodePools"))):
                _metadata(found, props, "nodePools", index, "nodeConfig", "metadata")
        elif resource_type == GKE_NODE_POOL:
            _metadata(found, props, "nodeConfig", "metadata")
        elif resource_type == DATAPROC_CLUSTER:
            _metadata(found, props, "clusterConfig", "gceClusterConfig", "metadata")
        elif resource_type == WORKBENCH_INSTANCE:
            _metadata(found, props, "gceSetup", "metadata")
    return found


def _config_exposure(resource_type: str) -> tuple[str, str]:
    """(who can read it, how to fix it) for plain configuration of this kind of resource."""
    if resource_type in _RUN_TYPES:
        return (
            "anyone who can read the service's configuration (run.services.get / run.jobs.get)",
            "Pass it as an environment variable from Secret Manager (valueSource.secretKeyRef) or mount it as a "
            "secret volume, and have the container read it there; grant roles/secretmanager.secretAccessor on "
            "that one secret to the runtime service account.",
        )
    if resource_type == BUILD_TRIGGER:
        return (
            "anyone who can view the trigger or its builds",
            "Store it in Secret Manager and hand it to the step as a secret (build.availableSecrets.secretManagers"
            "[].env and the step's secretEnvs; $$NAME in the step), granting roles/secretmanager.secretAccessor on "
            "that one secret to the build's service account.",
        )
    if resource_type == WORKFLOW:
        return (
            "anyone who can read the workflow (workflows.workflows.get)",
            "Store it in Secret Manager and read it when the workflow runs (the Secret Manager connector, "
            "googleapis.secretmanager.v1.projects.secrets.versions.accessString), granting "
            "roles/secretmanager.secretAccessor on that one secret to the workflow's service account.",
        )
    if resource_type == SCHEDULER_JOB:
        return (
            "anyone who can read the job (cloudscheduler.jobs.get)",
            "Authenticate the request with the job's own service account (httpTarget.oidcToken for Cloud Run and "
            "functions, oauthToken for Google APIs); a third party's credential belongs in Secret Manager, read by "
            "the service the job calls.",
        )
    return (
        "anyone who can read the instance or project metadata (compute.instances.get, compute.projects.get) and "
        "every process on the machine (through the metadata server)",
        "Store it in Secret Manager and fetch it at boot as the machine's own service account (gcloud secrets "
        "versions access …), granting roles/secretmanager.secretAccessor on that one secret to that account.",
    )


# --- judging a setting ----------------------------------------------------------------------------------------------


def _findings(setting: Setting, provenance: Provenance) -> list[str]:
    """What a setting holds that is a credential, in words (never the value)."""
    value = setting.value
    if not isinstance(value, str) or is_unknown(value) or not value.strip():
        return []
    if PREFLIGHT_SECRET_MARKER in value:
        return ["a secret from the stack's config (secure:)"]
    if provenance.sent_secret(setting.path):
        return ["a Pulumi secret (config.require_secret(...) or a secret output)"]
    found: list[str] = []
    if setting.form == "value":
        material = key_material(value)
        shape = material or secret_shape(value)
        if shape:
            found.append(shape)
        elif setting.name is not None and credential_name(setting.name) and not legitimate_value(value):
            origin = provenance.origin(setting.path)
            if origin.kind not in ("resource", "invoke") or origin.secret_output:
                found.append(f"a literal (its name, {setting.name}, says it is a credential)")
        return found
    found = text_findings(value, list(SECRET_SHAPES), yaml=setting.form == "yaml")
    if setting.name is not None and credential_name(setting.name) and not legitimate_value(value) and not found:
        found.append(f"a literal for {setting.name} (a credential by its name)")
    return found


# Variables that point Google's client libraries (and gcloud) at a credential file in place of the identity the
# platform gives. A build step always runs as its trigger's account (the metadata server), so such a file there is
# a key that came with the source or an earlier step. (A service may mount a federation config: not judged.)
CREDENTIAL_FILE_VARIABLES: Final = frozenset(
    {"GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"}
)


def _credential_file(setting: Setting) -> bool:
    value = setting.value
    named = setting.name is not None and setting.name.strip().upper() in CREDENTIAL_FILE_VARIABLES
    return named and isinstance(value, str) and not is_unknown(value) and bool(value.strip())


def no_plaintext_secrets_in_env(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    out: list[str] = []
    for setting in env_settings(resource_type, props):
        if resource_type == BUILD_TRIGGER and _credential_file(setting):
            out.append(
                f"{setting.path}: {setting.what} of {ctx.label} points the build's Google clients at a credential file "
                "(in the build's workspace: a long-lived key that came with the source or an earlier step) instead "
                "of the trigger's own service account. Remove the variable and the file: every step gets that "
                "account's short-lived tokens from the metadata server; grant it (or an account it may impersonate) "
                "what the key's account was used for."
            )
            continue
        found = _findings(setting, ctx.provenance)
        if not found:
            continue
        named = " If it names a secret rather than holding one, say so in its name (…_NAME, …_ID)." if (
            found[0].startswith("a literal")
        ) else ""  # fmt: skip
        out.append(
            f"{setting.path}: {setting.what} of {ctx.label} holds {found[0]} in plain text (visible to anyone who "
            f"can read its configuration). {_env_fix(resource_type)}{named}"
        )
    return out


def no_plaintext_secrets_in_config(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    who, fix = _config_exposure(resource_type)
    # One message per place: an argument read as text and as the value of the flag before it is one place.
    places: dict[str, tuple[str, list[str]]] = {}
    for setting in config_settings(resource_type, props):
        found = _findings(setting, ctx.provenance)
        if found:
            _, listed = places.setdefault(setting.path, (setting.what, []))
            listed += [f for f in found if f not in listed]
    return [
        f"{path}: {what} of {ctx.label} holds {_listed(found)} in plain text, readable by {who}. {fix}"
        for path, (what, found) in places.items()
    ]


def _listed(found: list[str]) -> str:
    if len(found) == 1:
        return found[0]
    return ", ".join(found[:-1]) + " and " + found[-1]
