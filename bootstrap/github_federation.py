"""GitHub OIDC workload identity federation: the attribute conditions that pin this repository, its workflow
files and events, the pools and providers that enforce them, and the CI service accounts they may act as."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp
from bootstrap_settings import Settings

GITHUB_ISSUER = "https://token.actions.githubusercontent.com"
DEPLOY_BRANCH_REF = "refs/heads/main"
DEPLOY_WORKFLOW = ".github/workflows/deploy.yml"
PREVIEW_WORKFLOW = ".github/workflows/pull-request.yml"


def repository_condition(settings: Settings) -> str:
    condition = f"assertion.repository == '{settings.repository}'"
    if settings.repository_id:
        condition += f" && assertion.repository_id == '{settings.repository_id}'"
    return condition


def workflow_ref(settings: Settings, workflow: str, ref: str) -> str:
    """The `job_workflow_ref` claim of a job defined in `workflow` of this repository, run at `ref`."""
    return f"{settings.repository}/{workflow}@{ref}"


def main_workflow_condition(settings: Settings, environments: list[str]) -> str:
    """A job of deploy.yml on main, started by a push or a manual run, in one of the GitHub `environments`."""
    if len(environments) == 1:
        environment = f"assertion.environment == '{environments[0]}'"
    else:
        environment = "assertion.environment in [" + ", ".join(f"'{e}'" for e in environments) + "]"
    return (
        f"assertion.event_name in ['push', 'workflow_dispatch']"
        f" && assertion.ref == '{DEPLOY_BRANCH_REF}'"
        f" && assertion.job_workflow_ref == '{workflow_ref(settings, DEPLOY_WORKFLOW, DEPLOY_BRANCH_REF)}'"
        f" && {environment}"
    )


def deploy_condition(settings: Settings, environment: str) -> str:
    return f"{repository_condition(settings)} && {main_workflow_condition(settings, [environment])}"


def preview_condition(settings: Settings) -> str:
    """Pull-request previews (the pull-request workflow only), or deploy.yml's preview of merged main before a
    production tier's gate (GitHub environment `plan-<environment>`)."""
    pull_request = (
        "assertion.event_name == 'pull_request'"
        f" && assertion.job_workflow_ref.startsWith('{workflow_ref(settings, PREVIEW_WORKFLOW, 'refs/pull/')}')"
    )
    plans = [e for env in settings.environments for e in env.preview_environments if e.startswith("plan-")]
    if not plans:
        return f"{repository_condition(settings)} && {pull_request}"
    return f"{repository_condition(settings)} && (({pull_request}) || ({main_workflow_condition(settings, plans)}))"


def github_pool(
    name: str, condition: str, description: str, project_number: pulumi.Output[str]
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """(pool path, provider path): `projects/<n>/locations/global/workloadIdentityPools/<id>[/providers/<id>]`."""
    pool = gcp.iam.WorkloadIdentityPool(
        name,
        workload_identity_pool_id=name,
        display_name=name,
        description=description,
    )
    provider = gcp.iam.WorkloadIdentityPoolProvider(
        f"{name}-provider",
        workload_identity_pool_id=pool.workload_identity_pool_id,
        workload_identity_pool_provider_id="github",
        display_name="GitHub Actions",
        # The field holds at most 256 characters; the condition itself is the authoritative text.
        description=description[:256],
        oidc=gcp.iam.WorkloadIdentityPoolProviderOidcArgs(issuer_uri=GITHUB_ISSUER),
        # Every claim the condition reads is mapped too, so audit logs show which workflow and event got in.
        attribute_mapping={
            "google.subject": "assertion.sub",
            "attribute.repository": "assertion.repository",
            "attribute.repository_id": "assertion.repository_id",
            "attribute.ref": "assertion.ref",
            "attribute.event_name": "assertion.event_name",
            "attribute.job_workflow_ref": "assertion.job_workflow_ref",
        },
        # The hard gate: tokens failing it are rejected before any binding is looked at.
        attribute_condition=condition,
    )
    # Built from the project number rather than read from the provider's outputs: principals and the
    # auth action's input are these exact paths.
    pool_path = pulumi.Output.all(project_number, pool.workload_identity_pool_id).apply(
        lambda parts: f"projects/{parts[0]}/locations/global/workloadIdentityPools/{parts[1]}"
    )
    provider_path = pulumi.Output.all(pool_path, provider.workload_identity_pool_provider_id).apply(
        lambda parts: f"{parts[0]}/providers/{parts[1]}"
    )
    return pool_path, provider_path


def principal_set(pool_name: pulumi.Output[str], attribute: str, value: str) -> pulumi.Output[str]:
    # pool_name is `projects/<number>/locations/global/workloadIdentityPools/<id>`.
    return pool_name.apply(lambda name: f"principalSet://iam.googleapis.com/{name}/attribute.{attribute}/{value}")


def subject(pool_name: pulumi.Output[str], sub: str) -> pulumi.Output[str]:
    return pool_name.apply(lambda name: f"principal://iam.googleapis.com/{name}/subject/{sub}")


def federated_account(
    name: str, display_name: str, description: str, principals: list[pulumi.Output[str]]
) -> tuple[gcp.serviceaccount.Account, pulumi.Output[str]]:
    """A CI service account that the given federated principals may act as; returns (account, member)."""
    account = gcp.serviceaccount.Account(name, account_id=name, display_name=display_name, description=description)
    for index, principal in enumerate(principals):
        gcp.serviceaccount.IAMMember(
            f"{name}-wif" + (f"-{index}" if index else ""),
            service_account_id=account.name,
            role="roles/iam.workloadIdentityUser",
            member=principal,
        )
    return account, account.email.apply(lambda e: f"serviceAccount:{e}")
