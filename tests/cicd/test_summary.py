"""The job-summary renderer of the pull-request workflow's preflight jobs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.cicd.paths import ROOT

SCRIPT = ROOT / ".github" / "scripts" / "preflight_summary.py"


def summarise(
    tmp_path: Path, outcome: str, report: object | None, graph: str | None
) -> subprocess.CompletedProcess[str]:
    report_path, graph_path = tmp_path / "report.json", tmp_path / "graph.md"
    if report is not None:
        report_path.write_text(report if isinstance(report, str) else json.dumps(report), encoding="utf-8")
    if graph is not None:
        graph_path.write_text(graph, encoding="utf-8")
    env = {
        **os.environ,
        "TITLE": "preflight: stack dev",
        "OUTCOME": outcome,
        "REPORT": str(report_path),
        "GRAPH": str(graph_path),
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_passing_run_shows_verdict_and_graph(tmp_path: Path) -> None:
    resources = [{"type": "pulumi:pulumi:Stack"}, {"type": "gcp:pubsub/topic:Topic"}]
    report = {"violations": [], "resources": [*resources, {"type": "pulumi:providers:gcp"}], "grants": [{}]}
    result = summarise(tmp_path, "success", report, "graph LR\n  a --> b\n")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("## preflight: stack dev: ✅ passed\n")
    # providers counted apart, as preflight's verdict line counts them
    assert (
        "Verdict: **pass** — 0 mandatory, 0 advisory violation(s); 2 resources + 1 provider(s), 1 grants"
        in result.stdout
    )
    assert "```mermaid\ngraph LR\n  a --> b\n```" in result.stdout


def test_failing_run_lists_violations_escaped(tmp_path: Path) -> None:
    report = {
        "violations": [
            {
                "policy": "no-public-members",
                "enforcementLevel": "mandatory",
                "urn": "urn:pulumi:dev::p::t::n",
                "message": "a|b\nc",
            },
            {
                "policy": "labels-present",
                "enforcementLevel": "advisory",
                "urn": "urn:pulumi:dev::p::t::m",
                "message": "m",
            },
        ],
    }
    result = summarise(tmp_path, "failure", report, "```mermaid\ngraph LR\n```")
    assert result.returncode == 0, result.stderr
    assert "❌ failed" in result.stdout.splitlines()[0]
    assert "Verdict: **blocked** — 1 mandatory, 1 advisory violation(s)" in result.stdout
    assert "| mandatory | no-public-members | `urn:pulumi:dev::p::t::n` | a\\|b c |" in result.stdout
    assert result.stdout.count("```mermaid") == 1  # an already fenced graph is not fenced twice


def test_missing_files_are_reported_not_raised(tmp_path: Path) -> None:
    result = summarise(tmp_path, "failure", None, None)
    assert result.returncode == 0, result.stderr
    assert "No report at" in result.stdout
    assert "No IAM graph at" in result.stdout
    broken = summarise(tmp_path, "failure", "{not json", None)
    assert "is not JSON" in broken.stdout


def test_missing_environment_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "preflight_summary: set TITLE, REPORT, GRAPH in the environment"


def test_a_graph_preflight_wrote_to_a_markdown_file_is_fenced_once(tmp_path: Path) -> None:
    # What CI runs: preflight --graph out/preflight-<stack>.md, then this script on that file.
    graph = tmp_path / "graph.md"
    command = [
        sys.executable,
        "-m",
        "secure_invoke.preflight",
        "--program",
        str(ROOT / "tests" / "preflight" / "programs" / "basic"),
    ]
    command += ["--policy-pack", str(ROOT / "tests" / "preflight" / "packs" / "basic_pack"), "--graph", str(graph)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert graph.read_text(encoding="utf-8").startswith("```mermaid\nflowchart LR\n")
    result = summarise(tmp_path, "success", {"violations": []}, None)
    assert result.stdout.count("```mermaid") == 1
    assert "flowchart LR" in result.stdout


def test_exempted_violations_are_counted_and_listed_with_their_reason(tmp_path: Path) -> None:
    urn = "urn:pulumi:prod::p::gcp:cloudrunv2/serviceIamMember:ServiceIamMember::status-page-public"
    report = {
        "violations": [],
        "exemptions": [
            {"policyPack": "secure-invoke-guardrails", "policy": "no-public-members", "urn": urn, "reason": "SEC|123"}
        ],
        "policyPacks": [
            {
                "name": "secure-invoke-guardrails",
                "unknownExemptions": [
                    {"policy": "no-public-members", "urn": urn + "x", "didYouMean": urn},
                ],
            }
        ],
    }
    result = summarise(tmp_path, "success", report, "graph LR\n")
    assert result.returncode == 0, result.stderr
    assert "Verdict: **pass** — 0 mandatory, 0 advisory violation(s), 1 exempted" in result.stdout
    assert f"| no-public-members | `{urn}` | SEC\\|123 |" in result.stdout
    assert (
        f"⚠️ no-public-members: the exemption of `{urn}x` names no resource of this stack; did you mean `{urn}`?"
        in result.stdout
    )


def test_no_exemptions_no_exemption_count(tmp_path: Path) -> None:
    result = summarise(tmp_path, "success", {"violations": [], "exemptions": []}, "graph LR\n")
    assert "exempted" not in result.stdout.lower()
