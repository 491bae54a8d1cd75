"""What a rule reads besides the resource itself: which resource it judges, the policy's settings (its config,
strict defaults), the pack's clock, and where its inputs came from (preflight's provenance; none under the CLI)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .clock import now as _now
from .config import PolicySettings
from .provenance import NO_PROVENANCE, Provenance

__all__ = ["RuleContext"]


@dataclass(frozen=True)
class RuleContext:
    urn: str = ""
    name: str = ""
    stack: str = ""
    settings: PolicySettings = field(default_factory=PolicySettings)
    provider_default_labels: bool = False
    now: datetime = field(default_factory=_now)
    provenance: Provenance = NO_PROVENANCE

    @property
    def label(self) -> str:
        return f"'{self.name}'" if self.name else "this resource"
