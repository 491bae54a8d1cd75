"""The stack's config keys: one JSON Schema per key of the `secure-invoke:` namespace, with its default, and
the first pass over a stack's config map: each value decoded by its type and checked against its schema."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema
import jsonschema.exceptions

# The pack's `maxHumanAccessDays` default: the stack refuses operator access the pack would reject.
from secure_invoke.policies.guardrails.config import DEFAULT_MAX_HUMAN_ACCESS_DAYS

NAMESPACE = "secure-invoke"

_LABEL_KEY = r"^[a-z][a-z0-9_-]{0,62}$"
_LABEL_VALUE = r"^[a-z0-9_-]{0,63}$"

# One entry per key in the `secure-invoke:` namespace. `default` may be a per-environment dict; `description` is
# the key's row in the README's configuration table (`make docs` writes it there).
SCHEMA: dict[str, dict[str, Any]] = {
    "environment": {
        "enum": ["dev", "prod"],
        "description": "`dev` or `prod` (required). prod enforces a warm instance, deletion protection, CPU boost and "
        "digest-pinned prebuilt images.",
    },
    "workerImage": {
        "type": "string",
        "pattern": r"^[a-z0-9.-]+(:[0-9]+)?/[a-zA-Z0-9._/-]+(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$",
        "description": "Prebuilt worker image. Unset: built from `services/worker` and pushed by digest. prod: must "
        "end in `@sha256:<64 hex>`.",
    },
    "workerMinInstances": {
        "type": "integer",
        "minimum": 0,
        "maximum": 100,
        "default": {"dev": 0, "prod": 1},
        "description": "Warm worker instances; must be <= `workerMaxInstances`; prod >= 1.",
    },
    "workerMaxInstances": {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "default": {"dev": 3, "prod": 10},
        "description": "Upper bound on worker instances.",
    },
    "workerConcurrency": {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 8,
        "description": "Requests per worker instance (Cloud Run container concurrency, and the worker's gunicorn "
        "threads); must be 1 when `workerCpu` is below 1.",
    },
    "workerCpu": {"enum": ["0.5", "1", "2", "4", "8"], "default": "1", "description": "vCPU per worker instance."},
    "workerMemory": {
        "type": "string",
        "pattern": r"^[1-9][0-9]*(Mi|Gi)$",
        "default": "512Mi",
        "description": "Memory per worker instance (`Mi`/`Gi`, 128Mi..32Gi); Cloud Run's CPU/memory pairs are "
        "checked (more than 4Gi needs 2 vCPU, 8Gi 4, 16Gi 6, 24Gi 8; 4 vCPU needs 2Gi, 8 vCPU 4Gi; below 1 vCPU "
        "less than 1Gi).",
    },
    "workerRequestTimeoutSeconds": {
        "type": "integer",
        "minimum": 1,
        "maximum": 3600,
        "default": 600,
        "description": "Worker request timeout; must be >= `relayTimeoutSeconds`.",
    },
    "workerStartupCpuBoost": {
        "type": "boolean",
        "default": {"dev": False, "prod": True},
        "description": "Extra CPU during start-up (cold starts); prod: true.",
    },
    "workerIngress": {
        "enum": ["all", "internal"],
        "default": "all",
        "description": "`all` (IAM is the gate) or `internal` (needs `vpcNetwork`/`vpcSubnetwork` for the relay's "
        "Direct VPC egress).",
    },
    "workerAudience": {
        "type": "string",
        "minLength": 1,
        "maxLength": 512,
        "description": "The audience the relay mints for and the worker accepts (a Cloud Run custom audience). "
        "Default: `https://worker-<env>.<project>.secure-invoke.internal`, a name rather than the service's URL, so it "
        "stays when the URL changes (local mode uses its own, `https://worker.secure-invoke.local`).",
    },
    "vpcNetwork": {
        "type": "string",
        "minLength": 1,
        "description": "VPC network for the relay's Direct VPC egress (all traffic); set together with "
        "`vpcSubnetwork`.",
    },
    "vpcSubnetwork": {
        "type": "string",
        "minLength": 1,
        "description": "Subnet for that egress; it needs Private Google Access.",
    },
    "deletionProtection": {
        "type": "boolean",
        "default": {"dev": False, "prod": True},
        "description": "Cloud Run deletion protection on the worker; prod: true.",
    },
    "relayMaxInstances": {
        "type": "integer",
        "minimum": 1,
        "maximum": 1000,
        "default": 5,
        "description": "Upper bound on relay instances.",
    },
    "relayTimeoutSeconds": {
        "type": "integer",
        "minimum": 1,
        "maximum": 540,
        "default": 120,
        "description": "Function timeout (event-driven functions stop at 540 s).",
    },
    "relayWorkerTimeoutSeconds": {
        "type": "integer",
        "minimum": 1,
        "maximum": 539,
        "default": 90,
        "description": "The relay's HTTP timeout towards the worker; must be below `relayTimeoutSeconds`.",
    },
    "relayMemory": {
        "type": "string",
        "pattern": r"^[1-9][0-9]*(Mi|Gi)$",
        "default": "256Mi",
        "description": "Function memory.",
    },
    "relayRetry": {
        "type": "boolean",
        "default": True,
        "description": "Eventarc retry policy: true retries failed deliveries (up to 24 h); the relay raises only "
        "for transient failures.",
    },
    "legacyPubsubServiceAgent": {
        "type": "boolean",
        "default": False,
        "description": "Set true only if the project's Pub/Sub service agent predates 2021-04-08: grants it "
        "`roles/iam.serviceAccountTokenCreator` on the trigger identity, nothing else.",
    },
    "secretRotationDays": {
        "type": "integer",
        "minimum": 1,
        "maximum": 3650,
        "default": 90,
        "description": "Rotation period of the upstream API key secret.",
    },
    "upstreamApiKey": {
        "type": "string",
        "minLength": 1,
        "description": "Optional, and only as a secret (`pulumi config set --secret`; a plaintext value is refused): "
        "the secret's first version. Unset: add it with `gcloud secrets versions add upstream-api-key-<env> "
        "--data-file=-`, so it never enters Pulumi state.",
    },
    "imageKeepCount": {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "default": 10,
        "description": "Worker images kept by the repository's cleanup policy.",
    },
    "operatorAccess": {
        "type": "array",
        "maxItems": 50,
        "items": {
            "type": "object",
            "required": ["principal", "expires"],
            "additionalProperties": False,
            "properties": {
                "principal": {"type": "string", "minLength": 1},
                "expires": {"type": "string", "minLength": 1},
                "reason": {"type": "string", "minLength": 1, "maxLength": 256},
            },
        },
        "default": [],
        "description": "Just-in-time access for people: each `{principal, expires, reason}` becomes one conditional "
        "grant of `roles/iam.serviceAccountOpenIdTokenCreator` on `worker-operator-<env>` only, until `expires`. "
        "`principal`: `group:<email>`, `user:<email>`, a workforce pool group "
        "`principalSet://iam.googleapis.com/locations/global/workforcePools/<pool>/group/<group>` or subject "
        "`principal://iam.googleapis.com/locations/global/workforcePools/<pool>/subject/<id>`; public, "
        "wildcard, `domain:` and `serviceAccount:` principals are refused. `expires`: RFC 3339 with a zone, at most "
        "`operatorAccessMaxDays` ahead; a lapsed entry is dropped with a warning. prod: `reason` required. "
        "See [docs/operator-access.md](docs/operator-access.md).",
    },
    "operatorAccessMaxDays": {
        "type": "integer",
        "minimum": 1,
        "maximum": 90,
        "default": DEFAULT_MAX_HUMAN_ACCESS_DAYS,
        "description": "How far ahead an `operatorAccess` entry may expire. The default is the policy pack's "
        "`maxHumanAccessDays`; raise both together.",
    },
    "operatorAlertChannels": {
        "type": "array",
        "uniqueItems": True,
        "items": {"type": "string", "pattern": r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/[0-9]+$"},
        "default": [],
        "description": "Notification channels (`projects/<p>/notificationChannels/<id>`) of the prod alert on "
        "operator token mints.",
    },
    "labels": {
        "type": "object",
        "propertyNames": {"pattern": _LABEL_KEY},
        "additionalProperties": {"type": "string", "pattern": _LABEL_VALUE},
        "maxProperties": 60,
        "default": {},
        "description": "Extra labels on every labelled resource; `app` and `environment` are set by the stack and "
        "may not be overridden; GCP label syntax is checked.",
    },
}
REQUIRED = ("environment",)
SECRET_ONLY = ("upstreamApiKey",)
GCP_REQUIRED = ("gcp:project", "gcp:region")
_GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]$")


def per_environment_default(schema: Mapping[str, Any]) -> dict[str, Any] | None:
    """A key's default when it differs per environment (`{"dev": 0, "prod": 1}`); None when it is one value
    (an object's own default, `{}`, included)."""
    default = schema.get("default")
    environments = set(SCHEMA["environment"]["enum"])
    if isinstance(default, dict) and default and set(default) <= environments and schema.get("type") != "object":
        return default
    return None


def value_or_default(values: Mapping[str, Any], key: str) -> Any:
    """The given value, else the key's default (per environment where the schema says so)."""
    if key in values:
        return values[key]
    per_environment = per_environment_default(SCHEMA[key])
    if per_environment is not None and values["environment"] in per_environment:
        return per_environment[values["environment"]]
    return SCHEMA[key].get("default")


def parse(config: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Decode each `secure-invoke:` value by its schema type and validate it; collect every problem."""
    errors: list[str] = []
    for key in GCP_REQUIRED:
        if not config.get(key):
            errors.append(f"{key}: required, set it with `pulumi config set {key} <value>`")
    if config.get("gcp:project") and not _GCP_PROJECT.match(config["gcp:project"]):
        errors.append(f"gcp:project: {config['gcp:project']!r} is not a project id (6-30 chars, a-z 0-9 -)")
    if config.get("gcp:region") and not _GCP_REGION.match(config["gcp:region"]):
        errors.append(f"gcp:region: {config['gcp:region']!r} is not a region such as europe-west1")

    values: dict[str, Any] = {}
    prefix = NAMESPACE + ":"
    for full_key, raw in config.items():
        if not full_key.startswith(prefix):
            continue
        key = full_key[len(prefix) :]
        schema = SCHEMA.get(key)
        if schema is None:
            close = difflib.get_close_matches(key, SCHEMA, n=1)
            # A close match is the likely fix; only without one is the whole list of keys worth reading.
            hint = f"did you mean {prefix}{close[0]}?" if close else f"allowed keys: {', '.join(sorted(SCHEMA))}"
            errors.append(f"{full_key}: unknown key; {hint}")
            continue
        value: Any = raw
        if schema.get("type") in ("integer", "boolean", "object", "array") and isinstance(raw, str):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                errors.append(f"{full_key}: {raw!r} is not a valid {schema['type']}")
                continue
        checked = {k: v for k, v in schema.items() if k not in ("default", "description")}
        problem = _first_problem(list(jsonschema.Draft202012Validator(checked).iter_errors(value)))
        if problem is not None:
            where = "".join(f"[{p!r}]" for p in problem.absolute_path)
            errors.append(f"{full_key}{where}: {_describe(problem)}")
            continue
        values[key] = value
    for key in REQUIRED:
        if key not in values and not any(e.startswith(f"{prefix}{key}:") for e in errors):
            allowed = SCHEMA[key].get("enum")
            errors.append(f"{prefix}{key}: required (one of {allowed})")
    return values, errors


def _first_problem(problems: list[jsonschema.ValidationError]) -> jsonschema.ValidationError | None:
    # An unknown field first: a typo'd `expires` also makes `expires` missing, and the typo is the cause.
    unknown = [p for p in problems if p.validator == "additionalProperties" and _allowed_fields(p)]
    return unknown[0] if unknown else jsonschema.exceptions.best_match(problems)


def _allowed_fields(problem: jsonschema.ValidationError) -> list[str]:
    """The fields an object with `additionalProperties: false` names, sorted (none for other schemas)."""
    schema = problem.schema
    properties = schema.get("properties") if isinstance(schema, dict) else None
    return sorted(properties) if isinstance(properties, dict) else []


def _describe(problem: jsonschema.ValidationError) -> str:
    # jsonschema's own wording, with booleans shown as in YAML (False → false) and bools-as-ints rejected.
    if problem.validator == "additionalProperties" and isinstance(problem.instance, dict):
        allowed = _allowed_fields(problem)
        if allowed:
            unknown = sorted(k for k in problem.instance if k not in allowed)
            close = difflib.get_close_matches(unknown[0], allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            return f"unknown field {', '.join(map(repr, unknown))}{hint} (allowed: {', '.join(allowed)})"
    if problem.validator == "type":
        return f"{json.dumps(problem.instance)} is not of type {problem.validator_value}"
    if problem.validator == "enum":
        return f"{json.dumps(problem.instance)} is not one of {json.dumps(problem.validator_value)}"
    return problem.message
