"""Write the tables of the READMEs that mirror code, from that code.

    python -m tools.docs [--check]      (make docs)

README.md's configuration table comes from `settings.SCHEMA` (type, default and description of every key),
policies/README.md's policy table from the pack's `SPECS` (kind, level, severity, what it catches, peer
checks), and the module tables of policies/README.md and preflight/README.md from each module's docstring
(its first sentence says what the module is for). Each table lives between two marker comments; the text
around them is never touched.
`--check` writes nothing and exits 1, with a diff naming the file, when a committed file differs from what
the code gives (tests/docs runs it, so a hand edit of a table or a schema change without `make docs` fails).
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any

from secure_invoke.policies.guardrails.pack import SPECS
from secure_invoke.policies.guardrails.spec import Spec
from secure_invoke.settings.schema import SCHEMA, per_environment_default

REPO_ROOT = Path(__file__).resolve().parents[1]
NO_VALUE = "—"


class DocsError(Exception):
    """A file or its markers are not as the generator expects (one line, naming the file)."""


@dataclass(frozen=True)
class Region:
    """A generated table: its file (relative to the repository), its name in the markers, and its source."""

    path: str
    name: str
    source: str
    render: Callable[[], str]

    @property
    def begin(self) -> str:
        return f"<!-- BEGIN generated: {self.name} (make docs; edit {self.source}) -->"

    @property
    def end(self) -> str:
        return f"<!-- END generated: {self.name} -->"


def _cell(text: str) -> str:
    # GFM splits a row at every unescaped pipe, inside code spans too; a newline would end the row.
    if "\n" in text:
        raise DocsError(f"a table cell cannot hold a line break: {text[:60]!r}")
    return text.replace("|", "\\|")


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _literal(value: Any) -> str:
    # As a stack's YAML would hold it: strings bare, booleans lower case, empty lists and maps as [] and {}.
    return value if isinstance(value, str) else json.dumps(value)


def config_type(schema: Mapping[str, Any]) -> str:
    if "enum" in schema:
        return "one of " + ", ".join(f"`{_literal(v)}`" for v in schema["enum"])
    kind = schema["type"]
    if kind == "integer":
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return f"integer {low}..{high}"
        if low is not None:
            return f"integer >= {low}"
        return f"integer <= {high}" if high is not None else "integer"
    return "list" if kind == "array" else str(kind)


def config_default(schema: Mapping[str, Any]) -> str:
    if "default" not in schema:
        return NO_VALUE
    per_environment = per_environment_default(schema)
    if per_environment is not None:
        environments = [env for env in SCHEMA["environment"]["enum"] if env in per_environment]
        return ", ".join(f"{env} `{_literal(per_environment[env])}`" for env in environments)
    return f"`{_literal(schema['default'])}`"


def config_table() -> str:
    rows: list[tuple[str, ...]] = []
    for key, schema in SCHEMA.items():
        description = str(schema.get("description", "")).strip()
        if not description:
            raise DocsError(f"settings/schema.py: SCHEMA[{key!r}] has no description")
        rows.append((f"`{key}`", config_type(schema), config_default(schema), description))
    return _table(("key", "type", "default", "meaning"), rows)


def policy_kind(spec: Spec) -> str:
    kinds = [kind for kind, rule in (("resource", spec.resource_rule), ("stack", spec.stack_rule)) if rule]
    return ", ".join(kinds)


def policy_table() -> str:
    rows: list[tuple[str, ...]] = []
    for spec in SPECS:
        if not spec.catches.strip():
            raise DocsError(f"policies/guardrails/pack.py: {spec.name} has no catches text")
        rows.append(
            (
                f"`{spec.name}`",
                policy_kind(spec),
                spec.level.value,
                spec.severity.value,
                spec.catches,
                ", ".join(spec.peers) or NO_VALUE,
            )
        )
    return _table(("policy", "kind", "level", "severity", "what it catches", "peers"), rows)


def module_job(path: Path) -> str:
    """The first sentence of a module's docstring: what the module is for."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"), str(path))) or ""
    first = " ".join(doc.split("\n\n")[0].split())
    if not first:
        raise DocsError(f"{path.relative_to(REPO_ROOT)}: no module docstring to say what it is for")
    return first.split(". ")[0].rstrip(".")


