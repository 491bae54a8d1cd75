"""The pack's one clock: rules never read the time themselves, they get `RuleContext.now` (tests inject it)."""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["now"]


def now() -> datetime:
    return datetime.now(UTC)
