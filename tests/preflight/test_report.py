"""The report of real runs through the command: the terminal report like `pulumi preview`, `--json`, the `--graph`."""

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from secure_invoke.preflight.__main__ import main
from tests.preflight.running import mandatory, run, run_json, urn

HERE = Path(__file__).parent
PROGRAMS = HERE / "programs"
PACKS = HERE / "packs"
TEST_PACK = PACKS / "basic_pack"


def test_json_shape_and_violation_urn(tmp_path):
    code, document, _ = run_json(
        tmp_path, "--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK), "--set", "extraInvoker=true"
    )
    assert code == 1
    assert set(document) >= {"project", "stack", "resources", "violations", "grants"}
    for resource in document["resources"]:
        assert set(resource) >= {"urn", "type", "name", "parent", "inputs", "outputs", "dependencies"}
    for violation in document["violations"]:
        assert set(violation) >= {"policyPack", "policy", "enforcementLevel", "urn", "message"}
    for grant in document["grants"]:
        assert set(grant) >= {"member", "role", "resource"}
    # The stack policy reports the service with two invokers, by its engine URN.
    assert mandatory(document) == {
        ("one-invoker-per-service", urn("basic", "basic:index:Pair$gcp:cloudrunv2/service:Service", "p0-svc"))
    }
    assert document["violations"][0]["policyPack"] == "preflight-test-pack"
    # Secrets are masked in the JSON, as the CLI masks them.
    assert document["outputs"]["key"] == "[secret]"


def test_graph_shows_identities_and_grants(tmp_path):
    graph = tmp_path / "graph.mmd"
    code, _, _ = run(
        "--program", str(PROGRAMS / "public-invoker"), "--policy-pack", str(TEST_PACK), "--graph", str(graph)
    )
    assert code == 1
    text = graph.read_text()
    assert text.startswith("flowchart LR\n")
    assert '(["allUsers"])' in text
    assert '-- "roles/run.invoker" -->' in text
    assert '-. "runs as: template.serviceAccount" .->' in text
    assert "class " in text and " public" in text


def test_json_to_stdout_replaces_the_report(capsys):
    code, out, _ = run("--program", str(PROGRAMS / "private-service"), "--policy-pack", str(TEST_PACK), "--json", "-")
    assert code == 0
    assert out == ""  # no terminal report
    document = json.loads(capsys.readouterr().out)
    assert document["project"] == "private-service"


def test_report_reads_like_a_preview():
    code, out, _ = run("--program", str(PROGRAMS / "basic"), "--policy-pack", str(TEST_PACK))
    assert code == 0
    assert out.startswith("Previewing update (dev)")
    assert "+ pulumi:pulumi:Stack  basic-dev" in out
    assert "+ gcp:cloudrunv2:Service  p0-svc" in out
    assert "Diagnostics:\n    warning: only 2 pairs: no spare capacity" in out
    assert "+ 12 to create (9 custom, 3 components)" in out
    assert "key            : [secret]" in out
    assert "IAM grants (3):" in out
    assert out.rstrip().splitlines()[-1].startswith("✔ PASS  no mandatory violations")


def test_disabled_invoker_check_shows_as_a_public_grant(tmp_path):
    code, document, output = run_json(
        tmp_path,
        "--program",
        str(PROGRAMS / "variants"),
        "--set",
        "case=invoker-check-off",
        "--graph",
        str(tmp_path / "graph.mmd"),
    )
    assert code == 1, output
    service = next(r for r in document["resources"] if r["type"] == "gcp:cloudrunv2/service:Service")
    assert {
        "member": "allUsers",
        "role": "roles/run.invoker (invoker IAM check disabled)",
        "resource": f"cloudrunv2/service {service['outputs']['name']}",
        "urn": service["urn"],
    } in document["grants"]
    assert '(["allUsers"])' in (tmp_path / "graph.mmd").read_text()
    code, document, _ = run_json(tmp_path, "--program", str(PROGRAMS / "variants"))
    assert code == 0
    assert document["grants"] == []


