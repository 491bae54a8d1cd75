"""The secure-invoke stack as a function: `build(settings)` registers one environment and returns its outputs.

Pub/Sub → gen2 function `relay` → private Cloud Run `worker`, over Google-signed OIDC; plus any callers of the
worker the stack config declares (`callers`). `__main__.py` only reads the settings, calls `build` and exports
what it returns; tests call `build` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components import (
    AccessAudit,
    AccessAuditArgs,
    Caller,
    CallerEnv,
    DeadLetterTopic,
    DeadLetterTopicArgs,
    EventFunction,
    EventFunctionArgs,
    OperatorAccess,
    OperatorAccessArgs,
    PrivateService,
    PrivateServiceArgs,
    PushCall,
    QueuedCall,
    RotatedSecret,
    RotatedSecretArgs,
    ScheduledCall,
    ServiceIdentity,
    ServiceIdentityArgs,
    TimeBoundGrant,
    WorkerImage,
    WorkerImageArgs,
    WorkflowCall,
    pubsub_agent,
)
from secure_invoke.settings import CallerEntry, Settings

HERE = Path(__file__).resolve().parent
RELAY_SOURCE = HERE / "functions" / "relay"
WORKER_SOURCE = HERE / "services" / "worker"


@dataclass(frozen=True)
class Identities:
    """Who runs the relay and the worker, and the account people borrow to reach the worker."""

    relay: ServiceIdentity
    worker: ServiceIdentity
    operator: OperatorAccess


def build(cfg: Settings) -> dict[str, pulumi.Output[str]]:
    """Register every resource of the environment `cfg` describes; returns the stack outputs, name → value."""
    env = cfg.environment
    for warning in cfg.warnings:
        pulumi.log.warn(warning)

    jobs = gcp.pubsub.Topic("jobs", project=cfg.project, name=f"jobs-{env}", labels=cfg.labels)
    # What the relay gives up on (poison, rejected, or out of retries) is kept here with the reason.
    dead_letters = DeadLetterTopic(
        "jobs-dead", DeadLetterTopicArgs(project=cfg.project, topic_name=f"jobs-{env}-dead", labels=cfg.labels)
    )
    project_number = gcp.organizations.get_project_output(project_id=cfg.project).number
    who = identities(cfg)
    callers = [
        Caller(who.relay.resource_name, identity=who.relay),
        Caller(who.operator.identity.resource_name, identity=who.operator.identity, operator=True),
        *(declared_caller(entry, dead_letters, project_number) for entry in cfg.callers),
    ]
    worker = worker_service(cfg, who, callers)
    dead_letter_grant = dead_letters.grant_publisher(who.relay)
    access_audit(cfg, who.operator)
    # The relay's first call should find its invoker grant in place, its first dead letter its publisher grant.
    relay_grants: list[pulumi.Resource] = [worker.invoker_grants[who.relay.resource_name], dead_letter_grant]
    relay = relay_function(cfg, jobs, dead_letters, worker, who.relay, relay_grants, project_number)

    return {
        "worker_url": worker.uri,
        "worker_audience": worker.audience,
        "jobs_topic": jobs.id,
        "dead_letter_topic": dead_letters.topic_id,
        "dead_letter_subscription": dead_letters.subscription_name,
        "relay_function": relay.name,
        "relay_runtime_email": who.relay.email,
        "relay_trigger_email": relay.trigger_identity.email,
        "relay_build_email": relay.build_identity.email,
        "worker_runtime_email": who.worker.email,
        "worker_operator_email": who.operator.email,
        "invoker_grant": pulumi.Output.all(who.relay.member, worker.name).apply(
            lambda a: f"{a[0]} → roles/run.invoker → {a[1]}"
        ),
    }


def identities(cfg: Settings) -> Identities:
    """The relay's and the worker's runtime identities, and the operator account with its expiring grants."""
    env = cfg.environment
    relay = ServiceIdentity(
        "relay-runtime",
        ServiceIdentityArgs(
            account_id=cfg.account_id("relay-runtime"),
            display_name=f"relay-{env} runtime identity",
            project=cfg.project,
        ),
    )
    worker = ServiceIdentity(
        "worker-runtime",
        ServiceIdentityArgs(
            account_id=cfg.account_id("worker-runtime"),
            display_name=f"worker-{env} runtime identity",
            project=cfg.project,
        ),
    )
    # People reach the worker only as this account, each for a few days, through an ID-token-only grant.
    operator = OperatorAccess(
        "worker-operator",
        OperatorAccessArgs(
            project=cfg.project,
            account_id=cfg.account_id("worker-operator"),
            display_name=f"worker-{env} operator access",
            grants=tuple(TimeBoundGrant(a.principal, a.expires, a.reason) for a in cfg.operator_access),
        ),
    )
    return Identities(relay=relay, worker=worker, operator=operator)


def declared_caller(entry: CallerEntry, dead_letters: DeadLetterTopic, project_number: pulumi.Output[str]) -> Caller:
    """A `callers` entry of the stack config as the worker's Caller: its identity and, but for a workload
    elsewhere, the Google resource that calls the worker."""
    path = entry.path or "/jobs"
    match entry.kind:
        case "service-account":
            return Caller(entry.name, email=entry.email)
        case "scheduler":
            call = ScheduledCall(schedule=entry.schedule or "", body=entry.body, path=path, time_zone=entry.time_zone)
        case "pubsub-push":
            # What the worker keeps refusing goes to the stack's dead-letter topic, not into oblivion.
            call = PushCall(
                topic=entry.topic or "",
                path=path,
                dead_letter_topic=dead_letters.topic_id,
                pubsub_agent=pubsub_agent(project_number),
            )
        case "cloud-tasks":
            call = QueuedCall(path=path)
        case "workflows":
            call = WorkflowCall(path=path)
    return Caller(entry.name, account_id=entry.account_id, call=call)


def upstream_secret(cfg: Settings, reader: ServiceIdentity) -> RotatedSecret:
    """The worker's upstream API key in Secret Manager, rotated; a version only if the stack holds one."""
    env = cfg.environment
    secret = RotatedSecret(
        "upstream-api-key",
        RotatedSecretArgs(
            project=cfg.project,
            secret_id=f"upstream-api-key-{env}",
            reader=reader,
            labels=cfg.labels,
            **cfg.args(RotatedSecretArgs),
        ),
    )
    if cfg.value("upstreamApiKey") is None:
        pulumi.log.warn(
            f"secret upstream-api-key-{env} gets no version from this stack: the worker starts without it, and reads "
            f"it when it needs it; add it with `gcloud secrets versions add upstream-api-key-{env} --data-file=-`"
        )
    return secret


