"""What does preflight cost over simply running the program under Pulumi's mocks, and where does the time go?

Two mixes of plain pulumi-gcp resources, generated at each size (in relay/worker pairs):

- own: 10 resources per pair (four service accounts, a topic, a source bucket, a Cloud Run worker, a gen2
  function, two invoker grants), a relay/worker pair as this repository builds one;
- grants: 4 resources per pair (a caller and a runtime service account, a Cloud Run service running as the
  runtime one, the caller's invoker grant on it): IAM-heavy, as most of a real project's resources are.

For each mix and size, in child processes of this one run, alternating (so drift of a shared machine hits both):

- bare: the program under the SDK's stock mocks (`set_mocks` with echoing mocks), as a unit test runs it;
- preflight: `python -m secure_invoke.preflight` on the same program with a policy pack (default: this
  repository's) and `--timings`: preflight's engine + the program in its own process over gRPC + the pack's
  analyzer process + the report (rendered; `--json` to /dev/null).

Per size: wall seconds (median of --repeat), time ratio, peak memory (ru_maxrss of the largest process of the
tree, from wait4) and its ratio, CPU seconds (user + system) of the bare program and of each process of
preflight's, and preflight's phases (wall). Then, for one size per mix, the pack replayed in this process on
the same requests, in CPU seconds per step: preflight building the requests, protobuf (de)serialisation, pulumi-policy's
own work per call (MessageToDict, proxies, once per policy), and each policy. Finally this repository's dev
and prod stacks, checked one after the other and concurrently, as CI's preflight jobs would.

    python benchmarks/preflight.py [--mix own grants] [--sizes 10 300 1000] [--repeat 3] [--breakdown-pairs 300]
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

_HEADER = """\
import pulumi
import pulumi_gcp as gcp

config = pulumi.Config()
pairs = config.require_int("pairs")
region = "europe-west1"
image = "europe-docker.pkg.dev/bench/images/worker@sha256:" + "0" * 64
"""

OWN = (
    _HEADER
    + """
for i in range(pairs):
    labels = {"pair": str(i)}
    relay_runtime = gcp.serviceaccount.Account(f"relay-runtime-{i}", account_id=f"relay-runtime-{i}")
    relay_trigger = gcp.serviceaccount.Account(f"relay-trigger-{i}", account_id=f"relay-trigger-{i}")
    worker_runtime = gcp.serviceaccount.Account(f"worker-runtime-{i}", account_id=f"worker-runtime-{i}")
    relay_build = gcp.serviceaccount.Account(f"relay-build-{i}", account_id=f"relay-build-{i}")
    jobs = gcp.pubsub.Topic(f"jobs-{i}", labels=labels)
    source = gcp.storage.Bucket(
        f"source-{i}", location="EU", uniform_bucket_level_access=True, public_access_prevention="enforced",
        labels=labels,
    )
    worker = gcp.cloudrunv2.Service(
        f"worker-{i}",
        location=region,
        deletion_protection=False,
        ingress="INGRESS_TRAFFIC_ALL",
        labels=labels,
        template={
            "service_account": worker_runtime.email,
            "containers": [{"image": image, "envs": [{"name": "ALLOWED_INVOKERS", "value": relay_runtime.email}]}],
        },
    )
    gcp.cloudrunv2.ServiceIamMember(
        f"worker-{i}-invoker", name=worker.name, location=region, role="roles/run.invoker",
        member=relay_runtime.member,
    )
    relay = gcp.cloudfunctionsv2.Function(
        f"relay-{i}",
        location=region,
        labels=labels,
        build_config={"runtime": "python312", "entry_point": "relay", "service_account": relay_build.id,
                      "source": {"storage_source": {"bucket": source.name, "object": "relay.zip"}}},
        service_config={
            "service_account_email": relay_runtime.email,
            "ingress_settings": "ALLOW_INTERNAL_ONLY",
            "environment_variables": {"WORKER_URL": worker.uri, "WORKER_AUDIENCE": worker.uri},
        },
        event_trigger={
            "event_type": "google.cloud.pubsub.topic.v1.messagePublished",
            "pubsub_topic": jobs.id,
            "service_account_email": relay_trigger.email,
            "retry_policy": "RETRY_POLICY_RETRY",
        },
    )
    gcp.cloudrunv2.ServiceIamMember(
        f"relay-{i}-trigger-invoker", name=relay.name, location=region, role="roles/run.invoker",
        member=relay_trigger.member,
    )
"""
)

GRANTS = (
    _HEADER
    + """
