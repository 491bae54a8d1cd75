"""REVIEW FINDINGS (branch review-pack): reproductions of where secure-invoke-guardrails is wrong today.

Every test here asserts what the pack SHOULD do and is marked `xfail(strict=True)`: it fails today (so the
suite stays green), and turns into an error the day the pack is fixed, so whoever fixes a finding removes its
marker. Nothing here is a regression test of current behaviour.

- `miss-*` resources of programs/review-findings are dangerous and should draw a mandatory finding;
- `fp-*` resources are sound designs that should draw none (in `--preview` too).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from policies.guardrails import conditions, humans, roles
from policies.guardrails.context import RuleContext
from policies.guardrails.power import predefined

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).resolve().parent / "programs" / "review-findings"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
UNKNOWN_STRING = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"


def _run(tmp_path: Path, *extra: str) -> tuple[int, dict, str]:
    report = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "preflight", "--program", str(PROGRAM), "--stack", "dev",
         "--policy-pack", str(ROOT / "policies"), "--json", str(report), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    document = json.loads(report.read_text()) if report.exists() else {}
    return result.returncode, document, result.stdout[-3000:] + result.stderr[-3000:]


def _mandatory(document: dict) -> set[str]:
    return {v["urn"].rsplit("::", 1)[1] for v in document.get("violations", []) if v["enforcementLevel"] == "mandatory"}


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """Mandatory findings by resource name: after `pulumi up` (all outputs known), in a preview, and in a
    run whose no-broad-principals config allows the company domain."""
    out: dict[str, set[str]] = {}
    for mode in ("up", "preview", "domain"):
        tmp = tmp_path_factory.mktemp(mode)
        extra: tuple[str, ...] = ("--preview",) if mode == "preview" else ()
        if mode == "domain":
            config = tmp / "config.json"
            config.write_text(json.dumps({"no-broad-principals": {"allowedMemberDomains": ["acme.example"]}}))
            extra = ("--policy-pack-config", str(config))
        _code, document, output = _run(tmp, *extra)
        assert document, output  # the run itself worked; the pack's verdict is what the tests below judge
        out[mode] = _mandatory(document)
    return out


def _xfail(reason: str) -> pytest.MarkDecorator:
    return pytest.mark.xfail(strict=True, reason=f"REVIEW FINDING: {reason}")


MISSES = {
    "miss-agent-lookalike-token-creator": "a user-managed account named service-<digits>@<any project> is treated "
    "as a Google service agent and exempt from scope judgement",
    "miss-agent-lookalike-org-admin": "the same look-alike holds organization-wide IAM admin unreported",
    "miss-zone-wide-instance-admin": "a resource.name prefix naming a zone (4 even segments) counts as one resource",
    "miss-prefix-bucket-object-admin": "resource.name.startsWith on a partial last segment covers every bucket a*",
    "miss-comment-hides-or-person": "a CEL // comment with a quote hides `|| true` from conditions.py",
    "miss-comment-hides-or-federation": "a CEL // comment with a quote hides `|| true` from federation.py",
    "miss-shared-issuer-trivial-condition": "attributeCondition 'true' passes; Buildkite's shared issuer is not known",
    "miss-person-standing-admin-of-operator": "a person's standing setIamPolicy on the operator account defeats JIT",
    "miss-hmac-key-admin": "storage.hmacKeys.create (long-lived credentials for any service account) has no class",
    "miss-container-developer": "container.serviceAccounts.createToken / pods.exec / pods.create have no class",
    "miss-act-as-default-account": "actAs on the Compute Engine default account (an editor) on one resource passes",
    "miss-invoker-by-run-editor": "invokers are judged by a role name list; roles/run.editor carries run.routes.invoke",
    "miss-invoker-via-project-condition": "a project-level run.invoker confined to the service skips the invoker rule",
    "miss-workflow-default-identity": "Workflows without a service account run as the Compute Engine default",
    "miss-build-trigger-default-identity": "Cloud Build triggers without a service account run as a default account",
}
FALSE_POSITIVES = {
    "fp-caller-url-in-args": ("up", "a caller that gets the URL as a container arg is 'provably' not a caller"),
    "fp-inline-node-pools": ("up", "inline node pools: no default pool exists, its nodeConfig is still judged"),
    "fp-github-sub-prefix": ("up", "sub.startsWith('repo:<owner>/<repo>:') is owner-only, as repository is"),
    "fp-preview-secret-condition": ("preview", "an unknown (computed) condition is read as no condition"),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", [pytest.param(n, marks=_xfail(why)) for n, why in MISSES.items()])
def test_miss_is_rejected(findings: dict[str, set[str]], name: str) -> None:
    assert name in findings["up"]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "mode"), [pytest.param(n, mode, marks=_xfail(why)) for n, (mode, why) in FALSE_POSITIVES.items()]
)
def test_sound_design_is_accepted(findings: dict[str, set[str]], name: str, mode: str) -> None:
    assert name not in findings[mode]


@pytest.mark.slow
@_xfail("allowedMemberDomains (for user:/group:) also waives every scope judgement for domain: members")
def test_allowed_domain_still_cannot_hold_org_wide_token_creator(findings: dict[str, set[str]]) -> None:
    assert "miss-domain-org-token-creator" in findings["domain"]


@pytest.mark.slow
def test_controls_behave_as_the_pack_documents(findings: dict[str, set[str]]) -> None:
    """Not a finding: the same domain grant is rejected without the config, and the ok-* resources pass."""
    assert "miss-domain-org-token-creator" in findings["up"]
    assert not {n for n in findings["up"] | findings["preview"] if n.startswith("ok-")}


@pytest.mark.slow
def test_misspelt_config_key_is_an_error(tmp_path: Path) -> None:
    """Fixed: a misspelt policy config key (allowedInvoker) is an error, not a silently unset list."""
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps({"only-intended-invokers": {"allowedInvoker": ["serviceAccount:a@b.iam.gserviceaccount.com"]}})
    )
    code, _document, output = _run(tmp_path, "--policy-pack-config", str(config))
    assert code == 2 and "allowedInvoker" in output


# --- rule level: the same roots, without the runtime -------------------------------------------------------------


def _ctx() -> RuleContext:
    return RuleContext(urn="urn:pulumi:dev::p::t::g", name="g", stack="dev", now=NOW)


@_xfail("the pack's reader and CEL disagree on // comments (cel-cpp: this condition is true in 2030)")
def test_comment_does_not_hide_a_disjunction() -> None:
    expression = 'request.time < timestamp("2025-06-02T00:00:00Z") && true // "\n|| true'
    assert conditions.expiry({"expression": expression}) is None


@_xfail("a resource.name prefix must name a resource, not a zone, a location or part of a name")
@pytest.mark.parametrize(
    "expression",
    [
        'resource.name.startsWith("projects/p/zones/us-central1-a")',
        'resource.name.startsWith("projects/p/locations/global")',
        'resource.name.startsWith("projects/_/buckets/a")',
    ],
)
def test_prefix_that_names_no_resource_is_no_scope(expression: str) -> None:
    assert conditions.resource_names({"expression": expression}) == []


@_xfail("roles that mint credentials or run code as other identities, by permission, carry no class")
@pytest.mark.parametrize(
    "role", ["roles/storage.hmacKeyAdmin", "roles/container.developer", "roles/container.admin", "roles/composer.admin"]
)
def test_credential_and_code_roles_are_identity_level(role: str) -> None:
    power = predefined(role)
    assert power is not None and power.identity_level


@_xfail("service-<digits>@<project>.iam.gserviceaccount.com is an ordinary account id, not a Google agent")
def test_agent_lookalike_is_judged_by_scope() -> None:
    props = {
        "project": "p",
        "role": "roles/iam.serviceAccountTokenCreator",
        "member": "serviceAccount:service-104729@p.iam.gserviceaccount.com",
    }
    assert roles.no_high_scope_privileged_roles("gcp:projects/iAMMember:IAMMember", props, _ctx())


@_xfail("an unknown condition (preview) must not be read as no condition")
def test_unknown_condition_is_not_judged_in_preview() -> None:
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
    assert roles.no_high_scope_privileged_roles("gcp:projects/iAMMember:IAMMember", project, _ctx()) == []
    assert humans.human_access_expires("gcp:serviceaccount/iAMMember:IAMMember", person, _ctx()) == []
