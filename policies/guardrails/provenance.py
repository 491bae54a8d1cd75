"""Where an input value came from, as preflight's engine saw the program send it: written in the program, read
from the stack's config (plain or `secure:`), computed from another resource's output or a provider function's
result, or passed as a Pulumi secret; and which key files sit inside an asset or archive.

preflight adds this as one top-level property, `__provenance`, to each resource it sends the pack. The Pulumi CLI
never sends it: its engine drops every top-level `__` key from what analyzers get (`SkipInternalKeys`), and
pulumi-policy hands a policy secret values unwrapped, so under the CLI a rule cannot tell a literal from
`config.require_secret(...)`. Rules that need to tell (a password given as a literal) judge only when provenance
is present (`Provenance.available`); rules that judge what a value is (a private key, a token's shape) work
either way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "NO_PROVENANCE",
    "PROVENANCE_KEY",
    "KeyFile",
    "Origin",
    "Provenance",
    "path_of",
    "split",
    "walk",
]

# The top-level property preflight puts provenance in: a `__` key, which the CLI's engine never sends analyzers.
PROVENANCE_KEY: Final = "__provenance"


def path_of(*steps: str | int) -> str:
    """`template.containers[0].envs[1].value`: keys joined by dots, list positions in brackets (preflight writes
    provenance paths with this same function)."""
    out = ""
    for step in steps:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out = f"{out}.{step}" if out else step
    return out


def walk(value: Any, prefix: tuple[str | int, ...] = (), depth: int = 0) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    """Every leaf of a plain value with its steps (mappings by key, lists by position), depth-bounded."""
    if depth > 32:
        return
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from walk(child, (*prefix, str(key)), depth + 1)
    elif isinstance(value, list | tuple):
        for index, child in enumerate(value):
            yield from walk(child, (*prefix, index), depth + 1)
    else:
        yield prefix, value


@dataclass(frozen=True)
class Origin:
    """Where one value came from. kind: `program` (a literal, or something the program read from a file or its
    environment), `plain-config` / `secure-config` (the stack's config; `source` is the key when known),
    `resource` (`source`: `<type>.<output>` of a resource it was computed from), `invoke` (`source`: the
    function's token), or `unknown` (no provenance: the Pulumi CLI)."""

    kind: str
    source: str = ""
    secret_output: bool = False  # computed from an output the provider marks secret

    @property
    def written_in_plain(self) -> bool:
        """In the program's source or the stack's plain config: a credential there is in plain text at rest."""
        return self.kind in ("program", "plain-config")


@dataclass(frozen=True)
class KeyFile:
    """A file inside an asset or archive that holds key material (never its content)."""

    entry: str
    holds: str


_UNKNOWN: Final = Origin("unknown")
_PROGRAM: Final = Origin("program")


class Provenance:
    """preflight's provenance of one resource's inputs; `available` is False under the Pulumi CLI."""

    def __init__(self, data: object) -> None:
        self.available = isinstance(data, Mapping)
        raw: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        secret = raw.get("secret")
        self._secret = frozenset(p for p in secret if isinstance(p, str)) if isinstance(secret, list) else frozenset()
        origins = raw.get("origins")
        self._origins: Mapping[str, Any] = origins if isinstance(origins, Mapping) else {}
        files = raw.get("files")
        self._files: Mapping[str, Any] = files if isinstance(files, Mapping) else {}

    def origin(self, path: str) -> Origin:
        if not self.available:
            return _UNKNOWN
        entry = self._origins.get(path)
        if not isinstance(entry, Mapping):
            return _PROGRAM
        kind = entry.get("from")
        if kind == "config":
            return Origin("secure-config" if entry.get("secure") else "plain-config", str(entry.get("key") or ""))
        if kind == "resource":
            source = f"{entry.get('type', '')}.{entry.get('output', '')}"
            return Origin("resource", source, secret_output=bool(entry.get("secret")))
        if kind == "invoke":
            return Origin("invoke", str(entry.get("token") or ""))
        return _PROGRAM

    def sent_secret(self, path: str) -> bool:
        """Did the program send this value (or a value containing it) as a Pulumi secret?"""
        if not self._secret:
            return False
        while True:
            if path in self._secret:
                return True
            cut = max(path.rfind("."), path.rfind("["))
            if cut <= 0:
                return False
            path = path[:cut]

    def files_under(self, path: str) -> list[tuple[str, KeyFile]]:
        """(asset path, key file) for every asset or archive at `path` or below it."""
        found: list[tuple[str, KeyFile]] = []
        for where, entries in self._files.items():
            if not _under(where, path) or not isinstance(entries, list):
                continue
            for entry in entries:
                if isinstance(entry, Mapping) and isinstance(entry.get("entry"), str):
                    found.append((where, KeyFile(entry["entry"], str(entry.get("holds") or "key material"))))
        return found


def _under(where: str, path: str) -> bool:
    return where == path or where.startswith((f"{path}.", f"{path}["))


NO_PROVENANCE: Final = Provenance(None)


def split(props: Mapping[str, Any]) -> tuple[Mapping[str, Any], Provenance]:
    """A resource's properties without the provenance property, and the provenance (NO_PROVENANCE when absent)."""
    if PROVENANCE_KEY not in props:
        return props, NO_PROVENANCE
    rest = {key: value for key, value in props.items() if key != PROVENANCE_KEY}
    return rest, Provenance(props[PROVENANCE_KEY])
