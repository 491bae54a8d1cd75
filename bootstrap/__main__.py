"""Bootstrap: the identities CI uses to preview and deploy secure-invoke, federated from GitHub OIDC.

Run by a human project owner, rarely, with their own credentials (never from CI: this program grants
the powers CI runs with). Creates, in the CI project (`gcp:project`):
- workload identity pools, each with one GitHub OIDC provider whose attribute condition is the hard gate.
  All pin this repository (name and numeric id) and the workflow file (`job_workflow_ref`) and event:
  `github-deploy-<env>` admits only deploy.yml on main (push or manual run) in that environment's GitHub
  environment (`githubEnvironment`; a production tier's has required reviewers, the human gate);
  `github-preview` admits only pull-request.yml on pull requests, and deploy.yml's preview of merged main for
  production tiers (GitHub environment `plan-<env>`).
- per environment a deployer service account, a Pulumi state bucket and a KMS key for stack secrets;
- per environment a read-only previewer for previews (state read, secrets decrypt, no write).
And, in each environment's project, the deployer's project roles (`project_roles`: `DEPLOYER_PROJECT_ROLES`,
and those only some stacks need, each with its reason), the APIs the stack calls, and per account of the stack
(`account_roles`): `roles/iam.serviceAccountUser` on each account a workload runs as, with the custom
`secureInvokeServiceAccountManager` (no `setIamPolicy`), or `roles/iam.serviceAccountAdmin` on an account whose
IAM the stack sets. Never a role on the project's accounts at large. What it holds is what preflight's deployer
check computes the stack needs, nothing unused (CI runs it for every environment).

The environments are stacks of the main program, named in `environments`: each one's project, tier, service
accounts, declared callers and `legacyPubsubServiceAgent` come from its own `Pulumi.<env>.yaml`.

Order on a new environment (docs/ci-cd.md, "First deploy"): the workload identities are created by the main
stack, so the first `up` here runs with `grantRuntimeActAs: false`, the owner's first `up` of the main stack
then creates them (in every environment), and a second `up` here adds the per-account grants (actAs, manage, admin).

Beside this file: `bootstrap_settings.py` reads and checks the config, `github_federation.py` holds the
attribute conditions, pools and federated CI accounts; this file holds the deployer's roles and wires it all.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_gcp as gcp
from bootstrap_settings import Environment, Settings, load_settings
from github_federation import (
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
ACCOUNT_MANAGER = "account-manager"  # stands for the custom role in `account_roles` (its name is per project)
# The deployer's roles on the accounts of the main stack (resource scope), granted once they exist.
ACCOUNT_ROLES: dict[str, str] = {
    SA_USER: "actAs: deploy the workloads (function, worker, declared callers) running as these identities",
    ACCOUNT_MANAGER: "read, update and delete the account (secureInvokeServiceAccountManager: no setIamPolicy)",
    SA_ADMIN: "setIamPolicy where the stack sets the account's IAM (the operator account's just-in-time grants; "
    "the trigger account with legacyPubsubServiceAgent), and manage it",
}
# The account whose IAM the stack sets only with `legacyPubsubServiceAgent` (the Pub/Sub agent's TokenCreator).
TRIGGER_ACCOUNT = "relay-trigger"


def account_roles(environment: Environment, account_id: str, runs_a_workload: bool) -> tuple[str, ...]:
    """The deployer's roles on one account of the main stack (`Environment.accounts`: the stack file's own and
    its declared callers'). It acts as the workloads' identities and manages them; `serviceAccountAdmin`
    (setIamPolicy) only where the stack sets the account's IAM: the operator account people borrow, which runs
    nothing (its expiring grants change whenever one expires, without a change to the stack file), and the
    trigger account when `legacyPubsubServiceAgent` is set. tests/cicd checks this against what the main stack
    registers; preflight's deployer check (CI) that every role is used."""
    if not runs_a_workload:
        return (SA_ADMIN,)
    if environment.legacy_pubsub_agent and account_id == f"{TRIGGER_ACCOUNT}-{environment.name}":
        return (SA_USER, SA_ADMIN)
    return (SA_USER, ACCOUNT_MANAGER)


# Project roles a deployer needs to create, update and delete one environment of the main stack, as preflight's
# deployer check computes them from the provider's calls (`--deployer`, run by CI on every pull request for every
# environment: a role here that the stack does not need fails it as unused). Each is broader than the stack's own
# least-privilege grants by nature: creating a resource type and setting IAM on it needs that type's admin role.
# bootstrap/policy-config.json exempts exactly the grants the pack rejects. Not here, and why (the check reports
# each as unused): serviceAccountCreator (the owner's first `up` creates every account; the deployer only
# manages them), eventarc.developer (every permission of it is in cloudfunctions.developer; the function creates
# its trigger), browser (resourcemanager.projects.get and getIamPolicy come with the admin roles below).
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
# Project roles only a stack that alerts on operator token mints needs (tier production, from its stack file).
ALERT_PROJECT_ROLES: dict[str, str] = {
    "roles/monitoring.alertPolicyEditor": "create the alert on operator token mints (alert policies only)",
}
# Project roles per kind of declared caller (`callers` in the stack file), given only when a caller of that kind is
# declared. A push subscription and its dead-letter grants need nothing beyond pubsub.admin; a workload elsewhere
# (`service-account`) nothing at all.
CALLER_PROJECT_ROLES: dict[str, dict[str, str]] = {
    "scheduler": {"roles/cloudscheduler.admin": "create the declared callers' Cloud Scheduler jobs"},
    "cloud-tasks": {"roles/cloudtasks.queueAdmin": "create the declared callers' Cloud Tasks queues"},
    "workflows": {"roles/workflows.editor": "create the declared callers' workflows"},
}
# On a topic of another project a push caller subscribes to: the predefined role with
# pubsub.topics.attachSubscription (on a topic it gives nothing else: consume and seek are on subscriptions).
FOREIGN_TOPIC_ROLE = "roles/pubsub.subscriber"
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
# IAM Credentials for operators' tokens; and per declared caller kind its product's. Enabled by the owner's
# bootstrap; never disabled by it.
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
CALLER_APIS: dict[str, str] = {
    "scheduler": "cloudscheduler.googleapis.com",
    "cloud-tasks": "cloudtasks.googleapis.com",
    "workflows": "workflows.googleapis.com",
}
# Roles the deployer may hand out at project level through projectIamAdmin, enforced by IAM itself. IAM
# cannot see the condition of the binding being added, so objectViewer could also be granted unconditioned;
# the deployer holds storage.admin on the project already, so that would give it nothing it lacks.
DELEGATED_PROJECT_ROLES = ("roles/logging.logWriter", "roles/storage.objectViewer")


