"""IAM conditions the pack understands, read strictly: a condition counts only in the exact shapes this module lists.

A condition is a CEL expression, lexed by cel.py (string literals with escapes, raw and triple-quoted forms,
`//` comments). A condition with a comment outside string literals, an unclosed literal or unbalanced brackets
is unreadable: it proves nothing (no expiry, no resource scope, no role limit). A condition whose expression
is not known yet (a computed value in a preview) is neither: rules skip the grant until it is known
(`Grant.condition_unknown`).

- expiry: `request.time < timestamp("<RFC 3339>")` as a top-level `&&` term of an expression with no `||`
  and no `?` anywhere outside string literals — the earliest one counts;
- resource scope: `resource.name == "<path>"` or `resource.name.startsWith("<path>")` naming a resource below
  a project (`NamedResource`): `projects/<p>/.../<collection>/<name>` where the collection is one of
  `RESOURCE_COLLECTIONS` (buckets, secrets, services, repositories, topics, ...; never zones, regions,
  locations or projects). The expression may be a disjunction (`A || B`, e.g. a bucket and its objects) if
  every alternative carries such a term; no `?` anywhere. A `startsWith` prefix that ends mid-name
  (`.../buckets/gcf-v2-sources-123-us-central1`) names the resource but also every other one whose name starts
  with it: `NamedResource.partial` (the stack rule `resource-prefix-bounded` notes those);
- grantable roles: `api.getAttribute('iam.googleapis.com/modifiedGrantsByRole', []).hasOnly([<roles>])`,
  strict like expiry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from . import cel

__all__ = [
    "RESOURCE_COLLECTIONS",
    "Expiry",
    "NamedResource",
    "describe",
    "expiry",
    "grantable_roles",
    "judge_expiry",
    "resource_names",
    "resource_scope",
]

_STRING: Final = r"""(?:"([^"\\]*)"|'([^'\\]*)')"""
_EXPIRY_RE: Final = re.compile(rf"request\.time\s*<\s*timestamp\(\s*{_STRING}\s*\)")
_NAME_EQ_RE: Final = re.compile(rf"resource\.name\s*==\s*{_STRING}")
_NAME_PREFIX_RE: Final = re.compile(rf"resource\.name\.startsWith\(\s*{_STRING}\s*\)")
_GRANTABLE_RE: Final = re.compile(
    r"""api\.getAttribute\(\s*['"]iam\.googleapis\.com/modifiedGrantsByRole['"]\s*,\s*\[\s*\]\s*\)"""
    r"""\.hasOnly\(\s*\[([^\]]*)\]\s*\)"""
)
_ROLE_LITERAL_RE: Final = re.compile(_STRING)

# The segment before a name in `resource.name` paths of resources IAM evaluates conditions on one by one.
# Containers (projects, folders, locations, regions, zones) are never a resource's scope.
RESOURCE_COLLECTIONS: Final = frozenset(
    {
        "buckets", "objects", "managedFolders",  # Cloud Storage
        "secrets", "versions",  # Secret Manager
        "services", "jobs", "workerPools", "executions", "functions",  # Cloud Run, Cloud Functions
        "repositories", "packages",  # Artifact Registry
        "topics", "subscriptions", "snapshots", "schemas",  # Pub/Sub
        "datasets", "tables", "routines", "models",  # BigQuery
        "keyRings", "cryptoKeys", "cryptoKeyVersions",  # Cloud KMS
        "serviceAccounts",  # IAM
        "queues",  # Cloud Tasks
        "instances", "databases", "backups", "clusters", "instanceTemplates", "disks", "images",
        "subnetworks", "repos", "workflows", "triggers", "connections", "tagKeys", "tagValues",
    }
)  # fmt: skip
CONTAINER_COLLECTIONS: Final = frozenset({"projects", "folders", "organizations", "locations", "regions", "zones"})
# Object names may contain '/': everything after `objects/` is one name.
_SLASHED_NAMES: Final = frozenset({"objects"})


def expression_of(condition: object) -> str | None:
    """The expression of a condition block (`{"expression": ...}`); None when absent or not a string."""
    if not isinstance(condition, Mapping):
        return None
    expression = condition.get("expression")
    return expression if isinstance(expression, str) else None


