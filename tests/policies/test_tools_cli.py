"""The pack's maintenance tools as a user meets them: --help keeps the docstring's layout, bad input is one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from secure_invoke.policies.tools import generate_role_table, measure_programs, measure_roles, measure_twins

ROOT = Path(__file__).resolve().parents[2]


def cli(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("tool", [generate_role_table, measure_roles, measure_twins, measure_programs])
def test_help_keeps_the_docstrings_usage_line_and_paragraphs(tool) -> None:
    done = cli(tool.__name__, "--help")
    assert done.returncode == 0, done.stderr
    doc = tool.__doc__ or ""
    usage = next(line for line in doc.splitlines() if line.startswith("    python -m"))
    assert f"\n{usage}\n" in done.stdout  # the indented usage example stays on its own line
    first_paragraph = doc.split("\n\n")[0]
    assert first_paragraph in done.stdout  # not re-wrapped


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.txt", None, "missing.txt: cannot read (No such file or directory)"),
        ("empty.txt", "# nothing here\n", "empty.txt: no line starts with roles/"),
        ("broken.py", "ROLES = [\n", "broken.py:1: not Python ("),
        ("other.py", "NAMES = ['a', 'b']\n", "other.py: no list of roles/... strings"),
        ("latin1.txt", b"roles/\xe9\n", "latin1.txt: not UTF-8 text ("),
    ],
)
def test_measure_roles_bad_input_is_one_line(
    tmp_path: Path, name: str, content: str | bytes | None, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    done = cli(measure_roles.__name__, "--roles", str(path))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {tmp_path / message}"), line
    assert done.stdout == ""  # nothing measured


def test_measure_roles_reads_both_forms(tmp_path: Path) -> None:
    lines = tmp_path / "roles.txt"
    lines.write_text("roles/viewer\n  roles/run.invoker  \nnot a role\n")
    assert measure_roles.read_roles(lines) == ["roles/viewer", "roles/run.invoker"]
    module = tmp_path / "check.py"
    module.write_text("OTHER = ['x']\nBROAD = ('roles/owner', 'roles/editor')\n")
    assert measure_roles.read_roles(module) == ["roles/owner", "roles/editor"]


def test_measure_twins_names_a_pack_it_cannot_run_in_one_line(tmp_path: Path) -> None:
    done = cli(measure_twins.__name__, "--policy-pack", str(tmp_path / "no-pack"))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: preflight wrote no report for pack {tmp_path / 'no-pack'}: "), line
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_measure_programs_config_takes_template_defaults_values_and_secrets() -> None:
    project = {
        "name": "site",
        "template": {
            "config": {
                "gcp:zone": {"default": "europe-west1-b"},
                "size": {"default": 3},
                "owner": {"description": "no default"},
            }
        },
    }
    config = measure_programs.stack_config(project, {"db-name": "app", "other:key": ["a"]}, ["db-password"])
    assert config == {
        "gcp:project": "si-measure-1234",
        "gcp:region": "us-central1",
        "gcp:zone": "europe-west1-b",
        "site:size": 3,
        "site:db-name": "app",
        "other:key": ["a"],
        "site:db-password": {"secure": config["site:db-password"]["secure"]},
    }
    assert config["site:db-password"]["secure"].startswith("v1:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["{tmp}", "--set", "db-name"], "error: --set db-name: expected KEY=VALUE"),
        (["{tmp}"], "error: {tmp}: no Pulumi.yaml"),
    ],
)
def test_measure_programs_bad_input_is_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = cli(measure_programs.__name__, *(a.format(tmp=tmp_path) for a in args))
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line == message.format(tmp=tmp_path)
