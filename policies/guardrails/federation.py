"""Workload identity federation: a provider's attribute condition is the gate for every token of its issuer.

Every OIDC/SAML provider needs a condition, and one that is not always true (`true`, `1 == 1`,
`assertion.sub.startsWith('')`, anything `|| true`): that is the same as none. A condition the pack cannot read
(a `//` comment outside string literals, an unclosed literal) proves nothing either.

On a shared platform's issuer (GitHub Actions, GitLab.com, Terraform Cloud, Buildkite) anyone can mint a valid
token, so the condition must pin a claim only the owner can produce, in a top-level `&&` term: a repository,
project, pipeline or organization compared as a whole (`==`, `in`), an `<owner>/` prefix of a repository
path, or the platform's subject up to its owner part and the separator after it
(`assertion.sub.startsWith('repo:<owner>/<repo>:')`, or an exact subject). Subject patterns another tenant can
produce (no trailing separator, owner-only subjects, wildcards) and conditions with `||` at the top level pin
nothing the pack can prove. An issuer that is one per tenant (CircleCI's `https://oidc.circleci.com/org/<id>`,
per its documentation) is not shared: it only needs a real condition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from . import cel
from .context import RuleContext
from .values import UNKNOWN, get, get_map, get_str, items

__all__ = ["PROVIDER", "federation_pinned"]

PROVIDER: Final = "gcp:iam/workloadIdentityPoolProvider:WorkloadIdentityPoolProvider"


@dataclass(frozen=True)
class Platform:
    name: str
    owner_claims: frozenset[str]  # claims only the owner of a repository/project/organization can produce
    subject_owner: re.Pattern[str]  # a subject literal that starts with the owner part and its separator
    fix: str


# issuer -> the shared platform that mints its tokens (documented token formats of each platform)
SHARED_ISSUERS: Final[Mapping[str, Platform]] = {
    "https://token.actions.githubusercontent.com": Platform(
        "GitHub Actions",
        # not job_workflow_ref: it names the reusable workflow, which other repositories can call
        frozenset({"repository", "repository_id", "repository_owner", "repository_owner_id"}),
        re.compile(r"repo:[^/:]+/[^/:]+:"),  # repo:<owner>/<repo>:...
        "assertion.repository_id == '<numeric id>' (or repository_owner_id for a whole organization)",
    ),
    "https://gitlab.com": Platform(
        "GitLab.com",
        frozenset({"project_id", "project_path", "namespace_id", "namespace_path"}),
        re.compile(r"project_path:[^/:]+(?:/[^/:]+)+:"),  # project_path:<group>/<project>:...
        "assertion.project_id == '<id>' (or namespace_id for a whole group)",
    ),
    "https://app.terraform.io": Platform(
        "Terraform Cloud",
        frozenset(
            {
                "terraform_organization_id",
                "terraform_organization_name",
                "terraform_workspace_id",
                "terraform_project_id",
            }
        ),
        re.compile(r"organization:[^:]+:"),  # organization:<org>:project:...:workspace:...
        "assertion.terraform_organization_id == '<id>'",
    ),
    "https://agent.buildkite.com": Platform(
        "Buildkite",
        # organization_id and pipeline_id are immutable ids (requested with --claim); the slugs are names
        frozenset({"organization_id", "organization_slug", "pipeline_id"}),
        re.compile(r"organization:[^:]+:"),  # organization:<org slug>:pipeline:<pipeline slug>:...
        "assertion.organization_id == '<organization UUID>' (request the claim with --claim organization_id)",
    ),
}
_LITERAL: Final = r"""(?:"[^"\\]+"|'[^'\\]+')"""
_OPERAND: Final = r"(assertion|attribute|google)\.([A-Za-z0-9_]+)"
_EQ_RE: Final = re.compile(rf"{_OPERAND}\s*==\s*({_LITERAL})")
_EQ_REVERSED_RE: Final = re.compile(rf"({_LITERAL})\s*==\s*{_OPERAND}")
_IN_RE: Final = re.compile(rf"{_OPERAND}\s+in\s+\[\s*{_LITERAL}(?:\s*,\s*{_LITERAL})*\s*\]")
_PREFIX_RE: Final = re.compile(rf"{_OPERAND}\.startsWith\(\s*({_LITERAL})\s*\)")
_PATH_CLAIMS: Final = frozenset({"repository", "project_path", "namespace_path"})
_OWNER_PATH_RE: Final = re.compile(r"[^/\\]+/")  # starts with `<owner>/`: paths of that owner only

