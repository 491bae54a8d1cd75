"""The role table: generated from the predefined-roles data by the committed generator, classified by the
same function as custom roles; the classes by permission; the sweep over every identity-escalating role."""

from __future__ import annotations

import json

import pytest

from secure_invoke.policies.guardrails import power
from secure_invoke.policies.guardrails.power import (
    PROJECT_SCOPED_BY_NATURE,
    RESOURCE_KINDS,
    TABLE_PATH,
    classify,
    predefined,
)
from secure_invoke.policies.guardrails.roles import judge_high_scope
from secure_invoke.policies.tools import generate_role_table
from tests.policies.guardrail_cases import ctx, evaluate, mandatory, urn

DATA = generate_role_table.find_data()
TABLE = json.loads(TABLE_PATH.read_text(encoding="utf-8"))
SA = "serviceAccount:app@si-dev-1234.iam.gserviceaccount.com"
PROJECT_MEMBER = "gcp:projects/iAMMember:IAMMember"


def test_committed_table_is_what_the_generator_makes_of_the_data() -> None:
    document, digest = generate_role_table.load_data(DATA)
    assert TABLE_PATH.read_text(encoding="utf-8") == generate_role_table.render(document, digest)
    assert TABLE["dataSha256"] == digest and set(TABLE["roles"]) == set(document["roles"])


def test_generator_check_mode_and_bad_data(tmp_path, capsys) -> None:
    assert generate_role_table.main(["--check"]) == 0
    bad = tmp_path / "roles.json"
    bad.write_text(json.dumps({"roles": {"roles/x": {"title": "no permissions"}}}))
    assert generate_role_table.main(["--data", str(bad), "--check"]) == 2
    assert "roles['roles/x'] is not a role with a permissions list" in capsys.readouterr().err


def test_table_header_names_its_source_and_version() -> None:
    assert TABLE["format"] == power.TABLE_FORMAT
    assert "iam-dataset" in TABLE["source"] and "MIT" in TABLE["source"]
    assert TABLE["version"].endswith(TABLE["dataSha256"][:12])
    assert len(TABLE["roles"]) > 2000


@pytest.mark.parametrize(
    ("permissions", "attribute", "expected"),
    [
        (["iam.serviceAccounts.actAs"], "escalation", ("iam.serviceAccounts.actAs",)),
        (["iam.serviceAccountKeys.create"], "escalation", ("iam.serviceAccountKeys.create",)),
        (["run.services.setIamPolicy"], "iam", ("run.services.setIamPolicy",)),
        (["iam.roles.update"], "iam", ("iam.roles.update",)),
        (["cloudbuild.builds.create"], "runs_code", ("cloudbuild.builds.create",)),
        (["storage.objects.get", "storage.objects.list"], "reads", ("bucket",)),
        (["storage.objects.create"], "writes", ("bucket",)),
        (["secretmanager.versions.access"], "reads", ("secret",)),
        (["pubsub.topics.publish"], "writes", ("Pub/Sub topic",)),
        (["run.routes.invoke"], "writes", ("Cloud Run service",)),
    ],
)
def test_classes_by_permission(permissions: list[str], attribute: str, expected: tuple[str, ...]) -> None:
    assert getattr(classify(permissions), attribute) == expected


@pytest.mark.parametrize(
    "permissions",
    [
        ["storage.buckets.create", "storage.buckets.get", "storage.buckets.list"],  # create: project-level by nature
        ["secretmanager.secrets.get", "secretmanager.versions.list", "secretmanager.secrets.getIamPolicy"],
        ["logging.logEntries.create", "monitoring.timeSeries.create", "cloudsql.instances.connect"],
        ["iam.serviceAccounts.create", "iam.serviceAccounts.get"],
    ],
)
def test_metadata_reads_and_creates_carry_no_class(permissions: list[str]) -> None:
    assert classify(permissions).harmless


def test_resource_kinds_are_really_grantable_one_by_one() -> None:
    import pulumi_gcp

    for kind in RESOURCE_KINDS:
        module, name = kind.iam_member.removeprefix("gcp.").split(".")
        assert hasattr(getattr(pulumi_gcp, module), name), kind.iam_member
        assert kind.top in kind.prefixes


ESCALATING = sorted(role for role, record in TABLE["roles"].items() if record.get("escalation"))


def test_there_are_many_escalating_roles_beyond_the_impersonation_ones() -> None:
    assert len(ESCALATING) > 60
    assert {
        "roles/iam.serviceAccountTokenCreator",
        "roles/serverless.serviceAgent",
        "roles/dataflow.serviceAgent",
    } <= set(ESCALATING)


def _project_grants(roles: list[str], member: str = SA) -> list[dict]:
    return [
        {"urn": urn("dev", PROJECT_MEMBER, f"g{i}"), "type": PROJECT_MEMBER, "name": f"g{i}", "parent": None,
         "dependencies": [], "props": {"project": "si-dev-1234", "role": role, "member": member}}
        for i, role in enumerate(roles)
    ]  # fmt: skip


