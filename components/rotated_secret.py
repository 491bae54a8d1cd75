"""RotatedSecret: a Secret Manager secret with a rotation schedule, readable by one identity only."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_gcp as gcp

from secure_invoke.components.identity import ScopedRole, ServiceIdentity, grant


@dataclass(frozen=True)
class RotatedSecretArgs:
    # The secret's project.
    project: pulumi.Input[str]
    # The secret's id.
    secret_id: str
    # The one identity that may read it.
    reader: ServiceIdentity
    # Rotation period (Secret Manager publishes "rotate now" to the rotation topic).
    rotation_days: int = 90
    # The first version. Unset: add it out of band (`gcloud secrets versions add`), so it never sits in state;
    # a consumer that mounts the secret as a file starts without it (PrivateServiceArgs.secret_files).
    initial_value: pulumi.Input[str] | None = None
    # Labels on the secret and its topic.
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1 <= self.rotation_days <= 3650:
            raise ValueError(f"RotatedSecretArgs.rotation_days: {self.rotation_days} is outside 1..3650")


class RotatedSecret(pulumi.ComponentResource):
    """The secret, its rotation topic (Secret Manager publishes "rotate now" there), and one accessor grant.

    Outputs: `secret`, `secret_id`, `rotation_topic`; `ready` lists what a consumer must `depends_on`.
    """

    def __init__(self, name: str, args: RotatedSecretArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:secrets:RotatedSecret", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.rotation_topic = gcp.pubsub.Topic(
            f"{name}-rotation", project=args.project, labels=dict(args.labels), opts=child
        )
        # Secret Manager's service agent must exist and may publish to the topic before a secret can name it.
        self.agent = gcp.projects.ServiceIdentity(
            f"{name}-secretmanager-agent", project=args.project, service="secretmanager.googleapis.com", opts=child
        )
        self.agent_publisher = grant(
            f"{name}-rotation-publisher",
            self.agent.member,
            ScopedRole("roles/pubsub.publisher", "topic", self.rotation_topic.name, project=args.project),
            child,
        )
        period = dt.timedelta(days=args.rotation_days)
        first_rotation = (dt.datetime.now(dt.UTC).replace(microsecond=0) + period).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.secret = gcp.secretmanager.Secret(
            name,
            project=args.project,
            secret_id=args.secret_id,
            labels=dict(args.labels),
            replication=gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs()),
            topics=[gcp.secretmanager.SecretTopicArgs(name=self.rotation_topic.id)],
            rotation=gcp.secretmanager.SecretRotationArgs(
                rotation_period=f"{int(period.total_seconds())}s", next_rotation_time=first_rotation
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[self.agent_publisher],
                # Secret Manager advances this itself after each rotation; re-applying "now + period" is noise.
                ignore_changes=["rotation.nextRotationTime"],
            ),
        )
        self.secret_id: pulumi.Output[str] = self.secret.secret_id
        if args.initial_value is not None:
            self.first_version = gcp.secretmanager.SecretVersion(
                f"{name}-initial",
                secret=self.secret.id,
                secret_data=pulumi.Output.secret(args.initial_value),
                opts=child,
            )
        # A child of the secret, not of the reader: whoever waits for the secret then also waits for the grant
        # (Cloud Run checks the runtime identity's access to every referenced secret at deploy time).
        self.reader_grant = args.reader.grant(
            ScopedRole("roles/secretmanager.secretAccessor", "secret", self.secret.secret_id, project=args.project),
            opts=child,
        )
        # What a consumer must wait for before it references the secret: access, and a version if we made one.
        self.ready: list[pulumi.Resource] = [self.reader_grant]
        if args.initial_value is not None:
            self.ready.append(self.first_version)
        self.register_outputs({"secret_id": self.secret_id, "rotation_topic": self.rotation_topic.id})
