"""Stack settings: every config key is read and validated here, once, before any resource exists.

Components never read config; `__main__.py` builds a `Settings` and passes plain values in.
Structure is checked with JSON Schema (types, ranges, unknown keys); what a schema cannot say
(combinations, per-environment rules) is checked in `_combination_errors`. All problems are reported
together, each naming its config key, so a broken stack file is fixed in one round trip.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jsonschema
import jsonschema.exceptions
import pulumi

# Cloud Run's rule, as the PrivateService component enforces it on its own args.
from components import CPU_BELOW_ONE

# The pack's `maxHumanAccessDays` default: the stack refuses operator access the pack would reject.
from policies.guardrails.config import DEFAULT_MAX_HUMAN_ACCESS_DAYS

NAMESPACE = "secure-invoke"
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
_RESERVED_LABELS = {"app", "environment"}

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# People as Google sees them: a Cloud Identity user or group, or a workforce identity federation group or user.
_OPERATOR_PRINCIPAL = re.compile(
    r"^(user|group):[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
    r"|^principalSet://iam\.googleapis\.com/locations/global/workforcePools/[a-z0-9-]{4,63}/group/[^/*\s]+$"
    r"|^principal://iam\.googleapis\.com/locations/global/workforcePools/[a-z0-9-]{4,63}/subject/[^/*\s]+$"
)
_PUBLIC_PRINCIPALS = ("allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all")

_LABEL_KEY = r"^[a-z][a-z0-9_-]{0,62}$"
_LABEL_VALUE = r"^[a-z0-9_-]{0,63}$"

# One entry per key in the `secure-invoke:` namespace. `default` may be a per-environment dict.
SCHEMA: dict[str, dict[str, Any]] = {
    "environment": {"enum": ["dev", "prod"], "description": "Which rules apply: prod is stricter."},
    "workerImage": {
        "type": "string",
        "pattern": r"^[a-z0-9.-]+(:[0-9]+)?/[a-zA-Z0-9._/-]+(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$",
        "description": "A prebuilt worker image; prod requires it by digest. Unset: built from services/worker.",
    },
    "workerMinInstances": {"type": "integer", "minimum": 0, "maximum": 100, "default": {"dev": 0, "prod": 1}},
    "workerMaxInstances": {"type": "integer", "minimum": 1, "maximum": 1000, "default": {"dev": 3, "prod": 10}},
    "workerConcurrency": {"type": "integer", "minimum": 1, "maximum": 100, "default": 8},
    "workerCpu": {"enum": ["0.5", "1", "2", "4", "8"], "default": "1"},
    "workerMemory": {"type": "string", "pattern": r"^[1-9][0-9]*(Mi|Gi)$", "default": "512Mi"},
    "workerRequestTimeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 600},
    "workerStartupCpuBoost": {"type": "boolean", "default": {"dev": False, "prod": True}},
    "workerIngress": {"enum": ["all", "internal"], "default": "all"},
    "workerAudience": {"type": "string", "minLength": 1, "maxLength": 512},
    "vpcNetwork": {"type": "string", "minLength": 1},
    "vpcSubnetwork": {"type": "string", "minLength": 1},
    "deletionProtection": {"type": "boolean", "default": {"dev": False, "prod": True}},
    "relayMaxInstances": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 5},
    "relayTimeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 540, "default": 120},
    "relayWorkerTimeoutSeconds": {"type": "integer", "minimum": 1, "maximum": 539, "default": 90},
    "relayMemory": {"type": "string", "pattern": r"^[1-9][0-9]*(Mi|Gi)$", "default": "256Mi"},
    "relayRetry": {"type": "boolean", "default": True},
    "legacyPubsubServiceAgent": {"type": "boolean", "default": False},
    "secretRotationDays": {"type": "integer", "minimum": 1, "maximum": 3650, "default": 90},
    "upstreamApiKey": {"type": "string", "minLength": 1},
    "imageKeepCount": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
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
        "description": "Just-in-time operator access: who may act as worker-operator-<env>, until when, why.",
    },
    "operatorAccessMaxDays": {
        "type": "integer",
        "minimum": 1,
        "maximum": 90,
        "default": DEFAULT_MAX_HUMAN_ACCESS_DAYS,
        "description": "How far ahead operatorAccess may expire; equal to the pack's maxHumanAccessDays.",
    },
    "operatorAlertChannels": {
        "type": "array",
        "uniqueItems": True,
        "items": {"type": "string", "pattern": r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/notificationChannels/[0-9]+$"},
        "default": [],
        "description": "Notification channels of the prod alert on operator token mints.",
    },
    "labels": {
        "type": "object",
        "propertyNames": {"pattern": _LABEL_KEY},
        "additionalProperties": {"type": "string", "pattern": _LABEL_VALUE},
        "maxProperties": 60,
        "default": {},
    },
}
REQUIRED = ("environment",)
SECRET_ONLY = ("upstreamApiKey",)
GCP_REQUIRED = ("gcp:project", "gcp:region")
_GCP_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_GCP_REGION = re.compile(r"^[a-z]+-[a-z]+[0-9]$")


class ConfigError(pulumi.RunError):
    """Invalid stack config. A RunError, so `pulumi up` prints the message without a traceback."""


@dataclass(frozen=True)
class WorkerSettings:
    image: str | None
    min_instances: int
    max_instances: int
    concurrency: int
    cpu: str
    memory: str
    request_timeout_seconds: int
    startup_cpu_boost: bool
    internal_ingress: bool
    audience: str | None
    deletion_protection: bool
    image_keep_count: int


@dataclass(frozen=True)
class RelaySettings:
    max_instances: int
    timeout_seconds: int
    worker_timeout_seconds: int
    memory: str
    retry: bool


@dataclass(frozen=True)
class VpcSettings:
    network: str
    subnetwork: str


@dataclass(frozen=True)
class OperatorAccessEntry:
    principal: str
    expires: datetime  # UTC, whole seconds
    reason: str


@dataclass(frozen=True)
class Settings:
    project: str
    region: str
    environment: Literal["dev", "prod"]
    worker: WorkerSettings
    relay: RelaySettings
    vpc: VpcSettings | None
    legacy_pubsub_service_agent: bool
    secret_rotation_days: int
    upstream_api_key: str | None
    labels: dict[str, str] = field(default_factory=dict)
    operator_access: tuple[OperatorAccessEntry, ...] = ()
    operator_alert_channels: tuple[str, ...] = ()
    # Not errors, but worth a line in the deploy output (expired operator access, dropped).
    warnings: tuple[str, ...] = ()

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @classmethod
    def from_config(
        cls, config: Mapping[str, str], secret_keys: Collection[str] = (), now: datetime | None = None
    ) -> Settings:
        """Build settings from the engine's flat config map (`namespace:key` → string value).

        `secret_keys` names the keys stored encrypted (`pulumi config set --secret`); `now` is the clock
        operator access expiries are judged against (default: the current time).
        """
        now = now or datetime.now(UTC)
        values, errors = _parse(config)
        for key in SECRET_ONLY:
            full = f"{NAMESPACE}:{key}"
            if full in config and full not in secret_keys:
                errors.append(
                    f"{full}: must be stored encrypted, not in plaintext in Pulumi.<stack>.yaml; "
                    f"set it with `pulumi config set --secret {full} <value>`"
                )
        operator_access: list[OperatorAccessEntry] = []
        warnings: list[str] = []
        if not errors:
            errors = _combination_errors(values)
            operator_access, access_errors, warnings = _operator_access(values, now)
            errors += access_errors
        if errors:
            raise ConfigError("invalid stack config:\n" + "\n".join(f"  - {e}" for e in sorted(set(errors))))
        env = values["environment"]

        def get(key: str) -> Any:
            return _value(values, key)

        vpc = None
        if "vpcNetwork" in values:
            vpc = VpcSettings(network=values["vpcNetwork"], subnetwork=values["vpcSubnetwork"])
        labels = {**get("labels"), "app": NAMESPACE, "environment": env}
        return cls(
            project=config["gcp:project"],
            region=config["gcp:region"],
            environment=env,
            worker=WorkerSettings(
                image=get("workerImage"),
                min_instances=get("workerMinInstances"),
                max_instances=get("workerMaxInstances"),
                concurrency=get("workerConcurrency"),
                cpu=get("workerCpu"),
                memory=get("workerMemory"),
                request_timeout_seconds=get("workerRequestTimeoutSeconds"),
                startup_cpu_boost=get("workerStartupCpuBoost"),
                internal_ingress=get("workerIngress") == "internal",
                audience=get("workerAudience"),
                deletion_protection=get("deletionProtection"),
                image_keep_count=get("imageKeepCount"),
            ),
            relay=RelaySettings(
                max_instances=get("relayMaxInstances"),
                timeout_seconds=get("relayTimeoutSeconds"),
                worker_timeout_seconds=get("relayWorkerTimeoutSeconds"),
                memory=get("relayMemory"),
                retry=get("relayRetry"),
            ),
            vpc=vpc,
            legacy_pubsub_service_agent=get("legacyPubsubServiceAgent"),
            secret_rotation_days=get("secretRotationDays"),
            upstream_api_key=get("upstreamApiKey"),
            labels=labels,
            operator_access=tuple(operator_access),
            operator_alert_channels=tuple(get("operatorAlertChannels")),
            warnings=tuple(warnings),
        )


def load() -> Settings:
    """Read the running stack's whole config map (as the engine passed it) and validate it."""
    config: dict[str, str] = {}
    config.update(pulumi.runtime.config.get_config_env())
    config.update(pulumi.runtime.config.CONFIG.get())
    secret_keys = {k for k in config if pulumi.runtime.config.is_config_secret(k)}
    return Settings.from_config(config, secret_keys)


