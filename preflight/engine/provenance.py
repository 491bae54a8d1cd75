"""Where each input of a resource came from, as the engine saw the program send it: Pulumi secrets, values
computed from other resources or provider functions, the stack's config, and key files inside assets and
archives (read here, bounded: the pack never reads the program's files).

The program's SDK sends a value it got from `config.require_secret(...)` or a secret output wrapped as a secret,
and a literal bare; the engine also knows what it handed the program (config, outputs, function results). The
provider marks more fields secret later (in Check), and the Pulumi CLI sends analyzers no provenance at all, so
this is what only preflight can tell a policy pack (`packs/protocol.py` adds it to each Analyze request under the
pack's `PROVENANCE_KEY`; `secure_invoke.policies.guardrails.provenance` reads it). Values are never copied into
it: paths, config keys, resource types and output names, function tokens, and archive entry names only.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Final

from secure_invoke.policies.guardrails.provenance import path_of
from secure_invoke.policies.guardrails.secret_values import key_material
from secure_invoke.preflight.engine.project import SECRET_PLACEHOLDER
from secure_invoke.preflight.outputs.wire import OUTPUT_VALUE_SIG, SECRET_SIG, SIG_KEY, UNKNOWN

__all__ = [
    "ARCHIVE_SIG",
    "ASSET_SIG",
    "MAX_ARCHIVE_BYTES",
    "MAX_ARCHIVE_ENTRIES",
    "handed_strings",
    "plain_config_values",
    "provenance",
]

ASSET_SIG: Final = "c44067f5952c0a294b673a41bacd8c17"
ARCHIVE_SIG: Final = "0def7320c3a5731c473e5ecbe6d01bc7"

_MIN_MATCH: Final = 6  # shorter outputs ("1", "true") say nothing about where a string came from
_MAX_LEAF: Final = 100_000  # a longer string is searched in its first part only
_MAX_CONTAINED: Final = 2_000  # more candidate outputs than this: equality only

# Key files inside assets and archives: bounded work, nothing followed out of the archive.
MAX_ARCHIVE_ENTRIES: Final = 5_000
MAX_ARCHIVE_BYTES: Final = 64 << 20  # read in all, per asset or archive
_MAX_FILE_BYTES: Final = 1 << 20  # read per file: key files are small
_KEY_SUFFIXES: Final = (".p12", ".pfx")  # binary key stores: judged by name
_MAX_NESTING: Final = 4


def handed_strings(token: str, result: Any) -> Iterator[str]:
    """The strings a provider function's result hands the program (pulumi-std's pure functions hand back what the
    program gave them, so their results count as the program's own)."""
    if token.startswith("std:"):
        return
    yield from (s for s in _strings(result) if len(s) >= _MIN_MATCH and s != UNKNOWN)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for child in value.values():
            yield from _strings(child)
    elif isinstance(value, list):
        for child in value:
            yield from _strings(child)


_Leaf = tuple[tuple[str | int, ...], Any, bool]


def _leaves(value: Any, steps: tuple[str | int, ...], secret: bool) -> Iterator[_Leaf]:
    """(steps, wire value, inside a secret) of every leaf; assets and archives are leaves."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG:
            yield from _leaves(value.get("value"), steps, True)
            return
        if sig == OUTPUT_VALUE_SIG:
            yield from _leaves(value.get("value", UNKNOWN), steps, secret or bool(value.get("secret")))
            return
        if sig in (ASSET_SIG, ARCHIVE_SIG):
            yield steps, value, secret
            return
        for key, child in value.items():
            yield from _leaves(child, (*steps, key), secret)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, (*steps, index), secret)
    else:
        yield steps, value, secret


def _secret_paths(value: Any, steps: tuple[str | int, ...], out: list[str]) -> None:
    """Where the program's secret wrappers sit (a wrapper around an object makes all of it secret)."""
    if isinstance(value, dict):
        sig = value.get(SIG_KEY)
        if sig == SECRET_SIG or (sig == OUTPUT_VALUE_SIG and value.get("secret")):
            out.append(path_of(*steps))
            return
        if sig in (ASSET_SIG, ARCHIVE_SIG):
            return
        for key, child in value.items():
            _secret_paths(child, (*steps, key), out)
    elif isinstance(value, list):
        for index, child in enumerate(value):
            _secret_paths(child, (*steps, index), out)


