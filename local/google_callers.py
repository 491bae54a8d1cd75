"""Google's side of a service's declared callers, locally: what Cloud Scheduler, a Pub/Sub push subscription,
Cloud Tasks and Workflows send, built from each planned resource (local/plan.py), plus a workload elsewhere.

Each request is what Google's documentation says the product sends (docs/design.md §2, "Declared callers"):

- **Cloud Scheduler**: POST of the job's planned body and headers to its URI, with `X-CloudScheduler: true`,
  `X-CloudScheduler-JobName` (`projects/<p>/locations/<r>/jobs/<name>`), `X-CloudScheduler-ScheduleTime` and
  `User-Agent: Google-Cloud-Scheduler`; a failed attempt is retried as its planned `retryConfig` says, with the
  same schedule time.
- **Pub/Sub push**: Pub/Sub's wrapper (`message.data` base64, `messageId`, `publishTime`, `attributes`;
  `subscription`; `deliveryAttempt` only with a dead-letter policy) POSTed to the push endpoint. 102, 200, 201, 202
  and 204 acknowledge; anything else is redelivered, and after the planned `maxDeliveryAttempts` the message is
  forwarded to the dead-letter topic with Pub/Sub's `CloudPubSubDeadLetterSource*` attributes — only if the plan
  grants the project's Pub/Sub service agent `roles/pubsub.publisher` on that topic and `roles/pubsub.subscriber`
  on the subscription, as Pub/Sub requires; otherwise it keeps being redelivered.
- **Cloud Tasks**: the task's body to the queue's host and path override, with `X-CloudTasks-*` headers and
  `User-Agent: Google-Cloud-Tasks`, retried up to the planned `maxAttempts`.
- **Workflows**: the execution argument as JSON to the `http.post` step's URL, with
  `User-Agent: GoogleCloudWorkflows; (+https://cloud.google.com/workflows/docs)`; `${http.default_retry}`
  retries 429, 502, 503 and 504 up to 5 times.
- **A workload elsewhere** (`service-account`) sends what its own code sends: here, the relay's way, its token
  in both `X-Serverless-Authorization` and `Authorization`, for the service's custom audience.

Every Google caller sends its ID token in `Authorization` only, minted by Google for the configured service
account and the configured audience (Google's default, the target URL, when none is set), signed here with the
local key as the metadata stand-in signs. Requests go to the front-end stand-in (`front_url`) in place of the
planned `https://…run.app` host. Backoff between attempts is skipped: the attempts are what count here.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from local.metadata_server import Identity, load_or_create_key
from local.plan import PUBLISHER_ROLE, SUBSCRIBER_ROLE, Call, Plan, scheduler_body, workflow_http_step

PUSH_ACK_STATUSES = frozenset({102, 200, 201, 202, 204})
WORKFLOW_RETRY_STATUSES = frozenset({429, 502, 503, 504})
WORKFLOW_MAX_RETRIES = 5
WORKFLOWS_AGENT = "GoogleCloudWorkflows; (+https://cloud.google.com/workflows/docs)"


@dataclass(frozen=True)
class Attempt:
    status: int
    answer: Any  # the JSON answer, or the start of a non-JSON page (the front end's own refusals)


@dataclass(frozen=True)
class Outcome:
    """What became of one call: its attempts, and for a push message whether Pub/Sub dead-lettered it."""

    attempts: tuple[Attempt, ...]
    dead_lettered: bool = False
    note: str = ""

    @property
    def last(self) -> Attempt:
        return self.attempts[-1]


def _rfc3339(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class GoogleCallers:
    """Runs the declared callers of `plan` against the front end at `front_url`, as Google would."""

    def __init__(
        self,
        plan: Plan,
        key_path: Path,
        front_url: str,
        forward_dead_letter: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.plan = plan
        self.front_url = front_url.rstrip("/")
        self.forward_dead_letter = forward_dead_letter
        self._key = load_or_create_key(key_path)
        self._identities: dict[str, Identity] = {}
        self.minted = 0
        self._session = requests.Session()

    def token(self, email: str, audience: str) -> str:
        """An ID token for `email` and `audience`, as Google mints it for a caller it runs as that account."""
        identity = self._identities.get(email)
        if identity is None:
            identity = self._identities[email] = Identity(email, self._key, token_lifetime=3600, certs_max_age=3600)
        self.minted += 1
        return identity.mint(audience)

    def _audience(self, call: Call) -> str:
        # Google's default for every kind: the URL the request goes to.
        return call.audience if call.audience is not None else self.plan.url + call.path

    def _post(self, call: Call, body: bytes, headers: Mapping[str, str]) -> Attempt:
        response = self._session.post(self.front_url + call.path, data=body, headers=dict(headers), timeout=60)
        try:
            answer: Any = response.json()
        except ValueError:
            answer = response.text[:120]
        return Attempt(response.status_code, answer)

    # --- the kinds --------------------------------------------------------------------------------------------

    def scheduled_run(self, call: Call, scheduled: datetime.datetime) -> Outcome:
        """One run of a Cloud Scheduler job, retried per its planned retryConfig (the same schedule time)."""
        target = call.inputs.get("httpTarget") or {}
        retries = int((call.inputs.get("retryConfig") or {}).get("retryCount", 0))
        name = f"projects/{self.plan.project}/locations/{call.inputs.get('region', self.plan.region)}/jobs/{call.name}"
        headers = {
            **(target.get("headers") or {}),
            "User-Agent": "Google-Cloud-Scheduler",
            "X-CloudScheduler": "true",
            "X-CloudScheduler-JobName": name,
            "X-CloudScheduler-ScheduleTime": _rfc3339(scheduled),
        }
        body = scheduler_body(call)
        attempts: list[Attempt] = []
        for _ in range(1 + retries):
            token = self.token(call.email, self._audience(call))
            attempts.append(self._post(call, body, {**headers, "Authorization": f"Bearer {token}"}))
            if 200 <= attempts[-1].status < 300:
                break
        return Outcome(tuple(attempts))

    def push(self, call: Call, data: bytes, message_id: str, attributes: Mapping[str, str] | None = None) -> Outcome:
        """One Pub/Sub message through a push subscription: redelivered until acknowledged or, with a
        dead-letter policy, forwarded to its dead-letter topic after the maximum delivery attempts."""
        policy = call.inputs.get("deadLetterPolicy") or {}
        max_attempts = int(policy.get("maxDeliveryAttempts", 5)) if policy else None
        published = _rfc3339(datetime.datetime.now(datetime.UTC))
        subscription = f"projects/{self.plan.project}/subscriptions/{call.inputs.get('name', call.name)}"
        message = {
            "data": base64.b64encode(data).decode(),
            "attributes": dict(attributes or {}),
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": published,
            "publish_time": published,
        }
        attempts: list[Attempt] = []
        # Without a dead-letter policy Pub/Sub redelivers until the retention ends; here, 10 times at most.
        for attempt in range(1, (max_attempts or 10) + 1):
            wrapper: dict[str, Any] = {"message": message, "subscription": subscription}
            if max_attempts is not None:
                wrapper["deliveryAttempt"] = attempt
            token = self.token(call.email, self._audience(call))
            headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
            attempts.append(self._post(call, json.dumps(wrapper).encode(), headers))
            if attempts[-1].status in PUSH_ACK_STATUSES:
                return Outcome(tuple(attempts))
        if max_attempts is None:
            return Outcome(tuple(attempts), note="no dead-letter policy: redelivered until the retention ends")
        topic = str(policy.get("deadLetterTopic", ""))
        missing = self._forwarding_grants_missing(call, topic)
        if missing or self.forward_dead_letter is None:
            return Outcome(tuple(attempts), note=f"not forwarded: {missing or 'no dead-letter topic here'}")
        self.forward_dead_letter(
            {
                "topic": topic,
                "data": message["data"],
                "attributes": {
                    **message["attributes"],
                    "CloudPubSubDeadLetterSourceDeliveryCount": str(len(attempts)),
                    "CloudPubSubDeadLetterSourceSubscription": call.inputs.get("name", call.name),
                    "CloudPubSubDeadLetterSourceSubscriptionProject": self.plan.project,
                    "CloudPubSubDeadLetterSourceTopicPublishTime": published,
                },
            }
        )
        return Outcome(tuple(attempts), dead_lettered=True)

    def _forwarding_grants_missing(self, call: Call, topic: str) -> str:
        """What Pub/Sub's service agent lacks to forward to `topic` (empty if nothing), judged from the plan."""
        agents = {g["member"] for g in self.plan.grants if "@gcp-sa-pubsub." in g["member"]}
        for agent in sorted(agents):
            publishes = self.plan.holds(agent, PUBLISHER_ROLE, f"pubsub/topic {topic}") or self.plan.holds(
                agent, PUBLISHER_ROLE, f"pubsub/topic {topic.rsplit('/', 1)[-1]}"
            )
            subscribes = self.plan.holds(agent, SUBSCRIBER_ROLE, f"pubsub/subscription {call.name}")
            if publishes and subscribes:
                return ""
        return "the Pub/Sub service agent holds no publisher grant on the topic and subscriber grant here"

    def task(self, call: Call, body: bytes, task_name: str) -> Outcome:
        """One Cloud Tasks task through the queue's HTTP target, retried up to its planned maxAttempts."""
        max_attempts = int((call.inputs.get("retryConfig") or {}).get("maxAttempts", 100))
        queue = call.inputs.get("name", call.name)
        attempts: list[Attempt] = []
        for attempt in range(max_attempts):
            token = self.token(call.email, self._audience(call))
            headers = {
                "Content-Type": "application/json",  # the task's own header, as the enqueuer set it
                "Authorization": f"Bearer {token}",
                "User-Agent": "Google-Cloud-Tasks",
                "X-CloudTasks-QueueName": str(queue),
                "X-CloudTasks-TaskName": task_name,
                "X-CloudTasks-TaskRetryCount": str(attempt),
                "X-CloudTasks-TaskExecutionCount": str(len([a for a in attempts if a.status < 500])),
                "X-CloudTasks-TaskETA": f"{datetime.datetime.now(datetime.UTC).timestamp():.6f}",
            }
            attempts.append(self._post(call, body, headers))
            if 200 <= attempts[-1].status < 300:
                break
        return Outcome(tuple(attempts))

    def execute_workflow(self, call: Call, argument: Any) -> Outcome:
        """One execution of the workflow: its http.post step with the argument as body, `http.default_retry`."""
        step = workflow_http_step(call.inputs.get("sourceContents")) or {}
        if step.get("body") != "${input}":
            raise ValueError(f"workflow {call.name}: its http.post step does not post the execution argument")
        attempts: list[Attempt] = []
        for _ in range(1 + WORKFLOW_MAX_RETRIES):
            token = self.token(call.email, self._audience(call))
            headers = {
                "Content-Type": "application/json",
                "Authorization": f"Bearer {token}",
                "User-Agent": WORKFLOWS_AGENT,
            }
            attempts.append(self._post(call, json.dumps(argument).encode(), headers))
            if attempts[-1].status not in WORKFLOW_RETRY_STATUSES:
                break
        return Outcome(tuple(attempts))

    def workload(self, call: Call, body: Any, audience: str | None = None) -> Outcome:
        """A workload elsewhere calling as its account: both headers, as the relay sends them."""
        token = self.token(call.email, audience or self.plan.custom_audience)
        headers = {
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "X-Serverless-Authorization": f"Bearer {token}",
        }
        return Outcome((self._post(call, json.dumps(body).encode(), headers),))
