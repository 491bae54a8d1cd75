"""Exemptions are never silent: the pack prints each violation an exemption suppressed and each exemption naming
no resource, in the lines preflight reads back (its parser is the contract); and the analyzer cache changes no
answer of the pack, only how often pulumi-policy deserialises."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
from pulumi_policy.policy import _NotApplicableError

from secure_invoke.policies.guardrails import exemptions
from secure_invoke.preflight.packs.protocol import Exemption, UnknownExemption, exemptions_in
from tests.policies.guardrail_cases import project_stack
from tests.policies.test_adapter import MEMBER_URN, _run_resource, _run_stack

REASON = "public status page, approved SEC-12"


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    exemptions.forget()  # what resource policies recorded lives as long as the pack's process: here, one test
    yield
    exemptions.forget()


def _printed(capsys: pytest.CaptureFixture[str]) -> tuple[list[Exemption], list[UnknownExemption]]:
    return exemptions_in(capsys.readouterr().err.splitlines())


def test_an_exempted_resource_violation_is_printed_with_its_reason(capsys: pytest.CaptureFixture[str]) -> None:
    config = {"exemptions": [{"urn": MEMBER_URN, "reason": REASON}]}
    with pytest.raises(_NotApplicableError):  # still "not applicable" for the protocol
        _run_resource("no-public-members", {"member": "allUsers", "role": "roles/run.invoker"}, config)
    assert _printed(capsys) == ([Exemption("no-public-members", MEMBER_URN, REASON)], [])


def test_an_exempted_resource_without_a_violation_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    config = {"exemptions": [{"urn": MEMBER_URN, "reason": REASON}]}
    with pytest.raises(_NotApplicableError):
        _run_resource("no-public-members", {"member": "group:ops@example.com", "role": "roles/run.invoker"}, config)
    assert _printed(capsys) == ([], [])


def _with_intruder() -> tuple[list[dict], str]:
    stack = project_stack()
    worker_sa = next(r for r in stack if r["name"] == "worker")["props"]["template"]["serviceAccount"]
    urn = "urn:pulumi:dev::secure-invoke::gcp:cloudrunv2/serviceIamMember:ServiceIamMember::intruder"
    stack.append(
        {
            "urn": urn,
            "type": "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
            "name": "intruder",
            "props": {"name": "worker-dev", "role": "roles/run.invoker", "member": f"serviceAccount:{worker_sa}"},
        }
    )
    return stack, urn


def test_a_stack_policys_exemption_is_printed_and_only_what_it_suppressed(capsys: pytest.CaptureFixture[str]) -> None:
    stack, intruder = _with_intruder()
    assert [u for _, u in _run_stack("only-intended-invokers", stack)] == [intruder]
    assert _printed(capsys) == ([], [])  # nothing exempted: nothing printed
    config = {"exemptions": [{"urn": intruder, "reason": "break-glass until 2027-01-01"}]}
    assert _run_stack("only-intended-invokers", stack, config) == []
    exempted, unknown = _printed(capsys)
    assert exempted == [Exemption("only-intended-invokers", intruder, "break-glass until 2027-01-01")]
    assert unknown == []


def test_an_exemption_naming_no_resource_warns_with_the_closest_urn(capsys: pytest.CaptureFixture[str]) -> None:
    stack, intruder = _with_intruder()
    typo, elsewhere = intruder + "s", "urn:pulumi:dev::other::gcp:pubsub/topic:Topic::t"
    config = {"exemptions": [{"urn": typo, "reason": "r"}, {"urn": elsewhere, "reason": "r"}]}
    assert [u for _, u in _run_stack("only-intended-invokers", stack, config)] == [intruder]  # the typo exempts nothing
    _, unknown = _printed(capsys)
    assert UnknownExemption("only-intended-invokers", typo, intruder) in unknown
    assert UnknownExemption("only-intended-invokers", elsewhere, None) in unknown


def test_resource_policies_exemptions_are_checked_against_the_stack(capsys: pytest.CaptureFixture[str]) -> None:
    typo = MEMBER_URN + "x"
    exemptions.record("no-public-members", {typo: "r"})
    exemptions.check([MEMBER_URN, "urn:pulumi:dev::secure-invoke::gcp:pubsub/topic:Topic::jobs"])
    assert _printed(capsys) == ([], [UnknownExemption("no-public-members", typo, MEMBER_URN)])


_SAME_ANSWERS = textwrap.dedent(
    """
    import json, sys
    from google.protobuf import json_format, struct_pb2
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy import EnforcementLevel
    from pulumi_policy import policy as sdk
    from secure_invoke.policies.guardrails import analyzer_cache
    from secure_invoke.policies.guardrails.pack import PACK_NAME, build_policies, initial_config
    from tests.policies.guardrail_cases import project_stack

    def struct(value):
        return json_format.ParseDict(value, struct_pb2.Struct())

    stack = project_stack()
    # Every other resource gets its labels from a provider's defaultLabels (labels-present reads the provider) and
    # options, so the per-call options and provider objects are exercised too.
    extras = []
    for i, r in enumerate(stack):
        if i % 2:
            labels = r["props"].pop("labels", {"app": "secure-invoke"})
            provider = analyzer_pb2.AnalyzerProviderResource(
                type="pulumi:providers:gcp", urn="urn:pulumi:dev::p::pulumi:providers:gcp::labelled", name="labelled",
                properties=struct({"defaultLabels": labels}))
            extras.append({"provider": provider, "options": analyzer_pb2.AnalyzerResourceOptions(
                protect=True, ignoreChanges=["labels"], additionalSecretOutputs=["email"])})
        else:
            extras.append({})
    requests = [analyzer_pb2.AnalyzeRequest(type=r["type"], urn=r["urn"], name=r["name"], properties=struct(r["props"]),
                                            **e)
                for r, e in zip(stack, extras)]
    stack_request = analyzer_pb2.AnalyzeStackRequest(resources=[
        analyzer_pb2.AnalyzerResource(type=r["type"], urn=r["urn"], name=r["name"], properties=struct(r["props"]), **e)
        for r, e in zip(stack, extras)])
    providers = sum(1 for e in extras if e)
    calls = [0]
    original = json_format.MessageToDict
    def counted(*args, **kwargs):
        calls[0] += 1
        return original(*args, **kwargs)
    json_format.MessageToDict = counted

    def answers():
        servicer = sdk._PolicyAnalyzerServicer(PACK_NAME, "0.0.1", build_policies(), EnforcementLevel.MANDATORY,
                                               initial_config())
        calls[0] = 0
        found = [servicer.Analyze(r, None).SerializeToString(deterministic=True) for r in requests]
        found.append(servicer.AnalyzeStack(stack_request, None).SerializeToString(deterministic=True))
        return found, calls[0]

    before, before_calls = answers()
    assert analyzer_cache.install()
    after, after_calls = answers()
    print(json.dumps({"same": before == after, "violations": sum(len(a) for a in before) > 0,
                      "before": before_calls, "after": after_calls, "resources": len(stack),
                      "providers": providers}))
    """
)


def test_the_analyzer_cache_changes_no_answer_only_the_work() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SAME_ANSWERS], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    found = __import__("json").loads(done.stdout.strip().splitlines()[-1])
    assert found["same"] and found["violations"]
    # Before: once per policy and resource (Analyze), once per stack policy and resource (AnalyzeStack).
    # After: once per resource (and per provider) and call.
    assert found["providers"] > 0
    assert found["after"] == 2 * (found["resources"] + found["providers"])
    assert found["before"] > 10 * found["after"]
