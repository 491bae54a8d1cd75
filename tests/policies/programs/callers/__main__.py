"""Callers of a private service: every kind this repository's components create (a Cloud Scheduler job, a
Pub/Sub push subscription, a Cloud Tasks queue with a queue-level HTTP target, a workflow), each accepted with its
one invoker grant; callers written by hand that name the service in their URL or in their body (also base64
encoded, as Cloud Scheduler takes it) are callers too; a Cloud Tasks queue's identity is judged like a scheduler
job's (a default account is rejected, and so is an invoker grant for a service the queue does not target)."""

import base64
import json

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components import (
    Caller,
    PrivateService,
    PrivateServiceArgs,
    PushCall,
    QueuedCall,
    ScheduledCall,
    ServiceIdentity,
    ServiceIdentityArgs,
    WorkflowCall,
)

PROJECT, REGION = "si-pack-1234", "us-central1"
IMAGE = "us-docker.pkg.dev/si-pack-1234/images/api@sha256:" + "0" * 64
COMPUTE_DEFAULT = "123456789012-compute@developer.gserviceaccount.com"

# Accepted: the worker and its callers exactly as the components make them (grants, caller resources, accounts).
runtime = ServiceIdentity("accept-worker-runtime", ServiceIdentityArgs("worker-runtime", "worker", project=PROJECT))
jobs = gcp.pubsub.Topic("accept-jobs", name="jobs", labels={"app": "t"})
worker = PrivateService(
    "accept-worker",
    PrivateServiceArgs(
        region=REGION,
        project=PROJECT,
        image=IMAGE,
        identity=runtime,
        deletion_protection=False,
        custom_audience="https://worker.si-pack.internal",
        # No allowlist in the service's env: the pack must see each caller from the caller resource alone.
        caller_env=None,
        internal_ingress=True,
        labels={"app": "t"},
        callers=[
            Caller("nightly", account_id="worker-nightly", call=ScheduledCall("0 2 * * *", json.dumps({"job": 1}))),
            Caller("pushed", account_id="worker-pushed", call=PushCall(topic=jobs.id)),
            Caller("queued", account_id="worker-queued", call=QueuedCall(path="/jobs")),
            Caller("flow", account_id="worker-flow", call=WorkflowCall(path="/jobs")),
        ],
    ),
)


def account(name: str) -> gcp.serviceaccount.Account:
    return gcp.serviceaccount.Account(name, account_id=name.removeprefix("accept-").removeprefix("reject-")[:28])


def service(name: str, runner: gcp.serviceaccount.Account) -> gcp.cloudrunv2.Service:
    return gcp.cloudrunv2.Service(
        name,
        name=name,
        location=REGION,
        deletion_protection=False,
        ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
        labels={"app": "t"},
        template={"service_account": runner.email, "containers": [{"image": IMAGE}]},
    )


def invoker(name: str, target: gcp.cloudrunv2.Service, member: pulumi.Input[str]) -> None:
    gcp.cloudrunv2.ServiceIamMember(name, name=target.name, location=REGION, role="roles/run.invoker", member=member)


# A relay service and a report service, each called by hand-written callers.
relay = service("accept-relay", account("accept-relay-runtime"))
reports = service("accept-reports", account("accept-reports-runtime"))

# Accepted: a scheduler job whose body (base64, as Cloud Scheduler takes it) names the reports service's URL for the
# relay to forward to, and whose URL is the relay's: it calls both (its token is minted for the relay; a body naming
# the reports service counts as calling it, as a workload's env naming a URL does).
forwarder = account("accept-forwarder")
gcp.cloudscheduler.Job(
    "accept-forward-nightly",
    region=REGION,
    schedule="0 4 * * *",
    http_target={
        "uri": relay.uri.apply(lambda u: f"{u}/forward"),
        "http_method": "POST",
        "body": reports.uri.apply(lambda u: base64.b64encode(json.dumps({"to": f"{u}/run"}).encode()).decode()),
        "oidc_token": {"service_account_email": forwarder.email, "audience": relay.uri},
    },
)
invoker("accept-forwarder-calls-relay", relay, forwarder.member)
invoker("accept-forwarder-names-reports", reports, forwarder.member)

# Accepted: a push subscription whose endpoint names the reports service in its query (a dispatcher in front).
dispatcher = account("accept-dispatcher")
gcp.pubsub.Subscription(
    "accept-dispatch",
    topic=jobs.id,
    labels={"app": "t"},
    push_config={
        "push_endpoint": pulumi.Output.all(relay.uri, reports.uri).apply(lambda u: f"{u[0]}/dispatch?to={u[1]}"),
        "oidc_token": {"service_account_email": dispatcher.email},
    },
)
invoker("accept-dispatcher-names-reports", reports, dispatcher.member)

# Accepted: a Cloud Tasks queue written by hand, its HTTP target the relay's host, its token for the relay.
tasker = account("accept-tasker")
gcp.cloudtasks.Queue(
    "accept-relay-queue",
    location=REGION,
    http_target={
        "http_method": "POST",
        "uri_override": {"scheme": "HTTPS", "host": relay.uri.apply(lambda u: u.removeprefix("https://"))},
        "oidc_token": {"service_account_email": tasker.email, "audience": relay.uri},
    },
)
invoker("accept-tasker-calls-relay", relay, tasker.member)

# Rejected: the same queue's identity granted on a service the queue does not target.
invoker("reject-tasker-on-reports", reports, tasker.member)

# Rejected: a queue that mints its tokens for the Compute Engine default account.
gcp.cloudtasks.Queue(
    "reject-queue-default-account",
    location=REGION,
    http_target={
        "uri_override": {"host": relay.uri.apply(lambda u: u.removeprefix("https://"))},
        "oidc_token": {"service_account_email": COMPUTE_DEFAULT},
    },
)

# Rejected: a scheduler job whose body and URL name only the relay, granted on the reports service.
ticker = account("accept-ticker")
gcp.cloudscheduler.Job(
    "accept-relay-tick",
    region=REGION,
    schedule="*/5 * * * *",
    http_target={
        "uri": relay.uri.apply(lambda u: f"{u}/tick"),
        "body": base64.b64encode(b'{"job": "tick"}').decode(),
        "oidc_token": {"service_account_email": ticker.email},
    },
)
invoker("accept-ticker-calls-relay", relay, ticker.member)
invoker("reject-ticker-on-reports", reports, ticker.member)

pulumi.export("worker", worker.uri)
