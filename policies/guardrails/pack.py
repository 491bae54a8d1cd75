"""The policies of secure-invoke-guardrails: one entry per rule, with its level and config keys."""

from __future__ import annotations

from dataclasses import dataclass
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
    roles,
    storage,
)
from .adapter import ResourceRule, StackRule, resource_policy, stack_policy

PACK_NAME: Final = "secure-invoke-guardrails"
MANDATORY: Final = EnforcementLevel.MANDATORY
ADVISORY: Final = EnforcementLevel.ADVISORY


@dataclass(frozen=True)
class Spec:
    name: str
    description: str
    level: EnforcementLevel
    resource_rule: ResourceRule | None = None
    stack_rule: StackRule | None = None
    config_keys: tuple[str, ...] = ()
    # Read the config of another policy (its list of outside callers decides between this advisory and
    # that mandatory finding): one list, set in one place.
    settings_from: str | None = None


SPECS: Final[tuple[Spec, ...]] = (
    Spec(
        "no-public-members",
        "No allUsers/allAuthenticatedUsers in any IAM member, binding or policy (conditions do not help). "
        "checkov CKV_GCP_28, CKV_GCP_99-102, CKV_GCP_107, CKV_GCP_112; CIS GCP 5.1, 6.x.",
        MANDATORY,
        resource_rule=public_access.no_public_members,
    ),
    Spec(
        "no-public-acls",
        "No allUsers/allAuthenticatedUsers in Cloud Storage ACLs (incl. public predefined ACLs) or BigQuery "
        "dataset access entries. checkov CKV_GCP_15; CIS GCP 5.1, 7.1.",
        MANDATORY,
        resource_rule=public_access.no_public_acls,
    ),
    Spec(
        "no-broad-principals",
        "No domain: members, whole Workspace customers, wildcard principalSets, or identities outside "
        "allowedMemberDomains (which waives only this finding, never the judgement of the role a domain holds).",
        MANDATORY,
        resource_rule=public_access.no_broad_principals,
        config_keys=("allowedMemberDomains",),
    ),
    Spec(
        "invoker-iam-check-enabled",
        "Cloud Run services keep the invoker IAM check (invokerIamDisabled / invoker-iam-disabled annotation).",
        MANDATORY,
        resource_rule=public_access.invoker_iam_check_enabled,
    ),
    Spec(
        "no-service-account-keys",
        "No service account keys: workloads use their own identity, external callers federate. "
        "checkov CKV2_GCP_3; CIS GCP 1.4.",
        MANDATORY,
        resource_rule=credentials.no_service_account_keys,
    ),
    Spec(
        "no-hmac-keys",
        "No Cloud Storage HMAC keys (long-lived credentials).",
        MANDATORY,
        resource_rule=credentials.no_hmac_keys,
    ),
    Spec(
        "api-keys-restricted",
        "API keys are restricted to named APIs. CIS GCP 1.14.",
        MANDATORY,
        resource_rule=credentials.api_keys_restricted,
    ),
    Spec(
        "no-plaintext-secrets-in-env",
        "No secret-shaped values (API keys, private keys, tokens) in plain environment variables.",
        MANDATORY,
        resource_rule=credentials.no_plaintext_secrets_in_env,
    ),
    Spec(
        "workload-identity-set",
        "Every workload sets its runtime, trigger and build service accounts (functions, Cloud Run, workflows, "
        "build triggers, Dataflow, Dataproc, Composer, Workbench, App Engine, callers), and VMs, instance templates "
        "and GKE nodes theirs, none of them a default one (worst with the cloud-platform scope). checkov "
        "CKV_GCP_30, CKV_GCP_31, CKV2_GCP_1; CIS GCP 4.1, 4.2.",
        MANDATORY,
        resource_rule=identities.workload_identity_set,
    ),
    Spec(
        "no-default-identity-grants",
        "No role is granted to the Compute Engine, App Engine or legacy Cloud Build default service account, and "
        "nobody may act as or administer one. checkov CKV_GCP_46, CKV_GCP_47, CKV_GCP_48.",
        MANDATORY,
        resource_rule=identities.no_default_identity_grants,
    ),
    Spec(
        "no-basic-roles",
        "No roles/owner, roles/editor or roles/viewer anywhere, conditions or not. checkov CKV_GCP_115-117; "
        "CIS GCP 1.5.",
        MANDATORY,
        resource_rule=roles.no_basic_roles,
    ),
    Spec(
        "no-high-scope-privileged-roles",
        "On a whole project, folder or organization: no role that acts as service accounts, changes IAM (unless "
        "a condition limits the grantable roles), runs code as other identities, changes organization policies, "
        "or reads/writes resources that can be granted one by one (unless a condition names them); judged by "
        "permissions, custom roles too. "
        "checkov CKV_GCP_41, CKV_GCP_42, CKV_GCP_44, CKV_GCP_45, CKV_GCP_49; CIS GCP 1.5, 1.6.",
        MANDATORY,
        stack_rule=roles.high_scope_privileged_roles,
        config_keys=("extraAllowedRoles",),
    ),
    Spec(
        "service-agent-roles-for-agents",
        "Service-agent roles (roles/*.serviceAgent) only to Google-managed service agents. checkov CKV_GCP_49 "
        "(its service-agent roles).",
        MANDATORY,
        resource_rule=roles.service_agent_roles_for_agents,
    ),
    Spec(
        "no-convenience-members",
        "No write, admin or identity power for projectViewer:/projectEditor:/projectOwner: members.",
        MANDATORY,
        resource_rule=roles.no_convenience_members,
    ),
    Spec(
        "no-key-minting-grants",
        "Nobody is granted roles/iam.serviceAccountKeyAdmin (power to mint service account keys). CIS GCP 1.4.",
        MANDATORY,
        resource_rule=roles.no_key_minting_grants,
    ),
    Spec(
        "no-privileged-custom-roles",
        "Custom roles carry no setIamPolicy, actAs, getAccessToken, signBlob/signJwt, keys.create, role editing, "
        "code-running or organization-policy permissions.",
        MANDATORY,
        resource_rule=roles.no_privileged_custom_roles,
    ),
    Spec(
        "human-access-expires",
        "People (user:, group:, domain:, workforce principals) hold invoke or impersonation roles (on a service "
        "account, setting its IAM is one) only on one resource and only until an expiry at most "
        "maxHumanAccessDays ahead. CIS GCP 1.6.",
        MANDATORY,
        resource_rule=humans.human_access_expires,
        config_keys=("maxHumanAccessDays",),
    ),
    Spec(
        "federation-pinned",
        "Workload identity providers have a readable attribute condition that is not always true; on GitHub, "
        "GitLab.com, Terraform Cloud or Buildkite it pins a claim only the owner can produce. checkov "
        "CKV_GCP_118, CKV_GCP_125.",
        MANDATORY,
        resource_rule=federation.federation_pinned,
    ),
    Spec(
        "bucket-uniform-access",
        "Buckets use uniform bucket-level access (IAM only, no ACLs). checkov CKV_GCP_29; CIS GCP 5.2.",
        MANDATORY,
        resource_rule=storage.bucket_uniform_access,
    ),
    Spec(
        "only-intended-invokers",
        "Only the workloads that call a Cloud Run service or function (or a gen2 function's trigger), operator "
        "accounts people borrow, and allowedInvokers can invoke it, judged by the role's invoke permissions; "
        "provably wrong identities are rejected.",
        MANDATORY,
        stack_rule=invokers.only_intended_invokers,
        config_keys=("allowedInvokers",),
    ),
    Spec(
        "workload-identities-not-shared",
        "No service account is the runtime identity of two workloads or doubles as another identity.",
        MANDATORY,
        stack_rule=identities.workload_identities,
    ),
    Spec(
        "unverified-invokers",
        "Invokers the stack cannot place (callers in other stacks or projects) are noted while "
        "only-intended-invokers has no allowedInvokers list, and so are identities of workloads whose "
        "configuration comes partly from Secret Manager.",
        ADVISORY,
        stack_rule=invokers.unverified_invokers,
        settings_from="only-intended-invokers",
    ),
    Spec(
        "human-access-expired",
        "People's time-bound grants whose expiry has passed (harmless, stale).",
        ADVISORY,
        resource_rule=humans.human_access_expired,
    ),
    Spec(
        "resource-prefix-bounded",
        "Project grants confined by resource.name.startsWith to a prefix that ends mid-name (also matching other "
        "resources whose names start with it), unless it is the name of a resource of this stack or a "
        "Google-managed naming idiom.",
        ADVISORY,
        stack_rule=prefixes.resource_prefix_bounded,
    ),
    Spec(
        "bucket-public-access-prevention",
        "Buckets enforce public access prevention. checkov CKV_GCP_114.",
        ADVISORY,
        resource_rule=storage.bucket_public_access_prevention,
    ),
    Spec(
        "custom-roles-verifiable",
        "Grants of a role the pack cannot see are noted: a custom role defined outside the stack, or a predefined "
        "role newer than the pack's role table.",
        ADVISORY,
        stack_rule=roles.custom_roles_verifiable,
    ),
    Spec(
        "labels-present",
        "Workloads and data resources carry labels.",
        ADVISORY,
        resource_rule=hygiene.labels_present,
    ),
    Spec(
        "prod-min-instances",
        "Production Cloud Run services keep at least one warm instance.",
        ADVISORY,
        resource_rule=hygiene.prod_min_instances,
        config_keys=("productionStacks",),
    ),
    Spec(
        "ingress-restricted",
        "Services and functions that accept all ingress are reported (IAM is then the only gate). checkov CKV_GCP_124.",
        ADVISORY,
        resource_rule=hygiene.ingress_restricted,
    ),
)


def build_policies() -> list[Policy]:
    policies: list[Policy] = []
    for spec in SPECS:
        if spec.resource_rule is not None:
            policies.append(
                resource_policy(spec.name, spec.description, spec.resource_rule, spec.level, spec.config_keys)
            )
        if spec.stack_rule is not None:
            policies.append(
                stack_policy(
                    spec.name, spec.description, spec.stack_rule, spec.level, spec.config_keys, spec.settings_from
                )
            )
    return policies


def initial_config() -> dict[str, EnforcementLevel | dict[str, object]]:
    # An entry without enforcementLevel silently becomes advisory: always give it.
    return {spec.name: {"enforcementLevel": spec.level} for spec in SPECS}
