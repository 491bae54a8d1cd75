"""Default identities outside Cloud Run and functions: VMs, instance templates, GKE nodes, and grants to
default accounts; service-agent roles and convenience members; bucket access."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from secure_invoke.policies.guardrails.humans import human_access_expires
from secure_invoke.policies.guardrails.iam import is_service_agent
from secure_invoke.policies.guardrails.identities import no_default_identity_grants, workload_identity_set
from secure_invoke.policies.guardrails.roles import no_convenience_members, service_agent_roles_for_agents
from secure_invoke.policies.guardrails.storage import bucket_public_access_prevention, bucket_uniform_access
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


# --- service agents: by Google's documented domains, never by the account id alone ---------------------------


@pytest.mark.parametrize(
    ("email", "agent"),
    [
        ("service-123@gcp-sa-pubsub.iam.gserviceaccount.com", True),
        ("service-org-99@gcp-sa-scc-notification.iam.gserviceaccount.com", True),
        ("p123-abc@gcp-sa-cloud-sql.iam.gserviceaccount.com", True),  # per-instance accounts in a gcp-sa project
        ("service-123@compute-system.iam.gserviceaccount.com", True),
        ("service-123@container-engine-robot.iam.gserviceaccount.com", True),
        ("service-123@gcf-admin-robot.iam.gserviceaccount.com", True),
        ("service-123@gae-api-prod.google.com.iam.gserviceaccount.com", True),
        ("service-123@gs-project-accounts.iam.gserviceaccount.com", True),
        ("123@cloudservices.gserviceaccount.com", True),
        ("bq-123@bigquery-encryption.iam.gserviceaccount.com", True),
        ("service-104729@si-pack-1234.iam.gserviceaccount.com", False),  # an account id anyone may choose
        ("service-1@gcp-sa-pubsub.evil.iam.gserviceaccount.com", False),
        ("service-1@compute-system-x.iam.gserviceaccount.com", False),  # not a documented legacy domain
        ("app@compute-system.iam.gserviceaccount.com", False),  # legacy domains hold service-<number> only
        ("service-1@gcp-sa-pubsub.example.com", False),
        ("123456789012@cloudbuild.gserviceaccount.com", False),  # the legacy Cloud Build account: a default one
    ],
)  # fmt: skip
def test_service_agents_are_recognised_by_documented_domain(email: str, agent: bool) -> None:
    assert is_service_agent(email) is agent


def test_a_look_alike_agent_gets_no_service_agent_role_and_is_judged_by_scope() -> None:
    member = "serviceAccount:service-104729@si-dev-1234.iam.gserviceaccount.com"
    props = {"role": "roles/run.serviceAgent", "member": member}
    assert len(service_agent_roles_for_agents("gcp:projects/iAMMember:IAMMember", props, ctx())) == 1


# --- more workloads that fall back to a default account ------------------------------------------------------

WORKLOADS = [
    ("gcp:workflows/workflow:Workflow", {"sourceContents": "main: {}"}, ("serviceAccount",), "Compute Engine"),
    ("gcp:cloudbuild/trigger:Trigger", {"filename": "cloudbuild.yaml"}, ("serviceAccount",), "legacy Cloud Build"),
    ("gcp:dataflow/job:Job", {"templateGcsPath": "gs://t"}, ("serviceAccountEmail",), "Compute Engine"),
    ("gcp:dataflow/flexTemplateJob:FlexTemplateJob", {"containerSpecGcsPath": "gs://t"}, ("serviceAccountEmail",),
     "Compute Engine"),
    ("gcp:dataproc/cluster:Cluster", {"clusterConfig": {"gceClusterConfig": {}}},
     ("clusterConfig", "gceClusterConfig", "serviceAccount"), "Compute Engine"),
    ("gcp:composer/environment:Environment", {"config": {"nodeConfig": {}}}, ("config", "nodeConfig", "serviceAccount"),
     "Compute Engine"),
    ("gcp:workbench/instance:Instance", {"gceSetup": {"serviceAccounts": [{}]}}, ("gceSetup", "serviceAccounts", 0, "email"),
     "Compute Engine"),
    ("gcp:appengine/flexibleAppVersion:FlexibleAppVersion", {"runtime": "python"}, ("serviceAccount",), "App Engine"),
    ("gcp:appengine/standardAppVersion:StandardAppVersion", {"runtime": "python312"}, ("serviceAccount",), "App Engine"),
    ("gcp:cloudfunctions/function:Function", {"buildServiceAccount": f"projects/p/serviceAccounts/{OWN}"},
     ("serviceAccountEmail",), "App Engine"),  # 1st gen functions run as the App Engine default
]  # fmt: skip


def _with(props: dict, path: tuple, value: object) -> dict:
    """A copy of props with the value at path (dict keys and list indexes; missing dicts created)."""
    out = copy.deepcopy(props)
    node: Any = out
    for step in path[:-1]:
        node = node[step] if isinstance(step, int) else node.setdefault(step, {})
    node[path[-1]] = value
    return out


@pytest.mark.parametrize(("rtype", "props", "path", "default"), WORKLOADS)
def test_more_workloads_on_a_default_account_rejected_and_on_their_own_accepted(
    rtype: str, props: dict, path: tuple, default: str
) -> None:
    unset = workload_identity_set(rtype, props, ctx(name="w"))
    assert len(unset) == 1 and "is not set on 'w'" in unset[0] and default in unset[0]
    set_default = workload_identity_set(rtype, _with(props, path, COMPUTE), ctx(name="w"))
    assert len(set_default) == 1 and "is the default service account" in set_default[0]
    assert workload_identity_set(rtype, _with(props, path, OWN), ctx()) == []
    assert workload_identity_set(rtype, _with(props, path, UNKNOWN_STRING), ctx()) == []


def test_dataproc_on_gke_has_no_vm_identity_here() -> None:
    props = {"virtualClusterConfig": {"kubernetesClusterConfig": {}}}
    assert workload_identity_set("gcp:dataproc/cluster:Cluster", props, ctx()) == []


# --- GKE: inline node pools replace the default pool ---------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "paths"),
    [
        ({"nodePools": [{"nodeConfig": {"serviceAccount": OWN}}]}, []),  # no default pool: its pools are judged
        ({"nodePools": [{"nodeConfig": {"serviceAccount": OWN}}, {"nodeConfig": {"oauthScopes": FULL}}]},
         ["nodePools[1].nodeConfig.serviceAccount"]),
        ({"nodePools": [{"nodeConfig": {"serviceAccount": OWN}}], "nodeConfig": {"serviceAccount": "default"}}, []),
        ({"nodePools": UNKNOWN_STRING}, []),  # not known yet
        ({"nodePools": []}, ["nodeConfig.serviceAccount"]),  # no pools given: the default pool exists
    ],
)  # fmt: skip
def test_cluster_with_inline_node_pools_is_judged_by_its_pools(props: dict, paths: list[str]) -> None:
    found = workload_identity_set(CLUSTER, props, ctx())
    assert [message.split(" of ", 1)[0] for message in found] == paths


# --- acting as or administering a default account ------------------------------------------------------------

SA_MEMBER = "gcp:serviceaccount/iAMMember:IAMMember"
ON_DEFAULT = f"projects/si-dev-1234/serviceAccounts/{COMPUTE}"


@pytest.mark.parametrize(
    ("rtype", "props", "rejected"),
    [
        (SA_MEMBER, {"serviceAccountId": ON_DEFAULT, "role": "roles/iam.serviceAccountUser"}, True),
        (SA_MEMBER, {"serviceAccountId": ON_DEFAULT, "role": "roles/iam.serviceAccountTokenCreator"}, True),
        (SA_MEMBER, {"serviceAccountId": ON_DEFAULT, "role": "roles/iam.serviceAccountAdmin"}, True),
        (SA_MEMBER, {"serviceAccountId": "projects/p/serviceAccounts/p@appspot.gserviceaccount.com",
                     "role": "roles/iam.workloadIdentityUser"}, True),
        (SA_MEMBER, {"serviceAccountId": ON_DEFAULT, "role": "roles/iam.serviceAccountViewer"}, False),  # reads
        (SA_MEMBER, {"serviceAccountId": f"projects/p/serviceAccounts/{OWN}", "role": "roles/iam.serviceAccountUser"},
         False),
        ("gcp:projects/iAMMember:IAMMember", {"role": "roles/iam.serviceAccountUser", "condition": {
            "title": "t", "expression": f'resource.name == "projects/-/serviceAccounts/{COMPUTE}"'}}, True),
    ],
)  # fmt: skip
def test_acting_as_or_administering_a_default_account_is_rejected_once(rtype: str, props: dict, rejected: bool) -> None:
    props = {**props, "member": "serviceAccount:ci@si-dev-1234.iam.gserviceaccount.com"}
    found = no_default_identity_grants(rtype, props, ctx())
    assert len(found) == int(rejected)
    if rejected:
        assert "act as or administer the default service account" in found[0]
    person = {**props, "member": "user:alice@acme.com",
              "condition": {"title": "t", "expression": 'request.time < timestamp("2099-01-01T00:00:00Z")'}}  # fmt: skip
    if rtype == SA_MEMBER and rejected:
        assert human_access_expires(rtype, person, ctx()) == []  # one finding for a person too: this rule's
