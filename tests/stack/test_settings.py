"""Settings validation: one test per rule, on the pure parser. tests/stack/test_stack.py proves the same
messages stop the real program before it registers anything."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from settings import ConfigError, Settings

REPO = Path(__file__).resolve().parents[2]
DIGEST = "a" * 64


def stack_config(stack: str, **overrides: object) -> dict[str, str]:
    """The flat config map the engine would pass for Pulumi.<stack>.yaml, plus overrides (None deletes)."""
    raw = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())["config"]
    flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()}
    for key, value in overrides.items():
        key = key if ":" in key else f"secure-invoke:{key}"
        if value is None:
            flat.pop(key, None)
        else:
            flat[key] = value if isinstance(value, str) else json.dumps(value)
    return flat


_NOW = datetime.now(UTC)
_SOON = (_NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
_FAR = (_NOW + timedelta(days=8)).strftime("%Y-%m-%dT%H:%M:%SZ")
_POOL = "principalSet://iam.googleapis.com/locations/global/workforcePools/acme-okta"


def access(principal: str = "group:oncall@acme.com", expires: str = _SOON, **extra: str) -> list[dict[str, str]]:
    return [{"principal": principal, "expires": expires, **extra}]


# (stack, overrides, a fragment the one error message must contain)
RULES = {
    "unknown key": ("dev", {"workerMinInstance": 1}, "secure-invoke:workerMinInstance: unknown key; did you mean secure-invoke:workerMinInstances? allowed keys:"),
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
    "reserved label": ("dev", {"labels": {"environment": "prod"}}, "secure-invoke:labels: environment are set by the stack itself; remove them"),
    "prod image without digest": ("prod", {"workerImage": "europe-west1-docker.pkg.dev/p/r/worker:latest"}, "secure-invoke:workerImage: prod needs an image pinned by digest"),
    "prod without warm instance": ("prod", {"workerMinInstances": 0}, "secure-invoke:workerMinInstances: prod keeps at least 1 warm instance (got 0)"),
    "prod without deletion protection": ("prod", {"deletionProtection": False}, "secure-invoke:deletionProtection: prod must keep deletion protection on"),
    "prod without CPU boost": ("prod", {"workerStartupCpuBoost": False}, "secure-invoke:workerStartupCpuBoost: prod must keep startup CPU boost on"),
    "operator access too far ahead": ("dev", {"operatorAccess": access(expires=_FAR)}, f"secure-invoke:operatorAccess[0].expires: {_FAR} is more than 7 days ahead"),
    "operator access for everyone": ("dev", {"operatorAccess": access("allUsers")}, "secure-invoke:operatorAccess[0].principal: 'allUsers' is public"),
    "operator access for a whole pool": ("dev", {"operatorAccess": access(f"{_POOL}/*")}, "secure-invoke:operatorAccess[0].principal: 'principalSet://iam.googleapis.com/locations/global/workforcePools/acme-okta/*' is a wildcard"),
    "operator access for a domain": ("dev", {"operatorAccess": access("domain:acme.com")}, "secure-invoke:operatorAccess[0].principal: 'domain:acme.com' is a wildcard"),
    "operator access for a service account": ("dev", {"operatorAccess": access("serviceAccount:ci@acme.iam.gserviceaccount.com")}, "secure-invoke:operatorAccess[0].principal: 'serviceAccount:ci@acme.iam.gserviceaccount.com' is a service account"),
    "operator access for no one in particular": ("dev", {"operatorAccess": access("oncall@acme.com")}, "secure-invoke:operatorAccess[0].principal: 'oncall@acme.com' is not a person or group"),
    "operator access with a loose date": ("dev", {"operatorAccess": access(expires="next friday")}, "secure-invoke:operatorAccess[0].expires: 'next friday' is not an RFC 3339 time"),
    "operator access with a date but no zone": ("dev", {"operatorAccess": access(expires="2030-01-01T10:00:00")}, "secure-invoke:operatorAccess[0].expires: '2030-01-01T10:00:00' is not an RFC 3339 time"),
    "operator access in prod without a reason": ("prod", {"operatorAccess": access()}, "secure-invoke:operatorAccess[0].reason: required in prod"),
    "operator access entry with an unknown field": ("dev", {"operatorAccess": access(until=_SOON)}, "secure-invoke:operatorAccess[0]: Additional properties are not allowed ('until' was unexpected)"),
    "operator access given twice": ("dev", {"operatorAccess": access() + access()}, "secure-invoke:operatorAccess[1]: repeats secure-invoke:operatorAccess[0]"),
    "alert channel that is not one": ("prod", {"operatorAlertChannels": ["email:oncall@acme.com"]}, "secure-invoke:operatorAlertChannels[0]: 'email:oncall@acme.com' does not match"),
}  # fmt: skip


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_rejects_with_a_message_naming_the_key(rule: str) -> None:
    stack, overrides, fragment = RULES[rule]
    with pytest.raises(ConfigError) as caught:
        Settings.from_config(stack_config(stack, **overrides))
    message = str(caught.value)
    assert message.startswith("invalid stack config:")
    assert fragment in message
    # One problem in, one problem out: no cascade of follow-on errors.
    assert message.count("\n  - ") == 1, message


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_config(stack_config("dev", workerCpu="3", relayRetry="maybe", bogus="x"))
    message = str(caught.value)
    assert "secure-invoke:workerCpu:" in message
    assert "secure-invoke:relayRetry:" in message
    assert "secure-invoke:bogus: unknown key" in message


def test_dev_and_prod_differ_where_they_should() -> None:
    dev = Settings.from_config(stack_config("dev"))
    prod = Settings.from_config(stack_config("prod"))
    assert (dev.environment, prod.environment) == ("dev", "prod")
    assert dev.worker.min_instances == 0 and prod.worker.min_instances >= 1
    assert not dev.worker.deletion_protection and prod.worker.deletion_protection
    assert not dev.worker.startup_cpu_boost and prod.worker.startup_cpu_boost
    assert dev.labels["environment"] == "dev" and prod.labels["team"] == "platform"


def test_per_environment_defaults_apply_when_keys_are_absent() -> None:
    prod = Settings.from_config(
        stack_config("prod", workerMinInstances=None, deletionProtection=None, workerStartupCpuBoost=None)
    )
    assert prod.worker.min_instances == 1
    assert prod.worker.deletion_protection is True
    assert prod.worker.startup_cpu_boost is True


def test_accepts_a_valid_internal_setup_and_a_digest_image_in_prod() -> None:
    image = f"europe-west1-docker.pkg.dev/acme/worker/worker@sha256:{DIGEST}"
    cfg = Settings.from_config(
        stack_config(
            "prod", workerIngress="internal", vpcNetwork="shared", vpcSubnetwork="run-egress", workerImage=image
        )
    )
    assert cfg.worker.internal_ingress and cfg.vpc is not None and cfg.vpc.subnetwork == "run-egress"
    assert cfg.worker.image == image


@pytest.mark.parametrize(("cpu", "memory"), [("4", "2Gi"), ("8", "32Gi"), ("2", "8Gi"), ("0.5", "512Mi"), ("1", "4Gi")])
def test_accepts_every_documented_cpu_memory_pair(cpu: str, memory: str) -> None:
    concurrency = 1 if cpu == "0.5" else 8
    cfg = Settings.from_config(stack_config("dev", workerCpu=cpu, workerMemory=memory, workerConcurrency=concurrency))
    assert (cfg.worker.cpu, cfg.worker.memory) == (cpu, memory)


def test_upstream_api_key_must_be_stored_encrypted() -> None:
    plain = stack_config("dev", upstreamApiKey="AIzaSyA-not-really-a-key-000000000000")
    with pytest.raises(ConfigError, match=r"secure-invoke:upstreamApiKey: must be stored encrypted"):
        Settings.from_config(plain)
    cfg = Settings.from_config(plain, secret_keys={"secure-invoke:upstreamApiKey"})
    assert cfg.upstream_api_key == "AIzaSyA-not-really-a-key-000000000000"


def test_keys_outside_the_namespace_are_left_to_their_owners() -> None:
    cfg = Settings.from_config(stack_config("dev", **{"gcp:zone": "europe-west1-b", "pulumi:template": "x"}))
    assert cfg.project == "acme-secure-invoke-dev"


def test_operator_access_becomes_typed_entries_in_utc() -> None:
    cfg = Settings.from_config(
        stack_config(
            "prod",
            operatorAccess=[
                {"principal": "group:oncall@acme.com", "expires": "2030-01-02T01:30:00+02:00", "reason": "INC-7"},
                {"principal": f"{_POOL}/group/sre", "expires": "2030-01-01T12:00:00.5Z", "reason": "CHG-1"},
            ],
        ),
        now=datetime(2029, 12, 30, tzinfo=UTC),
    )
    assert [(a.principal, a.expires.isoformat(), a.reason) for a in cfg.operator_access] == [
        ("group:oncall@acme.com", "2030-01-01T23:30:00+00:00", "INC-7"),
        (f"{_POOL}/group/sre", "2030-01-01T12:00:00+00:00", "CHG-1"),
    ]
    assert cfg.warnings == ()


def test_expired_operator_access_is_dropped_with_a_warning_not_an_error() -> None:
    entries = access(expires="2030-01-01T00:00:00Z") + access("user:dev@acme.com", "2030-01-05T00:00:00Z")
    cfg = Settings.from_config(stack_config("dev", operatorAccess=entries), now=datetime(2030, 1, 2, tzinfo=UTC))
    assert [a.principal for a in cfg.operator_access] == ["user:dev@acme.com"]
    assert cfg.warnings == (
        "secure-invoke:operatorAccess[0]: access of group:oncall@acme.com expired at 2030-01-01T00:00:00Z; "
        "dropped (remove the entry)",
    )


def test_operator_access_limit_is_one_setting_with_the_packs_default() -> None:
    ten_days = (_NOW + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(ConfigError, match=r"more than 7 days ahead"):
        Settings.from_config(stack_config("dev", operatorAccess=access(expires=ten_days)))
    wider = Settings.from_config(stack_config("dev", operatorAccess=access(expires=ten_days), operatorAccessMaxDays=14))
    assert len(wider.operator_access) == 1


def test_readme_documents_every_config_key() -> None:
    readme = (REPO / "README.md").read_text()
    from settings import SCHEMA

    missing = [key for key in SCHEMA if f"| `{key}` |" not in readme]
    assert missing == []
