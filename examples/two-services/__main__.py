"""two-services: two private Cloud Run services and four callers, each with its own identity and one grant.

Composed from the installed `secure-invoke` package only (`pip install secure-invoke`); nothing here
imports from the repository it ships in. Who calls what:

- `ingest`, a gen2 function on the `billing-events` topic, POSTs each event to `billing`;
- `billing-push`, a Pub/Sub push subscription on `billing-adjustments`, delivers to `billing`;
- `nightly-report`, a Cloud Scheduler job, calls `reports` once a night;
- `reports` itself calls `billing` (service to service).

Each caller runs as its own service account and gets `roles/run.invoker` on the one service it calls: it is
one `Caller` in that service's `callers`, the only way the component grants the role. A caller that is a
Google service (the push subscription, the scheduler job) is created by the service from the same entry, set
to send a token for the service's audience; adding a caller is one entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components import (
    Caller,
    EventFunction,
    EventFunctionArgs,
    PrivateService,
    PrivateServiceArgs,
    PushCall,
    ScheduledCall,
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


def service(
    name: str, runtime: ServiceIdentity, callers: list[Caller], env: Mapping[str, pulumi.Input[str]]
) -> PrivateService:
    """A private service running as `runtime`, invocable by `callers` alone; plain env from `<name>Env` config."""
    settings: dict[str, pulumi.Input[str]] = {
        str(k): str(v) for k, v in (config.get_object(f"{name}Env") or {}).items()
    }
    settings.update(env)
    return PrivateService(
        name,
        PrivateServiceArgs(
            region=region,
            project=project,
            image=config.require(f"{name}Image"),
            identity=runtime,
            callers=callers,
            # A name rather than the URL: it stays when the URL changes; callers mint tokens for it.
            custom_audience=f"https://{name}.{project}.example.internal",
            env=settings,
            deletion_protection=False,
            labels=labels,
        ),
    )


billing_runtime = identity("billing-runtime", "billing runtime")
reports_runtime = identity("reports-runtime", "reports runtime")
ingest_runtime = identity("ingest-runtime", "ingest function runtime")
events = gcp.pubsub.Topic("billing-events", project=project, name="billing-events", labels=labels)
adjustments = gcp.pubsub.Topic("billing-adjustments", project=project, name="billing-adjustments", labels=labels)

billing = service(
    "billing",
    billing_runtime,
    [
        # ingest: Pub/Sub → gen2 function → billing, with an ID token minted for billing's audience.
        Caller("ingest", identity=ingest_runtime),
        # billing-push: Pub/Sub pushes each adjustment to billing as its own account.
        Caller("billing-push", account_id="billing-push", call=PushCall(topic=adjustments.id, path="/adjustments")),
        # reports calls billing, service to service.
        Caller("reports", identity=reports_runtime),
    ],
    {},
)
reports = service(
    "reports",
    reports_runtime,
    # nightly-report: Cloud Scheduler calls reports at 03:00 as its own account.
    [
        Caller(
            "nightly-report",
            account_id="nightly-report",
            call=ScheduledCall(schedule="0 3 * * *", body='{"report": "nightly"}', path="/nightly"),
        )
    ],
    {"BILLING_URL": billing.uri, "BILLING_AUDIENCE": billing.audience},
)

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
    opts=pulumi.ResourceOptions(depends_on=[billing.invoker_grants["ingest"]]),
)

pulumi.export("billing_url", billing.uri)
pulumi.export("reports_url", reports.uri)
# Who may invoke each service: its declared callers, by name.
pulumi.export("invokers", {"billing": sorted(billing.invoker_grants), "reports": sorted(reports.invoker_grants)})
