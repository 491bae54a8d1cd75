"""Public access: every §6 variant rejected, the legitimate shapes accepted."""

from __future__ import annotations

import json

import pytest

from secure_invoke.policies.guardrails.public_access import (
    invoker_iam_check_enabled,
    no_broad_principals,
    no_public_acls,
    no_public_members,
)
from tests.policies.guardrail_cases import UNKNOWN_ARRAY, UNKNOWN_BOOL, UNKNOWN_STRING, ctx

RUN_V2_MEMBER = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
RELAY = "serviceAccount:relay-runtime-dev@si-dev-1234.iam.gserviceaccount.com"


def policy_json(*bindings: dict) -> str:
    return json.dumps({"bindings": list(bindings)})


PUBLIC_CASES = [
    (RUN_V2_MEMBER, {"name": "worker", "role": "roles/run.invoker", "member": "allUsers"}),
    (RUN_V2_MEMBER, {"name": "worker", "role": "roles/run.invoker", "member": "allAuthenticatedUsers"}),
    ("gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding", {"role": "roles/run.invoker", "members": [RELAY, "allUsers"]}),
    ("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy",
     {"policyData": policy_json({"role": "roles/run.invoker", "members": ["allUsers"]})}),
    ("gcp:cloudrunv2/jobIamMember:JobIamMember", {"role": "roles/run.invoker", "member": "allUsers"}),
    ("gcp:cloudrun/iamMember:IamMember", {"service": "worker", "role": "roles/run.invoker", "member": "allUsers"}),
    ("gcp:cloudrun/iamPolicy:IamPolicy",
     {"policyData": policy_json({"role": "roles/run.invoker", "members": ["allAuthenticatedUsers"]})}),
    ("gcp:cloudfunctions/functionIamMember:FunctionIamMember",
     {"cloudFunction": "f", "role": "roles/cloudfunctions.invoker", "member": "allUsers"}),
    ("gcp:cloudfunctionsv2/functionIamBinding:FunctionIamBinding",
     {"cloudFunction": "f", "role": "roles/cloudfunctions.invoker", "members": ["allUsers"]}),
    # a gen2 function opened through its underlying Cloud Run service
    (RUN_V2_MEMBER, {"name": "relay-dev", "role": "roles/run.invoker", "member": "allUsers"}),
    ("gcp:projects/iAMMember:IAMMember", {"project": "p", "role": "roles/viewer", "member": "allAuthenticatedUsers"}),
    ("gcp:projects/iAMPolicy:IAMPolicy",
     {"policyData": policy_json({"role": "roles/storage.objectViewer", "members": ["allUsers"]})}),
    ("gcp:storage/bucketIAMMember:BucketIAMMember", {"bucket": "b", "role": "roles/storage.objectViewer", "member": "allUsers"}),
    ("gcp:pubsub/topicIAMBinding:TopicIAMBinding", {"role": "roles/pubsub.publisher", "members": ["allUsers"]}),
    ("gcp:secretmanager/secretIamMember:SecretIamMember",
     {"role": "roles/secretmanager.secretAccessor", "member": "allAuthenticatedUsers"}),
    # other invoker roles, custom roles
    (RUN_V2_MEMBER, {"name": "worker", "role": "roles/run.servicesInvoker", "member": "allUsers"}),
    (RUN_V2_MEMBER, {"name": "worker", "role": "projects/p/roles/invoker", "member": "allUsers"}),
    # IAM conditions never make a public member acceptable
    (RUN_V2_MEMBER, {"name": "worker", "role": "roles/run.invoker", "member": "allUsers",
                     "condition": {"title": "business-hours", "expression": "request.time.getHours('UTC') < 18"}}),
    ("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy",
     {"policyData": policy_json({"role": "roles/run.invoker", "members": ["allUsers"],
                                 "condition": {"title": "t", "expression": "true"}})}),
    # policy_data from organizations.get_iam_policy is a dict-shaped JSON string with etag etc.
    ("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy",
     {"policyData": json.dumps({"etag": "BwX", "version": 3, "bindings": [
         {"role": "roles/run.invoker", "members": [RELAY]},
         {"role": "roles/run.invoker", "members": ["allUsers"]}]})}),
    ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
     {"name": "worker", "role": "roles/run.invoker", "member": "principalSet://goog/public:all"}),
]  # fmt: skip


