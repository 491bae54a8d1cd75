"""The policies of secure-invoke-guardrails: one entry per rule, with its level, severity, config keys, the peer
checks it covers and what it catches (policies/README.md's policy table is generated from these: `make docs`)."""

from __future__ import annotations

from typing import Final

from pulumi_policy import EnforcementLevel, Policy

from . import (
    credentials,
    federation,
    humans,
    hygiene,
    identities,
    invokers,
    prefixes,
    public_access,
    role_power,
    roles,
    storage,
    workloads,
)
from .adapter import StackModels, policy
from .spec import ADVISORY, CRITICAL, GRANTS, HIGH, LOW, MANDATORY, MEDIUM, Spec, types

__all__ = ["PACK_NAME", "SPECS", "build_policies", "initial_config"]

PACK_NAME: Final = "secure-invoke-guardrails"
SPECS: Final[tuple[Spec, ...]] = (
    Spec(
        "no-public-members",
        "No allUsers/allAuthenticatedUsers in any IAM member, binding or policy (conditions do not help).",
        MANDATORY,
        severity=CRITICAL,
        resource_rule=public_access.no_public_members,
        types=GRANTS,
        peers=(
            "CKV_GCP_28",
            "CKV_GCP_99",
            "CKV_GCP_100",
            "CKV_GCP_101",
            "CKV_GCP_102",
            "CKV_GCP_107",
            "CKV_GCP_112",
            "CIS GCP 1.9",
            "CIS GCP 5.1",
            "CIS GCP 7.1",
        ),
        catches=(
            "`allUsers`/`allAuthenticatedUsers`/`principalSet://goog/public:all` in any member, binding or "
            "`policyData` of every `*IamMember/*IamBinding/*IamPolicy` type, even with a condition"
        ),
    ),
    Spec(
        "no-public-acls",
        "No allUsers/allAuthenticatedUsers in Cloud Storage ACLs (incl. public predefined ACLs) or BigQuery "
        "dataset access entries.",
        MANDATORY,
        severity=CRITICAL,
        resource_rule=public_access.no_public_acls,
        types=types(public_access.ACL_TYPES),
        peers=("CKV_GCP_15", "CIS GCP 5.1", "CIS GCP 7.1"),
        catches=(
            "the same through legacy Cloud Storage ACLs (incl. `publicRead`-style predefined ACLs) and BigQuery "
            "dataset access entries"
        ),
    ),
    Spec(
        "no-broad-principals",
        "No domain: members, whole Workspace customers, wildcard principalSets, or identities outside "
        "allowedMemberDomains (which waives only this finding, never the judgement of the role a domain holds).",
        MANDATORY,
        severity=HIGH,
        resource_rule=public_access.no_broad_principals,
        types=GRANTS,
        settings=("allowedMemberDomains",),
        catches=(
            "`domain:` members, a whole Workspace customer (`principalSet://goog/cloudIdentityCustomerId/…`), "
            "wildcard principal sets, all principals of a project/folder/org, and (with `allowedMemberDomains`) "
            "people outside those domains. `allowedMemberDomains` waives this finding only: the role a domain "
            "holds is still judged by scope"
        ),
    ),
    Spec(
        "invoker-iam-check-enabled",
        "Cloud Run services keep the invoker IAM check (invokerIamDisabled / invoker-iam-disabled annotation).",
        MANDATORY,
        severity=CRITICAL,
        resource_rule=public_access.invoker_iam_check_enabled,
        types=types(workloads.RUN_SERVICE_TYPES),
        catches="Cloud Run's invoker IAM check switched off (v2 flag, v1 annotation)",
    ),
    Spec(
        "no-service-account-keys",
        "No service account keys: workloads use their own identity, external callers federate.",
        MANDATORY,
        severity=HIGH,
        resource_rule=credentials.no_service_account_keys,
        types=types((credentials.GCP_PROVIDER, credentials.SERVICE_ACCOUNT_KEY)),
        peers=("CKV2_GCP_3", "CIS GCP 1.4"),
        catches="any service account key, and a provider given a key file (JSON or path)",
    ),
    Spec(
        "no-hmac-keys",
        "No Cloud Storage HMAC keys (long-lived credentials).",
        MANDATORY,
        severity=HIGH,
        resource_rule=credentials.no_hmac_keys,
        types=types((credentials.HMAC_KEY,)),
        catches="any Cloud Storage HMAC key",
    ),
    Spec(
        "api-keys-restricted",
        "API keys are restricted to named APIs.",
        MANDATORY,
        severity=MEDIUM,
        resource_rule=credentials.api_keys_restricted,
        types=types((credentials.API_KEY,)),
        peers=("CIS GCP 1.14",),
        catches="API keys without `restrictions.apiTargets`",
    ),
    Spec(
        "no-plaintext-secrets-in-env",
        "No secret-shaped values (API keys, private keys, tokens) in plain environment variables.",
        MANDATORY,
        severity=HIGH,
        resource_rule=credentials.no_plaintext_secrets_in_env,
        types=types(workloads.WORKLOAD_TYPES),
        catches=(
            "secret-shaped values in plain env vars of functions, Cloud Run services, jobs and worker pools "
            "(judged by value, not name)"
        ),
    ),
    Spec(
        "workload-identity-set",
        "Every workload sets its runtime, trigger and build service accounts (functions, Cloud Run, workflows, "
        "build triggers, Dataflow, Dataproc, Composer, Workbench, App Engine, callers), and VMs, instance "
        "templates and GKE nodes theirs, none of them a default one (worst with the cloud-platform scope).",
        MANDATORY,
        severity=HIGH,
        resource_rule=identities.workload_identity_set,
        types=types(workloads.RUNS_AS_TYPES, workloads.MACHINE_TYPES),
        peers=("CKV_GCP_30", "CKV_GCP_31", "CKV2_GCP_1", "CIS GCP 4.1", "CIS GCP 4.2"),
        catches=(
            "a function, Cloud Run service/job/worker pool, scheduler job, push subscription, Eventarc trigger, "
            "workflow, Cloud Build trigger, Dataflow job / flex template job, Dataproc cluster, Composer "
            "environment, Workbench instance or App Engine version without its own service account or on a default "
            "one (the message names the default it falls back to: gen1 functions and App Engine run as the App "
            "Engine default); VMs, instance templates, GKE clusters (the default pool when it exists, inline "
            "pools, autopilot/auto-provisioning defaults) and node pools on the Compute Engine default account, "
            "worst with the cloud-platform scope (a VM with no service account block has no identity and passes)"
        ),
    ),
    Spec(
        "no-default-identity-grants",
        "No role is granted to the Compute Engine, App Engine or legacy Cloud Build default service account, and "
        "nobody may act as or administer one.",
        MANDATORY,
        severity=HIGH,
        resource_rule=identities.no_default_identity_grants,
        types=GRANTS,
        peers=("CKV_GCP_46", "CKV_GCP_47", "CKV_GCP_48"),
        catches=(
            "any role granted to the Compute Engine, App Engine or legacy Cloud Build default account, at any "
            "scope; and any role that acts as or administers such an account, granted on it (acting as it is "
            "acting as an editor)"
        ),
    ),
    Spec(
        "no-basic-roles",
        "No roles/owner, roles/editor or roles/viewer anywhere, conditions or not.",
        MANDATORY,
        severity=HIGH,
        resource_rule=roles.no_basic_roles,
        types=GRANTS,
        peers=("CKV_GCP_44", "CKV_GCP_45", "CKV_GCP_49", "CKV_GCP_115", "CKV_GCP_116", "CKV_GCP_117", "CIS GCP 1.5"),
        catches="`roles/owner`/`editor`/`viewer` anywhere, conditions or not",
    ),
    Spec(
        "no-high-scope-privileged-roles",
        "On a whole project, folder or organization: no role that acts as service accounts, changes IAM (unless a "
        "condition limits the grantable roles), runs code as other identities, changes organization policies, or "
        "reads/writes resources that can be granted one by one (unless a condition names them); judged by "
        "permissions, custom roles too.",
        MANDATORY,
        severity=HIGH,
        stack_rule=roles.high_scope_privileged_roles,
        settings=("extraAllowedRoles",),
        peers=("CKV_GCP_41", "CKV_GCP_42", "CKV_GCP_44", "CKV_GCP_45", "CKV_GCP_49", "CIS GCP 1.5", "CIS GCP 1.6"),
        catches=(
            "on a project, folder or organization: escalation (actAs, token/key minting incl. HMAC keys and "
            "Kubernetes tokens behind Workload Identity), organization-policy changes, IAM changes (unless a "
            "`modifiedGrantsByRole(...).hasOnly([...])` condition limits the grantable roles to ones without "
            "identity power), code running as other identities (builds, deployments, function/service updates, GKE "
            "pods, Composer environments), and writes/reads of resources grantable one by one (buckets, secrets, "
            "repositories, topics, datasets, keys, services, …; unless a `resource.name` condition names them). "
            "Custom roles defined in the stack are judged by their permissions. `extraAllowedRoles` accepts listed "
            "roles"
        ),
    ),
    Spec(
        "service-agent-roles-for-agents",
        "Service-agent roles (roles/*.serviceAgent) only to Google-managed service agents.",
        MANDATORY,
        severity=HIGH,
        resource_rule=roles.service_agent_roles_for_agents,
        types=GRANTS,
        peers=("CKV_GCP_44", "CKV_GCP_45", "CKV_GCP_49"),
        catches=(
            "a `*.serviceAgent` role granted to anything but a Google-managed agent, recognised by Google's "
            "documented agent domains (`gcp-sa-*` and a closed list of legacy ones), never by a "
            "`service-<digits>@` account id alone"
        ),
    ),
    Spec(
        "no-convenience-members",
        "No write, admin or identity power for projectViewer:/projectEditor:/projectOwner: members.",
        MANDATORY,
        severity=HIGH,
        resource_rule=roles.no_convenience_members,
        types=GRANTS,
        catches="`projectViewer:`/`projectEditor:`/`projectOwner:` members with write, admin or identity power",
    ),
    Spec(
        "no-key-minting-grants",
        "Nobody is granted roles/iam.serviceAccountKeyAdmin (power to mint service account keys).",
        MANDATORY,
        severity=HIGH,
        resource_rule=roles.no_key_minting_grants,
        types=GRANTS,
        peers=("CKV_GCP_44", "CKV_GCP_45", "CKV_GCP_49", "CIS GCP 1.4"),
        catches="`roles/iam.serviceAccountKeyAdmin` at any scope",
    ),
    Spec(
        "no-privileged-custom-roles",
        "Custom roles carry no setIamPolicy, actAs, getAccessToken, signBlob/signJwt, keys.create, role editing, "
        "code-running or organization-policy permissions.",
        MANDATORY,
        severity=HIGH,
        resource_rule=roles.no_privileged_custom_roles,
        types=types(role_power.CUSTOM_ROLE_TYPES),
        catches="custom roles with escalation, IAM-changing or code-running permissions",
    ),
    Spec(
        "human-access-expires",
        "People (user:, group:, domain:, workforce principals) hold invoke or impersonation roles (on a service "
        "account, setting its IAM is one) only on one resource and only until an expiry at most maxHumanAccessDays "
        "ahead.",
        MANDATORY,
        severity=MEDIUM,
        resource_rule=humans.human_access_expires,
        types=GRANTS,
        settings=("maxHumanAccessDays",),
        peers=("CIS GCP 1.6",),
        catches=(
            "people (`user:`, `group:`, `domain:`, workforce principals) with invoke or impersonation roles on one "
            "resource (on a service account, a role that sets its IAM is one) without an expiry condition "
            "(`request.time < timestamp(...)`) at most `maxHumanAccessDays` ahead; `||` anywhere, or a condition "
            "the pack cannot read (a `//` comment), means no expiry"
        ),
    ),
    Spec(
        "federation-pinned",
        "Workload identity providers have a readable attribute condition that is not always true; on GitHub, "
        "GitLab.com, Terraform Cloud or Buildkite it pins a claim only the owner can produce.",
        MANDATORY,
        severity=CRITICAL,
        resource_rule=federation.federation_pinned,
        types=types((federation.PROVIDER,)),
        peers=("CKV_GCP_118", "CKV_GCP_125"),
        catches=(
            "OIDC/SAML workload identity providers without `attributeCondition`, with one that is always true "
            "(`true`, `… || true`) or unreadable; on GitHub, GitLab.com, Terraform Cloud and Buildkite a condition "
            "that does not pin an owner-only claim (`repository_id`, `repository_owner_id`, `namespace_id`, "
            "`organization_id`, …, or the subject up to `repo:<owner>/<repo>:`) in a top-level `&&` term"
        ),
    ),
    Spec(
        "bucket-uniform-access",
        "Buckets use uniform bucket-level access (IAM only, no ACLs).",
        MANDATORY,
        severity=MEDIUM,
        resource_rule=storage.bucket_uniform_access,
        types=types((storage.BUCKET,)),
        peers=("CKV_GCP_29", "CIS GCP 5.2"),
        catches="buckets without uniform bucket-level access",
    ),
    Spec(
        "only-intended-invokers",
        "Only the workloads that call a Cloud Run service or function (or a gen2 function's trigger), operator "
        "accounts people borrow, and allowedInvokers can invoke it, judged by the role's invoke permissions; "
        "provably wrong identities are rejected.",
        MANDATORY,
        severity=MEDIUM,
        stack_rule=invokers.only_intended_invokers,
        settings=("allowedInvokers",),
        catches=(
            "a grant of any role with invoke permission (`run.routes.invoke`; `cloudfunctions.functions.invoke` on "
            "functions, gen1 included) on a service of this stack — or on a project, confined by its condition to "
            "that service — to an identity of a fully known workload of this stack that does not call it (its URL "
            "or audience appears nowhere in the workload's configuration: env values, JSON in them, args, "
            "commands, workflow source; nor does a push subscription, scheduler job, Eventarc trigger or API "
            "Gateway config's OpenAPI document target it), to a malformed member, or — once `allowedInvokers` is "
            "set — to an unplaceable identity not on it; `run.admin`/`run.editor`/… for a real caller. Operator "
            "accounts created here and borrowed only by "
            "people are callers by design"
        ),
    ),
    Spec(
        "workload-identities-not-shared",
        "No service account is the runtime identity of two workloads or doubles as another identity.",
        MANDATORY,
        severity=MEDIUM,
        stack_rule=identities.workload_identities,
        catches=(
            "one service account in two identity slots (runtime, trigger, build, caller), across resources or "
            "within one function"
        ),
    ),
    Spec(
        "unverified-invokers",
        "Invokers the stack cannot place (callers in other stacks or projects) are noted while no allowedInvokers "
        "list is set (give this policy the same list as only-intended-invokers), and so are identities of "
        "workloads whose configuration comes partly from Secret Manager.",
        ADVISORY,
        severity=LOW,
        stack_rule=invokers.unverified_invokers,
        settings=("allowedInvokers",),
        catches=(
            "an invoker the stack cannot place (a caller in another stack or project), while no `allowedInvokers` "
            "is set (this policy's own: the same list as `only-intended-invokers`'); the identity of a workload "
            "whose configuration partly comes from Secret Manager (the URL may be there)"
        ),
    ),
    Spec(
        "human-access-expired",
        "People's time-bound grants whose expiry has passed (harmless, stale).",
        ADVISORY,
        severity=LOW,
        resource_rule=humans.human_access_expired,
        types=GRANTS,
        catches="a person's time-bound grant whose expiry has passed",
    ),
    Spec(
        "resource-prefix-bounded",
        "Project grants confined by resource.name.startsWith to a prefix that ends mid-name (also matching other "
        "resources whose names start with it), unless it is the name of a resource of this stack or a "
        "Google-managed naming idiom.",
        ADVISORY,
        severity=MEDIUM,
        stack_rule=prefixes.resource_prefix_bounded,
        catches=(
            "a project grant confined by `resource.name.startsWith(...)` to a prefix that ends mid-name (also "
            "every other resource whose name starts with it), unless it is the exact name of a resource of this "
            "stack or a Google-managed idiom (`gcf-v2-sources-<number>-<region>`)"
        ),
    ),
    Spec(
        "bucket-public-access-prevention",
        "Buckets enforce public access prevention.",
        ADVISORY,
        severity=MEDIUM,
        resource_rule=storage.bucket_public_access_prevention,
        types=types((storage.BUCKET,)),
        peers=("CKV_GCP_114",),
        catches="buckets without `publicAccessPrevention: enforced`",
    ),
    Spec(
        "custom-roles-verifiable",
        "Grants of a role the pack cannot see are noted: a custom role defined outside the stack, or a predefined "
        "role newer than the pack's role table.",
        ADVISORY,
        severity=LOW,
        stack_rule=roles.custom_roles_verifiable,
        catches="a custom role defined outside the stack, or a predefined role newer than the role table",
    ),
    Spec(
        "labels-present",
        "Workloads and data resources carry labels.",
        ADVISORY,
        severity=LOW,
        resource_rule=hygiene.labels_present,
        types=types(hygiene.LABELLED_TYPES),
        reads_provider_labels=True,
        catches="workloads and data resources without labels",
    ),
    Spec(
        "prod-min-instances",
        "Production Cloud Run services keep at least one warm instance.",
        ADVISORY,
        severity=LOW,
        resource_rule=hygiene.prod_min_instances,
        types=types(workloads.RUN_SERVICE_TYPES),
        settings=("productionStacks",),
        catches="production Cloud Run services without a warm instance",
    ),
    Spec(
        "ingress-restricted",
        "Services and functions that accept all ingress are reported (IAM is then the only gate).",
        ADVISORY,
        severity=LOW,
        resource_rule=hygiene.ingress_restricted,
        types=types(hygiene.INGRESS_TYPES),
        peers=("CKV_GCP_124",),
        catches="services and functions accepting all ingress",
    ),
)


def build_policies() -> list[Policy]:
    """The pack's policies; its stack policies share one model of the stack they judge."""
    models = StackModels()
    return [policy(spec, models) for spec in SPECS]


def initial_config() -> dict[str, EnforcementLevel | dict[str, object]]:
    # An entry without enforcementLevel silently becomes advisory: always give it.
    return {spec.name: {"enforcementLevel": spec.level} for spec in SPECS}
