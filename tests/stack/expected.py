"""What the stack must register for a stack's settings, derived from those settings (never from the sample's ids):
the ten grants of docs/design.md §2 and the grants its config adds (operator access, declared callers)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from secure_invoke.preflight import ProgramRun, Resource, grants_of
from secure_invoke.settings import Settings

Grant = tuple[str, str, str]  # (member, role, resource) as preflight's report names them
ACCOUNT = "gcp:serviceaccount/account:Account"
OPEN_ID_TOKEN_CREATOR = "roles/iam.serviceAccountOpenIdTokenCreator"


def one(run: ProgramRun, type_: str, name: str | None = None) -> Resource:
    found = [r for r in run.of_type(type_) if name is None or r.name == name]
    assert len(found) == 1, f"expected one {type_} {name or ''}, found {[r.name for r in found]}"
    return found[0]


def email(cfg: Settings, prefix: str) -> str:
    """The email of an account the stack creates: `<prefix>-<environment>@<project>.iam.gserviceaccount.com`."""
    return f"{prefix}-{cfg.environment}@{cfg.project}.iam.gserviceaccount.com"


def sa(cfg: Settings, prefix: str) -> str:
    return f"serviceAccount:{email(cfg, prefix)}"


def project_number(run: ProgramRun) -> str:
    """The project number the run saw (the engine's getProject), read off Secret Manager's service agent."""
    agent = one(run, "gcp:projects/serviceIdentity:ServiceIdentity").outputs["email"]
    found = re.fullmatch(r"service-(\d+)@gcp-sa-secretmanager\.iam\.gserviceaccount\.com", agent)
    assert found, agent
    return found.group(1)


def caller_emails(cfg: Settings) -> list[str]:
    """The worker's allowlist, in order: the relay, the operator account, then each declared caller."""
    declared = [c.email if c.email else f"{c.account_id}@{cfg.project}.iam.gserviceaccount.com" for c in cfg.callers]
    return [email(cfg, "relay-runtime"), email(cfg, "worker-operator"), *declared]


@dataclass(frozen=True)
class Expected:
    base: frozenset[Grant]  # the ten grants of docs/design.md §2
    configured: frozenset[Grant]  # what this stack's config adds

    @property
    def all(self) -> frozenset[Grant]:
        return self.base | self.configured


def expected_grants(cfg: Settings, run: ProgramRun) -> Expected:
    env, project = cfg.environment, cfg.project
    bucket = one(run, "gcp:storage/bucket:Bucket").outputs["name"]
    rotation_topic = one(run, "gcp:pubsub/topic:Topic", "upstream-api-key-rotation").outputs["name"]
    agent = one(run, "gcp:projects/serviceIdentity:ServiceIdentity")
    worker = f"cloudrunv2/service worker-{env}"
    base = {
        (sa(cfg, "relay-runtime"), "roles/run.invoker", worker),
        (sa(cfg, "relay-trigger"), "roles/run.invoker", f"cloudrunv2/service relay-{env}"),
        (sa(cfg, "relay-build"), "roles/logging.logWriter", f"project {project}"),
        (sa(cfg, "relay-build"), "roles/artifactregistry.writer", f"artifactregistry/repository relay-{env}-builds"),
        (sa(cfg, "relay-build"), "roles/storage.objectViewer", f"storage/bucket {bucket}"),
        # Conditioned to Google's gcf-v2-sources bucket: see test_build_reads_googles_source_copy_only.
        (sa(cfg, "relay-build"), "roles/storage.objectViewer", f"project {project}"),
        (
            sa(cfg, "worker-runtime"),
            "roles/secretmanager.secretAccessor",
            f"secretmanager/secret upstream-api-key-{env}",
        ),
        (agent.outputs["member"], "roles/pubsub.publisher", f"pubsub/topic {rotation_topic}"),
        # People borrow this account just in time (operatorAccess); on its own it may only invoke the worker.
        (sa(cfg, "worker-operator"), "roles/run.invoker", worker),
        # The relay keeps what it gives up on in its dead-letter topic, and may publish nowhere else.
        (sa(cfg, "relay-runtime"), "roles/pubsub.publisher", f"pubsub/topic jobs-{env}-dead"),
    }
    operator = one(run, ACCOUNT, "worker-operator").outputs["name"]
    configured = {
        (entry.principal, OPEN_ID_TOKEN_CREATOR, f"serviceaccount {operator}") for entry in cfg.operator_access
    }
    pubsub_agent = f"serviceAccount:service-{project_number(run)}@gcp-sa-pubsub.iam.gserviceaccount.com"
    for caller, caller_email in zip(cfg.callers, caller_emails(cfg)[2:], strict=True):
        configured.add((f"serviceAccount:{caller_email}", "roles/run.invoker", worker))
        if caller.kind == "pubsub-push":
            # Pub/Sub forwards what the worker keeps refusing to the dead-letter topic, as its own agent.
            configured.add(
                (pubsub_agent, "roles/pubsub.publisher", f"pubsub/topic projects/{project}/topics/jobs-{env}-dead")
            )
            configured.add((pubsub_agent, "roles/pubsub.subscriber", f"pubsub/subscription {caller.name}"))
    if cfg.value("legacyPubsubServiceAgent"):
        trigger = one(run, ACCOUNT, "relay-trigger").outputs["name"]
        configured.add((pubsub_agent, "roles/iam.serviceAccountTokenCreator", f"serviceaccount {trigger}"))
    return Expected(frozenset(base), frozenset(configured))


def registered_grants(run: ProgramRun) -> list[Grant]:
    return [(g.member, g.role, g.resource) for g in grants_of(run.resources)]