def _outputs_of(record: Any) -> list[tuple[str, str, bool]]:
    """(value, output name, secret) of the string outputs of a resource the program read."""
    found: list[tuple[str, str, bool]] = []
    for key, value in (getattr(record, "wire_outputs", None) or {}).items():
        secret = isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG
        found += [(s, key, secret) for s in _strings(value) if len(s) >= _MIN_MATCH and s != UNKNOWN]
    if len(getattr(record, "id", "") or "") >= _MIN_MATCH:
        found.append((record.id, "id", False))
    return found


def _type_of(urn: str) -> str:
    return urn.split("::")[2].rsplit("$", 1)[-1] if urn.count("::") >= 3 else ""


def plain_config_values(config: Mapping[str, str]) -> dict[str, str]:
    """value -> key of the stack's plain config (a `secure:` value is the placeholder, never matched by value)."""
    return {value: key for key, value in config.items() if value and SECRET_PLACEHOLDER not in value}


def provenance(
    wire_inputs: Mapping[str, Any],
    property_dependencies: Mapping[str, list[str]],
    records: Mapping[str, Any],
    plain_config: Mapping[str, str],
    handed: Mapping[str, str],
    handed_long: list[tuple[str, str]],
    program_dir: Path | None,
) -> dict[str, Any]:
    """The provenance of one resource's inputs (see the module docstring). `records`: the resources registered so
    far; `plain_config`: plain_config_values(config); `handed`: the strings provider functions returned to the
    program (value -> function token), `handed_long` the longer ones, searched for inside values."""
    secret: list[str] = []
    _secret_paths(dict(wire_inputs), (), secret)
    origins: dict[str, dict[str, Any]] = {}
    files: dict[str, list[dict[str, str]]] = {}
    unread: dict[str, str] = {}
    dependency_outputs: dict[str, list[tuple[str, str, bool, str]]] = {}
    for steps, value, _ in _leaves(dict(wire_inputs), (), False):
        path = path_of(*steps)
        if isinstance(value, dict):  # an asset or archive
            found, why = _key_files(value, program_dir)
            if found:
                files[path] = found
            if why:
                unread[path] = why
            continue
        if not isinstance(value, str) or not value or value == UNKNOWN:
            continue
        top = str(steps[0]) if steps else ""
        if top not in dependency_outputs:
            dependency_outputs[top] = [
                (output, name, is_secret, _type_of(urn))
                for urn in property_dependencies.get(top, [])
                if (record := records.get(urn)) is not None
                for output, name, is_secret in _outputs_of(record)
            ]
        origin = _origin(value, dependency_outputs[top], plain_config, handed, handed_long)
        if origin is not None:
            origins[path] = origin
    result: dict[str, Any] = {"secret": secret, "origins": origins}
    if files:
        result["files"] = files
    if unread:
        result["unread"] = unread
    return result


def _origin(
    value: str,
    outputs: list[tuple[str, str, bool, str]],
    plain_config: Mapping[str, str],
    handed: Mapping[str, str],
    handed_long: list[tuple[str, str]],
) -> dict[str, Any] | None:
    text = value[:_MAX_LEAF]
    if SECRET_PLACEHOLDER in text:
        return {"from": "config", "secure": True}
    contained = len(outputs) <= _MAX_CONTAINED
    for output, name, is_secret, type_ in outputs:
        if output == value or (contained and output in text):
            return {"from": "resource", "type": type_, "output": name, "secret": is_secret}
    token = handed.get(value)
    if token is None and len(handed_long) <= _MAX_CONTAINED:
        # A list only grows (the monitor appends from its threads): iterating it while it does is safe.
        token = next((t for s, t in handed_long if s in text), None)
    if token is not None:
        return {"from": "invoke", "token": token}
    key = plain_config.get(value)
    if key is not None:
        return {"from": "config", "key": key, "secure": False}
    return None


# --- key files inside assets and archives ---------------------------------------------------------------------


class _Budget:
    def __init__(self) -> None:
        self.entries = 0
        self.bytes = 0
        self.why = ""

    def take(self, size: int) -> bool:
        if self.entries >= MAX_ARCHIVE_ENTRIES or self.bytes + size > MAX_ARCHIVE_BYTES:
            self.why = self.why or (
                f"more than {MAX_ARCHIVE_ENTRIES} files or {MAX_ARCHIVE_BYTES >> 20} MiB: the rest was not read"
            )
            return False
        self.entries += 1
        self.bytes += size
        return True


def _key_files(value: Mapping[str, Any], program_dir: Path | None) -> tuple[list[dict[str, str]], str]:
    """Key files inside one asset or archive (entry names and what they hold) and why some could not be read."""
    budget = _Budget()
    found: list[dict[str, str]] = []
    root = program_dir or Path.cwd()
    _scan_wire(value, "", root, budget, found, 0)
    return found, budget.why


