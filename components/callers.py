"""Callers of a PrivateService: who may invoke it, each with its own identity, and — for callers that are Google
services (a Cloud Scheduler job, a Pub/Sub push subscription, a Cloud Tasks queue, a workflow) — how each is set
to call it: at which path, with a Google-signed OIDC token for the service's audience, sent in `Authorization`.

One `Caller` declares all of that; `PrivateService` turns it into the invoker grant, the service's allowlist
entry and the caller resource, so the three cannot disagree.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components.identity import ScopedRole, ServiceIdentity, grant

_NAME: Final = re.compile(r"^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_PATH: Final = re.compile(r"^/[A-Za-z0-9/._~-]*$")
# Workflows' http.post waits at most 1800 s; so does a Cloud Scheduler HTTP attempt.
_MAX_CALL_SECONDS: Final = 1800


@dataclass(frozen=True)
class ScheduledCall:
    """A Cloud Scheduler job: POSTs `body` (JSON) to `path` on `schedule` (unix-cron, in `time_zone`)."""

    # unix-cron, e.g. `0 3 * * *`.
    schedule: str
    # What each run POSTs, JSON (sent with `Content-Type: application/json`).
    body: str
    # Path on the service.
    path: str = "/jobs"
    # Time zone of `schedule` (tz database name).
    time_zone: str = "Etc/UTC"

    def __post_init__(self) -> None:
        _check_path("ScheduledCall", self.path)
        try:
            json.loads(self.body)
        except ValueError:
            raise ValueError(f"ScheduledCall.body: {self.body[:40]!r} is not JSON") from None


@dataclass(frozen=True)
class PushCall:
    """A Pub/Sub push subscription on `topic`: POSTs each message, wrapped as Pub/Sub documents, to `path`.

    With `dead_letter_topic` (`projects/<p>/topics/<t>`) and the project's Pub/Sub service agent, a message the
    service keeps refusing goes there after `max_delivery_attempts` instead of expiring unseen."""

    # The topic to subscribe to: a name in the project, or `projects/<p>/topics/<t>`.
    topic: pulumi.Input[str]
    # Path on the service.
    path: str = "/pubsub"
    # Where a message goes after `max_delivery_attempts` refusals (`projects/<p>/topics/<t>`).
    dead_letter_topic: pulumi.Input[str] | None = None
    # The project's Pub/Sub service agent as a member (`pubsub_agent(project_number)`); with `dead_letter_topic`.
    pubsub_agent: pulumi.Input[str] | None = None
    # Deliveries before a message is dead-lettered (5..100).
    max_delivery_attempts: int = 10
    # How long the subscription keeps an unacknowledged message.
    retention_days: int = 7

    def __post_init__(self) -> None:
        _check_path("PushCall", self.path)
        if (self.dead_letter_topic is None) != (self.pubsub_agent is None):
            raise ValueError("PushCall: dead_letter_topic and pubsub_agent go together")
        if not 5 <= self.max_delivery_attempts <= 100:
            raise ValueError(f"PushCall.max_delivery_attempts: {self.max_delivery_attempts} is outside 5..100")


@dataclass(frozen=True)
class QueuedCall:
    """A Cloud Tasks queue whose every task goes to `path` on the service, with the caller's token (the queue's
    HTTP target overrides whatever a task says about URL or auth)."""

    # Path on the service every task goes to.
    path: str = "/jobs"
    # Attempts per task, with 10 s to 600 s backoff.
    max_attempts: int = 100

    def __post_init__(self) -> None:
        _check_path("QueuedCall", self.path)


@dataclass(frozen=True)
class WorkflowCall:
    """A workflow that POSTs its execution argument (JSON) to `path` and returns the answer's body."""

    # Path on the service the workflow posts to.
    path: str = "/jobs"

    def __post_init__(self) -> None:
        _check_path("WorkflowCall", self.path)


Call = ScheduledCall | PushCall | QueuedCall | WorkflowCall
CALL_KINDS: Final[dict[type, str]] = {
    ScheduledCall: "scheduler",
    PushCall: "pubsub-push",
    QueuedCall: "cloud-tasks",
    WorkflowCall: "workflows",
}


