"""What a rule reads besides the resource itself: which resource it judges, the policy's settings (its config,
strict defaults), and the pack's clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .clock import now as _now
from .config import PolicySettings

__all__ = ["RuleContext"]


@dataclass(frozen=True)
class RuleContext:
    urn: str = ""
    name: str = ""
    stack: str = ""
    settings: PolicySettings = field(default_factory=PolicySettings)
    provider_default_labels: bool = False
    now: datetime = field(default_factory=_now)

    @property
    def label(self) -> str:
        return f"'{self.name}'" if self.name else "this resource"
