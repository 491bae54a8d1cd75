"""Bootstrap: the identities CI uses to preview and deploy secure-invoke, federated from GitHub OIDC.

Run by a human project owner, rarely, with their own credentials (never from CI: this program grants
the powers CI runs with). Creates, in the CI project (`gcp:project`):
- three workload identity pools, each with one GitHub OIDC provider whose attribute condition is the hard
  gate. All pin this repository (name and numeric id) and the workflow file (`job_workflow_ref`) and event:
  `github-deploy-dev` / `github-deploy-prod` admit only deploy.yml on main (push or manual run) in the GitHub
  environment `dev` / `production` (whose required reviewers are the human gate); `github-preview` admits
  only pull-request.yml on pull requests, and deploy.yml's prod preview on main (environment `plan-prod`).
- per environment a deployer service account, a Pulumi state bucket and a KMS key for stack secrets;
- per environment a read-only previewer for previews (state read, secrets decrypt, no write).
And, in each environment's project, the deployer's project roles (`DEPLOYER_PROJECT_ROLES`, each with its
reason) and `roles/iam.serviceAccountUser` + `roles/iam.serviceAccountAdmin` on that environment's
runtime identities only (project level: `serviceAccountCreator`, which cannot touch existing accounts).

Order on a new environment (docs/ci-cd.md, "Setting up an environment end to end"): the runtime identities
are created by the main stack, so the first `up` here runs with `grantRuntimeActAs: false`, the main stack's
service accounts are then created (in every environment), and a second `up` here adds the per-account grants
(actAs, admin).

Beside this file: `bootstrap_settings.py` reads and checks the config, `github_federation.py` holds the
attribute conditions, pools and federated CI accounts; this file holds the deployer's roles and wires it all.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
from bootstrap_settings import ENVIRONMENTS, Settings, load_settings
from github_federation import (
    DEV_GITHUB_ENVIRONMENT,
    PROD_GITHUB_ENVIRONMENT,
    PROD_PLAN_ENVIRONMENT,
    PROD_PREVIEW_ENVIRONMENT,
    deploy_condition,
    federated_account,
    github_pool,
    preview_condition,
    principal_set,
    subject,
)

LABELS = {"app": "secure-invoke", "component": "ci-bootstrap"}

SA_USER = "roles/iam.serviceAccountUser"
SA_ADMIN = "roles/iam.serviceAccountAdmin"
# Manage an existing account without power over who may use it: no setIamPolicy (with it the deployer could grant
# itself TokenCreator and mint tokens as the account), no create (the owner's first `up` creates the accounts).
# What the provider calls to read, update (display name, description, enable/disable) and delete an account.
ACCOUNT_MANAGER_ROLE_ID = "secureInvokeServiceAccountManager"
ACCOUNT_MANAGER_PERMISSIONS = (
    "iam.serviceAccounts.delete",
    "iam.serviceAccounts.disable",
    "iam.serviceAccounts.enable",
    "iam.serviceAccounts.get",
    "iam.serviceAccounts.update",
)
ACCOUNT_MANAGER = "account-manager"  # stands for the custom role in RUNTIME_ACCOUNTS (its name is per project)
# The main stack's identities per environment (account ids `<name>-<env>`) and the deployer's roles on each:
# it may act as the workloads' identities and manage them, nothing else; the operator account runs nothing and
# the stack sets its IAM (the just-in-time grants of operator access), so there it holds serviceAccountAdmin.
# tests/cicd checks this against what the main stack registers; preflight's deployer check that it is all used.
RUNTIME_ACCOUNTS: dict[str, tuple[str, ...]] = {
    "relay-runtime": (SA_USER, ACCOUNT_MANAGER),
    "relay-trigger": (SA_USER, ACCOUNT_MANAGER),
    "relay-build": (SA_USER, ACCOUNT_MANAGER),
    "worker-runtime": (SA_USER, ACCOUNT_MANAGER),
    "worker-operator": (SA_ADMIN,),
}

# Project roles a deployer needs to create, update and delete one environment of the main stack, as preflight's
# deployer check computes them from the provider's calls (`--deployer`, run by CI on every pull request: a role
# here that the stack does not need fails it as unused). Each is broader than the stack's own least-privilege
# grants by nature: creating a resource type and setting IAM on it needs that type's admin role.
# bootstrap/policy-config.json exempts exactly these grants. Not here, and why (the check reports each as unused):
# serviceAccountCreator (the owner's first `up` creates every account; the deployer only manages them),
# eventarc.developer (every permission of it is in cloudfunctions.developer; the function creates its trigger),
# browser (resourcemanager.projects.get and getIamPolicy come with the admin roles below).
DEPLOYER_PROJECT_ROLES: dict[str, str] = {
    "roles/run.admin": "create the worker service and grant run.invoker on it and on the relay's Cloud Run "
    "service; run.developer cannot set IAM",
    "roles/cloudfunctions.developer": "create and update the gen2 relay function and its Eventarc trigger",
    "roles/pubsub.admin": "create the jobs and rotation topics and grant publisher on the rotation topic",
    "roles/storage.admin": "create the function source bucket, upload source archives, grant objectViewer "
    "to the build account",
    "roles/artifactregistry.admin": "create both repositories with cleanup policies, grant writer to the "
    "build account, push the worker image",
    "roles/secretmanager.admin": "create secrets with rotation and grant secretAccessor per secret",
    # Nothing for gcp:projects/serviceIdentity (the Secret Manager agent): Service Usage's
    # generateServiceIdentity needs no IAM permission and answers with a finished operation (README, CI/CD).
    "roles/resourcemanager.projectIamAdmin": "grant the build account roles/logging.logWriter and its "
    "conditioned roles/storage.objectViewer at project level, and set the IAM Data Access audit config; an IAM "
    "condition limits it to granting exactly those roles",
}
# Project roles only some environments need: the alert on operator token mints exists in prod only.
ENVIRONMENT_PROJECT_ROLES: dict[str, dict[str, str]] = {
    "prod": {"roles/monitoring.alertPolicyEditor": "create the alert on operator token mints (alert policies only)"},
}
# The deployer's roles on each of the runtime accounts (resource scope), granted once they exist.
RUNTIME_ACCOUNT_ROLES: dict[str, str] = {
    SA_USER: "actAs: deploy the function and the worker running as these identities",
    ACCOUNT_MANAGER: "read, update and delete the account (secureInvokeServiceAccountManager: no setIamPolicy)",
    SA_ADMIN: "the operator account only: setIamPolicy for operator access's just-in-time grants, and manage it",
}
# No predefined role writes log-based metrics without also writing sinks and exclusions (logging.configWriter),
# which could route or drop the very audit logs the metrics count. A custom role per environment project, with
# what the provider calls for a metric (create, get, update, delete).
LOG_METRICS_ROLE_ID = "secureInvokeLogMetricsWriter"
LOG_METRICS_PERMISSIONS = (
    "logging.logMetrics.create",
    "logging.logMetrics.delete",
    "logging.logMetrics.get",
    "logging.logMetrics.update",
)
# The APIs each environment's stack calls (preflight's deployer check lists what the plan needs and fails when
# one is not enabled here): the resources' own, Cloud Build, Eventarc and Cloud Run for the gen2 function,
# IAM Credentials for operators' tokens. Enabled once by the owner's bootstrap; never disabled by it.
ENVIRONMENT_APIS = (
    "artifactregistry.googleapis.com",
    "cloudbuild.googleapis.com",
    "cloudfunctions.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "eventarc.googleapis.com",
    "iam.googleapis.com",
    "iamcredentials.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "pubsub.googleapis.com",
    "run.googleapis.com",
    "secretmanager.googleapis.com",
    "serviceusage.googleapis.com",
    "storage.googleapis.com",
)
# Roles the deployer may hand out at project level through projectIamAdmin, enforced by IAM itself. IAM
# cannot see the condition of the binding being added, so objectViewer could also be granted unconditioned;
# the deployer holds storage.admin on the project already, so that would give it nothing it lacks.
DELEGATED_PROJECT_ROLES = ("roles/logging.logWriter", "roles/storage.objectViewer")


def deployer_grants(env: str, project: str, member: pulumi.Output[str], settings: Settings) -> None:
    """The deployer's roles in its environment's project: the project roles, the log-metrics custom role,
    and (second pass) its roles on each runtime account."""
    for role in {**DEPLOYER_PROJECT_ROLES, **ENVIRONMENT_PROJECT_ROLES.get(env, {})}:
        condition = None
        if role == "roles/resourcemanager.projectIamAdmin":
            allowed = ", ".join(f"'{r}'" for r in DELEGATED_PROJECT_ROLES)
            condition = gcp.projects.IAMMemberConditionArgs(
                title="only-delegated-roles",
                description="May grant or revoke only the project roles the main stack itself grants.",
                expression=f"api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([{allowed}])",
            )
        gcp.projects.IAMMember(
            f"deployer-{env}-{role.removeprefix('roles/').replace('.', '-').lower()}",
            project=project,
            role=role,
            member=member,
            condition=condition,
        )

    log_metrics_role = gcp.projects.IAMCustomRole(
        f"log-metrics-writer-{env}",
        project=project,
        role_id=LOG_METRICS_ROLE_ID,
        title="secure-invoke log-based metrics writer",
        description="Create and update log-based metrics; no sinks, exclusions or buckets.",
        permissions=list(LOG_METRICS_PERMISSIONS),
    )
    gcp.projects.IAMMember(
        f"deployer-{env}-log-metrics-writer",
        project=project,
        # Spelled out (the role's `name` output has this form) so the grant reads the same in every preview.
        role=f"projects/{project}/roles/{LOG_METRICS_ROLE_ID}",
        member=member,
        opts=pulumi.ResourceOptions(depends_on=[log_metrics_role]),
    )

    account_manager = gcp.projects.IAMCustomRole(
        f"account-manager-{env}",
        project=project,
        role_id=ACCOUNT_MANAGER_ROLE_ID,
        title="secure-invoke service account manager",
        description="Read, update and delete service accounts; no IAM on them, no create, no keys.",
        permissions=list(ACCOUNT_MANAGER_PERMISSIONS),
    )
    if settings.grant_runtime_act_as:
        for account, roles in RUNTIME_ACCOUNTS.items():
            email = f"{account}-{env}@{project}.iam.gserviceaccount.com"
            for role in roles:
                kind = {SA_USER: "actas", SA_ADMIN: "admin"}.get(role, "manage")
                gcp.serviceaccount.IAMMember(
                    f"deployer-{env}-{kind}-{account}",
                    service_account_id=f"projects/{project}/serviceAccounts/{email}",
                    role=f"projects/{project}/roles/{ACCOUNT_MANAGER_ROLE_ID}" if role == ACCOUNT_MANAGER else role,
                    member=member,
                    opts=pulumi.ResourceOptions(depends_on=[account_manager]) if role == ACCOUNT_MANAGER else None,
                )


def environment_apis(env: str, project: str) -> None:
    """The APIs the environment's stack calls, enabled in its project (kept when the bootstrap is destroyed)."""
    for api in ENVIRONMENT_APIS:
        gcp.projects.Service(
            f"{env}-{api.removesuffix('.googleapis.com')}",
            project=project,
            service=api,
            disable_on_destroy=False,
            disable_dependent_services=False,
        )