def _value(values: Mapping[str, Any], key: str) -> Any:
    """The given value, else the key's default (per environment where the schema says so)."""
    if key in values:
        return values[key]
    default = SCHEMA[key].get("default")
    if isinstance(default, dict) and values["environment"] in default:
        return default[values["environment"]]
    return default


def _parse(config: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
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
            hint = f"did you mean {prefix}{close[0]}? " if close else ""
            errors.append(f"{full_key}: unknown key; {hint}allowed keys: {', '.join(sorted(SCHEMA))}")
            continue
        value: Any = raw
        if schema.get("type") in ("integer", "boolean", "object", "array") and isinstance(raw, str):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                errors.append(f"{full_key}: {raw!r} is not a valid {schema['type']}")
                continue
        checked = {k: v for k, v in schema.items() if k not in ("default", "description")}
        problem = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(checked).iter_errors(value))
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


def _describe(problem: jsonschema.ValidationError) -> str:
    # jsonschema's own wording, with booleans shown as in YAML (False → false) and bools-as-ints rejected.
    if problem.validator == "type":
        return f"{json.dumps(problem.instance)} is not of type {problem.validator_value}"
    if problem.validator == "enum":
        return f"{json.dumps(problem.instance)} is not one of {json.dumps(problem.validator_value)}"
    return problem.message


