"""REVIEW FINDINGS (branch review-pack), now fixed: the reviewer's reproductions of where
secure-invoke-guardrails was wrong, kept as regression tests with exact expectations.

- `miss-*` resources of programs/review-findings are dangerous: each draws exactly the findings in `MISSES`
  (mandatory; except a bucket prefix that ends mid-name, which is accepted as resource scope and noted:
  `PARTIAL_PREFIX`, a decision taken against the reviewer's expectation);
- `fp-*` resources are sound designs and `ok-*` resources support the cases: no finding at all, at any level,
  after `pulumi up`, in a preview, and with allowedMemberDomains set.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import pytest

from secure_invoke.policies.guardrails import conditions, humans, roles
from secure_invoke.policies.guardrails.context import RuleContext
from secure_invoke.policies.guardrails.power import predefined

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).resolve().parent / "programs" / "review-findings"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

Found = set[tuple[str, str, str]]  # (enforcement level, policy, resource name)


def _run(tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "secure_invoke.preflight", "--program", str(PROGRAM), "--stack", "dev",
         "--policy-pack", str(ROOT / "policies"), "--json", str(report), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    document = json.loads(report.read_text()) if report.exists() else {}
    return result.returncode, document, result.stdout[-3000:] + result.stderr[-3000:]


def _found(document: dict) -> Found:
    return {(v["enforcementLevel"], v["policy"], v["urn"].rsplit("::", 1)[1]) for v in document.get("violations", [])}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Found]:
    """Everything found after `pulumi up` (all outputs known), in a preview, and in a run whose
    no-broad-principals config allows the company domain."""
    out: dict[str, Found] = {}
    for mode in ("up", "preview", "domain"):
        tmp = tmp_path_factory.mktemp(mode)
        extra: tuple[str, ...] = ("--preview",) if mode == "preview" else ()
        if mode == "domain":
            config = tmp / "config.json"
            config.write_text(json.dumps({"no-broad-principals": {"allowedMemberDomains": ["acme.example"]}}))
            extra = ("--policy-pack-config", str(config))
        code, document, output = _run(tmp, *extra)
        assert document and code == 1, output  # the run worked, and it has mandatory findings
        out[mode] = _found(document)
    return out


M = "mandatory"
SCOPE = "no-high-scope-privileged-roles"
# Each miss: what was wrong (the reviewer's words), and exactly what the pack reports on it now.
MISSES: dict[str, tuple[str, set[tuple[str, str]]]] = {
    "miss-agent-lookalike-token-creator": ("a user-managed account named service-<digits>@<any project> was "
        "treated as a Google service agent and exempt from scope judgement", {(M, SCOPE)}),
    "miss-agent-lookalike-org-admin": ("the same look-alike held organization-wide IAM admin unreported",
        {(M, SCOPE)}),
    "miss-zone-wide-instance-admin": ("a resource.name prefix naming a zone counted as one resource", {(M, SCOPE)}),
    "miss-comment-hides-or-person": ("a CEL // comment with a quote hid `|| true` from conditions.py",
        {(M, "human-access-expires")}),
    "miss-comment-hides-or-federation": ("a CEL // comment with a quote hid `|| true` from federation.py",
        {(M, "federation-pinned")}),
    "miss-shared-issuer-trivial-condition": ("attributeCondition 'true' passed; Buildkite's shared issuer was not "
        "known", {(M, "federation-pinned")}),
    "miss-person-standing-admin-of-operator": ("a person's standing setIamPolicy on the operator account defeated "
        "JIT", {(M, "human-access-expires")}),
    "miss-hmac-key-admin": ("storage.hmacKeys.create (long-lived credentials for any service account) had no class",
        {(M, SCOPE)}),
    "miss-container-developer": ("container.serviceAccounts.createToken / pods.exec / pods.create had no class",
        {(M, SCOPE)}),
    "miss-act-as-default-account": ("actAs on the Compute Engine default account (an editor) on one resource "
        "passed", {(M, "no-default-identity-grants")}),
    "miss-invoker-by-run-editor": ("invokers were judged by a role name list; roles/run.editor carries "
        "run.routes.invoke", {(M, "only-intended-invokers")}),
    "miss-invoker-via-project-condition": ("a project-level run.invoker confined to the service skipped the "
        "invoker rule", {(M, "only-intended-invokers")}),
    "miss-workflow-default-identity": ("Workflows without a service account run as the Compute Engine default",
        {(M, "workload-identity-set")}),
    "miss-build-trigger-default-identity": ("Cloud Build triggers without a service account run as a default "
        "account", {(M, "workload-identity-set")}),
    # Without the config: the whole domain as a member (no-broad-principals) and the role at organization scope
    # (the scope judgement) are two root causes, each with its own fix.
    "miss-domain-org-token-creator": ("allowedMemberDomains also waived every scope judgement for domain: members",
        {(M, "no-broad-principals"), (M, SCOPE)}),
}  # fmt: skip
# Decided against the reviewer's expectation (mandatory): a startsWith prefix that ends mid-name still names a
# resource, so the grant counts as resource scope; the partial prefix is noted (advisory), with the exact form.
PARTIAL_PREFIX: Final = ("miss-prefix-bucket-object-admin", {("advisory", "resource-prefix-bounded")})
# In a preview the member of these grants is an account created in the same run: not known yet, judged at up.
NEEDS_KNOWN_MEMBER: Final = {
    "miss-act-as-default-account",
    "miss-invoker-by-run-editor",
    "miss-invoker-via-project-condition",
}


def _expected(mode: str) -> Found:
    cases = {name: found for name, (_why, found) in MISSES.items()}
    cases[PARTIAL_PREFIX[0]] = PARTIAL_PREFIX[1]
    if mode == "preview":
        cases = {name: found for name, found in cases.items() if name not in NEEDS_KNOWN_MEMBER}
    if mode == "domain":
        cases["miss-domain-org-token-creator"] = {(M, SCOPE)}  # the domain is allowed; the role is still judged
    return {(level, policy, name) for name, found in cases.items() for level, policy in found}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["up", "preview", "domain"])
def test_program_findings_are_exactly_the_misses(findings: dict[str, Found], mode: str) -> None:
    """Every miss draws exactly its findings; no fp-* or ok-* resource draws any, at any level."""
    assert findings[mode] == _expected(mode)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(MISSES))
def test_miss_is_rejected(findings: dict[str, Found], name: str) -> None:
    assert {(level, policy) for level, policy, n in findings["up"] if n == name} == MISSES[name][1]


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "fp-caller-url-in-args",  # the URL as a container arg: a caller, not "provably" none
        "fp-inline-node-pools",  # inline pools with their own account: no default pool exists
        "fp-github-sub-prefix",  # sub.startsWith('repo:<owner>/<repo>:') names one repository
        "fp-preview-secret-condition",  # an unknown (computed) condition is not "no condition"
    ],
)
def test_sound_design_is_accepted(findings: dict[str, Found], name: str) -> None:
    assert not {f for mode in findings for f in findings[mode] if f[2] == name}


@pytest.mark.slow
def test_allowed_domain_still_cannot_hold_org_wide_token_creator(findings: dict[str, Found]) -> None:
    assert {(lvl, pol) for lvl, pol, n in findings["domain"] if n == "miss-domain-org-token-creator"} == {(M, SCOPE)}


@pytest.mark.slow
def test_controls_behave_as_the_pack_documents(findings: dict[str, Found]) -> None:
    """The same domain grant is rejected by no-broad-principals without the config, and the ok-* resources pass."""
    assert (M, "no-broad-principals", "miss-domain-org-token-creator") in findings["up"]
    assert not {f for mode in findings for f in findings[mode] if f[2].startswith("ok-")}


@pytest.mark.slow
def test_misspelt_config_key_is_an_error(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"only-intended-invokers": {"allowedInvoker": ["serviceAccount:a@b.iam.gserviceaccount.com"]}})
    )
    code, _document, output = _run(tmp_path, "--policy-pack-config", str(config))
    assert code == 2 and "unknown config key 'allowedInvoker' (did you mean 'allowedInvokers'?)" in output, output
    assert "Traceback" not in output


# --- rule level: the same roots, without the runtime -------------------------------------------------------------


def _ctx() -> RuleContext:
    return RuleContext(urn="urn:pulumi:dev::p::t::g", name="g", stack="dev", now=NOW)


def test_comment_does_not_hide_a_disjunction() -> None:
    """The pack's reader and CEL agree on // comments (cel-cpp: this condition is true in 2030)."""
    expression = 'request.time < timestamp("2025-06-02T00:00:00Z") && true // "\n|| true'
    assert conditions.expiry({"expression": expression}) is None