def state_and_secrets(
    env: str, settings: Settings, key_ring: gcp.kms.KeyRing, deployer: pulumi.Output[str], previewer: pulumi.Output[str]
) -> tuple[gcp.storage.Bucket, gcp.kms.CryptoKey]:
    """The environment's Pulumi state bucket and stack-secrets key: the deployer writes, the previewer reads."""
    state = gcp.storage.Bucket(
        f"state-{env}",
        name=f"{settings.ci_project}-pulumi-{env}",
        location=settings.region,
        uniform_bucket_level_access=True,
        public_access_prevention="enforced",
        versioning=gcp.storage.BucketVersioningArgs(enabled=True),
        force_destroy=False,
        labels=LABELS,
    )
    for who, member, role in (("deployer", deployer, "objectAdmin"), ("previewer", previewer, "objectViewer")):
        gcp.storage.BucketIAMMember(
            f"state-{env}-{who}", bucket=state.name, role=f"roles/storage.{role}", member=member
        )

    key = gcp.kms.CryptoKey(
        f"secrets-{env}",
        name=f"stack-secrets-{env}",
        key_ring=key_ring.id,
        rotation_period="7776000s",
        labels=LABELS,
        # Losing this key makes every stack secret unreadable; a `destroy` here must not take it along.
        opts=pulumi.ResourceOptions(protect=True),
    )
    for who, member, role in (
        ("deployer", deployer, "cryptoKeyEncrypterDecrypter"),
        ("previewer", previewer, "cryptoKeyDecrypter"),
    ):
        gcp.kms.CryptoKeyIAMMember(
            f"secrets-{env}-{who}", crypto_key_id=key.id, role=f"roles/cloudkms.{role}", member=member
        )
    return state, key


