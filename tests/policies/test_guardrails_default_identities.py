"""Default identities outside Cloud Run and functions: VMs, instance templates, GKE nodes, and grants to
default accounts; service-agent roles and convenience members; bucket access."""

from __future__ import annotations

import pytest

from policies.guardrails.identities import no_default_identity_grants, workload_identity_set
from policies.guardrails.roles import no_convenience_members, service_agent_roles_for_agents
from policies.guardrails.storage import bucket_public_access_prevention, bucket_uniform_access
from tests.policies.guardrail_cases import UNKNOWN_STRING, ctx

COMPUTE = "123456789012-compute@developer.gserviceaccount.com"
OWN = "vm-runtime@si-dev-1234.iam.gserviceaccount.com"
FULL = ["https://www.googleapis.com/auth/cloud-platform"]
VM = "gcp:compute/instance:Instance"
TEMPLATE = "gcp:compute/instanceTemplate:InstanceTemplate"
CLUSTER = "gcp:container/cluster:Cluster"
POOL = "gcp:container/nodePool:NodePool"


@pytest.mark.parametrize(
    ("rtype", "props", "cloud_platform"),
    [
        (VM, {"serviceAccount": {"scopes": FULL}}, True),  # no email: the default account
        (VM, {"serviceAccount": {"email": "default", "scopes": ["logging.write"]}}, False),
        (VM, {"serviceAccount": {"email": COMPUTE, "scopes": FULL}}, True),
        (TEMPLATE, {"serviceAccount": {"email": "default", "scopes": FULL}}, True),
        ("gcp:compute/regionInstanceTemplate:RegionInstanceTemplate", {"serviceAccount": {"scopes": []}}, False),
        (CLUSTER, {"initialNodeCount": 1, "nodeConfig": {"oauthScopes": FULL}}, True),
        (CLUSTER, {"initialNodeCount": 1}, False),
        (CLUSTER, {"enableAutopilot": True}, False),
        (POOL, {"nodeConfig": {"machineType": "e2-small"}}, False),
        (POOL, {"nodeConfig": {"serviceAccount": "default", "oauthScopes": FULL}}, True),
    ],
)
def test_machines_on_the_default_account_rejected(rtype: str, props: dict, cloud_platform: bool) -> None:
    found = workload_identity_set(rtype, props, ctx(name="m"))
    assert len(found) == 1 and "Compute Engine default service account" in found[0] and "'m'" in found[0]
    assert ("cloud-platform scope" in found[0]) is cloud_platform


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        (VM, {}),  # no service account at all: the VM has no identity
        (VM, {"serviceAccount": {"email": OWN, "scopes": FULL}}),
        (VM, {"serviceAccount": {"email": UNKNOWN_STRING}}),
        ("gcp:compute/instanceFromTemplate:InstanceFromTemplate", {"sourceInstanceTemplate": "t"}),
        (CLUSTER, {"removeDefaultNodePool": True, "initialNodeCount": 1}),
        (CLUSTER, {"nodeConfig": {"serviceAccount": OWN}}),
        (CLUSTER, {"enableAutopilot": True,
                   "clusterAutoscaling": {"autoProvisioningDefaults": {"serviceAccount": OWN}}}),
        (POOL, {"nodeConfig": {"serviceAccount": OWN, "oauthScopes": FULL}}),
    ],
)  # fmt: skip
def test_machines_on_own_or_no_identity_accepted(rtype: str, props: dict) -> None:
    assert workload_identity_set(rtype, props, ctx()) == []


@pytest.mark.parametrize(
    "member",
    [f"serviceAccount:{COMPUTE}", "serviceAccount:si-dev-1234@appspot.gserviceaccount.com",
     "serviceAccount:123456789012@cloudbuild.gserviceaccount.com"],
)  # fmt: skip
@pytest.mark.parametrize(
    "rtype",
    [
        "gcp:projects/iAMMember:IAMMember",
        "gcp:folder/iAMMember:IAMMember",
        "gcp:storage/bucketIAMMember:BucketIAMMember",
    ],
)
def test_grants_to_default_accounts_rejected(member: str, rtype: str) -> None:
    found = no_default_identity_grants(rtype, {"role": "roles/logging.logWriter", "member": member}, ctx())
    assert len(found) == 1 and "dedicated service account" in found[0]


