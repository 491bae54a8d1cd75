"""The deployer check's verdicts as the terminal report's section and as JSON."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from secure_invoke.preflight.deployer.check import Verdict

ALSO_SHOWN = 3  # roles named in an "also granted by" before "…"


def _also(roles: tuple[str, ...]) -> str:
    shown = ", ".join(roles[:ALSO_SHOWN])
    return shown + (f" and {len(roles) - ALSO_SHOWN} more" if len(roles) > ALSO_SHOWN else "")


def unused_line(verdict: Verdict, index: int) -> str:
    unused = verdict.unused[index]
    h = unused.holding
    head = f"unused: {h.role} on {h.describe_scope()} — {unused.granted} permissions granted, "
    if not unused.needed:
        return head + "none needed"
    return (
        head
        + f"the {len(unused.needed)} needed ({', '.join(unused.needed[:3])}{' …' if len(unused.needed) > 3 else ''}) "
        + f"also granted by {_also(unused.also)}"
    )


def missing_lines(verdict: Verdict) -> list[str]:
    """One line per resource, step and resource checked on: `would fail: <resource> <step> needs <p>[, <p>…] (on
    <scope>)`, in plan order."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    notes: dict[tuple[str, str, str], str] = {}
    for missing in verdict.missing:
        need = missing.need
        key = (need.label, need.step, need.target.describe())
        groups.setdefault(key, []).append(need.permission)
        if missing.undecided:
            roles = ", ".join(sorted({h.role for h in missing.undecided}))
            notes[key] = f"; {roles} would give it, but its condition cannot be decided before the request"
    return [
        f"would fail: {label} {step} needs {', '.join(permissions)} (on {scope}){notes.get((label, step, scope), '')}"
        for (label, step, scope), permissions in groups.items()
    ]


def lines(verdict: Verdict) -> list[tuple[str, str]]:
    """(style, text) lines of one verdict, in the order a reviewer reads them."""
    out: list[tuple[str, str]] = []
    out += [("red", line) for line in missing_lines(verdict)]
    out += [("red", unused_line(verdict, i)) for i in range(len(verdict.unused))]
    out += [("red", f"unknown: {u.label} — {u.what}") for u in verdict.plan.unknown]
    out += [
        ("red", f"unknown role: {h.role} on {h.describe_scope()} — neither predefined nor defined in a recorded run")
        for h in verdict.unknown_roles
    ]
    out += [("red", f"precondition ({f.kind}): {f.message}") for f in verdict.findings]
    out += [
        (
            "yellow",
            f"undecided: {h.role} on {h.describe_scope()} — its condition cannot be evaluated here; "
            "counted as not granting",
        )
        for h in verdict.undecided
    ]
    if verdict.plan.outside:
        kinds = ", ".join(f"{package} ({n})" for package, n in sorted(verdict.plan.outside.items()))
        out.append(("dim", f"outside Google Cloud IAM, not checked: {kinds}"))
    if verdict.plan.existing:
        out.append(
            (
                "dim",
                "taken as existing (the identity holds a grant on them; no create): "
                + ", ".join(verdict.plan.existing),
            )
        )
    return out


def summary(verdict: Verdict) -> str:
    resources = len({n.urn for n in verdict.plan.needs if n.urn})
    return (
        f"{len(verdict.plan.needs)} permission checks on {resources} resources, {len(verdict.holdings)} grants, "
        f"{verdict.seconds:.2f} s"
    )


def render(verdicts: list[Verdict], console: Console) -> None:
    for verdict in verdicts:
        console.print()
        console.print(
            Text.assemble(("Deployer check", "bold"), f" ({verdict.mode}) as {verdict.identity}: {summary(verdict)}"),
            soft_wrap=True,
        )
        for style, line in lines(verdict):
            mark = "✘" if style == "red" else ("?" if style == "yellow" else "·")
            console.print(Text(f"    {mark} {line}", style=style), soft_wrap=True)
        minimal = verdict.minimal_role
        console.print(
            Text(f"    minimal custom role ({len(minimal)} permissions): {', '.join(minimal)}", style="dim"),
            soft_wrap=True,
        )
        if verdict.failing:
            console.print(
                Text(
                    f"✘ FAIL  {verdict.identity} cannot {verdict.mode} as planned, or holds more than it needs",
                    style="bold red",
                ),
                soft_wrap=True,
            )
        else:
            console.print(
                Text(f"✔ PASS  {verdict.identity}: nothing missing, nothing unused", style="bold green"), soft_wrap=True
            )


def to_json(verdict: Verdict) -> dict[str, Any]:
    return {
        "identity": verdict.identity,
        "mode": verdict.mode,
        "pass": not verdict.failing,
        "wouldFail": [
            {
                "urn": m.need.urn,
                "resource": m.need.label,
                "step": m.need.step,
                "permission": m.need.permission,
                "on": m.need.target.name,
                "via": m.need.via,
                "undecided": [h.role for h in m.undecided],
                "message": m.line(),
            }
            for m in verdict.missing
        ],
        "unused": [
            {
                "role": u.holding.role,
                "on": u.holding.scope,
                "granted": u.granted,
                "neededAlsoGrantedBy": list(u.also),
                "needed": list(u.needed),
                "urn": u.holding.source,
                "message": unused_line(verdict, i),
            }
            for i, u in enumerate(verdict.unused)
        ],
        "unknown": [{"urn": u.urn, "resource": u.label, "what": u.what} for u in verdict.plan.unknown],
        "unknownRoles": [{"role": h.role, "on": h.scope, "urn": h.source} for h in verdict.unknown_roles],
        "undecided": [{"role": h.role, "on": h.scope, "urn": h.source} for h in verdict.undecided],
        "preconditions": [{"kind": f.kind, "urn": f.urn, "message": f.message} for f in verdict.findings],
        "minimalRole": verdict.minimal_role,
        "neededByResource": verdict.needed,
        "outsideGoogleIam": verdict.plan.outside,
        "existing": verdict.plan.existing,
        "seconds": round(verdict.seconds, 3),
    }
