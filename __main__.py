"""secure-invoke: Pub/Sub → gen2 function `relay` → private Cloud Run `worker`, over Google-signed OIDC.

Thin wiring only: settings are read and validated once, before any resource is registered.
"""

from pathlib import Path

import pulumi
import pulumi_gcp as gcp

import settings as stack_settings
from components import (
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
    VpcEgress,
    WorkerImage,
    WorkerImageArgs,
)

HERE = Path(__file__).resolve().parent
cfg = stack_settings.load()
env = cfg.environment
for warning in cfg.warnings:
    pulumi.log.warn(warning)

jobs = gcp.pubsub.Topic("jobs", project=cfg.project, name=f"jobs-{env}", labels=cfg.labels)
# What the relay gives up on (poison, rejected, or out of retries) is kept here with the reason.
dead_letters = DeadLetterTopic(
    "jobs-dead", DeadLetterTopicArgs(project=cfg.project, topic_name=f"jobs-{env}-dead", labels=cfg.labels)
)

relay_identity = ServiceIdentity(
    "relay-runtime",
    ServiceIdentityArgs(
        account_id=f"relay-runtime-{env}", display_name=f"relay-{env} runtime identity", project=cfg.project
    ),
)
worker_identity = ServiceIdentity(
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

upstream_api_key = RotatedSecret(
    "upstream-api-key",
    RotatedSecretArgs(
        project=cfg.project,
        secret_id=f"upstream-api-key-{env}",
        reader=worker_identity,
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

worker_image = WorkerImage(
    "worker-image",
    WorkerImageArgs(
        project=cfg.project,
        region=cfg.region,
        repository_id=f"worker-{env}",
        context_dir=str(HERE / "services" / "worker"),
        prebuilt=cfg.worker.image,
        keep_count=cfg.worker.image_keep_count,
        labels=cfg.labels,
    ),
)

audience = cfg.worker.audience or f"https://worker-{env}.{cfg.project}.secure-invoke.internal"
worker = PrivateService(
    "worker",
    PrivateServiceArgs(
        region=cfg.region,
        project=cfg.project,
        service_name=f"worker-{env}",
        image=worker_image.ref,
        identity=worker_identity,
        min_instances=cfg.worker.min_instances,
        max_instances=cfg.worker.max_instances,
        concurrency=cfg.worker.concurrency,
        cpu=cfg.worker.cpu,
        memory=cfg.worker.memory,
        request_timeout_seconds=cfg.worker.request_timeout_seconds,
        startup_cpu_boost=cfg.worker.startup_cpu_boost,
        internal_ingress=cfg.worker.internal_ingress,
        deletion_protection=cfg.worker.deletion_protection,
        custom_audience=audience,
        env={
            "INVOKER_AUDIENCE": audience,
            "ALLOWED_INVOKERS": pulumi.Output.concat(relay_identity.email, ",", operator.email),
            # Marks operator calls in the worker's audit line, apart from the relay's.
            "OPERATOR_INVOKERS": operator.email,
            # One gunicorn thread per request Cloud Run may send at once.
            "WORKER_THREADS": str(cfg.worker.concurrency),
            # For the audit line's trace field (projects/<project>/traces/<id>).
            "GOOGLE_CLOUD_PROJECT": cfg.project,
        },
        secret_env={"UPSTREAM_API_KEY": upstream_api_key.secret_id},
        labels=cfg.labels,
    ),
    opts=pulumi.ResourceOptions(depends_on=upstream_api_key.ready),
)
invoker_grant = worker.grant_invoker(relay_identity)
worker.grant_invoker(operator.identity)
dead_letter_grant = dead_letters.grant_publisher(relay_identity)

AccessAudit(
    "access-audit",
    AccessAuditArgs(
        project=cfg.project,
        operator_email=operator.email,
        service_name=f"worker-{env}",
        suffix=env,
        alert_on_operator_tokens=cfg.is_prod,
        notification_channels=cfg.operator_alert_channels,
    ),
)

project_number = gcp.organizations.get_project_output(project_id=cfg.project).number
relay = EventFunction(
    "relay",
    EventFunctionArgs(
        project=cfg.project,
        region=cfg.region,
        function_name=f"relay-{env}",
        topic_id=jobs.id,
        source_dir=str(HERE / "functions" / "relay"),
        entry_point="relay",
        identity_base="relay",
        identity_suffix=env,
        runtime_identity=relay_identity,
        memory=cfg.relay.memory,
        max_instances=cfg.relay.max_instances,
        timeout_seconds=cfg.relay.timeout_seconds,
        retry=cfg.relay.retry,
        env={
            "WORKER_URL": worker.uri,
            "WORKER_AUDIENCE": worker.audience,
            "WORKER_TIMEOUT_SECONDS": str(cfg.relay.worker_timeout_seconds),
            "DEAD_LETTER_TOPIC": dead_letters.topic_id,
        },
        vpc_egress=VpcEgress(cfg.vpc.network, cfg.vpc.subnetwork) if cfg.vpc else None,
        project_number=project_number,
        legacy_pubsub_agent=cfg.legacy_pubsub_service_agent,
        force_destroy_source=not cfg.is_prod,
        labels=cfg.labels,
    ),
    # The relay's first call should find its invoker grant in place, its first dead letter its publisher grant.
    opts=pulumi.ResourceOptions(depends_on=[invoker_grant, dead_letter_grant]),
)

pulumi.export("worker_url", worker.uri)
pulumi.export("worker_audience", worker.audience)
pulumi.export("jobs_topic", jobs.id)
pulumi.export("dead_letter_topic", dead_letters.topic_id)
pulumi.export("dead_letter_subscription", dead_letters.subscription_name)
pulumi.export("relay_function", relay.name)
pulumi.export("relay_runtime_email", relay_identity.email)
pulumi.export("relay_trigger_email", relay.trigger_identity.email)
pulumi.export("relay_build_email", relay.build_identity.email)
pulumi.export("worker_runtime_email", worker_identity.email)
pulumi.export("worker_operator_email", operator.email)
pulumi.export(
    "invoker_grant",
    pulumi.Output.all(relay_identity.member, worker.name).apply(lambda a: f"{a[0]} → roles/run.invoker → {a[1]}"),
)
