"""Review findings against secure-invoke-guardrails, as a program: every `miss-*` resource is dangerous and
should draw a mandatory finding but passes today; every `fp-*` resource is a sound design that should pass but
is rejected today (tests/policies/test_review_findings.py). `ok-*` resources support the cases."""

from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_gcp as gcp

PROJECT = "si-pack-1234"
REGION = "us-central1"
DEFAULT_COMPUTE = "123456789012-compute@developer.gserviceaccount.com"
GITHUB = "https://token.actions.githubusercontent.com"


def soon(days: float = 2) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(cls: type, expression: pulumi.Input[str]):
    return cls(title="review", expression=expression)


ci = gcp.serviceaccount.Account("ok-ci", account_id="ci-deployer")
worker_sa = gcp.serviceaccount.Account("ok-worker-sa", account_id="worker-runtime")
api_sa = gcp.serviceaccount.Account("ok-api-sa", account_id="api-runtime")
batch_sa = gcp.serviceaccount.Account("ok-batch-sa", account_id="batch-runtime")
operator = gcp.serviceaccount.Account("ok-operator", account_id="worker-operator")
pool = gcp.iam.WorkloadIdentityPool("ok-pool", workload_identity_pool_id="github")

worker = gcp.cloudrunv2.Service(
    "ok-worker",
    name="worker",
    location=REGION,
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    deletion_protection=False,
    labels={"app": "review"},
    template=gcp.cloudrunv2.ServiceTemplateArgs(
        service_account=worker_sa.email,
        containers=[gcp.cloudrunv2.ServiceTemplateContainerArgs(image="us-docker.pkg.dev/cloudrun/container/hello")],
    ),
)
gcp.cloudrunv2.Job(
    "ok-batch",
    name="batch",
    location=REGION,
    deletion_protection=False,
    labels={"app": "review"},
    template=gcp.cloudrunv2.JobTemplateArgs(
        template=gcp.cloudrunv2.JobTemplateTemplateArgs(
            service_account=batch_sa.email,
            containers=[
                gcp.cloudrunv2.JobTemplateTemplateContainerArgs(image="us-docker.pkg.dev/cloudrun/container/job")
            ],
        )
    ),
)

# --- misses: dangerous, and nothing is reported ---------------------------------------------------------------

# A user-managed account whose id merely looks like a Google service agent's (service-<digits>) is exempt from
# every scope judgement: project-wide TokenCreator = every service account of the project.
# (A literal member, as for an account that already exists: one created in the same run is unknown in the first
# preview, which rejects it by accident.)
gcp.projects.IAMMember("miss-agent-lookalike-token-creator", project=PROJECT,
                       role="roles/iam.serviceAccountTokenCreator",
                       member=f"serviceAccount:service-104729@{PROJECT}.iam.gserviceaccount.com")  # fmt: skip
gcp.organizations.IAMMember("miss-agent-lookalike-org-admin", org_id="123456789",
                            role="roles/resourcemanager.organizationAdmin",
                            member=f"serviceAccount:service-104729@{PROJECT}.iam.gserviceaccount.com")  # fmt: skip

# With allowedMemberDomains set (meant for user:/group: of the company), the whole domain may hold
# organization-wide TokenCreator (run by the test with that config; without it no-broad-principals rejects it).
gcp.organizations.IAMMember("miss-domain-org-token-creator", org_id="123456789",
                            role="roles/iam.serviceAccountTokenCreator", member="domain:acme.example")  # fmt: skip

# "Resource scope" conditions that name a zone, or a one-letter prefix, not a resource.
gcp.projects.IAMMember(
    "miss-zone-wide-instance-admin", project=PROJECT, role="roles/compute.instanceAdmin.v1", member=ci.member,
    condition=condition(gcp.projects.IAMMemberConditionArgs,
                        f'resource.name.startsWith("projects/{PROJECT}/zones/us-central1-a")'),
)  # fmt: skip
gcp.projects.IAMMember(
    "miss-prefix-bucket-object-admin", project=PROJECT, role="roles/storage.objectAdmin", member=ci.member,
    condition=condition(gcp.projects.IAMMemberConditionArgs, 'resource.name.startsWith("projects/_/buckets/a")'),
)  # fmt: skip

# A CEL line comment opens a "string" for the pack's reader: the `|| true` after it is invisible to the pack,
# so a standing grant reads as a 2-day one (cel-cpp evaluates the expression to true in 2030).
gcp.serviceaccount.IAMMember(
    "miss-comment-hides-or-person", service_account_id=operator.name,
    role="roles/iam.serviceAccountOpenIdTokenCreator", member="user:mallory@acme.example",
    condition=condition(gcp.serviceaccount.IAMMemberConditionArgs,
                        f'request.time < timestamp("{soon()}") && true // "\n|| true'),
)  # fmt: skip
gcp.iam.WorkloadIdentityPoolProvider(
    "miss-comment-hides-or-federation", workload_identity_pool_id=pool.workload_identity_pool_id,
    workload_identity_pool_provider_id="gh-comment",
    oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB),
    attribute_mapping={"google.subject": "assertion.sub", "attribute.repository": "assertion.repository"},
    attribute_condition="assertion.repository_owner_id == '123456' && true // '\n|| true",
)  # fmt: skip

# Buildkite agents of every organization share one issuer (Buildkite's docs), like GitHub's; a condition that is
# always true is no condition, for any issuer.
gcp.iam.WorkloadIdentityPoolProvider(
    "miss-shared-issuer-trivial-condition", workload_identity_pool_id=pool.workload_identity_pool_id,
    workload_identity_pool_provider_id="buildkite",
    oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri="https://agent.buildkite.com"),
    attribute_mapping={"google.subject": "assertion.sub"},
    attribute_condition="true",
)  # fmt: skip

