"""Stack settings: every config key is read and validated here, once, before any resource exists.

Each key is declared once (`settings/schema.py`: schema, default per tier, description, and the component
argument it feeds); `Settings.args(SomeArgs)` carries the values to that component, so no field is copied by
hand. Structure is checked with JSON Schema; what a schema cannot say (combinations, tier rules) in
`settings/rules.py`, operator access in `settings/operator_access.py`, declared callers in
`settings/callers.py`. All problems are reported together, each naming its config key, so a broken stack file
is fixed in one round trip. Components never read config.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi

from secure_invoke.components import VpcEgress
from secure_invoke.settings.callers import KINDS, CallerEntry, CallerKind, callers
from secure_invoke.settings.keys import MISSING, TIERS, ByTier, ConfigError, Key, Tier, full_name, one_error, parse
from secure_invoke.settings.operator_access import OperatorAccessEntry, operator_access
from secure_invoke.settings.rules import combination_errors
from secure_invoke.settings.schema import BY_NAME, KEYS, NAMESPACE, value_or_default
from secure_invoke.settings.stack_file import read_stack_file

__all__ = [
    "KEYS",
    "KINDS",
    "MISSING",
    "NAMESPACE",
    "TIERS",
    "ByTier",
    "CallerEntry",
    "CallerKind",
    "ConfigError",
    "Key",
    "OperatorAccessEntry",
    "Settings",
    "Tier",
    "load",
    "read_stack_file",
]

# The accounts every environment has, by id prefix (`<prefix>-<environment>`), and whether a workload runs as
# it (the deployer must act as those); the operator account is borrowed by people and runs nothing.
OWN_ACCOUNTS: dict[str, bool] = {
    "relay-runtime": True,
    "relay-trigger": True,
    "relay-build": True,
    "worker-runtime": True,
    "worker-operator": False,
}


@dataclass(frozen=True)
class Settings:
    project: str
    region: str
    environment: str
    tier: Tier
    # Every key of the namespace as validated, given or defaulted (`value(name)`, `args(cls)`).
    values: Mapping[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    # The relay's direct VPC egress, in the component's own type: passed on as it is.
    vpc: VpcEgress | None = None
    operator_access: tuple[OperatorAccessEntry, ...] = ()
    callers: tuple[CallerEntry, ...] = ()
    # Not errors, but worth a line in the deploy output (expired operator access, dropped).
    warnings: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.tier == "production"

    @property
    def alerts_on_operator_tokens(self) -> bool:
        """Whether the stack alerts on every operator token mint (tier production): the stack creates the alert
        policy, and the CI bootstrap gives the deployer the role that creates it, from this one answer."""
        return self.is_production

    def value(self, name: str) -> Any:
        """A key's value, given or defaulted."""
        return self.values[name]

    def args(self, cls: type) -> dict[str, Any]:
        """The keyword arguments of component args `cls` that keys feed (`Key.feeds`), converted as declared."""
        out: dict[str, Any] = {}
        for key in KEYS:
            if key.feeds is not None and key.feeds[0] is cls:
                value = self.values.get(key.name)
                if value is None and key.default is MISSING:
                    continue  # optional and unset: the component's own default applies
                out[key.feeds[1]] = key.convert(value) if key.convert else value
        return out

    @property
    def worker_audience(self) -> str:
        """The audience every caller mints for: `workerAudience`, else a name of this environment."""
        return (
            self.values.get("workerAudience")
            or f"https://worker-{self.environment}.{self.project}.secure-invoke.internal"
        )

    def account_id(self, prefix: str) -> str:
        return f"{prefix}-{self.environment}"

    def service_accounts(self) -> dict[str, bool]:
        """Every service account the stack creates in this environment, account id → whether a workload runs
        as it (the CI bootstrap grants its deployer per account from this)."""
        accounts = {self.account_id(prefix): runs for prefix, runs in OWN_ACCOUNTS.items()}
        accounts |= {c.account_id: True for c in self.callers if c.account_id is not None}
        return accounts

    @classmethod
    def from_config(
        cls, config: Mapping[str, str], secret_keys: Collection[str] = (), now: datetime | None = None
    ) -> Settings:
        """Build settings from the engine's flat config map (`namespace:key` → string value).

        `secret_keys` names the keys stored encrypted (`pulumi config set --secret`); `now` is the clock
        operator access expiries are judged against (default: the current time).
        """
        now = now or datetime.now(UTC)
        values, errors = parse(NAMESPACE, KEYS, config, secret_keys)
        access: list[OperatorAccessEntry] = []
        declared: list[CallerEntry] = []
        warnings: list[str] = []
        if not errors:
            errors = combination_errors(values)
            access, access_errors, warnings = operator_access(values, now)
            declared, caller_errors = callers(
                value_or_default(values, "callers"), values["environment"], full_name(NAMESPACE, BY_NAME["callers"])
            )
            errors += access_errors + caller_errors
        if errors:
            raise one_error("invalid stack config", errors)
        return cls._of(values, tuple(access), tuple(declared), tuple(warnings))

    @classmethod
    def from_stack_file(cls, path: Path, now: datetime | None = None) -> Settings:
        """The settings of a `Pulumi.<stack>.yaml` of this project, read as the CLI would pass it."""
        config, secret_keys = read_stack_file(path, NAMESPACE)
        try:
            return cls.from_config(config, secret_keys, now)
        except ConfigError as err:
            raise ConfigError(f"{path.name}: {err}") from None

    @classmethod
    def _of(
        cls,
        values: Mapping[str, Any],
        access: tuple[OperatorAccessEntry, ...],
        declared: tuple[CallerEntry, ...],
        warnings: tuple[str, ...],
    ) -> Settings:
        """The typed settings of config that passed every check."""
        env, tier = values["environment"], values["tier"]
        complete = {key.name: value_or_default(dict(values), key.name) for key in KEYS}
        vpc = None
        if "vpcNetwork" in values:
            vpc = VpcEgress(network=values["vpcNetwork"], subnetwork=values["vpcSubnetwork"])
        return cls(
            project=values["gcp:project"],
            region=values["gcp:region"],
            environment=env,
            tier=tier,
            values=complete,
            labels={**complete["labels"], "app": NAMESPACE, "environment": env},
            vpc=vpc,
            operator_access=access,
            callers=declared,
            warnings=warnings,
        )


def load() -> Settings:
    """Read the running stack's whole config map (as the engine passed it) and validate it."""
    config: dict[str, str] = {}
    config.update(pulumi.runtime.config.get_config_env())
    config.update(pulumi.runtime.config.CONFIG.get())
    secret_keys = {k for k in config if pulumi.runtime.config.is_config_secret(k)}
    return Settings.from_config(config, secret_keys)
