"""Settings validation: one test per rule, on the pure parser. tests/stack/test_stack.py proves the same
messages stop the real program before it registers anything."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from secure_invoke.settings import ConfigError, Settings
from tests.stack.cases import DIGEST, NOW, POOL, RULES, access, stack_config

# A workforce identity federation user, as the settings and the schema's description name it.
SUBJECT = "principal://iam.googleapis.com/locations/global/workforcePools/acme-okta/subject"


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_rejects_with_a_message_naming_the_key(rule: str) -> None:
    stack, overrides, fragment = RULES[rule]
    with pytest.raises(ConfigError) as caught:
        Settings.from_config(stack_config(stack, **overrides))
    message = str(caught.value)
    assert message.startswith("invalid stack config: ")
    assert fragment in message
    # One problem in, one line out: no cascade of follow-on errors, no list of one.
    assert "\n" not in message, message
    # A did-you-mean is the fix; the full list of keys would bury it.
    assert "allowed keys" not in message or "did you mean" not in message


def test_an_unknown_key_with_no_close_match_lists_the_allowed_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_config(stack_config("dev", zzz="1"))
    message = str(caught.value)
    assert message.startswith("invalid stack config: secure-invoke:zzz: unknown key; allowed keys: ")
    assert "workerCpu" in message and "did you mean" not in message


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_config(stack_config("dev", workerCpu="3", relayRetry="maybe", bogus="x"))
    message = str(caught.value)
    assert "secure-invoke:workerCpu:" in message
    assert "secure-invoke:relayRetry:" in message
    assert "secure-invoke:bogus: unknown key" in message
    assert message.startswith("invalid stack config:\n  - ") and message.count("\n  - ") == 3


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
                {"principal": f"{POOL}/group/sre", "expires": "2030-01-01T12:00:00.5Z", "reason": "CHG-1"},
                {"principal": f"{SUBJECT}/alice@acme.com", "expires": "2030-01-01T12:00:00Z", "reason": "CHG-2"},
            ],
        ),
        now=datetime(2029, 12, 30, tzinfo=UTC),
    )
    assert [(a.principal, a.expires.isoformat(), a.reason) for a in cfg.operator_access] == [
        ("group:oncall@acme.com", "2030-01-01T23:30:00+00:00", "INC-7"),
        (f"{POOL}/group/sre", "2030-01-01T12:00:00+00:00", "CHG-1"),
        (f"{SUBJECT}/alice@acme.com", "2030-01-01T12:00:00+00:00", "CHG-2"),
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
    ten_days = (NOW + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with pytest.raises(ConfigError, match=r"more than 7 days ahead"):
        Settings.from_config(stack_config("dev", operatorAccess=access(expires=ten_days)))
    wider = Settings.from_config(stack_config("dev", operatorAccess=access(expires=ten_days), operatorAccessMaxDays=14))
    assert len(wider.operator_access) == 1
