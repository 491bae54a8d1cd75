"""Workload identity federation from GitHub and bucket access: open or loosely pinned providers and ACL
buckets (rejected) next to a provider pinned to a repository id and an IAM-only bucket (accepted)."""

import pulumi_gcp as gcp

pool = gcp.iam.WorkloadIdentityPool("github", workload_identity_pool_id="github")
GITHUB = gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri="https://token.actions.githubusercontent.com")
MAPPING = {"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"}


def provider(name: str, condition: str | None) -> None:
    gcp.iam.WorkloadIdentityPoolProvider(
        name,
        workload_identity_pool_id=pool.workload_identity_pool_id,
        workload_identity_pool_provider_id=name,
        oidc=GITHUB,
        attribute_mapping=MAPPING,
        attribute_condition=condition,
    )


provider("reject-no-condition", None)
provider("reject-sub-pattern", "assertion.sub.startsWith('repo:acme')")
provider("accept-repository-id", "assertion.repository_id == '123456789' && assertion.ref == 'refs/heads/main'")

gcp.storage.Bucket("reject-acl-bucket", location="US", labels={"app": "t"})
gcp.storage.Bucket("accept-iam-bucket", location="US", uniform_bucket_level_access=True,
                   public_access_prevention="enforced", labels={"app": "t"})  # fmt: skip

# Buildkite's agents of every organization share one issuer; a GitHub subject pinned up to its repository.
gcp.iam.WorkloadIdentityPoolProvider(
    "accept-buildkite-organization", workload_identity_pool_id=pool.workload_identity_pool_id,
    workload_identity_pool_provider_id="buildkite",
    oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri="https://agent.buildkite.com"),
    attribute_mapping={"google.subject": "assertion.sub"},
    attribute_condition="assertion.organization_id == '0184990a-477b-4fa8-9968-496074483cee'",
)  # fmt: skip
gcp.iam.WorkloadIdentityPoolProvider(
    "reject-buildkite-pipeline-only", workload_identity_pool_id=pool.workload_identity_pool_id,
    workload_identity_pool_provider_id="buildkite-pipeline",
    oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri="https://agent.buildkite.com"),
    attribute_mapping={"google.subject": "assertion.sub"},
    attribute_condition="assertion.pipeline_slug == 'deploy'",  # every organization has a pipeline named deploy
)  # fmt: skip
provider("accept-subject-prefix", "google.subject.startsWith('repo:acme/app:') && assertion.ref == 'refs/heads/main'")
provider("reject-always-true", "assertion.repository_id == '1' || 1 == 1")
