"""Policy configuration: schema (strict defaults) and validation to one-line errors."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from .iam import normalize_member

__all__ = [
    "ALLOWED_INVOKER_PATTERN",
    "DEFAULT_MAX_HUMAN_ACCESS_DAYS",
    "MAX_HUMAN_ACCESS_DAYS_LIMIT",
    "SETTINGS",
    "ConfigError",
    "PolicySettings",
    "Setting",
    "parse_settings",
    "schema",
]

ALLOWED_INVOKER_PATTERN: Final = (
    "^(serviceAccount:[^@\\s*]+@[^@\\s*]+|principal://iam\\.googleapis\\.com/projects/[^*\\s]+/subject/[^*\\s]+)$"
)
# How long a person may hold invoke or impersonation access through one time-bound grant. The stack's own
# validation of operator access imports this default, so the pack and the stack agree on one number.
DEFAULT_MAX_HUMAN_ACCESS_DAYS: Final = 7
MAX_HUMAN_ACCESS_DAYS_LIMIT: Final = 90

EXEMPTIONS_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "description": "Resources this policy skips, by exact URN; each needs a non-empty reason.",
    "default": [],
    "items": {
        "type": "object",
        "properties": {
            "urn": {"type": "string", "minLength": 1},
            "reason": {"type": "string", "minLength": 1, "pattern": "\\S"},
            "policies": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["urn", "reason"],
        "additionalProperties": False,
    },
}


class ConfigError(ValueError):
    """A one-line description of what is wrong in the policy config."""


def _string_list(raw: Mapping[str, Any], key: str, policy: str) -> frozenset[str] | None:
    if key not in raw or raw[key] is None:
        return None
    value = raw[key]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{policy}.{key} must be a list of non-empty strings, got {value!r:.80}")
    return frozenset(v.strip() for v in value)


def _allowed_invokers(raw: Mapping[str, Any], key: str, policy: str) -> frozenset[str] | None:
    members = _string_list(raw, key, policy)
    if members is None:
        return None
    normalized: set[str] = set()
    for member in sorted(members):
        normal = normalize_member(member)
        if member.strip().startswith(("user:", "group:")) and normal is not None:
            raise ConfigError(
                f"{policy}.{key}: {member!r:.80} is a person or group; people get time-bound grants "
                "on the service instead (request.time < timestamp(...), see human-access-expires), never a "
                "standing exception"
            )
        if normal is None:
            # allUsers, domain:, principalSet://…/* etc. stay rejected whatever the config says.
            raise ConfigError(
                f"{policy}.{key}: {member!r:.80} is not one identity; use serviceAccount:<email> or "
                "principal://iam.googleapis.com/projects/.../subject/<subject> (public, domain-wide and wildcard "
                "members are never allowed)"
            )
        normalized.add(normal)
    return frozenset(normalized)


def _days(raw: Mapping[str, Any], key: str, policy: str) -> int | None:
    days = raw.get(key)
    if isinstance(days, float) and days.is_integer():
        days = int(days)  # the engine passes config numbers as protobuf doubles
    if days is not None and (
        not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= MAX_HUMAN_ACCESS_DAYS_LIMIT
    ):
        raise ConfigError(
            f"{policy}.{key} must be a whole number of days from 1 to {MAX_HUMAN_ACCESS_DAYS_LIMIT}, got {days!r:.40}"
        )
    return days


@dataclass(frozen=True)
class Setting:
    """One config key a policy may take: its JSON schema (what the engine shows and checks) and its parser
    (raw config, key, policy name -> the value, None when absent; a ConfigError when wrong)."""

    key: str
    schema: dict[str, Any]
    parse: Callable[[Mapping[str, Any], str, str], Any]


def _setting(key: str, value: Any, parse: Callable[[Mapping[str, Any], str, str], Any], **schema: Any) -> Any:
    return field(default=value, metadata={"setting": Setting(key, schema, parse)})


_STRING_LIST: Final[dict[str, Any]] = {"type": "array", "items": {"type": "string"}}


@dataclass(frozen=True)
class PolicySettings:
    """What a policy's config sets, each key declared once: the field (what rules read, `ctx.settings`), its
    config key, schema, default and parser. A policy takes the keys its Spec lists (`Spec.settings`)."""

    allowed_member_domains: frozenset[str] = _setting(
        "allowedMemberDomains", frozenset(), _string_list, **_STRING_LIST, default=[],
        description="Domains whose domain: members (and user:/group: emails) may be granted roles.",
    )  # fmt: skip
    extra_allowed_roles: frozenset[str] = _setting(
        "extraAllowedRoles", frozenset(), _string_list, **_STRING_LIST, default=[],
        description="Roles accepted at project/folder/organization scope despite being admin/impersonation.",
    )  # fmt: skip
    production_stacks: frozenset[str] = _setting(
        "productionStacks", frozenset({"prod", "production"}), _string_list, **_STRING_LIST,
        default=["prod", "production"], description="Stack names treated as production.",
    )  # fmt: skip
    # normalized members (see iam.normalize_member)
    allowed_invokers: frozenset[str] = _setting(
        "allowedInvokers", frozenset(), _allowed_invokers,
        type="array", items={"type": "string", "pattern": ALLOWED_INVOKER_PATTERN}, default=[],
        description="Service accounts outside the stack that may invoke its Cloud Run services (another "
        "project's caller, a Cloud Tasks/Workflows identity), as serviceAccount:<email>, or one federated "
        "workload as principal://.../subject/<subject>. Once set (the same list on only-intended-invokers and "
        "unverified-invokers), any other identity the stack cannot place is rejected. People are not listed "
        "here: they get time-bound grants (human-access-expires).",
    )  # fmt: skip
    max_human_access_days: int = _setting(
        "maxHumanAccessDays", DEFAULT_MAX_HUMAN_ACCESS_DAYS, _days,
        type="integer", minimum=1, maximum=MAX_HUMAN_ACCESS_DAYS_LIMIT, default=DEFAULT_MAX_HUMAN_ACCESS_DAYS,
        description="Longest a person may hold an invoke or impersonation role on one resource: the grant's "
        "condition must end it (request.time < timestamp(...)) at most this many days from now.",
    )  # fmt: skip
    exemptions: Mapping[str, str] = field(default_factory=dict)  # urn -> reason (every policy: COMMON_KEYS)


# config key -> (PolicySettings field, Setting), in declaration order (the order errors are found in).
SETTINGS: Final[Mapping[str, tuple[str, Setting]]] = {
    setting.key: (f.name, setting) for f in fields(PolicySettings) if (setting := f.metadata.get("setting"))
}


# Keys every policy takes (besides enforcementLevel, which the engine reads itself).
COMMON_KEYS: Final = ("exemptions",)


def check_keys(policy: str, raw: Mapping[str, Any], allowed: Collection[str]) -> None:
    """A key the policy does not take is an error, not a silent no-op: a misspelt `allowedInvoker` would
    otherwise leave the list that makes unlisted callers mandatory unset."""
    valid = sorted({*COMMON_KEYS, *allowed, "enforcementLevel"})
    for key in raw:
        if key in valid:
            continue
        close = difflib.get_close_matches(str(key), valid, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"{policy} takes {', '.join(k for k in valid)}"
        raise ConfigError(f"{policy}: unknown config key {str(key)!r:.60} ({hint})")


def parse_settings(policy: str, raw: object, allowed_keys: Collection[str] | None = None) -> PolicySettings:
    """The settings of one policy; with `allowed_keys` (the policy's own keys), any other key is an error."""
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"config of {policy} must be an object, got {type(raw).__name__}")
    if allowed_keys is not None:
        check_keys(policy, raw, allowed_keys)
    values: dict[str, Any] = {}
    for key, (name, setting) in SETTINGS.items():
        value = setting.parse(raw, key, policy)
        if value is not None:
            values[name] = value
    return PolicySettings(**values, exemptions=_exemptions(raw, policy))