# Terms true for every token: constants, and claim tests that any value passes.
_CONSTANT: Final = r"""(?:"[^"\\]*"|'[^'\\]*'|-?\d+(?:\.\d+)?|true|false|null)"""
_SAME_RE: Final = re.compile(rf"({_CONSTANT})\s*(==|!=)\s*({_CONSTANT})")
_ANY_VALUE_RE: Final = re.compile(
    r"""[A-Za-z_][A-Za-z0-9_.]*\.(?:startsWith|endsWith|contains)\(\s*(?:""|'')\s*\)"""
    r"""|[A-Za-z_][A-Za-z0-9_.]*\.matches\(\s*(?:"\^?(?:\.\*)?\$?"|'\^?(?:\.\*)?\$?')\s*\)"""
    r"""|size\(\s*[A-Za-z_][A-Za-z0-9_.]*\s*\)\s*>=\s*0"""
)


def _unquote(literal: str) -> str:
    return literal[1:-1]


def _claim(source: str, name: str, mapping: Mapping[str, Any]) -> str | None:
    """The token claim a condition operand reads: `assertion.x` is x; `attribute.x` and `google.subject` are
    what the mapping puts there, if it is a plain `assertion.<claim>`."""
    if source == "assertion":
        return name
    mapped = mapping.get(f"{source}.{name}")
    if isinstance(mapped, str):
        match = re.fullmatch(r"\s*assertion\.([A-Za-z0-9_]+)\s*", mapped)
        if match:
            return match.group(1)
    return None


def _pins(term: str, platform: Platform, mapping: Mapping[str, Any]) -> bool:
    owner = platform.owner_claims
    match = _IN_RE.fullmatch(term)
    if match:
        return _claim(match.group(1), match.group(2), mapping) in owner
    operands: tuple[str, str, str] | None = None
    if (equal := _EQ_RE.fullmatch(term)) is not None:
        source, name, literal = equal.groups()
        operands = (source, name, literal)
    elif (equal := _EQ_REVERSED_RE.fullmatch(term)) is not None:
        literal, source, name = equal.groups()
        operands = (source, name, literal)
    if operands is not None:
        source, name, literal = operands
        claim = _claim(source, name, mapping)
        # An exact subject that starts with the owner part names its owner.
        return claim in owner or (claim == "sub" and platform.subject_owner.match(_unquote(literal)) is not None)
    prefix = _PREFIX_RE.fullmatch(term)
    if prefix:
        claim, literal = _claim(prefix.group(1), prefix.group(2), mapping), _unquote(prefix.group(3))
        if claim in owner and claim in _PATH_CLAIMS:
            return _OWNER_PATH_RE.match(literal) is not None  # `<owner>/...`: that owner only
        return claim == "sub" and platform.subject_owner.match(literal) is not None
    return False


def _trivial_term(text: str) -> bool:
    term = text.strip()
    if term in ("true", "!false"):
        return True
    if _ANY_VALUE_RE.fullmatch(term):
        return True
    same = _SAME_RE.fullmatch(term)
    if same:
        left, operator, right = same.groups()
        return (left == right) is (operator == "==")
    return False


def _trivially_true(node: cel.Node) -> bool:
    if node.kind == "or":
        return any(_trivially_true(child) for child in node.children)
    if node.kind == "and":
        return all(_trivially_true(child) for child in node.children)
    return node.kind == "term" and _trivial_term(node.text)


def federation_pinned(resource_type: str, props: Mapping[str, Any], ctx: RuleContext) -> list[str]:
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
    who = f"every {platform.name} workflow in the world" if platform else "every identity the issuer vouches for"
    pin = f", e.g. {platform.fix}." if platform else "."
    if not isinstance(condition, str) or not condition.strip():
        return [
            f"attributeCondition is not set on workload identity provider {ctx.label}: any token of its issuer "
            f"gets in ({who}), and only the IAM bindings stand in the way. Set attributeCondition to pin the "
            f"identities you trust{pin}"
        ]
    parsed = cel.parse(condition)
    shown = condition[:200].replace("\n", "\\n")
    if parsed.tree is None:
        return [
            f"attributeCondition of {ctx.label} ({shown}) cannot be read: it has a // comment outside string "
            "literals (which hides the rest of its line from CEL), an unclosed literal or unbalanced brackets, so "
            f"nothing it pins can be proven and any token of its issuer may get in ({who}). Remove comments and "
            f"write the condition on one reading{pin}"
        ]
    if _trivially_true(parsed.tree):
        return [
            f"attributeCondition of {ctx.label} ({shown}) is true for every token: it is the same as no condition, "
            f"and any token of its issuer gets in ({who}). Set it to pin the identities you trust{pin}"
        ]
    if platform is None:
        return []
    mapping = dict(items(get_map(props, "attributeMapping")))
    terms = cel.conjuncts(condition, strict=False)
    if terms is not None and any(_pins(term, platform, mapping) for term in terms):
        return []
    return [
        f"attributeCondition of {ctx.label} ({shown}) does not pin a claim only your own {platform.name} "
        f"repository, project or organization can produce: any {platform.name} user can mint a token that passes "
        f"it ({', '.join(sorted(platform.owner_claims))} are owner-only, and so is a subject up to its owner part "
        f"and the separator after it; other sub patterns, other claims and conditions with || are not). Add a "
        f"top-level && term such as {platform.fix}."
    ]
