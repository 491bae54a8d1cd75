"""Config cases shared by the settings tests (the pure parser) and the stack tests (the real program): the
stack files as the engine passes them, and one invalid-config case per rule with the message it must give."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DIGEST = "a" * 64


def config_key(key: str) -> str:
    """A bare key is in the project's namespace, as `pulumi config set` reads it."""
    return key if ":" in key else f"secure-invoke:{key}"


def config_value(value: object) -> str:
    """A value as the engine passes it to a program: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def overrides_as_config(overrides: Mapping[str, object]) -> dict[str, str]:
    """`--set`-style overrides: full keys, string values."""
    return {config_key(k): config_value(v) for k, v in overrides.items()}


def stack_config(stack: str, **overrides: object) -> dict[str, str]:
    """The flat config map the engine would pass for Pulumi.<stack>.yaml, plus overrides (None deletes)."""
    raw = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    flat = {k: config_value(v) for k, v in raw.items()}
    for key, value in overrides.items():
        if value is None:
            flat.pop(config_key(key), None)
        else:
            flat[config_key(key)] = config_value(value)
    return flat


NOW = datetime.now(UTC)
SOON = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
FAR = (NOW + timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
POOL = "principalSet://iam.googleapis.com/locations/global/workforcePools/acme-okta"


def access(principal: str = "group:oncall@acme.com", expires: str = SOON, **extra: str) -> list[dict[str, str]]:
    return [{"principal": principal, "expires": expires, **extra}]


# (stack, overrides, a fragment the one error message must contain)
RULES = {
    "unknown key": ("dev", {"workerMinInstance": 1}, "secure-invoke:workerMinInstance: unknown key; did you mean secure-invoke:workerMinInstances?"),
    "wrong type": ("dev", {"workerMaxInstances": "many"}, "secure-invoke:workerMaxInstances: 'many' is not a valid integer"),
    "bool given as int": ("dev", {"relayRetry": 1}, "secure-invoke:relayRetry: 1 is not of type boolean"),
    "out of range": ("dev", {"workerMaxInstances": 0}, "secure-invoke:workerMaxInstances: 0 is less than the minimum of 1"),
    "not an allowed value": ("dev", {"workerIngress": "public"}, 'secure-invoke:workerIngress: "public" is not one of ["all", "internal"]'),
    "bad label": ("dev", {"labels": {"Team": "x"}}, "secure-invoke:labels: 'Team' does not match"),
    "environment missing": ("dev", {"environment": None}, "secure-invoke:environment: required (one of ['dev', 'prod'])"),
    "project missing": ("dev", {"gcp:project": None}, "gcp:project: required"),
    "region missing": ("dev", {"gcp:region": None}, "gcp:region: required"),
    "bad project id": ("dev", {"gcp:project": "Acme_Prod"}, "gcp:project: 'Acme_Prod' is not a project id"),
    "min above max": ("dev", {"workerMinInstances": 5, "workerMaxInstances": 2}, "secure-invoke:workerMinInstances: 5 exceeds secure-invoke:workerMaxInstances (2); min must be <= max"),
    "internal ingress without VPC": ("dev", {"workerIngress": "internal"}, "secure-invoke:workerIngress: 'internal' needs the relay to egress through a VPC"),
    "half a VPC": ("dev", {"workerIngress": "internal", "vpcNetwork": "default"}, "secure-invoke:vpcSubnetwork: required together with"),
    "concurrency below 1 vCPU": ("dev", {"workerCpu": "0.5", "workerConcurrency": 10}, "secure-invoke:workerConcurrency: Cloud Run forces concurrency 1 below 1 vCPU"),
    "relay HTTP timeout not below function timeout": ("dev", {"relayWorkerTimeoutSeconds": 120, "relayTimeoutSeconds": 120}, "secure-invoke:relayWorkerTimeoutSeconds: 120 must be below secure-invoke:relayTimeoutSeconds (120)"),
    "function outlives worker": ("dev", {"relayTimeoutSeconds": 500, "workerRequestTimeoutSeconds": 300}, "secure-invoke:relayTimeoutSeconds: 500 exceeds secure-invoke:workerRequestTimeoutSeconds (300)"),
    "memory above Cloud Run's maximum": ("dev", {"workerMemory": "64Gi"}, "secure-invoke:workerMemory: 64Gi is outside Cloud Run's 128Mi..32Gi"),
    "too little CPU for the memory": ("dev", {"workerMemory": "10Gi", "workerCpu": "2"}, "secure-invoke:workerCpu: Cloud Run needs at least 4 vCPU for more than 8Gi of memory"),
    "too little memory for the CPU": ("dev", {"workerCpu": "4"}, "secure-invoke:workerMemory: 4 vCPU needs at least 2Gi (got 512Mi)"),
    "too much memory below 1 vCPU": ("dev", {"workerCpu": "0.5", "workerConcurrency": 1, "workerMemory": "2Gi"}, "secure-invoke:workerMemory: 2Gi needs at least 1 vCPU"),
    "relay memory out of range": ("dev", {"relayMemory": "99Gi"}, "secure-invoke:relayMemory: 99Gi is outside Cloud Functions' 128Mi..32Gi"),
    "reserved label": ("dev", {"labels": {"environment": "prod"}}, "secure-invoke:labels: environment is set by the stack itself; remove it"),
    "reserved labels": ("dev", {"labels": {"environment": "prod", "app": "x"}}, "secure-invoke:labels: app, environment are set by the stack itself; remove them"),
    "prod image without digest": ("prod", {"workerImage": "europe-west1-docker.pkg.dev/p/r/worker:latest"}, "secure-invoke:workerImage: prod needs an image pinned by digest"),
    "prod without warm instance": ("prod", {"workerMinInstances": 0}, "secure-invoke:workerMinInstances: prod keeps at least 1 warm instance (got 0)"),
    "prod without deletion protection": ("prod", {"deletionProtection": False}, "secure-invoke:deletionProtection: prod must keep deletion protection on"),
    "prod without CPU boost": ("prod", {"workerStartupCpuBoost": False}, "secure-invoke:workerStartupCpuBoost: prod must keep startup CPU boost on"),
    "operator access too far ahead": ("dev", {"operatorAccess": access(expires=FAR)}, f"secure-invoke:operatorAccess[0].expires: {FAR} is more than 7 days ahead"),
    "operator access for everyone": ("dev", {"operatorAccess": access("allUsers")}, "secure-invoke:operatorAccess[0].principal: 'allUsers' is public"),
    "operator access for a whole pool": ("dev", {"operatorAccess": access(f"{POOL}/*")}, "secure-invoke:operatorAccess[0].principal: 'principalSet://iam.googleapis.com/locations/global/workforcePools/acme-okta/*' is a wildcard"),
    "operator access for a domain": ("dev", {"operatorAccess": access("domain:acme.com")}, "secure-invoke:operatorAccess[0].principal: 'domain:acme.com' is a wildcard"),
    "operator access for a service account": ("dev", {"operatorAccess": access("serviceAccount:ci@acme.iam.gserviceaccount.com")}, "secure-invoke:operatorAccess[0].principal: 'serviceAccount:ci@acme.iam.gserviceaccount.com' is a service account"),
    "operator access for no one in particular": ("dev", {"operatorAccess": access("oncall@acme.com")}, "secure-invoke:operatorAccess[0].principal: 'oncall@acme.com' is not a person or group"),
    "operator access with a loose date": ("dev", {"operatorAccess": access(expires="next friday")}, "secure-invoke:operatorAccess[0].expires: 'next friday' is not an RFC 3339 time"),
    "operator access with a date but no zone": ("dev", {"operatorAccess": access(expires="2030-01-01T10:00:00")}, "secure-invoke:operatorAccess[0].expires: '2030-01-01T10:00:00' is not an RFC 3339 time"),
    "operator access in prod without a reason": ("prod", {"operatorAccess": access()}, "secure-invoke:operatorAccess[0].reason: required in prod"),
    "operator access entry with an unknown field": ("dev", {"operatorAccess": access(until=SOON)}, "secure-invoke:operatorAccess[0]: unknown field 'until' (allowed: expires, principal, reason)"),
    "operator access entry with a typo'd field": ("dev", {"operatorAccess": access() + access(reasn="INC-1")}, "secure-invoke:operatorAccess[1]: unknown field 'reasn'; did you mean 'reason'? (allowed: expires, principal, reason)"),
    "operator access entry with a typo'd required field": ("dev", {"operatorAccess": [{"principal": "group:oncall@acme.com", "expirse": SOON}]}, "secure-invoke:operatorAccess[0]: unknown field 'expirse'; did you mean 'expires'?"),
    "operator access for a workforce subject, malformed": ("dev", {"operatorAccess": access("principal://iam.googleapis.com/locations/global/workforcePools/acme-okta/subject/")}, "or a workforce pool subject principal://iam.googleapis.com/locations/global/workforcePools/<pool>/subject/<id>"),
    "operator access given twice": ("dev", {"operatorAccess": access() + access()}, "secure-invoke:operatorAccess[1]: repeats secure-invoke:operatorAccess[0]"),
    "alert channel that is not one": ("prod", {"operatorAlertChannels": ["email:oncall@acme.com"]}, "secure-invoke:operatorAlertChannels[0]: 'email:oncall@acme.com' does not match"),
}  # fmt: skip
