"""The pack and the runtime agree, per caller kind (issue 19, item 4): what preflight's verdict says about a
caller is what Cloud Run's front end and the worker do with its calls.

One program, tests/runtime/programs/callers-variants, a worker made as the stack makes it and one caller of
each kind, three ways; each is planned by preflight (the pack runs too) and then run as planned: the front-end
stand-in with the plan's invoker grants and audiences, the worker with the plan's environment, each caller
as Google runs it from its planned resource (local/google_callers.py).

| case | the pack | the runtime |
| --- | --- | --- |
| approved: declared (grant, allowlist entry, audience from one `Caller`) | no mandatory finding | 200 |
| unlisted: made by hand with its own invoker grant, not declared | invokers-on-service-allowlist on the grant | the front end lets it through (it holds run.invoker), the worker answers 403 |
| wrong audience: declared, made by hand to send the service's URL as audience | caller-audiences-accepted on the caller | the front end takes the URL, the worker answers 401 |

A workload elsewhere (`service-account`) chooses its audience in its own code, which the pack cannot read: for
it the wrong-audience case has no finding (asserted), and the runtime still answers 401.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.google_callers import GoogleCallers, Outcome
from local.plan import Call, Plan, load_plan
from local.processes import Proc, plan_report, start_planned_cloud_run, start_planned_worker
from tests.runtime.helpers import Launcher, wait_for_records

pytestmark = pytest.mark.slow

PROGRAM = Path(__file__).resolve().parent / "programs" / "callers-variants"
KINDS = ("scheduler", "pubsub-push", "cloud-tasks", "workflows", "service-account")
GRANT = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
RESOURCE_TYPE = {
    "scheduler": "gcp:cloudscheduler/job:Job",
    "pubsub-push": "gcp:pubsub/subscription:Subscription",
    "cloud-tasks": "gcp:cloudtasks/queue:Queue",
    "workflows": "gcp:workflows/workflow:Workflow",
}


@dataclass(frozen=True)
class Planned:
    case: str
    plan: Plan
    violations: list[dict[str, Any]]
    worker: Proc
    front: Proc
    google: GoogleCallers

    def mandatory(self) -> list[tuple[str, str]]:
        return [(v["policy"], v["urn"]) for v in self.violations if v["enforcementLevel"] == "mandatory"]


@pytest.fixture(scope="module", params=["approved", "unlisted", "wrong-audience"])
def planned(request: pytest.FixtureRequest, launcher: Launcher, identity: Proc) -> Planned:
    case = request.param
    workdir = launcher.workdir / f"agree-{case}"
    workdir.mkdir(exist_ok=True)
    report = plan_report("dev", workdir / "preflight.json", PROGRAM, "--set", f"callers-variants:case={case}")
    plan = load_plan(report)
    certs = identity.url + "/oauth2/v1/certs"
    worker = start_planned_worker(plan, certs, workdir, name=f"worker-{case}")
    launcher.procs.append(worker)
    front = start_planned_cloud_run(worker, certs, report, workdir, name=f"front-{case}")
    launcher.procs.append(front)
    violations = json.loads(report.read_text())["violations"]
    return Planned(case, plan, violations, worker, front, GoogleCallers(plan, launcher.key, front.url))


JOB = {"task": "primes", "limit": 100}
SCHEDULED = datetime.datetime(2031, 5, 4, 3, tzinfo=datetime.UTC)


def run(planned: Planned, kind: str, call: Call) -> Outcome:
    """One call of the caller, as Google (or the workload) makes it, with the retries its resource plans."""
    google = planned.google
    match kind:
        case "scheduler":
            return google.scheduled_run(call, SCHEDULED)
        case "pubsub-push":
            return google.push(call, json.dumps(JOB).encode(), "6001")
        case "cloud-tasks":
            return google.task(call, json.dumps({"id": "t-1", "job": JOB}).encode(), "t-1")
        case "workflows":
            return google.execute_workflow(call, {"id": "w-1", "job": JOB})
    # A workload elsewhere picks its audience in its own code; in the wrong-audience case, the service's URL.
    wrong = planned.plan.url if planned.case == "wrong-audience" else None
    return google.workload(call, {"id": "l-1", "job": JOB}, audience=wrong)


def findings_on(planned: Planned, kind: str, call: Call) -> list[str]:
    """The mandatory findings on this caller: on its resource, or on its invoker grant."""
    name = call.name
    mine = set()
    if kind in RESOURCE_TYPE:
        mine.add(f"{RESOURCE_TYPE[kind]}::{name}")
    # Its grant: a hand-made one (`<name>-invoker`; a workload elsewhere is known by its grant's name) or the
    # one PrivateService makes (`worker-invoker-<name>`).
    mine |= {f"{GRANT}::{name}", f"{GRANT}::{name}-invoker", f"{GRANT}::worker-invoker-{name}"}
    return sorted(policy for policy, urn in planned.mandatory() if any(urn.endswith("::" + m) for m in mine))


@pytest.mark.parametrize("kind", KINDS)
def test_the_pack_verdict_and_the_runtime_answer_agree(planned: Planned, kind: str) -> None:
    call = planned.plan.call(kind)
    outcome = run(planned, kind, call)
    statuses = {a.status for a in outcome.attempts}
    findings = findings_on(planned, kind, call)
    last = outcome.last.answer
    if planned.case == "approved":
        assert findings == []
        assert outcome.last.status == 200 and statuses == {200}, outcome
        assert last["caller"] == call.email and last["duplicate"] is False
        [line] = wait_for_records(planned.worker, message="request", caller=call.email, reason="processed")
        assert line["caller_kind"] == kind  # the worker's audit line names the declared kind
        verified = "signature" if kind == "service-account" else "cloud_run_iam"
        assert line["verified_by"] == verified
    elif planned.case == "unlisted":
        assert findings == ["invokers-on-service-allowlist"]
        # Cloud Run lets it through (it holds run.invoker); the worker, which does not list it, refuses it.
        assert statuses == {403}, outcome
        assert last == {"error": "caller not allowed"}  # the worker's JSON, not the front end's page
        lines = wait_for_records(planned.worker, message="request", caller=call.email, reason="caller not allowed")
        assert lines and all(x["decision"] == "deny" for x in lines)
    else:
        assert findings == ([] if kind == "service-account" else ["caller-audiences-accepted"])
        # Cloud Run takes the service's URL as audience; the worker checks its own and refuses it.
        assert statuses == {401}, outcome
        assert last == {"error": "invalid token"}
        lines = wait_for_records(planned.worker, message="request", reason="invalid token: wrong audience")
        assert lines


def test_each_case_is_exactly_the_findings_the_matrix_names(planned: Planned) -> None:
    # Nothing else in the program draws a mandatory finding, so each one above is the caller's own.
    expected = {
        "approved": [],
        "unlisted": ["invokers-on-service-allowlist"] * 5,
        "wrong-audience": ["caller-audiences-accepted"] * 4,
    }[planned.case]
    assert sorted(policy for policy, _ in planned.mandatory()) == expected
    # The front end's members are the plan's run.invoker grants: the hand-made grants included.
    invokers = {c.email for c in planned.plan.calls}
    assert {f"serviceAccount:{e}" for e in invokers} <= planned.plan.invokers
