"""DeadLetterTopic: where a workload keeps the messages it gives up on, for an operator to inspect and replay."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components.identity import ScopedRole, ServiceIdentity

# Pub/Sub's rule for topic and subscription names (and not starting with "goog").
_NAME = re.compile(r"^[A-Za-z][-A-Za-z0-9._~%+]{2,254}$")
_DAY = 24 * 3600


@dataclass(frozen=True)
class DeadLetterTopicArgs:
    # The topic's project.
    project: pulumi.Input[str]
    # The topic's name; the subscription has the same.
    topic_name: str
    # How long the subscription keeps every message, acknowledged or not (Pub/Sub allows up to 31 days).
    retention_days: int = 7
    # Labels on the topic and the subscription.
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.topic_name) or self.topic_name.lower().startswith("goog"):
            raise ValueError(f"DeadLetterTopicArgs.topic_name: {self.topic_name!r} is not a Pub/Sub topic name")
        if not 1 <= self.retention_days <= 31:
            raise ValueError(f"DeadLetterTopicArgs.retention_days: {self.retention_days} is outside 1..31")


class DeadLetterTopic(pulumi.ComponentResource):
    """The topic and one pull subscription of the same name that retains every message for `retention_days`
    (acknowledged ones too, so a mistaken ack can be undone with a seek) and never expires for inactivity
    (Pub/Sub deletes an idle subscription after 31 days by default, with whatever it holds).

    `grant_publisher(identity)` is the only way to let an identity publish: roles/pubsub.publisher on this
    topic alone. Outputs: `topic_id` (`projects/<project>/topics/<name>`, what the publish API takes),
    `subscription_name`.
    """

    def __init__(self, name: str, args: DeadLetterTopicArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:messaging:DeadLetterTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._project = args.project
        self.topic = gcp.pubsub.Topic(
            name, project=args.project, name=args.topic_name, labels=dict(args.labels), opts=child
        )
        retention = f"{args.retention_days * _DAY}s"
        self.subscription = gcp.pubsub.Subscription(
            f"{name}-subscription",
            project=args.project,
            name=args.topic_name,
            topic=self.topic.name,
            message_retention_duration=retention,
            retain_acked_messages=True,
            ack_deadline_seconds=60,
            # An empty ttl means "never expires".
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            labels=dict(args.labels),
            opts=child,
        )
        self.topic_id: pulumi.Output[str] = pulumi.Output.concat("projects/", args.project, "/topics/", self.topic.name)
        self.subscription_name: pulumi.Output[str] = self.subscription.name
        self.register_outputs({"topic_id": self.topic_id, "subscription_name": self.subscription_name})

    def grant_publisher(self, identity: ServiceIdentity) -> pulumi.CustomResource:
        """Lets `identity` publish to this topic, and to nothing else."""
        return identity.grant(ScopedRole("roles/pubsub.publisher", "topic", self.topic.name, project=self._project))
