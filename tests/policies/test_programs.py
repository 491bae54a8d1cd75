"""Real Pulumi programs through `python -m secure_invoke.preflight` (program run by preflight's engine, the pack through its
own analyzer process): every `reject-*` resource draws exactly one mandatory finding, every `note-*` one
advisory, every `accept-*` none — the accept side is the point as much as the reject side."""

from __future__ import annotations

import json
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
