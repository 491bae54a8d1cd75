"""Real Pulumi programs through `python -m secure_invoke.preflight` (program run by preflight's engine, the pack through its
own analyzer process): every `reject-*` resource draws exactly one mandatory finding, every `note-*` one
advisory, every `accept-*` none — the accept side is the point as much as the reject side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = Path(__file__).resolve().parent / "programs"

pytestmark = pytest.mark.slow

EXPECTED: dict[str, set[tuple[str, str, str]]] = {
    "roles-by-power": {
        ("mandatory", "no-high-scope-privileged-roles", "reject-builds-editor"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-dataflow-developer"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-object-viewer"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-custom-reader"),
        ("mandatory", "service-agent-roles-for-agents", "reject-serverless-agent"),
        ("mandatory", "no-convenience-members", "reject-convenience"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-org-policy-admin"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-gke-developer"),
        ("advisory", "resource-prefix-bounded", "note-partial-prefix"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-bucket-admin"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-gcf-sources-prefix"),
    },
    "resource-power": {
        ("mandatory", "no-resource-admin-for-workloads", "reject-app-bucket-admin"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-app-topic-admin"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-app-subscription-admin"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-app-secret-admin"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-app-key-admin"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-confined-bucket-admin"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-app-administers-reports"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-outside-repo-admin"),
        ("mandatory", "no-resource-admin-for-workloads", "reject-ticker-redeploys-job"),
    },
    "deployers": {
        ("mandatory", "no-resource-admin-for-workloads", "reject-builder-run-admin"),
        ("mandatory", "build-identities-bounded", "reject-builder-project-act-as"),
        ("mandatory", "build-identities-bounded", "reject-builder-iam-admin"),
        ("mandatory", "build-identities-bounded", "reject-ci-token-creator"),
        ("mandatory", "build-identities-bounded", "reject-builder-borrows-admin"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-ops-security-admin"),
        ("mandatory", "only-intended-invokers", "reject-runtime-redeploys-api"),
    },
    "condition-scope": {
        ("mandatory", "no-high-scope-privileged-roles", "reject-gcf-sources-prefix"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-prefix-covers-archive"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-prefix-covers-admin-secret"),
        ("advisory", "resource-prefix-bounded", "note-prefix-of-nothing-here"),
    },
    "shared-identities": {
        ("advisory", "workload-identities-shared", "note-stop-dev-box"),
        ("advisory", "workload-identities-shared", "note-shop-migrate"),
        ("mandatory", "workload-identities-not-shared", "reject-storefront-shares-report-account"),
        ("mandatory", "workload-identities-not-shared", "reject-export-nightly-as-the-job"),
        ("mandatory", "workload-identities-not-shared", "reject-blank-b"),
    },
    "default-identities": {
        ("mandatory", "workload-identity-set", "reject-vm-default"),
        ("mandatory", "workload-identity-set", "reject-cluster-default"),
        ("mandatory", "no-default-identity-grants", "reject-grant-to-default"),
        ("mandatory", "workload-identity-set", "reject-workflow-default"),
        ("mandatory", "workload-identity-set", "reject-dataflow-default"),
        ("mandatory", "no-default-identity-grants", "reject-act-as-default"),
    },
    "federation-buckets": {
        ("mandatory", "federation-pinned", "reject-no-condition"),
        ("mandatory", "federation-pinned", "reject-sub-pattern"),
        ("mandatory", "bucket-uniform-access", "reject-acl-bucket"),
        ("advisory", "bucket-public-access-prevention", "reject-acl-bucket"),
        ("mandatory", "federation-pinned", "reject-buildkite-pipeline-only"),
        ("mandatory", "federation-pinned", "reject-always-true"),
    },
    "invokers-people": {
        ("mandatory", "human-access-expires", "reject-standing-person"),
        ("mandatory", "human-access-expires", "reject-far-off-person"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-project-token-creator"),
        ("mandatory", "human-access-expires", "reject-borrow-operator-for-good"),
        ("mandatory", "human-access-expires", "reject-borrow-operator-for-a-month"),
        ("mandatory", "only-intended-invokers", "reject-batch-calls-nothing"),
        ("advisory", "unverified-invokers", "note-caller-in-another-stack"),
        ("advisory", "human-access-expired", "note-lapsed-grant"),
        ("advisory", "unverified-invokers", "note-caller-with-secret-config"),
        ("mandatory", "only-intended-invokers", "reject-project-invoker-for-batch"),
    },
    "public-principals": {
        ("mandatory", "no-public-members", "reject-all-users"),
        ("mandatory", "no-public-members", "reject-all-authenticated"),
        ("mandatory", "no-public-members", "reject-public-principal-set"),
        ("mandatory", "no-public-members", "reject-public-in-policy"),
        ("mandatory", "invoker-iam-check-enabled", "reject-invoker-check-off"),
    },
    "credentials-config": {
        ("mandatory", "no-plaintext-secrets-in-config", "reject-run-args-password"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-job-command-token"),
        ("mandatory", "no-plaintext-secrets-in-env", "reject-job-env-password"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-secure-config-in-args"),
        ("mandatory", "no-plaintext-secrets-in-env", "reject-pulumi-secret-in-env"),
        ("mandatory", "no-plaintext-secrets-in-env", "reject-workflow-env-token"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-workflow-source-bearer"),
        ("mandatory", "no-plaintext-secrets-in-env", "reject-build-substitution"),
        ("mandatory", "no-plaintext-secrets-in-env", "reject-build-step-env"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-build-docker-login"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-scheduler-bearer"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-vm-startup-key"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-vm-metadata-password"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-template-user-data"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-container-declaration"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-project-metadata-token"),
        ("mandatory", "no-plaintext-secrets-in-config", "reject-vm-metadata-from-secret-version"),
    },
    "credentials-stored": {
        ("mandatory", "no-literal-credentials", "reject-sql-user-literal"),
        ("mandatory", "no-literal-credentials", "reject-sql-root-plain-config"),
        ("mandatory", "no-literal-credentials", "reject-version-literal"),
        ("mandatory", "no-stored-keys", "reject-version-sa-key-file"),
        ("mandatory", "no-stored-keys", "reject-version-private-key"),
        ("mandatory", "no-literal-credentials", "reject-disk-raw-key"),
        ("mandatory", "no-literal-credentials", "reject-cert-key-in-program"),
        ("mandatory", "no-stored-keys", "reject-source-dir-with-key"),
        ("mandatory", "no-stored-keys", "reject-source-zip-with-key"),
        ("mandatory", "no-stored-keys", "reject-object-key-file"),
        ("mandatory", "no-service-account-keys", "reject-sa-key"),
        ("mandatory", "gke-no-static-credentials", "reject-gke-client-cert"),
    },
    "callers": {
        ("mandatory", "workload-identity-set", "reject-queue-default-account"),
        ("mandatory", "only-intended-invokers", "reject-tasker-on-reports"),
        ("mandatory", "only-intended-invokers", "reject-ticker-on-reports"),
    },
    "peer-hygiene": {
        ("advisory", "kms-keys-rotated", "note-key-never-rotated"),
        ("advisory", "kms-keys-rotated", "note-key-rotated-yearly"),
        ("advisory", "audit-logs-kept", "note-exempt-deployer"),
        ("advisory", "audit-logs-kept", "note-folder-exempts-admins"),
        ("advisory", "audit-logs-kept", "note-policy-drops-iam-audit"),
        ("mandatory", "custom-role-permissions-valid", "reject-wildcard-role"),
        ("mandatory", "consumer-domain-members", "reject-personal-account-reads"),
        ("mandatory", "consumer-domain-members", "reject-consumer-group-views-logs"),
    },
    "gateways-custom-roles": {
        ("mandatory", "only-intended-invokers", "reject-gateway-invokes-ledger"),
        ("mandatory", "no-privileged-custom-roles", "reject-repo-iam-role"),
        ("mandatory", "no-high-scope-privileged-roles", "reject-folder-grant-by-name"),
    },
}


def preflight(program: str, tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    report = tmp_path / f"{program}.json"
    result = subprocess.run(
        [sys.executable, "-m", "secure_invoke.preflight", "--program", str(PROGRAMS / program), "--stack", "dev",
         "--policy-pack", str(ROOT / "policies"), "--json", str(report), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    document = json.loads(report.read_text()) if report.exists() else {}
    return result.returncode, document, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize("program", sorted(EXPECTED))
def test_program_findings_are_exactly_the_reject_and_note_cases(program: str, tmp_path: Path) -> None:
    code, document, output = preflight(program, tmp_path)
    assert code == 1, output
    found = {(v["enforcementLevel"], v["policy"], v["urn"].rsplit("::", 1)[1]) for v in document["violations"]}
    assert found == EXPECTED[program]
    names = {r["urn"].rsplit("::", 1)[1] for r in document["resources"]}
    assert {n for n in names if n.startswith("accept-")}, "each program has accept cases"
    assert not {n for _, _, n in found if n.startswith("accept-")}


def test_outside_caller_becomes_mandatory_once_allowed_invokers_is_set(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    other = "serviceAccount:backend@other-project.iam.gserviceaccount.com"
    listed = {"allowedInvokers": [other]}  # on both invoker policies: each reads its own config
    config.write_text(json.dumps({"only-intended-invokers": listed, "unverified-invokers": listed}))
    _, document, output = preflight("invokers-people", tmp_path, "--policy-pack-config", str(config))
    about = {(v["enforcementLevel"], v["policy"]) for v in document["violations"]
             if v["urn"].endswith("::note-caller-in-another-stack")}  # fmt: skip
    assert about == {("mandatory", "only-intended-invokers")}, output


def test_custom_role_names_and_sink_writers_are_what_grants_use(tmp_path: Path) -> None:
    """A custom role's `name` output is the role a grant names (projects|organizations/<id>/roles/<roleId>),
    and a log sink's writer identity is the Logging service agent: grants built from them are judged as such."""
    _, document, output = preflight("gateways-custom-roles", tmp_path)
    roles = {g["urn"].rsplit("::", 1)[1]: (g["member"], g["role"]) for g in document["grants"]}
    assert roles["reject-folder-grant-by-name"][1] == "organizations/123456789012/roles/repoIamEditor", output
    assert roles["accept-project-grant-by-name"][1] == "projects/si-pack-1234/roles/serviceReader"
    member = roles["accept-sink-writes-dataset"][0]
    assert member.startswith("serviceAccount:service-") and member.endswith("@gcp-sa-logging.iam.gserviceaccount.com")