# The fix named in the message, by resource type and scope: never "run.invoker on the service" for a bucket.
EXPECTED_FIX = {
    "cloudrunv2/job": "grant roles/run.invoker on the job to serviceAccount:",
    "cloudrunv2/": "grant roles/run.invoker on the service to serviceAccount:",
    "cloudrun/": "grant roles/run.invoker on the service to serviceAccount:",
    "cloudfunctionsv2/": "grant roles/run.invoker on the function's Cloud Run service to serviceAccount:",
    "cloudfunctions/": "grant roles/cloudfunctions.invoker on the function to serviceAccount:",
    "projects/": "on the one resource it uses",
    "storage/": "grant roles/storage.objectViewer on the bucket to the specific serviceAccount:<email> that reads it",
    "pubsub/": "grant roles/pubsub.publisher on the topic to the specific serviceAccount:",
    "secretmanager/": "grant roles/secretmanager.secretAccessor on the secret to the specific serviceAccount:",
}


@pytest.mark.parametrize(("rtype", "props"), PUBLIC_CASES)
def test_public_members_rejected(rtype: str, props: dict) -> None:
    messages = no_public_members(rtype, props, ctx())
    assert len(messages) == 1
    assert "subject" in messages[0]
    module = rtype.split(":")[1]
    expected = next(fix for prefix, fix in EXPECTED_FIX.items() if module.startswith(prefix))
    assert expected in messages[0]
    if not module.startswith(("cloudrun", "cloudfunctions", "projects/")):
        assert "run.invoker" not in messages[0]


@pytest.mark.parametrize(
    ("rtype", "role", "expected"),
    [
        # a narrow role as granted is kept; a broad or custom one is replaced by the usual narrow role
        ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.legacyObjectReader",
         "grant roles/storage.legacyObjectReader on the bucket"),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/storage.admin", "grant roles/storage.objectViewer on the bucket"),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", "roles/owner", "grant roles/storage.objectViewer on the bucket"),
        ("gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember", "roles/pubsub.subscriber",
         "grant roles/pubsub.subscriber on the subscription to the specific serviceAccount:<email> that consumes it"),
        ("gcp:artifactregistry/repositoryIamMember:RepositoryIamMember", "roles/artifactregistry.admin",
         "grant roles/artifactregistry.reader on the repository"),
        ("gcp:bigquery/datasetIamMember:DatasetIamMember", "roles/bigquery.dataEditor", "grant roles/bigquery.dataEditor on the dataset"),
        ("gcp:folder/iAMMember:IAMMember", "roles/run.invoker", "nothing should be open to everyone on a whole folder"),
        ("gcp:organizations/iAMBinding:IAMBinding", "roles/viewer", "on a whole organization"),
        ("gcp:kms/cryptoKeyIAMMember:CryptoKeyIAMMember", "roles/cloudkms.cryptoKeyDecrypter",
         "grant roles/cloudkms.cryptoKeyDecrypter on this resource only to the specific serviceAccount:"),
        ("gcp:serviceaccount/iAMMember:IAMMember", "roles/iam.serviceAccountUser",
         "grant roles/iam.serviceAccountUser on the service account to the one serviceAccount:/group:"),
    ],
)  # fmt: skip
def test_public_fix_chosen_by_scope_and_type(rtype: str, role: str, expected: str) -> None:
    props = {"role": role, "member": "allUsers"}
    if "Binding" in rtype:
        props = {"role": role, "members": ["allUsers"]}
    messages = no_public_members(rtype, props, ctx())
    assert len(messages) == 1 and expected in messages[0], messages


def test_condition_is_named_in_message() -> None:
    props = {"role": "roles/run.invoker", "member": "allUsers", "condition": {"title": "t", "expression": "true"}}
    assert "condition does not make" in no_public_members(RUN_V2_MEMBER, props, ctx())[0]


ACCEPT_CASES = [
    (RUN_V2_MEMBER, {"name": "worker", "role": "roles/run.invoker", "member": RELAY}),
    ("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy",
     {"policyData": policy_json({"role": "roles/run.invoker", "members": [RELAY]})}),
    # member prefixes are case-sensitive: these are not the public principals (and GCP rejects them)
    (RUN_V2_MEMBER, {"role": "roles/run.invoker", "member": "user:allusers@example.com"}),
    # not a grant resource at all, even if a field says allUsers
    ("gcp:pubsub/topic:Topic", {"name": "allUsers", "member": "allUsers"}),
    # unknown values are not violations
    (RUN_V2_MEMBER, {"role": "roles/run.invoker", "member": UNKNOWN_STRING}),
    ("gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding", {"role": "roles/run.invoker", "members": UNKNOWN_ARRAY}),
    ("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", {"policyData": UNKNOWN_STRING}),
    ("gcp:cloudrunv2/serviceIamPolicy:ServiceIamPolicy", {"policyData": "{not json"}),
]  # fmt: skip


