"""Twins of the peers' in-scope checks: for each GCP check of checkov and trivy-checks and each GCP policy of Pulumi's
pre-built packs that policies/tools/peers.py counts in scope, the shape it rejects, written here from the check's
title and description alone (no peer code or fixture). Each `twin-*` resource is one such shape; which peer checks
it stands for is `TWINS` in policies/tools/measure_twins.py, which runs this program and counts what the pack
catches. `accept-*` resources are the sound form of the same shapes: nothing may be found on them."""

import json

import pulumi
import pulumi_gcp as gcp

PROJECT, REGION, ZONE = "si-pack-1234", "us-central1", "us-central1-a"
ORG, FOLDER = "123456789012", "folders/345678901234"
IMAGE = "us-docker.pkg.dev/si-pack-1234/images/api@sha256:" + "0" * 64
COMPUTE_DEFAULT = "123456789012-compute@developer.gserviceaccount.com"
LABELS = {"app": "twins", "env": "dev"}
GITHUB = "https://token.actions.githubusercontent.com"


def account(name: str) -> gcp.serviceaccount.Account:
    return gcp.serviceaccount.Account(name, account_id=name.removeprefix("accept-"), project=PROJECT)


app = account("accept-twin-app")
other = account("accept-twin-other")
person = "user:alice@acme.example"

# --- public members, on every kind of resource the peers name ---------------------------------------------------
gcp.storage.BucketIAMMember(
    "twin-bucket-public-reader", bucket="twins-data", role="roles/storage.objectViewer", member="allUsers"
)
gcp.storage.BucketIAMBinding(
    "twin-bucket-public-binding",
    bucket="twins-data",
    role="roles/storage.legacyBucketReader",
    members=["allAuthenticatedUsers"],
)
gcp.storage.BucketIAMMember(
    "twin-bucket-public-writer", bucket="twins-drop", role="roles/storage.objectCreator", member="allUsers"
)
gcp.storage.BucketIAMMember(
    "twin-registry-bucket-public",
    bucket=f"artifacts.{PROJECT}.appspot.com",
    role="roles/storage.objectViewer",
    member="allUsers",
)
gcp.storage.BucketACL("twin-bucket-acl-public-read", bucket="twins-site", predefined_acl="publicRead")
gcp.bigquery.Dataset(
    "twin-dataset-public-access",
    dataset_id="twins_public",
    project=PROJECT,
    location="US",
    labels=LABELS,
    accesses=[
        {"role": "OWNER", "user_by_email": app.email},
        {"role": "READER", "special_group": "allAuthenticatedUsers"},
    ],
)
gcp.bigquery.DatasetIamMember(
    "twin-dataset-iam-public",
    dataset_id="twins_ds",
    project=PROJECT,
    role="roles/bigquery.dataViewer",
    member="allUsers",
)
gcp.bigquery.IamMember(
    "twin-table-public",
    project=PROJECT,
    dataset_id="twins_ds",
    table_id="t",
    role="roles/bigquery.dataViewer",
    member="allAuthenticatedUsers",
)
gcp.pubsub.TopicIAMMember(
    "twin-topic-public", topic="twins", project=PROJECT, role="roles/pubsub.publisher", member="allUsers"
)
gcp.pubsub.TopicIAMPolicy(
    "twin-topic-policy-public",
    topic="twins-feed",
    project=PROJECT,
    policy_data=json.dumps({"bindings": [{"role": "roles/pubsub.subscriber", "members": ["allAuthenticatedUsers"]}]}),
)
gcp.dataproc.ClusterIAMMember(
    "twin-dataproc-public",
    cluster="twins",
    region=REGION,
    project=PROJECT,
    role="roles/dataproc.viewer",
    member="allUsers",
)
gcp.artifactregistry.RepositoryIamMember(
    "twin-repository-public",
    repository="twins",
    location=REGION,
    project=PROJECT,
    role="roles/artifactregistry.reader",
    member="allUsers",
)
gcp.cloudrun.IamMember(
    "twin-run-v1-public", service="twins", location=REGION, project=PROJECT, role="roles/run.invoker", member="allUsers"
)
gcp.cloudfunctions.FunctionIamMember(
    "twin-function-v1-public",
    cloud_function="twins",
    region=REGION,
    project=PROJECT,
    role="roles/cloudfunctions.invoker",
    member="allUsers",
)
gcp.cloudfunctionsv2.FunctionIamMember(
    "twin-function-public",
    cloud_function="twins",
    location=REGION,
    project=PROJECT,
    role="roles/cloudfunctions.invoker",
    member="allAuthenticatedUsers",
)
gcp.kms.CryptoKeyIAMMember(
    "twin-crypto-key-public",
    crypto_key_id=f"projects/{PROJECT}/locations/us/keyRings/r/cryptoKeys/k",
    role="roles/cloudkms.cryptoKeyEncrypterDecrypter",
    member="allUsers",
)
gcp.kms.KeyRingIAMMember(
    "twin-key-ring-public",
    key_ring_id=f"projects/{PROJECT}/locations/us/keyRings/r",
    role="roles/cloudkms.viewer",
    member="allAuthenticatedUsers",
)
gcp.kms.CryptoKeyIAMPolicy(
    "twin-crypto-key-policy-public",
    crypto_key_id=f"projects/{PROJECT}/locations/us/keyRings/r/cryptoKeys/k2",
    policy_data=json.dumps({"bindings": [{"role": "roles/cloudkms.cryptoKeyDecrypter", "members": ["allUsers"]}]}),
)
gcp.compute.SnapshotIamMember(
    "twin-snapshot-public",
    name="twins-snap",
    project=PROJECT,
    role="roles/compute.storageAdmin",
    member="allAuthenticatedUsers",
)
gcp.storage.BucketIAMMember(
    "twin-bucket-domain-member", bucket="twins-data", role="roles/storage.objectViewer", member="domain:acme.example"
)

