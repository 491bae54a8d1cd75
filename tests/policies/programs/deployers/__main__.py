"""Deployers and builders. Accepted: Cloud Run's least-privilege deploy setup, as Google documents it for Cloud
Build and for any deployer account — roles/run.developer on the one service, roles/iam.serviceAccountUser on that
service's runtime account, roles/artifactregistry.writer on the repository — for a Cloud Build trigger's account
and for GitHub Actions through workload identity federation. Rejected: a builder with roles/run.admin on the
service it deploys (it can open it to anyone), build triggers and CI accounts with project-wide impersonation or
IAM admin, a build that may act as an account holding such power, and a runtime that could redeploy another
service. The same deploy setup for an account people borrow just in time is accepted too."""

from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_gcp as gcp

PROJECT = "si-pack-1234"
PROJECT_NUMBER = "123456789012"
REGION = "us-central1"
LABELS = {"app": "t"}
POOL = f"projects/{PROJECT_NUMBER}/locations/global/workloadIdentityPools/github"
GITHUB = gcp.cloudbuild.TriggerGithubArgs(owner="acme", name="app",
                                          push=gcp.cloudbuild.TriggerGithubPushArgs(branch="^main$"))  # fmt: skip


def until(days: float) -> str:
    moment = (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f'request.time < timestamp("{moment}")'


def account(name: str) -> gcp.serviceaccount.Account:
    return gcp.serviceaccount.Account(name, account_id=name)


def service(name: str, runtime: gcp.serviceaccount.Account, env: dict[str, pulumi.Input[str]] | None = None):
    return gcp.cloudrunv2.Service(
        name,
        name=name,
        location=REGION,
        ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
        deletion_protection=False,
        labels=LABELS,
        template=gcp.cloudrunv2.ServiceTemplateArgs(
            service_account=runtime.email,
            containers=[
                gcp.cloudrunv2.ServiceTemplateContainerArgs(
                    image=f"{REGION}-docker.pkg.dev/{PROJECT}/images/{name}:latest",
                    envs=[
                        gcp.cloudrunv2.ServiceTemplateContainerEnvArgs(name=k, value=v) for k, v in (env or {}).items()
                    ],
                )
            ],
        ),
    )


def trigger(name: str, builder: gcp.serviceaccount.Account) -> None:
    gcp.cloudbuild.Trigger(name, location=REGION, filename="cloudbuild.yaml", github=GITHUB, service_account=builder.id)


def on_service(name: str, target: gcp.cloudrunv2.Service, role: str, member: pulumi.Input[str]) -> None:
    gcp.cloudrunv2.ServiceIamMember(name, name=target.name, location=REGION, role=role, member=member)


def on_account(name: str, target: gcp.serviceaccount.Account, role: str, member: pulumi.Input[str]) -> None:
    gcp.serviceaccount.IAMMember(name, service_account_id=target.name, role=role, member=member)


def on_project(name: str, role: str, member: pulumi.Input[str]) -> None:
    gcp.projects.IAMMember(name, project=PROJECT, role=role, member=member)


images = gcp.artifactregistry.Repository("images", repository_id="images", location=REGION, format="DOCKER",
                                         labels=LABELS)  # fmt: skip
api_runtime, web_runtime, worker_runtime = account("api-runtime"), account("web-runtime"), account("worker-runtime")
api = service("api", api_runtime)
web = service("web", web_runtime)
worker = service("worker", worker_runtime)

# accepted: a Cloud Build trigger deploys api the least-privilege way (Cloud Build's and Cloud Run's docs)
api_builder = account("api-builder")
trigger("deploy-api", api_builder)
on_service("accept-builder-deploys-api", api, "roles/run.developer", api_builder.member)
on_account("accept-builder-acts-as-api", api_runtime, "roles/iam.serviceAccountUser", api_builder.member)
gcp.artifactregistry.RepositoryIamMember("accept-builder-pushes", repository=images.name, location=REGION,
                                         role="roles/artifactregistry.writer", member=api_builder.member)  # fmt: skip
on_project("accept-builder-logs", "roles/logging.logWriter", api_builder.member)

# accepted: GitHub Actions deploys web directly through workload identity federation, the same way
actions = f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/acme/web"
on_service("accept-actions-deploy-web", web, "roles/run.developer", actions)
on_account("accept-actions-act-as-web", web_runtime, "roles/iam.serviceAccountUser", actions)

# accepted: Google's deployer account for people: release managers borrow it just in time and it deploys admin
# the same least-privilege way (deploy role on the one service, actAs on its runtime account only)
admin_runtime, release = account("admin-runtime"), account("admin-release")
admin = service("admin", admin_runtime)
gcp.serviceaccount.IAMMember(
    "accept-release-managers-borrow",
    service_account_id=release.name,
    role="roles/iam.serviceAccountTokenCreator",
    member="group:release-managers@example.com",
    condition=gcp.serviceaccount.IAMMemberConditionArgs(title="release-window", expression=until(2)),
)
on_service("accept-release-deploys-admin", admin, "roles/run.developer", release.member)
on_account("accept-release-acts-as-admin", admin_runtime, "roles/iam.serviceAccountUser", release.member)

# rejected: a builder that can also set the IAM of the service it deploys (run.developer is enough)
worker_builder = account("worker-builder")
trigger("deploy-worker", worker_builder)
on_service("reject-builder-run-admin", worker, "roles/run.admin", worker_builder.member)
on_account("accept-builder-acts-as-worker", worker_runtime, "roles/iam.serviceAccountUser", worker_builder.member)

# rejected: a release trigger running as an account that acts as every account, or changes IAM, project-wide
release_builder = account("release-builder")
trigger("release", release_builder)
on_project("reject-builder-project-act-as", "roles/iam.serviceAccountUser", release_builder.member)
on_project("reject-builder-iam-admin", "roles/resourcemanager.projectIamAdmin", release_builder.member)

# rejected: a CI account that GitHub Actions borrows, with project-wide token creation
ci = account("ci-publisher")
on_account("accept-actions-borrow-ci", ci, "roles/iam.workloadIdentityUser",
           f"principalSet://iam.googleapis.com/{POOL}/attribute.repository/acme/app")  # fmt: skip
on_project("reject-ci-token-creator", "roles/iam.serviceAccountTokenCreator", ci.member)

# rejected: a build that may become an account with IAM admin over the project (and that account's own grant)
ops_admin = account("ops-admin")
on_account("reject-builder-borrows-admin", ops_admin, "roles/iam.serviceAccountTokenCreator", api_builder.member)
on_project("reject-ops-security-admin", "roles/iam.securityAdmin", ops_admin.member)

# rejected: worker's runtime could redeploy api (and run as api's account): a runtime is no deployer
on_service("reject-runtime-redeploys-api", api, "roles/run.developer", worker_runtime.member)
on_account("runtime-acts-as-api", api_runtime, "roles/iam.serviceAccountUser", worker_runtime.member)

pulumi.export("api_url", api.uri)
