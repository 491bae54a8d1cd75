"""Hygiene peers expect (checkov, trivy, CIS, Pulumi's packs): KMS keys rotated within 90 days and audit logs kept
(advisory), custom roles IAM would refuse (a wildcard permission), and members of consumer email domains."""

from __future__ import annotations

import json

import pytest

from secure_invoke.policies.guardrails.config import ConfigError, parse_settings
from secure_invoke.policies.guardrails.consumer_domains import CONSUMER_DOMAINS, consumer_domain
from secure_invoke.policies.guardrails.pack import SPECS
from tests.policies.guardrail_cases import UNKNOWN_ARRAY, UNKNOWN_STRING, ctx, judge

KEY = "gcp:kms/cryptoKey:CryptoKey"
PROJECT_AUDIT = "gcp:projects/iAMAuditConfig:IAMAuditConfig"
FOLDER_AUDIT = "gcp:folder/iamAuditConfig:IamAuditConfig"
ORG_AUDIT = "gcp:organizations/iamAuditConfig:IamAuditConfig"
PROJECT_POLICY = "gcp:projects/iAMPolicy:IAMPolicy"
CUSTOM_ROLE = "gcp:projects/iAMCustomRole:IAMCustomRole"
ORG_ROLE = "gcp:organizations/iAMCustomRole:IAMCustomRole"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"
BUCKET_BINDING = "gcp:storage/bucketIAMBinding:BucketIAMBinding"
NINETY_DAYS = str(90 * 86400) + "s"


# --- kms-keys-rotated ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("props", "said"),
    [
        ({"keyRing": "projects/p/locations/global/keyRings/r"}, "rotationPeriod is not set"),
        ({"rotationPeriod": ""}, "rotationPeriod is not set"),
        ({"rotationPeriod": "7776001s"}, "longer than 90 days"),
        ({"rotationPeriod": "31536000s", "purpose": "ENCRYPT_DECRYPT"}, "longer than 90 days"),
        ({"rotationPeriod": "100000000.5s", "versionTemplate": {"protectionLevel": "HSM"}}, "longer than 90 days"),
    ],
)
def test_symmetric_key_without_rotation_within_90_days_is_noted(props: dict, said: str) -> None:
    found = judge("kms-keys-rotated", KEY, props, ctx(name="payments"))
    assert len(found) == 1 and said in found[0] and "'payments'" in found[0] and '"7776000s"' in found[0]


@pytest.mark.parametrize(
    "props",
    [
        {"rotationPeriod": NINETY_DAYS},
        {"rotationPeriod": "86400s"},
        {"purpose": "ASYMMETRIC_SIGN"},  # Cloud KMS rotates only symmetric encryption keys
        {"purpose": "ASYMMETRIC_DECRYPT"},
        {"purpose": "MAC"},
        {"importOnly": True},  # imported keys get new versions by import
        {"versionTemplate": {"algorithm": "EXTERNAL_SYMMETRIC_ENCRYPTION", "protectionLevel": "EXTERNAL"}},
        {"cryptoKeyBackend": "projects/p/locations/l/ekmConnections/c"},
        {"rotationPeriod": UNKNOWN_STRING},  # judged once known
        {"purpose": UNKNOWN_STRING},
        {"rotationPeriod": "90d"},  # not a duration the API takes: the provider refuses it first
    ],
)
def test_rotated_unrotatable_or_unknown_keys_pass(props: dict) -> None:
    assert judge("kms-keys-rotated", KEY, props, ctx()) == []


# --- audit-logs-kept -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rtype", [PROJECT_AUDIT, FOLDER_AUDIT, ORG_AUDIT])
def test_audit_config_exempting_members_is_noted_once_per_log_type(rtype: str) -> None:
    props = {
        "service": "iam.googleapis.com",
        "auditLogConfigs": [
            {"logType": "ADMIN_READ", "exemptedMembers": ["serviceAccount:ci@p.iam.gserviceaccount.com"]},
            {"logType": "DATA_READ"},
            {"logType": "DATA_WRITE", "exemptedMembers": ["user:ops@acme.example", "group:sre@acme.example"]},
        ],
    }
    found = judge("audit-logs-kept", rtype, props, ctx(name="audit"))
    assert len(found) == 2
    assert found[0].startswith("auditLogConfigs[0].exemptedMembers of 'audit' exempts serviceAccount:ci@")
    assert "ADMIN_READ audit logs of iam.googleapis.com" in found[0] and "Remove exemptedMembers" in found[0]
    assert found[1].startswith("auditLogConfigs[2].exemptedMembers") and "group:sre@acme.example" in found[1]


