"""The pack reads long input in linear time: a 12k-character condition and 100k-character env values, shaped to
defeat backtracking regexes and quadratic scans, through every rule of the pack, well under a second."""

from __future__ import annotations

import json
import random
import string
import time

import pytest

from secure_invoke.policies.guardrails import cel
from secure_invoke.policies.guardrails.credentials import secret_shape
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import ctx, evaluate, mandatory, project_stack, urn

LONG = 100_000
_rng = random.Random(7)  # noqa: S311 (test data, not a secret)
# Shapes that made a secret, URL or JWT pattern rescan the same run from every position.
ENV_VALUES = {
    "dotted": "a." * (LONG // 2),
    "jwt-like": "eyJ-" * (LONG // 4),
    "token-like": "ya29." * (LONG // 5),
    "url-like": "a://b:" * (LONG // 6),
    "letters": "a" * LONG,
    "random": "".join(_rng.choice(string.ascii_letters + string.digits) for _ in range(LONG)),
    "json": json.dumps({"upstreams": ["x" * 1000] * 100, "worker": "https://worker-abc123-ew.a.run.app"}),
    # an API key at the very end of a long value: still found, so the whole value is read
    "tail-secret": "a." * (LONG // 2 - 30) + " AIza" + "Sy" + "0123456789abcdefghijklmnopqrstuvw",
}
CONDITION = " && ".join(
    [*(f'resource.type != "t{i}\\" || x"' for i in range(360)), 'resource.name.startsWith("projects/_/buckets/big/")']
)


def test_inputs_are_as_long_as_claimed() -> None:
    assert all(len(value) >= LONG - 60 for value in ENV_VALUES.values())
    assert len(CONDITION) >= 12_000


@pytest.mark.parametrize("name", sorted(ENV_VALUES))
def test_a_100k_env_value_is_judged_in_linear_time(name: str) -> None:
    started = time.perf_counter()
    secret_shape(ENV_VALUES[name])
    assert time.perf_counter() - started < 0.2


def test_the_whole_pack_over_long_values_and_a_long_condition_well_under_a_second() -> None:
    stack = project_stack()
    relay = next(r for r in stack if r["name"] == "relay")
    relay["props"]["serviceConfig"]["environmentVariables"].update(
        {f"LONG_{k.upper().replace('-', '_')}": v for k, v in ENV_VALUES.items()}
    )
    member = "serviceAccount:relay-build-dev@si-dev-1234.iam.gserviceaccount.com"
    for index in range(3):  # the same long condition on three grants: parsed once
        rtype = "gcp:projects/iAMMember:IAMMember"
        stack.append({"urn": urn("dev", rtype, f"long-{index}"), "type": rtype, "name": f"long-{index}",
                      "props": {"project": "si-dev-1234", "role": "roles/storage.objectViewer", "member": member,
                                "condition": {"title": "t", "expression": CONDITION}}})  # fmt: skip
    cel.parse.cache_clear()
    started = time.perf_counter()
    found = evaluate(stack)
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, elapsed
    assert cel.parse.cache_info().misses <= 3  # the long condition (and the stack's own) once each
    # the long values are still judged: the key at the end of one is found; nothing else is mandatory
    assert [(name, at.rsplit("::", 1)[1]) for name, at, _ in mandatory(found)] == [
        ("no-plaintext-secrets-in-env", "relay")
    ]


def _stacks(copies: int) -> list[dict]:
    # Independent copies of the project stack (own accounts, URLs, services) in one program.
    return [resource for i in range(copies) for resource in project_stack(f"s{i}")]


def test_invoker_judgement_grows_linearly_with_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every grant used to be matched against every caller of the program (quadratic: 1,000 relay/worker pairs
    took ~8 s per policy). Counting the caller-callee comparisons makes the growth a fact, not a timing."""
    from secure_invoke.policies.guardrails import invoker_graph, invokers

    comparisons = 0
    calls = invoker_graph.calls

    def counting(caller: object, callee: object) -> bool:
        nonlocal comparisons
        comparisons += 1
        return calls(caller, callee)  # type: ignore[arg-type]

    monkeypatch.setattr(invoker_graph, "calls", counting)
    counts = {}
    for copies in (20, 80):
        comparisons = 0
        found = invokers.judge_invokers(StackModel(_stacks(copies)), ctx())
        assert found == []  # each relay calls its own worker only: every grant is intended
        counts[copies] = comparisons
    assert counts[20] > 0
    assert counts[80] <= 4.4 * counts[20], counts
