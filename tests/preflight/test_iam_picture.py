"""The IAM picture — the report's table, its JSON grants and its graph — is the pack's own model of the stack:
the same stack goes to the pack and to the report, and what the picture shows public, broad, granted or run
as is what the pack judged (principalSet://goog/public:all included, which the report once missed)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import unknown_checking_proxy
from rich.console import Console

from secure_invoke.policies.guardrails.pack import build_policies
from secure_invoke.preflight.__main__ import main
from secure_invoke.preflight.engine.records import ProgramRun, Resource
from secure_invoke.preflight.report.grants import grants_of
from secure_invoke.preflight.report.verdict import Result, render, to_json, to_mermaid

REPO = Path(__file__).resolve().parents[2]
PROGRAM = REPO / "tests" / "policies" / "programs" / "public-principals"
RED = re.compile(r"\x1b\[1;31m(.*?)\x1b\[0m")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
PUBLIC_POLICIES = ("no-public-members", "invoker-iam-check-enabled")
PROJECT = "pic-1234"


def _sa(name: str) -> str:
    return f"{name}@{PROJECT}.iam.gserviceaccount.com"


def _member_named(violation: tuple[str, str, str]) -> str:
    """The member a grant policy's message names (`<where>: <member> holds|grants ...`, `... granted to <member>
    on ...`); the invoker check opens a service to allUsers."""
    policy, _, message = violation
    if policy == "invoker-iam-check-enabled":
        return "allUsers"
    line = message.splitlines()[-1]  # (JSON puts the description first)
    match = re.search(r" granted to (\S+) on ", line) or re.match(r"^\S+: (\S+) ", line)
    assert match, message
    return match.group(1)


def _table_members(report: str) -> tuple[list[str], list[str]]:
    """(every member row, the rows shown red) of the report's IAM table."""
    table = report.split("IAM grants", 1)[1].split("Policies:", 1)[0]
    rows = [line for line in table.splitlines()[2:] if ANSI.sub("", line).strip()]  # (title and header first)
    return [ANSI.sub("", row).split()[0] for row in rows], [red.strip() for row in rows for red in RED.findall(row)]


def _graph_public(graph: str) -> set[str]:
    labels = dict(re.findall(r'^\s+(n\d+)\(\["(.*)"\]\)$', graph, re.MULTILINE))
    classes = re.search(r"^\s+class (\S+) public$", graph, re.MULTILINE)
    return {labels[node] for node in classes.group(1).split(",")} if classes else set()


# --- a real program, through preflight: the report next to the verdict ---------------------------------------


@pytest.mark.slow
def test_a_programs_report_shows_public_exactly_what_the_pack_rejects_as_public(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    colour = {"force_terminal": True, "color_system": "standard", "width": 300, "highlight": False}
    code = main(
        ["--program", str(PROGRAM), "--json", str(tmp_path / "r.json"), "--graph", str(tmp_path / "g.mmd")],
        stdout=Console(file=out, **colour),
        stderr=Console(file=err, width=300),
    )
    assert code == 1, err.getvalue()
    document = json.loads((tmp_path / "r.json").read_text())
    rejected = [(v["policy"], v["urn"], v["message"]) for v in document["violations"] if v["policy"] in PUBLIC_POLICIES]
    assert len(rejected) == 5  # allUsers, allAuthenticatedUsers, public:all twice, the invoker check
    public = {(urn, _member_named((policy, urn, message))) for policy, urn, message in rejected}
    assert "principalSet://goog/public:all" in {member for _, member in public}
    # JSON: the rejected grants are there, on the resources the pack named
    assert public <= {(g["urn"], g["member"]) for g in document["grants"]}
    # the table: exactly the rejected grants in red
    rows, red = _table_members(out.getvalue())
    assert sorted(red) == sorted(member for _, member in public) and len(rows) == len(document["grants"])
    # the graph: exactly the rejected members marked public
    assert _graph_public((tmp_path / "g.mmd").read_text()) == {member for _, member in public}


# --- one hand-written stack, to the pack and to the report ---------------------------------------------------


def _stack() -> list[dict[str, Any]]:
    """Grants of every kind and member the pack tells apart, access opened by a setting, and workloads of many
    types (one identity shared by two of them)."""
    entries: list[tuple[str, str, dict[str, Any]]] = []

    def add(rtype: str, name: str, props: dict[str, Any]) -> None:
        entries.append((rtype, name, props))

    bucket_member = "gcp:storage/bucketIAMMember:BucketIAMMember"
    add("gcp:storage/bucket:Bucket", "site", {"name": "site", "uniformBucketLevelAccess": True})
    for name, member in [
        ("public", "allUsers"),
        ("public-set", "principalSet://goog/public:all"),
        ("domain", "domain:example.com"),
        ("customer", "principalSet://goog/cloudIdentityCustomerId/C0123"),
        ("pool", "principalSet://iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/*"),
        ("reader", f"serviceAccount:{_sa('reader')}"),
    ]:
        add(bucket_member, name, {"bucket": "site", "role": "roles/storage.objectViewer", "member": member})
    add("gcp:pubsub/topicIAMBinding:TopicIAMBinding", "binding",
        {"topic": "t", "role": "roles/pubsub.subscriber", "members": ["allAuthenticatedUsers", f"serviceAccount:{_sa('r')}"]})  # fmt: skip
    policy = {"bindings": [{"role": "roles/secretmanager.secretAccessor",
                            "members": [f"serviceAccount:{_sa('r')}", "principalSet://goog/public:all"]},
                           {"role": "roles/secretmanager.viewer", "members": ["group:ops@example.com"],
                            "condition": {"title": "until-june", "expression": 'request.time < timestamp("2026-06-01T00:00:00Z")'}}]}  # fmt: skip
    add(
        "gcp:secretmanager/secretIamPolicy:SecretIamPolicy",
        "policy",
        {"secretId": "s", "policyData": json.dumps(policy)},
    )
    add("gcp:projects/iAMMember:IAMMember", "editor", {"project": PROJECT, "role": "roles/editor", "member": f"serviceAccount:{_sa('r')}"})  # fmt: skip
    # a v1 service opened by its template's annotation (the report once read only the service's own)
    add("gcp:cloudrun/service:Service", "v1-open", {"name": "v1-open", "template": {
        "metadata": {"annotations": {"run.googleapis.com/invoker-iam-disabled": "true"}},
        "spec": {"serviceAccountName": _sa("v1-open")}}})  # fmt: skip
    add("gcp:cloudrunv2/service:Service", "v2-open", {"name": "v2-open", "invokerIamDisabled": True,
                                                      "template": {"serviceAccount": _sa("v2-open")}})  # fmt: skip
    # workloads the report once did not know: a job, a VM, a scheduler job, a workflow, a gen1 function
    add(
        "gcp:cloudrunv2/job:Job", "batch", {"name": "batch", "template": {"template": {"serviceAccount": _sa("batch")}}}
    )
    add("gcp:compute/instance:Instance", "vm", {"name": "vm", "serviceAccount": {"email": _sa("vm"), "scopes": []}})
    add("gcp:cloudscheduler/job:Job", "tick", {"name": "tick", "httpTarget": {
        "uri": "https://batch.example.com", "oidcToken": {"serviceAccountEmail": _sa("tick")}}})  # fmt: skip
    add("gcp:workflows/workflow:Workflow", "flow", {"name": "flow", "serviceAccount": _sa("flow")})
    add("gcp:cloudfunctions/function:Function", "gen1", {"name": "gen1", "serviceAccountEmail": _sa("tick"),
                                                         "buildServiceAccount": f"projects/{PROJECT}/serviceAccounts/{_sa('gen1-build')}"})  # fmt: skip
    return [
        {"urn": f"urn:pulumi:dev::pic::{rtype}::{name}", "type": rtype, "name": name, "props": props}
        for rtype, name, props in entries
    ]


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], None)


def _pack_findings(stack: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(policy, urn, message) of every policy of the pack, through the adapter as the analyzer runs it."""
    found: list[tuple[str, str, str]] = []
    for policy in build_policies():
        if isinstance(policy, ResourceValidationPolicy):
            for r in stack:
                args = ResourceValidationArgs(r["type"], unknown_checking_proxy(r["props"]), r["urn"], r["name"],
                                              _options(), None, None)  # fmt: skip
                policy.validate(args, lambda m, _u=None, at=r["urn"], name=policy.name: found.append((name, at, m)))
        else:
            assert isinstance(policy, StackValidationPolicy)
            resources = [PolicyResource(r["type"], unknown_checking_proxy(r["props"]), r["urn"], r["name"],
                                        _options(), None, None, [], {}) for r in stack]  # fmt: skip
            policy.validate(StackValidationArgs(resources, None),
                            lambda m, at=None, name=policy.name: found.append((name, at or "", m)))  # fmt: skip
    return found


def _report(stack: list[dict[str, Any]]) -> tuple[dict[str, Any], str, str]:
    """(JSON, terminal report with colours, graph) of preflight's report on the same resources."""
    resources = [Resource(r["urn"], r["type"], r["name"], None, True, r["props"], r["props"]) for r in stack]
    run = ProgramRun("pic", "dev", False, resources, {}, {}, set(), Path("."))
    result = Result(run=run, packs=[], grants=grants_of(resources))
    out = io.StringIO()
    render(result, Console(file=out, force_terminal=True, color_system="standard", width=300, highlight=False))
    return to_json(result), out.getvalue(), to_mermaid(result)


def test_the_report_and_the_pack_read_one_model_of_the_same_stack() -> None:
    stack = _stack()
    findings = _pack_findings(stack)
    document, terminal, graph = _report(stack)
    grants = {(g["urn"], g["member"]) for g in document["grants"]}

    # Public: what no-public-members and the invoker check reject, and nothing else, is red in the table.
    public = {(urn, _member_named((p, urn, m))) for p, urn, m in findings if p in PUBLIC_POLICIES}
    assert {member for _, member in public} == {"allUsers", "allAuthenticatedUsers", "principalSet://goog/public:all"}
    assert len(public) == 6  # a member, a set, a binding, a policy, two services opened by a setting
    assert public <= grants
    _, red = _table_members(terminal)
    assert sorted(red) == sorted(member for _, member in public)

    # Broad: the graph marks what no-public-members and no-broad-principals reject.
    broad = {_member_named((p, u, m)) for p, u, m in findings if p in (*PUBLIC_POLICIES, "no-broad-principals")}
    assert len(broad) == 6 and _graph_public(graph) == broad

    # Every grant a grant policy judged is a row of the table, on the resource the pack named.
    judged = {(u, _member_named((p, u, m))) for p, u, m in findings if p in ("no-basic-roles", "no-public-members")}
    assert judged <= grants and len(judged) == 5

    # Who runs as whom: every workload and machine identity, and the one the pack finds shared, twice.
    runs_as = re.findall(r'-\. "runs as: (\S+)" \.-> (n\d+)', graph)
    assert {path for path, _ in runs_as} == {
        "template.spec.serviceAccountName", "template.serviceAccount", "template.template.serviceAccount",
        "serviceAccount.email", "httpTarget.oidcToken.serviceAccountEmail", "serviceAccount",
        "serviceAccountEmail", "buildServiceAccount",
    }  # fmt: skip
    shared = [m for p, _, m in findings if p == "workload-identities-not-shared"]
    assert len(shared) == 1 and _sa("tick") in shared[0]
    node = re.search(rf'^\s+(n\d+)\(\["serviceAccount:{re.escape(_sa("tick"))}"\]\)$', graph, re.MULTILINE)
    assert node is not None and [n for _, n in runs_as].count(node.group(1)) == 2
