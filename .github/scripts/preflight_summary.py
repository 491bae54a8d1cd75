"""Render one preflight run as GitHub job-summary Markdown: verdict, violations, Mermaid IAM graph.

Reads TITLE, OUTCOME (the preflight step's outcome), REPORT (its --json file) and GRAPH (its --graph file)
from the environment and prints Markdown to stdout. Missing files are reported, never a traceback:
the summary must still say what happened when preflight itself failed early.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

VERDICTS = {"success": "✅ passed", "failure": "❌ failed", "cancelled": "⏹ cancelled", "skipped": "⏭ skipped"}
MAX_ROWS = 50
PROVIDER_PREFIX = "pulumi:providers:"  # provider resources' type, counted apart as the CLI hides them


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _violations(report: dict[str, Any]) -> list[dict[str, Any]]:
    found = report.get("violations")
    return [v for v in found if isinstance(v, dict)] if isinstance(found, list) else []


def _entries(report: dict[str, Any], key: str) -> list[dict[str, Any]]:
    found = report.get(key)
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _unknown_exemptions(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [u for pack in _entries(report, "policyPacks") for u in _entries(pack, "unknownExemptions")]


def _level(violation: dict[str, Any]) -> str:
    return str(violation.get("enforcementLevel") or violation.get("level") or "")


def _counts(report: dict[str, Any]) -> list[str]:
    """Resources with providers counted apart, as preflight's own verdict line counts them."""
    counts = []
    resources = report.get("resources")
    if isinstance(resources, list):
        providers = sum(
            1 for r in resources if isinstance(r, dict) and str(r.get("type", "")).startswith(PROVIDER_PREFIX)
        )
        counts.append(f"{len(resources) - providers} resources + {providers} provider(s)")
    grants = report.get("grants")
    if isinstance(grants, list):
        counts.append(f"{len(grants)} grants")
    return counts


def render(title: str, outcome: str, report_path: Path, graph_path: Path) -> str:
    lines = [f"## {title}: {VERDICTS.get(outcome, outcome or 'unknown')}", ""]
    report: Any = None
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            lines.append(f"Report {report_path} is not JSON ({error.msg} at line {error.lineno}).")
    else:
        lines.append(f"No report at {report_path}: preflight stopped before writing it (see the step log).")
    if isinstance(report, dict):
        violations = _violations(report)
        exemptions = _entries(report, "exemptions")
        mandatory = sum(1 for v in violations if _level(v) == "mandatory")
        counts = _counts(report)
        exempted = f", {len(exemptions)} exempted" if exemptions else ""
        lines.append(
            f"Verdict: **{'blocked' if mandatory else 'pass'}** — {mandatory} mandatory, "
            f"{len(violations) - mandatory} advisory violation(s){exempted}"
            + (f"; {', '.join(counts)}" if counts else "")
        )
        lines.append("")
        if violations:
            lines += ["| level | policy | resource | message |", "|---|---|---|---|"]
            for v in violations[:MAX_ROWS]:
                where = v.get("urn") or "(stack)"
                policy, message = _cell(v.get("policy", "")), _cell(v.get("message", ""))
                lines.append(f"| {_cell(_level(v))} | {policy} | `{_cell(where)}` | {message} |")
            if len(violations) > MAX_ROWS:
                lines.append(f"| | | | … {len(violations) - MAX_ROWS} more in {report_path} |")
            lines.append("")
        if exemptions:
            # Exempted by the policy config: not blocking, but every one shown with its reason.
            lines += ["Exempted by the policy config:", "", "| policy | resource | reason |", "|---|---|---|"]
            for e in exemptions[:MAX_ROWS]:
                policy, where, reason = _cell(e.get("policy", "")), _cell(e.get("urn", "")), _cell(e.get("reason", ""))
                lines.append(f"| {policy} | `{where}` | {reason} |")
            if len(exemptions) > MAX_ROWS:
                lines.append(f"| | | … {len(exemptions) - MAX_ROWS} more in {report_path} |")
            lines.append("")
        for unknown in _unknown_exemptions(report):
            close = unknown.get("didYouMean")
            hint = f"; did you mean `{_cell(close)}`?" if close else ""
            lines.append(
                f"⚠️ {_cell(unknown.get('policy', ''))}: the exemption of `{_cell(unknown.get('urn', ''))}` names no "
                f"resource of this stack{hint}"
            )
    lines.append("")
    if graph_path.is_file():
        graph = graph_path.read_text(encoding="utf-8").strip()
        lines.append(graph if graph.startswith(("```", "#")) else f"```mermaid\n{graph}\n```")
    else:
        lines.append(f"No IAM graph at {graph_path}.")
    return "\n".join(lines) + "\n"


def main() -> int:
    env = os.environ
    missing = [key for key in ("TITLE", "REPORT", "GRAPH") if not env.get(key)]
    if missing:
        print(f"preflight_summary: set {', '.join(missing)} in the environment", file=sys.stderr)
        return 2
    sys.stdout.write(render(env["TITLE"], env.get("OUTCOME", ""), Path(env["REPORT"]), Path(env["GRAPH"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
