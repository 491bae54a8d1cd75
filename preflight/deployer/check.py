"""The verdict: every need matched against the identity's grants — what would fail, what is never used, what
cannot be known — and the smallest custom role that would do.

A need is met by a grant whose role carries the permission, whose scope covers the resource (the resource, a
parent, its project) and whose condition IAM would evaluate to true for that check. A grant is unused when it
meets no need, or when everything it meets is met by the grants that stay: those are taken away one at a time,
the most powerful first (identity and IAM power before code, writes, reads — the pack's classification of what a
role can do), so the report names the grant a reviewer would remove.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from secure_invoke.policies.guardrails.power import classify
from secure_invoke.preflight.deployer.conditions import evaluate
from secure_invoke.preflight.deployer.holdings import Holding
from secure_invoke.preflight.deployer.plan import Need, Plan

STEP_ORDER = {"create": 0, "read": 1, "update": 2, "delete": 3, "invoke": 4, "state": 5}


@dataclass(frozen=True)
class Finding:
    """A deploy precondition Google enforces at deploy time, on resource `urn`."""

    kind: str  # secret-version | build-grants-wait | api-not-enabled
    urn: str
    message: str


@dataclass(frozen=True)
class Missing:
    need: Need
    undecided: tuple[Holding, ...] = ()  # grants that would give it if their condition could be decided

    def line(self) -> str:
        need = self.need
        text = f"would fail: {need.label} {need.step} needs {need.permission} (on {need.target.describe()})"
        if self.undecided:
            roles = ", ".join(sorted({h.role for h in self.undecided}))
            text += f"; {roles} would give it, but its condition cannot be decided before the request"
        return text


@dataclass(frozen=True)
class Unused:
    holding: Holding
    granted: int
    needed: tuple[str, ...]  # needed permissions it gives (all also given by `also`)
    also: tuple[str, ...]  # the roles that give them


@dataclass
class Verdict:
    identity: str
    mode: str  # "pulumi up" | "pulumi preview"
    plan: Plan
    holdings: list[Holding]
    missing: list[Missing] = field(default_factory=list)
    unused: list[Unused] = field(default_factory=list)
    unknown_roles: list[Holding] = field(default_factory=list)
    undecided: list[Holding] = field(default_factory=list)  # grants with a condition this check cannot decide
    needed: dict[str, list[str]] = field(default_factory=dict)  # scope -> permissions
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def minimal_role(self) -> list[str]:
        return sorted({p for permissions in self.needed.values() for p in permissions})

    @property
    def failing(self) -> bool:
        return bool(self.missing or self.unused or self.plan.unknown or self.unknown_roles or self.findings)


def _power_rank(holding: Holding, used: int) -> tuple[int, ...]:
    """Which redundant grant to take away first: the broadest scope, then the most power, then the most unused."""
    scope = holding.scope
    breadth = 3 if scope.startswith(("organizations/", "folders/")) else (2 if scope.count("/") == 1 else 1)
    power = classify(holding.permissions or ())
    unneeded = len(holding.permissions or ()) - used
    classes = (len(power.escalation), len(power.iam), len(power.runs_code), len(power.org_policy), len(power.writes))
    return (breadth, *classes, unneeded)


def judge(
    identity: str,
    mode: str,
    plan: Plan,
    holdings: list[Holding],
    now: datetime | None = None,
    preconditions: Callable[[], list[Finding]] | None = None,
) -> Verdict:
    started = time.perf_counter()
    verdict = Verdict(identity, mode, plan, holdings)
    verdict.unknown_roles = [h for h in holdings if h.permissions is None]
    meets: dict[int, set[int]] = {i: set() for i in range(len(holdings))}  # holding -> needs it meets
    undecided_for: dict[int, set[int]] = {i: set() for i in range(len(holdings))}
    by_need: list[set[int]] = []
    for n, need in enumerate(plan.needs):
        met: set[int] = set()
        for h, holding in enumerate(holdings):
            if not holding.permissions or need.permission not in holding.permissions:
                continue
            if not need.target.covered_by(holding.scope):
                continue
            decided = evaluate(holding.condition, need, now)
            if decided:
                met.add(h)
                meets[h].add(n)
            elif decided is None:
                undecided_for[h].add(n)
        by_need.append(met)
    verdict.undecided = [holdings[h] for h, needs in undecided_for.items() if needs]

    # would fail: one line per (resource, permission, resource it is checked on), at its first step
    seen: set[tuple[str, str, str, str]] = set()
    ordered = sorted(range(len(plan.needs)), key=lambda n: STEP_ORDER.get(plan.needs[n].step, 9))
    for n in ordered:
        need = plan.needs[n]
        key = (need.urn or need.label, need.permission, need.target.name, "")
        if by_need[n] or key in seen:
            continue
        seen.add(key)
        undecided = tuple(holdings[h] for h in undecided_for if n in undecided_for[h])
        verdict.missing.append(Missing(need, undecided))
    verdict.missing.sort(key=lambda m: (_position(plan, m.need), STEP_ORDER.get(m.need.step, 9), m.need.permission))

    for need in plan.needs:
        verdict.needed.setdefault(need.target.name, [])
        if need.permission not in verdict.needed[need.target.name]:
            verdict.needed[need.target.name].append(need.permission)

    verdict.unused = _unused(plan.needs, holdings, meets, undecided_for, by_need)
    if preconditions is not None:
        verdict.findings = preconditions()
    verdict.seconds = time.perf_counter() - started
    return verdict


def _position(plan: Plan, need: Need) -> int:
    for index, other in enumerate(plan.needs):
        if other.urn == need.urn and other.label == need.label:
            return index
    return len(plan.needs)


def _unused(
    needs: list[Need],
    holdings: list[Holding],
    meets: dict[int, set[int]],
    undecided_for: dict[int, set[int]],
    by_need: list[set[int]],
) -> list[Unused]:
    out: list[Unused] = []
    remaining = {h for h in meets if holdings[h].permissions is not None}
    for h in sorted(remaining, key=lambda h: (holdings[h].source, holdings[h].role)):
        if not meets[h] and not undecided_for[h]:
            out.append(Unused(holdings[h], len(holdings[h].permissions or ()), (), ()))
    remaining -= {h for h in remaining if not meets[h]}
    removed: list[int] = []
    while True:
        candidates = [h for h in remaining if all(by_need[n] & (remaining - {h}) for n in meets[h])]
        if not candidates:
            break
        h = max(
            candidates,
            key=lambda c: (_power_rank(holdings[c], len({needs[n].permission for n in meets[c]})), holdings[c].role),
        )
        remaining.discard(h)
        removed.append(h)
    for h in removed:  # who gives what it gave: the grants that stay
        others = {o for n in meets[h] for o in by_need[n] & remaining}
        out.append(
            Unused(
                holdings[h],
                len(holdings[h].permissions or ()),
                tuple(sorted({needs[n].permission for n in meets[h]})),
                tuple(sorted({holdings[o].role for o in others})),
            )
        )
    return out
