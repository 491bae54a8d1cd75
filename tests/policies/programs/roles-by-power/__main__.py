"""Roles judged by power: project grants that reach every identity or resource (rejected) next to the same
powers scoped to one resource or confined by a condition (accepted)."""

import pulumi
import pulumi_gcp as gcp

PROJECT = "si-pack-1234"
app = gcp.serviceaccount.Account("app", account_id="app-runtime")
bucket = gcp.storage.Bucket(
    "data", location="US", uniform_bucket_level_access=True, public_access_prevention="enforced", labels={"app": "t"}
)


def project_grant(name: str, role: pulumi.Input[str], condition: str | None = None) -> None:
    gcp.projects.IAMMember(
        name,
        project=PROJECT,
        role=role,
        member=app.member,
        condition=gcp.projects.IAMMemberConditionArgs(title=name, expression=condition) if condition else None,
    )


# rejected: runs code as the build identity / reaches every bucket / a service agent's role / a custom role
# with data power on the whole project / write power for a convenience member
project_grant("reject-builds-editor", "roles/cloudbuild.builds.editor")
project_grant("reject-dataflow-developer", "roles/dataflow.developer")
project_grant("reject-object-viewer", "roles/storage.objectViewer")
project_grant("reject-serverless-agent", "roles/serverless.serviceAgent")
reader = gcp.projects.IAMCustomRole(
    "object-reader", project=PROJECT, role_id="objectReader", title="Object reader", permissions=["storage.objects.get"]
)
# Spelled out, as programs do when the grant must read the same in every preview (a preview
# does not know the `name` output).
project_grant("reject-custom-reader", pulumi.Output.concat("projects/", PROJECT, "/roles/", reader.role_id))
gcp.storage.BucketIAMMember("reject-convenience", bucket=bucket.name, role="roles/storage.objectAdmin",
                            member=f"projectEditor:{PROJECT}")  # fmt: skip

# accepted: write power on one bucket, the gcf-v2-sources bucket and its objects named exactly by a condition,
# project-scoped-by-nature roles, IAM admin limited to granting one harmless role, a service agent's own role
gcp.storage.BucketIAMMember("accept-bucket-writer", bucket=bucket.name, role="roles/storage.objectUser",
                            member=app.member)  # fmt: skip
SOURCES = "projects/_/buckets/gcf-v2-sources-123456789012-us-central1"
project_grant(
    "accept-gcf-sources",
    "roles/storage.objectViewer",
    f'resource.name == "{SOURCES}" || resource.name.startsWith("{SOURCES}/objects/")',
)
# rejected: admin on one bucket for a workload identity (it can open the bucket to anyone); the gcf-v2-sources
# bucket by a bare prefix, which also matches the same bucket name of every region numbered on from us-central1
gcp.storage.BucketIAMMember("reject-bucket-admin", bucket=bucket.name, role="roles/storage.admin", member=app.member)
project_grant("reject-gcf-sources-prefix", "roles/storage.objectViewer", f'resource.name.startsWith("{SOURCES}")')
project_grant("accept-log-writer", "roles/logging.logWriter")
project_grant("accept-metric-writer", "roles/monitoring.metricWriter")
project_grant(
    "accept-limited-iam-admin",
    "roles/resourcemanager.projectIamAdmin",
    "api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly(['roles/logging.logWriter'])",
)
gcp.projects.IAMMember(
    "accept-agent-role",
    project=PROJECT,
    role="roles/run.serviceAgent",
    member="serviceAccount:service-123456789012@serverless-robot-prod.iam.gserviceaccount.com",
)

# rejected: switching off organization policy constraints; minting Kubernetes tokens (and so Workload Identity
# bound service accounts' tokens) across the project
project_grant("reject-org-policy-admin", "roles/orgpolicy.policyAdmin")
project_grant("reject-gke-developer", "roles/container.developer")

# accepted: one bucket and its objects by name (a disjunction whose alternatives each name it), a secret's
# versions below a path boundary
project_grant(
    "accept-bucket-and-objects",
    "roles/storage.objectAdmin",
    'resource.name == "projects/_/buckets/reports" || resource.name.startsWith("projects/_/buckets/reports/objects/")',
)
project_grant("accept-secret-versions", "roles/secretmanager.secretAccessor",
              'resource.name.startsWith("projects/123456789012/secrets/api-token/")')  # fmt: skip

# noted: a prefix that ends mid-name also covers every bucket whose name starts with it
project_grant("note-partial-prefix", "roles/storage.objectViewer", 'resource.name.startsWith("projects/_/buckets/rep")')