def readable(condition: object) -> bool:
    expression = expression_of(condition)
    return expression is not None and cel.parse(expression).readable


def _literal(match: re.Match[str]) -> str:
    return match.group(1) if match.group(1) is not None else match.group(2)


def _timestamp(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    # RFC 3339 requires an offset; a naive time is not one IAM accepts.
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def _strict_terms(condition: object) -> list[str]:
    expression = expression_of(condition)
    terms = cel.conjuncts(expression) if expression is not None else None
    return terms or []


def expiry(condition: object) -> datetime | None:
    """The time the grant stops working, if the condition proves one."""
    found: list[datetime] = []
    for term in _strict_terms(condition):
        match = _EXPIRY_RE.fullmatch(term)
        if match:
            moment = _timestamp(_literal(match))
            if moment is not None:
                found.append(moment)
    return min(found) if found else None


@dataclass(frozen=True)
class NamedResource:
    """A resource a condition names: `path` as written (no trailing '/'), the `collection` segment before its
    `name`, and whether a `startsWith` prefix stops mid-name (`partial`: other names starting with it match)."""

    path: str
    collection: str
    name: str
    partial: bool


def named_resource(path: str, prefix: bool) -> NamedResource | None:
    """What a `resource.name` literal names, or None if it names no single resource below a project."""
    boundary = not prefix or path.endswith("/")
    text = path[:-1] if prefix and path.endswith("/") else path
    segments = text.split("/")
    if len(segments) < 3 or segments[0] != "projects":
        return None
    for index in range(2, len(segments), 2):  # an object's name is everything after `objects/`
        if segments[index] in _SLASHED_NAMES and index + 1 < len(segments):
            segments = [*segments[: index + 1], "/".join(segments[index + 1 :])]
            break
    if any(not s or "*" in s for s in segments):
        return None
    if len(segments) % 2:
        # `.../buckets/b/objects` (with or without '/'): everything of that kind inside b, so b is the scope
        if not prefix:
            return None
        segments = segments[:-1]
        boundary = True
    if len(segments) < 4:
        return None
    collection, name = segments[-2], segments[-1]
    if collection not in RESOURCE_COLLECTIONS or collection in CONTAINER_COLLECTIONS:
        return None
    partial = not boundary and collection not in _SLASHED_NAMES
    return NamedResource("/".join(segments), collection, name, partial)


def _name_terms(terms: list[str]) -> list[NamedResource]:
    names: list[NamedResource] = []
    for term in terms:
        exact = _NAME_EQ_RE.fullmatch(term)
        match = exact or _NAME_PREFIX_RE.fullmatch(term)
        if match is None:
            continue
        named = named_resource(_literal(match), prefix=exact is None)
        if named is not None:
            names.append(named)
    return names


def resource_scope(condition: object) -> list[NamedResource]:
    """The resources a condition confines a grant to; empty when it does not confine it (or is unreadable).
    Every alternative of a `||` must itself name a resource, or the grant is not confined."""
    expression = expression_of(condition)
    alternatives = cel.disjuncts(expression) if expression is not None else None
    if not alternatives:
        return []
    names: list[NamedResource] = []
    for terms in alternatives:
        found = _name_terms(terms)
        if not found:
            return []
        names.extend(found)
    return names


def resource_names(condition: object) -> list[str]:
    """The paths of the resources a condition confines a grant to (empty: not confined)."""
    return [named.path for named in resource_scope(condition)]


def grantable_roles(condition: object) -> list[str] | None:
    """The roles a setIamPolicy grant may hand out under `modifiedGrantsByRole(...).hasOnly([...])`; None if
    the condition does not limit them."""
    for term in _strict_terms(condition):
        match = _GRANTABLE_RE.fullmatch(term)
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
    if not expression:
        return ""
    shown = expression[:160].replace("\n", "\\n")
    if cel.parse(expression).readable:
        return f" (condition: {shown})"
    return f" (condition: {shown}; unreadable: a // comment, an unclosed literal or unbalanced brackets)"