# Values the credential programs write in plain configuration or credential fields: none of them, nor any
# eight characters of one, may appear in what preflight reports about them.
_WRITTEN = {
    "credentials-config": ["Tr0ub4dor&3", "hunter2!", "s3cret-Pa55", "Pa55w0rd!", "7f2c91d04ab3e865",
                           "5b1e0c7a9d3f4e2b", "9c1f5e2a7b", "correct-horse-battery", "wh_4f9a1c2e8b",
                           "R8mZ2kQ7vN4xT1bW6yP3sJ9dL5fH0cG2aE7u", "2718281828-3141592653-Qz8Rt5Lp2Wv",
                           "C1d2E3f4G5h6I7j8K9l0M1n2O3p4Q5r6S7", "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYw"],
    "credentials-stored": ["Sup3r-S3cret!", "ChangeMe-2024", "hunter2-prod",
                           "SGVyZSBpcyBhIDMyLWJ5dGUga2V5IGZvciBBRVMyNTY=", "MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYw"],
}  # fmt: skip


@pytest.mark.parametrize("program", sorted(_WRITTEN))
def test_no_part_of_a_credential_in_messages_or_the_report(program: str, tmp_path: Path) -> None:
    report = subprocess.run(
        [sys.executable, "-m", "secure_invoke.preflight", "--program", str(PROGRAMS / program), "--stack", "dev",
         "--policy-pack", str(ROOT / "policies"), "--debug"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False, env={**os.environ, "COLUMNS": "400"},
    )  # fmt: skip
    shown = report.stdout + report.stderr  # the terminal report, the program's and the pack's logs (--debug)
    assert report.returncode == 1 and "mandatory violation(s)" in shown, shown[-2000:]
    for value in _WRITTEN[program]:
        windows = {value[i : i + 8] for i in range(max(1, len(value) - 7))}
        assert not [w for w in windows if w in shown], value


def test_the_consumer_domain_policy_takes_its_level_and_domains_from_the_config(tmp_path: Path) -> None:
    """Its level is set like any policy's; extraConsumerDomains adds domains; allowedMemberDomains (the same list on
    no-broad-principals) makes an off-list member no-broad-principals' finding and an on-list one accepted."""
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"consumer-domain-members": "advisory"}))
    _, document, output = preflight("peer-hygiene", tmp_path, "--policy-pack-config", str(config))
    about = {(v["enforcementLevel"], v["urn"].rsplit("::", 1)[1]) for v in document["violations"]
             if v["policy"] == "consumer-domain-members"}  # fmt: skip
    assert about == {("advisory", "reject-personal-account-reads"), ("advisory", "reject-consumer-group-views-logs")}
    allowed = {"allowedMemberDomains": ["acme.example", "googlegroups.com"]}
    config.write_text(json.dumps({"consumer-domain-members": allowed, "no-broad-principals": allowed}))
    _, document, output = preflight("peer-hygiene", tmp_path, "--policy-pack-config", str(config))
    about = {(v["policy"], v["urn"].rsplit("::", 1)[1]) for v in document["violations"]
             if v["policy"] in ("consumer-domain-members", "no-broad-principals")}  # fmt: skip
    assert about == {("no-broad-principals", "reject-personal-account-reads")}, output
