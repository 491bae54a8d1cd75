"""The pack through the real analyzer process (`python -u -m pulumi.policy`), spoken to over gRPC the way
the Pulumi engine does: GetAnalyzerInfo, Configure, Analyze (inputs, preview unknowns), AnalyzeStack."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc, engine_pb2_grpc

from secure_invoke.policies.guardrails.pack import SPECS
from tests.policies.guardrail_cases import UNKNOWN_STRING, project_stack

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
MEMBER_TYPE = "gcp:cloudrunv2/serviceIamMember:ServiceIamMember"
OPEN_URN = f"urn:pulumi:dev::secure-invoke::{MEMBER_TYPE}::worker-open"
MANDATORY = analyzer_pb2.EnforcementLevel.MANDATORY
ADVISORY = analyzer_pb2.EnforcementLevel.ADVISORY

pytestmark = pytest.mark.slow


class _EngineLog(engine_pb2_grpc.EngineServicer):
    """The engine's logging endpoint the analyzer is given; it records what the pack logs."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def Log(self, request, context):
        self.messages.append(request.message)
        return empty_pb2.Empty()


def _read_port(process: subprocess.Popen[bytes], timeout: float = 20.0) -> int:
    result: dict[str, bytes] = {}
    reader = threading.Thread(target=lambda: result.setdefault("line", process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(timeout)
    line = result.get("line", b"").strip()
    if not line.isdigit():
        process.kill()
        _, stderr = process.communicate(timeout=5)
        raise AssertionError(f"analyzer printed no port: {line!r}; stderr: {stderr.decode()[-2000:]}")
    return int(line)


def _start(dry_run: bool) -> tuple[subprocess.Popen[bytes], analyzer_pb2_grpc.AnalyzerStub, grpc.Channel, grpc.Server]:
    engine = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    engine_pb2_grpc.add_EngineServicer_to_server(_EngineLog(), engine)
    engine_port = engine.add_insecure_port("127.0.0.1:0")
    engine.start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    env |= {
        "PULUMI_CONFIG": json.dumps({"gcp:project": "si-dev-1234"}),
        "PULUMI_PROJECT": "secure-invoke",
        "PULUMI_STACK": "dev",
        "PULUMI_DRY_RUN": "true" if dry_run else "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", f"127.0.0.1:{engine_port}", "."],
        cwd=PACK_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    port = _read_port(process)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    grpc.channel_ready_future(channel).result(timeout=10)
    return process, analyzer_pb2_grpc.AnalyzerStub(channel), channel, engine


@pytest.fixture(scope="module", params=[False, True], ids=["up", "preview"])
def analyzer(request) -> Iterator[tuple[analyzer_pb2_grpc.AnalyzerStub, bool]]:
    process, stub, channel, engine = _start(request.param)
    try:
        yield stub, request.param
    finally:
        channel.close()
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
        engine.stop(0)


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(value)
    return message


def _configure(stub: analyzer_pb2_grpc.AnalyzerStub, overrides: dict[str, dict[str, Any]] | None = None) -> None:
    """As the engine does: every policy's level (from GetAnalyzerInfo's initial config) plus properties."""
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    config = {}
    for policy in info.policies:
        level = info.initialConfig[policy.name].enforcementLevel
        config[policy.name] = analyzer_pb2.PolicyConfig(
            enforcementLevel=level, properties=_struct((overrides or {}).get(policy.name, {}))
        )
    stub.Configure(analyzer_pb2.ConfigureAnalyzerRequest(policyConfig=config))


def _analyze(stub: analyzer_pb2_grpc.AnalyzerStub, rtype: str, urn: str, props: dict[str, Any]):
    request = analyzer_pb2.AnalyzeRequest(type=rtype, urn=urn, name=urn.rsplit("::", 1)[1], properties=_struct(props))
    return stub.Analyze(request)


def _analyze_stack(stub: analyzer_pb2_grpc.AnalyzerStub, resources: list[dict[str, Any]]):
    request = analyzer_pb2.AnalyzeStackRequest(
        resources=[
            analyzer_pb2.AnalyzerResource(type=r["type"], urn=r["urn"], name=r["name"], properties=_struct(r["props"]))
            for r in resources
        ]
    )
    return stub.AnalyzeStack(request)


def test_analyzer_info_lists_every_policy_with_explicit_levels_and_severities(analyzer) -> None:
    stub, _ = analyzer
    info = stub.GetAnalyzerInfo(empty_pb2.Empty())
    assert info.name == "secure-invoke-guardrails" and info.supportsConfig
    assert {p.name for p in info.policies} == {s.name for s in SPECS}
    for spec in SPECS:
        expected = MANDATORY if spec.level.value == "mandatory" else ADVISORY
        assert info.initialConfig[spec.name].enforcementLevel == expected
        policy = next(p for p in info.policies if p.name == spec.name)
        assert policy.enforcementLevel == expected
        assert "exemptions" in policy.configSchema.properties
        # Each policy's severity reaches the engine (Pulumi Cloud shows and filters by it).
        assert analyzer_pb2.PolicySeverity.Name(policy.severity) == f"POLICY_SEVERITY_{spec.severity.name}"


def test_public_invoker_rejected_and_private_invoker_accepted(analyzer) -> None:
    stub, _ = analyzer
    _configure(stub)
    rejected = _analyze(
        stub, MEMBER_TYPE, OPEN_URN, {"name": "worker-dev", "role": "roles/run.invoker", "member": "allUsers"}
    )
    public = [d for d in rejected.diagnostics if d.policyName == "no-public-members"]
    assert len(public) == 1 and public[0].enforcementLevel == MANDATORY
    assert "grant roles/run.invoker on the service to serviceAccount:" in public[0].message

    relay = "serviceAccount:relay-runtime-dev@si-dev-1234.iam.gserviceaccount.com"
    accepted = _analyze(
        stub, MEMBER_TYPE, OPEN_URN, {"name": "worker-dev", "role": "roles/run.invoker", "member": relay}
    )
    assert list(accepted.diagnostics) == []


def test_unknown_values_checked_where_known_without_cant_run(analyzer) -> None:
    stub, _ = analyzer
    _configure(stub)
    response = _analyze(
        stub, MEMBER_TYPE, OPEN_URN, {"name": UNKNOWN_STRING, "role": UNKNOWN_STRING, "member": "allUsers"}
    )
    assert [d.policyName for d in response.diagnostics] == ["no-public-members"]
    assert response.diagnostics[0].enforcementLevel == MANDATORY
    quiet = _analyze(
        stub, MEMBER_TYPE, OPEN_URN, {"name": "worker-dev", "role": "roles/owner", "member": UNKNOWN_STRING}
    )
    assert [d.policyName for d in quiet.diagnostics] == ["no-basic-roles"]  # the role is known: still rejected
    assert all("can't run policy" not in d.message for d in (*response.diagnostics, *quiet.diagnostics))


def test_exemption_by_urn_through_configure(analyzer) -> None:
    stub, _ = analyzer
    _configure(stub, {"no-public-members": {"exemptions": [{"urn": OPEN_URN, "reason": "status page, SEC-12"}]}})
    response = _analyze(stub, MEMBER_TYPE, OPEN_URN, {"role": "roles/run.invoker", "member": "allUsers"})
    assert list(response.diagnostics) == []
    assert [(n.policy_name, n.reason) for n in response.not_applicable] == [
        ("no-public-members", "exempted: status page, SEC-12")
    ]


@pytest.mark.parametrize(
    ("config", "cause"),
    [
        ({"no-public-members": {"exemptions": [{"urn": OPEN_URN}]}}, "no-public-members.exemptions[0].reason is required"),
        ({"no-public-members": {"exemption": []}}, "no-public-members: unknown config key 'exemption' (did you mean 'exemptions'?)"),
    ],
)  # fmt: skip
def test_broken_config_stops_the_analysis_with_a_one_line_cause(analyzer, config: dict, cause: str) -> None:
    """Not a violation among others (advisory on advisory policies, easy to miss): the engine's call fails."""
    stub, _ = analyzer
    _configure(stub, config)
    with pytest.raises(grpc.RpcError) as raised:
        _analyze(stub, MEMBER_TYPE, OPEN_URN, {"role": "roles/run.invoker", "member": "allUsers"})
    details = str(raised.value.details())  # type: ignore[attr-defined]
    assert cause in details and "\n" not in details


def test_stack_analysis_accepts_project_stack_and_rejects_unintended_invoker(analyzer) -> None:
    stub, _ = analyzer
    _configure(stub)
    clean = _analyze_stack(stub, project_stack("dev"))
    assert [d for d in clean.diagnostics if d.enforcementLevel == MANDATORY] == []

    stack = project_stack("dev")
    worker_sa = next(r for r in stack if r["name"] == "worker")["props"]["template"]["serviceAccount"]
    intruder_urn = f"urn:pulumi:dev::secure-invoke::{MEMBER_TYPE}::worker-self-invoke"
    stack.append(
        {
            "type": MEMBER_TYPE,
            "urn": intruder_urn,
            "name": "worker-self-invoke",
            "props": {"name": "worker-dev", "role": "roles/run.invoker", "member": f"serviceAccount:{worker_sa}"},
        }
    )
    response = _analyze_stack(stub, stack)
    mandatory = [(d.policyName, d.urn) for d in response.diagnostics if d.enforcementLevel == MANDATORY]
    assert mandatory == [("only-intended-invokers", intruder_urn)]


def _both(config: dict) -> dict:
    return {"only-intended-invokers": config, "unverified-invokers": config}


def test_allowed_invokers_through_configure(analyzer) -> None:
    stub, _ = analyzer
    stack = project_stack("dev")
    outside_urn = f"urn:pulumi:dev::secure-invoke::{MEMBER_TYPE}::worker-frontend"
    frontend = "serviceAccount:frontend@other-project.iam.gserviceaccount.com"
    stack.append(
        {
            "type": MEMBER_TYPE,
            "urn": outside_urn,
            "name": "worker-frontend",
            "props": {"name": "worker-dev", "role": "roles/run.invoker", "member": frontend},
        }
    )
    _configure(stub)
    # Without a list the pack cannot tell an outside caller from a stray grant: advisory, not a block.
    noted = _analyze_stack(stub, stack)
    assert [(d.policyName, d.urn, d.enforcementLevel) for d in noted.diagnostics if d.urn == outside_urn] == [
        ("unverified-invokers", outside_urn, ADVISORY)
    ]
    other = "serviceAccount:backend@other-project.iam.gserviceaccount.com"
    # Each invoker policy reads the list from its own config (a policy sees only its own): give both the list.
    _configure(stub, _both({"allowedInvokers": [other]}))
    rejected = _analyze_stack(stub, stack)  # a list that does not name it: mandatory, once
    assert [(d.policyName, d.urn) for d in rejected.diagnostics if d.urn == outside_urn] == [
        ("only-intended-invokers", outside_urn)
    ]
    _configure(stub, _both({"allowedInvokers": [frontend.upper().replace("SERVICEACCOUNT", "serviceAccount")]}))
    accepted = _analyze_stack(stub, stack)
    assert [d for d in accepted.diagnostics if d.urn == outside_urn] == []
    _configure(stub, {"only-intended-invokers": {"allowedInvokers": ["allUsers"]}})
    with pytest.raises(grpc.RpcError) as raised:  # a broken list stops the analysis
        _analyze_stack(stub, stack)
    assert "allowedInvokers: 'allUsers' is not one identity" in raised.value.details()  # type: ignore[attr-defined]


def test_public_acl_mandatory_and_outside_custom_role_advisory(analyzer) -> None:
    stub, _ = analyzer
    _configure(stub)
    acl_type = "gcp:storage/bucketACL:BucketACL"
    acl_urn = f"urn:pulumi:dev::secure-invoke::{acl_type}::site-acl"
    public = _analyze(stub, acl_type, acl_urn, {"bucket": "site", "roleEntities": ["READER:allUsers"]})
    assert [(d.policyName, d.enforcementLevel) for d in public.diagnostics] == [("no-public-acls", MANDATORY)]
    private = _analyze(stub, acl_type, acl_urn, {"bucket": "site", "roleEntities": ["READER:group-ops@acme.com"]})
    assert list(private.diagnostics) == []

    stack = project_stack("dev")
    role_urn = f"urn:pulumi:dev::secure-invoke::{MEMBER_TYPE}::worker-outside-role"
    member = "serviceAccount:relay-runtime-dev@si-dev-1234.iam.gserviceaccount.com"
    stack.append(
        {
            "type": MEMBER_TYPE,
            "urn": role_urn,
            "name": "worker-outside-role",
            "props": {"name": "worker-dev", "role": "organizations/1/roles/invoker", "member": member},
        }
    )
    response = _analyze_stack(stub, stack)
    noted = [(d.policyName, d.urn, d.enforcementLevel) for d in response.diagnostics if d.urn == role_urn]
    assert noted == [("custom-roles-verifiable", role_urn, ADVISORY)]
