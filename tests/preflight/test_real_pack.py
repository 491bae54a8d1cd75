"""This repository's pack (`policies/`) through the command: each mandatory policy rejects its program and
variant on exactly the offending URN and accepts the baseline; this repository's stacks pass."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.preflight.running import mandatory, run_json

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"


@pytest.mark.parametrize(
    ("program", "policy", "violating"),
    [
        ("public-invoker", "no-public-members", "gcp:cloudrunv2/serviceIamMember:ServiceIamMember::public"),
        ("service-account-key", "no-service-account-keys", "gcp:serviceaccount/key:Key::ci-key"),
        # roles/editor hidden in policyData that came from organizations.get_iam_policy
        ("basic-role-policy", "no-basic-roles", "gcp:projects/iAMPolicy:IAMPolicy::project-policy"),
        # a stack policy names the resource at fault
        # a stack policy names one of the two services that share the identity: the one registered second,
        # and registrations are concurrent, as in the engine
        ("shared-identity", "workload-identities-not-shared", "gcp:cloudrunv2/service:Service::api|jobs"),
    ],
)
def test_real_pack_rejects(tmp_path, program, policy, violating):
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / program))
    assert code == 1, output
    qualified, names = violating.rsplit("::", 1)
    found = {urn for name, urn in mandatory(document) if name == policy}
    assert len(found & {f"urn:pulumi:dev::{program}::{qualified}::{n}" for n in names.split("|")}) == 1, found
    assert "✘ FAIL" in output


def test_real_pack_accepts_a_private_service(tmp_path):
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "private-service"))
    assert code == 0, output
    assert mandatory(document) == set()
    assert document["outputs"]["url"].endswith("-ew.a.run.app")
    assert "✔ PASS" in output


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_our_stack_passes_the_real_pack(tmp_path, stack):
    code, document, output = run_json(tmp_path, "--stack", stack)
    assert code == 0, output
    assert document["project"] == "secure-invoke"
    assert document["stack"] == stack
    grants = {(g["member"], g["role"], g["resource"]) for g in document["grants"]}
    # The worker's invokers are exactly the callers its own allowlist names (the relay, the operator account and
    # each declared caller): what Cloud Run lets through, the worker accepts; and nothing is public.
    outputs = document["outputs"]
    worker = next(r for r in document["resources"] if r["type"] == "gcp:cloudrunv2/service:Service")
    envs = {e["name"]: e.get("value") for e in worker["inputs"]["template"]["containers"][0]["envs"]}
    emails = envs["ALLOWED_INVOKERS"].split(",")
    assert emails[:2] == [outputs["relay_runtime_email"], outputs["worker_operator_email"]]
    assert {g for g in grants if g[2] == f"cloudrunv2/service worker-{stack}"} == {
        (f"serviceAccount:{email}", "roles/run.invoker", f"cloudrunv2/service worker-{stack}") for email in emails
    }
    assert not any(g[0] in ("allUsers", "allAuthenticatedUsers") for g in grants)
    assert all(p["name"] == "secure-invoke-guardrails" for p in document["policyPacks"])


def test_our_stack_in_preview_mode(tmp_path):
    code, document, output = run_json(tmp_path, "--stack", "dev", "--preview")
    assert code == 0, output
    assert document["preview"] is True
    account = next(r for r in document["resources"] if r["type"] == "gcp:serviceaccount/account:Account")
    assert account["outputs"]["email"] == "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


VARIANT_CASES = [
    ("public-acl", "no-public-acls", "gcp:storage/bucketAccessControl:BucketAccessControl::public-read"),
    ("domain-member", "no-broad-principals", "gcp:pubsub/topicIAMMember:TopicIAMMember::domain-subscribers"),
    ("invoker-check-off", "invoker-iam-check-enabled", "gcp:cloudrunv2/service:Service::worker"),
    ("hmac-key", "no-hmac-keys", "gcp:storage/hmacKey:HmacKey::legacy-hmac"),
    ("unrestricted-api-key", "api-keys-restricted", "gcp:projects/apiKey:ApiKey::maps"),
    ("plaintext-secret", "no-plaintext-secrets-in-env", "gcp:cloudrunv2/service:Service::worker"),
    ("no-identity", "workload-identity-set", "gcp:cloudrunv2/service:Service::worker"),
    ("project-invoker", "no-high-scope-privileged-roles", "gcp:projects/iAMMember:IAMMember::project-wide-invoker"),
    ("key-minting", "no-key-minting-grants", "gcp:serviceaccount/iAMMember:IAMMember::key-admin"),
    ("privileged-custom-role", "no-privileged-custom-roles", "gcp:projects/iAMCustomRole:IAMCustomRole::deployer"),
    (
        "unintended-invoker",
        "only-intended-invokers",
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember::stranger-invoker",
    ),
]


@pytest.mark.parametrize(("case", "policy", "violating"), VARIANT_CASES, ids=[c[0] for c in VARIANT_CASES])
def test_real_pack_rejects_each_variant_exactly(tmp_path, case, policy, violating):
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "variants"), "--set", f"case={case}")
    assert code == 1, output
    # Exactly the one offending resource, under exactly the one policy: the accept case below is the
    # same program without it.
    assert mandatory(document) == {(policy, f"urn:pulumi:dev::variants::{violating}")}


def test_real_pack_accepts_the_variant_baseline(tmp_path):
    code, document, output = run_json(tmp_path, "--program", str(PROGRAMS / "variants"))
    assert code == 0, output
    assert document["violations"] == []


# --- exemptions: what the pack's config exempts is shown, never silent ------------------------------------

SUMMARY = HERE.parents[1] / ".github" / "scripts" / "preflight_summary.py"
PUBLIC = "urn:pulumi:dev::public-invoker::gcp:cloudrunv2/serviceIamMember:ServiceIamMember::public"


def _exempting(tmp_path: Path, policy: str, *urns: str) -> Path:
    config = tmp_path / "exemptions.json"
    entries = [{"urn": urn, "reason": "public status page, approved in SEC-123"} for urn in urns]
    config.write_text(json.dumps({policy: {"exemptions": entries}}))
    return config


def test_an_exempted_violation_is_in_the_report_the_json_and_the_ci_summary(tmp_path):
    config = _exempting(tmp_path, "no-public-members", PUBLIC)
    code, document, output = run_json(
        tmp_path, "--program", str(PROGRAMS / "public-invoker"), "--policy-pack-config", str(config)
    )
    assert code == 0, output  # exempted: not blocking
    assert mandatory(document) == set()
    assert document["exemptions"] == [
        {
            "policyPack": "secure-invoke-guardrails",
            "policy": "no-public-members",
            "urn": PUBLIC,
            "reason": "public status page, approved in SEC-123",
        }
    ]
    assert "- [exempted]  no-public-members" in output
    assert "gcp:cloudrunv2:ServiceIamMember: public  reason: public status page, approved in SEC-123" in output
    assert re.search(r"✔ PASS  no mandatory violations, \d+ advisory, 1 exempted \(", output), output
    summary = subprocess.run(
        [sys.executable, str(SUMMARY)],
        env={**os.environ, "TITLE": "t", "OUTCOME": "success", "REPORT": str(tmp_path / "result.json"),
             "GRAPH": str(tmp_path / "none.md")},
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert ", 1 exempted" in summary
    assert f"| no-public-members | `{PUBLIC}` | public status page, approved in SEC-123 |" in summary


def test_a_stack_policys_exemption_is_shown_too(tmp_path):
    base = "urn:pulumi:dev::shared-identity::gcp:cloudrunv2/service:Service::"
    config = _exempting(tmp_path, "workload-identities-not-shared", base + "api", base + "jobs")
    code, document, output = run_json(
        tmp_path, "--program", str(PROGRAMS / "shared-identity"), "--policy-pack-config", str(config)
    )
    assert code == 0, output
    exempted = [(e["policy"], e["urn"]) for e in document["exemptions"]]
    assert len(exempted) == 1, exempted  # the one the policy names (see test_real_pack_rejects)
    assert exempted[0][0] == "workload-identities-not-shared"
    assert exempted[0][1] in {base + "api", base + "jobs"}
    assert "- [exempted]  workload-identities-not-shared" in output


def test_a_mistyped_exemption_warns_with_the_urn_it_probably_meant(tmp_path):
    config = _exempting(tmp_path, "no-public-members", PUBLIC + "-page")
    code, document, output = run_json(
        tmp_path, "--program", str(PROGRAMS / "public-invoker"), "--policy-pack-config", str(config)
    )
    assert code == 1, output  # the typo exempts nothing
    assert mandatory(document) == {("no-public-members", PUBLIC)}
    assert document["exemptions"] == []
    (pack,) = document["policyPacks"]
    assert pack["unknownExemptions"] == [{"policy": "no-public-members", "urn": PUBLIC + "-page", "didYouMean": PUBLIC}]
    assert (
        f"warning: no-public-members: the exemption of {PUBLIC}-page names no resource of this stack; "
        f"did you mean {PUBLIC}?" in output
    )