def _check_folder_map(init: Path) -> None:
    """A folder's `__init__.py` docstring maps its modules as "`module` — job": exactly the modules it has."""
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"), str(init))) or ""
    mapped = set(re.findall(r"`(\w+)` —", doc))
    modules = {p.stem for p in init.parent.glob("*.py") if p.name != "__init__.py"}
    where = init.relative_to(REPO_ROOT)
    if missing := sorted(modules - mapped):
        raise DocsError(f"{where}: its docstring map does not name {', '.join(missing)}")
    if stale := sorted(mapped - modules):
        raise DocsError(f"{where}: its docstring map names {', '.join(stale)}, which is no module of the folder")


def module_table(package: str, folders: bool = False) -> str:
    """One row per module of a package (subpackages included, their `__init__.py` left out); with `folders`,
    each subpackage's `__init__.py` is a row of its own, shown as the folder, above the folder's modules."""
    root = REPO_ROOT / package

    def shown(path: Path) -> str:
        relative = path.relative_to(root)
        return (
            f"{relative.parent.as_posix()}/"
            if path.name == "__init__.py" and path.parent != root
            else relative.as_posix()
        )

    paths = sorted(
        (
            p
            for p in root.rglob("*.py")
            if "__pycache__" not in p.parts and (p.name != "__init__.py" or p.parent == root or folders)
        ),
        key=lambda p: PurePosixPath(shown(p)).parts,
    )
    if folders:
        for init in (p for p in paths if p.name == "__init__.py" and p.parent != root):
            _check_folder_map(init)
    return _table(("module", "job"), [(f"`{shown(p)}`", module_job(p)) for p in paths])


REGIONS: tuple[Region, ...] = (
    Region("README.md", "config table", "settings/schema.py", config_table),
    Region("policies/README.md", "policy table", "policies/guardrails/pack.py", policy_table),
    Region(
        "policies/README.md",
        "modules of the pack",
        "the module docstrings",
        partial(module_table, "policies/guardrails"),
    ),
    Region(
        "preflight/README.md",
        "modules of preflight",
        "the module docstrings",
        partial(module_table, "preflight", folders=True),
    ),
)


def splice(text: str, region: Region) -> str:
    """`text` with the region between its markers replaced by the generated table (markers rewritten too)."""
    begin = re.compile(rf"^<!-- BEGIN generated: {re.escape(region.name)}\b.*-->$", re.M)
    end = re.compile(rf"^{re.escape(region.end)}$", re.M)
    begins, ends = list(begin.finditer(text)), list(end.finditer(text))
    if len(begins) != 1 or len(ends) != 1 or begins[0].start() > ends[0].start():
        raise DocsError(
            f"{region.path}: needs one {region.begin!r} line, then one {region.end!r} line "
            f"(found {len(begins)} and {len(ends)})"
        )
    # Blank lines around the table: the markers are HTML blocks, the table a block of its own.
    body = f"{region.begin}\n\n{region.render()}\n\n{region.end}"
    return text[: begins[0].start()] + body + text[ends[0].end() :]


def generate(root: Path) -> dict[str, tuple[str, str]]:
    """Per file: (committed text, generated text). Raises DocsError naming the file or marker at fault."""
    files: dict[str, tuple[str, str]] = {}
    for region in REGIONS:
        if region.path not in files:
            try:
                committed = (root / region.path).read_text(encoding="utf-8")
            except OSError as error:
                raise DocsError(f"{region.path}: cannot read ({error.strerror})") from error
            files[region.path] = (committed, committed)
        committed, current = files[region.path]
        files[region.path] = (committed, splice(current, region))
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.docs", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="compare with the committed files instead of writing")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        files = generate(args.root)
    except DocsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stale = [path for path, (committed, generated) in files.items() if committed != generated]
    if args.check:
        for path in stale:
            committed, generated = files[path]
            diff = difflib.unified_diff(
                committed.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                f"{path} (committed)",
                f"{path} (generated)",
            )
            sys.stdout.writelines(diff)
            print(f"{path} is out of date: run `make docs` (python -m tools.docs)", file=sys.stderr)
        if not stale:
            print(f"up to date: {', '.join(files)}")
        return 1 if stale else 0
    for path in stale:
        (args.root / path).write_text(files[path][1], encoding="utf-8")
        print(f"wrote {path}")
    if not stale:
        print(f"unchanged: {', '.join(files)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