def environment(
    env: str, settings: Settings, preview_pool: pulumi.Output[str], deploy_pool: pulumi.Output[str],
    key_ring: gcp.kms.KeyRing,
) -> dict[str, Any]:  # fmt: skip
    """One environment's previewer and deployer, their grants, state and key; returns its stack outputs."""
    project = settings.projects[env]
    # Deployers: the whole deploy pool of their environment, whose condition admits only deploy.yml's job
    # in that environment. Previewers: by subject (`repo:<r>:environment:<e>`) within the preview pool;
    # prod's pull-request preview runs branch code with prod state and secrets readable, so its
    # environment `preview-prod` has reviewers, and deploy.yml's preview of merged main uses `plan-prod`.
    preview_environments = ["preview-dev"] if env == "dev" else [PROD_PREVIEW_ENVIRONMENT, PROD_PLAN_ENVIRONMENT]
    previewer, previewer_member = federated_account(
        f"previewer-{env}",
        f"CI previewer ({env}, read-only)",
        f"Pull-request `pulumi preview` of stack {env}: reads state, decrypts its secrets.",
        [subject(preview_pool, f"repo:{settings.repository}:environment:{e}") for e in preview_environments],
    )
    deployer, deployer_member = federated_account(
        f"deployer-{env}",
        f"CI deployer ({env})",
        f"`pulumi up` of stack {env} from GitHub Actions via workload identity federation.",
        [principal_set(deploy_pool, "repository", settings.repository)],
    )
    deployer_grants(env, project, deployer_member, settings)
    environment_apis(env, project)
    state, key = state_and_secrets(env, settings, key_ring, deployer_member, previewer_member)
    gcp.projects.IAMMember(f"previewer-{env}-browser", project=project, role="roles/browser", member=previewer_member)
    key_path = f"gcpkms://projects/{settings.ci_project}/locations/{settings.region}/keyRings/pulumi-state/cryptoKeys"
    return {
        f"deployer_{env}_email": deployer.email,
        f"previewer_{env}_email": previewer.email,
        f"backend_url_{env}": state.name.apply(lambda b: f"gs://{b}"),
        f"secrets_provider_{env}": key.name.apply(lambda k: f"{key_path}/{k}"),
    }


