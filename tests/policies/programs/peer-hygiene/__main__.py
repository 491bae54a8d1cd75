"""What peers expect besides identity: KMS keys rotated within 90 days and audit logs that exempt nobody (noted),
custom roles with a wildcard permission, which IAM refuses (rejected before the deploy), and personal accounts of
consumer email domains as members (rejected); next to the sound forms of each (accepted)."""

import json

import pulumi_gcp as gcp

PROJECT = "si-pack-1234"
ring = gcp.kms.KeyRing("accept-ring", name="secrets", location="us-central1")

# KMS keys: symmetric keys rotate within 90 days; asymmetric ones are not rotated by Cloud KMS.
gcp.kms.CryptoKey("accept-key-rotated-quarterly", name="data", key_ring=ring.id, rotation_period="7776000s")
gcp.kms.CryptoKey("note-key-never-rotated", name="legacy", key_ring=ring.id)
gcp.kms.CryptoKey("note-key-rotated-yearly", name="archive", key_ring=ring.id, rotation_period="31536000s")
gcp.kms.CryptoKey(
    "accept-signing-key",
    name="signing",
    key_ring=ring.id,
    purpose="ASYMMETRIC_SIGN",
    version_template={"algorithm": "EC_SIGN_P256_SHA256"},
)

# Audit logs: IAM's admin reads for everyone; an exemption hides what the exempted identity does.
gcp.projects.IAMAuditConfig(
    "accept-iam-admin-reads",
    project=PROJECT,
    service="iam.googleapis.com",
    audit_log_configs=[{"log_type": "ADMIN_READ"}],
)
gcp.projects.IAMAuditConfig(
    "note-exempt-deployer",
    project=PROJECT,
    service="allServices",
    audit_log_configs=[
        {"log_type": "DATA_READ"},
        {
            "log_type": "DATA_WRITE",
            "exempted_members": ["serviceAccount:deployer@si-pack-1234.iam.gserviceaccount.com"],
        },
    ],
)
gcp.folder.IamAuditConfig(
    "note-folder-exempts-admins",
    folder="folders/123456789",
    service="iam.googleapis.com",
    audit_log_configs=[{"log_type": "ADMIN_READ", "exempted_members": ["group:admins@acme.example"]}],
)

# An authoritative policy sets the audit configs too: one that logs IAM's admin reads, one that drops them.
policy_data = {
    "bindings": [{"role": "roles/logging.viewer", "members": ["group:sre@acme.example"]}],
    "auditConfigs": [{"service": "iam.googleapis.com", "auditLogConfigs": [{"logType": "ADMIN_READ"}]}],
}
gcp.projects.IAMPolicy("accept-policy-keeps-iam-audit", project="si-pack-audited", policy_data=json.dumps(policy_data))
gcp.projects.IAMPolicy(
    "note-policy-drops-iam-audit",
    project="si-pack-unaudited",
    policy_data=json.dumps({"bindings": policy_data["bindings"]}),
)

# Custom roles: whole permission names only.
gcp.projects.IAMCustomRole(
    "accept-log-reader-role",
    role_id="logReader",
    title="Log reader",
    permissions=["logging.logEntries.list", "logging.logs.list"],
)
gcp.projects.IAMCustomRole(
    "reject-wildcard-role",
    role_id="storageEverything",
    title="Storage, all of it",
    permissions=["storage.buckets.get", "storage.objects.*"],
)

# Members: people of the organization's domain; a personal account or a consumer Google Group is rejected.
bucket = gcp.storage.Bucket(
    "accept-reports",
    location="US",
    uniform_bucket_level_access=True,
    public_access_prevention="enforced",
    labels={"app": "t"},
)
gcp.storage.BucketIAMMember(
    "accept-analyst-reads", bucket=bucket.name, role="roles/storage.objectViewer", member="group:analysts@acme.example"
)
gcp.storage.BucketIAMMember(
    "reject-personal-account-reads",
    bucket=bucket.name,
    role="roles/storage.objectViewer",
    member="user:jo.doe@gmail.com",
)
gcp.projects.IAMBinding(
    "reject-consumer-group-views-logs",
    project=PROJECT,
    role="roles/logging.viewer",
    members=["group:sre@acme.example", "group:our-oncall@googlegroups.com"],
)