# A person with standing IAM admin on the operator account can grant themselves the token role at any time,
# with no expiry: just-in-time access is only as good as who may edit the account's policy.
gcp.serviceaccount.IAMMember("miss-person-standing-admin-of-operator", service_account_id=operator.name,
                             role="roles/iam.serviceAccountAdmin", member="user:dev@acme.example")  # fmt: skip

# Roles whose permissions mint credentials or run code as other identities but carry no class in power.py.
gcp.projects.IAMMember("miss-hmac-key-admin", project=PROJECT, role="roles/storage.hmacKeyAdmin", member=ci.member)
gcp.projects.IAMMember("miss-container-developer", project=PROJECT, role="roles/container.developer",
                       member=ci.member)  # fmt: skip

# Acting as the Compute Engine default account (roles/editor in most projects) is acting as an editor.
gcp.serviceaccount.IAMMember(
    "miss-act-as-default-account", service_account_id=f"projects/{PROJECT}/serviceAccounts/{DEFAULT_COMPUTE}",
    role="roles/iam.serviceAccountUser", member=ci.member,
)  # fmt: skip

# The invoker rule's role list is by name: roles that carry run.routes.invoke outside it are not judged, and
# neither is a project-level grant a condition confines to the one service.
gcp.cloudrunv2.ServiceIamMember("miss-invoker-by-run-editor", name=worker.name, location=REGION,
                                role="roles/run.editor", member=batch_sa.member)  # fmt: skip
gcp.projects.IAMMember(
    "miss-invoker-via-project-condition", project=PROJECT, role="roles/run.invoker", member=batch_sa.member,
    condition=condition(gcp.projects.IAMMemberConditionArgs,
                        worker.name.apply(lambda n: f'resource.name == "projects/{PROJECT}/locations/{REGION}/services/{n}"')),
)  # fmt: skip

# Serverless callers and builders that fall back to a default account, outside the list of identity slots.
gcp.workflows.Workflow("miss-workflow-default-identity", region=REGION, deletion_protection=False,
                       source_contents="main:\n  steps:\n  - done:\n      return: ok\n")  # fmt: skip
gcp.cloudbuild.Trigger(
    "miss-build-trigger-default-identity", location=REGION, filename="cloudbuild.yaml",
    github=gcp.cloudbuild.TriggerGithubArgs(owner="acme", name="app",
                                            push=gcp.cloudbuild.TriggerGithubPushArgs(branch="^main$")),
)  # fmt: skip

# --- false positives: sound designs that are rejected ---------------------------------------------------------

# The caller gets the worker's URL as a command-line flag, not an env var: not provably wrong, yet mandatory.
api = gcp.cloudrunv2.Service(
    "ok-api",
    name="api",
    location=REGION,
    ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
    deletion_protection=False,
    labels={"app": "review"},
    template=gcp.cloudrunv2.ServiceTemplateArgs(
        service_account=api_sa.email,
        containers=[
            gcp.cloudrunv2.ServiceTemplateContainerArgs(
                image="us-docker.pkg.dev/cloudrun/container/hello",
                args=worker.uri.apply(lambda uri: ["--worker-url", uri]),
            )
        ],
    ),
)
gcp.cloudrunv2.ServiceIamMember("fp-caller-url-in-args", name=worker.name, location=REGION,
                                role="roles/run.invoker", member=api_sa.member)  # fmt: skip

# Inline node pools with a dedicated account: GKE creates no default pool, yet the cluster's (absent)
# nodeConfig is reported as running on the default account.
nodes = gcp.serviceaccount.Account("ok-nodes", account_id="gke-nodes")
gcp.container.Cluster(
    "fp-inline-node-pools", location=REGION, deletion_protection=False,
    node_pools=[gcp.container.ClusterNodePoolArgs(
        name="main", initial_node_count=1,
        node_config=gcp.container.ClusterNodePoolNodeConfigArgs(
            service_account=nodes.email, oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"]),
    )],
)  # fmt: skip

# A GitHub provider pinned by subject prefix to one repository (only acme/app mints `repo:acme/app:...`).
gcp.iam.WorkloadIdentityPoolProvider(
    "fp-github-sub-prefix", workload_identity_pool_id=pool.workload_identity_pool_id,
    workload_identity_pool_provider_id="gh-sub-prefix",
    oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB),
    attribute_mapping={"google.subject": "assertion.sub"},
    attribute_condition="assertion.sub.startsWith('repo:acme/app:')",
)  # fmt: skip

# Secret Manager names secrets by project number in IAM conditions, so the confining condition is built from the
# secret's computed name. Accepted once known (`pulumi up`), but unknown in every preview, and an unknown
# condition is read as "no condition": the preview (and so the preview step of the first `pulumi up`) is blocked.
token = gcp.secretmanager.Secret("ok-token", secret_id="api-token", labels={"app": "review"},
                                 replication=gcp.secretmanager.SecretReplicationArgs(
                                     auto=gcp.secretmanager.SecretReplicationAutoArgs()))  # fmt: skip
gcp.projects.IAMMember(
    "fp-preview-secret-condition", project=PROJECT, role="roles/secretmanager.secretAccessor", member=api_sa.member,
    condition=condition(gcp.projects.IAMMemberConditionArgs,
                        token.name.apply(lambda n: f'resource.name.startsWith("{n}/")')),
)  # fmt: skip