@pytest.mark.parametrize(
    "expression",
    [
        'resource.name.startsWith("projects/p/zones/us-central1-a")',
        'resource.name.startsWith("projects/p/locations/global")',
    ],
)
def test_prefix_that_names_no_resource_is_no_scope(expression: str) -> None:
    """A resource.name prefix must name a resource, not a zone or a location."""
    assert conditions.resource_names({"expression": expression}) == []


def test_prefix_that_ends_mid_name_names_the_resource_but_is_marked_partial() -> None:
    """Part of a name: resource scope (as decided), marked partial for the advisory resource-prefix-bounded."""
    scope = conditions.resource_scope({"expression": 'resource.name.startsWith("projects/_/buckets/a")'})
    assert [(n.collection, n.name, n.partial) for n in scope] == [("buckets", "a", True)]


@pytest.mark.parametrize(
    ("role", "evidence"),
    [
        ("roles/storage.hmacKeyAdmin", ("escalation", "storage.hmacKeys.create")),
        ("roles/container.developer", ("escalation", "container.serviceAccounts.createToken")),
        ("roles/container.admin", ("escalation", "container.serviceAccounts.createToken")),
        ("roles/composer.admin", ("runs_code", "composer.environments.update")),
    ],
)
def test_credential_and_code_roles_are_identity_level(role: str, evidence: tuple[str, str]) -> None:
    """Roles that mint credentials or run code as other identities carry a class, by permission."""
    power = predefined(role)
    assert power is not None and power.identity_level
    assert evidence[1] in getattr(power, evidence[0])


