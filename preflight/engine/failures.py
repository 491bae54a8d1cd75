"""One line for why a program run failed: the cause, the program's file and line, the resource or invoke.

Built from the launcher's report (the exception chain with frames and the SDK's context), what the monitor
refused, and the process's exit status — never a traceback (that is kept for --debug).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from secure_invoke.preflight.engine.monitor import Failure

_WHILE_PROCESSING = re.compile(r"While processing resource: '([^']*)', type:? '([^']*)'")
_VENV_DIRS = ("venv", ".venv", "site-packages")


def _program_frame(frames: list[list[Any]], program_dir: Path) -> str:
    """The innermost frame in the program's own files, as `relative/path.py:line`."""
    where = ""
    for filename, line, _name in frames:
        try:
            relative = Path(filename).resolve().relative_to(program_dir)
        except (ValueError, OSError):
            continue
        if any(part in _VENV_DIRS for part in relative.parts):
            continue
        where = f"{relative}:{line}"
    return where


def _in_apply(frames: list[list[Any]]) -> bool:
    return any(Path(f[0]).name == "output.py" and "pulumi" in Path(f[0]).parts for f in frames)


def _subject(chain: list[dict[str, Any]]) -> str:
    for entry in reversed(chain):  # the innermost context is the most specific
        match = _WHILE_PROCESSING.search(entry.get("message", ""))
        if match:
            return f" while registering {match.group(2)} '{match.group(1)}'"
        context = entry.get("context") or {}
        if context.get("invoke"):
            return f" in invoke {context['invoke']}"
        if context.get("resource"):
            type_, name = context["resource"]
            return f" while registering {type_} '{name}'"
    return ""


def _refused(chain: list[dict[str, Any]], failures: list[Failure]) -> Failure | None:
    """What the monitor refused, when that is what the program raised (the SDK re-raises gRPC errors)."""
    texts = [entry.get("message", "") for entry in chain]
    found = next((f for f in failures if any(f.message in text for text in texts)), None)
    if found is None and failures and any("RpcError" in entry.get("type", "") for entry in chain):
        found = failures[0]
    return found


def describe_exception(chain: list[dict[str, Any]], program_dir: Path, failures: list[Failure]) -> str:
    root = chain[-1]
    run_error = next((e for e in chain if e.get("run_error")), None)
    if run_error is not None:
        # Meant for the user as written (e.g. every invalid config key, one per line): keep all of it.
        return run_error["message"].strip()
    text = root.get("message", "").strip()
    # The SDK prefixes wrapped errors with "... has risen: "; the last line is the original message.
    first_line = text.splitlines()[-1].split("has risen: ")[-1].strip() if text else ""
    refused = _refused(chain, failures)
    if refused is not None:
        where = f" ({refused.source})" if refused.source and refused.source not in refused.message else ""
        return f"{refused.message}{where}"
    where = _program_frame(root.get("frames", []), program_dir)
    if not where:
        where = next((w for e in reversed(chain) if (w := _program_frame(e.get("frames", []), program_dir))), "")
    prefix = "an apply callback raised " if _in_apply(root.get("frames", [])) else ""
    message = f"{root['type']}: {first_line}" if first_line else root["type"]
    location = f" ({where})" if where else ""
    return f"{prefix}{message}{location}{_subject(chain)}"


def describe(
    report: dict[str, Any] | None, exit_code: int, stderr_tail: str, program_dir: Path, failures: list[Failure]
) -> str:
    """The one-line cause of a failed run (exit code non-zero or a report written)."""
    if report is None:
        if failures:
            failure = failures[0]
            return f"{failure.message}" + (f" ({failure.source})" if failure.source else "")
        last = stderr_tail.strip().splitlines()[-1:] or [""]
        return f"the program's process exited with status {exit_code}" + (f": {last[0]}" if last[0] else "")
    kind = report.get("kind")
    if kind == "exit":
        return f"program called sys.exit({report.get('code')!r})"
    if kind == "no-sdk":
        return (
            f"the program's interpreter {report.get('python')} cannot import the Pulumi SDK ({report.get('message')}): "
            "install the program's requirements into it (`pulumi install`), or pass --python"
        )
    return describe_exception(report.get("chain") or [], program_dir, failures)