def test_json_carries_unknown_config_entries_and_the_programs_diagnostics(tmp_path: Path) -> None:
    config = tmp_path / "typo.json"
    config.write_text('{"no-broad-principalz": "disabled", "zzzz": "disabled", "no-public-members": "advisory"}')
    code, document, output = run_json(tmp_path, "--stack", "dev", "--policy-pack-config", str(config))
    assert code == 0, output
    assert document["policyPacks"][0]["unknownConfig"] == [
        {"name": "no-broad-principalz", "didYouMean": "no-broad-principals"},
        {"name": "zzzz", "didYouMean": None},
    ]
    # the program's pulumi.log warnings, exactly the lines of the report's Diagnostics: section
    shown = output.split("Diagnostics:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert document["diagnostics"] == [line.removeprefix("    ") for line in shown]
    assert any(
        line.startswith("warning: secret upstream-api-key-dev gets no version") for line in document["diagnostics"]
    )
    code, document, _ = run_json(tmp_path, "--program", str(PROGRAMS / "public-invoker"))
    assert document["diagnostics"] == [] and document["policyPacks"][0]["unknownConfig"] == []


def _column_texts(report: str, headers: tuple[str, ...]) -> list[str]:
    """Each column of the IAM table read top to bottom, whitespace removed: folded cells joined again."""
    lines = report.split("IAM grants", 1)[1].split("\n\n", 1)[0].splitlines()[1:]
    header = lines[0]
    starts = [header.index(h) for h in headers]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    return ["".join("".join(line[a:b].split()) for line in lines[1:]) for a, b in bounds]


@pytest.mark.parametrize("width", [60, 100, 140])
def test_iam_table_folds_never_cuts_on_a_narrow_plain_console(tmp_path: Path, width: int) -> None:
    out = io.StringIO()
    target = tmp_path / "result.json"
    code = main(
        ["--stack", "dev", "--json", str(target)],
        stdout=Console(file=out, width=width, highlight=False, force_terminal=False),
        stderr=Console(file=io.StringIO(), width=width),
    )
    report = out.getvalue()
    assert code == 0, report
    assert all(len(line) <= width for line in report.split("IAM grants", 1)[1].split("Policies:", 1)[0].splitlines())
    assert "…" not in report
    grants = json.loads(target.read_text())["grants"]
    members, roles, resources = _column_texts(report, ("member", "role", "resource"))
    for grant in grants:
        role = grant["role"] + (f" (if {grant['condition']})" if grant.get("condition") else "")
        assert "".join(grant["member"].split()) in members
        assert "".join(role.split()) in roles
        assert "".join(grant["resource"].split()) in resources


def test_graph_of_a_conditional_grant_says_its_condition(tmp_path: Path) -> None:
    # Our dev stack grants the relay's build account storage.objectViewer on the project, only on the
    # gcf-v2-sources-* buckets: drawn as a plain project edge it would read as project-wide read.
    graph = tmp_path / "graph.mmd"
    code, document, output = run_json(tmp_path, "--stack", "dev", "--graph", str(graph))
    assert code == 0, output
    conditional = [g for g in document["grants"] if g.get("condition")]
    assert conditional, "the dev stack has a conditional grant"
    text = graph.read_text()
    assert text.startswith("flowchart LR\n")  # not a .md file: no fence
    edges = [line for line in text.splitlines() if " --> " in line]
    for grant in conditional:
        assert sum(f'"{grant["role"]} (if {grant["condition"]})"' in e for e in edges) == 1
    assert not any(e.endswith(f'"{g["role"]}" --> ') for g in conditional for e in edges)
    dashed = [i for i, e in enumerate(edges) if " (if " in e]
    assert f"  linkStyle {','.join(map(str, dashed))} stroke-dasharray:6 4" in text.splitlines()
    markdown = tmp_path / "graph.md"
    code, _, _ = run("--stack", "dev", "--graph", str(markdown))
    fenced = markdown.read_text()
    assert fenced.startswith("```mermaid\nflowchart LR\n") and fenced.endswith("\n```\n")
    # the same diagram (registration order, and so node numbering, varies between runs)
    assert len(fenced.splitlines()) == len(text.splitlines()) + 2