def test_agent_lookalike_is_judged_by_scope() -> None:
    """service-<digits>@<project>.iam.gserviceaccount.com is an ordinary account id, not a Google agent."""
    props = {
        "project": "p",
        "role": "roles/iam.serviceAccountTokenCreator",
        "member": "serviceAccount:service-104729@p.iam.gserviceaccount.com",
    }
    found = roles.judge_high_scope("gcp:projects/iAMMember:IAMMember", props, _ctx())
    assert len(found) == 1 and "every service account in the project" in found[0]


def test_unknown_condition_is_not_judged_in_preview() -> None:
    """An unknown condition (preview) is not read as no condition: it cannot be judged now."""
    project = {
        "project": "p",
        "role": "roles/secretmanager.secretAccessor",
        "member": "serviceAccount:api@p.iam.gserviceaccount.com",
        "condition": {"title": "t", "expression": UNKNOWN_STRING},
    }
    person = {
        "serviceAccountId": "projects/p/serviceAccounts/op@p.iam.gserviceaccount.com",
        "role": "roles/iam.serviceAccountOpenIdTokenCreator",
        "member": "group:oncall@acme.example",
        "condition": {"title": "t", "expression": UNKNOWN_STRING},
    }
    assert roles.judge_high_scope("gcp:projects/iAMMember:IAMMember", project, _ctx()) == []
    assert humans.human_access_expires("gcp:serviceaccount/iAMMember:IAMMember", person, _ctx()) == []
    # the whole condition block unknown, too
    assert (
        humans.human_access_expires(
            "gcp:serviceaccount/iAMMember:IAMMember", {**person, "condition": UNKNOWN_STRING}, _ctx()
        )
        == []
    )
    # and once known, the same grants are judged
    known = {**person, "condition": {"title": "t", "expression": "true"}}
    assert len(humans.human_access_expires("gcp:serviceaccount/iAMMember:IAMMember", known, _ctx())) == 1
