"""Content digests of source directories: names that change exactly when the code does."""

from __future__ import annotations

import hashlib
from pathlib import Path

# Build noise that must not trigger a redeploy.
_IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".venv", ".mypy_cache", ".ruff_cache"}
_IGNORED_SUFFIXES = {".pyc", ".pyo"}


def source_files(directory: Path) -> list[Path]:
    """The files that make up a deployable source tree, in a stable order."""
    return sorted(
        p
        for p in directory.rglob("*")
        if p.is_file()
        and not _IGNORED_PARTS.intersection(p.relative_to(directory).parts)
        and p.suffix not in _IGNORED_SUFFIXES
    )


def directory_digest(directory: str | Path) -> str:
    """sha256 over relative paths and contents; independent of mtimes and of where the tree lives."""
    root = Path(directory)
    if not root.is_dir():
        raise ValueError(f"source directory {root} does not exist")
    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