def _note(found: list[dict[str, str]], entry: str, data: bytes) -> None:
    name = entry.rsplit("/", 1)[-1].lower()
    if name.endswith(_KEY_SUFFIXES):
        found.append({"entry": entry, "holds": "a PKCS #12 key store"})
        return
    holds = key_material(data[:_MAX_FILE_BYTES].decode("utf-8", errors="replace"))
    if holds:
        found.append({"entry": entry, "holds": holds})


def _scan_wire(value: Any, prefix: str, root: Path, budget: _Budget, found: list[dict[str, str]], depth: int) -> None:
    if not isinstance(value, Mapping) or depth > _MAX_NESTING:
        return
    if isinstance(value.get("text"), str):  # StringAsset
        text = value["text"].encode("utf-8")
        if budget.take(len(text)):
            _note(found, prefix or "(text)", text)
        return
    assets = value.get("assets")
    if isinstance(assets, Mapping):  # AssetArchive: name -> asset or archive
        for name, child in assets.items():
            _scan_wire(child, _join(prefix, str(name)), root, budget, found, depth + 1)
        return
    path = value.get("path")
    if isinstance(path, str) and path:
        _scan_path(root / path, prefix, budget, found, value.get(SIG_KEY) == ARCHIVE_SIG)
    elif isinstance(value.get("uri"), str):
        budget.why = budget.why or "a remote asset or archive (not fetched offline)"


def _join(prefix: str, name: str) -> str:
    """An entry's name inside the archive, as its reader would see it (`./a/../b` is `b`)."""
    joined = posixpath.normpath(posixpath.join(prefix, name) if prefix else name)
    return joined.lstrip("/") if joined not in (".", "") else name


def _scan_path(path: Path, prefix: str, budget: _Budget, found: list[dict[str, str]], archive: bool) -> None:
    try:
        info = path.lstat()
    except OSError:
        budget.why = budget.why or f"{path.name} not found"
        return
    if stat.S_ISDIR(info.st_mode):
        _scan_directory(path, prefix, budget, found)
    elif stat.S_ISREG(info.st_mode):
        name = prefix or path.name
        if archive and zipfile.is_zipfile(path):
            _scan_zip(path, name, budget, found)
        elif archive and _is_tar(path):
            _scan_tar(path, name, budget, found)
        else:
            _scan_file(path, name, info.st_size, budget, found)


def _scan_file(path: Path, entry: str, size: int, budget: _Budget, found: list[dict[str, str]]) -> None:
    if not budget.take(min(size, _MAX_FILE_BYTES)):
        return
    try:
        with path.open("rb") as handle:
            _note(found, entry, handle.read(_MAX_FILE_BYTES))
    except OSError:
        budget.why = budget.why or f"{entry} could not be read"


def _scan_directory(top: Path, prefix: str, budget: _Budget, found: list[dict[str, str]]) -> None:
    # As Pulumi archives a directory: every file below it. Symbolic links are not followed (a link may point
    # anywhere on this machine; what it names is not inside the archive as written).
    for directory, subdirectories, names in os.walk(top, followlinks=False):
        subdirectories.sort()
        for name in sorted(names):
            path = Path(directory, name)
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                budget.why = budget.why or f"{path.relative_to(top).as_posix()} is a link (links are not followed)"
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            relative = path.relative_to(top).as_posix()
            _scan_file(path, _join(prefix, relative), info.st_size, budget, found)
            if budget.why and budget.entries >= MAX_ARCHIVE_ENTRIES:
                return


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _scan_zip(path: Path, name: str, budget: _Budget, found: list[dict[str, str]]) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.is_dir() or _zip_link(member):
                    continue
                if not budget.take(min(member.file_size, _MAX_FILE_BYTES)):
                    return
                with archive.open(member) as handle:
                    _note(found, _join(name, member.filename), handle.read(_MAX_FILE_BYTES))
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        budget.why = budget.why or f"{name} could not be read as a zip archive"


def _zip_link(member: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(member.external_attr >> 16)


def _scan_tar(path: Path, name: str, budget: _Budget, found: list[dict[str, str]]) -> None:
    try:
        with tarfile.open(path) as archive:
            for member in archive:
                if not member.isfile():  # links, devices and directories hold no file of their own
                    continue
                if not budget.take(min(member.size, _MAX_FILE_BYTES)):
                    return
                handle = archive.extractfile(member)
                if handle is not None:
                    _note(found, _join(name, member.name), handle.read(_MAX_FILE_BYTES))
    except (OSError, tarfile.TarError, ValueError):
        budget.why = budget.why or f"{name} could not be read as a tar archive"
