"""The stack's config keys, each declared once (`KEYS`): its JSON Schema, its default (one value, or one per
tier), its row in the README's configuration table, and the component argument it is carried to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from secure_invoke.components import (
    AccessAuditArgs,
    EventFunctionArgs,
    PrivateServiceArgs,
    RotatedSecretArgs,
    WorkerImageArgs,
)

# The pack's `maxHumanAccessDays` default: the stack refuses operator access the pack would reject.
from secure_invoke.policies.guardrails.config import DEFAULT_MAX_HUMAN_ACCESS_DAYS
from secure_invoke.settings.callers import CALLER_SCHEMA, KINDS
from secure_invoke.settings.keys import PROJECT_ID, TIERS, ByTier, Key, project_key, region_key

NAMESPACE: Final = "secure-invoke"
# The environment names every account id `worker-operator-<environment>` (at most 30 characters).
MAX_ENVIRONMENT_LENGTH: Final = 14

_LABEL_KEY = r"^[a-z][a-z0-9_-]{0,62}$"
_LABEL_VALUE = r"^[a-z0-9_-]{0,63}$"
_SIZE = r"^[1-9][0-9]*(Mi|Gi)$"

KEYS: Final[tuple[Key, ...]] = (
    project_key("The Google Cloud project of this environment (required)."),
    region_key("Region of every regional resource (required)."),
    Key(
        "environment",
        {"type": "string", "pattern": rf"^[a-z](?:[a-z0-9-]{{0,{MAX_ENVIRONMENT_LENGTH - 2}}}[a-z0-9])?$"},
        "The environment's name, free (`dev`, `staging`, `eu-prod`; required): it names every resource and account "
        f"(`relay-<environment>`, `worker-operator-<environment>`), so at most {MAX_ENVIRONMENT_LENGTH} characters, "
        "lower case, digits and inner hyphens. What differs between environments is `tier`, never the name.",
        required=True,
        explain=f"is not an environment name (1-{MAX_ENVIRONMENT_LENGTH} chars, a-z 0-9 and inner hyphens)",
    ),
    Key(
        "tier",
        {"enum": list(TIERS)},
        "`development` or `production` (required). production enforces a warm instance, deletion protection, CPU "
        "boost, digest-pinned prebuilt images, a reason on every operator access entry and an alert on every "
        "operator token mint; it also keeps the relay's source bucket on `destroy`.",
        required=True,
    ),
    Key(
        "workerImage",
        {"type": "string", "pattern": r"^[a-z0-9.-]+(:[0-9]+)?/[a-zA-Z0-9._/-]+(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$"},
        "Prebuilt worker image. Unset: built from `services/worker` and pushed by digest. production: must end in "
        "`@sha256:<64 hex>`.",
        feeds=(WorkerImageArgs, "prebuilt"),
    ),
    Key(
        "workerMinInstances",
        {"type": "integer", "minimum": 0, "maximum": 100},
        "Warm worker instances; must be <= `workerMaxInstances`; production >= 1.",
        default=ByTier(development=0, production=1),
        feeds=(PrivateServiceArgs, "min_instances"),
    ),
    Key(
        "workerMaxInstances",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        "Upper bound on worker instances.",
        default=ByTier(development=3, production=10),
        feeds=(PrivateServiceArgs, "max_instances"),
    ),
    Key(
        "workerConcurrency",
        {"type": "integer", "minimum": 1, "maximum": 100},
        "Requests per worker instance (Cloud Run container concurrency, and the worker's request threads); must "
        "be 1 when `workerCpu` is below 1.",
        default=8,
        feeds=(PrivateServiceArgs, "concurrency"),
    ),
    Key(
        "workerCpu",
        {"enum": ["0.5", "1", "2", "4", "8"]},
        "vCPU per worker instance.",
        default="1",
        feeds=(PrivateServiceArgs, "cpu"),
    ),
    Key(
        "workerMemory",
        {"type": "string", "pattern": _SIZE},
        "Memory per worker instance (`Mi`/`Gi`, 128Mi..32Gi); Cloud Run's CPU/memory pairs are checked (more than "
        "4Gi needs 2 vCPU, 8Gi 4, 16Gi 6, 24Gi 8; 4 vCPU needs 2Gi, 8 vCPU 4Gi; below 1 vCPU less than 1Gi).",
        default="512Mi",
        feeds=(PrivateServiceArgs, "memory"),
    ),
    Key(
        "workerRequestTimeoutSeconds",
        {"type": "integer", "minimum": 1, "maximum": 3600},
        "Worker request timeout; must be >= `relayTimeoutSeconds`.",
        default=600,
        feeds=(PrivateServiceArgs, "request_timeout_seconds"),
    ),
    Key(
        "workerStartupCpuBoost",
        {"type": "boolean"},
        "Extra CPU during start-up (cold starts); production: true.",
        default=ByTier(development=False, production=True),
        feeds=(PrivateServiceArgs, "startup_cpu_boost"),
    ),
    Key(
        "workerIngress",
        {"enum": ["all", "internal"]},
        "`all` (IAM is the gate) or `internal` (needs `vpcNetwork`/`vpcSubnetwork` for the relay's Direct VPC egress).",
        default="all",
        feeds=(PrivateServiceArgs, "internal_ingress"),
        convert=lambda ingress: ingress == "internal",
    ),
    Key(
        "workerAudience",
        {"type": "string", "minLength": 1, "maxLength": 512},
        "The audience every caller mints for and the worker accepts (a Cloud Run custom audience). Default: "
        "`https://worker-<env>.<project>.secure-invoke.internal`, a name rather than the service's URL, so it stays "
        "when the URL changes (local mode uses its own, `https://worker.secure-invoke.local`).",
    ),
    Key(
        "vpcNetwork",
        {"type": "string", "minLength": 1},
        "VPC network for the relay's Direct VPC egress (all traffic); set together with `vpcSubnetwork`.",
    ),
    Key(
        "vpcSubnetwork",
        {"type": "string", "minLength": 1},
        "Subnet for that egress; it needs Private Google Access.",
    ),
    Key(
        "deletionProtection",
        {"type": "boolean"},
        "Cloud Run deletion protection on the worker; production: true.",
        default=ByTier(development=False, production=True),
        feeds=(PrivateServiceArgs, "deletion_protection"),
    ),
    Key(
        "relayMaxInstances",
        {"type": "integer", "minimum": 1, "maximum": 1000},
        "Upper bound on relay instances.",
        default=5,
        feeds=(EventFunctionArgs, "max_instances"),
    ),
    Key(
        "relayTimeoutSeconds",
        {"type": "integer", "minimum": 1, "maximum": 540},
        "Function timeout (event-driven functions stop at 540 s).",
        default=120,
        feeds=(EventFunctionArgs, "timeout_seconds"),
    ),
    Key(
        "relayWorkerTimeoutSeconds",
        {"type": "integer", "minimum": 1, "maximum": 539},
        "The relay's HTTP timeout towards the worker; must be below `relayTimeoutSeconds`.",
        default=90,
    ),
    Key(
        "relayMemory",
        {"type": "string", "pattern": _SIZE},
        "Function memory.",
        default="256Mi",
        feeds=(EventFunctionArgs, "memory"),
    ),
    Key(
        "relayRetry",
        {"type": "boolean"},
        "Eventarc retry policy: true retries failed deliveries (up to 24 h); the relay raises only for transient "
        "failures.",
        default=True,
        feeds=(EventFunctionArgs, "retry"),
    ),
    Key(
        "legacyPubsubServiceAgent",
        {"type": "boolean"},
        "Set true only if the project's Pub/Sub service agent predates 2021-04-08: grants it "
        "`roles/iam.serviceAccountTokenCreator` on the trigger identity, nothing else.",
        default=False,
        feeds=(EventFunctionArgs, "legacy_pubsub_agent"),
    ),
    Key(
        "secretRotationDays",
        {"type": "integer", "minimum": 1, "maximum": 3650},
        "Rotation period of the upstream API key secret.",
        default=90,
        feeds=(RotatedSecretArgs, "rotation_days"),
    ),
    Key(
        "upstreamApiKey",
        {"type": "string", "minLength": 1},
        "Optional, and only as a secret (`pulumi config set --secret`; a plaintext value is refused): the secret's "
        "first version. Unset: add it with `gcloud secrets versions add upstream-api-key-<env> --data-file=-` "
        "whenever you like, so it never enters Pulumi state; the worker reads the secret as a file when it needs it "
        "and starts without it.",
        secret=True,
        feeds=(RotatedSecretArgs, "initial_value"),
    ),
    Key(
        "imageKeepCount",
        {"type": "integer", "minimum": 1, "maximum": 100},
        "Worker images kept by the repository's cleanup policy.",
        default=10,
        feeds=(WorkerImageArgs, "keep_count"),
    ),
    Key(
        "callers",
        CALLER_SCHEMA,
        "Callers of the worker besides the relay and the operator account, each with its own identity, "
        "`{name, kind, ...}`; `kind` is one of "
        + ", ".join(f"`{kind}`" for kind in KINDS)
        + ". Each entry becomes one `roles/run.invoker` grant on the worker, an entry of its allowlist and, "
        "except `service-account` (a workload elsewhere, by `email`), the caller itself, set to send the worker's "
        "audience. See [docs/design.md §2](docs/design.md#declared-callers).",
        default=[],
    ),
    Key(
        "operatorAccess",
        {
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
        },
        "Just-in-time access for people: each `{principal, expires, reason}` becomes one conditional grant of "
        "`roles/iam.serviceAccountOpenIdTokenCreator` on `worker-operator-<env>` only, until `expires`. `principal`: "
        "`group:<email>`, `user:<email>`, a workforce pool group "
        "`principalSet://iam.googleapis.com/locations/global/workforcePools/<pool>/group/<group>` or subject "
        "`principal://iam.googleapis.com/locations/global/workforcePools/<pool>/subject/<id>`; public, wildcard, "
        "`domain:` and `serviceAccount:` principals are refused. `expires`: RFC 3339 with a zone, at most "
        "`operatorAccessMaxDays` ahead; a lapsed entry is dropped with a warning. production: `reason` required. See "
        "[docs/operator-access.md](docs/operator-access.md).",
        default=[],
    ),
    Key(
        "operatorAccessMaxDays",
        {"type": "integer", "minimum": 1, "maximum": 90},
        "How far ahead an `operatorAccess` entry may expire. The default is the policy pack's `maxHumanAccessDays`; "
        "raise both together.",
        default=DEFAULT_MAX_HUMAN_ACCESS_DAYS,
    ),
    Key(
        "operatorAlertChannels",
        {
            "type": "array",
            "uniqueItems": True,
            "items": {
                "type": "string",
                "pattern": rf"^projects/{PROJECT_ID}/notificationChannels/[0-9]+$",
            },
        },
        "Notification channels (`projects/<p>/notificationChannels/<id>`) of the production alert on operator token "
        "mints.",
        default=[],
        feeds=(AccessAuditArgs, "notification_channels"),
        convert=tuple,
    ),
    Key(
        "labels",
        {
            "type": "object",
            "propertyNames": {"pattern": _LABEL_KEY},
            "additionalProperties": {"type": "string", "pattern": _LABEL_VALUE},
            "maxProperties": 60,
        },
        "Extra labels on every labelled resource; `app` and `environment` are set by the stack and may not be "
        "overridden; GCP label syntax is checked.",
        default={},
    ),
)

BY_NAME: Final[dict[str, Key]] = {key.name: key for key in KEYS}


def value_or_default(values: Mapping[str, Any], name: str) -> Any:
    """The given value, else the key's default (per tier where it differs)."""
    if name in values:
        return values[name]
    return BY_NAME[name].default_for(values.get("tier"))
