"""Public access: public or domain-wide members, wildcard principal sets, the invoker check switched off."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from . import iam
from .context import RuleContext
from .iam import BASIC_ROLES, PUBLIC_MEMBERS, grant_scope, grants_of, is_admin_role
from .values import get, get_list, get_str, is_unknown, type_module

__all__ = ["ACL_TYPES", "invoker_iam_check_enabled", "no_broad_principals", "no_public_acls", "no_public_members"]

_INVOKER_FIX = (
    "grant roles/run.invoker on the service to serviceAccount:<caller's runtime service account email> instead"
)


def no_public_members(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """allUsers / allAuthenticatedUsers in member, members or policyData — conditions do not help."""
    out: list[str] = []
    for grant in grants_of(resource_type, props):
        if not iam.public_member(grant.member):
            continue
        role = grant.role if isinstance(grant.role, str) else "an unknown role"
        condition = " (an IAM condition does not make a public member acceptable)" if grant.conditional else ""
        out.append(
            f"{grant.where}: {grant.member} holds {role} on {ctx.label} ({grant_scope(resource_type)} "
            f"scope), which opens it to anyone{condition}. Remove {grant.member}; "
            f"{public_grant_fix(resource_type, grant.role)}."
        )
    return out


# (type module prefix, role to grant instead, on what, to whom, keep a narrow role as granted): first match wins.
_CALLER: Final = "serviceAccount:<caller's runtime service account email>"


def _sa_that(action: str) -> str:
    return f"the specific serviceAccount:<email> that {action}"


_FIXES: Final = (
    ("cloudrunv2/job", "roles/run.invoker", "the job", "serviceAccount:<email of the scheduler that runs it>", False),
    ("cloudrunv2/", "roles/run.invoker", "the service", _CALLER, False),
    ("cloudrun/", "roles/run.invoker", "the service", _CALLER, False),
    ("cloudfunctionsv2/", "roles/run.invoker", "the function's Cloud Run service", _CALLER, False),
    ("cloudfunctions/", "roles/cloudfunctions.invoker", "the function", _CALLER, False),
    ("storage/", "roles/storage.objectViewer", "the bucket", _sa_that("reads it"), True),
    ("pubsub/topic", "roles/pubsub.publisher", "the topic", _sa_that("publishes to it"), True),
    ("pubsub/subscription", "roles/pubsub.subscriber", "the subscription", _sa_that("consumes it"), True),
    ("secretmanager/", "roles/secretmanager.secretAccessor", "the secret", _sa_that("reads it at runtime"), True),
    ("artifactregistry/", "roles/artifactregistry.reader", "the repository", _sa_that("pulls from it"), True),
    ("bigquery/", "roles/bigquery.dataViewer", "the dataset", _sa_that("reads it"), True),
    ("serviceaccount/", "", "the service account", "the one serviceAccount:/group:<email> that must use it", True),
)


def _narrow_role(role: object, default: str) -> str:
    """The role as granted if it is already a narrow predefined role, else the usual narrow one."""
    if isinstance(role, str) and role.startswith("roles/") and role not in BASIC_ROLES and not is_admin_role(role):
        return role
    return default or "the narrow role it needs"


def public_grant_fix(resource_type: str, role: object) -> str:
    """The fix for a public grant, by scope and resource type (never "run.invoker" for a bucket)."""
    scope = grant_scope(resource_type)
    if scope != "resource":
        return (
            f"grant the narrow role each identity needs on the one resource it uses (e.g. roles/run.invoker on "
            f"one service, roles/storage.objectViewer on one bucket) to its serviceAccount:<email> instead; "
            f"nothing should be open to everyone on a whole {scope}"
        )
    module = type_module(resource_type)
    for prefix, default_role, target, recipient, keep_role in _FIXES:
        if module.startswith(prefix):
            narrow = _narrow_role(role, default_role) if keep_role else default_role
            return f"grant {narrow} on {target} to {recipient} instead"
    return (
        f"grant {_narrow_role(role, '')} on this resource only to the specific serviceAccount:<email> or "
        "group:<email> that needs it instead"
    )


def no_broad_principals(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """domain: members, whole customers, wildcard principalSets, and identities outside allowedMemberDomains.
    allowedMemberDomains waives only this finding: the role a domain holds is still judged by scope."""
    out: list[str] = []
    allowed = {d.lower() for d in ctx.settings.allowed_member_domains}
    for grant in grants_of(resource_type, props):
        member = grant.member
        if not isinstance(member, str) or is_unknown(member):
            continue
        member = member.strip()
        role = grant.role if isinstance(grant.role, str) else "an unknown role"
        if member.startswith("domain:"):
            domain = member[len("domain:") :].lower()
            if domain not in allowed:
                out.append(
                    f"{grant.where}: {member} grants {role} on {ctx.label} to every identity in {domain}. "
                    f"Grant it to the one service account or group that needs it instead (or add {domain} "
                    "to allowedMemberDomains if a whole-domain grant is really intended)."
                )
        elif member.startswith(iam.CUSTOMER_PREFIX):
            out.append(
                f"{grant.where}: {member} grants {role} on {ctx.label} to every principal of that Google Workspace / "
                "Cloud Identity customer (Google documents this identifier for deny policies, not allow policies). "
                "Grant it to the one service account or group that needs it instead."
            )
        elif member.startswith("principalSet://cloudresourcemanager.googleapis.com/"):
            out.append(
                f"{grant.where}: {member} grants {role} on {ctx.label} to every principal of that project, "
                "folder or organization. Grant it to the one service account that needs it instead."
            )
        elif member.startswith("principalSet://") and member.endswith("/*"):
            out.append(
                f"{grant.where}: {member} grants {role} on {ctx.label} to every identity in the pool. "
                "Narrow it to one attribute (e.g. principalSet://…/attribute.repository/<owner>/<repo>) "
                "or one principal:// subject."
            )
        elif allowed and member.startswith(("user:", "group:")) and "@" in member:
            domain = member.rsplit("@", 1)[1].lower()
            if domain not in allowed:
                out.append(
                    f"{grant.where}: {member} is outside the allowed member domains "
                    f"({', '.join(sorted(allowed))}). Grant {role} to an identity of an allowed domain."
                )
    return out


def invoker_iam_check_enabled(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """Cloud Run's invoker IAM check switched off (v2 flag, v1 annotation) makes a service public: the access
    iam.open_access reads, which the report shows as allUsers holding roles/run.invoker."""
    out: list[str] = []
    for grant in iam.open_access(resource_type, props):
        if grant.where == "invokerIamDisabled":
            out.append(
                f"invokerIamDisabled is true on Cloud Run service {ctx.label}: anyone who can reach it can call it. "
                f"Set invokerIamDisabled=False and {_INVOKER_FIX}."
            )
        else:
            out.append(
                f"{grant.where} is true on Cloud Run service {ctx.label}: anyone who can reach it can call it. "
                f"Remove the annotation and {_INVOKER_FIX}."
            )
    return out


# --- legacy ACLs: public access that never appears in IAM ---------------------------------------------------

BUCKET_ACCESS_CONTROL: Final = "gcp:storage/bucketAccessControl:BucketAccessControl"
OBJECT_ACCESS_CONTROL: Final = "gcp:storage/objectAccessControl:ObjectAccessControl"
DEFAULT_OBJECT_ACCESS_CONTROL: Final = "gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl"
BUCKET_ACL: Final = "gcp:storage/bucketACL:BucketACL"
OBJECT_ACL: Final = "gcp:storage/objectACL:ObjectACL"
DEFAULT_OBJECT_ACL: Final = "gcp:storage/defaultObjectACL:DefaultObjectACL"
DATASET: Final = "gcp:bigquery/dataset:Dataset"
DATASET_ACCESS: Final = "gcp:bigquery/datasetAccess:DatasetAccess"
STORAGE_ACL_TYPES: Final = frozenset(
    {
        BUCKET_ACCESS_CONTROL,
        OBJECT_ACCESS_CONTROL,
        DEFAULT_OBJECT_ACCESS_CONTROL,
        BUCKET_ACL,
        OBJECT_ACL,
        DEFAULT_OBJECT_ACL,
    }
)
ACL_TYPES: Final = STORAGE_ACL_TYPES | {DATASET, DATASET_ACCESS}
# Compared case-insensitively: a near-miss spelling costs a review, a missed public entity costs the data.
_PUBLIC_ENTITIES: Final = frozenset(m.lower() for m in PUBLIC_MEMBERS)
_PUBLIC_PREDEFINED_ACLS: Final = frozenset({"publicread", "publicreadwrite", "authenticatedread"})
_STORAGE_FIX: Final = (
    "enable uniformBucketLevelAccess on the bucket and grant roles/storage.objectViewer on the bucket to the "
    "specific serviceAccount:<email of the workload that reads it> instead"
)
_DATASET_FIX: Final = (
    "grant roles/bigquery.dataViewer on the dataset to the specific serviceAccount:/group: that reads it "
    "(iamMember, userByEmail or groupByEmail) instead"
)


def _is_public_entity(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower() in _PUBLIC_ENTITIES


def _storage_acl_findings(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []  # (path, what)
    entity = get(props, "entity")
    if _is_public_entity(entity):
        found.append(("entity", f"{str(entity).strip()} holds {get_str(props, 'role') or 'a role'}"))
    role_entities = get_list(props, "roleEntities")
    for index, pair in enumerate(role_entities if isinstance(role_entities, list) else []):
        if isinstance(pair, str) and ":" in pair:
            role, _, who = pair.partition(":")
            if _is_public_entity(who):
                found.append((f"roleEntities[{index}]", f"{who.strip()} holds {role.strip()}"))
    for key in ("predefinedAcl", "defaultAcl"):
        predefined = get_str(props, key)
        if isinstance(predefined, str) and predefined.strip().lower() in _PUBLIC_PREDEFINED_ACLS:
            found.append((key, f"the predefined ACL {predefined.strip()} grants allUsers/allAuthenticatedUsers"))
    return found


def _dataset_access_findings(entry: object, path: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    role = get_str(entry, "role")
    role_text = role if isinstance(role, str) else "a role"
    for key in ("specialGroup", "iamMember"):
        who = get(entry, key)
        if _is_public_entity(who):
            found.append((f"{path}{key}", f"{str(who).strip()} holds {role_text}"))
    return found


def no_public_acls(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    """allUsers/allAuthenticatedUsers through Cloud Storage ACLs (bucket, object, default object; entity,
    roleEntities, public predefined ACLs) and BigQuery dataset access entries."""
    if resource_type in STORAGE_ACL_TYPES:
        findings, fix, noun = _storage_acl_findings(resource_type, props), _STORAGE_FIX, "Cloud Storage ACL"
    elif resource_type == DATASET_ACCESS:
        findings, fix, noun = _dataset_access_findings(props, ""), _DATASET_FIX, "BigQuery dataset access"
    elif resource_type == DATASET:
        findings, fix, noun = [], _DATASET_FIX, "BigQuery dataset access"
        accesses = get_list(props, "accesses")
        for index, entry in enumerate(accesses if isinstance(accesses, list) else []):
            findings += _dataset_access_findings(entry, f"accesses[{index}].")
    else:
        return []
    return [
        f"{path}: {what} through the {noun} of {ctx.label}, which opens it to anyone (ACLs bypass IAM "
        f"policies and org-policy reviews). Remove it; {fix}."
        for path, what in findings
    ]