@dataclass(frozen=True)
class KindDoc:
    """What a caller kind is made of and what its requests look like when they reach the service (from Google's
    documentation of each product), for the runtime that accepts them and for docs/design.md's table."""

    creates: str
    audience_field: str
    headers: str
    body: str


# Every Google service below can send its token only in `Authorization`: Cloud Run's front end checks that header
# and hands the request on with the token's signature replaced (docs/design.md §3).
KIND_DOCS: Final[dict[str, KindDoc]] = {
    "scheduler": KindDoc(
        creates="`gcp.cloudscheduler.Job`, POST on `schedule`",
        audience_field="`http_target.oidc_token.audience`",
        headers="`Authorization: Bearer <ID token>`, `Content-Type: application/json`, `X-CloudScheduler: true`, "
        "`X-CloudScheduler-JobName`, `X-CloudScheduler-ScheduleTime` (RFC 3339; with the job name, what tells "
        "one run from the next), `User-Agent: Google-Cloud-Scheduler`",
        body='`{"job": <the declared job>}`, the same bytes every run (no `id`)',
    ),
    "pubsub-push": KindDoc(
        creates="`gcp.pubsub.Subscription` on `topic`, push, dead-lettering to the stack's dead-letter topic",
        audience_field="`push_config.oidc_token.audience`",
        headers="`Authorization: Bearer <ID token>`, `Content-Type: application/json`",
        body='Pub/Sub\'s wrapper: `{"message": {"data": <base64>, "attributes": {…}, "messageId", "publishTime"}, '
        '"subscription": "projects/<p>/subscriptions/<name>", "deliveryAttempt": <n>}`; 102, 200, 201, 202 '
        "or 204 acknowledges, anything else is redelivered with backoff and, after 10 attempts, dead-lettered",
    ),
    "cloud-tasks": KindDoc(
        creates="`gcp.cloudtasks.Queue` whose HTTP target overrides every task's URL and token",
        audience_field="`http_target.oidc_token.audience`",
        headers="`Authorization: Bearer <ID token>`, `X-CloudTasks-QueueName`, `X-CloudTasks-TaskName`, "
        "`X-CloudTasks-TaskRetryCount`, `X-CloudTasks-TaskExecutionCount`, `X-CloudTasks-TaskETA`, "
        "`User-Agent: Google-Cloud-Tasks`, and the task's own headers (e.g. `Content-Type`)",
        body='what the enqueuer put in the task: `{"id": …, "job": …}`, as the relay sends',
    ),
    "workflows": KindDoc(
        creates="`gcp.workflows.Workflow` whose one step is an `http.post` with `auth: {type: OIDC}`",
        audience_field="`auth.audience` of that step",
        headers="`Authorization: Bearer <ID token>`, `Content-Type: application/json`, "
        "`User-Agent: GoogleCloudWorkflows; (+https://cloud.google.com/workflows/docs)`",
        body='the execution\'s argument as JSON: `{"id": …, "job": …}`',
    ),
    "service-account": KindDoc(
        creates="nothing: a workload elsewhere (another stack or project), named by `email`",
        audience_field="the workload's own code",
        headers="its choice; with the token in both `X-Serverless-Authorization` and `Authorization`, as the relay "
        "sends it, the service receives the token intact",
        body="its choice",
    ),
}


