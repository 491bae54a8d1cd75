"""The bootstrap's stack settings (`secure-invoke-bootstrap:` and `gcp:` keys), read and checked once; every
problem is reported together, each naming its config key."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi

NAMESPACE = "secure-invoke-bootstrap"
ENVIRONMENTS = ("dev", "prod")

_REPOSITORY = re.compile(r"^[A-Za-z0-9-]{1,39}/[A-Za-z0-9._-]{1,100}$")
_REPOSITORY_ID = re.compile(r"^[0-9]{1,20}$")
_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")


class BootstrapConfigError(pulumi.RunError):
    """Invalid bootstrap config; a RunError so the CLI prints the message without a traceback."""


@dataclass(frozen=True)
class Settings:
    ci_project: str
    region: str
    repository: str
    repository_id: str | None
    projects: dict[str, str]
    grant_runtime_act_as: bool


def load_settings() -> Settings:
    gcp_config = pulumi.Config("gcp")
    config = pulumi.Config(NAMESPACE)
    errors: list[str] = []

    ci_project = gcp_config.get("project") or ""
    if not _PROJECT.match(ci_project):
        errors.append(f"gcp:project: {ci_project!r} is not a project id")
    region = gcp_config.get("region") or ""
    if not region:
        errors.append("gcp:region: required (location of the state buckets and secrets keys)")

    repository = config.get("githubRepository") or ""
    if not _REPOSITORY.match(repository):
        errors.append(f"{NAMESPACE}:githubRepository: {repository!r} must be <owner>/<repo>")
    repository_id = config.get("githubRepositoryId")
    if repository_id is not None and not _REPOSITORY_ID.match(repository_id):
        errors.append(f"{NAMESPACE}:githubRepositoryId: {repository_id!r} must be the numeric repository id")

    environments: Any = config.get_object("environments") or {}
    projects: dict[str, str] = {}
    if not isinstance(environments, dict):
        errors.append(f"{NAMESPACE}:environments: must be a map of environment → {{project}}")
        environments = {}
    for unknown in sorted(set(environments) - set(ENVIRONMENTS)):
        errors.append(f"{NAMESPACE}:environments.{unknown}: unknown environment (expected {ENVIRONMENTS})")
    for env in ENVIRONMENTS:
        entry: Any = environments.get(env) or {}
        project = entry.get("project", ci_project) if isinstance(entry, dict) else None
        if not isinstance(project, str) or not _PROJECT.match(project):
            errors.append(f"{NAMESPACE}:environments.{env}.project: {project!r} is not a project id")
        else:
            projects[env] = project

    grant = config.get_bool("grantRuntimeActAs")
    if errors:
        raise BootstrapConfigError("; ".join(errors))
    return Settings(
        ci_project=ci_project,
        region=region,
        repository=repository,
        repository_id=repository_id,
        projects=projects,
        grant_runtime_act_as=True if grant is None else grant,
    )
