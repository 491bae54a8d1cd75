"""Roles: basic roles anywhere, privileged roles at high scope, key minting, dangerous custom roles."""

from __future__ import annotations

import json

import pytest

from policies.guardrails.roles import (
    no_basic_roles,
    no_high_scope_privileged_roles,
    no_key_minting_grants,
    no_privileged_custom_roles,
)
from tests.policies.guardrail_cases import UNKNOWN_ARRAY, UNKNOWN_STRING, ctx

SA = "serviceAccount:relay-build-dev@si-dev-1234.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:projects/iAMMember:IAMMember", {"role": "roles/editor", "member": SA}),
        ("gcp:projects/iAMBinding:IAMBinding", {"role": "roles/owner", "members": [SA]}),
        ("gcp:projects/iAMPolicy:IAMPolicy", {"policyData": json.dumps({"bindings": [{"role": "roles/viewer", "members": [SA]}]})}),
        ("gcp:folder/iAMMember:IAMMember", {"role": "roles/owner", "member": SA}),
        ("gcp:organizations/iAMBinding:IAMBinding", {"role": "roles/editor", "members": [SA]}),
        ("gcp:storage/bucketIAMMember:BucketIAMMember", {"role": "roles/editor", "member": SA}),
        ("gcp:cloudrunv2/serviceIamMember:ServiceIamMember", {"role": "roles/owner", "member": SA}),
        ("gcp:projects/iAMMember:IAMMember",
         {"role": "roles/editor", "member": SA, "condition": {"title": "t", "expression": "request.time < timestamp('2030-01-01T00:00:00Z')"}}),
        ("gcp:projects/iAMPolicy:IAMPolicy",
         {"policyData": json.dumps({"bindings": [{"role": "roles/owner", "members": [SA], "condition": {"title": "t", "expression": "true"}}]})}),
    ],
)  # fmt: skip
def test_basic_roles_rejected(rtype: str, props: dict) -> None:
    assert len(no_basic_roles(rtype, props, ctx())) == 1


def test_basic_roles_messages_name_condition_and_fix() -> None:
    props = {"role": "roles/editor", "member": SA, "condition": {"title": "t", "expression": "true"}}
    message = no_basic_roles("gcp:projects/iAMMember:IAMMember", props, ctx())[0]
    assert "condition does not make" in message and "predefined role" in message


@pytest.mark.parametrize(
    ("rtype", "props"),
    [
        ("gcp:projects/iAMMember:IAMMember", {"role": "roles/logging.logWriter", "member": SA}),
        ("gcp:projects/iAMMember:IAMMember", {"role": UNKNOWN_STRING, "member": SA}),
        ("gcp:projects/iAMPolicy:IAMPolicy", {"policyData": UNKNOWN_STRING}),
        ("gcp:projects/iAMMember:IAMMember", {"role": "roles/Editor", "member": SA}),  # not a real role id
        ("gcp:projects/iAMCustomRole:IAMCustomRole", {"role": "roles/editor"}),
    ],
)
def test_non_basic_roles_accepted(rtype: str, props: dict) -> None:
    assert no_basic_roles(rtype, props, ctx()) == []


HIGH_SCOPE = [
    "roles/run.admin",
    "roles/iam.serviceAccountAdmin",
    "roles/iam.securityAdmin",
    "roles/storage.admin",
    "roles/resourcemanager.projectIamAdmin",
    "roles/compute.instanceAdmin.v1",
    "roles/iam.serviceAccountUser",
    "roles/iam.serviceAccountTokenCreator",
    "roles/iam.workloadIdentityUser",
    "roles/run.invoker",
    "roles/run.servicesInvoker",
    "roles/run.developer",
    "roles/secretmanager.secretAccessor",
]


@pytest.mark.parametrize("role", HIGH_SCOPE)
@pytest.mark.parametrize(
    "rtype",
    ["gcp:projects/iAMMember:IAMMember", "gcp:folder/iAMMember:IAMMember", "gcp:organizations/iAMMember:IAMMember"],
)
def test_privileged_roles_at_high_scope_rejected(role: str, rtype: str) -> None:
    messages = no_high_scope_privileged_roles(rtype, {"role": role, "member": SA}, ctx())
    assert len(messages) == 1 and role in messages[0] and "instead" in messages[0]


