"""Settings validation: one test per rule, on the pure parser, run on a stack of the tier the rule is about.
tests/stack/test_stack.py proves the same messages stop the real program before it registers anything."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from secure_invoke.components import (
    AccessAuditArgs,
    EventFunctionArgs,
    PrivateServiceArgs,
    RotatedSecretArgs,
    WorkerImageArgs,
)
from secure_invoke.settings import KEYS, TIERS, ByTier, ConfigError, Settings, read_stack_file
from tests.stack.cases import DIGEST, NOW, POOL, RULES, STACKS, access, settings_of, stack_config, stack_of_tier

# A workforce identity federation user, as the settings and the schema's description name it.
SUBJECT = "principal://iam.googleapis.com/locations/global/workforcePools/acme-okta/subject"
ARGS_CLASSES = (PrivateServiceArgs, EventFunctionArgs, WorkerImageArgs, RotatedSecretArgs, AccessAuditArgs)


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_rejects_with_a_message_naming_the_key(rule: str) -> None:
    tier, overrides, fragment = RULES[rule]
    with pytest.raises(ConfigError) as caught:
        Settings.from_config(stack_config(stack_of_tier(tier), **overrides))
    message = str(caught.value)
    assert message.startswith("invalid stack config: ")
    assert fragment in message
    # One problem in, one line out: no cascade of follow-on errors, no list of one.
    assert "\n" not in message, message
    # A did-you-mean is the fix; the full list of keys would bury it.
    assert "allowed keys" not in message or "did you mean" not in message


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid_and_names_its_environment(stack: str) -> None:
    cfg = settings_of(stack)
    assert cfg.tier in TIERS
    assert cfg.labels["environment"] == cfg.environment
    # The environment's name is free; nothing about it is decided by the literal `prod`.
    assert cfg.is_production == (cfg.tier == "production")


def test_an_unknown_key_with_no_close_match_lists_the_allowed_keys() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_config(stack_config(STACKS[0], zzz="1"))
    message = str(caught.value)
    assert message.startswith("invalid stack config: secure-invoke:zzz: unknown key; allowed keys: ")
    assert "workerCpu" in message and "did you mean" not in message


def test_all_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_config(stack_config(STACKS[0], workerCpu="3", relayRetry="maybe", bogus="x"))
    message = str(caught.value)
    assert "secure-invoke:workerCpu:" in message
    assert "secure-invoke:relayRetry:" in message
    assert "secure-invoke:bogus: unknown key" in message
    assert message.startswith("invalid stack config:\n  - ") and message.count("\n  - ") == 3


@pytest.mark.parametrize("name", ["staging", "qa", "eu-prod", "x"])
@pytest.mark.parametrize("tier", TIERS)
def test_any_environment_name_takes_either_tier(name: str, tier: str) -> None:
    cfg = Settings.from_config(stack_config(stack_of_tier(tier), environment=name))  # type: ignore[arg-type]
    assert (cfg.environment, cfg.tier) == (name, tier)
    assert cfg.service_accounts()[f"worker-operator-{name}"] is False
    assert cfg.worker_audience == f"https://worker-{name}.{cfg.project}.secure-invoke.internal"


def test_tier_defaults_follow_the_tier_not_the_name() -> None:
    keys = {key.name: key for key in KEYS}
    by_tier = [name for name, key in keys.items() if isinstance(key.default, ByTier)]
    assert set(by_tier) == {"workerMinInstances", "workerMaxInstances", "workerStartupCpuBoost", "deletionProtection"}
    for tier in TIERS:
        # A development stack renamed `prod` stays development, and the other way round.
        base = stack_config(
            stack_of_tier(tier), **dict.fromkeys(by_tier), environment="prod" if tier == "development" else "dev"
        )
        cfg = Settings.from_config(base)
        for name in by_tier:
            assert cfg.value(name) == getattr(keys[name].default, tier), (tier, name)


def test_production_rules_bind_a_production_stack_of_any_name() -> None:
    with pytest.raises(ConfigError, match=r"tier production keeps at least 1 warm instance"):
        Settings.from_config(stack_config(stack_of_tier("production"), environment="eu-live", workerMinInstances=0))
    relaxed = Settings.from_config(
        stack_config(stack_of_tier("production"), environment="prod", tier="development", workerMinInstances=0)
    )
    assert relaxed.value("workerMinInstances") == 0


def test_accepts_a_valid_internal_setup_and_a_digest_image_in_production() -> None:
    image = f"europe-west1-docker.pkg.dev/acme/worker/worker@sha256:{DIGEST}"
    cfg = Settings.from_config(
        stack_config(
            stack_of_tier("production"),
            workerIngress="internal",
            vpcNetwork="shared",
            vpcSubnetwork="run-egress",
            workerImage=image,
        )
    )
    assert cfg.args(PrivateServiceArgs)["internal_ingress"] is True
    assert cfg.vpc is not None and cfg.vpc.subnetwork == "run-egress"
    assert cfg.args(WorkerImageArgs)["prebuilt"] == image


@pytest.mark.parametrize(("cpu", "memory"), [("4", "2Gi"), ("8", "32Gi"), ("2", "8Gi"), ("0.5", "512Mi"), ("1", "4Gi")])
def test_accepts_every_documented_cpu_memory_pair(cpu: str, memory: str) -> None:
    concurrency = 1 if cpu == "0.5" else 8
    cfg = Settings.from_config(
        stack_config(STACKS[0], workerCpu=cpu, workerMemory=memory, workerConcurrency=concurrency)
    )
    assert (cfg.value("workerCpu"), cfg.value("workerMemory")) == (cpu, memory)


def test_upstream_api_key_must_be_stored_encrypted() -> None:
    plain = stack_config(STACKS[0], upstreamApiKey="AIzaSyA-not-really-a-key-000000000000")
    with pytest.raises(ConfigError, match=r"secure-invoke:upstreamApiKey: must be stored encrypted"):
        Settings.from_config(plain)
    cfg = Settings.from_config(plain, secret_keys={"secure-invoke:upstreamApiKey"})
    assert cfg.args(RotatedSecretArgs)["initial_value"] == "AIzaSyA-not-really-a-key-000000000000"


def test_keys_outside_the_namespace_are_left_to_their_owners() -> None:
    cfg = Settings.from_config(stack_config(STACKS[0], **{"gcp:zone": "europe-west1-b", "pulumi:template": "x"}))
    assert cfg.project == settings_of(STACKS[0]).project


# --- one way to carry a setting to a component -------------------------------------------------------------

_JSON_TYPES = {"integer": int, "boolean": bool, "string": str, "array": tuple}


def _annotation(cls: type, name: str) -> str:
    # The component modules use postponed annotations: the declared type as written.
    (declared,) = [f.type for f in dataclasses.fields(cls) if f.name == name]
    return str(declared)


def _accepts(annotation: str, python_type: type) -> bool:
    parts = {part.strip() for part in annotation.split("|")}
    if python_type is tuple:
        return any(part.startswith(("Sequence[", "tuple[")) for part in parts)
    if python_type is str:
        return bool(parts & {"str", "pulumi.Input[str]"})
    return python_type.__name__ in parts


@pytest.mark.parametrize("key", [k for k in KEYS if k.feeds], ids=lambda k: k.name)
def test_each_key_feeds_a_component_field_of_its_type(key) -> None:
    cls, name = key.feeds
    assert name in {f.name for f in dataclasses.fields(cls)}
    schema_type = "string" if "enum" in key.schema else key.schema["type"]
    produced = bool if key.convert is not None and schema_type == "string" else _JSON_TYPES[schema_type]
    assert _accepts(_annotation(cls, name), produced), (key.name, cls.__name__, name, _annotation(cls, name))


@pytest.mark.parametrize("stack", STACKS)
def test_args_carry_every_feeding_key_and_nothing_else(stack: str) -> None:
    cfg = settings_of(stack)
    for cls in ARGS_CLASSES:
        fed = {k.feeds[1]: k for k in KEYS if k.feeds and k.feeds[0] is cls}
        args = cfg.args(cls)
        assert set(args) <= set(fed), cls.__name__
        for field_name, value in args.items():
            key = fed[field_name]
            expected = cfg.value(key.name)
            assert value == (key.convert(expected) if key.convert else expected), (cls.__name__, field_name)
        # Optional keys left unset let the component's own default apply.
        assert set(fed) - set(args) == {f for f, k in fed.items() if cfg.value(k.name) is None}


def test_a_feed_of_a_field_that_does_not_exist_is_refused_at_declaration() -> None:
    from secure_invoke.settings import Key

    with pytest.raises(TypeError, match=r"PrivateServiceArgs has no field 'minimum_instances'"):
        Key("x", {"type": "integer"}, "x", feeds=(PrivateServiceArgs, "minimum_instances"))


# --- operator access ---------------------------------------------------------------------------------------


def test_operator_access_becomes_typed_entries_in_utc() -> None:
    cfg = Settings.from_config(
        stack_config(
            stack_of_tier("production"),
            operatorAccess=[
                {"principal": "group:oncall@acme.com", "expires": "2030-01-02T01:30:00+02:00", "reason": "INC-7"},
                {"principal": f"{POOL}/group/sre", "expires": "2030-01-01T12:00:00.5Z", "reason": "CHG-1"},
                {"principal": f"{SUBJECT}/alice@acme.com", "expires": "2030-01-01T12:00:00Z", "reason": "CHG-2"},
            ],
            operatorAccessMaxDays=7,
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
    cfg = Settings.from_config(
        stack_config(stack_of_tier("development"), operatorAccess=entries, operatorAccessMaxDays=7),
        now=datetime(2030, 1, 2, tzinfo=UTC),
    )
    assert [a.principal for a in cfg.operator_access] == ["user:dev@acme.com"]
    assert cfg.warnings == (
        "secure-invoke:operatorAccess[0]: access of group:oncall@acme.com expired at 2030-01-01T00:00:00Z; "
        "dropped (remove the entry)",
    )


def test_operator_access_limit_is_one_setting_with_the_packs_default() -> None:
    ten_days = (NOW + timedelta(days=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    stack = stack_of_tier("development")
    with pytest.raises(ConfigError, match=r"more than 7 days ahead"):
        Settings.from_config(stack_config(stack, operatorAccess=access(expires=ten_days), operatorAccessMaxDays=None))
    wider = Settings.from_config(stack_config(stack, operatorAccess=access(expires=ten_days), operatorAccessMaxDays=14))
    assert len(wider.operator_access) == 1


def test_an_unquoted_timestamp_in_a_stack_file_is_read_as_the_cli_reads_it(tmp_path: Path) -> None:
    # go-yaml v3 (the CLI's parser) keeps a timestamp as the text it was written as; so does the settings'
    # reader. An invalid one is then one line naming the entry, never a traceback.
    soon = (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    source = (Path(__file__).resolve().parents[2] / f"Pulumi.{stack_of_tier('development')}.yaml").read_text()
    good = tmp_path / "Pulumi.good.yaml"
    good.write_text(
        source + f"  secure-invoke:operatorAccess:\n    - principal: group:oncall@acme.com\n      expires: {soon}\n"
    )
    config, _ = read_stack_file(good, "secure-invoke")
    assert f'"expires":"{soon}"' in config["secure-invoke:operatorAccess"]
    assert [a.principal for a in Settings.from_stack_file(good).operator_access] == ["group:oncall@acme.com"]
    bad = tmp_path / "Pulumi.bad.yaml"
    bad.write_text(
        source + "  secure-invoke:operatorAccess:\n    - principal: group:oncall@acme.com\n      expires: 2030-01-01\n"
    )
    with pytest.raises(ConfigError) as caught:
        Settings.from_stack_file(bad)
    assert str(caught.value) == (
        "Pulumi.bad.yaml: invalid stack config: secure-invoke:operatorAccess[0].expires: '2030-01-01' is not an "
        "RFC 3339 time such as 2030-01-31T18:00:00Z"
    )
    yes = tmp_path / "Pulumi.yes.yaml"
    yes.write_text(source + "  secure-invoke:relayRetry: yes\n")
    with pytest.raises(ConfigError, match=r"secure-invoke:relayRetry: 'yes' is not a valid boolean"):
        Settings.from_stack_file(yes)


# --- declared callers --------------------------------------------------------------------------------------


def test_declared_callers_become_typed_entries_with_their_own_accounts() -> None:
    stack = stack_of_tier("development")
    env = settings_of(stack).environment
    cfg = Settings.from_config(
        stack_config(
            stack,
            callers=[
                {"name": "nightly", "kind": "scheduler", "schedule": "0 3 * * *", "job": {"task": "primes"}},
                {"name": "billing", "kind": "pubsub-push", "topic": "billing-events"},
                {"name": "batch", "kind": "cloud-tasks", "path": "/batch"},
                {"name": "flow", "kind": "workflows"},
                {"name": "ledger", "kind": "service-account", "email": "ledger@other-proj-1.iam.gserviceaccount.com"},
            ],
        )
    )
    assert [(c.name, c.kind, c.account_id, c.path) for c in cfg.callers] == [
        ("nightly", "scheduler", f"nightly-{env}", "/jobs"),
        ("billing", "pubsub-push", f"billing-{env}", "/pubsub"),
        ("batch", "cloud-tasks", f"batch-{env}", "/batch"),
        ("flow", "workflows", f"flow-{env}", "/jobs"),
        ("ledger", "service-account", None, None),
    ]
    assert cfg.callers[0].body == '{"job":{"task":"primes"}}'
    assert cfg.callers[0].time_zone == "Etc/UTC"
    accounts = cfg.service_accounts()
    assert {f"nightly-{env}", f"billing-{env}", f"batch-{env}", f"flow-{env}"} <= set(accounts)
    assert not any(a.startswith("ledger") for a in accounts)  # a workload elsewhere: nothing created for it
