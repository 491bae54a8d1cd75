"""Exemptions made visible: each violation an exemption suppressed, and each exemption that names no resource.

A policy reports nothing for a resource its config exempts, so without this an exemption would leave no trace,
and a mistyped URN would silently exempt nothing. The pack prints one line per exempted violation and one
warning per exemption naming no resource of the stack, on stderr: the Pulumi CLI shows what an analyzer prints
as diagnostics of the stack (`pulumi preview` lists them under `Diagnostics:`), and preflight reads the same lines
back into its report, JSON and CI summary (the format is preflight's `packs/protocol.py` EXEMPTED and
UNKNOWN_EXEMPTION).
"""

from __future__ import annotations

import difflib
import sys
import threading
from collections.abc import Iterable, Mapping

_lock = threading.Lock()
# resource policy → its exemptions (URN → reason), as it last parsed its config in this process.
_EXEMPTIONS: dict[str, Mapping[str, str]] = {}


def record(policy: str, exemptions: Mapping[str, str]) -> None:
    """Remember a resource policy's exemptions, for the check against the stack's resources (a resource policy
    sees one resource at a time; the check runs with the first stack policy of an AnalyzeStack call)."""
    with _lock:
        _EXEMPTIONS[policy] = exemptions


def _say(line: str) -> None:
    print(line.replace("\n", " "), file=sys.stderr, flush=True)


def exempted(policy: str, urn: str, reason: str) -> None:
    """A violation `policy` found on `urn` and did not report, because its config exempts it."""
    _say(f"info: exempted from {policy}: {urn} (reason: {reason})")


def check(urns: Iterable[str], given: Mapping[str, Mapping[str, str]] | None = None) -> None:
    """Warn about each exemption naming no resource of the stack, with the closest URN of the stack when one is
    close: those `given` (policy → URN → reason), else those recorded by the resource policies so far."""
    stack = set(urns)
    with _lock:
        source = dict(_EXEMPTIONS) if given is None else given
        recorded = sorted((policy, urn) for policy, found in source.items() for urn in found)
    for policy, urn in recorded:
        if urn in stack:
            continue
        close = closest(urn, stack)
        hint = f"; did you mean {close}?" if close else ""
        _say(f"warning: {policy}: the exemption of {urn} names no resource of this stack{hint}")


def closest(urn: str, stack: Iterable[str]) -> str | None:
    """The stack's URN `urn` most likely meant: a close name of the same type, else a near-identical URN (every
    URN of a stack shares its long prefix, so whole URNs alone would look alike)."""
    qualified, _, name = urn.rpartition("::")
    urns = sorted(stack)
    same_type = {u.rpartition("::")[2]: u for u in urns if u.rpartition("::")[0] == qualified}
    close = difflib.get_close_matches(name, list(same_type), n=1, cutoff=0.6)
    if close:
        return same_type[close[0]]
    close = difflib.get_close_matches(urn, urns, n=1, cutoff=0.9)
    return close[0] if close else None


def forget() -> None:
    """Drop what resource policies recorded (a new process starts without; tests share one)."""
    with _lock:
        _EXEMPTIONS.clear()
