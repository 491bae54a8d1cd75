"""This repository's pack (`policies/`) through the command: each mandatory policy rejects its program and
variant on exactly the offending URN and accepts the baseline; this repository's stacks pass."""

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
