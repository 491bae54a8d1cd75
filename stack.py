"""The secure-invoke stack as a function: `build(settings)` registers one environment and returns its outputs.

Pub/Sub → gen2 function `relay` → private Cloud Run `worker`, over Google-signed OIDC. `__main__.py` only
reads the settings, calls `build` and exports what it returns; tests call `build` the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components import (
    AccessAudit,
    AccessAuditArgs,
    DeadLetterTopic,
    DeadLetterTopicArgs,
    EventFunction,
    EventFunctionArgs,
    OperatorAccess,
    OperatorAccessArgs,
    PrivateService,
    PrivateServiceArgs,
    RotatedSecret,
    RotatedSecretArgs,
    ServiceIdentity,
    ServiceIdentityArgs,
    TimeBoundGrant,
    WorkerImage,
    WorkerImageArgs,
)
from secure_invoke.settings import Settings

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
    who = identities(cfg)
    worker = worker_service(cfg, who)
    invoker_grant = worker.grant_invoker(who.relay)
    worker.grant_invoker(who.operator.identity)
    dead_letter_grant = dead_letters.grant_publisher(who.relay)
    access_audit(cfg, who.operator)
    # The relay's first call should find its invoker grant in place, its first dead letter its publisher grant.
    relay = relay_function(cfg, jobs, dead_letters, worker, who.relay, [invoker_grant, dead_letter_grant])

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
            account_id=f"relay-runtime-{env}", display_name=f"relay-{env} runtime identity", project=cfg.project
        ),
    )
    worker = ServiceIdentity(
        "worker-runtime",
        ServiceIdentityArgs(
            account_id=f"worker-runtime-{env}", display_name=f"worker-{env} runtime identity", project=cfg.project
        ),
    )
    # People reach the worker only as this account, each for a few days, through an ID-token-only grant.
    operator = OperatorAccess(
        "worker-operator",
        OperatorAccessArgs(
            project=cfg.project,
            account_id=f"worker-operator-{env}",
            display_name=f"worker-{env} operator access",
            grants=tuple(TimeBoundGrant(a.principal, a.expires, a.reason) for a in cfg.operator_access),
        ),
    )
    return Identities(relay=relay, worker=worker, operator=operator)


def upstream_secret(cfg: Settings, reader: ServiceIdentity) -> RotatedSecret:
    """The worker's upstream API key in Secret Manager, rotated; a version only if the stack holds one."""
    env = cfg.environment
    secret = RotatedSecret(
        "upstream-api-key",
        RotatedSecretArgs(
            project=cfg.project,
            secret_id=f"upstream-api-key-{env}",
            reader=reader,
            rotation_days=cfg.secret_rotation_days,
            initial_value=cfg.upstream_api_key,
            labels=cfg.labels,
        ),
    )
    if cfg.upstream_api_key is None:
        pulumi.log.warn(
            f"secret upstream-api-key-{env} gets no version from this stack: add one before the worker can start "
            f"(gcloud secrets versions add upstream-api-key-{env} --data-file=-), or set secure-invoke:upstreamApiKey "
            "with --secret"
        )
    return secret


def worker_service(cfg: Settings, who: Identities) -> PrivateService:
    """The private worker: its secret, its image, and the service only allowed invokers may call."""
    env, worker = cfg.environment, cfg.worker
    secret = upstream_secret(cfg, who.worker)
    image = WorkerImage(
        "worker-image",
        WorkerImageArgs(
            project=cfg.project,
            region=cfg.region,
            repository_id=f"worker-{env}",
            context_dir=str(WORKER_SOURCE),
            prebuilt=worker.image,
            keep_count=worker.image_keep_count,
            labels=cfg.labels,
        ),
    )
    audience = worker.audience or f"https://worker-{env}.{cfg.project}.secure-invoke.internal"
    return PrivateService(
        "worker",
        PrivateServiceArgs(
            region=cfg.region,
            project=cfg.project,
            service_name=f"worker-{env}",
            image=image.ref,
            identity=who.worker,
            min_instances=worker.min_instances,
            max_instances=worker.max_instances,
            concurrency=worker.concurrency,
            cpu=worker.cpu,
            memory=worker.memory,
            request_timeout_seconds=worker.request_timeout_seconds,
            startup_cpu_boost=worker.startup_cpu_boost,
            internal_ingress=worker.internal_ingress,
            deletion_protection=worker.deletion_protection,
            custom_audience=audience,
            env=worker_env(cfg, audience, who),
            secret_env={"UPSTREAM_API_KEY": secret.secret_id},
            labels=cfg.labels,
        ),
        opts=pulumi.ResourceOptions(depends_on=secret.ready),
    )


def worker_env(cfg: Settings, audience: str, who: Identities) -> dict[str, pulumi.Input[str]]:
    """The worker's environment variables (services/worker/worker/environment.py reads them)."""
    return {
        "INVOKER_AUDIENCE": audience,
        "ALLOWED_INVOKERS": pulumi.Output.concat(who.relay.email, ",", who.operator.email),
        # Marks operator calls in the worker's audit line, apart from the relay's.
        "OPERATOR_INVOKERS": who.operator.email,
        # One gunicorn thread per request Cloud Run may send at once.
        "WORKER_THREADS": str(cfg.worker.concurrency),
        # For the audit line's trace field (projects/<project>/traces/<id>).
        "GOOGLE_CLOUD_PROJECT": cfg.project,
    }


def access_audit(cfg: Settings, operator: OperatorAccess) -> AccessAudit:
    """Audit logs, counts and (in prod) an alert on every use of the operator account and every denial."""
    return AccessAudit(
        "access-audit",
        AccessAuditArgs(
            project=cfg.project,
            operator_email=operator.email,
            service_name=f"worker-{cfg.environment}",
            suffix=cfg.environment,
            alert_on_operator_tokens=cfg.is_prod,
            notification_channels=cfg.operator_alert_channels,
        ),
    )


def relay_function(
    cfg: Settings,
    jobs: gcp.pubsub.Topic,
    dead_letters: DeadLetterTopic,
    worker: PrivateService,
    runtime_identity: ServiceIdentity,
    depends_on: list[pulumi.Resource],
) -> EventFunction:
    """The relay on the jobs topic, running as `runtime_identity`, calling `worker`, dead-lettering to its topic."""
    env, relay = cfg.environment, cfg.relay
    project_number = gcp.organizations.get_project_output(project_id=cfg.project).number
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
            memory=relay.memory,
            max_instances=relay.max_instances,
            timeout_seconds=relay.timeout_seconds,
            retry=relay.retry,
            env={
                "WORKER_URL": worker.uri,
                "WORKER_AUDIENCE": worker.audience,
                "WORKER_TIMEOUT_SECONDS": str(relay.worker_timeout_seconds),
                "DEAD_LETTER_TOPIC": dead_letters.topic_id,
            },
            vpc_egress=cfg.vpc,
            project_number=project_number,
            legacy_pubsub_agent=cfg.legacy_pubsub_service_agent,
            force_destroy_source=not cfg.is_prod,
            labels=cfg.labels,
        ),
        opts=pulumi.ResourceOptions(depends_on=depends_on),
    )
