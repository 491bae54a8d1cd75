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
        "ID tokens minted: 1 (relay) + 1 (scheduler) + 1 (operator, 1 refused), access tokens: 1, certs served: 2, "
        "jobs computed by the worker: 3 of 7 relay deliveries, + 1 scheduled, + 1 operator replay"
    )
    assert demo_output.strip().splitlines()[-1].startswith("stopped all processes (")


def test_demo_reaches_the_worker_only_through_the_front_end(demo_output: str) -> None:
    # Six relay deliveries reach the worker (the poison one never leaves the relay), then the scheduler's
    # call and the operator's replay: all eight through the Cloud Run front-end stand-in.
    assert demo_output.strip().splitlines()[-3] == "front end: 8 requests forwarded to the worker, 0 refused"
    assert "(worker only behind it)" in demo_output.splitlines()[0]
    audit = demo_output.split("The worker's audit lines", 1)[1]
    assert "200 allow  scheduler cloud_run_iam 2001  processed" in audit  # Authorization only: Cloud Run's check
    assert "200 allow  operator  cloud_run_iam 1002  processed" in audit
    assert audit.count(" relay     signature ") == 6  # both headers: the worker's own signature check


def test_demo_sections_come_in_the_order_the_readme_gives(demo_output: str) -> None:
    sections = [
        "The dead-letter subscription, as an operator pulls it:",
        "A Cloud Scheduler-like caller (its token in Authorization only, through the Cloud Run front end):",
        "Operator access (just in time, ID tokens only, as worker-operator, through the front end):",
        "The worker's audit lines (one per request; verified by its own signature check, or by Cloud Run's):",
        "ID tokens minted:",
    ]
    positions = [demo_output.index(section) for section in sections]
    assert positions == sorted(positions)


def test_readme_quotes_the_counts_the_demo_prints(demo_output: str) -> None:
    readme = " ".join((ROOT / "local" / "README.md").read_text(encoding="utf-8").split())
    for line in demo_output.strip().splitlines()[-3:-1]:  # the front end's counts, then the others
        assert line in readme