def _mebibytes(size: str) -> int:
    number, unit = int(size[:-2]), size[-2:]
    return number * 1024 if unit == "Gi" else number


# Cloud Run's documented CPU/memory pairs: (memory above, in MiB) → minimum vCPU, and vCPU → minimum memory.
_MIN_CPU_FOR_MEMORY = ((24 * 1024, 8.0), (16 * 1024, 6.0), (8 * 1024, 4.0), (4 * 1024, 2.0))
_MIN_MEMORY_FOR_CPU = {"4": 2 * 1024, "8": 4 * 1024}
_MAX_MEMORY = 32 * 1024
_MIN_MEMORY = 128


def _memory_errors(cpu: str, memory: str, relay_memory: str) -> list[str]:
    p = NAMESPACE + ":"
    errors: list[str] = []
    mib = _mebibytes(memory)
    if not _MIN_MEMORY <= mib <= _MAX_MEMORY:
        errors.append(f"{p}workerMemory: {memory} is outside Cloud Run's 128Mi..32Gi")
    elif float(cpu) < 1 and mib >= 1024:
        errors.append(f"{p}workerMemory: {memory} needs at least 1 vCPU ({p}workerCpu={cpu}); use less than 1Gi")
    else:
        for above, min_cpu in _MIN_CPU_FOR_MEMORY:
            if mib > above and float(cpu) < min_cpu:
                errors.append(
                    f"{p}workerCpu: Cloud Run needs at least {min_cpu:g} vCPU for more than {above // 1024}Gi "
                    f"of memory ({p}workerMemory={memory})"
                )
                break
        if mib < _MIN_MEMORY_FOR_CPU.get(cpu, 0):
            errors.append(
                f"{p}workerMemory: {cpu} vCPU needs at least {_MIN_MEMORY_FOR_CPU[cpu] // 1024}Gi (got {memory})"
            )
    if not _MIN_MEMORY <= _mebibytes(relay_memory) <= _MAX_MEMORY:
        errors.append(f"{p}relayMemory: {relay_memory} is outside Cloud Functions' 128Mi..32Gi")
    return errors


