"""IAM conditions the pack understands, read strictly: a condition counts only in the exact shapes below.

A condition is a CEL expression. The pack splits it into its top-level `&&` terms (outside brackets and
string literals); every term narrows the grant, so one recognised term is enough, whatever the others say.
For the grant conditions below (expiry, resource scope, grantable roles) an expression with `||` or `?`
(outside string literals) anywhere is not split at all: the pack reads those strictly. Federation
conditions (federation.py) only need the pinning term at the top level: `A && (B || C)` still requires A.

Recognised terms:
- expiry: `request.time < timestamp("<RFC 3339>")` — the earliest one counts;
- resource scope: `resource.name == "<path>"` or `resource.name.startsWith("<path>")`, where the path names
  a resource below a project (`projects/_/buckets/<bucket>`, `projects/<p>/secrets/<s>`, ...: an even number
  of non-empty segments, at least four, no wildcard);
- grantable roles: `api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([<roles>])`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

_STRING: Final = r"""(?:"([^"\\]*)"|'([^'\\]*)')"""
_EXPIRY_RE: Final = re.compile(rf"^request\.time\s*<\s*timestamp\(\s*{_STRING}\s*\)$")
_NAME_EQ_RE: Final = re.compile(rf"^resource\.name\s*==\s*{_STRING}$")
_NAME_PREFIX_RE: Final = re.compile(rf"^resource\.name\.startsWith\(\s*{_STRING}\s*\)$")
_GRANTABLE_RE: Final = re.compile(
    r"""^api\.getAttribute\(\s*['"]iam\.googleapis\.com/modifiedGrantsByRole['"]\s*,\s*\[\s*\]\s*\)"""
    r"""\.hasOnly\(\s*\[([^\]]*)\]\s*\)$"""
)
_ROLE_LITERAL_RE: Final = re.compile(_STRING)


def expression_of(condition: object) -> str | None:
    """The expression of a condition block (`{"expression": ...}`); None when absent or not a string."""
    if not isinstance(condition, Mapping):
        return None
    expression = condition.get("expression")
    return expression if isinstance(expression, str) else None


def _outside_literals(expression: str) -> str:
    """The expression with the contents of string literals blanked out (so `"a||b"` is no disjunction)."""
    out: list[str] = []
    quote = ""
    escaped = False
    for char in expression:
        if quote:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = ""
                out.append(char)
                continue
            out.append(" ")
            continue
        if char in ("'", '"'):
            quote = char
        out.append(char)
    return "".join(out)


def _strip_parens(term: str) -> str:
    """`(x)` → `x` while the outer brackets enclose the whole term."""
    term = term.strip()
    while term.startswith("(") and term.endswith(")"):
        depth = 0
        masked = _outside_literals(term)
        for index, char in enumerate(masked):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and index < len(term) - 1:
                return term
        term = term[1:-1].strip()
    return term


def conjuncts(expression: str, strict: bool = True) -> list[str] | None:
    """Top-level `&&` terms, or None when the expression has `||`/`?` (anywhere if strict, else at the top
    level) or unbalanced brackets: nothing provable."""
    masked = _outside_literals(expression)
    if strict and ("||" in masked or "?" in masked):
        return None
    terms: list[str] = []
    depth = 0
    start = 0
    index = 0
    while index < len(masked):
        char = masked[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0 and (masked.startswith("||", index) or char == "?"):
            return None
        elif depth == 0 and masked.startswith("&&", index):
            terms.append(expression[start:index])
            start = index + 2
            index += 1
        index += 1
    if depth != 0:
        return None
    terms.append(expression[start:])
    stripped = [_strip_parens(term) for term in terms]
    if len(stripped) == 1 and stripped[0] != expression.strip():
        return conjuncts(stripped[0], strict)  # `(a && b)` as a whole
    return stripped


def _literal(match: re.Match[str]) -> str:
    return match.group(1) if match.group(1) is not None else match.group(2)


def _timestamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    # RFC 3339 requires an offset; a naive time is not one IAM accepts.
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def expiry(condition: object) -> datetime | None:
    """The time the grant stops working, if the condition proves one."""
    expression = expression_of(condition)
    terms = conjuncts(expression) if expression is not None else None
    found: list[datetime] = []
    for term in terms or []:
        match = _EXPIRY_RE.match(term)
        if match:
            moment = _timestamp(_literal(match))
            if moment is not None:
                found.append(moment)
    return min(found) if found else None


def _names_a_resource(path: str) -> bool:
    segments = path.removesuffix("/").split("/")
    return len(segments) >= 4 and len(segments) % 2 == 0 and all(s and "*" not in s for s in segments)


def resource_names(condition: object) -> list[str]:
    """The named resources a condition confines a grant to (empty: not confined)."""
    expression = expression_of(condition)
    terms = conjuncts(expression) if expression is not None else None
    names: list[str] = []
    for term in terms or []:
        match = _NAME_EQ_RE.match(term) or _NAME_PREFIX_RE.match(term)
        if match and _names_a_resource(_literal(match)):
            names.append(_literal(match))
    return names


def grantable_roles(condition: object) -> list[str] | None:
    """The roles a setIamPolicy grant may hand out under `modifiedGrantsByRole(...).hasOnly([...])`; None if
    the condition does not limit them."""
    expression = expression_of(condition)
    terms = conjuncts(expression) if expression is not None else None
    for term in terms or []:
        match = _GRANTABLE_RE.match(term)
        if match:
            inner = match.group(1)
            roles = [_literal(m) for m in _ROLE_LITERAL_RE.finditer(inner)]
            leftover = _ROLE_LITERAL_RE.sub("", inner).replace(",", "").strip()
            if leftover:
                return None  # something other than a list of literals: not provable
            return roles
    return None


@dataclass(frozen=True)
class Expiry:
    """How a time-bound grant stands at `now`: `state` is none | expired | too-far | ok."""

    state: str
    until: datetime | None = None


def judge_expiry(condition: object, now: datetime, max_days: int) -> Expiry:
    until = expiry(condition)
    if until is None:
        return Expiry("none")
    if until <= now:
        return Expiry("expired", until)
    if (until - now).total_seconds() > max_days * 86400:
        return Expiry("too-far", until)
    return Expiry("ok", until)


def describe(condition: Any) -> str:
    expression = expression_of(condition)
    return f" (condition: {expression[:160]})" if expression else ""
