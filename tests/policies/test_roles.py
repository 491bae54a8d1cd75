"""Roles: basic roles anywhere, privileged roles at high scope, key minting, dangerous custom roles."""

from __future__ import annotations

import json

import pytest

from secure_invoke.policies.guardrails.roles import (
    custom_roles_verifiable,
    judge_high_scope,
    no_basic_roles,
    no_key_minting_grants,
    no_privileged_custom_roles,
)
from secure_invoke.policies.guardrails.stack import StackModel
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
    messages = judge_high_scope(rtype, {"role": role, "member": SA}, ctx())
    assert len(messages) == 1 and role in messages[0] and "instead" in messages[0]


def test_privileged_role_in_authoritative_project_policy_rejected() -> None:
    policy = {"bindings": [{"role": "roles/iam.serviceAccountUser", "members": [SA]}]}
    props = {"policyData": json.dumps(policy)}
    assert len(judge_high_scope("gcp:projects/iAMPolicy:IAMPolicy", props, ctx())) == 1


@pytest.mark.parametrize(
    "role", ["roles/run.invoker", "roles/iam.serviceAccountUser", "roles/secretmanager.secretAccessor"]
)
def test_same_roles_on_one_resource_accepted(role: str) -> None:
    for rtype in (
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
        "gcp:serviceaccount/iAMMember:IAMMember",
        "gcp:secretmanager/secretIamMember:SecretIamMember",
    ):
        assert judge_high_scope(rtype, {"role": role, "member": SA}, ctx()) == []


def test_narrow_roles_and_extra_allowed_roles_accepted_at_project() -> None:
    rtype = "gcp:projects/iAMMember:IAMMember"
    for role in ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/admin.viewer", UNKNOWN_STRING):
        assert judge_high_scope(rtype, {"role": role, "member": SA}, ctx()) == []
    allowed = ctx(extra_allowed_roles=frozenset({"roles/storage.admin"}))
    assert judge_high_scope(rtype, {"role": "roles/storage.admin", "member": SA}, allowed) == []
    assert len(judge_high_scope(rtype, {"role": "roles/run.admin", "member": SA}, allowed)) == 1


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


# --- custom roles the pack cannot see (advisory) ---------------------------------------------------------


def _grant(name: str, role: str, rtype: str = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember") -> dict:
    return {"urn": f"urn:pulumi:dev::p::{rtype}::{name}", "type": rtype, "name": name,
            "props": {"name": "worker", "role": role, "member": SA}}  # fmt: skip


def _custom_role(role_id: object, name: object = None, rtype: str = "gcp:projects/iAMCustomRole:IAMCustomRole") -> dict:
    props = {"roleId": role_id, "permissions": ["run.routes.invoke"]}
    if name is not None:
        props["name"] = name
    return {"urn": f"urn:pulumi:dev::p::{rtype}::role", "type": rtype, "name": "role", "props": props}


@pytest.mark.parametrize(
    "role", ["projects/other-project/roles/invoker", "organizations/123456/roles/securityReviewer"]
)
def test_custom_role_from_outside_the_stack_noted(role: str) -> None:
    grant = _grant("outside", role)
    found = custom_roles_verifiable(StackModel([grant]), ctx())
    assert [at for at, _ in found] == [grant["urn"]]
    assert "cannot verify its permissions" in found[0][1] and role in found[0][1] and "'outside'" in found[0][1]
    policy = {"urn": "urn:pol", "type": "gcp:projects/iAMPolicy:IAMPolicy", "name": "pol",
              "props": {"policyData": json.dumps({"bindings": [{"role": role, "members": [SA]}]})}}  # fmt: skip
    assert [at for at, _ in custom_roles_verifiable(StackModel([policy]), ctx())] == ["urn:pol"]


@pytest.mark.parametrize(
    "resources",
    [
        [_custom_role("invoker", "projects/si-dev-1234/roles/invoker"), _grant("g", "projects/si-dev-1234/roles/invoker")],
        [_custom_role("invoker"), _grant("g", "projects/si-dev-1234/roles/invoker")],  # name not known: by roleId
        [_custom_role("rev", rtype="gcp:organizations/iAMCustomRole:IAMCustomRole"), _grant("g", "organizations/1/roles/rev")],
        [_custom_role(UNKNOWN_STRING), _grant("g", "projects/si-dev-1234/roles/invoker")],  # might be this one
        [_grant("g", "roles/run.invoker")],  # predefined roles are known to the pack
        [_grant("g", UNKNOWN_STRING)],
    ],
)  # fmt: skip
def test_custom_roles_the_pack_can_see_accepted(resources: list[dict]) -> None:
    assert custom_roles_verifiable(StackModel(resources), ctx()) == []


def test_custom_role_of_other_kind_is_not_the_defined_one() -> None:
    resources = [_custom_role("rev"), _grant("g", "organizations/1/roles/rev")]
    assert len(custom_roles_verifiable(StackModel(resources), ctx())) == 1
