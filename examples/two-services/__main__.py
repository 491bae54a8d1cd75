"""two-services: two private Cloud Run services and four callers, each with its own identity and one grant.

Composed from the installed `secure-invoke` package only (`pip install secure-invoke`); nothing here
imports from the repository it ships in. Who calls what:

- `ingest`, a gen2 function on the `billing-events` topic, POSTs each event to `billing`;
- `billing-push`, a Pub/Sub push subscription on `billing-adjustments`, delivers to `billing`;
- `nightly-report`, a Cloud Scheduler job, calls `reports` once a night;
- `reports` itself calls `billing` (service to service).

Each caller runs as its own service account and gets `roles/run.invoker` on the one service it calls,
through `PrivateService.grant_invoker` (the only way the component grants it). Each caller is one entry of
`CALLERS` below: adding a caller is one entry there plus the resource that sends the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components import (
    EventFunction,
    EventFunctionArgs,
    PrivateService,
    PrivateServiceArgs,
    ServiceIdentity,
    ServiceIdentityArgs,
)

HERE = Path(__file__).resolve().parent
config = pulumi.Config()
gcp_config = pulumi.Config("gcp")
project = gcp_config.require("project")
region = gcp_config.require("region")
labels = {"app": "two-services", "stack": pulumi.get_stack()}


def identity(name: str, what: str) -> ServiceIdentity:
    """One dedicated service account per workload or caller: never shared, never a key."""
    return ServiceIdentity(name, ServiceIdentityArgs(account_id=name, display_name=what, project=project))


def service(name: str, env: Mapping[str, pulumi.Input[str]]) -> tuple[PrivateService, ServiceIdentity]:
    """A private service running as its own identity; plain env from `<name>Env` config, secrets never there."""
    runtime = identity(f"{name}-runtime", f"{name} runtime")
    settings: dict[str, pulumi.Input[str]] = {
        str(k): str(v) for k, v in (config.get_object(f"{name}Env") or {}).items()
    }
    settings.update(env)
    return (
        PrivateService(
            name,
            PrivateServiceArgs(
                region=region,
                project=project,
                image=config.require(f"{name}Image"),
                identity=runtime,
                # A name rather than the URL: it stays when the URL changes; callers mint tokens for it.
                custom_audience=f"https://{name}.{project}.example.internal",
                env=settings,
                deletion_protection=False,
                labels=labels,
            ),
        ),
        runtime,
    )


billing, billing_runtime = service("billing", {})
reports, reports_runtime = service("reports", {"BILLING_URL": billing.uri, "BILLING_AUDIENCE": billing.audience})

# The callers: (caller identity, the service it calls). One grant each, on that service alone.
ingest_runtime = identity("ingest-runtime", "ingest function runtime")
push_identity = identity("billing-push", "billing-adjustments push subscription")
scheduler_identity = identity("nightly-report", "nightly-report scheduler job")
CALLERS: list[tuple[ServiceIdentity, PrivateService]] = [
    (ingest_runtime, billing),
    (push_identity, billing),
    (reports_runtime, billing),
    (scheduler_identity, reports),
]
grants = {id(caller): service_.grant_invoker(caller) for caller, service_ in CALLERS}

# ingest: Pub/Sub → gen2 function → billing, with an ID token minted for billing's audience.
events = gcp.pubsub.Topic("billing-events", project=project, name="billing-events", labels=labels)
EventFunction(
    "ingest",
    EventFunctionArgs(
        project=project,
        region=region,
        topic_id=events.id,
        source_dir=str(HERE / "functions" / "ingest"),
        entry_point="ingest",
        identity_base="ingest",
        identity_suffix=pulumi.get_stack(),
        runtime_identity=ingest_runtime,
        project_number=gcp.organizations.get_project_output(project_id=project).number,
        env={"BILLING_URL": billing.uri, "BILLING_AUDIENCE": billing.audience},
        force_destroy_source=True,
        labels=labels,
    ),
    # Its first call should find its grant in place.
    opts=pulumi.ResourceOptions(depends_on=[grants[id(ingest_runtime)]]),
)

# billing-push: Pub/Sub pushes each adjustment to billing with an OIDC token of its own identity.
adjustments = gcp.pubsub.Topic("billing-adjustments", project=project, name="billing-adjustments", labels=labels)
gcp.pubsub.Subscription(
    "billing-push",
    project=project,
    name="billing-adjustments-push",
    topic=adjustments.id,
    ack_deadline_seconds=60,
    push_config=gcp.pubsub.SubscriptionPushConfigArgs(
        push_endpoint=billing.uri.apply(lambda uri: f"{uri}/adjustments"),
        oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
            service_account_email=push_identity.email, audience=billing.audience
        ),
    ),
    labels=labels,
    opts=pulumi.ResourceOptions(depends_on=[grants[id(push_identity)]]),
)

# nightly-report: Cloud Scheduler calls reports at 03:00 with an OIDC token of its own identity.
gcp.cloudscheduler.Job(
    "nightly-report",
    project=project,
    region=region,
    name="nightly-report",
    schedule="0 3 * * *",
    time_zone="Etc/UTC",
    http_target=gcp.cloudscheduler.JobHttpTargetArgs(
        uri=reports.uri.apply(lambda uri: f"{uri}/nightly"),
        http_method="POST",
        oidc_token=gcp.cloudscheduler.JobHttpTargetOidcTokenArgs(
            service_account_email=scheduler_identity.email, audience=reports.audience
        ),
    ),
    opts=pulumi.ResourceOptions(depends_on=[grants[id(scheduler_identity)]]),
)

pulumi.export("billing_url", billing.uri)
pulumi.export("reports_url", reports.uri)
pulumi.export(
    "invokers",
    pulumi.Output.all(*[pulumi.Output.concat(c.email, " → ", s.name) for c, s in CALLERS]),
)
