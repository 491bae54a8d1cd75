"""The policies of secure-invoke-guardrails: one entry per rule, with its level and config keys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from pulumi_policy import EnforcementLevel, Policy

from . import credentials, hygiene, identities, invokers, public_access, roles
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


SPECS: Final[tuple[Spec, ...]] = (
    Spec(
        "no-public-members",
        "No allUsers/allAuthenticatedUsers in any IAM member, binding or policy (conditions do not help).",
        MANDATORY,
        resource_rule=public_access.no_public_members,
    ),
    Spec(
        "no-public-acls",
        "No allUsers/allAuthenticatedUsers in Cloud Storage ACLs (incl. public predefined ACLs) or BigQuery "
        "dataset access entries.",
        MANDATORY,
        resource_rule=public_access.no_public_acls,
    ),
    Spec(
        "no-broad-principals",
        "No domain: members, wildcard principalSets, or identities outside allowedMemberDomains.",
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
        "No service account keys: workloads use their own identity, external callers federate.",
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
        "API keys are restricted to named APIs.",
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
        "Every workload sets its runtime, trigger and build service accounts, none of them a default one.",
        MANDATORY,
        resource_rule=identities.workload_identity_set,
    ),
    Spec(
        "no-basic-roles",
        "No roles/owner, roles/editor or roles/viewer anywhere, conditions or not.",
        MANDATORY,
        resource_rule=roles.no_basic_roles,
    ),
    Spec(
        "no-high-scope-privileged-roles",
        "No admin, impersonation, invoker or secret-reading roles on a whole project, folder or organization.",
        MANDATORY,
        resource_rule=roles.no_high_scope_privileged_roles,
        config_keys=("extraAllowedRoles",),
    ),
    Spec(
        "no-key-minting-grants",
        "Nobody is granted roles/iam.serviceAccountKeyAdmin (power to mint service account keys).",
        MANDATORY,
        resource_rule=roles.no_key_minting_grants,
    ),
    Spec(
        "no-privileged-custom-roles",
        "Custom roles carry no setIamPolicy, actAs, getAccessToken, signBlob/signJwt or keys.create.",
        MANDATORY,
        resource_rule=roles.no_privileged_custom_roles,
    ),
    Spec(
        "only-intended-invokers",
        "Only the workloads that call a Cloud Run service (or a gen2 function's trigger) can invoke it.",
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
        "custom-roles-verifiable",
        "Grants of a custom role defined outside the stack are noted: the pack cannot verify its permissions.",
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
        "Services and functions that accept all ingress are reported (IAM is then the only gate).",
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
            policies.append(stack_policy(spec.name, spec.description, spec.stack_rule, spec.level, spec.config_keys))
    return policies


def initial_config() -> dict[str, EnforcementLevel | dict[str, object]]:
    # An entry without enforcementLevel silently becomes advisory: always give it.
    return {spec.name: {"enforcementLevel": spec.level} for spec in SPECS}