@dataclass(frozen=True)
class Caller:
    """One caller of a PrivateService, with its own identity: exactly one of `identity` (an account of this
    program), `account_id` (the service creates a dedicated account) or `email` (a workload elsewhere, e.g.
    another stack or project). `call` makes the service create the caller itself (it then needs an account of
    this program to run as). `name` names its grant and resources; `operator` marks the account people borrow.
    """

    # Names its grant (`<service>-invoker-<name>`) and the resources made for it.
    name: str
    # An identity of this program the caller runs as (e.g. a function's runtime identity).
    identity: ServiceIdentity | None = None
    # Or: the service creates a dedicated account with this id for the caller.
    account_id: str | None = None
    # Or: a workload elsewhere (another stack or project), by its service account email.
    email: str | None = None
    # A Google service that calls the service as this identity, created by the service.
    call: Call | None = None
    # The account people borrow (listed apart in `caller_env.operators`).
    operator: bool = False

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"Caller.name: {self.name!r} must be lower case letters, digits and inner hyphens")
        given = [n for n in ("identity", "account_id", "email") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(f"Caller({self.name}): give exactly one of identity, account_id, email (got {given})")
        if self.call is not None and self.email is not None:
            raise ValueError(f"Caller({self.name}): a caller the service creates runs as an account of this program")
        if self.email is not None and (self.email.count("@") != 1 or self.email != self.email.strip()):
            raise ValueError(f"Caller({self.name}).email: {self.email!r} is not an email address")

    @property
    def kind(self) -> str:
        if self.operator:
            return "operator"
        if self.call is not None:
            return CALL_KINDS[type(self.call)]
        return "service-account" if self.email is not None else "workload"


@dataclass(frozen=True)
class CallerEnv:
    """Names of the environment variables through which the service learns its callers and audience, for a
    service that verifies them itself: the allowlist (every caller's email, comma-separated), the subset that
    are operator accounts, and the audience callers mint for."""

    # Every caller's email, comma-separated.
    allowed: str = "ALLOWED_INVOKERS"
    # The operator accounts among them.
    operators: str = "OPERATOR_INVOKERS"
    # The audience callers mint for (the custom audience).
    audience: str = "INVOKER_AUDIENCE"


@dataclass(frozen=True)
class Target:
    """Where a caller sends its requests: the service's URL, the audience its tokens carry, its region and
    project, and how long one request may take."""

    uri: pulumi.Output[str]
    audience: pulumi.Output[str]
    region: str
    project: pulumi.Input[str] | None
    timeout_seconds: int
    deletion_protection: bool = True
    labels: Mapping[str, str] = field(default_factory=dict)


def caller_resource(
    caller: Caller, email: pulumi.Output[str], target: Target, opts: pulumi.ResourceOptions
) -> list[pulumi.CustomResource]:
    """The Google resource that calls `target` as `email` for `caller.call` (and the grants it needs)."""
    call = caller.call
    url = target.uri.apply(lambda uri: uri.rstrip("/"))
    match call:
        case ScheduledCall():
            return [_scheduler_job(caller.name, call, email, url, target, opts)]
        case PushCall():
            return _push_subscription(caller.name, call, email, url, target, opts)
        case QueuedCall():
            return [_queue(caller.name, call, email, url, target, opts)]
        case WorkflowCall():
            return [_workflow(caller.name, call, email, url, target, opts)]
        case None:
            return []


def _scheduler_job(
    name: str, call: ScheduledCall, email: pulumi.Output[str], url: pulumi.Output[str], target: Target,
    opts: pulumi.ResourceOptions,
) -> gcp.cloudscheduler.Job:  # fmt: skip
    return gcp.cloudscheduler.Job(
        name,
        name=name,
        project=target.project,
        region=target.region,
        schedule=call.schedule,
        time_zone=call.time_zone,
        attempt_deadline=f"{min(target.timeout_seconds, _MAX_CALL_SECONDS)}s",
        http_target=gcp.cloudscheduler.JobHttpTargetArgs(
            uri=pulumi.Output.concat(url, call.path),
            http_method="POST",
            body=base64.b64encode(call.body.encode()).decode(),
            # Cloud Scheduler sends `application/octet-stream` unless told.
            headers={"Content-Type": "application/json"},
            oidc_token=gcp.cloudscheduler.JobHttpTargetOidcTokenArgs(
                service_account_email=email, audience=target.audience
            ),
        ),
        opts=opts,
    )


def _push_subscription(
    name: str, call: PushCall, email: pulumi.Output[str], url: pulumi.Output[str], target: Target,
    opts: pulumi.ResourceOptions,
) -> list[pulumi.CustomResource]:  # fmt: skip
    dead_letter = None
    if call.dead_letter_topic is not None:
        dead_letter = gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
            dead_letter_topic=call.dead_letter_topic, max_delivery_attempts=call.max_delivery_attempts
        )
    subscription = gcp.pubsub.Subscription(
        name,
        name=name,
        project=target.project,
        topic=call.topic,
        # Pub/Sub waits at most 600 s for an answer before it redelivers.
        ack_deadline_seconds=min(max(target.timeout_seconds, 10), 600),
        message_retention_duration=f"{call.retention_days * 24 * 3600}s",
        expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
        retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(minimum_backoff="10s", maximum_backoff="600s"),
        dead_letter_policy=dead_letter,
        push_config=gcp.pubsub.SubscriptionPushConfigArgs(
            push_endpoint=pulumi.Output.concat(url, call.path),
            oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                service_account_email=email, audience=target.audience
            ),
        ),
        labels=dict(target.labels),
        opts=opts,
    )
    made: list[pulumi.CustomResource] = [subscription]
    if call.dead_letter_topic is not None and call.pubsub_agent is not None:
        # Pub/Sub forwards a message to the dead-letter topic as its own service agent: it must publish there and
        # acknowledge here (Pub/Sub's dead-letter documentation).
        child = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[subscription]))
        made.append(
            grant(
                f"{name}-dead-letter-publisher",
                call.pubsub_agent,
                ScopedRole("roles/pubsub.publisher", "topic", call.dead_letter_topic),
                child,
            )
        )
        made.append(
            grant(
                f"{name}-dead-letter-subscriber",
                call.pubsub_agent,
                ScopedRole("roles/pubsub.subscriber", "subscription", subscription.name, project=target.project),
                child,
            )
        )
    return made


