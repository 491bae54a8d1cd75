"""The policies of secure-invoke-guardrails: one entry per rule, with its level, severity, config keys, the peer
checks it covers and what it catches (policies/README.md's policy table is generated from these: `make docs`)."""

from __future__ import annotations

from typing import Final

from pulumi_policy import EnforcementLevel, Policy

from . import (
    allowlists,
    audiences,
    consumer_domains,
    credential_fields,
    credentials,
    deployers,
    federation,
    humans,
    hygiene,
    identities,
    invokers,
    prefixes,
    public_access,
    role_definitions,
    role_power,
    roles,
    secrets_in_config,
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
            "CKV_GCP_98",
            "CKV_GCP_99",
            "CKV_GCP_100",
            "CKV_GCP_101",
            "CKV_GCP_102",
            "CKV_GCP_107",
            "CKV_GCP_112",
            "CKV_GCP_113",
            "CKV2_GCP_6",
            "CKV2_GCP_8",
            "CKV2_GCP_9",
            "AVD-GCP-0001",
            "pulumi:cloudfunctions-iam-no-public",
            "pulumi:cloud-functions-public-access-prohibited",
            "pulumi:bucket-public-read-prohibited",
            "pulumi:cloud-storage-bucket-public-read-prohibited",
            "pulumi:bucket-no-public-read",
            "pulumi:cloud-storage-bucket-restrict-public-read-access",
            "pulumi:cloud-storage-bucket-public-write-prohibited",
            "pulumi:cloud-storage-bucket-iam-policy-grantee-check",
            "pulumi:bigquery-dataset-public-access-check",
            "pulumi:persistent-disk-snapshot-not-publicly-restorable",
            "pulumi:cloudfunctions-iam-source-restrictions",
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
        peers=(
            "CKV_GCP_15",
            "AVD-GCP-0001",
            "AVD-GCP-0046",
            "pulumi:bucket-public-read-prohibited",
            "pulumi:cloud-storage-bucket-public-read-prohibited",
            "pulumi:bucket-no-public-read",
            "pulumi:cloud-storage-bucket-restrict-public-read-access",
            "pulumi:cloud-storage-bucket-public-write-prohibited",
            "pulumi:bigquery-dataset-public-access-check",
            "CIS GCP 5.1",
            "CIS GCP 7.1",
        ),
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
        peers=("pulumi:cloud-storage-bucket-iam-policy-grantee-check",),
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
        peers=("pulumi:cloud-run-service-configuration-check",),
        catches="Cloud Run's invoker IAM check switched off (v2 flag, v1 annotation)",
    ),
    Spec(
        "no-service-account-keys",
        "No service account keys: workloads use their own identity, external callers federate.",
        MANDATORY,
        severity=HIGH,
        resource_rule=credentials.no_service_account_keys,
        types=types((credentials.GCP_PROVIDER, credentials.SERVICE_ACCOUNT_KEY)),
        peers=(
            "CKV2_GCP_3",
            "pulumi:service-account-key",
            "CIS GCP 1.4",
            "CIS GCP 1.7",
        ),
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
    # --- credentials in plain configuration and in credential fields (secrets_in_config, credential_fields) ---
    Spec(
        "no-plaintext-secrets-in-env",
        "No credentials in plain environment variables: secret-shaped values, literals in variables named like "
        "credentials, and (with preflight) Pulumi secrets passed into them.",
        MANDATORY,
        severity=HIGH,
        resource_rule=secrets_in_config.no_plaintext_secrets_in_env,
        types=types(secrets_in_config.ENV_TYPES),
        peers=(
            "pulumi:hardcoded-secrets",
            "pulumi:cloud-build-trigger-envvar-gcpcred-check",
            "CIS GCP 1.18",
        ),
        catches=(
            "in plain env vars of functions, Cloud Run services, jobs and worker pools, workflows (`userEnvVars`), "
            "Cloud Build triggers (step and build env, substitutions), App Engine versions and Composer "
            "environments (env, Airflow overrides): secret-shaped values (keys, tokens, key files, also base64) and "
            "literals in variables named like credentials (PASSWORD, SECRET, TOKEN, KEY, …: a reference, number, "
            "flag, URL without userinfo, resource name, path or nothing passes; `…_NAME`, `…_LENGTH`, `CACHE_KEY` "
            "name no credential); a build step pointed at a credential file (`GOOGLE_APPLICATION_CREDENTIALS`); with "
            "preflight, also a Pulumi secret passed into one"
        ),
    ),
    Spec(
        "no-plaintext-secrets-in-config",
        "No credentials in the rest of plain configuration: container args and commands, Cloud Build steps, "
        "workflow sources, scheduler requests, VM, template, project and node metadata and startup scripts.",
        MANDATORY,
        severity=HIGH,
        resource_rule=secrets_in_config.no_plaintext_secrets_in_config,
        types=types(secrets_in_config.CONFIG_TYPES),
        catches=(
            "Cloud Run containers' `args`/`commands`, Cloud Build steps' args and scripts, a workflow's source, a "
            "scheduler job's headers, body and URI, and metadata and startup scripts of VMs, instance templates, "
            "projects, GKE nodes, Dataproc and Workbench holding key material, secret-shaped tokens, "
            "credential-named variables, flags or fields set to literals (`--db-password=…`, `export "
            "API_TOKEN=…`), also base64-encoded inside them; with preflight, also a Pulumi secret passed into one"
        ),
    ),
    Spec(
        "no-literal-credentials",
        "Passwords, raw encryption keys, private keys, shared secrets and secret data are not written in the "
        "program or the stack's plain config (judged with preflight's provenance).",
        MANDATORY,
        severity=HIGH,
        resource_rule=credential_fields.no_literal_credentials,
        types=types(credential_fields.LITERAL_TYPES),
        peers=("AVD-GCP-0037", "pulumi:cloudsql-secure-credentials", "pulumi:cloud-sql-no-hardcoded-passwords"),
        catches=(
            "Cloud SQL user and root passwords (also write-only), replication passwords and keys, AlloyDB "
            "passwords, secret versions' data, raw disk, image and snapshot encryption keys, objects' "
            "customer-supplied keys, SSL certificates' private keys, VPN shared secrets, signed URL keys, KMS "
            "plaintexts, uptime-check, BigQuery-connection and Datastream passwords and IdP client secrets given a "
            "value written in the program or the stack's plain config (`config.require_secret`, generated values "
            "and provider functions pass); preflight only: the CLI cannot tell a literal from a Pulumi secret"
        ),
    ),
    Spec(
        "no-stored-keys",
        "No service account key files or private keys stored as data: Secret Manager versions, uploaded objects, "
        "files inside a function's source archive.",
        MANDATORY,
        severity=HIGH,
        resource_rule=credential_fields.no_stored_keys,
        types=types(credential_fields.STORED_KEY_TYPES),
        catches=(
            "a secret version whose data is a service account key file, a private key or a user's refresh token "
            "(also base64), unless it is a key this stack creates (that key is `no-service-account-keys`' "
            "finding); a bucket object whose content, or a file inside whose source archive (preflight reads "
            "`FileArchive`/`AssetArchive` contents, bounded, links not followed), holds one"
        ),
    ),
    Spec(
        "gke-no-static-credentials",
        "GKE clusters issue no client certificates and take no basic-auth user or password.",
        MANDATORY,
        severity=HIGH,
        resource_rule=credentials.gke_no_static_credentials,
        types=types((workloads.GKE_CLUSTER,)),
        peers=("CKV_GCP_13", "AVD-GCP-0064"),
        catches=(
            "`masterAuth.clientCertificateConfig.issueClientCertificate: true`, and a `masterAuth` username or "
            "password (basic auth, pulumi-gcp 6 and earlier)"
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
        peers=(
            "CKV_GCP_30",
            "CKV_GCP_31",
            "CKV2_GCP_1",
            "AVD-GCP-0044",
            "AVD-GCP-0050",
            "pulumi:cloud-run-service-configuration-check",
            "CIS GCP 4.1",
            "CIS GCP 4.2",
        ),
        catches=(
            "a function, Cloud Run service/job/worker pool, scheduler job, push subscription, Cloud Tasks queue "
            "(queue-level HTTP target), Eventarc trigger, "
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
        peers=(
            "CKV_GCP_46",
            "CKV_GCP_47",
            "CKV_GCP_48",
            "AVD-GCP-0004",
            "AVD-GCP-0006",
            "AVD-GCP-0008",
        ),
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
        peers=(
            "CKV_GCP_44",
            "CKV_GCP_45",
            "CKV_GCP_49",
            "CKV_GCP_115",
            "CKV_GCP_116",
            "CKV_GCP_117",
            "AVD-GCP-0007",
            "pulumi:iam-no-broad-roles",
            "pulumi:iam-policy-no-statements-with-full-access",
            "CIS GCP 1.5",
        ),
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
        peers=(
            "CKV_GCP_41",
            "CKV_GCP_42",
            "CKV_GCP_44",
            "CKV_GCP_45",
            "CKV_GCP_49",
            "AVD-GCP-0005",
            "AVD-GCP-0007",
            "AVD-GCP-0009",
            "AVD-GCP-0011",
            "pulumi:iam-no-broad-roles",
            "pulumi:iam-policy-no-statements-with-admin-access",
            "CIS GCP 1.5",
            "CIS GCP 1.6",
        ),
        catches=(
            "on a project, folder or organization: escalation (actAs, token/key minting incl. HMAC keys and "
            "Kubernetes tokens behind Workload Identity), organization-policy changes, IAM changes (unless a "
            "`modifiedGrantsByRole(...).hasOnly([...])` condition limits the grantable roles to ones without "
            "identity power), code running as other identities (builds, deployments, function/service updates, GKE "
            "pods, Composer environments), and writes/reads of resources grantable one by one (buckets, secrets, "
            "repositories, topics, datasets, keys, services, …; unless a `resource.name` condition names one "
            "resource: a prefix that also matches other resources of the stack or other regions' names does not). "
            "Custom roles defined in the stack are judged by their permissions. `extraAllowedRoles` accepts listed "
            "roles. A build or CI identity's impersonation and IAM-admin grants are `build-identities-bounded`'"
        ),
    ),
    Spec(
        "service-agent-roles-for-agents",
        "Service-agent roles (roles/*.serviceAgent) only to Google-managed service agents.",
        MANDATORY,
        severity=HIGH,
        resource_rule=roles.service_agent_roles_for_agents,
        types=GRANTS,
        peers=(
            "CKV_GCP_44",
            "CKV_GCP_45",
            "CKV_GCP_49",
        ),
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
        peers=(
            "CKV_GCP_44",
            "CKV_GCP_45",
            "CKV_GCP_49",
            "CIS GCP 1.4",
        ),
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
        peers=("pulumi:iam-no-custom-role-excessive-permissions",),
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
        peers=(
            "CKV_GCP_118",
            "CKV_GCP_125",
            "AVD-GCP-0068",
        ),
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
        peers=(
            "CKV_GCP_29",
            "AVD-GCP-0002",
            "pulumi:bucket-uniform-bucket-level-access",
            "pulumi:bucket-uniform-access",
            "CIS GCP 5.2",
        ),
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
        peers=("pulumi:cloudfunctions-iam-source-restrictions",),
        catches=(
            "a grant of any role with invoke permission (`run.routes.invoke`; `cloudfunctions.functions.invoke` on "
            "functions, gen1 included) on a service of this stack — or on a project, confined by its condition to "
            "that service — to an identity of a fully known workload of this stack that does not call it (its URL "
            "or audience appears nowhere in the workload's configuration: env values, JSON in them, args, "
            "commands, workflow source; nor does a push subscription, scheduler job or Cloud Tasks queue target it "
            "or name it in its request's URL or body (base64 too), nor an Eventarc trigger or API Gateway config's "
            "OpenAPI document), to a malformed member, or — once `allowedInvokers` is "
            "set — to an unplaceable identity not on it; `run.admin`/`run.editor`/… for a real caller, and a role that "
            "sets the service's IAM for anyone. Operator accounts created here and borrowed only by people are "
            "callers by design; a build or deploy identity's deploy role (with `actAs` on the runtime account) is "
            "deploy power, judged by `no-resource-admin-for-workloads`"
        ),
    ),
    Spec(
        "invokers-on-service-allowlist",
        "A service that checks its callers itself (ALLOWED_INVOKERS) refuses every invoker its list does not "
        "name: each service account that can invoke it must be on that list.",
        MANDATORY,
        severity=MEDIUM,
        stack_rule=allowlists.invokers_on_allowlist,
        settings=("allowedInvokers",),
        catches=(
            "a grant of any role with `run.routes.invoke` on a Cloud Run service of this stack whose environment "
            "names the callers it accepts (`ALLOWED_INVOKERS`, as `PrivateService` writes it) to a service account "
            "that list does not name: Cloud Run lets it through, the service answers 403 (a grant "
            "`only-intended-invokers` rejects is left to it; give this policy the same `allowedInvokers`; a deploy "
            "role held by a deployer or an account the stack does not run is deploy power, judged elsewhere)"
        ),
    ),
    Spec(
        "caller-audiences-accepted",
        "Scheduler jobs, push subscriptions, Cloud Tasks queues and workflows send their OIDC token for an "
        "audience the Cloud Run service they call accepts (its own check, INVOKER_AUDIENCE, included).",
        MANDATORY,
        severity=MEDIUM,
        stack_rule=audiences.caller_audiences_accepted,
        catches=(
            "a scheduler job (`httpTarget.oidcToken.audience`), push subscription (`pushConfig.oidcToken.audience`), "
            "Cloud Tasks queue (`httpTarget.oidcToken.audience`) or workflow (`auth.audience` of an `http.*` step) "
            "calling a Cloud Run service of this stack with an audience — or, unset, Google's default, the URL it "
            "calls — that is neither the service's URL nor one of its custom audiences, or, for a service that "
            "checks the audience itself (`INVOKER_AUDIENCE`), not exactly that one: every call gets 401"
        ),
    ),
    Spec(
        "workload-identities-not-shared",
        "No service account is the identity of two workloads or doubles as another identity, unless the workloads "
        "provably use the same grants of it (workload-identities-shared).",
        MANDATORY,
        severity=MEDIUM,
        stack_rule=identities.workload_identities,
        catches=(
            "one service account in two identity slots (runtime, trigger, build, caller) within one function, or "
            "across workloads when sharing widens one's power (a grant that one of them uses and another does not) "
            "or the pack cannot tell (a project-wide grant, one that none of them names, or none it sees)"
        ),
    ),
    # Power over one resource, build identities, shared identities judged by what sharing adds (issue 21).
    Spec(
        "no-resource-admin-for-workloads",
        "On one resource (or a project grant a condition confines to it): no workload identity, build identity, "
        "account from outside the stack or whole customer holds a role that sets its IAM (opens it to anyone), and "
        "no workload identity one that replaces what it runs; a deployer's deploy role is deploy power.",
        MANDATORY,
        severity=HIGH,
        stack_rule=roles.resource_power_bounded,
        peers=(
            "pulumi:bucket-iam-least-privilege",
            "pulumi:pubsub-topic-iam-least-privilege",
            "pulumi:pubsub-subscription-iam-least-privilege",
            "pulumi:kms-key-iam",
        ),
        catches=(
            "a role on one bucket, topic, subscription, secret, service, function, job, repository, dataset, key, "
            "service account, … (or on a project, confined by a condition to it) that carries its `setIamPolicy` "
            "(`storage.admin`, `pubsub.admin`, `secretmanager.admin`, `run.admin`, `iam.serviceAccountAdmin`, …) held "
            "by a workload's or caller's identity, a build identity, a service account from outside the stack or "
            "one nothing here uses, or a whole customer; and a role that replaces what it runs (`run.services.update`, "
            "`cloudfunctions.functions.update`, `compute.instances.setMetadata`, …) held by a workload's identity. "
            "Accepted: people, the stack's operator, deployer and CI accounts (borrowed by people or federated "
            "workloads), Google's agents, and a build or deploy identity's deploy role (e.g. `roles/run.developer` "
            "on the one service plus `roles/iam.serviceAccountUser` on its runtime account). Object ACLs "
            "(`storage.objects.setIamPolicy`) are `bucket-uniform-access`' concern; invoke-capable roles on this "
            "stack's services are `only-intended-invokers`'"
        ),
    ),
    Spec(
        "build-identities-bounded",
        "Build triggers, function builds and CI accounts (borrowed by federated workloads) run as identities without "
        "impersonation or IAM-admin power over a whole project, folder or organization, directly or through an "
        "account they may act as: every build runs the repository's code with that power.",
        MANDATORY,
        severity=HIGH,
        stack_rule=deployers.build_identities_bounded,
        catches=(
            "a Cloud Build trigger's or function build's service account, a CI account that federated workloads "
            "borrow, or a federated workload itself, holding on a project, folder or organization a role that acts "
            "as every service account (actAs, token creation) or changes IAM itself (`projectIamAdmin`, "
            "`securityAdmin`, `serviceAccountAdmin`, role editing; unless `modifiedGrantsByRole(...).hasOnly([...])` "
            "limits it to roles without such power); or acting as (or setting the IAM of) an account that holds such "
            "a role. These grants are this policy's finding, not `no-high-scope-privileged-roles`'"
        ),
    ),
    Spec(
        "workload-identities-shared",
        "Workloads that share a service account and use the same grants of it (a job started and stopped by two "
        "scheduler jobs, a service and its migration job) are noted: a judgement call.",
        ADVISORY,
        severity=LOW,
        stack_rule=identities.workload_identities_shared,
        catches=(
            "one service account used by two workloads or callers whose known configuration names (or calls) what "
            "every one of its grants is on, except logs/metrics-style roles that every workload needs"
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
        "resources whose names start with it), unless it is the name of a resource of this stack.",
        ADVISORY,
        severity=MEDIUM,
        stack_rule=prefixes.resource_prefix_bounded,
        catches=(
            "a project grant confined by `resource.name.startsWith(...)` to a prefix that ends mid-name (also "
            "every other resource whose name starts with it), unless it is the exact name of a resource of this "
            "stack. A prefix that also matches another resource of this stack, or ends in a region's name "
            "(`gcf-v2-sources-<number>-europe-west1` also matches `…-europe-west10`), confines nothing to one "
            "resource: the policies that judge scope reject it as unconfined"
        ),
    ),
    Spec(
        "bucket-public-access-prevention",
        "Buckets enforce public access prevention.",
        ADVISORY,
        severity=MEDIUM,
        resource_rule=storage.bucket_public_access_prevention,
        types=types((storage.BUCKET,)),
        peers=(
            "CKV_GCP_114",
            "pulumi:bucket-public-access-prevention",
            "pulumi:cloud-storage-bucket-level-public-access-prohibited",
        ),
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
        peers=(
            "pulumi:resource-labeling",
            "pulumi:environment-label",
        ),
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
        peers=(
            "CKV_GCP_124",
            "pulumi:cloud-run-service-configuration-check",
        ),
        catches="services and functions accepting all ingress",
    ),
    Spec(
        "custom-role-permissions-valid",
        "Custom roles list whole permission names: IAM refuses a wildcard (storage.*) in a custom role.",
        MANDATORY,
        severity=LOW,
        resource_rule=role_definitions.custom_role_permissions_valid,
        types=types(role_power.CUSTOM_ROLE_TYPES),
        peers=("pulumi:iam-policy-no-wildcard-permissions",),
        catches=(
            "a project or organization custom role with a wildcard permission (`storage.*`, `*`): IAM refuses it, "
            "so the deploy would fail halfway; said before it starts"
        ),
    ),
    Spec(
        "consumer-domain-members",
        "No personal accounts of consumer email domains (gmail.com and the like) as members.",
        MANDATORY,
        severity=MEDIUM,
        resource_rule=consumer_domains.consumer_domain_members,
        types=GRANTS,
        settings=("allowedMemberDomains", "extraConsumerDomains"),
        peers=(
            "AVD-GCP-0069",
            "CIS GCP 1.1",
        ),
        catches=(
            "a `user:` or `group:` member of a consumer email domain (a built-in list: gmail.com, outlook.com, "
            "yahoo.com, icloud.com, googlegroups.com, …, plus `extraConsumerDomains`) in any member, binding or "
            "policy; with `allowedMemberDomains` (give it the same list as `no-broad-principals`), a domain on the "
            "list is accepted and one off it is `no-broad-principals`' finding. The level is set like any "
            'policy\'s (`"consumer-domain-members": "advisory"`)'
        ),
    ),
    Spec(
        "kms-keys-rotated",
        "Symmetric Cloud KMS keys rotate automatically at least every 90 days.",
        ADVISORY,
        severity=MEDIUM,
        resource_rule=hygiene.kms_keys_rotated,
        types=types((hygiene.CRYPTO_KEY,)),
        peers=(
            "CKV_GCP_43",
            "AVD-GCP-0065",
            "pulumi:kms-key-rotation",
            "pulumi:kms-key-rotation-enabled",
            "CIS GCP 1.10",
        ),
        catches=(
            "a symmetric (`ENCRYPT_DECRYPT`) Cloud KMS key without `rotationPeriod` or with one longer than 90 "
            "days; asymmetric, imported and external (Cloud EKM) keys, which Cloud KMS does not rotate, are left "
            "alone"
        ),
    ),
    Spec(
        "audit-logs-kept",
        "Audit log configs exempt nobody, and no authoritative IAM policy drops the IAM admin-read audit logs.",
        ADVISORY,
        severity=MEDIUM,
        resource_rule=hygiene.audit_logs_kept,
        types=types(hygiene.AUDIT_TYPES),
        peers=(
            "CKV2_GCP_5",
            "AVD-GCP-0079",
            "CIS GCP 2.1",
        ),
        catches=(
            "`exemptedMembers` in an `IAMAuditConfig` of a project, folder or organization or in the audit configs "
            "of an authoritative `IAMPolicy`; and an authoritative `IAMPolicy` (which replaces every audit config) "
            "whose audit configs do not log `iam.googleapis.com` `ADMIN_READ` (token minting)"
        ),
    ),
)


def build_policies() -> list[Policy]:
    """The pack's policies; its stack policies share one model of the stack they judge."""
    models = StackModels()
    return [policy(spec, models) for spec in SPECS]


def initial_config() -> dict[str, EnforcementLevel | dict[str, object]]:
    # An entry without enforcementLevel silently becomes advisory: always give it.
    return {spec.name: {"enforcementLevel": spec.level} for spec in SPECS}
