"""Workload identity federation: a provider's attribute condition is the gate for every token of its issuer.

On a shared platform's issuer (GitHub Actions, GitLab.com, Terraform Cloud) anyone can mint a valid token,
so the condition must pin a claim only the owner can produce: a repository, project or organization (by id
or name), compared as a whole, in a top-level `&&` term. `sub` patterns, `startsWith` on anything but an
`<owner>/` prefix, and conditions with `||` pin nothing the pack can prove.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from .conditions import conjuncts
from .context import RuleContext
from .values import UNKNOWN, get, get_map, get_str, items

PROVIDER: Final = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"

# issuer -> (platform, claims only the owner of a repository/project/organization can produce)
SHARED_ISSUERS: Final[Mapping[str, tuple[str, frozenset[str]]]] = {
    "https://token.actions.githubusercontent.com": (
        "GitHub Actions",
        # not job_workflow_ref: it names the reusable workflow, which other repositories can call
        frozenset({"repository", "repository_id", "repository_owner", "repository_owner_id"}),
    ),
    "https://gitlab.com": (
        "GitLab.com",
        frozenset({"project_id", "project_path", "namespace_id", "namespace_path"}),
    ),
    "https://app.terraform.io": (
        "Terraform Cloud",
        frozenset(
            {
                "terraform_organization_id",
                "terraform_organization_name",
                "terraform_workspace_id",
                "terraform_project_id",
            }
        ),
    ),
}
_PIN_FIX: Final = {
    "GitHub Actions": "assertion.repository_id == '<numeric id>' (or repository_owner_id for a whole organization)",
    "GitLab.com": "assertion.project_id == '<id>' (or namespace_id for a whole group)",
    "Terraform Cloud": "assertion.terraform_organization_id == '<id>'",
}
_LITERAL: Final = r"""(?:"[^"\\]+"|'[^'\\]+')"""
_EQ_RE: Final = re.compile(rf"^(assertion|attribute)\.([A-Za-z0-9_]+)\s*==\s*{_LITERAL}$")
_IN_RE: Final = re.compile(
    rf"^(assertion|attribute)\.([A-Za-z0-9_]+)\s+in\s+\[\s*{_LITERAL}(?:\s*,\s*{_LITERAL})*\s*\]$"
)
_OWNER_PREFIX_RE: Final = re.compile(
    r"""^(assertion|attribute)\.(repository|project_path|namespace_path)\.startsWith\(\s*(?:"([^"/\\]+/)"|'([^'/\\]+/)')\s*\)$"""
)
_SUB_EXACT_RE: Final = re.compile(
    r"""^(assertion|attribute)\.(sub)\s*==\s*(?:"repo:[^/"]+/[^:"]+:[^"]+"|'repo:[^/']+/[^:']+:[^']+')$"""
)


def _claim(source: str, name: str, mapping: Mapping[str, Any] | None) -> str | None:
    """The token claim a condition operand reads: `assertion.x` is x; `attribute.x` is what the mapping puts
    there, if it is a plain `assertion.<claim>`."""
    if source == "assertion":
        return name
    mapped = (mapping or {}).get(f"attribute.{name}")
    if isinstance(mapped, str):
        match = re.fullmatch(r"\s*assertion\.([A-Za-z0-9_]+)\s*", mapped)
        if match:
            return match.group(1)
    return None


def _pins(term: str, owner_claims: frozenset[str], mapping: Mapping[str, Any] | None) -> bool:
    for regex in (_EQ_RE, _IN_RE):
        match = regex.match(term)
        if match and _claim(match.group(1), match.group(2), mapping) in owner_claims:
            return True
    match = _OWNER_PREFIX_RE.match(term)
    if match and _claim(match.group(1), match.group(2), mapping) in owner_claims:
        return True
    match = _SUB_EXACT_RE.match(term)
    # An exact GitHub subject starts with repo:<owner>/<repo>: only that repository mints it.
    return bool(match and _claim(match.group(1), match.group(2), mapping) == "sub" and "repository" in owner_claims)


def federation_pinned(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
    if resource_type != PROVIDER:
        return []
    oidc, saml = get(props, "oidc"), get(props, "saml")
    if oidc is None and saml is None:
        return []  # AWS (pinned to one account) or X.509 (pinned to a trust store)
    condition = get_str(props, "attributeCondition")
    if condition is UNKNOWN or oidc is UNKNOWN:
        return []
    issuer = get_str(oidc, "issuerUri") if isinstance(oidc, Mapping) else None
    if issuer is UNKNOWN:
        return []
    platform = SHARED_ISSUERS.get(issuer.rstrip("/")) if isinstance(issuer, str) else None
    if not isinstance(condition, str) or not condition.strip():
        who = f"every {platform[0]} workflow in the world" if platform else "every identity the issuer vouches for"
        return [
            f"attributeCondition is not set on workload identity provider {ctx.label}: any token of its issuer "
            f"gets in ({who}), and only the IAM bindings stand in the way. Set attributeCondition to pin the "
            "identities you trust" + (f", e.g. {_PIN_FIX[platform[0]]}." if platform else ".")
        ]
    if platform is None:
        return []
    name, owner_claims = platform
    mapping = get_map(props, "attributeMapping")
    terms = conjuncts(condition, strict=False)
    if terms is not None and any(_pins(term, owner_claims, dict(items(mapping))) for term in terms):
        return []
    return [
        f"attributeCondition of {ctx.label} ({condition[:200]}) does not pin a claim only your own {name} "
        f"repository or organization can produce: any {name} user can mint a token that passes it "
        f"({', '.join(sorted(owner_claims))} are owner-only; sub patterns, other claims and conditions with || "
        f"are not). Add a top-level && term such as {_PIN_FIX[name]}."
    ]