def _combination_errors(values: Mapping[str, Any]) -> list[str]:
    """Rules across keys and per environment. Runs only once every single value is valid."""
    env = values["environment"]
    p = NAMESPACE + ":"

    def get(key: str) -> Any:
        return _value(values, key)

    errors: list[str] = []
    if get("workerMinInstances") > get("workerMaxInstances"):
        errors.append(
            f"{p}workerMinInstances: {get('workerMinInstances')} exceeds {p}workerMaxInstances "
            f"({get('workerMaxInstances')}); min must be <= max"
        )
    if ("vpcNetwork" in values) != ("vpcSubnetwork" in values):
        missing = "vpcSubnetwork" if "vpcNetwork" in values else "vpcNetwork"
        errors.append(f"{p}{missing}: required together with {p}vpcNetwork and {p}vpcSubnetwork")
    if get("workerIngress") == "internal" and "vpcNetwork" not in values:
        errors.append(
            f"{p}workerIngress: 'internal' needs the relay to egress through a VPC; set {p}vpcNetwork and "
            f"{p}vpcSubnetwork (a subnet with Private Google Access), or use 'all' with IAM as the gate"
        )
    if get("workerCpu") in CPU_BELOW_ONE and get("workerConcurrency") != 1:
        errors.append(
            f"{p}workerConcurrency: Cloud Run forces concurrency 1 below 1 vCPU ({p}workerCpu="
            f"{get('workerCpu')}); set it to 1 or raise {p}workerCpu to at least 1"
        )
    errors += _memory_errors(get("workerCpu"), get("workerMemory"), get("relayMemory"))
    reserved = sorted(set(get("labels")) & _RESERVED_LABELS)
    if reserved:
        errors.append(f"{p}labels: {', '.join(reserved)} are set by the stack itself; remove them")
    if get("relayWorkerTimeoutSeconds") >= get("relayTimeoutSeconds"):
        errors.append(
            f"{p}relayWorkerTimeoutSeconds: {get('relayWorkerTimeoutSeconds')} must be below "
            f"{p}relayTimeoutSeconds ({get('relayTimeoutSeconds')}), so a slow worker fails the call, "
            "not the whole function"
        )
    if get("relayTimeoutSeconds") > get("workerRequestTimeoutSeconds"):
        errors.append(
            f"{p}relayTimeoutSeconds: {get('relayTimeoutSeconds')} exceeds {p}workerRequestTimeoutSeconds "
            f"({get('workerRequestTimeoutSeconds')}); the worker must outlive the call that waits for it"
        )
    if env == "prod":
        image = values.get("workerImage")
        if image is not None and not _DIGEST.search(image):
            errors.append(f"{p}workerImage: prod needs an image pinned by digest (…@sha256:<64 hex>), got {image!r}")
        if get("workerMinInstances") < 1:
            errors.append(
                f"{p}workerMinInstances: prod keeps at least 1 warm instance (got {get('workerMinInstances')})"
            )
        if not get("deletionProtection"):
            errors.append(f"{p}deletionProtection: prod must keep deletion protection on (true)")
        if not get("workerStartupCpuBoost"):
            errors.append(f"{p}workerStartupCpuBoost: prod must keep startup CPU boost on (true)")
    return errors


def _operator_access(
    values: Mapping[str, Any], now: datetime
) -> tuple[list[OperatorAccessEntry], list[str], list[str]]:
    """(live entries, errors, warnings). An entry is a person or group of the team's identity provider, an
    RFC 3339 expiry within operatorAccessMaxDays, and (in prod) a reason. Lapsed entries are dropped with a
    warning: an old grant must not block every later deploy."""
    key = f"{NAMESPACE}:operatorAccess"
    max_days = _value(values, "operatorAccessMaxDays")
    entries, errors, warnings = [], [], []
    seen: dict[tuple[str, datetime], int] = {}
    for index, raw in enumerate(_value(values, "operatorAccess")):
        where = f"{key}[{index}]"
        principal, expires_text, reason = raw["principal"], raw["expires"], raw.get("reason", "")
        problem = _principal_problem(principal)
        if problem:
            errors.append(f"{where}.principal: {principal!r} {problem}")
        expires = _rfc3339(expires_text)
        if expires is None:
            errors.append(f"{where}.expires: {expires_text!r} is not an RFC 3339 time such as 2030-01-31T18:00:00Z")
        elif expires - now > timedelta(days=max_days):
            errors.append(
                f"{where}.expires: {expires_text} is more than {max_days} days ahead "
                f"({NAMESPACE}:operatorAccessMaxDays); grant access for days, not for good"
            )
        if values["environment"] == "prod" and not reason:
            errors.append(f"{where}.reason: required in prod (the ticket or incident the access is for)")
        if problem or expires is None:
            continue
        if (principal, expires) in seen:
            errors.append(f"{where}: repeats {key}[{seen[(principal, expires)]}]")
            continue
        seen[(principal, expires)] = index
        if expires <= now:
            warnings.append(f"{where}: access of {principal} expired at {expires_text}; dropped (remove the entry)")
            continue
        entries.append(OperatorAccessEntry(principal, expires, reason))
    return entries, errors, warnings


def _principal_problem(principal: str) -> str | None:
    if principal in _PUBLIC_PRINCIPALS:
        return "is public; name a group or user of your identity provider"
    if "*" in principal or principal.startswith("domain:") or principal.endswith("/*"):
        return "is a wildcard; name one group or user of your identity provider"
    if principal.startswith("serviceAccount:"):
        return (
            "is a service account; operator access is for people. A workload gets its own identity and "
            "its own invoker grant"
        )
    if not _OPERATOR_PRINCIPAL.match(principal):
        return (
            "is not a person or group: use group:<email>, user:<email>, or a workforce pool group "
            "principalSet://iam.googleapis.com/locations/global/workforcePools/<pool>/group/<group>"
        )
    return None


def _rfc3339(text: str) -> datetime | None:
    if not _RFC3339.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(microsecond=0)
