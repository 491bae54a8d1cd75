"""Declared callers of the worker (`callers`): the kinds, each entry's fields, and the typed entries the stack
turns into one identity, one invoker grant, one allowlist entry and (but for `service-account`) the caller
itself."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, get_args

from secure_invoke.settings.keys import PROJECT_ID

CallerKind = Literal["scheduler", "pubsub-push", "cloud-tasks", "workflows", "service-account"]
KINDS: Final[tuple[CallerKind, ...]] = get_args(CallerKind)

# The worker path each kind calls: the route the worker serves that kind at (services/worker/worker/app.py), so
# not a setting (docs/design.md §2, "Declared callers": what each kind sends).
DEFAULT_PATHS: Final[dict[CallerKind, str | None]] = {
    "scheduler": "/jobs",
    "pubsub-push": "/pubsub",
    "cloud-tasks": "/jobs",
    "workflows": "/jobs",
    "service-account": None,
}
# Fields each kind requires, and the optional ones it also takes (`name`, `kind` aside).
REQUIRED_FIELDS: Final[dict[CallerKind, tuple[str, ...]]] = {
    "scheduler": ("schedule", "job"),
    "pubsub-push": ("topic",),
    "cloud-tasks": (),
    "workflows": (),
    "service-account": ("email",),
}
OPTIONAL_FIELDS: Final[dict[CallerKind, tuple[str, ...]]] = {
    "scheduler": ("timeZone",),
    "pubsub-push": (),
    "cloud-tasks": (),
    "workflows": (),
    "service-account": (),
}
# The accounts the stack itself creates per environment: a caller's `<name>-<env>` must not be one of them.
RESERVED_NAMES: Final = frozenset(
    {"relay-runtime", "relay-trigger", "relay-build", "worker-runtime", "worker-operator"}
)
# A user-managed service account; default accounts (`…-compute@developer…`, `…@appspot…`) never match.
SERVICE_ACCOUNT_EMAIL: Final = rf"^{PROJECT_ID}@{PROJECT_ID}\.iam\.gserviceaccount\.com$"

CALLER_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "maxItems": 50,
    "items": {
        "type": "object",
        "required": ["name", "kind"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string", "pattern": r"^[a-z](?:[a-z0-9-]*[a-z0-9])?$", "maxLength": 24},
            "kind": {"enum": list(KINDS)},
            "schedule": {"type": "string", "minLength": 9, "maxLength": 100},
            "timeZone": {"type": "string", "pattern": r"^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$"},
            "job": {"type": "object", "required": ["task"], "properties": {"task": {"type": "string"}}},
            "topic": {
                "type": "string",
                "pattern": rf"^(projects/{PROJECT_ID}/topics/)?[A-Za-z][-A-Za-z0-9._~%+]{{2,254}}$",
            },
            "email": {"type": "string", "pattern": SERVICE_ACCOUNT_EMAIL},
        },
    },
}


@dataclass(frozen=True)
class CallerEntry:
    """One declared caller. `account_id` is the identity the stack creates for it (`<name>-<env>`); a
    `service-account` caller is a workload elsewhere, named by `email`, and the stack creates nothing for it."""

    name: str
    kind: CallerKind
    account_id: str | None = None
    email: str | None = None
    path: str | None = None
    schedule: str | None = None
    time_zone: str = "Etc/UTC"
    job: Mapping[str, Any] = field(default_factory=dict)
    topic: str | None = None

    @property
    def body(self) -> str:
        """What a scheduler job posts: the job, as JSON; the worker keys each run by the job name and schedule
        time Cloud Scheduler sends in its headers (docs/design.md §2)."""
        return json.dumps({"job": dict(self.job)}, sort_keys=True, separators=(",", ":"))


def callers(entries: list[Mapping[str, Any]], environment: str, key: str) -> tuple[list[CallerEntry], list[str]]:
    """(typed entries, errors): each error names `<key>[i].<field>`. Runs once the schema has passed."""
    out: list[CallerEntry] = []
    errors: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(entries):
        where = f"{key}[{index}]"
        name, kind = raw["name"], raw["kind"]
        allowed = {"name", "kind", *REQUIRED_FIELDS[kind], *OPTIONAL_FIELDS[kind]}
        bad = [
            f"{where}.{f}: not a field of kind {kind!r} (it takes {', '.join(sorted(allowed))})"
            for f in raw
            if f not in allowed
        ]
        bad += [f"{where}.{f}: required for kind {kind!r}" for f in REQUIRED_FIELDS[kind] if f not in raw]
        if name in seen:
            bad.append(f"{where}.name: {name!r} repeats {key}[{seen[name]}]")
        seen.setdefault(name, index)
        account_id = None
        if kind != "service-account":
            account_id = f"{name}-{environment}"
            if name in RESERVED_NAMES:
                bad.append(f"{where}.name: {name!r} is the stack's own account; choose another name")
            elif not 6 <= len(account_id) <= 30:
                bad.append(
                    f"{where}.name: its account id {account_id!r} (<name>-<environment>) must be 6-30 characters"
                )
        errors += bad
        if bad:
            continue
        out.append(
            CallerEntry(
                name=name,
                kind=kind,
                account_id=account_id,
                email=raw.get("email"),
                path=DEFAULT_PATHS[kind],
                schedule=raw.get("schedule"),
                time_zone=raw.get("timeZone", "Etc/UTC"),
                job=raw.get("job", {}),
                topic=raw.get("topic"),
            )
        )
    return out, errors
