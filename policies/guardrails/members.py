"""Who a member is: public, broad, a convenience member, a human, a federated workload, a default or a
Google-managed service account, or one dedicated service account."""

from __future__ import annotations

import re
from typing import Final

from .values import is_unknown

PUBLIC_MEMBERS: Final = frozenset({"allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all"})
CONVENIENCE_PREFIXES: Final = ("projectViewer:", "projectEditor:", "projectOwner:")
# Every principal of a Google Workspace / Cloud Identity customer. Google documents it for deny policies and
# principal access boundaries, not allow policies (where `domain:` is the whole-customer member); should one
# reach an allow policy, it is at least as broad as `domain:`.
CUSTOMER_PREFIX: Final = "principalSet://goog/cloudIdentityCustomerId/"

# Google's own identities acting for a service (service agents), by the domains Google's service-agents page
# (cloud.google.com/iam/docs/service-agents) lists. Accounts in a `gcp-sa-*` project belong to Google;
# older services use the closed list of legacy domains below, always with a `service-<number>` style id.
# A `service-<digits>@<any project>.iam.gserviceaccount.com` is just an account id anyone may choose.
_GCP_SA_DOMAIN_RE: Final = re.compile(r"^[a-z0-9][a-z0-9.-]*@gcp-sa-[a-z0-9-]+\.iam\.gserviceaccount\.com$")
LEGACY_AGENT_DOMAINS: Final = frozenset(
    {
        "compute-system",  # Compute Engine
        "container-engine-robot",  # Google Kubernetes Engine
        "gcf-admin-robot",  # Cloud Functions
        "serverless-robot-prod",  # Cloud Run
        "gae-api-prod.google.com",  # App Engine flexible
        "gcp-gae-service",  # App Engine standard
        "dataflow-service-producer-prod",  # Dataflow
        "dataproc-accounts",  # Dataproc
        "cloudcomposer-accounts",  # Cloud Composer
        "container-analysis",  # Container Analysis
        "containerregistry",  # Container Registry
        "gs-project-accounts",  # Cloud Storage
        "cloud-ml.google.com",  # AI Platform (legacy)
        "cloud-redis",  # Memorystore for Redis
        "cloud-memcache-sa",  # Memorystore for Memcached
        "cloud-filer",  # Filestore
        "cloud-tpu",  # Cloud TPU
        "dlp-api",  # Sensitive Data Protection
        "endpoints-portal",  # Cloud Endpoints portal
        "firebase-rules",  # Firebase Rules
        "genomics-api.google.com",  # Genomics
        "service-consumer-management",  # Service Consumer Management
        "service-networking",  # Service Networking
        "sourcerepo-service-accounts",  # Cloud Source Repositories
        "security-center-api",  # Security Command Center (service-org-<number>)
    }
)
_LEGACY_AGENT_RE: Final = re.compile(
    r"^service-(?:org-|folder-)?\d+@(?P<domain>[a-z0-9.-]+)\.iam\.gserviceaccount\.com$"
    r"|^bq-\d+@bigquery-encryption\.iam\.gserviceaccount\.com$"
    r"|^project-\d+@storage-transfer-service\.iam\.gserviceaccount\.com$"
    r"|^\d+@cloudservices\.gserviceaccount\.com$"  # Google APIs Service Agent
)
# Default service accounts: created in the project, holding broad roles, used by whatever is left on defaults.
# The legacy Cloud Build account is one: user builds run as it.
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


def is_whole_customer(member: str) -> bool:
    """Every identity of a Workspace/Cloud Identity customer: `domain:` or the customer principal set."""
    return member.startswith(("domain:", CUSTOMER_PREFIX))


def is_broad(member: str) -> bool:
    """Public, customer-wide or wildcard members: no-public-members and no-broad-principals report these."""
    return (
        is_public(member)
        or is_whole_customer(member)
        or member.startswith("principalSet://cloudresourcemanager.googleapis.com/")
        or (member.startswith("principalSet://") and member.endswith("/*"))
    )


def is_convenience(member: str) -> bool:
    return member.startswith(CONVENIENCE_PREFIXES)


def is_human(member: str) -> bool:
    """People: Google accounts, groups, whole customers (`domain:`), and workforce identity federation."""
    return member.startswith(("user:", "group:")) or is_whole_customer(member) or member.startswith(_WORKFORCE)


def is_federated_workload(member: str) -> bool:
    return bool(_WORKLOAD_POOL_RE.match(member))


def service_account(member: str) -> str | None:
    return email_of(member) if member.startswith("serviceAccount:") else None


def is_default_account(email: str) -> bool:
    return bool(DEFAULT_SA_RE.match(email.strip()))


def is_service_agent(email: str) -> bool:
    """A Google-managed service agent, by the domains Google documents (never by the account id alone)."""
    text = email.strip().lower()
    if _GCP_SA_DOMAIN_RE.match(text):
        return True
    match = _LEGACY_AGENT_RE.match(text)
    if match is None:
        return False
    domain = match.group("domain")
    return domain is None or domain in LEGACY_AGENT_DOMAINS
