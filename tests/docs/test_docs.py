"""The READMEs' generated tables stay true: they equal what the code gives (a hand edit fails), every config key
and every policy the pack builds is documented."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pulumi_policy import ResourceValidationPolicy, Severity, StackValidationPolicy

from secure_invoke.policies.guardrails.pack import SPECS, build_policies
from secure_invoke.settings import KEYS, ByTier, Key
from secure_invoke.settings import schema as settings_schema
from tests.docs.markdown import table_with_header
from tools import docs

REPO = Path(__file__).resolve().parents[2]
FILES = sorted({region.path for region in docs.REGIONS})
CONFIG_HEADER = ["key", "type", "default", "meaning"]
POLICY_HEADER = ["policy", "kind", "level", "severity", "what it catches", "peers"]
PEER_ID = re.compile(r"^(CKV2?_GCP_[0-9]+|CIS GCP [0-9]+\.([0-9]+|x))$")


def _copy(tmp_path: Path) -> Path:
    for path in FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / path, tmp_path / path)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {path.name} exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_committed_files_are_what_make_docs_writes() -> None:
    # The command `make docs` runs, with --check, against the files of this checkout.
    result = subprocess.run(
        [sys.executable, "-m", "tools.docs", "--check"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"up to date: {', '.join(docs.generate(REPO))}"


@pytest.mark.parametrize(
    ("path", "old", "new"),
    [
        ("README.md", "| `workerCpu` | one of `0.5`, `1`, `2`, `4`, `8` | `1` |", "| `workerCpu` | string | `2` |"),
        (
            "policies/README.md",
            "| `no-hmac-keys` | resource | mandatory | high |",
            "| `no-hmac-keys` | resource | advisory | low |",
        ),
    ],
)
def test_a_hand_edit_of_a_table_fails_the_check_naming_the_file(tmp_path, capsys, path, old, new) -> None:
    root = _copy(tmp_path)
    _edit(root / path, old, new)
    assert docs.main(["--check", "--root", str(root)]) == 1
    out, err = capsys.readouterr()
    assert f"--- {path} (committed)" in out and f"+++ {path} (generated)" in out
    assert f"-{new}" in out and f"+{old}" in out
    assert err.splitlines() == [f"{path} is out of date: run `make docs` (python -m tools.docs)"]
    # Without --check it rewrites the table, and only the table.
    assert docs.main(["--root", str(root)]) == 0
    assert (root / path).read_text(encoding="utf-8") == (REPO / path).read_text(encoding="utf-8")


def test_text_outside_the_markers_is_the_authors(tmp_path, capsys) -> None:
    root = _copy(tmp_path)
    _edit(root / "README.md", "## Deploying for real\n", "## Deploying for real\n\nA paragraph written by hand.\n")
    assert docs.main(["--check", "--root", str(root)]) == 0
    assert capsys.readouterr().out.startswith("up to date")


def test_a_schema_change_without_make_docs_fails_the_check(tmp_path, capsys, monkeypatch) -> None:
    keys = tuple(dataclasses.replace(k, default="512Mi") if k.name == "relayMemory" else k for k in KEYS)
    monkeypatch.setattr(docs, "KEYS", keys)
    assert docs.main(["--check", "--root", str(_copy(tmp_path))]) == 1
    assert "+| `relayMemory` | string | `512Mi` | Function memory. |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("no markers at all\n", "found 0 and 0"),
        (
            "<!-- END generated: config table -->\n<!-- BEGIN generated: config table (x) -->\n",
            "found 1 and 1",
        ),
        (
            "<!-- BEGIN generated: config table (x) -->\n<!-- BEGIN generated: config table (y) -->\n"
            "<!-- END generated: config table -->\n",
            "found 2 and 1",
        ),
    ],
)
def test_missing_or_misplaced_markers_are_an_error_naming_the_file(tmp_path, capsys, text, problem) -> None:
    root = _copy(tmp_path)
    (root / "README.md").write_text(text, encoding="utf-8")
    assert docs.main(["--check", "--root", str(root)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: README.md: needs one '<!-- BEGIN generated: config table") and problem in err
    assert (root / "README.md").read_text(encoding="utf-8") == text


def test_every_config_key_has_a_description_and_a_row() -> None:
    own = [k for k in KEYS if ":" not in k.name]
    assert [k.name for k in KEYS if not k.description.strip()] == []
    rows = table_with_header((REPO / "README.md").read_text(encoding="utf-8"), CONFIG_HEADER)
    assert [row[0] for row in rows] == [f"`{key.name}`" for key in own]
    assert [row[3] for row in rows] == [key.description for key in own]
    assert settings_schema.KEYS is KEYS


@pytest.mark.parametrize(
    ("schema", "default", "kind", "shown"),
    [
        ({"enum": ["development", "production"]}, None, "one of `development`, `production`", "—"),
        ({"enum": ["0.5", "1"]}, "1", "one of `0.5`, `1`", "`1`"),
        (
            {"type": "integer", "minimum": 0, "maximum": 100},
            ByTier(0, 1),
            "integer 0..100",
            "development `0`, production `1`",
        ),
        ({"type": "integer", "minimum": 1}, None, "integer >= 1", "—"),
        ({"type": "boolean"}, ByTier(False, True), "boolean", "development `false`, production `true`"),
        ({"type": "boolean"}, False, "boolean", "`false`"),
        ({"type": "string"}, "256Mi", "string", "`256Mi`"),
        ({"type": "array"}, [], "list", "`[]`"),
        # An object's default is a value, even one keyed like the tiers.
        ({"type": "object"}, {}, "object", "`{}`"),
        ({"type": "object"}, {"development": "x"}, "object", '`{"development": "x"}`'),
    ],
)
def test_config_type_and_default_come_from_the_key(schema, default, kind, shown) -> None:
    key = Key("k", schema, "d") if default is None else Key("k", schema, "d", default=default)
    assert docs.config_type(schema) == kind
    assert docs.config_default(key) == shown


def test_every_policy_has_severity_peers_and_catches() -> None:
    for spec in SPECS:
        assert isinstance(spec.severity, Severity), spec.name
        assert spec.catches.strip() and "\n" not in spec.catches, spec.name
        assert all(PEER_ID.match(peer) for peer in spec.peers), (spec.name, spec.peers)
        assert len(set(spec.peers)) == len(spec.peers), spec.name
        # The ids live in `peers`, not in the prose the SDK shows.
        assert not re.search(r"CKV|CIS GCP|checkov", spec.description), spec.name


def test_the_policy_table_lists_every_policy_the_pack_builds() -> None:
    rows = table_with_header((REPO / "policies" / "README.md").read_text(encoding="utf-8"), POLICY_HEADER)
    table = {row[0].strip("`"): row for row in rows}
    built = build_policies()
    assert len(table) == len(rows) == len(built)
    specs = {spec.name: spec for spec in SPECS}
    for policy in built:
        name, kind, level, severity, catches, peers = table[policy.name]
        spec = specs[policy.name]
        assert name == f"`{spec.name}`"
        assert kind == {ResourceValidationPolicy: "resource", StackValidationPolicy: "stack"}[type(policy)]
        assert policy.enforcement_level is not None and level == policy.enforcement_level.value
        # The SDK took the severity: what the table says is what the pack declares.
        assert policy.severity is not None and severity == policy.severity.value
        # Read back as GitHub reads the table: the whole cell, `||` included (pipes escaped by the generator).
        assert catches == spec.catches
        assert peers == (", ".join(spec.peers) or "—")


def _checkov_ids(cell: str) -> list[str]:
    """`CKV_GCP_28, 99, 100` → CKV_GCP_28, CKV_GCP_99, CKV_GCP_100 (the table's shorthand)."""
    prefix, _, first = cell.split(",")[0].strip().rpartition("_")
    return [f"{prefix}_{n.strip()}" for n in [first, *cell.split(",")[1:]]]


def test_the_checkov_table_agrees_with_each_policys_peers() -> None:
    rows = table_with_header((REPO / "policies" / "README.md").read_text(), ["checkov", "what it checks", "the pack"])
    peers = {spec.name: set(spec.peers) for spec in SPECS}
    named = 0
    for checkov, _, pack in rows:
        policies = [p for p in re.findall(r"`([a-z-]+)`", pack) if p in peers]
        assert policies, f"{checkov}: the row names no policy of the pack"
        for policy in policies:
            for check in _checkov_ids(checkov):
                named += 1
                assert check in peers[policy], f"{check} maps to {policy} in the checkov table, not in its peers"
    assert named >= len(rows)


def test_a_module_without_a_docstring_is_named(tmp_path, monkeypatch) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text('"""A package. More."""\n')
    (package / "silent.py").write_text("VALUE = 1\n")
    monkeypatch.setattr(docs, "REPO_ROOT", tmp_path)
    with pytest.raises(docs.DocsError, match=r"pkg/silent\.py: no module docstring"):
        docs.module_table("pkg")
    (package / "silent.py").write_text('"""Says what it is for. Then more."""\n')
    assert docs.module_table("pkg").splitlines()[2:] == [
        "| `__init__.py` | A package |",
        "| `silent.py` | Says what it is for |",
    ]


def test_a_folder_row_comes_from_its_map_and_the_map_names_exactly_its_modules(tmp_path, monkeypatch) -> None:
    package = tmp_path / "pkg"
    (package / "engine").mkdir(parents=True)
    (package / "__init__.py").write_text('"""A package."""\n')
    (package / "zeta.py").write_text('"""Last at the top."""\n')
    (package / "engine" / "__init__.py").write_text('"""Runs things.\n\n- `monitor` — serves.\n"""\n')
    (package / "engine" / "monitor.py").write_text('"""Serves the program."""\n')
    (package / "engine" / "registry.py").write_text('"""Keeps the books."""\n')
    monkeypatch.setattr(docs, "REPO_ROOT", tmp_path)
    with pytest.raises(docs.DocsError, match=r"pkg/engine/__init__\.py: its docstring map does not name registry$"):
        docs.module_table("pkg", folders=True)
    (package / "engine" / "__init__.py").write_text(
        '"""Runs things.\n\n- `monitor` — serves; `registry` — books; `launcher` — starts.\n"""\n'
    )
    with pytest.raises(docs.DocsError, match=r"names launcher, which is no module of the folder"):
        docs.module_table("pkg", folders=True)
    (package / "engine" / "__init__.py").write_text(
        '"""Runs things.\n\n- `monitor` — serves; `registry` — books.\n"""\n'
    )
    assert docs.module_table("pkg", folders=True).splitlines()[2:] == [
        "| `__init__.py` | A package |",
        "| `engine/` | Runs things |",
        "| `engine/monitor.py` | Serves the program |",
        "| `engine/registry.py` | Keeps the books |",
        "| `zeta.py` | Last at the top |",
    ]
    # Without folders (the pack's table), a subpackage's __init__.py is no row and no map is required.
    assert "`engine/`" not in docs.module_table("pkg")


def test_the_components_table_lists_every_component_type_token() -> None:
    tokens = {
        match
        for path in (REPO / "components").glob("*.py")
        for match in re.findall(r"super\(\).__init__\(\s*\"(secure-invoke:[\w:]+)\"", path.read_text())
    }
    rows = table_with_header((REPO / "README.md").read_text(), ["type token", "what it guarantees"])
    listed = {row[0].strip("`") for row in rows}
    assert tokens, "no component type token found in components/"
    assert listed == tokens