def test_sweep_every_escalating_role_on_a_project_is_rejected_once() -> None:
    resources = _project_grants(ESCALATING)
    found = mandatory(evaluate(resources))
    by_urn: dict[str, list[str]] = {}
    for name, at, _ in found:
        by_urn.setdefault(at, []).append(name)
    missing = [r["props"]["role"] for r in resources if r["urn"] not in by_urn]
    assert missing == []
    # one finding per grant: the basic roles by no-basic-roles, service-agent roles by their own policy, key
    # minting by its own, everything else by the scope judgement
    assert {at: names for at, names in by_urn.items() if len(names) != 1} == {}


def test_sweep_project_scoped_by_nature_roles_accepted() -> None:
    assert mandatory(evaluate(_project_grants(list(PROJECT_SCOPED_BY_NATURE)))) == []
    for role in PROJECT_SCOPED_BY_NATURE:
        assert predefined(role) is not None and predefined(role).harmless  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("role", "words"),
    [
        ("roles/cloudbuild.builds.editor", "run code as identities"),
        ("roles/dataflow.developer", "run code as identities"),
        ("roles/run.sourceDeveloper", "run code as identities"),
        ("roles/deploymentmanager.editor", "run code as identities"),
        ("roles/pubsub.editor", "every Pub/Sub subscription, Pub/Sub topic"),
        ("roles/storage.objectViewer", "read every bucket"),
        ("roles/artifactregistry.writer", "every Artifact Registry repository"),
        ("roles/bigquery.dataViewer", "read every BigQuery dataset"),
        ("roles/iam.serviceAccountOpenIdTokenCreator", "act as or mint credentials"),
        ("roles/resourcemanager.projectIamAdmin", "change IAM"),
    ],
)
def test_issue_misses_now_rejected_on_a_project_with_the_reason(role: str, words: str) -> None:
    messages = judge_high_scope(PROJECT_MEMBER, {"role": role, "member": SA}, ctx())
    assert len(messages) == 1 and words in messages[0] and "instead" in messages[0], messages


@pytest.mark.parametrize(
    ("permission", "attribute"),
    [
        ("container.serviceAccounts.createToken", "escalation"),
        ("storage.hmacKeys.create", "escalation"),
        ("container.pods.create", "runs_code"),
        ("container.pods.exec", "runs_code"),
        ("composer.environments.update", "runs_code"),
        ("orgpolicy.policy.set", "org_policy"),
        ("orgpolicy.policies.update", "org_policy"),
    ],
)
def test_credential_code_and_org_policy_permissions_have_a_class_and_a_documented_reason(
    permission: str, attribute: str
) -> None:
    found = classify([permission])
    assert getattr(found, attribute) == (permission,) and found.identity_level
    reasons = {
        "escalation": power.ESCALATION_PERMISSIONS,
        "runs_code": power.RUNS_CODE_PERMISSIONS,
        "org_policy": power.ORG_POLICY_PERMISSIONS,
    }[attribute]
    assert len(reasons[permission]) > 20


ORG_POLICY_ROLES = sorted(role for role, record in TABLE["roles"].items() if record.get("orgPolicy"))


def test_org_policy_roles_are_rejected_on_a_project_once_each() -> None:
    assert "roles/orgpolicy.policyAdmin" in ORG_POLICY_ROLES
    found = mandatory(evaluate(_project_grants(ORG_POLICY_ROLES)))
    assert sorted(at.rsplit("::", 1)[1] for _, at, _ in found) == [f"g{i}" for i in range(len(ORG_POLICY_ROLES))]
    messages = judge_high_scope(PROJECT_MEMBER, {"role": "roles/orgpolicy.policyAdmin", "member": SA}, ctx())
    assert len(messages) == 1 and "organization policy constraints" in messages[0]


def test_invoke_permissions_are_recorded_by_name() -> None:
    assert predefined("roles/run.invoker").invoke == ("run.routes.invoke",)  # type: ignore[union-attr]
    assert predefined("roles/cloudfunctions.invoker").invoke == ("cloudfunctions.functions.invoke",)  # type: ignore[union-attr]
    assert predefined("roles/run.editor").invokes("run.routes.invoke")  # type: ignore[union-attr]
    assert not predefined("roles/run.viewer").invoke  # type: ignore[union-attr]


def test_the_table_keeps_the_service_account_iam_evidence_rules_ask_for() -> None:
    for role in ("roles/iam.serviceAccountAdmin", "roles/iam.securityAdmin", "roles/iam.admin"):
        assert predefined(role).sets_service_account_iam, role  # type: ignore[union-attr]
    assert not predefined("roles/storage.admin").sets_service_account_iam  # type: ignore[union-attr]
