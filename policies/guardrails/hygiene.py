"""Hygiene (advisory): labels, warm instances for production services, ingress open to the internet, KMS keys
that are not rotated within 90 days, audit logs that exempt members or that an authoritative policy drops."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .context import RuleContext
from .values import UNKNOWN, Unknown, as_number, elements, get, get_list, get_map, get_str, is_true, parse_json
from .workloads import FUNCTION_V1, FUNCTION_V2, RUN_V1_SERVICE, RUN_V2_SERVICE, WORKLOAD_TYPES

__all__ = [
    "AUDIT_TYPES",
    "CRYPTO_KEY",
    "INGRESS_TYPES",
    "LABELLED_TYPES",
    "MAX_ROTATION_DAYS",
    "audit_logs_kept",
    "ingress_restricted",
    "kms_keys_rotated",
    "labels_present",
    "prod_min_instances",
]

LABELLED_TYPES: Final = WORKLOAD_TYPES | {
    "gcp:storage/bucket:Bucket",
    "gcp:pubsub/topic:Topic",
    "gcp:pubsub/subscription:Subscription",
    "gcp:secretmanager/secret:Secret",
    "gcp:artifactregistry/repository:Repository",
}


def labels_present(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    if ctx.provider_default_labels:
        return []
    path = ("metadata", "labels") if resource_type == RUN_V1_SERVICE else ("labels",)
    labels = get_map(props, *path)
    if labels is UNKNOWN or (isinstance(labels, Mapping) and len(labels) > 0):
        return []
    return [
        f"{'.'.join(path)} is empty on {ctx.label}: costs and incidents cannot be traced to an owner or "
        "environment. Set labels (e.g. app, env, owner) on the resource or defaultLabels on the provider."
    ]


_MIN_SCALE_ANNOTATION = "autoscaling.knative.dev/minScale"


def prod_min_instances(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """A production Cloud Run service without warm instances pays a cold start on the first request."""
    if ctx.stack not in ctx.settings.production_stacks:
        return []
    if resource_type == RUN_V2_SERVICE:
        values = [
            as_number(get(props, "template", "scaling", "minInstanceCount")),
            as_number(get(props, "scaling", "minInstanceCount")),
        ]
        setting = "template.scaling.minInstanceCount"
    else:
        values = [as_number(get(props, "template", "metadata", "annotations", _MIN_SCALE_ANNOTATION))]
        setting = f"template.metadata.annotations[{_MIN_SCALE_ANNOTATION}]"
    if any(v is UNKNOWN or (isinstance(v, float) and v >= 1) for v in values):
        return []
    return [
        f"production service {ctx.label} (stack '{ctx.stack}') keeps no warm instance, so a request after "
        f"idle waits for a cold start. Set {setting} to at least 1 (and startup CPU boost)."
    ]


_INGRESS_ADVICE = (
    "IAM is then the only gate. If callers can reach it through a VPC, restrict ingress to internal "
    "traffic (callers then need Direct VPC egress with ALL_TRAFFIC)."
)


INGRESS_TYPES: Final = frozenset({RUN_V2_SERVICE, FUNCTION_V2, FUNCTION_V1, RUN_V1_SERVICE})


def ingress_restricted(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    if resource_type == RUN_V2_SERVICE:
        path, open_values, fix = ("ingress",), {"INGRESS_TRAFFIC_ALL"}, "INGRESS_TRAFFIC_INTERNAL_ONLY"
    elif resource_type == FUNCTION_V2:
        path, open_values, fix = ("serviceConfig", "ingressSettings"), {"ALLOW_ALL"}, "ALLOW_INTERNAL_ONLY"
    elif resource_type == FUNCTION_V1:
        path, open_values, fix = ("ingressSettings",), {"ALLOW_ALL"}, "ALLOW_INTERNAL_ONLY"
    elif resource_type == RUN_V1_SERVICE:
        path, open_values, fix = ("metadata", "annotations", "run.googleapis.com/ingress"), {"all"}, "internal"
    else:
        return []
    value = get_str(props, *path)
    if isinstance(value, Unknown):
        return []
    if value is not None and value.strip() not in open_values:
        return []
    state = "is not set (defaults to all traffic)" if value is None else f"is {value}"
    return [f"{'.'.join(path)} of {ctx.label} {state}: reachable from the internet. {_INGRESS_ADVICE} ({fix})"]


# --- KMS keys rotated -----------------------------------------------------------------------------------------

CRYPTO_KEY: Final = "gcp:kms/cryptoKey:CryptoKey"
# CIS GCP 1.10 and trivy's google-kms-rotate-kms-keys: a new key version at least every 90 days.
MAX_ROTATION_DAYS: Final = 90
_DURATION_RE: Final = re.compile(r"^([0-9]{1,12})(?:\.[0-9]{1,9})?s$")
# Cloud KMS rotates automatically only symmetric encryption keys (ENCRYPT_DECRYPT, the default purpose) that are
# neither imported nor external (Cloud EKM): others get new versions by hand, so no rotationPeriod applies.
_NOT_AUTO_ROTATED_LEVELS: Final = frozenset({"EXTERNAL", "EXTERNAL_VPC"})


def kms_keys_rotated(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """A symmetric Cloud KMS key without automatic rotation, or rotated less often than every 90 days."""
    purpose = get_str(props, "purpose")
    level = get_str(props, "versionTemplate", "protectionLevel")
    backend = get_str(props, "cryptoKeyBackend")
    imported = get(props, "importOnly")
    if (
        isinstance(purpose, Unknown)
        or isinstance(level, Unknown)
        or isinstance(backend, Unknown)
        or imported is UNKNOWN
    ):
        return []
    if (purpose is not None and purpose.strip() != "ENCRYPT_DECRYPT") or is_true(imported):
        return []
    if (level is not None and level.strip() in _NOT_AUTO_ROTATED_LEVELS) or (backend is not None and backend.strip()):
        return []
    period = get_str(props, "rotationPeriod")
    if isinstance(period, Unknown):
        return []
    fix = f'Set rotationPeriod to at most {MAX_ROTATION_DAYS} days ("{MAX_ROTATION_DAYS * 86400}s")'
    if period is None or not period.strip():
        return [
            f"rotationPeriod is not set on Cloud KMS key {ctx.label}: its one key version encrypts every new "
            f"secret for as long as the key lives, so a leaked version exposes all of it. {fix}; new data is then "
            "encrypted with a fresh version and old data stays readable."
        ]
    match = _DURATION_RE.match(period.strip())
    if match is None:
        return []  # not a duration the API accepts: the provider refuses it before the pack matters
    if int(match.group(1)) <= MAX_ROTATION_DAYS * 86400:
        return []
    return [
        f"rotationPeriod of Cloud KMS key {ctx.label} is {period.strip()}, longer than {MAX_ROTATION_DAYS} days "
        f"({MAX_ROTATION_DAYS * 86400}s): a leaked key version stays in use that long. {fix}."
    ]


# --- audit logs kept ------------------------------------------------------------------------------------------

AUDIT_CONFIG_TYPES: Final = frozenset(
    {
        "gcp:projects/iAMAuditConfig:IAMAuditConfig",
        "gcp:folder/iamAuditConfig:IamAuditConfig",
        "gcp:organizations/iamAuditConfig:IamAuditConfig",
    }
)
# Authoritative policies of a project, folder or organization also set its audit configs: the whole list.
AUTHORITATIVE_POLICY_TYPES: Final = frozenset(
    {
        "gcp:projects/iAMPolicy:IAMPolicy",
        "gcp:folder/iAMPolicy:IAMPolicy",
        "gcp:organizations/iAMPolicy:IAMPolicy",
    }
)
AUDIT_TYPES: Final = AUDIT_CONFIG_TYPES | AUTHORITATIVE_POLICY_TYPES
_IAM_SERVICES: Final = frozenset({"iam.googleapis.com", "allServices"})


def audit_logs_kept(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """Audit log configs that exempt members (their reads and writes leave no record), and an authoritative
    project/folder/organization policy that replaces every audit config without logging IAM's admin reads (who
    minted tokens for which service account)."""
    if resource_type in AUDIT_CONFIG_TYPES:
        return _exemptions(get(props, "service"), get_list(props, "auditLogConfigs"), "auditLogConfigs", ctx)
    doc = parse_json(get(props, "policyData"))
    if doc is UNKNOWN or not isinstance(doc, Mapping):
        return []
    configs = get_list(doc, "auditConfigs")
    if isinstance(configs, Unknown):
        return []
    out: list[str] = []
    logs_iam = False
    for index, config in enumerate(elements(configs)):
        service = get(config, "service")
        logs = get_list(config, "auditLogConfigs")
        out += _exemptions(service, logs, f"policyData.auditConfigs[{index}].auditLogConfigs", ctx)
        if service in _IAM_SERVICES and any(get(log, "logType") == "ADMIN_READ" for log in elements(logs)):
            logs_iam = True
    if not logs_iam:
        out.append(
            f"policyData of {ctx.label} is authoritative for the audit configs too: it replaces every one set "
            "elsewhere (console, organization setup, IAMAuditConfig) with its own list, which does not log "
            "iam.googleapis.com ADMIN_READ, so who mints tokens for which service account (GenerateAccessToken, "
            "GenerateIdToken) is no longer recorded. Add an auditConfigs entry for iam.googleapis.com with logType "
            "ADMIN_READ to the policy, or grant with IAMMember/IAMBinding instead of an authoritative IAMPolicy."
        )
    return out


def _exemptions(service: object, logs: object, path: str, ctx: RuleContext) -> list[str]:
    out: list[str] = []
    for index, log in enumerate(elements(logs)):
        members = [m for m in elements(get(log, "exemptedMembers")) if isinstance(m, str) and m.strip()]
        if not members:
            continue
        log_type = get(log, "logType")
        shown_service = service if isinstance(service, str) else "its service"
        out.append(
            f"{path}[{index}].exemptedMembers of {ctx.label} exempts {', '.join(members[:3])} from the "
            f"{log_type if isinstance(log_type, str) else ''} audit logs of {shown_service}: what they read or "
            "change there leaves no record, and an exempted identity is exactly the one an attacker would use. "
            "Remove exemptedMembers (filter noisy callers out in a log view or sink exclusion instead)."
        )
    return out
