"""Who a member is: public, broad, a convenience member, a human, a federated workload, a default or a
Google-managed service account, or one dedicated service account."""

from __future__ import annotations

import re
from typing import Final

from .values import is_unknown

PUBLIC_MEMBERS: Final = frozenset({"allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all"})
CONVENIENCE_PREFIXES: Final = ("projectViewer:", "projectEditor:", "projectOwner:")
# Google's own identities acting for a service in a project, folder or organization.
_AGENT_RE: Final = re.compile(
    r"^(?:service-(?:org-|folder-)?\d+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.iam\.gserviceaccount\.com"
    r"|\d+@cloudservices\.gserviceaccount\.com"
    r"|service-\d+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.gserviceaccount\.com)$",
    re.IGNORECASE,
)
DEFAULT_SA_RE: Final = re.compile(
    r"^(\d+-compute@developer\.gserviceaccount\.com|[^@\s]+@appspot\.gserviceaccount\.com"
    r"|\d+@cloudbuild\.gserviceaccount\.com)$",
    re.IGNORECASE,
)
_WORKFORCE: Final = ("principal://iam.googleapis.com/locations/global/workforcePools/",
                     "principalSet://iam.googleapis.com/locations/global/workforcePools/")  # fmt: skip
_WORKLOAD_POOL_RE: Final = re.compile(
    r"^principal(?:Set)?://iam\.googleapis\.com/projects/[^/]+/locations/global/workloadIdentityPools/"
)


def known(member: object) -> str | None:
    if not isinstance(member, str) or is_unknown(member) or not member.strip():
        return None
    return member.strip()


def email_of(member: str) -> str | None:
    for prefix in ("serviceAccount:", "user:", "group:"):
        if member.startswith(prefix):
            email = member[len(prefix) :].split("?", 1)[0].strip()
            return email.lower() if "@" in email else None
    return None


def is_public(member: str) -> bool:
    return member in PUBLIC_MEMBERS


def is_broad(member: str) -> bool:
    """Public, domain-wide or wildcard members: other policies own these (no-public-members,
    no-broad-principals); rules judging identities leave them alone to report each root cause once."""
    return (
        is_public(member)
        or member.startswith("domain:")
        or member.startswith("principalSet://cloudresourcemanager.googleapis.com/")
        or (member.startswith("principalSet://") and member.endswith("/*"))
    )


def is_convenience(member: str) -> bool:
    return member.startswith(CONVENIENCE_PREFIXES)


def is_human(member: str) -> bool:
    """People: Google accounts, groups, and workforce identity federation principals."""
    return member.startswith(("user:", "group:")) or member.startswith(_WORKFORCE)


def is_federated_workload(member: str) -> bool:
    return bool(_WORKLOAD_POOL_RE.match(member))


def service_account(member: str) -> str | None:
    return email_of(member) if member.startswith("serviceAccount:") else None


def is_default_account(email: str) -> bool:
    return bool(DEFAULT_SA_RE.match(email.strip()))


def is_service_agent(email: str) -> bool:
    return bool(_AGENT_RE.match(email.strip()))