@pytest.mark.parametrize(("rtype", "props"), ACCEPT_CASES)
def test_non_public_members_accepted(rtype: str, props: dict) -> None:
    assert no_public_members(rtype, props, ctx()) == []


def test_known_members_checked_next_to_unknown_ones() -> None:
    props = {"role": "roles/run.invoker", "members": [UNKNOWN_STRING, "allUsers"]}
    assert len(no_public_members("gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding", props, ctx())) == 1


@pytest.mark.parametrize(
    "member",
    [
        "domain:example.com",
        "principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/*",
        "principalSet://iam.googleapis.com/locations/global/workforcePools/staff/*",
        "principalSet://cloudresourcemanager.googleapis.com/projects/123/type/ServiceAccount",
        "principalSet://goog/cloudIdentityCustomerId/C01abc23",  # a whole Workspace / Cloud Identity customer
    ],
)
def test_broad_principals_rejected(member: str) -> None:
    props = {"role": "roles/run.invoker", "member": member}
    messages = no_broad_principals(RUN_V2_MEMBER, props, ctx())
    assert len(messages) == 1 and member in messages[0]


@pytest.mark.parametrize(
    "member",
    [
        RELAY,
        "principalSet://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/attribute.repository/acme/si",
        "principal://iam.googleapis.com/projects/123/locations/global/workloadIdentityPools/github/subject/repo:acme/si:ref:refs/heads/main",
        "user:alice@example.com",  # no domain allow-list configured: individual identities pass
        UNKNOWN_STRING,
    ],
)
def test_narrow_principals_accepted(member: str) -> None:
    assert no_broad_principals(RUN_V2_MEMBER, {"role": "roles/run.invoker", "member": member}, ctx()) == []


def test_allowed_member_domains() -> None:
    allowed = ctx(allowed_member_domains=frozenset({"example.com"}))
    binding = "gcp:projects/iAMBinding:IAMBinding"
    props = {"role": "roles/logging.viewer", "members": ["domain:EXAMPLE.com", "user:bob@Example.COM"]}
    assert no_broad_principals(binding, props, allowed) == []
    props = {"role": "roles/logging.viewer", "members": ["domain:evil.com", "group:ops@evil.com"]}
    assert len(no_broad_principals(binding, props, allowed)) == 2
    # without configuration a whole domain is rejected
    assert len(no_broad_principals(binding, {"role": "r", "members": ["domain:example.com"]}, ctx())) == 1


def test_invoker_iam_disabled_rejected_v2_and_v1() -> None:
    assert len(invoker_iam_check_enabled("gcp:cloudrunv2/service:Service", {"invokerIamDisabled": True}, ctx())) == 1
    v1 = {"metadata": {"annotations": {"run.googleapis.com/invoker-iam-disabled": "true"}}}
    assert len(invoker_iam_check_enabled("gcp:cloudrun/service:Service", v1, ctx())) == 1
    v1_template = {"template": {"metadata": {"annotations": {"run.googleapis.com/invoker-iam-disabled": "True"}}}}
    assert len(invoker_iam_check_enabled("gcp:cloudrun/service:Service", v1_template, ctx())) == 1


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:cloudrunv2/service:Service", {"invokerIamDisabled": False}),
        ("gcp:cloudrunv2/service:Service", {}),
        ("gcp:cloudrunv2/service:Service", {"invokerIamDisabled": UNKNOWN_BOOL}),
        ("gcp:cloudrun/service:Service", {"metadata": {"annotations": {"run.googleapis.com/invoker-iam-disabled": "false"}}}),
        ("gcp:cloudrun/service:Service", {"metadata": {"annotations": {"run.googleapis.com/ingress": "all"}}}),
        ("gcp:cloudfunctionsv2/function:Function", {"invokerIamDisabled": True}),
    ],
)  # fmt: skip
def test_invoker_iam_enabled_accepted(rtype: str, props: dict) -> None:
    assert invoker_iam_check_enabled(rtype, props, ctx()) == []


# --- public access through ACLs ------------------------------------------------------------------------------