def worker_service(cfg: Settings, who: Identities, callers: list[Caller]) -> PrivateService:
    """The private worker: its secret, its image, and the service only its declared callers may call."""
    env = cfg.environment
    secret = upstream_secret(cfg, who.worker)
    image = WorkerImage(
        "worker-image",
        WorkerImageArgs(
            project=cfg.project,
            region=cfg.region,
            repository_id=f"worker-{env}",
            context_dir=str(WORKER_SOURCE),
            labels=cfg.labels,
            **cfg.args(WorkerImageArgs),
        ),
    )
    return PrivateService(
        "worker",
        PrivateServiceArgs(
            region=cfg.region,
            project=cfg.project,
            service_name=f"worker-{env}",
            image=image.ref,
            identity=who.worker,
            callers=callers,
            # The worker checks its callers itself too: the allowlist and audience come from the same callers.
            caller_env=CallerEnv(),
            custom_audience=cfg.worker_audience,
            env=worker_env(cfg),
            # A file, read when used: the worker starts before the secret has a version (docs/ci-cd.md).
            secret_files={"UPSTREAM_API_KEY_FILE": secret.secret_id},
            labels=cfg.labels,
            **cfg.args(PrivateServiceArgs),
        ),
        opts=pulumi.ResourceOptions(depends_on=secret.ready),
    )


def worker_env(cfg: Settings) -> dict[str, pulumi.Input[str]]:
    """The worker's own environment variables (services/worker/worker/environment.py reads them); its callers
    and audience are written by PrivateService from the declared callers."""
    return {
        # One gunicorn thread per request Cloud Run may send at once.
        "WORKER_THREADS": str(cfg.value("workerConcurrency")),
        # For the audit line's trace field (projects/<project>/traces/<id>).
        "GOOGLE_CLOUD_PROJECT": cfg.project,
    }


def access_audit(cfg: Settings, operator: OperatorAccess) -> AccessAudit:
    """Audit logs, counts and (in tier production) an alert on every use of the operator account and every denial."""
    return AccessAudit(
        "access-audit",
        AccessAuditArgs(
            project=cfg.project,
            operator_email=operator.email,
            service_name=f"worker-{cfg.environment}",
            suffix=cfg.environment,
            alert_on_operator_tokens=cfg.alerts_on_operator_tokens,
            **cfg.args(AccessAuditArgs),
        ),
    )


def relay_function(
    cfg: Settings,
    jobs: gcp.pubsub.Topic,
    dead_letters: DeadLetterTopic,
    worker: PrivateService,
    runtime_identity: ServiceIdentity,
    depends_on: list[pulumi.Resource],
    project_number: pulumi.Output[str],
) -> EventFunction:
    """The relay on the jobs topic, running as `runtime_identity`, calling `worker`, dead-lettering to its topic."""
    env = cfg.environment
    return EventFunction(
        "relay",
        EventFunctionArgs(
            project=cfg.project,
            region=cfg.region,
            function_name=f"relay-{env}",
            topic_id=jobs.id,
            source_dir=str(RELAY_SOURCE),
            entry_point="relay",
            identity_base="relay",
            identity_suffix=env,
            runtime_identity=runtime_identity,
            env={
                "WORKER_URL": worker.uri,
                "WORKER_AUDIENCE": worker.audience,
                "WORKER_TIMEOUT_SECONDS": str(cfg.value("relayWorkerTimeoutSeconds")),
                "DEAD_LETTER_TOPIC": dead_letters.topic_id,
            },
            vpc_egress=cfg.vpc,
            project_number=project_number,
            # A development stack's `destroy` takes the archives along; a production one keeps them.
            force_destroy_source=not cfg.is_production,
            labels=cfg.labels,
            **cfg.args(EventFunctionArgs),
        ),
        opts=pulumi.ResourceOptions(depends_on=depends_on),
    )