for i in range(pairs):
    caller = gcp.serviceaccount.Account(f"caller-{i}", account_id=f"caller-{i}")
    runtime = gcp.serviceaccount.Account(f"runtime-{i}", account_id=f"runtime-{i}")
    service = gcp.cloudrunv2.Service(
        f"service-{i}",
        location=region,
        deletion_protection=False,
        ingress="INGRESS_TRAFFIC_INTERNAL_ONLY",
        labels={"pair": str(i)},
        template={"service_account": runtime.email, "containers": [{"image": image}]},
    )
    gcp.cloudrunv2.ServiceIamMember(
        f"service-{i}-invoker", name=service.name, location=region, role="roles/run.invoker", member=caller.member
    )
"""
)

MIXES = {"own": (OWN, 10), "grants": (GRANTS, 4)}


def generate(directory: Path, pairs: int, mix: str = "own") -> Path:
    program = directory / f"{mix}-{pairs}"
    program.mkdir(parents=True, exist_ok=True)
    (program / "Pulumi.yaml").write_text("name: bench\nruntime: python\n")
    (program / "Pulumi.dev.yaml").write_text(
        f"config:\n  gcp:project: bench-project\n  gcp:region: europe-west1\n  pairs: {pairs}\n"
    )
    (program / "__main__.py").write_text(MIXES[mix][0])
    return program


def bare(program: Path) -> None:
    """Child mode: the program under the SDK's stock mocks, nothing else."""
    import pulumi
    from pulumi.runtime import mocks

    class Echo(mocks.Mocks):
        def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict]:
            return f"{args.name}-id", dict(args.inputs)

        def call(self, args: mocks.MockCallArgs) -> tuple[dict, list[tuple[str, str]] | None]:
            return {}, None

    pairs = (program / "Pulumi.dev.yaml").read_text().rsplit("pairs:", 1)[1].strip()
    pulumi.runtime.set_all_config({"bench:pairs": pairs, "gcp:project": "bench-project", "gcp:region": "europe-west1"})
    mocks.set_mocks(Echo(), project="bench", stack="dev", preview=False)
    os.chdir(program)
    sys.path.insert(0, str(program))

    @pulumi.runtime.test
    def run() -> None:
        runpy.run_path(str(program / "__main__.py"), run_name="__main__")

    run()


@dataclass
class Child:
    seconds: float
    mib: float
    cpu: float
    code: int


def measure(argv: list[str]) -> Child:
    """Wall seconds, peak MiB, CPU seconds (the process and the children it waited for) and exit status."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace")  # read before waiting: a full pipe would block it
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.stderr.close()
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:4])} failed ({code}): {error.strip().splitlines()[-1:]}")
    return Child(seconds, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, code)


@dataclass
class Row:
    mix: str
    pairs: int
    resources: int
    bare: list[Child] = field(default_factory=list)
    preflight: list[Child] = field(default_factory=list)
    timings: list[dict[str, Any]] = field(default_factory=list)

    def median(self, runs: list[Child], get: Callable[[Child], float]) -> float:
        return statistics.median(get(r) for r in runs)

    def timing(self, section: str, key: str) -> float:
        return statistics.median(t[section].get(key, 0.0) for t in self.timings)


def measure_sizes(mixes: list[str], sizes: list[int], policy_pack: Path, repeat: int, tmp: Path) -> list[Row]:
    rows: list[Row] = []
    for mix in mixes:
        for pairs in sizes:
            program = generate(tmp, pairs, mix)
            row = Row(mix, pairs, pairs * MIXES[mix][1])
            timings = tmp / "timings.json"
            command = [sys.executable, "-m", "secure_invoke.preflight", "--program", str(program)]
            command += ["--policy-pack", str(policy_pack), "--json", os.devnull, "--timings", str(timings)]
            for _ in range(repeat):
                row.bare.append(measure([sys.executable, __file__, "--bare", str(program)]))
                row.preflight.append(measure(command))
                row.timings.append(json.loads(timings.read_text()))
            rows.append(row)
            print(f"  measured {mix} {pairs} pairs", file=sys.stderr, flush=True)
    return rows


def print_rows(rows: list[Row], repeat: int) -> None:
    print(f"\nTime and memory: median of {repeat} run(s) each, bare and preflight alternating; x = preflight / bare.")
    print(
        f"{'mix':>6} {'pairs':>5} {'resources':>9} | {'bare s':>7} {'preflight s':>11} {'time x':>6} | "
        f"{'bare MiB':>8} {'MiB':>5} {'mem x':>5} | {'ms/pair':>7} {'exit':>4}"
    )
    for row in rows:
        bare_s, pf_s = row.median(row.bare, lambda c: c.seconds), row.median(row.preflight, lambda c: c.seconds)
        bare_m, pf_m = max(c.mib for c in row.bare), max(c.mib for c in row.preflight)
        print(
            f"{row.mix:>6} {row.pairs:>5} {row.resources:>9} | {bare_s:>7.2f} {pf_s:>11.2f} {pf_s / bare_s:>6.2f} | "
            f"{bare_m:>8.0f} {pf_m:>5.0f} {pf_m / bare_m:>5.2f} | {1000 * pf_s / row.pairs:>7.1f} "
            f"{row.preflight[0].code:>4}"
        )
    print("\nCPU seconds (user + system, median): bare program; preflight's engine, program and pack processes.")
    print(
        f"{'mix':>6} {'pairs':>5} | {'bare':>6} | {'engine':>6} {'program':>7} {'packs':>6} {'total':>6} {'cpu x':>5}"
    )
    for row in rows:
        bare_cpu = row.median(row.bare, lambda c: c.cpu)
        engine, program, packs = (row.timing("cpu", k) for k in ("engine", "program", "packs"))
        total = engine + program + packs
        print(
            f"{row.mix:>6} {row.pairs:>5} | {bare_cpu:>6.2f} | {engine:>6.2f} {program:>7.2f} {packs:>6.2f} "
            f"{total:>6.2f} {total / bare_cpu:>5.2f}"
        )
    names = list(rows[0].timings[0]["phases"]) if rows and rows[0].timings else []
    print("\npreflight's phases (wall seconds, median): what the run waits for, in order.")
    print(f"{'mix':>6} {'pairs':>5} | " + " ".join(f"{name:>{max(len(name), 6)}}" for name in names))
    for row in rows:
        cells = (f"{row.timing('phases', name):>{max(len(name), 6)}.2f}" for name in names)
        print(f"{row.mix:>6} {row.pairs:>5} | " + " ".join(cells))


# The pack replayed in this process ----------------------------------------------------------------------------


def _load_pack(pack_dir: Path) -> Any:
    """The pack's pulumi-policy servicer, built from its own `__main__.py` without serving."""
    import pulumi_policy
    from pulumi_policy import policy as sdk

    captured: dict[str, Any] = {}

    class Capture:
        def __init__(self, name: str, policies: list[Any], enforcement_level: Any = None, **kwargs: Any) -> None:
            captured.update(name=name, policies=policies, level=enforcement_level, **kwargs)

    real = pulumi_policy.PolicyPack
    pulumi_policy.PolicyPack = Capture  # type: ignore[misc, assignment]
    sys.path.insert(0, str(pack_dir))
    try:
        runpy.run_path(str(pack_dir / "__main__.py"), run_name="__main__")
    finally:
        pulumi_policy.PolicyPack = real  # type: ignore[misc]
    level = captured["level"] or pulumi_policy.EnforcementLevel.ADVISORY
    return sdk._PolicyAnalyzerServicer(
        captured["name"], "0.0.1", captured["policies"], level, captured.get("initial_config")
    ), captured["policies"]


