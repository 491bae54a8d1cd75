"""ServiceIdentity: one workload, one dedicated service account, never a key."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_gcp as gcp

# GCP's own rule for account ids; checked here so a bad id fails before anything is registered.
_ACCOUNT_ID = re.compile(r"^[a-z](?:[-a-z0-9]{4,28}[a-z0-9])$")

Scope = Literal[
    "project", "bucket", "artifact_repository", "secret", "topic", "subscription", "run_service", "service_account"
]


@dataclass(frozen=True)
class Condition:
    """An IAM condition: on a project grant it narrows the grant to the resources its expression names; on a
    service account grant it ends the grant at a time (`request.time < timestamp(…)`)."""

    # The condition's title (1-100 characters); names a project grant's resource.
    title: str
    # A CEL expression over `resource.name` or `request.time`.
    expression: pulumi.Input[str]
    # What it is for.
    description: str = ""

    def __post_init__(self) -> None:
        if not self.title or len(self.title) > 100:
            raise ValueError(f"Condition.title: {self.title!r} must be 1-100 characters")


@dataclass(frozen=True)
class ScopedRole:
    """A role on one resource. `resource` is that resource's name or id; `location` where the type needs one.

    `condition` is for project grants, where it names the resources the grant reaches (a resource that does not
    exist yet, or that Google owns, has no IAM of its own to grant on), and for service account grants, where
    it ends the grant (just-in-time access). On any other resource the resource itself is the scope already.
    """

    # `roles/…`, or a custom role's path.
    role: str
    # The kind of resource the grant is on.
    scope: Scope
    # That resource's name or id (for `project`, the project id).
    resource: pulumi.Input[str]
    # Its location, where the type needs one (repository, Cloud Run service).
    location: pulumi.Input[str] | None = None
    # Its project, where the type needs one.
    project: pulumi.Input[str] | None = None
    # Project grants: the resources the grant reaches; account grants: when it ends.
    condition: Condition | None = None

    def __post_init__(self) -> None:
        if not self.role.startswith(("roles/", "projects/", "organizations/")):
            raise ValueError(f"ScopedRole.role: {self.role!r} is not a role name (roles/… or a custom role path)")
        if self.scope in ("artifact_repository", "run_service") and self.location is None:
            raise ValueError(f"ScopedRole({self.role}, {self.scope}): location is required for this scope")
        if self.condition is not None and self.scope not in ("project", "service_account"):
            raise ValueError(
                f"ScopedRole({self.role}, {self.scope}): condition is only for project and service account "
                "grants; grant on the resource itself instead"
            )


@dataclass(frozen=True)
class ServiceIdentityArgs:
    # The account id (6-30 characters).
    account_id: str
    # The account's display name.
    display_name: str
    # Its description (default: says it is dedicated and keyless).
    description: str = ""
    # The account's project.
    project: pulumi.Input[str] | None = None
    # Grants to the identity, each on one resource.
    roles: Sequence[ScopedRole] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not _ACCOUNT_ID.match(self.account_id):
            raise ValueError(
                f"ServiceIdentityArgs.account_id: {self.account_id!r} must be 6-30 characters, "
                "lowercase letters, digits and hyphens, starting with a letter"
            )


class ServiceIdentity(pulumi.ComponentResource):
    """A dedicated service account for exactly one workload, with its grants, each on one resource.

    Outputs: `account`, `email`, `member` (`serviceAccount:<email>`), `id` (the account's full resource
    name, which Cloud Build fields want); `resource_name`, the name it was registered with.
    """

    def __init__(self, name: str, args: ServiceIdentityArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:identity:ServiceIdentity", name, None, opts)
        # Names its grants (`<name>-<role>-<scope>`).
        self.resource_name = name
        self.account = gcp.serviceaccount.Account(
            name,
            account_id=args.account_id,
            display_name=args.display_name,
            description=args.description or f"Dedicated identity of {args.display_name}; no keys.",
            project=args.project,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.email: pulumi.Output[str] = self.account.email
        self.member: pulumi.Output[str] = self.account.email.apply(lambda e: f"serviceAccount:{e}")
        self.id: pulumi.Output[str] = self.account.id
        self.grants: list[pulumi.CustomResource] = [self.grant(r) for r in args.roles]
        self.register_outputs({"email": self.email, "member": self.member, "id": self.id})

    def grant(self, role: ScopedRole, opts: pulumi.ResourceOptions | None = None) -> pulumi.CustomResource:
        """Give this identity `role` on one resource; the IAM member resource is a child of this identity."""
        name = f"{self.resource_name}-{role.role.rsplit('/', 1)[-1].replace('.', '-').lower()}-{role.scope}"
        if role.condition is not None and role.scope == "project":
            name = f"{name}-{role.condition.title}"
        return grant(name, self.member, role, pulumi.ResourceOptions.merge(pulumi.ResourceOptions(parent=self), opts))


def grant(
    resource_name: str, member: pulumi.Input[str], role: ScopedRole, opts: pulumi.ResourceOptions | None = None
) -> pulumi.CustomResource:
    """The one way the components grant a role: `member` gets `role` on the one resource it names, as that
    resource type's IAM member resource. `ServiceIdentity.grant` is this for the identity's own member;
    components call it directly for members that are not a ServiceIdentity of theirs (a service agent, a
    workload of another project)."""
    condition = role.condition
    match role.scope:
        case "project":
            return gcp.projects.IAMMember(
                resource_name,
                project=role.resource,
                role=role.role,
                member=member,
                condition=gcp.projects.IAMMemberConditionArgs(
                    title=condition.title, expression=condition.expression, description=condition.description or None
                )
                if condition
                else None,
                opts=opts,
            )
        case "bucket":
            return gcp.storage.BucketIAMMember(
                resource_name, bucket=role.resource, role=role.role, member=member, opts=opts
            )
        case "artifact_repository":
            return gcp.artifactregistry.RepositoryIamMember(
                resource_name,
                repository=role.resource,
                location=role.location,
                project=role.project,
                role=role.role,
                member=member,
                opts=opts,
            )
        case "secret":
            return gcp.secretmanager.SecretIamMember(
                resource_name, secret_id=role.resource, project=role.project, role=role.role, member=member, opts=opts
            )
        case "topic":
            return gcp.pubsub.TopicIAMMember(
                resource_name, topic=role.resource, project=role.project, role=role.role, member=member, opts=opts
            )
        case "subscription":
            return gcp.pubsub.SubscriptionIAMMember(
                resource_name,
                subscription=role.resource,
                project=role.project,
                role=role.role,
                member=member,
                opts=opts,
            )
        case "run_service":
            return gcp.cloudrunv2.ServiceIamMember(
                resource_name,
                name=role.resource,
                location=role.location,
                project=role.project,
                role=role.role,
                member=member,
                opts=opts,
            )
        case "service_account":
            return gcp.serviceaccount.IAMMember(
                resource_name,
                service_account_id=role.resource,
                role=role.role,
                member=member,
                condition=gcp.serviceaccount.IAMMemberConditionArgs(
                    title=condition.title, expression=condition.expression, description=condition.description or None
                )
                if condition
                else None,
                opts=opts,
            )
