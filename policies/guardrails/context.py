"""Settings a rule reads besides the resource itself (from policy config; strict defaults)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .clock import now as _now
from .config import DEFAULT_MAX_HUMAN_ACCESS_DAYS


@dataclass(frozen=True)
class RuleContext:
    urn: str = ""
    name: str = ""
    stack: str = ""
    allowed_member_domains: frozenset[str] = field(default_factory=frozenset)
    extra_allowed_roles: frozenset[str] = field(default_factory=frozenset)
    production_stacks: frozenset[str] = frozenset({"prod", "production"})
    provider_default_labels: bool = False
    allowed_invokers: frozenset[str] = field(default_factory=frozenset)  # normalized prefix:email members
    max_human_access_days: int = DEFAULT_MAX_HUMAN_ACCESS_DAYS
    now: datetime = field(default_factory=_now)

    @property
    def label(self) -> str:
        return f"'{self.name}'" if self.name else "this resource"
