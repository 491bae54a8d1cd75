"""components/README.md, the Fabric way: every component has its generated argument tables (tests/docs holds them
to the code) and one example program, run here as it is written, in a Pulumi project of its own, through
preflight: the resources it plans are exactly its `# plans:` line, and the policy pack passes it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from secure_invoke.preflight import run_program

REPO = Path(__file__).resolve().parents[2]
README = REPO / "components" / "README.md"
COMPONENTS = [
    "ServiceIdentity",
    "PrivateService",
    "EventFunction",
    "RotatedSecret",
    "DeadLetterTopic",
    "OperatorAccess",
    "AccessAudit",
    "WorkerImage",
]


def examples() -> dict[str, tuple[str, Counter[str]]]:
    """Component name → (example program, planned resource types with counts)."""
    text = README.read_text(encoding="utf-8")
    found: dict[str, tuple[str, Counter[str]]] = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        name = section.split("\n", 1)[0].strip()
        blocks = re.findall(r"```python\n(# plans: [^\n]*\n.*?)```", section, re.S)
        assert len(blocks) == 1, f"{name}: {len(blocks)} example blocks"
        plans = blocks[0].split("\n", 1)[0].removeprefix("# plans: ").split()
        found[name] = (blocks[0], Counter({t: int(n) for t, n in (p.rsplit("=", 1) for p in plans)}))
    return found


def project(tmp: Path, name: str, program: str) -> Path:
    """The example as an adopter would run it: its own Pulumi project and stack, and the files it expects."""
    directory = tmp / name
    (directory / "function").mkdir(parents=True)
    (directory / "image").mkdir()
    (directory / "Pulumi.yaml").write_text(f"name: example-{name.lower()}\nruntime: python\n")
    (directory / "Pulumi.example.yaml").write_text(
        "config:\n  gcp:project: example-project-4711\n  gcp:region: europe-west4\n"
    )
    (directory / "__main__.py").write_text(program)
    (directory / "function" / "main.py").write_text("def handle(event):\n    print(event)\n")
    (directory / "image" / "Dockerfile").write_text("FROM python:3.12-slim\n")
    return directory


def test_every_component_has_an_example_and_its_argument_tables() -> None:
    text = README.read_text(encoding="utf-8")
    assert list(examples()) == COMPONENTS
    for name in COMPONENTS:
        assert f"<!-- BEGIN generated: {name} arguments" in text, name


@pytest.mark.parametrize("name", COMPONENTS)
def test_each_example_plans_exactly_what_it_says(name: str, tmp_path: Path) -> None:
    program, plans = examples()[name]
    run = run_program(project(tmp_path, name, program), "example")
    planned = Counter(r.type for r in run.resources if not r.type.startswith("pulumi:"))
    assert planned == plans, f"{name}: planned {dict(planned)}"
    components = [r for r in run.resources if r.type.startswith("secure-invoke:")]
    # Every child of a component sits inside it.
    for resource in run.resources:
        if resource.custom and resource.type.startswith("gcp:") and resource.parent == run.stack_urn:
            assert not resource.name.startswith(tuple(c.name for c in components)), resource.urn


@pytest.mark.slow
def test_the_policy_pack_passes_every_example(tmp_path: Path) -> None:
    def preflight(name: str) -> tuple[str, subprocess.CompletedProcess[str], Path]:
        directory = project(tmp_path, name, examples()[name][0])
        report = directory / "report.json"
        done = subprocess.run(
            [sys.executable, "-m", "secure_invoke.preflight", "--program", str(directory), "--stack", "example",
             "--json", str(report)],
            cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        return name, done, report

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(preflight, COMPONENTS))
    for name, done, report in results:
        assert done.returncode == 0, f"{name}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
        mandatory = [v for v in json.loads(report.read_text())["violations"] if v["enforcementLevel"] == "mandatory"]
        assert mandatory == [], name