def main() -> None:
    settings = load_settings()

    # One pool per kind of caller: principals are per pool, so a token admitted for one purpose can never
    # match another's binding. Pool ids are 4-32 characters and stay reserved for 30 days after deletion.
    project_number = gcp.organizations.get_project_output(project_id=settings.ci_project).number
    preview_pool, preview_provider = github_pool(
        "github-preview",
        preview_condition(settings),
        "Read-only previews: pull-request.yml on pull requests, deploy.yml's prod preview on main",
        project_number,
    )
    deploy_pools = {
        "dev": github_pool(
            "github-deploy-dev",
            deploy_condition(settings, DEV_GITHUB_ENVIRONMENT),
            "deploy.yml on main (push or manual run) in the GitHub environment dev: dev deploys",
            project_number,
        ),
        "prod": github_pool(
            "github-deploy-prod",
            deploy_condition(settings, PROD_GITHUB_ENVIRONMENT),
            "deploy.yml on main (push or manual run) in the reviewed GitHub environment production: prod deploys",
            project_number,
        ),
    }
    key_ring = gcp.kms.KeyRing("pulumi-state", name="pulumi-state", location=settings.region)

    exports: dict[str, Any] = {"workload_identity_provider_preview": preview_provider}
    for env in ENVIRONMENTS:
        pool, provider = deploy_pools[env]
        exports[f"workload_identity_provider_{env}"] = provider
        exports |= environment(env, settings, preview_pool, pool, key_ring)
    for name, value in exports.items():
        pulumi.export(name, value)


main()
