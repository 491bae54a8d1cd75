"""The pack reads long input in linear time: a 12k-character condition and 100k-character env values, shaped to
defeat backtracking regexes and quadratic scans, through every rule of the pack. Linear is asserted as growth, never
as speed: the same shapes at a tenth of the length, measured in the same run, interleaved, as the median CPU time of
this thread (what other processes on a busy machine do is not counted); ten times the input may cost at most
`MAX_GROWTH` times the time (linear: about 10; quadratic: about 100)."""

from __future__ import annotations

import json
import random
import statistics
import string
import time
from collections.abc import Callable

import pytest

from secure_invoke.policies.guardrails import cel
from secure_invoke.policies.guardrails.credentials import secret_shape
from secure_invoke.policies.guardrails.stack import StackModel
from tests.policies.guardrail_cases import ctx, evaluate, mandatory, project_stack, urn

LONG = 100_000
SHORT = LONG // 10
MAX_GROWTH = 30.0
REPEAT = 5


def env_values(length: int) -> dict[str, str]:
    """Shapes that made a secret, URL or JWT pattern rescan the same run from every position, `length` long."""
    rng = random.Random(7)  # noqa: S311 (test data, not a secret)
    return {
        "dotted": "a." * (length // 2),
        "jwt-like": "eyJ-" * (length // 4),
        "ya29-like": "ya29." * (length // 5),  # (named apart from TOKEN: the name rule is not what this measures)
        "url-like": "a://b:" * (length // 6),
        "letters": "a" * length,
        "random": "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length)),
        "json": json.dumps(
            {"upstreams": ["x" * 1000] * (length // 1000), "worker": "https://worker-abc123-ew.a.run.app"}
        ),
        # an API key at the very end of a long value: still found, so the whole value is read
        "tail-secret": "a." * (length // 2 - 30) + " AIza" + "Sy" + "0123456789abcdefghijklmnopqrstuvw",
    }


def condition(terms: int) -> str:
    return " && ".join(
        [
            *(f'resource.type != "t{i}\\" || x"' for i in range(terms)),
            'resource.name.startsWith("projects/_/buckets/big/")',
        ]
    )


ENV_VALUES = env_values(LONG)
CONDITION = condition(360)


def growth(small: Callable[[], object], large: Callable[[], object]) -> float:
    """Median CPU time of `large` over that of `small`, the two interleaved (drift hits both alike)."""
    times: dict[str, list[float]] = {"small": [], "large": []}
    for _ in range(REPEAT):
        for which, run in (("small", small), ("large", large)):
            started = time.thread_time()
            run()
            times[which].append(time.thread_time() - started)
    return statistics.median(times["large"]) / max(statistics.median(times["small"]), 1e-6)


def test_inputs_are_as_long_as_claimed() -> None:
    assert all(len(value) >= LONG - 60 for value in ENV_VALUES.values())
    assert len(CONDITION) >= 12_000


@pytest.mark.parametrize("name", sorted(ENV_VALUES))
def test_a_100k_env_value_is_judged_in_linear_time(name: str) -> None:
    short = env_values(SHORT)[name]
    # the shape is read to its end at both lengths (a key at the end is still found)
    assert (secret_shape(short) is None) == (secret_shape(ENV_VALUES[name]) is None)
    grew = growth(lambda: secret_shape(short), lambda: secret_shape(ENV_VALUES[name]))
    assert grew < MAX_GROWTH, f"{name}: 10x the input took {grew:.1f}x the time"


def _long_stack(values: dict[str, str], expression: str) -> list[dict]:
    stack = project_stack()
    relay = next(r for r in stack if r["name"] == "relay")
    relay["props"]["serviceConfig"]["environmentVariables"].update(
        {f"LONG_{k.upper().replace('-', '_')}": v for k, v in values.items()}
    )
    member = "serviceAccount:relay-build-dev@si-dev-1234.iam.gserviceaccount.com"
    for index in range(3):  # the same long condition on three grants: parsed once
        rtype = "gcp:projects/iAMMember:IAMMember"
        stack.append({"urn": urn("dev", rtype, f"long-{index}"), "type": rtype, "name": f"long-{index}",
                      "props": {"project": "si-dev-1234", "role": "roles/storage.objectViewer", "member": member,
                                "condition": {"title": "t", "expression": expression}}})  # fmt: skip
    return stack


def test_the_whole_pack_over_long_values_and_a_long_condition_in_linear_time() -> None:
    stack = _long_stack(ENV_VALUES, CONDITION)
    cel.parse.cache_clear()
    found = evaluate(stack)
    assert cel.parse.cache_info().misses <= 3  # the long condition (and the stack's own) once each
    # the long values are still judged: the key at the end of one is found; nothing else is mandatory
    assert [(name, at.rsplit("::", 1)[1]) for name, at, _ in mandatory(found)] == [
        ("no-plaintext-secrets-in-env", "relay")
    ]
    small = _long_stack(env_values(SHORT), condition(36))

    def run(resources: list[dict]) -> Callable[[], object]:
        def once() -> object:
            cel.parse.cache_clear()  # each run parses its condition, as a fresh analysis does
            return evaluate(resources)

        return once

    grew = growth(run(small), run(stack))
    assert grew < MAX_GROWTH, f"10x the long input took {grew:.1f}x the time"


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
