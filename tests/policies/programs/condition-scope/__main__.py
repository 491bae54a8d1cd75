"""Condition scope: a project grant whose `resource.name` condition names one resource is a single-resource grant;
one whose prefix also matches other resources of the stack, or the same name in other regions (europe-west1 and
europe-west10), is not. Shapes: Cloud Functions' gen2 build bucket `gcf-v2-sources-<number>-<region>` (Google
creates it, so it is granted by condition before it exists), per-environment buckets and secrets named by prefix."""

import pulumi
import pulumi_gcp as gcp

PROJECT = "si-pack-1234"
PROJECT_NUMBER = "123456789012"
LABELS = {"app": "t"}
SOURCES = f"projects/_/buckets/gcf-v2-sources-{PROJECT_NUMBER}-europe-west1"

builder = gcp.serviceaccount.Account("builder", account_id="fn-build")
app = gcp.serviceaccount.Account("app", account_id="app-runtime")


def bucket(name: str) -> gcp.storage.Bucket:
    return gcp.storage.Bucket(name, name=name, location="EU", uniform_bucket_level_access=True,
                              public_access_prevention="enforced", labels=LABELS)  # fmt: skip


def secret(name: str) -> gcp.secretmanager.Secret:
    auto = gcp.secretmanager.SecretReplicationArgs(auto=gcp.secretmanager.SecretReplicationAutoArgs())
    return gcp.secretmanager.Secret(name, secret_id=name, replication=auto, labels=LABELS)


def confined(name: str, role: str, member: pulumi.Input[str], expression: str) -> None:
    gcp.projects.IAMMember(name, project=PROJECT, role=role, member=member,
                           condition=gcp.projects.IAMMemberConditionArgs(title=name, expression=expression))  # fmt: skip


for name in ("app-data", "app-data-archive", "reports"):
    bucket(name)
for name in ("db-password", "db-password-admin", "api-token"):
    secret(name)

# accepted: the gen2 build bucket and its objects, exactly (equality, then a prefix ending at `/objects/`)
confined("accept-gcf-sources-exact", "roles/storage.objectViewer", builder.member,
         f'resource.name == "{SOURCES}" || resource.name.startsWith("{SOURCES}/objects/")')  # fmt: skip
# rejected: the same bucket by a bare prefix, which also matches ...-europe-west10 and ...-europe-west12
confined("reject-gcf-sources-prefix", "roles/storage.objectViewer", builder.member,
         f'resource.name.startsWith("{SOURCES}")')  # fmt: skip
# rejected: a prefix meant for app-data that also matches the stack's app-data-archive
confined("reject-prefix-covers-archive", "roles/storage.objectAdmin", app.member,
         'resource.name.startsWith("projects/_/buckets/app-data")')  # fmt: skip
# rejected: a secret prefix that also matches the admin password
confined("reject-prefix-covers-admin-secret", "roles/secretmanager.secretAccessor", app.member,
         f'resource.name.startsWith("projects/{PROJECT_NUMBER}/secrets/db-password")')  # fmt: skip
# accepted: a prefix ending at a path boundary (the secret's versions), and the exact name of the only bucket
# of the stack that starts with it
confined("accept-secret-versions", "roles/secretmanager.secretAccessor", app.member,
         f'resource.name.startsWith("projects/{PROJECT_NUMBER}/secrets/api-token/")')  # fmt: skip
confined("accept-reports-by-name", "roles/storage.objectViewer", app.member,
         'resource.name.startsWith("projects/_/buckets/reports")')  # fmt: skip
# noted: a prefix ending mid-name that no resource of the stack is named
confined("note-prefix-of-nothing-here", "roles/storage.objectViewer", app.member,
         'resource.name.startsWith("projects/_/buckets/exports")')  # fmt: skip