def project_roles(environment: Environment) -> dict[str, str]:
    """The deployer's project roles in `environment`, role → reason: the roles every stack needs, the alert's
    where the stack alerts, and one per kind of declared caller."""
    roles = dict(DEPLOYER_PROJECT_ROLES)
    if environment.operator_token_alert:
        roles |= ALERT_PROJECT_ROLES
    for kind in sorted(environment.caller_kinds):
        roles |= CALLER_PROJECT_ROLES.get(kind, {})
    return roles


def environment_apis(environment: Environment) -> tuple[str, ...]:
    """The APIs `environment`'s stack calls: every stack's, and each declared caller kind's."""
    callers = {CALLER_APIS[kind] for kind in environment.caller_kinds if kind in CALLER_APIS}
    return tuple(sorted({*ENVIRONMENT_APIS, *callers}))


def deployer_grants(environment: Environment, member: pulumi.Output[str], settings: Settings) -> None:
    """The deployer's roles in its environment's project: the project roles, the log-metrics custom role,
    and (second pass) its roles on each account of the stack."""
    env, project = environment.name, environment.project
    for role in project_roles(environment):
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

    # The owner running this needs setIamPolicy on that topic, or its owner grants the same (docs/ci-cd.md).
    for topic in environment.foreign_topics:
        _, topic_project, _, topic_id = topic.split("/")
        gcp.pubsub.TopicIAMMember(
            f"deployer-{env}-attach-{topic_project}-{topic_id}",
            topic=topic,
            role=FOREIGN_TOPIC_ROLE,
            member=member,
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
        for account_id, runs_a_workload in environment.accounts.items():
            email = f"{account_id}@{project}.iam.gserviceaccount.com"
            # Named by the account's id without the environment, as before environments were free.
            account = account_id.removesuffix(f"-{env}")
            for role in account_roles(environment, account_id, runs_a_workload):
                kind = {SA_USER: "actas", SA_ADMIN: "admin"}.get(role, "manage")
                gcp.serviceaccount.IAMMember(
                    f"deployer-{env}-{kind}-{account}",
                    service_account_id=f"projects/{project}/serviceAccounts/{email}",
                    role=f"projects/{project}/roles/{ACCOUNT_MANAGER_ROLE_ID}" if role == ACCOUNT_MANAGER else role,
                    member=member,
                    opts=pulumi.ResourceOptions(depends_on=[account_manager]) if role == ACCOUNT_MANAGER else None,
                )


def enable_apis(environment: Environment) -> None:
    """The APIs the environment's stack calls, enabled in its project (kept when the bootstrap is destroyed)."""
    for api in environment_apis(environment):
        gcp.projects.Service(
            f"{environment.name}-{api.removesuffix('.googleapis.com')}",
            project=environment.project,
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
    target: Environment, settings: Settings, preview_pool: pulumi.Output[str], deploy_pool: pulumi.Output[str],
    key_ring: gcp.kms.KeyRing,
) -> dict[str, Any]:  # fmt: skip
    """One environment's previewer and deployer, their grants, state and key; returns its stack outputs."""
    env = target.name
    # Deployers: the whole deploy pool of their environment, whose condition admits only deploy.yml's job
    # in that environment. Previewers: by subject (`repo:<r>:environment:<e>`) within the preview pool;
    # a production tier's pull-request preview runs branch code with its state and secrets readable, so its
    # environment `preview-<env>` has reviewers, and deploy.yml's preview of merged main uses `plan-<env>`.
    preview_environments = target.preview_environments
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
    deployer_grants(target, deployer_member, settings)
    enable_apis(target)
    state, key = state_and_secrets(env, settings, key_ring, deployer_member, previewer_member)
    gcp.projects.IAMMember(
        f"previewer-{env}-browser", project=target.project, role="roles/browser", member=previewer_member
    )
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
    key_ring = gcp.kms.KeyRing("pulumi-state", name="pulumi-state", location=settings.region)

    exports: dict[str, Any] = {"workload_identity_provider_preview": preview_provider}
    for target in settings.environments:
        reviewed = "reviewed " if target.tier == "production" else ""
        pool, provider = github_pool(
            f"github-deploy-{target.name}",
            deploy_condition(settings, target.github_environment),
            f"deploy.yml on main (push or manual run) in the {reviewed}GitHub environment {target.github_environment}: "
            f"{target.name} deploys",
            project_number,
        )
        exports[f"workload_identity_provider_{target.name}"] = provider
        exports |= environment(target, settings, preview_pool, pool, key_ring)
    for name, value in exports.items():
        pulumi.export(name, value)


main()
