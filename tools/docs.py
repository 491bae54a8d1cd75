"""Write the tables of the READMEs that mirror code, from that code.

    python -m tools.docs [--check]      (make docs)

README.md's configuration table comes from `settings.KEYS` (type, default and description of every key),
docs/design.md's table of caller kinds from `components.callers.KIND_DOCS` and the settings' fields per kind,
components/README.md's argument tables from each component's args dataclass (fields, types, defaults, and the
comment above each field),
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

from secure_invoke.components.callers import KIND_DOCS
from secure_invoke.policies.guardrails.pack import SPECS
from secure_invoke.policies.guardrails.spec import Spec
from secure_invoke.settings import KEYS, MISSING, TIERS, ByTier, Key
from secure_invoke.settings.callers import DEFAULT_PATHS, KINDS, OPTIONAL_FIELDS, REQUIRED_FIELDS

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


def config_default(key: Key) -> str:
    if isinstance(key.default, ByTier):
        return ", ".join(f"{tier} `{_literal(key.default.of(tier))}`" for tier in TIERS)
    if key.default is None or key.default is MISSING:
        return NO_VALUE
    return f"`{_literal(key.default)}`"


def config_table() -> str:
    rows: list[tuple[str, ...]] = []
    for key in KEYS:
        if ":" in key.name:
            continue  # gcp:project and gcp:region, named in the text above the table
        description = key.description.strip()
        if not description:
            raise DocsError(f"settings/schema.py: {key.name} has no description")
        rows.append((f"`{key.name}`", config_type(key.schema), config_default(key), description))
    return _table(("key", "type", "default", "meaning"), rows)


def caller_kinds_table() -> str:
    """One row per kind of `callers` entry: its fields, what it creates, the path it calls by default, where its
    token's audience is set, and what its requests carry when they reach the worker."""
    rows: list[tuple[str, ...]] = []
    for kind in KINDS:
        doc = KIND_DOCS.get(kind)
        if doc is None:
            raise DocsError(f"components/callers.py: KIND_DOCS has no entry for the settings' kind {kind!r}")
        fields = [f"`{f}`" for f in REQUIRED_FIELDS[kind]] + [f"`{f}` (optional)" for f in OPTIONAL_FIELDS[kind]]
        path = DEFAULT_PATHS[kind]
        rows.append(
            (
                f"`{kind}`",
                ", ".join(fields) or NO_VALUE,
                doc.creates,
                f"`{path}`" if path else NO_VALUE,
                doc.audience_field,
                doc.headers,
                doc.body,
            )
        )
    return _table(("kind", "fields", "creates", "path", "audience set in", "headers the worker gets", "body"), rows)


# The components, each with the args dataclasses it takes, in the order components/README.md presents them.
COMPONENT_ARGS: dict[str, tuple[str, ...]] = {
    "ServiceIdentity": ("identity.py:ServiceIdentityArgs", "identity.py:ScopedRole", "identity.py:Condition"),
    "PrivateService": (
        "private_service.py:PrivateServiceArgs",
        "callers.py:Caller",
        "callers.py:ScheduledCall",
        "callers.py:PushCall",
        "callers.py:QueuedCall",
        "callers.py:WorkflowCall",
        "callers.py:CallerEnv",
    ),
    "EventFunction": ("event_function.py:EventFunctionArgs", "event_function.py:VpcEgress"),
    "RotatedSecret": ("rotated_secret.py:RotatedSecretArgs",),
    "DeadLetterTopic": ("dead_letter.py:DeadLetterTopicArgs",),
    "OperatorAccess": ("operator_access.py:OperatorAccessArgs", "operator_access.py:TimeBoundGrant"),
    "AccessAudit": ("access_audit.py:AccessAuditArgs",),
    "WorkerImage": ("worker_image.py:WorkerImageArgs",),
}


def _comment_above(lines: list[str], lineno: int) -> str:
    """The `#` comment lines directly above line `lineno` (1-based), joined."""
    comment: list[str] = []
    index = lineno - 2
    while index >= 0 and lines[index].strip().startswith("#"):
        comment.insert(0, lines[index].strip().lstrip("#").strip())
        index -= 1
    return " ".join(comment)


def dataclass_fields(module: Path, name: str) -> list[tuple[str, str, str, str]]:
    """(field, type, default, meaning) of each field of dataclass `name` in `module`, read from its source: the
    annotation and default as written, the meaning from the comment above the field."""
    source = module.read_text(encoding="utf-8")
    lines = source.splitlines()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            rows: list[tuple[str, str, str, str]] = []
            for item in node.body:
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                    annotation = ast.get_source_segment(source, item.annotation) or ""
                    default = NO_VALUE
                    if item.value is not None:
                        default = ast.get_source_segment(source, item.value) or ""
                        factory = re.fullmatch(r"field\(default_factory=(\w+)\)", default)
                        if factory:
                            default = {"dict": "{}", "tuple": "()", "list": "[]"}.get(factory.group(1), default)
                    meaning = _comment_above(lines, item.lineno)
                    if not meaning:
                        raise DocsError(
                            f"{module.relative_to(REPO_ROOT)}: {name}.{item.target.id} has no comment above it "
                            "to say what it is"
                        )
                    rows.append((item.target.id, annotation, default, meaning))
            return rows
    raise DocsError(f"{module.relative_to(REPO_ROOT)}: no dataclass {name}")


def args_tables(component: str) -> str:
    """The argument tables of one component: its args dataclass first, then the ones it takes."""
    parts: list[str] = []
    for spec in COMPONENT_ARGS[component]:
        file_name, class_name = spec.split(":")
        module = REPO_ROOT / "components" / file_name
        rows = [
            (f"`{field}`", f"`{kind}`", NO_VALUE if default == NO_VALUE else f"`{default}`", meaning)
            for field, kind, default, meaning in dataclass_fields(module, class_name)
        ]
        parts.append(
            f"`{class_name}` ([`{file_name}`]({file_name}))\n\n" + _table(("field", "type", "default", "meaning"), rows)
        )
    return "\n\n".join(parts)


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
    Region(
        "docs/design.md", "caller kinds", "components/callers.py KIND_DOCS, settings/callers.py", caller_kinds_table
    ),
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
    *(
        Region("components/README.md", f"{name} arguments", "the args dataclass", partial(args_tables, name))
        for name in COMPONENT_ARGS
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