def test_privileged_role_in_authoritative_project_policy_rejected() -> None:
    policy = {"bindings": [{"role": "roles/iam.serviceAccountUser", "members": [SA]}]}
    props = {"policyData": json.dumps(policy)}
    assert len(no_high_scope_privileged_roles("gcp:projects/iAMPolicy:IAMPolicy", props, ctx())) == 1


@pytest.mark.parametrize(
    "role", ["roles/run.invoker", "roles/iam.serviceAccountUser", "roles/secretmanager.secretAccessor"]
)
def test_same_roles_on_one_resource_accepted(role: str) -> None:
    for rtype in (
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
        "gcp:serviceaccount/iAMMember:IAMMember",
        "gcp:secretmanager/secretIamMember:SecretIamMember",
    ):
        assert no_high_scope_privileged_roles(rtype, {"role": role, "member": SA}, ctx()) == []


def test_narrow_roles_and_extra_allowed_roles_accepted_at_project() -> None:
    rtype = "gcp:projects/iAMMember:IAMMember"
    for role in ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/admin.viewer", UNKNOWN_STRING):
        assert no_high_scope_privileged_roles(rtype, {"role": role, "member": SA}, ctx()) == []
    allowed = ctx(extra_allowed_roles=frozenset({"roles/storage.admin"}))
    assert no_high_scope_privileged_roles(rtype, {"role": "roles/storage.admin", "member": SA}, allowed) == []
    assert len(no_high_scope_privileged_roles(rtype, {"role": "roles/run.admin", "member": SA}, allowed)) == 1


def test_key_minting_rejected_everywhere() -> None:
    for rtype in ("gcp:projects/iAMMember:IAMMember", "gcp:serviceaccount/iAMMember:IAMMember"):
        messages = no_key_minting_grants(rtype, {"role": "roles/iam.serviceAccountKeyAdmin", "member": SA}, ctx())
        assert len(messages) == 1
    binding = {"role": "roles/iam.serviceAccountKeyAdmin", "members": [SA, "user:a@example.com"]}
    assert len(no_key_minting_grants("gcp:serviceaccount/iAMBinding:IAMBinding", binding, ctx())) == 2
    assert (
        no_key_minting_grants(
            "gcp:serviceaccount/iAMMember:IAMMember", {"role": "roles/iam.serviceAccountUser", "member": SA}, ctx()
        )
        == []
    )


@pytest.mark.parametrize(
    ("permissions", "dangerous"),
    [
        (["run.services.get", "run.services.setIamPolicy"], "run.services.setIamPolicy"),
        (["resourcemanager.projects.setIamPolicy"], "resourcemanager.projects.setIamPolicy"),
        (["iam.serviceAccounts.actAs"], "iam.serviceAccounts.actAs"),
        (["iam.serviceAccounts.getAccessToken"], "iam.serviceAccounts.getAccessToken"),
        (["iam.serviceAccountKeys.create", "iam.serviceAccountKeys.list"], "iam.serviceAccountKeys.create"),
        (["iam.serviceAccounts.signJwt"], "iam.serviceAccounts.signJwt"),
    ],
)
@pytest.mark.parametrize(
    "rtype", ["gcp:projects/iAMCustomRole:IAMCustomRole", "gcp:organizations/iAMCustomRole:IAMCustomRole"]
)
def test_dangerous_custom_roles_rejected(permissions: list[str], dangerous: str, rtype: str) -> None:
    messages = no_privileged_custom_roles(rtype, {"roleId": "r", "permissions": permissions}, ctx())
    assert len(messages) == 1 and dangerous in messages[0]
    assert all(p not in messages[0] for p in permissions if p != dangerous)


@pytest.mark.parametrize(
    "props",
    [
        {"permissions": ["run.routes.invoke"]},
        {"permissions": ["storage.objects.get", "storage.objects.list"]},
        {"permissions": UNKNOWN_ARRAY},
        {"permissions": [UNKNOWN_STRING, "logging.logEntries.create"]},
        {},
    ],
)
def test_safe_custom_roles_accepted(props: dict) -> None:
    assert no_privileged_custom_roles("gcp:projects/iAMCustomRole:IAMCustomRole", props, ctx()) == []
