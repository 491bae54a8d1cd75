"""Config cases shared by the settings tests (the pure parser) and the stack tests (the real program): the
stack files as the engine passes them, and one invalid-config case per rule with the message it must give."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from secure_invoke.settings import NAMESPACE, Settings, Tier, read_stack_file

REPO = Path(__file__).resolve().parents[2]
DIGEST = "a" * 64
# Every stack of the program, as its files say: the tests run on whatever stacks the repository has.
STACKS = sorted(p.name.removeprefix("Pulumi.").removesuffix(".yaml") for p in REPO.glob("Pulumi.*.yaml"))


def config_key(key: str) -> str:
    """A bare key is in the project's namespace, as `pulumi config set` reads it."""
    return key if ":" in key else f"{NAMESPACE}:{key}"


def config_value(value: object) -> str:
    """A value as the engine passes it to a program: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


def overrides_as_config(overrides: Mapping[str, object]) -> dict[str, str]:
    """`--set`-style overrides: full keys, string values."""
    return {config_key(k): config_value(v) for k, v in overrides.items()}


def stack_config(stack: str, **overrides: object) -> dict[str, str]:
    """The flat config map the engine would pass for Pulumi.<stack>.yaml, plus overrides (None deletes)."""
    flat, _ = read_stack_file(REPO / f"Pulumi.{stack}.yaml", NAMESPACE)
    for key, value in overrides.items():
        if value is None:
            flat.pop(config_key(key), None)
        else:
            flat[config_key(key)] = config_value(value)
    return flat


@cache
def settings_of(stack: str) -> Settings:
    """The settings the program itself reads for `stack`: what the tests expect is derived from these."""
    return Settings.from_stack_file(REPO / f"Pulumi.{stack}.yaml")


def stack_of_tier(tier: Tier) -> str:
    """A stack of that tier (the first by name): rules that hold per tier are tested on it."""
    stacks = [s for s in STACKS if settings_of(s).tier == tier]
    assert stacks, f"no stack of tier {tier} among {STACKS}"
    return stacks[0]


NOW = datetime.now(UTC)
SOON = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
FAR = (NOW + timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
POOL = "principalSet://iam.googleapis.com/locations/global/workforcePools/acme-okta"


def access(principal: str = "group:oncall@acme.com", expires: str = SOON, **extra: str) -> list[dict[str, str]]:
    return [{"principal": principal, "expires": expires, **extra}]


# (tier of the stack it runs on, overrides, a fragment the one error message must contain)
RULES = {
    "unknown key": ("development", {"workerMinInstance": 1}, "secure-invoke:workerMinInstance: unknown key; did you mean secure-invoke:workerMinInstances?"),
    "wrong type": ("development", {"workerMaxInstances": "many"}, "secure-invoke:workerMaxInstances: 'many' is not a valid integer"),
    "bool given as int": ("development", {"relayRetry": 1}, "secure-invoke:relayRetry: 1 is not of type boolean"),
    "out of range": ("development", {"workerMaxInstances": 0}, "secure-invoke:workerMaxInstances: 0 is less than the minimum of 1"),
    "not an allowed value": ("development", {"workerIngress": "public"}, 'secure-invoke:workerIngress: "public" is not one of ["all", "internal"]'),
    "bad label": ("development", {"labels": {"Team": "x"}}, "secure-invoke:labels: 'Team' does not match"),
    "environment missing": ("development", {"environment": None}, "secure-invoke:environment: required, set it with `pulumi config set secure-invoke:environment <value>`"),
    "environment with a bad name": ("development", {"environment": "Eu_Prod"}, "secure-invoke:environment: 'Eu_Prod' is not an environment name (1-14 chars, a-z 0-9 and inner hyphens)"),
    "environment name too long": ("development", {"environment": "a-very-long-environment"}, "secure-invoke:environment: 'a-very-long-environment' is not an environment name"),
    "tier missing": ("development", {"tier": None}, "secure-invoke:tier: required (one of ['development', 'production'])"),
    "tier unknown": ("development", {"tier": "prod"}, 'secure-invoke:tier: "prod" is not one of ["development", "production"]'),
    "project missing": ("development", {"gcp:project": None}, "gcp:project: required"),
    "region missing": ("development", {"gcp:region": None}, "gcp:region: required"),
    "bad project id": ("development", {"gcp:project": "Acme_Prod"}, "gcp:project: 'Acme_Prod' is not a project id"),
    "min above max": ("development", {"workerMinInstances": 5, "workerMaxInstances": 2}, "secure-invoke:workerMinInstances: 5 exceeds secure-invoke:workerMaxInstances (2); min must be <= max"),
    "internal ingress without VPC": ("development", {"workerIngress": "internal"}, "secure-invoke:workerIngress: 'internal' needs the relay to egress through a VPC"),
    "half a VPC": ("development", {"workerIngress": "internal", "vpcNetwork": "default"}, "secure-invoke:vpcSubnetwork: required together with"),
    "concurrency below 1 vCPU": ("development", {"workerCpu": "0.5", "workerConcurrency": 10}, "secure-invoke:workerConcurrency: Cloud Run forces concurrency 1 below 1 vCPU"),
    "relay HTTP timeout not below function timeout": ("development", {"relayWorkerTimeoutSeconds": 120, "relayTimeoutSeconds": 120}, "secure-invoke:relayWorkerTimeoutSeconds: 120 must be below secure-invoke:relayTimeoutSeconds (120)"),
    "function outlives worker": ("development", {"relayTimeoutSeconds": 500, "workerRequestTimeoutSeconds": 300}, "secure-invoke:relayTimeoutSeconds: 500 exceeds secure-invoke:workerRequestTimeoutSeconds (300)"),
    "memory above Cloud Run's maximum": ("development", {"workerMemory": "64Gi"}, "secure-invoke:workerMemory: 64Gi is outside Cloud Run's 128Mi..32Gi"),
    "too little CPU for the memory": ("development", {"workerMemory": "10Gi", "workerCpu": "2"}, "secure-invoke:workerCpu: Cloud Run needs at least 4 vCPU for more than 8Gi of memory"),
    "too little memory for the CPU": ("development", {"workerCpu": "4", "workerMemory": "512Mi"}, "secure-invoke:workerMemory: 4 vCPU needs at least 2Gi (got 512Mi)"),
    "too much memory below 1 vCPU": ("development", {"workerCpu": "0.5", "workerConcurrency": 1, "workerMemory": "2Gi"}, "secure-invoke:workerMemory: 2Gi needs at least 1 vCPU"),
    "relay memory out of range": ("development", {"relayMemory": "99Gi"}, "secure-invoke:relayMemory: 99Gi is outside Cloud Functions' 128Mi..32Gi"),
    "reserved label": ("development", {"labels": {"environment": "prod"}}, "secure-invoke:labels: environment is set by the stack itself; remove it"),
    "reserved labels": ("development", {"labels": {"environment": "prod", "app": "x"}}, "secure-invoke:labels: app, environment are set by the stack itself; remove them"),
    "production image without digest": ("production", {"workerImage": "europe-west1-docker.pkg.dev/p/r/worker:latest"}, "secure-invoke:workerImage: tier production needs an image pinned by digest"),
    "production without warm instance": ("production", {"workerMinInstances": 0}, "secure-invoke:workerMinInstances: tier production keeps at least 1 warm instance (got 0)"),
    "production without deletion protection": ("production", {"deletionProtection": False}, "secure-invoke:deletionProtection: tier production must keep deletion protection on"),
    "production without CPU boost": ("production", {"workerStartupCpuBoost": False}, "secure-invoke:workerStartupCpuBoost: tier production must keep startup CPU boost on"),
    "alert channels in development": ("development", {"operatorAlertChannels": ["projects/acme-x-dev/notificationChannels/1"]}, "secure-invoke:operatorAlertChannels: only tier production alerts on operator token mints"),
    "operator access too far ahead": ("development", {"operatorAccess": access(expires=FAR), "operatorAccessMaxDays": 7}, f"secure-invoke:operatorAccess[0].expires: {FAR} is more than 7 days ahead"),
    "operator access for everyone": ("development", {"operatorAccess": access("allUsers")}, "secure-invoke:operatorAccess[0].principal: 'allUsers' is public"),
    "operator access for a whole pool": ("development", {"operatorAccess": access(f"{POOL}/*")}, "secure-invoke:operatorAccess[0].principal: 'principalSet://iam.googleapis.com/locations/global/workforcePools/acme-okta/*' is a wildcard"),
    "operator access for a domain": ("development", {"operatorAccess": access("domain:acme.com")}, "secure-invoke:operatorAccess[0].principal: 'domain:acme.com' is a wildcard"),
    "operator access for a service account": ("development", {"operatorAccess": access("serviceAccount:ci@acme.iam.gserviceaccount.com")}, "secure-invoke:operatorAccess[0].principal: 'serviceAccount:ci@acme.iam.gserviceaccount.com' is a service account"),
    "operator access for no one in particular": ("development", {"operatorAccess": access("oncall@acme.com")}, "secure-invoke:operatorAccess[0].principal: 'oncall@acme.com' is not a person or group"),
    "operator access with a loose date": ("development", {"operatorAccess": access(expires="next friday")}, "secure-invoke:operatorAccess[0].expires: 'next friday' is not an RFC 3339 time"),
    "operator access with a date but no zone": ("development", {"operatorAccess": access(expires="2030-01-01T10:00:00")}, "secure-invoke:operatorAccess[0].expires: '2030-01-01T10:00:00' is not an RFC 3339 time"),
    "operator access in production without a reason": ("production", {"operatorAccess": access()}, "secure-invoke:operatorAccess[0].reason: required in tier production"),
    "operator access entry with an unknown field": ("development", {"operatorAccess": access(until=SOON)}, "secure-invoke:operatorAccess[0]: unknown field 'until' (allowed: expires, principal, reason)"),
    "operator access entry with a typo'd field": ("development", {"operatorAccess": access() + access(reasn="INC-1")}, "secure-invoke:operatorAccess[1]: unknown field 'reasn'; did you mean 'reason'? (allowed: expires, principal, reason)"),
    "operator access entry with a typo'd required field": ("development", {"operatorAccess": [{"principal": "group:oncall@acme.com", "expirse": SOON}]}, "secure-invoke:operatorAccess[0]: unknown field 'expirse'; did you mean 'expires'?"),
    "operator access for a workforce subject, malformed": ("development", {"operatorAccess": access("principal://iam.googleapis.com/locations/global/workforcePools/acme-okta/subject/")}, "or a workforce pool subject principal://iam.googleapis.com/locations/global/workforcePools/<pool>/subject/<id>"),
    "operator access given twice": ("development", {"operatorAccess": access() + access()}, "secure-invoke:operatorAccess[1]: repeats secure-invoke:operatorAccess[0]"),
    "alert channel that is not one": ("production", {"operatorAlertChannels": ["email:oncall@acme.com"]}, "secure-invoke:operatorAlertChannels[0]: 'email:oncall@acme.com' does not match"),
    "caller of an unknown kind": ("development", {"callers": [{"name": "nightly", "kind": "cron"}]}, "secure-invoke:callers[0]['kind']: \"cron\" is not one of"),
    "caller with a field of another kind": ("development", {"callers": [{"name": "nightly", "kind": "cloud-tasks", "schedule": "0 3 * * *"}]}, "secure-invoke:callers[0].schedule: not a field of kind 'cloud-tasks'"),
    "caller without a required field": ("development", {"callers": [{"name": "nightly", "kind": "scheduler", "schedule": "0 3 * * *"}]}, "secure-invoke:callers[0].job: required for kind 'scheduler'"),
    "caller named like the stack's own account": ("development", {"callers": [{"name": "worker-operator", "kind": "workflows"}]}, "secure-invoke:callers[0].name: 'worker-operator' is the stack's own account"),
    "caller whose account id would be too long": ("development", {"callers": [{"name": "a-rather-long-caller-name", "kind": "workflows"}]}, "secure-invoke:callers[0]['name']: 'a-rather-long-caller-name' is too long"),
    "caller whose account id would be too long here": ("development", {"environment": "staging-eu", "callers": [{"name": "nightly-report-builder", "kind": "workflows"}]}, "secure-invoke:callers[0].name: its account id 'nightly-report-builder-staging-eu' (<name>-<environment>) must be 6-30 characters"),
    "caller declared twice": ("development", {"callers": [{"name": "batch", "kind": "cloud-tasks"}, {"name": "batch", "kind": "workflows"}]}, "secure-invoke:callers[1].name: 'batch' repeats secure-invoke:callers[0]"),
    "caller that is a default service account": ("development", {"callers": [{"name": "legacy", "kind": "service-account", "email": "123456789012-compute@developer.gserviceaccount.com"}]}, "secure-invoke:callers[0]['email']: '123456789012-compute@developer.gserviceaccount.com' does not match"),
}  # fmt: skip
