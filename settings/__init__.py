"""Stack settings: every config key is read and validated here, once, before any resource exists.

Components never read config; `__main__.py` builds a `Settings` and `stack.build` passes plain values in.
Structure is checked with JSON Schema (types, ranges, unknown keys: `settings/schema.py`); what a schema cannot
say (combinations, per-environment rules) is checked in `settings/rules.py`, operator access in
`settings/operator_access.py`. All problems are reported together, each naming its config key, so a broken
stack file is fixed in one round trip.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import pulumi

from secure_invoke.components import VpcEgress
from secure_invoke.settings.operator_access import OperatorAccessEntry, operator_access
from secure_invoke.settings.rules import combination_errors
from secure_invoke.settings.schema import (
    GCP_REQUIRED,
    NAMESPACE,
    REQUIRED,
    SCHEMA,
    SECRET_ONLY,
    parse,
    value_or_default,
)

__all__ = [
    "GCP_REQUIRED",
    "NAMESPACE",
    "REQUIRED",
    "SCHEMA",
    "SECRET_ONLY",
    "ConfigError",
    "OperatorAccessEntry",
    "RelaySettings",
    "Settings",
    "WorkerSettings",
    "load",
]


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
class Settings:
    project: str
    region: str
    environment: Literal["dev", "prod"]
    worker: WorkerSettings
    relay: RelaySettings
    # The relay's direct VPC egress, in the component's own type: passed on as it is.
    vpc: VpcEgress | None
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
        values, errors = parse(config)
        for key in SECRET_ONLY:
            full = f"{NAMESPACE}:{key}"
            if full in config and full not in secret_keys:
                errors.append(
                    f"{full}: must be stored encrypted, not in plaintext in Pulumi.<stack>.yaml; "
                    f"set it with `pulumi config set --secret {full} <value>`"
                )
        access: list[OperatorAccessEntry] = []
        warnings: list[str] = []
        if not errors:
            errors = combination_errors(values)
            access, access_errors, warnings = operator_access(values, now)
            errors += access_errors
        if errors:
            problems = sorted(set(errors))
            if len(problems) == 1:  # one problem, one line
                raise ConfigError(f"invalid stack config: {problems[0]}")
            raise ConfigError("invalid stack config:\n" + "\n".join(f"  - {e}" for e in problems))
        return cls._of(config, values, tuple(access), tuple(warnings))

    @classmethod
    def _of(
        cls,
        config: Mapping[str, str],
        values: Mapping[str, Any],
        access: tuple[OperatorAccessEntry, ...],
        warnings: tuple[str, ...],
    ) -> Settings:
        """The typed settings of config that passed every check."""
        env = values["environment"]

        def get(key: str) -> Any:
            return value_or_default(values, key)

        vpc = None
        if "vpcNetwork" in values:
            vpc = VpcEgress(network=values["vpcNetwork"], subnetwork=values["vpcSubnetwork"])
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
            labels={**get("labels"), "app": NAMESPACE, "environment": env},
            operator_access=access,
            operator_alert_channels=tuple(get("operatorAlertChannels")),
            warnings=warnings,
        )


def load() -> Settings:
    """Read the running stack's whole config map (as the engine passed it) and validate it."""
    config: dict[str, str] = {}
    config.update(pulumi.runtime.config.get_config_env())
    config.update(pulumi.runtime.config.CONFIG.get())
    secret_keys = {k for k in config if pulumi.runtime.config.is_config_secret(k)}
    return Settings.from_config(config, secret_keys)