@pytest.mark.parametrize(
    "props",
    [
        {"service": "iam.googleapis.com", "auditLogConfigs": [{"logType": "ADMIN_READ"}]},
        {"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ", "exemptedMembers": []}]},
        {"service": "allServices", "auditLogConfigs": UNKNOWN_ARRAY},
        {"service": "allServices", "auditLogConfigs": [{"logType": "DATA_READ", "exemptedMembers": UNKNOWN_ARRAY}]},
    ],
)
def test_audit_config_without_exemptions_passes(props: dict) -> None:
    assert judge("audit-logs-kept", PROJECT_AUDIT, props, ctx()) == []


def _policy(**doc: object) -> dict:
    return {"policyData": json.dumps({"bindings": [{"role": "roles/logging.viewer", "members": ["group:a@x.io"]}],
                                      **doc})}  # fmt: skip


@pytest.mark.parametrize(
    "audit_configs",
    [
        None,  # no audit configs at all: the policy sets none, and removes the ones set elsewhere
        [{"service": "storage.googleapis.com", "auditLogConfigs": [{"logType": "DATA_READ"}]}],
        [{"service": "iam.googleapis.com", "auditLogConfigs": [{"logType": "DATA_WRITE"}]}],
    ],
)
def test_authoritative_policy_dropping_iam_admin_reads_is_noted(audit_configs: list | None) -> None:
    props = _policy() if audit_configs is None else _policy(auditConfigs=audit_configs)
    found = judge("audit-logs-kept", PROJECT_POLICY, props, ctx(name="project-policy"))
    assert len(found) == 1 and "is authoritative for the audit configs too" in found[0]
    assert "iam.googleapis.com with logType ADMIN_READ" in found[0]
    # a grant on one resource carries no audit configs
    assert judge("audit-logs-kept", "gcp:storage/bucketIAMPolicy:BucketIAMPolicy", props, ctx()) == []


@pytest.mark.parametrize("service", ["iam.googleapis.com", "allServices"])
def test_authoritative_policy_logging_iam_admin_reads_passes(service: str) -> None:
    props = _policy(auditConfigs=[{"service": service, "auditLogConfigs": [{"logType": "ADMIN_READ"}]}])
    assert judge("audit-logs-kept", PROJECT_POLICY, props, ctx()) == []
    assert judge("audit-logs-kept", PROJECT_POLICY, {"policyData": UNKNOWN_STRING}, ctx()) == []


def test_exemption_inside_an_authoritative_policy_is_noted_where_it_is() -> None:
    exempt = [{"logType": "ADMIN_READ", "exemptedMembers": ["user:ceo@acme.example"]}]
    props = _policy(auditConfigs=[{"service": "allServices", "auditLogConfigs": exempt}])
    found = judge("audit-logs-kept", PROJECT_POLICY, props, ctx())
    assert len(found) == 1
    assert found[0].startswith("policyData.auditConfigs[0].auditLogConfigs[0].exemptedMembers")


# --- custom-role-permissions-valid ------------------------------------------------------------------------------


@pytest.mark.parametrize("rtype", [CUSTOM_ROLE, ORG_ROLE])
@pytest.mark.parametrize("wildcard", ["*", "storage.*", "storage.objects.*", "run.*.get"])
def test_wildcard_permission_is_refused_before_deploy(rtype: str, wildcard: str) -> None:
    found = judge("custom-role-permissions-valid", rtype, {"permissions": ["logging.logs.list", wildcard]},
                  ctx(name="ops"))  # fmt: skip
    assert len(found) == 1 and repr(wildcard) in found[0] and "IAM takes no wildcard" in found[0]


@pytest.mark.parametrize(
    "permissions",
    [["storage.objects.get", "storage.objects.list"], [UNKNOWN_STRING], UNKNOWN_ARRAY, []],
)
def test_whole_permission_names_pass(permissions: object) -> None:
    assert judge("custom-role-permissions-valid", CUSTOM_ROLE, {"permissions": permissions}, ctx()) == []