def test_grants_to_own_accounts_and_agents_accepted() -> None:
    for member in (f"serviceAccount:{OWN}", "serviceAccount:service-1@gcp-sa-pubsub.iam.gserviceaccount.com",
                   "user:a@acme.com", UNKNOWN_STRING):  # fmt: skip
        assert (
            no_default_identity_grants("gcp:projects/iAMMember:IAMMember", {"role": "r", "member": member}, ctx()) == []
        )


@pytest.mark.parametrize(
    "member",
    ["serviceAccount:service-123@gcp-sa-aiplatform.iam.gserviceaccount.com",
     "serviceAccount:service-123@serverless-robot-prod.iam.gserviceaccount.com",
     "serviceAccount:123@cloudservices.gserviceaccount.com",
     "serviceAccount:service-org-99@gcp-sa-scc-notification.iam.gserviceaccount.com"],
)  # fmt: skip
def test_service_agent_roles_to_google_agents_accepted(member: str) -> None:
    props = {"role": "roles/aiplatform.serviceAgent", "member": member}
    assert service_agent_roles_for_agents("gcp:projects/iAMMember:IAMMember", props, ctx()) == []


@pytest.mark.parametrize(
    "member", [f"serviceAccount:{OWN}", "user:alice@acme.com", "serviceAccount:service-x@evil.example.com"]
)
@pytest.mark.parametrize("role", ["roles/serverless.serviceAgent", "roles/composer.ServiceAgentV2Ext"])
def test_service_agent_roles_to_anyone_else_rejected(member: str, role: str) -> None:
    found = service_agent_roles_for_agents("gcp:projects/iAMMember:IAMMember", {"role": role, "member": member}, ctx())
    assert len(found) == 1 and "service-agent role" in found[0]


@pytest.mark.parametrize(
    ("role", "rejected"),
    [("roles/storage.objectAdmin", True), ("roles/storage.legacyBucketOwner", True),
     ("roles/iam.serviceAccountUser", True), ("roles/storage.objectViewer", False),
     ("roles/storage.legacyBucketReader", False), ("roles/owner", False)],  # owner: no-basic-roles' finding
)  # fmt: skip
def test_convenience_members_with_write_power_rejected(role: str, rejected: bool) -> None:
    for member in ("projectViewer:si-dev-1234", "projectEditor:si-dev-1234", "projectOwner:si-dev-1234"):
        props = {"role": role, "member": member}
        found = no_convenience_members("gcp:storage/bucketIAMMember:BucketIAMMember", props, ctx())
        assert (len(found) == 1) is rejected, (role, member)


BUCKET = "gcp:storage/bucket:Bucket"


def test_buckets_uniform_access_and_public_access_prevention() -> None:
    assert len(bucket_uniform_access(BUCKET, {"location": "US"}, ctx())) == 1
    assert len(bucket_uniform_access(BUCKET, {"uniformBucketLevelAccess": False}, ctx())) == 1
    assert bucket_uniform_access(BUCKET, {"uniformBucketLevelAccess": True}, ctx()) == []
    assert bucket_uniform_access(BUCKET, {"uniformBucketLevelAccess": UNKNOWN_STRING}, ctx()) == []
    assert len(bucket_public_access_prevention(BUCKET, {}, ctx())) == 1
    assert len(bucket_public_access_prevention(BUCKET, {"publicAccessPrevention": "inherited"}, ctx())) == 1
    assert bucket_public_access_prevention(BUCKET, {"publicAccessPrevention": "enforced"}, ctx()) == []
