"""`make local` as a user runs it: python -m local.demo, its sections in order and its closing counts. It runs
what preflight plans for the dev stack, so its callers are the dev stack's declared callers, one of each kind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from secure_invoke.settings import KINDS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_output() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "local.demo"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_demo_counts_each_caller_kind_apart(demo_output: str) -> None:
    # The relay computed 1001, 1002 and 1003 once each (the redelivery is a duplicate; 400, poison and 409 are
    # dead letters); each declared caller's job once (the scheduler's repeated run is a duplicate, the poison push
    # message never runs); the operator's replay of 1002 apart. Google minted 2 (scheduler) + 11 (push: one
    # delivery, then ten of the poison message) + 1 + 1 tokens, the ledger workload its own.
    counts = demo_output.strip().splitlines()[-2]
    assert counts == (
        "ID tokens minted: 1 (relay) + 16 (by Google, for the declared callers) + 1 (operator, 1 refused), access "
        "tokens: 1, certs served: 2, jobs computed by the worker: 3 of 7 relay deliveries, + 5 for the declared "
        "callers, + 1 operator replay"
    )
    assert demo_output.strip().splitlines()[-1].startswith("stopped all processes (")


def test_demo_runs_every_declared_kind_end_to_end_through_the_front_end(demo_output: str) -> None:
    # Six relay deliveries reach the worker (the poison one never leaves the relay), 2 scheduler runs, 11 push
    # deliveries, a task, an execution, the ledger's call and the operator's replay: all 23 through the
    # Cloud Run front-end stand-in, whose invoker members are the dev plan's run.invoker grants.
    assert demo_output.strip().splitlines()[-3] == "front end: 23 requests forwarded to the worker, 0 refused"
    assert "(worker only behind it)" in demo_output.splitlines()[2]
    plan_line = demo_output.splitlines()[1]
    assert plan_line.startswith("plan: worker-dev with 7 invoker grants")
    audit = demo_output.split("The worker's audit lines", 1)[1]
    for kind in KINDS:  # every kind a stack can declare ran, and the worker's audit line names it
        assert f"200 allow  {kind:<15} " in audit, kind
        assert f"{kind} " in plan_line
    rows = audit.splitlines()
    assert sum(" relay           signature " in row for row in rows) == 6  # both headers: its own check
    # Authorization only: two scheduler runs, a push message, a task, an execution and the operator replay.
    assert sum(" cloud_run_iam " in row and row.lstrip().startswith("200") for row in rows) == 6
    assert "200 allow  service-account signature     /jobs   ledger-88  processed" in audit  # both headers
    scheduled = [row for row in rows if "200 allow  scheduler       cloud_run_iam /jobs   projects/" in row]
    # The run keyed by the job's name and schedule time; the same run again is a duplicate.
    assert [row.rsplit("  ", 1)[-1] for row in scheduled] == ["processed", "duplicate"]
    assert all("/locations/" in row and "/jobs/nightly@" in row for row in scheduled)
    poison = "400 allow  pubsub-push     cloud_run_iam /pubsub 5002  poison push message: message data is not JSON"
    assert f"{poison}  (10 times)" in audit  # the subscription's maxDeliveryAttempts, then Pub/Sub forwards it
    assert "200 allow  operator        cloud_run_iam /jobs   1002  processed" in audit


def test_a_poison_push_message_ends_in_the_dead_letter_topic(demo_output: str) -> None:
    callers = demo_output.split("The declared callers of the dev stack", 1)[1].split("The dead-letter", 1)[0]
    assert "poison message 5002 (data not JSON) → 400 on each of 10 deliveries; forwarded by Pub/Sub" in callers
    dead = demo_output.split("The dead-letter subscription, as an operator pulls it:", 1)[1].split("Operator", 1)[0]
    assert "forwarded by Pub/Sub from subscription invoices after 10 delivery attempts" in dead
    assert "(signed with the upstream key)" in callers and '"hmac_sha256": "' in callers


def test_demo_sections_come_in_the_order_the_readme_gives(demo_output: str) -> None:
    sections = [
        "Planning the dev stack",
        "plan: worker-dev",
        "The declared callers of the dev stack, each run as Google runs it from its planned resource",
        "The dead-letter subscription, as an operator pulls it:",
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