# --- consumer-domain-members -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "member",
    ["user:alex@gmail.com", "user:Alex.Doe@GMAIL.com", "user:al@outlook.com", "group:our-team@googlegroups.com",
     "user:x@icloud.com", "user:x@proton.me"],
)  # fmt: skip
def test_consumer_domain_members_are_rejected_on_any_grant(member: str) -> None:
    member_grant = judge("consumer-domain-members", PROJECT_MEMBER, {"role": "roles/logging.viewer",
                                                                     "member": member}, ctx(name="log-reader"))  # fmt: skip
    assert len(member_grant) == 1 and "consumer email domain" in member_grant[0] and "'log-reader'" in member_grant[0]
    binding = {"role": "roles/storage.objectViewer", "members": ["group:eng@acme.example", member]}
    found = judge("consumer-domain-members", BUCKET_BINDING, binding, ctx())
    assert len(found) == 1 and found[0].startswith("members[1]: ")
    policy = {"policyData": json.dumps({"bindings": [{"role": "roles/viewer", "members": [member]}]})}
    assert len(judge("consumer-domain-members", PROJECT_POLICY, policy, ctx())) == 1


@pytest.mark.parametrize(
    "member",
    [
        "user:alex@acme.example",
        "user:alex@gmail.com.acme.example",  # the domain is the whole part after @
        "serviceAccount:ci@gmail-prod.iam.gserviceaccount.com",
        "domain:gmail.com",  # a whole domain is no-broad-principals' finding
        "allUsers",
        UNKNOWN_STRING,
    ],
)
def test_organization_members_and_other_findings_pass(member: str) -> None:
    assert judge("consumer-domain-members", PROJECT_MEMBER, {"role": "roles/logging.viewer", "member": member},
                 ctx()) == []  # fmt: skip


def test_extra_consumer_domains_extend_the_built_in_list() -> None:
    grant = {"role": "roles/logging.viewer", "member": "user:kim@mail.example-isp.net"}
    assert judge("consumer-domain-members", PROJECT_MEMBER, grant, ctx()) == []
    extended = ctx(extra_consumer_domains=frozenset({"Mail.Example-ISP.net"}))
    assert len(judge("consumer-domain-members", PROJECT_MEMBER, grant, extended)) == 1
    assert consumer_domain("user:a@gmail.com") == "gmail.com" and "gmail.com" in CONSUMER_DOMAINS


def test_with_allowed_member_domains_the_finding_is_no_broad_principals_or_none() -> None:
    """Given the same allowedMemberDomains list as no-broad-principals: a consumer domain on it is accepted, one
    off it is no-broad-principals' finding (one finding per root cause)."""
    grant = {"role": "roles/logging.viewer", "member": "user:alex@gmail.com"}
    off_list = ctx(allowed_member_domains=frozenset({"acme.example"}))
    assert judge("consumer-domain-members", PROJECT_MEMBER, grant, off_list) == []
    assert len(judge("no-broad-principals", PROJECT_MEMBER, grant, off_list)) == 1
    on_list = ctx(allowed_member_domains=frozenset({"acme.example", "gmail.com"}))
    assert judge("consumer-domain-members", PROJECT_MEMBER, grant, on_list) == []
    assert judge("no-broad-principals", PROJECT_MEMBER, grant, on_list) == []


def test_the_policy_takes_its_settings_and_refuses_bad_ones() -> None:
    spec = next(s for s in SPECS if s.name == "consumer-domain-members")
    settings = parse_settings(spec.name, {"extraConsumerDomains": ["isp.example"]}, spec.settings)
    assert settings.extra_consumer_domains == frozenset({"isp.example"})
    with pytest.raises(ConfigError, match="extraConsumerDomains must be a list of non-empty strings"):
        parse_settings(spec.name, {"extraConsumerDomains": "isp.example"}, spec.settings)
    with pytest.raises(ConfigError, match="did you mean 'extraConsumerDomains'"):
        parse_settings(spec.name, {"extraConsumerDomain": ["isp.example"]}, spec.settings)