def pack_breakdown(program: Path, pack_dir: Path) -> dict[str, Any]:
    """Seconds of each step the engine and the pack take for this program's Analyze and AnalyzeStack calls."""
    from google.protobuf import empty_pb2
    from pulumi.runtime.proto import analyzer_pb2

    from secure_invoke.preflight import run_program
    from secure_invoke.preflight.packs.config import reconcile
    from secure_invoke.preflight.packs.protocol import (
        analyze_request,
        analyze_stack_request,
        configure_request,
        declared_policies,
        initial_config,
    )

    run = run_program(program, "dev")
    os.environ.update(
        {
            "PULUMI_CONFIG": json.dumps(run.config),
            "PULUMI_PROJECT": run.project,
            "PULUMI_STACK": run.stack,
            "PULUMI_DRY_RUN": "false",
        }
    )
    steps: dict[str, float] = {}

    # CPU seconds of this process (the replay runs on one thread): steady on a busy machine, unlike wall time.
    def timed(step: str, work: Callable[[], Any]) -> Any:
        start = time.process_time()
        result = work()
        steps[step] = steps.get(step, 0.0) + time.process_time() - start
        return result

    by_urn = run.by_urn()
    requests = timed(
        "engine: Analyze requests",
        lambda: [analyze_request(r, by_urn.get(r.provider_urn or "")) for r in run.resources],
    )
    stack_request = timed("engine: AnalyzeStack request", lambda: analyze_stack_request(run))
    blobs = timed("protobuf: serialise", lambda: [r.SerializeToString() for r in [*requests, stack_request]])
    timed(
        "protobuf: parse",
        lambda: (
            [analyzer_pb2.AnalyzeRequest.FromString(b) for b in blobs[:-1]]
            + [analyzer_pb2.AnalyzeStackRequest.FromString(blobs[-1])]
        ),
    )

    servicer, policies = _load_pack(pack_dir)
    info = servicer.GetAnalyzerInfo(empty_pb2.Empty(), None)
    servicer.Configure(
        configure_request(reconcile(info.name, "0.0.1", declared_policies(info), initial_config(info), None)), None
    )
    per_policy: dict[str, float] = defaultdict(float)
    for policy in policies:
        original = policy.validate

        def validate(args: Any, report: Any, _original: Any = original, _name: str = policy.name) -> Any:
            start = time.process_time()
            try:
                return _original(args, report)
            finally:
                per_policy[_name] += time.process_time() - start

        policy.validate = validate
    resource_names = {p.name for p in policies if type(p).__name__ == "ResourceValidationPolicy"}
    analyze = timed("pack: Analyze", lambda: [servicer.Analyze(r, None) for r in requests])
    timed("pack: AnalyzeStack", lambda: servicer.AnalyzeStack(stack_request, None))
    in_resource = sum(v for k, v in per_policy.items() if k in resource_names)
    in_stack = sum(v for k, v in per_policy.items() if k not in resource_names)
    return {
        "resources": len(run.resources),
        "violations": sum(len(a.diagnostics) for a in analyze),
        "steps": steps,
        "sdk": {
            "Analyze": steps["pack: Analyze"] - in_resource,
            "AnalyzeStack": steps["pack: AnalyzeStack"] - in_stack,
        },
        "policies": dict(per_policy),
        "stack_policies": sorted(set(per_policy) - resource_names),
    }


