"""IAM conditions evaluated as IAM evaluates them, with a real CEL engine (cel-rust, `common-expression-language`).

A condition is evaluated for one permission check: `request.time` is the time of the check; `api.getAttribute(
'iam.googleapis.com/modifiedGrantsByRole', [])` is the roles a setIamPolicy call adds or removes (the default
for any other permission, as IAM documents); `resource.name`, `resource.type` and `resource.service` are bound
only for services whose conditions see resource attributes (additions.ATTRIBUTE_SERVICES) and never for the
create call itself, whose resource does not exist yet. An attribute left unbound makes CEL fail only where the result
depends on it (`true || resource.name == x` is still true): such a condition is undecided, and an undecided
grant counts as not granting — the report names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import cel

from secure_invoke.preflight.deployer.additions import ATTRIBUTE_SERVICES
from secure_invoke.preflight.deployer.plan import Need

MODIFIED_GRANTS = "iam.googleapis.com/modifiedGrantsByRole"


_ATTRIBUTE_NAMES = re.compile(r"""getAttribute\(\s*(?:'([^']*)'|"([^"]*)")""")


def _has_only(values: list[Any], allowed: list[Any]) -> bool:
    return all(value in allowed for value in values)


def _extract(text: str, template: str) -> str:
    """IAM's `extract`: the part of `text` at `{x}` in `template` (empty when the text does not match)."""
    prefix, _, rest = template.partition("{")
    _, _, suffix = rest.partition("}")
    start = text.find(prefix)
    if start < 0:
        return ""
    value = text[start + len(prefix) :]
    if suffix:
        end = value.find(suffix)
        return value[:end] if end >= 0 else ""
    return value


@lru_cache(maxsize=1024)
def _program(expression: str) -> Any:
    return cel.compile(expression)


def evaluate(condition: Mapping[str, Any] | None, need: Need, now: datetime | None = None) -> bool | None:
    """True or False as IAM would decide it for `need`; None when it depends on what is not known here."""
    if not condition:
        return True
    expression = condition.get("expression")
    if not isinstance(expression, str) or not expression.strip():
        return None
    if any((a or b) != MODIFIED_GRANTS for a, b in _ATTRIBUTE_NAMES.findall(expression)):
        return None  # an API attribute other than the one this check knows (e.g. a request's destination)
    moment = now or datetime.now(UTC)
    variables: dict[str, Any] = {"request": {"time": moment}, "api": {}}
    creating = need.step == "create" and need.via.rsplit(".", 1)[-1] in ("create", "insert")
    if need.target.service in ATTRIBUTE_SERVICES and not creating:
        variables["resource"] = {"name": need.target.name, "type": need.target.kind, "service": need.target.service}
    modified = list(need.modified_roles or [])

    def get_attribute(_api: Any, _name: str, default: Any) -> Any:
        return modified if need.permission.endswith(".setIamPolicy") else default

    context = cel.Context(
        variables=variables, functions={"getAttribute": get_attribute, "hasOnly": _has_only, "extract": _extract}
    )
    try:
        result = _program(expression).execute(context)
    except Exception:
        return None
    return result if isinstance(result, bool) else None
