"""Just-in-time operator access (`operatorAccess`): who may act as the operator account, until when, and why."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from secure_invoke.settings.schema import NAMESPACE, value_or_default

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
# People as Google sees them: a Cloud Identity user or group, or a workforce identity federation group or user.
_OPERATOR_PRINCIPAL = re.compile(
    r"^(user|group):[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$"
    r"|^principalSet://iam\.googleapis\.com/locations/global/workforcePools/[a-z0-9-]{4,63}/group/[^/*\s]+$"
    r"|^principal://iam\.googleapis\.com/locations/global/workforcePools/[a-z0-9-]{4,63}/subject/[^/*\s]+$"
)
_PUBLIC_PRINCIPALS = ("allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all")


@dataclass(frozen=True)
class OperatorAccessEntry:
    principal: str
    expires: datetime  # UTC, whole seconds
    reason: str


def operator_access(values: Mapping[str, Any], now: datetime) -> tuple[list[OperatorAccessEntry], list[str], list[str]]:
    """(live entries, errors, warnings). An entry is a person or group of the team's identity provider, an
    RFC 3339 expiry within operatorAccessMaxDays, and (in tier production) a reason. Lapsed entries are dropped with a
    warning: an old grant must not block every later deploy."""
    key = f"{NAMESPACE}:operatorAccess"
    max_days = value_or_default(values, "operatorAccessMaxDays")
    entries, errors, warnings = [], [], []
    seen: dict[tuple[str, datetime], int] = {}
    for index, raw in enumerate(value_or_default(values, "operatorAccess")):
        where = f"{key}[{index}]"
        principal, expires_text, reason = raw["principal"], raw["expires"], raw.get("reason", "")
        problem = _principal_problem(principal)
        if problem:
            errors.append(f"{where}.principal: {principal!r} {problem}")
        expires = _rfc3339(expires_text)
        if expires is None:
            errors.append(f"{where}.expires: {expires_text!r} is not an RFC 3339 time such as 2030-01-31T18:00:00Z")
        elif expires - now > timedelta(days=max_days):
            errors.append(
                f"{where}.expires: {expires_text} is more than {max_days} days ahead "
                f"({NAMESPACE}:operatorAccessMaxDays); grant access for days, not for good"
            )
        if values["tier"] == "production" and not reason:
            errors.append(f"{where}.reason: required in tier production (the ticket or incident the access is for)")
        if problem or expires is None:
            continue
        if (principal, expires) in seen:
            errors.append(f"{where}: repeats {key}[{seen[(principal, expires)]}]")
            continue
        seen[(principal, expires)] = index
        if expires <= now:
            warnings.append(f"{where}: access of {principal} expired at {expires_text}; dropped (remove the entry)")
            continue
        entries.append(OperatorAccessEntry(principal, expires, reason))
    return entries, errors, warnings


def _principal_problem(principal: str) -> str | None:
    if principal in _PUBLIC_PRINCIPALS:
        return "is public; name a group or user of your identity provider"
    if "*" in principal or principal.startswith("domain:") or principal.endswith("/*"):
        return "is a wildcard; name one group or user of your identity provider"
    if principal.startswith("serviceAccount:"):
        return (
            "is a service account; operator access is for people. A workload gets its own identity and "
            "its own invoker grant"
        )
    if not _OPERATOR_PRINCIPAL.match(principal):
        return (
            "is not a person or group: use group:<email>, user:<email>, a workforce pool group "
            "principalSet://iam.googleapis.com/locations/global/workforcePools/<pool>/group/<group>, or a "
            "workforce pool subject principal://iam.googleapis.com/locations/global/workforcePools/<pool>/subject/<id>"
        )
    return None


def _rfc3339(text: str) -> datetime | None:
    if not _RFC3339.match(text):
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(UTC).replace(microsecond=0)