ACL_REJECT = [
    ("gcp:storage/bucketAccessControl:BucketAccessControl", {"bucket": "b", "role": "READER", "entity": "allUsers"}),
    ("gcp:storage/bucketAccessControl:BucketAccessControl", {"bucket": "b", "role": "WRITER", "entity": "allAuthenticatedUsers"}),
    ("gcp:storage/objectAccessControl:ObjectAccessControl", {"bucket": "b", "object": "o", "role": "READER", "entity": "allUsers"}),
    ("gcp:storage/defaultObjectAccessControl:DefaultObjectAccessControl", {"bucket": "b", "role": "READER", "entity": "allusers"}),
    ("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "roleEntities": ["OWNER:project-owners-1", "READER:allUsers"]}),
    ("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "predefinedAcl": "publicRead"}),
    ("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "defaultAcl": "publicRead"}),
    ("gcp:storage/objectACL:ObjectACL", {"bucket": "b", "object": "o", "roleEntities": ["READER:allAuthenticatedUsers"]}),
    ("gcp:storage/objectACL:ObjectACL", {"bucket": "b", "object": "o", "predefinedAcl": "authenticatedRead"}),
    ("gcp:storage/defaultObjectACL:DefaultObjectACL", {"bucket": "b", "roleEntities": ["READER:allUsers"]}),
    ("gcp:bigquery/datasetAccess:DatasetAccess", {"datasetId": "d", "role": "READER", "specialGroup": "allAuthenticatedUsers"}),
    ("gcp:bigquery/datasetAccess:DatasetAccess", {"datasetId": "d", "role": "roles/bigquery.dataViewer", "iamMember": "allUsers"}),
    ("gcp:bigquery/dataset:Dataset",
     {"datasetId": "d", "accesses": [{"role": "OWNER", "specialGroup": "projectOwners"},
                                     {"role": "READER", "iamMember": "allAuthenticatedUsers"}]}),
]  # fmt: skip


@pytest.mark.parametrize(("rtype", "props"), ACL_REJECT)
def test_public_acls_rejected(rtype: str, props: dict) -> None:
    messages = no_public_acls(rtype, props, ctx())
    assert len(messages) == 1 and "'subject'" in messages[0]
    fix = (
        "roles/bigquery.dataViewer on the dataset"
        if "bigquery" in rtype
        else "roles/storage.objectViewer on the bucket"
    )
    assert fix in messages[0]


ACL_ACCEPT = [
    ("gcp:storage/bucketAccessControl:BucketAccessControl", {"bucket": "b", "role": "READER", "entity": "user-relay@p.iam.gserviceaccount.com"}),
    ("gcp:storage/bucketAccessControl:BucketAccessControl", {"bucket": "b", "role": "READER", "entity": UNKNOWN_STRING}),
    ("gcp:storage/objectAccessControl:ObjectAccessControl", {"entity": "project-viewers-123"}),
    ("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "roleEntities": ["OWNER:project-owners-1", "READER:group-ops@acme.com"]}),
    ("gcp:storage/bucketACL:BucketACL", {"bucket": "b", "predefinedAcl": "private", "roleEntities": UNKNOWN_ARRAY}),
    ("gcp:storage/objectACL:ObjectACL", {"predefinedAcl": "projectPrivate", "roleEntities": [UNKNOWN_STRING, 5, "junk"]}),
    ("gcp:storage/defaultObjectACL:DefaultObjectACL", {"roleEntities": ["READER:user-allUsers@acme.com"]}),
    ("gcp:bigquery/datasetAccess:DatasetAccess", {"datasetId": "d", "role": "READER", "specialGroup": "projectReaders"}),
    ("gcp:bigquery/datasetAccess:DatasetAccess", {"datasetId": "d", "role": "READER", "iamMember": RELAY}),
    ("gcp:bigquery/dataset:Dataset", {"datasetId": "d", "accesses": [{"role": "READER", "userByEmail": "a@acme.com"}]}),
    ("gcp:bigquery/dataset:Dataset", {"datasetId": "d", "accesses": UNKNOWN_ARRAY}),
    # the same words outside an ACL resource are not ACLs
    ("gcp:storage/bucket:Bucket", {"entity": "allUsers", "predefinedAcl": "publicRead"}),
]  # fmt: skip


@pytest.mark.parametrize(("rtype", "props"), ACL_ACCEPT)
def test_private_acls_accepted(rtype: str, props: dict) -> None:
    assert no_public_acls(rtype, props, ctx()) == []
