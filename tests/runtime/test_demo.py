"""`make local` as a user runs it: python -m local.demo, its sections in order and its closing counts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_output() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "local.demo"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_counts_each_caller_kind_apart(demo_output: str) -> None:
    # The relay computed 1001, 1002 and 1003 once each (the redelivery is a duplicate; 400, poison and 409 are
    # dead letters); the operator's replay of 1002 is counted apart, not as an eighth delivery.
    counts = demo_output.strip().splitlines()[-2]
    assert counts == (
        "ID tokens minted: 1 (relay) + 1 (operator, 1 refused), access tokens: 1, certs served: 1, "
        "jobs computed by the worker: 3 of 7 relay deliveries, + 1 operator replay"
    )
    assert demo_output.strip().splitlines()[-1].startswith("stopped all processes (")


def test_demo_sections_come_in_the_order_the_readme_gives(demo_output: str) -> None:
    sections = [
        "The dead-letter subscription, as an operator pulls it:",
        "Operator access (just in time, ID tokens only, as worker-operator):",
        "The worker's audit lines (one per request):",
        "ID tokens minted:",
    ]
    positions = [demo_output.index(section) for section in sections]
    assert positions == sorted(positions)


def test_readme_quotes_the_counts_the_demo_prints(demo_output: str) -> None:
    counts = demo_output.strip().splitlines()[-2]
    readme = " ".join((ROOT / "local" / "README.md").read_text(encoding="utf-8").split())
    assert counts in readme