def print_breakdown(mix: str, pairs: int, found: dict[str, Any]) -> None:
    steps, sdk = found["steps"], found["sdk"]
    print(f"\nThe pack replayed in one process ({mix}, {pairs} pairs, {found['resources']:,} resources), CPU seconds:")
    for step in ("engine: Analyze requests", "engine: AnalyzeStack request", "protobuf: serialise", "protobuf: parse"):
        print(f"  {step:<40} {steps[step]:>7.2f}")
    policies = found["policies"]
    stack = set(found["stack_policies"])
    resource_total = sum(v for k, v in policies.items() if k not in stack)
    stack_total = sum(v for k, v in policies.items() if k in stack)
    print(f"  {'pack: Analyze, every resource':<40} {steps['pack: Analyze']:>7.2f}")
    print(f"    {'pulumi-policy (deserialising, per policy)':<38} {sdk['Analyze']:>7.2f}")
    print(f"    {f'{len(policies) - len(stack)} resource policies':<38} {resource_total:>7.2f}")
    print(f"  {'pack: AnalyzeStack':<40} {steps['pack: AnalyzeStack']:>7.2f}")
    print(f"    {'pulumi-policy (deserialising, per policy)':<38} {sdk['AnalyzeStack']:>7.2f}")
    print(f"    {f'{len(stack)} stack policies':<38} {stack_total:>7.2f}")
    print("  slowest policies:")
    for name, seconds in sorted(policies.items(), key=lambda kv: -kv[1])[:8]:
        print(f"    {name:<38} {seconds:>7.2f}{'  (stack)' if name in stack else ''}")


def stacks(repeat: int) -> tuple[float, float]:
    """(median seconds for dev then prod, median seconds for dev and prod at once) on this repository."""

    def one(stack: str) -> float:
        return measure(
            [sys.executable, "-m", "secure_invoke.preflight", "--stack", stack, "--json", os.devnull]
        ).seconds

    sequential, together = [], []
    for _ in range(repeat):
        sequential.append(one("dev") + one("prod"))
        start = time.perf_counter()
        with futures.ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, ["dev", "prod"]))
        together.append(time.perf_counter() - start)
    return statistics.median(sequential), statistics.median(together)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--mix",
        nargs="+",
        choices=sorted(MIXES),
        default=["own", "grants"],
        metavar="MIX",
        help=f"program mixes, of {', '.join(sorted(MIXES))}",
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10, 300, 1000], metavar="PAIRS", help="program sizes, in pairs"
    )
    parser.add_argument(
        "--policy-pack", type=Path, default=ROOT / "policies", metavar="DIR", help="the policy pack preflight runs"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs of bare and of preflight per size (median)")
    parser.add_argument(
        "--breakdown-pairs", type=int, default=300, help="size of the pack replay per mix (0: no replay)"
    )
    parser.add_argument("--stacks-repeat", type=int, default=3, help="repetitions of the dev+prod figure")
    parser.add_argument("--bare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare is not None:
        bare(args.bare)
        return
    print(f"load average at the start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as tmp:
        print_rows(measure_sizes(args.mix, args.sizes, args.policy_pack.resolve(), args.repeat, Path(tmp)), args.repeat)
        if args.breakdown_pairs > 0:
            for mix in args.mix:
                program = generate(Path(tmp), args.breakdown_pairs, mix)
                print_breakdown(mix, args.breakdown_pairs, pack_breakdown(program, args.policy_pack.resolve()))
    if args.stacks_repeat > 0:
        sequential, together = stacks(args.stacks_repeat)
        print(
            f"\ndev + prod one after the other: {sequential:.2f} s; at once: {together:.2f} s "
            f"({together / sequential:.2f}x)"
        )
    print(f"load average at the end: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
