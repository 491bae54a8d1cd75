"""The bootstrap's stack settings (`secure-invoke-bootstrap:` and `gcp:` keys), declared and checked the way the
main stack's are (`secure_invoke.settings`): every problem is reported together, each naming its config key.

Each environment is a stack of the main program: its project, tier, service accounts, declared callers and
`legacyPubsubServiceAgent` are read from that stack's own file (`../Pulumi.<environment>.yaml`), never repeated
here, so the deployer's roles follow what that stack creates.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pulumi

from secure_invoke.settings import CallerKind, ConfigError, Key, Tier
from secure_invoke.settings import Settings as StackSettings
from secure_invoke.settings.keys import one_error, parse, project_key, region_key

NAMESPACE: Final = "secure-invoke-bootstrap"
# The main program's directory, whose `Pulumi.<environment>.yaml` files the environments name.
MAIN_PROGRAM: Final = Path(__file__).resolve().parent.parent

KEYS: Final[tuple[Key, ...]] = (
    project_key("The CI project: pools, deployers, state buckets, keys."),
    region_key("Location of the state buckets and secrets keys."),
    Key(
        "githubRepository",
        {"type": "string", "pattern": r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$"},
        "The repository whose workflows may federate, `<owner>/<repo>`.",
        required=True,
        explain="must be <owner>/<repo>",
    ),
    Key(
        "githubRepositoryId",
        {"type": "string", "pattern": r"^[0-9]{1,20}$"},
        "Its numeric id (`gh api repos/<owner>/<repo> --jq .id`): pins it across renames and re-creation.",
        explain="must be the numeric repository id",
    ),
    Key(
        "environments",
        {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": r"^[a-z](?:[a-z0-9-]{0,12}[a-z0-9])?$"},
            "additionalProperties": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {"githubEnvironment": {"type": "string", "pattern": r"^[A-Za-z0-9._-]{1,255}$"}},
            },
        },
        "The main program's stacks CI deploys, by name (each has its `Pulumi.<name>.yaml`), each with the GitHub "
        "environment its deploys run in (`githubEnvironment`, default: the name).",
        required=True,
    ),
    Key(
        "grantRuntimeActAs",
        {"type": "boolean"},
        "false until the main stack has created its service accounts (docs/ci-cd.md).",
        default=True,
    ),
)


@dataclass(frozen=True)
class Environment:
    """One stack of the main program, as CI deploys it."""

    name: str
    project: str
    tier: Tier
    github_environment: str
    # Every service account the stack creates → whether a workload runs as it (the deployer acts as those).
    accounts: dict[str, bool]
    # The kinds of its declared callers (`callers`): the deployer creates a scheduler job, a push subscription,
    # a queue or a workflow per caller, so it holds what creates each kind only when one is declared.
    caller_kinds: frozenset[CallerKind] = frozenset()
    # The topics of other projects its push callers subscribe to (`projects/<p>/topics/<t>`): creating a
    # subscription checks pubsub.topics.attachSubscription on the topic, which no role in this project gives.
    foreign_topics: tuple[str, ...] = ()
    # `legacyPubsubServiceAgent`: the stack sets IAM on the trigger account (the Pub/Sub agent mints its tokens).
    legacy_pubsub_agent: bool = False
    # The stack alerts on operator token mints (tier production): the deployer creates an alert policy.
    operator_token_alert: bool = False

    @property
    def preview_environments(self) -> list[str]:
        """GitHub environments whose previews read this stack: the pull request's, and for a production tier
        also deploy.yml's preview of merged main, shown to the approver before the deploy."""
        return [f"preview-{self.name}", *([f"plan-{self.name}"] if self.tier == "production" else [])]


@dataclass(frozen=True)
class Settings:
    ci_project: str
    region: str
    repository: str
    repository_id: str | None
    environments: tuple[Environment, ...]
    grant_runtime_act_as: bool


def environment_of(name: str, entry: dict[str, str] | None, main_program: Path) -> Environment:
    """The environment `name` from its stack file; ConfigError naming the key and the file."""
    where = f"{NAMESPACE}:environments.{name}"
    path = main_program / f"Pulumi.{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"{where}: no stack file {path.name} in the main program's directory")
    try:
        stack = StackSettings.from_stack_file(path)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None
    if stack.environment != name:
        raise ConfigError(f"{where}: {path.name} names its environment {stack.environment!r}; use that name")
    return Environment(
        name=name,
        project=stack.project,
        tier=stack.tier,
        github_environment=(entry or {}).get("githubEnvironment", name),
        accounts=stack.service_accounts(),
        caller_kinds=frozenset(c.kind for c in stack.callers),
        foreign_topics=tuple(
            sorted(
                c.topic
                for c in stack.callers
                if c.topic and c.topic.startswith("projects/") and not c.topic.startswith(f"projects/{stack.project}/")
            )
        ),
        legacy_pubsub_agent=bool(stack.value("legacyPubsubServiceAgent")),
        operator_token_alert=stack.alerts_on_operator_tokens,
    )


def settings_of(config: dict[str, str], main_program: Path = MAIN_PROGRAM) -> Settings:
    values, errors = parse(NAMESPACE, KEYS, config)
    environments: list[Environment] = []
    for name, entry in sorted((values.get("environments") or {}).items()):
        try:
            environments.append(environment_of(name, entry, main_program))
        except ConfigError as err:
            errors.append(str(err))
    if errors:
        raise one_error("invalid bootstrap config", errors)
    grant = values.get("grantRuntimeActAs")
    return Settings(
        ci_project=values["gcp:project"],
        region=values["gcp:region"],
        repository=values["githubRepository"],
        repository_id=values.get("githubRepositoryId"),
        environments=tuple(environments),
        grant_runtime_act_as=True if grant is None else grant,
    )


def load_settings() -> Settings:
    """The running bootstrap stack's config, as the engine passed it."""
    config: dict[str, str] = {}
    config.update(pulumi.runtime.config.get_config_env())
    config.update(pulumi.runtime.config.CONFIG.get())
    return settings_of(config)


__all__ = ["KEYS", "NAMESPACE", "Environment", "Settings", "load_settings", "settings_of"]
