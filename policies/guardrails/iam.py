"""The one IAM model: what a member, a grant, a role and a public principal are, read from pulumi-gcp type
tokens and the engine's camelCase property names (so the rules work on any program).

Grant resources are recognised generically by the token's suffix (`*IamMember`, `*IAMBinding`, `*IamPolicy`,
... across every service). The pack's rules judge what this module reads, and preflight's report (its IAM
table and graph) shows the same grants and the same public members: what the picture shows is what the pack
judged. `stack.py` builds a whole stack's model from it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from .values import (
    UNKNOWN,
    Unknown,
    elements,
    get,
    get_list,
    get_str,
    is_true,
    is_unknown,
    parse_json,
    type_module,
    type_name,
)
from .workloads import RUN_V1_SERVICE, RUN_V2_SERVICE

__all__ = [
    "BASIC_ROLES",
    "CUSTOMER_PREFIX",
    "INVOKER_IAM_ANNOTATION",
    "KEY_MINTING_ROLES",
    "PUBLIC_MEMBERS",
    "UNKNOWN_TEXT",
    "Grant",
    "broad_member",
    "email_of",
    "grant_kind",
    "grant_resource",
    "grant_scope",
    "grants_of",
    "is_admin_role",
    "is_basic_role",
    "is_broad",
    "is_convenience",
    "is_default_account",
    "is_federated_workload",
    "is_grant_type",
    "is_human",
    "is_public",
    "is_service_agent",
    "is_whole_customer",
    "known",
    "normalize_member",
    "open_access",
    "public_member",
    "resource_label",
    "service_account",
    "service_account_email",
    "shown",
]

# --- members: who a member is --------------------------------------------------------------------------------

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


_EMAIL_MEMBER_RE: Final = re.compile(r"^(serviceAccount|user|group):([^@\s*]+@[^@\s*]+)$")
_PRINCIPAL_RE: Final = re.compile(r"^principal://iam\.googleapis\.com/projects/[^*\s]+/subject/[^*\s]+$")


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


def normalize_member(member: str) -> str | None:
    """`prefix:email` with the email lower-cased (GCP compares emails case-insensitively, prefixes exactly),
    or a federated principal as written; None for anything that is not one identity."""
    text = member.strip()
    if _PRINCIPAL_RE.match(text):
        return text
    match = _EMAIL_MEMBER_RE.match(text)
    if match is None:
        return None
    return f"{match.group(1)}:{match.group(2).lower()}"


def is_public(member: str) -> bool:
    return member in PUBLIC_MEMBERS


def public_member(member: object) -> bool:
    """Anyone on the internet, as a grant names it: what no-public-members rejects and the report shows red."""
    known_member = known(member)
    return known_member is not None and is_public(known_member)


def is_whole_customer(member: str) -> bool:
    """Every identity of a Workspace/Cloud Identity customer: `domain:` or the customer principal set."""
    return member.startswith(("domain:", CUSTOMER_PREFIX))


def broad_member(member: object) -> bool:
    """Public, customer-wide or wildcard, as a grant names it (the report's graph marks these)."""
    known_member = known(member)
    return known_member is not None and is_broad(known_member)


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


# --- roles and grants -------------------------------------------------------------------------------------

BASIC_ROLES: Final = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
KEY_MINTING_ROLES: Final = frozenset({"roles/iam.serviceAccountKeyAdmin"})

_GRANT_SUFFIXES: Final = ("IamMember", "IAMMember", "IamBinding", "IAMBinding", "IamPolicy", "IAMPolicy")
_HIGH_SCOPES: Final = {"projects": "project", "folder": "folder", "organizations": "organization"}
_SA_NAME_RE: Final = re.compile(r"^projects/[^/]+/serviceAccounts/(.+)$")


@dataclass(frozen=True)
class Grant:
    member: str | Unknown
    role: str | Unknown
    conditional: bool
    where: str
    condition: Any = None  # the condition block ({title, expression, ...}) when there is one
    # The condition (or its expression) is not known yet (preview): what it allows cannot be judged now.
    condition_unknown: bool = False


def _condition_of(value: object) -> tuple[bool, Any, bool]:
    """(conditional, condition block, unknown) of a grant's `condition` value."""
    if is_unknown(value):
        return True, None, True
    if isinstance(value, Mapping):
        return True, value, is_unknown(value.get("expression"))
    return False, None, False


def is_grant_type(resource_type: object) -> bool:
    return _grant_token(resource_type) if isinstance(resource_type, str) else False


@lru_cache(maxsize=4096)
def _grant_token(resource_type: str) -> bool:
    # Asked for every resource by every grant policy: a program has few distinct types.
    return type_name(resource_type).endswith(_GRANT_SUFFIXES)


def grant_kind(resource_type: object) -> str:
    name = type_name(resource_type)
    for kind in ("Member", "Binding", "Policy"):
        if name.endswith(kind):
            return kind.lower()
    return ""


def grant_scope(resource_type: object) -> str:
    """`project`, `folder`, `organization` for grants on those; `resource` for anything narrower."""
    return _HIGH_SCOPES.get(type_module(resource_type).split("/", 1)[0], "resource")


def grants_of(resource_type: str, props: Mapping[str, Any]) -> list[Grant]:
    """Every (member, role) a grant resource makes; unknown parts stay UNKNOWN, junk is skipped."""
    if not is_grant_type(resource_type):
        return []
    kind = grant_kind(resource_type)
    conditional, condition, unknown = _condition_of(props.get("condition"))
    if kind == "member":
        member = get_str(props, "member")
        role = get_str(props, "role")
        if member is None:
            return []
        return [Grant(member, role if role is not None else UNKNOWN, conditional, "member", condition, unknown)]
    if kind == "binding":
        role = get_str(props, "role")
        role = role if role is not None else UNKNOWN
        members = get_list(props, "members")
        if isinstance(members, Unknown):
            return [Grant(UNKNOWN, role, conditional, "members", condition, unknown)]
        return [
            Grant(m if isinstance(m, str) else UNKNOWN, role, conditional, f"members[{i}]", condition, unknown)
            for i, m in enumerate(members or [])
            if isinstance(m, str) or is_unknown(m)
        ]
    return _policy_grants(get(props, "policyData"))


def _policy_grants(policy_data: object) -> list[Grant]:
    doc = parse_json(policy_data)
    if doc is UNKNOWN:
        return [Grant(UNKNOWN, UNKNOWN, False, "policyData")]
    grants: list[Grant] = []
    for b_index, binding in enumerate(elements(get(doc, "bindings"))):
        role = get_str(binding, "role")
        role = role if role is not None else UNKNOWN
        conditional, condition, unknown = _condition_of(get(binding, "condition"))
        members = get_list(binding, "members")
        where = f"policyData.bindings[{b_index}]"
        if isinstance(members, Unknown):
            grants.append(Grant(UNKNOWN, role, conditional, f"{where}.members", condition, unknown))
            continue
        for m_index, member in enumerate(members or []):
            if isinstance(member, str):
                grants.append(Grant(member, role, conditional, f"{where}.members[{m_index}]", condition, unknown))
    return grants


# --- who can invoke without a grant ---------------------------------------------------------------------------

INVOKER_IAM_ANNOTATION: Final = "run.googleapis.com/invoker-iam-disabled"
RUN_INVOKER: Final = "roles/run.invoker"


def open_access(resource_type: str, props: Mapping[str, Any]) -> list[Grant]:
    """Access a resource gives everyone by a setting rather than a grant: a Cloud Run service with its invoker
    IAM check switched off (v2 flag, v1 annotation) lets allUsers invoke it, as a grant of roles/run.invoker
    would. `where` is the setting's path."""
    found: list[Grant] = []
    if resource_type == RUN_V2_SERVICE and is_true(get(props, "invokerIamDisabled")):
        found.append(Grant("allUsers", RUN_INVOKER, False, "invokerIamDisabled"))
    if resource_type == RUN_V1_SERVICE:
        for path in (("metadata", "annotations"), ("template", "metadata", "annotations")):
            annotations = get(props, *path)
            if isinstance(annotations, Mapping) and is_true(annotations.get(INVOKER_IAM_ANNOTATION)):
                found.append(Grant("allUsers", RUN_INVOKER, False, f"{'.'.join(path)}[{INVOKER_IAM_ANNOTATION}]"))
    return found


# --- names: of accounts, and of what a grant is on, as a reader names it ---------------------------------------

UNKNOWN_TEXT: Final = "(unknown until deployed)"
# Properties of an IAM resource that say *how* it grants, not *on what*.
_NON_TARGET_KEYS: Final = frozenset(
    {"member", "members", "role", "condition", "policyData", "etag", "project", "location", "region"}
)
# Preferred identifiers of the target, most specific first.
_TARGET_KEYS: Final = (
    "name", "service", "cloudFunction", "serviceAccountId", "secretId", "topic", "subscription", "bucket",
    "repository", "dataset", "datasetId", "tableId", "instance", "keyRing", "cryptoKeyId", "folder", "orgId",
)  # fmt: skip


def shown(value: object) -> str:
    """A property value as text: unknown values say so, absent ones are empty."""
    if value is None:
        return ""
    return UNKNOWN_TEXT if is_unknown(value) else str(value)


def _kind(resource_type: str) -> tuple[str, str]:
    """(service module, resource kind) of a type token: `gcp:cloudrunv2/serviceIamMember:ServiceIamMember` ->
    (`cloudrunv2`, `service`), the kind of a grant being the kind of what it grants on."""
    token = resource_type.split(":")
    module = (token[1] if len(token) > 2 else resource_type).split("/", 1)[0]
    kind = token[-1]
    for suffix in _GRANT_SUFFIXES:
        if kind.endswith(suffix):
            kind = kind[: -len(suffix)]
            break
    return module, kind[:1].lower() + kind[1:]


def resource_label(resource_type: str, name: str) -> str:
    """A resource as the report names it: `cloudrunv2/service worker-dev` (what grants on it name, too)."""
    module, kind = _kind(resource_type)
    return f"{module}/{kind} {name}" if kind else f"{module} {name}"


def grant_resource(resource_type: str, props: Mapping[str, Any]) -> str:
    """What a grant resource grants on, as a reader names it: `cloudrunv2/service worker-dev`, `project p`,
    `storage/bucket src-1a2b`."""
    module, kind = _kind(resource_type)
    if module in ("projects", "organizations", "folder") and not any(k in props for k in _TARGET_KEYS):
        if "folder" in props:
            return f"folder {shown(props['folder'])}"
        if "orgId" in props:
            return f"organization {shown(props['orgId'])}"
        return f"project {shown(props.get('project') or '(provider default)')}"
    what = f"{module}/{kind}" if kind else module
    for key in _TARGET_KEYS:
        if key in props:
            return f"{what} {shown(props[key])}"
    rest = [f"{k}={shown(v)}" for k, v in sorted(props.items()) if k not in _NON_TARGET_KEYS]
    return f"{what} {' '.join(rest)}".strip()


def service_account_email(value: object) -> str | None:
    """Email of an SA given as email, `serviceAccount:email` or `projects/p/serviceAccounts/email`."""
    if not isinstance(value, str) or is_unknown(value):
        return None
    text = value.strip()
    if text.startswith("serviceAccount:"):
        text = text[len("serviceAccount:") :]
    match = _SA_NAME_RE.match(text)
    if match:
        text = match.group(1)
    return text.lower() if "@" in text else None


def is_basic_role(role: object) -> bool:
    return isinstance(role, str) and role.strip() in BASIC_ROLES


def is_admin_role(role: object) -> bool:
    if not isinstance(role, str) or not role.startswith("roles/"):
        return False
    # roles/<service>.<name>[.<version>]: roles/run.admin, roles/iam.securityAdmin, roles/compute.instanceAdmin.v1
    return any(part.lower().endswith("admin") for part in role[len("roles/") :].split(".")[1:])