def _exemptions(raw: Mapping[str, Any], policy: str) -> dict[str, str]:
    exemptions: dict[str, str] = {}
    raw_exemptions = raw.get("exemptions")
    if raw_exemptions is None:
        return exemptions
    if not isinstance(raw_exemptions, list):
        raise ConfigError(f"{policy}.exemptions must be a list of {{urn, reason}} objects")
    for index, entry in enumerate(raw_exemptions):
        where = f"{policy}.exemptions[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where} must be an object with urn and reason")
        urn, reason, policies = entry.get("urn"), entry.get("reason"), entry.get("policies")
        if not isinstance(urn, str) or not urn.startswith("urn:pulumi:"):
            raise ConfigError(f"{where}.urn must be a resource URN (urn:pulumi:...), got {urn!r:.80}")
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"{where}.reason is required: say why {urn} is exempt")
        if policies is not None and (not isinstance(policies, list) or not all(isinstance(p, str) for p in policies)):
            raise ConfigError(f"{where}.policies must be a list of policy names")
        if policies is None or policy in policies:
            exemptions[urn] = reason.strip()
    return exemptions


def schema(keys: Collection[str]) -> dict[str, dict[str, Any]]:
    """The config schema's properties of a policy that takes `keys` (and the common ones)."""
    return {"exemptions": EXEMPTIONS_SCHEMA, **{key: SETTINGS[key][1].schema for key in keys}}
