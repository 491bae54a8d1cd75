"""OperatorAccess: a dedicated caller identity that people borrow just in time, never with a key."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pulumi

from secure_invoke.components.identity import Condition, ScopedRole, ServiceIdentity, ServiceIdentityArgs, grant

# ID tokens only: no access tokens, no signing, no delegation (roles/iam.serviceAccountTokenCreator has all four).
OPEN_ID_TOKEN_CREATOR = "roles/iam.serviceAccountOpenIdTokenCreator"  # noqa: S105 (a role name)
_NOT_PEOPLE = ("serviceAccount:", "allUsers", "allAuthenticatedUsers", "domain:", "principalSet://goog/")


@dataclass(frozen=True)
class TimeBoundGrant:
    """One person or group of the team's identity provider, until `expires` (timezone-aware), and why."""

    # `user:`, `group:`, or a workforce pool group or subject; never a service account or a wildcard.
    principal: str
    # When the grant ends (timezone-aware).
    expires: datetime
    # The ticket or incident; the condition's description.
    reason: str = ""

    def __post_init__(self) -> None:
        if self.principal.startswith(_NOT_PEOPLE) or "*" in self.principal:
            raise ValueError(f"TimeBoundGrant.principal: {self.principal!r} is not one person or group")
        if self.expires.tzinfo is None:
            raise ValueError("TimeBoundGrant.expires: must be timezone-aware (an RFC 3339 time)")

    @property
    def until(self) -> str:
        return self.expires.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @property
    def condition(self) -> str:
        # The bare shape the pack reads as an expiry: `request.time < timestamp("…")`.
        return f'request.time < timestamp("{self.until}")'


@dataclass(frozen=True)
class OperatorAccessArgs:
    # The account's project.
    project: pulumi.Input[str]
    # The operator account's id.
    account_id: str
    # Its display name.
    display_name: str
    # One expiring ID-token grant on the account per entry.
    grants: Sequence[TimeBoundGrant] = field(default_factory=tuple)


class OperatorAccess(pulumi.ComponentResource):
    """A service account for people to act as: each grant lets one principal mint ID tokens for it until an
    expiry, through an IAM condition, so access lapses on its own. What the account may call is granted by
    the callee (e.g. a `Caller(identity=access.identity, operator=True)` of a PrivateService), never here.

    Outputs: `identity`, `email`, `member`, `grants` (one IAM member per TimeBoundGrant).
    """

    def __init__(self, name: str, args: OperatorAccessArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("secure-invoke:identity:OperatorAccess", name, None, opts)
        self.identity = ServiceIdentity(
            name,
            ServiceIdentityArgs(
                account_id=args.account_id,
                display_name=args.display_name,
                description=f"{args.display_name}: people impersonate it just in time; no keys, no standing access.",
                project=args.project,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.email: pulumi.Output[str] = self.identity.email
        self.member: pulumi.Output[str] = self.identity.member
        self.grants = [
            grant(
                # Named by what it grants, so reordering the config changes nothing.
                f"{name}-{hashlib.sha256(f'{g.principal}|{g.until}'.encode()).hexdigest()[:10]}",
                g.principal,
                ScopedRole(
                    OPEN_ID_TOKEN_CREATOR,
                    "service_account",
                    self.identity.account.name,
                    condition=Condition(f"operator access until {g.until}", g.condition, g.reason),
                ),
                pulumi.ResourceOptions(parent=self),
            )
            for g in args.grants
        ]
        self.register_outputs({"email": self.email, "member": self.member})