def _queue(
    name: str, call: QueuedCall, email: pulumi.Output[str], url: pulumi.Output[str], target: Target,
    opts: pulumi.ResourceOptions,
) -> gcp.cloudtasks.Queue:  # fmt: skip
    return gcp.cloudtasks.Queue(
        name,
        name=name,
        project=target.project,
        location=target.region,
        http_target=gcp.cloudtasks.QueueHttpTargetArgs(
            http_method="POST",
            uri_override=gcp.cloudtasks.QueueHttpTargetUriOverrideArgs(
                scheme="HTTPS",
                host=url.apply(lambda u: urlsplit(u).hostname or ""),
                path_override=gcp.cloudtasks.QueueHttpTargetUriOverridePathOverrideArgs(path=call.path),
                uri_override_enforce_mode="ALWAYS",
            ),
            oidc_token=gcp.cloudtasks.QueueHttpTargetOidcTokenArgs(
                service_account_email=email, audience=target.audience
            ),
        ),
        retry_config=gcp.cloudtasks.QueueRetryConfigArgs(
            max_attempts=call.max_attempts, min_backoff="10s", max_backoff="600s"
        ),
        opts=opts,
    )


def workflow_source(url: str, path: str, audience: str, timeout_seconds: int) -> str:
    """The workflow's definition: POST the execution argument to the service with an OIDC token, return the body."""
    definition = {
        "main": {
            "params": ["input"],
            "steps": [
                {
                    "call_service": {
                        "call": "http.post",
                        "args": {
                            "url": f"{url}{path}",
                            "auth": {"type": "OIDC", "audience": audience},
                            "body": "${input}",
                            "timeout": min(timeout_seconds, _MAX_CALL_SECONDS),
                        },
                        "result": "response",
                    }
                },
                {"done": {"return": "${response.body}"}},
            ],
        }
    }
    # JSON is YAML, and Workflows takes either.
    return json.dumps(definition, indent=2)


def _workflow(
    name: str, call: WorkflowCall, email: pulumi.Output[str], url: pulumi.Output[str], target: Target,
    opts: pulumi.ResourceOptions,
) -> gcp.workflows.Workflow:  # fmt: skip
    return gcp.workflows.Workflow(
        name,
        name=name,
        project=target.project,
        region=target.region,
        service_account=email,
        deletion_protection=target.deletion_protection,
        description="Calls the service with the execution argument as the request body.",
        source_contents=pulumi.Output.all(url, target.audience).apply(
            lambda parts: workflow_source(parts[0], call.path, parts[1], target.timeout_seconds)
        ),
        labels=dict(target.labels),
        opts=opts,
    )


def _check_path(kind: str, path: str) -> None:
    if not _PATH.match(path):
        raise ValueError(f"{kind}.path: {path!r} must start with / and hold only URL path characters")