# --- buckets --------------------------------------------------------------------------------------------------------
gcp.storage.Bucket(
    "twin-bucket-fine-grained", name="twins-fine", location="US", labels=LABELS, public_access_prevention="enforced"
)
gcp.storage.Bucket(
    "twin-bucket-prevention-inherited",
    name="twins-inherit",
    location="US",
    labels=LABELS,
    uniform_bucket_level_access=True,
)
gcp.storage.Bucket(
    "accept-bucket",
    name="twins-ok",
    location="US",
    labels=LABELS,
    uniform_bucket_level_access=True,
    public_access_prevention="enforced",
)

# --- default identities ---------------------------------------------------------------------------------------------
DISK: gcp.compute.InstanceBootDiskArgsDict = {"initialize_params": {"image": "debian-cloud/debian-12"}}
NIC: list[gcp.compute.InstanceNetworkInterfaceArgsDict] = [{"network": "default"}]
gcp.compute.Instance(
    "twin-vm-default-account",
    zone=ZONE,
    project=PROJECT,
    machine_type="e2-small",
    labels=LABELS,
    boot_disk=DISK,
    network_interfaces=NIC,
    service_account={"email": COMPUTE_DEFAULT, "scopes": ["logging-write", "monitoring-write"]},
)
gcp.compute.Instance(
    "twin-vm-default-account-full",
    zone=ZONE,
    project=PROJECT,
    machine_type="e2-small",
    labels=LABELS,
    boot_disk=DISK,
    network_interfaces=NIC,
    service_account={"email": COMPUTE_DEFAULT, "scopes": ["cloud-platform"]},
)
gcp.compute.Instance(
    "accept-vm",
    zone=ZONE,
    project=PROJECT,
    machine_type="e2-small",
    labels=LABELS,
    boot_disk=DISK,
    network_interfaces=NIC,
    service_account={"email": other.email, "scopes": ["cloud-platform"]},
)
gcp.container.Cluster(
    "twin-gke-default-nodes",
    location=REGION,
    project=PROJECT,
    deletion_protection=False,
    initial_node_count=1,
    resource_labels=LABELS,
)
gcp.container.NodePool(
    "twin-node-pool-default",
    cluster="twins",
    location=REGION,
    project=PROJECT,
    node_config={"oauth_scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
)
for scope, (resource, where) in {
    "project": (gcp.projects.IAMMember, {"project": PROJECT}),
    "folder": (gcp.folder.IAMMember, {"folder": FOLDER}),
    "org": (gcp.organizations.IAMMember, {"org_id": ORG}),
}.items():
    resource(
        f"twin-{scope}-grant-to-default",
        role="roles/logging.logWriter",
        member=f"serviceAccount:{COMPUTE_DEFAULT}",
        **where,
    )
    # --- impersonation and basic roles above one resource --------------------------------------------------------
    resource(f"twin-{scope}-token-creator", role="roles/iam.serviceAccountTokenCreator", member=app.member, **where)
    resource(f"twin-{scope}-person-sa-user", role="roles/iam.serviceAccountUser", member=person, **where)
    resource(f"twin-{scope}-editor", role="roles/editor", member=app.member, **where)
gcp.projects.IAMMember("twin-project-owner", project=PROJECT, role="roles/owner", member=app.member)
gcp.projects.IAMMember("twin-project-admin-role", project=PROJECT, role="roles/storage.admin", member=app.member)
gcp.projects.IAMMember(
    "twin-project-iam-admin", project=PROJECT, role="roles/resourcemanager.projectIamAdmin", member=app.member
)
gcp.projects.IAMMember("accept-project-log-writer", project=PROJECT, role="roles/logging.logWriter", member=app.member)
gcp.serviceaccount.IAMMember(
    "accept-token-creator-on-one-account",
    service_account_id=other.name,
    role="roles/iam.serviceAccountTokenCreator",
    member=app.member,
)

# --- custom roles -----------------------------------------------------------------------------------------------------
gcp.projects.IAMCustomRole(
    "twin-custom-role-iam-power",
    project=PROJECT,
    role_id="twinsIamSetter",
    title="t",
    permissions=["resourcemanager.projects.setIamPolicy", "resourcemanager.projects.get"],
)
gcp.projects.IAMCustomRole(
    "twin-custom-role-wildcard", project=PROJECT, role_id="twinsWildcard", title="t", permissions=["storage.*"]
)
gcp.projects.IAMCustomRole(
    "accept-custom-role", project=PROJECT, role_id="twinsReader", title="t", permissions=["run.services.get"]
)

# --- credentials ----------------------------------------------------------------------------------------------------
gcp.serviceaccount.Key("twin-service-account-key", service_account_id=app.name)
gcp.cloudrunv2.Service(
    "twin-env-token",
    name="twins-env",
    location=REGION,
    project=PROJECT,
    labels=LABELS,
    deletion_protection=False,
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    template={
        "service_account": account("accept-twin-env").email,
        "containers": [
            {"image": IMAGE, "envs": [{"name": "GITHUB", "value": "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"}]}
        ],
    },
)
gcp.container.Cluster(
    "twin-gke-client-certificate",
    location=REGION,
    project=PROJECT,
    deletion_protection=False,
    initial_node_count=1,
    resource_labels=LABELS,
    node_config={"service_account": account("accept-twin-nodes").email},
    master_auth={"client_certificate_config": {"issue_client_certificate": True}},
)
gcp.compute.Disk(
    "twin-disk-raw-key",
    zone=ZONE,
    project=PROJECT,
    size=10,
    labels=LABELS,
    disk_encryption_key={"raw_key": "SGVsbG8gZnJvbSBHb29nbGUgQ2xvdWQgUGxhdGZvcm0="},
)
gcp.sql.User("twin-sql-user-password", instance="twins-db", project=PROJECT, name="app", password="Winter2024!")
gcp.cloudbuild.Trigger(
    "twin-build-env-credentials",
    location=REGION,
    project=PROJECT,
    service_account=other.id,
    trigger_template={"branch_name": "main", "repo_name": "twins"},
    build={
        "steps": [
            {
                "name": "gcr.io/cloud-builders/gcloud",
                "envs": ["GOOGLE_APPLICATION_CREDENTIALS=/workspace/deployer-key.json"],
            }
        ]
    },
)

# --- power over one resource ------------------------------------------------------------------------------------------
gcp.storage.BucketIAMMember(
    "twin-bucket-admin-to-workload", bucket="twins-data", role="roles/storage.admin", member=app.member
)
gcp.pubsub.TopicIAMMember(
    "twin-topic-admin-to-workload", topic="twins", project=PROJECT, role="roles/pubsub.admin", member=app.member
)
gcp.pubsub.SubscriptionIAMMember(
    "twin-subscription-admin-to-workload",
    subscription="twins",
    project=PROJECT,
    role="roles/pubsub.admin",
    member=app.member,
)
gcp.kms.CryptoKeyIAMMember(
    "twin-crypto-key-admin-to-workload",
    crypto_key_id=f"projects/{PROJECT}/locations/us/keyRings/r/cryptoKeys/k",
    role="roles/cloudkms.admin",
    member=app.member,
)
gcp.storage.BucketIAMMember(
    "accept-bucket-reader", bucket="twins-data", role="roles/storage.objectViewer", member=app.member
)

# --- federation -------------------------------------------------------------------------------------------------------
POOL = "twins"
gcp.iam.WorkloadIdentityPoolProvider(
    "twin-federation-no-condition",
    workload_identity_pool_provider_id="plain",
    attribute_mapping={"google.subject": "assertion.sub"},
    oidc={"issuer_uri": "https://issuer.acme.example"},
    workload_identity_pool_id=POOL,
    project=PROJECT,
)
gcp.iam.WorkloadIdentityPoolProvider(
    "twin-github-any-owner",
    workload_identity_pool_provider_id="gh",
    attribute_mapping={"google.subject": "assertion.sub", "attribute.ref": "assertion.ref"},
    attribute_condition="assertion.ref == 'refs/heads/main'",
    oidc={"issuer_uri": GITHUB},
    workload_identity_pool_id=POOL,
    project=PROJECT,
)
gcp.iam.WorkloadIdentityPoolProvider(
    "accept-github-pinned",
    workload_identity_pool_provider_id="ghok",
    attribute_mapping={"google.subject": "assertion.sub"},
    attribute_condition="assertion.repository_owner_id == '1234567'",
    oidc={"issuer_uri": GITHUB},
    workload_identity_pool_id=POOL,
    project=PROJECT,
)

# --- serverless configuration -------------------------------------------------------------------------------------------
gcp.cloudrunv2.Service(
    "twin-run-invoker-check-off",
    name="twins-open",
    location=REGION,
    project=PROJECT,
    labels=LABELS,
    deletion_protection=False,
    invoker_iam_disabled=True,
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    template={"service_account": account("accept-twin-open").email, "containers": [{"image": IMAGE}]},
)
gcp.cloudfunctionsv2.Function(
    "twin-function-all-ingress",
    name="twins-fn",
    location=REGION,
    project=PROJECT,
    labels=LABELS,
    build_config={
        "runtime": "python312",
        "entry_point": "main",
        "service_account": account("accept-twin-fn-build").id,
        "source": {"storage_source": {"bucket": "twins-src", "object": "f.zip"}},
    },
    service_config={"service_account_email": account("accept-twin-fn").email, "ingress_settings": "ALLOW_ALL"},
)
gcp.cloudrunv2.Service(
    "twin-unlabelled-service",
    name="twins-plain",
    location=REGION,
    project=PROJECT,
    deletion_protection=False,
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    template={"service_account": account("accept-twin-plain").email, "containers": [{"image": IMAGE}]},
)

# --- hygiene ------------------------------------------------------------------------------------------------------------
gcp.kms.CryptoKey("twin-key-never-rotated", key_ring=f"projects/{PROJECT}/locations/us/keyRings/r", labels=LABELS)
gcp.kms.CryptoKey(
    "accept-key-rotated",
    key_ring=f"projects/{PROJECT}/locations/us/keyRings/r",
    labels=LABELS,
    rotation_period="7776000s",
)
gcp.projects.IAMAuditConfig(
    "twin-audit-exemption",
    project=PROJECT,
    service="allServices",
    audit_log_configs=[{"log_type": "DATA_READ", "exempted_members": [app.member]}, {"log_type": "ADMIN_READ"}],
)
gcp.projects.IAMMember(
    "twin-personal-account", project=PROJECT, role="roles/logging.viewer", member="user:someone@gmail.com"
)
gcp.projects.IAMMember(
    "accept-company-account", project=PROJECT, role="roles/logging.viewer", member="group:ops@acme.example"
)

pulumi.export("project", PROJECT)
