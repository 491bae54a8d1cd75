"""The benchmarks' --help: every flag says what it does and what it defaults to."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = sorted(p.name for p in (ROOT / "benchmarks").glob("*.py") if "argparse" in p.read_text(encoding="utf-8"))


def option_help(help_text: str) -> dict[str, str]:
    """--flag -> its help text, read from argparse's options section (one block per option)."""
    section = help_text.split("\noptions:\n", 1)[1]
    blocks = re.split(r"\n(?=  -)", "\n" + section)
    found = {}
    for block in blocks:
        match = re.match(r"\s*(?:-\w, )?(--[\w-]+)(?: [A-Z_]+(?: \[[A-Z_]+ \.\.\.\])?)?\s*(.*)", block, re.DOTALL)
        if match:
            found[match.group(1)] = " ".join(match.group(2).split())
    return found


def test_there_are_benchmarks_to_check() -> None:
    assert set(BENCHMARKS) >= {"auth.py", "load.py", "preflight.py"}


@pytest.mark.parametrize("script", BENCHMARKS)
def test_every_benchmark_flag_has_help_and_a_default(script: str) -> None:
    done = subprocess.run(
        [sys.executable, f"benchmarks/{script}", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    usage_flags = set(re.findall(r"\[(--[\w-]+)", done.stdout.split("\n\n", 1)[0]))
    helps = option_help(done.stdout)
    assert usage_flags and usage_flags <= set(helps), (usage_flags, helps)
    for flag in usage_flags:
        text = helps[flag]
        assert re.match(r"\w.*\(default: .+\)$", text), f"{script} {flag}: {text!r}"
        assert not text.startswith("(default:"), f"{script} {flag}: a default but no help"
