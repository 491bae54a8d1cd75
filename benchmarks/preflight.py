"""What does preflight cost over simply running the program under Pulumi's mocks?

Generates Pulumi programs of 10, 100 and 1,000 relay/worker pairs (plain pulumi-gcp resources, 10
per pair: four service accounts, a topic, a Cloud Run worker, a gen2 function, two invoker grants and a
bucket for the source, a build service account), then measures, in child processes of this one run:

- bare: the program under the SDK's stock mocks (`set_mocks` with echoing mocks), as a unit test runs it;
- preflight: `python -m secure_invoke.preflight` on the same program with a policy pack (default: this repository's),
  i.e. preflight's engine + the program in its own process over gRPC + the pack's analyzer process + the report.

Then this repository's dev and prod stacks, checked one after the other and concurrently (two
`python -m secure_invoke.preflight` processes at once), as CI's preflight jobs would.

Seconds are wall-clock (median of several repetitions for the small sizes); peak memory is the
child's ru_maxrss from wait4 (RUSAGE of the largest process of its tree: preflight, the program or the pack).

    python benchmarks/preflight.py [--sizes 10 100 1000] [--policy-pack DIR] [--repeat N] [--stacks-repeat N]
"""

from __future__ import annotations

import argparse
import os
import runpy
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """\
import pulumi
import pulumi_gcp as gcp

config = pulumi.Config()
pairs = config.require_int("pairs")
region = "europe-west1"
image = "europe-docker.pkg.dev/bench/images/worker@sha256:" + "0" * 64

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


def generate(directory: Path, pairs: int) -> Path:
    program = directory / f"pairs-{pairs}"
    program.mkdir(parents=True, exist_ok=True)
    (program / "Pulumi.yaml").write_text("name: bench\nruntime: python\n")
    (program / "Pulumi.dev.yaml").write_text(
        f"config:\n  gcp:project: bench-project\n  gcp:region: europe-west1\n  pairs: {pairs}\n"
    )
    (program / "__main__.py").write_text(PROGRAM)
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


def measure(argv: list[str]) -> tuple[float, float, int]:
    """(seconds, peak MiB, exit status) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    code = process.returncode
    if code not in (0, 1):
        raise SystemExit(f"{' '.join(argv[:4])} failed ({code}): {error.strip().splitlines()[-1:]}")
    return seconds, usage.ru_maxrss / 1024, code


def stacks(repeat: int) -> tuple[float, float]:
    """(median seconds for dev then prod, median seconds for dev and prod at once) on this repository."""

    def one(stack: str) -> float:
        return measure([sys.executable, "-m", "secure_invoke.preflight", "--stack", stack, "--json", os.devnull])[0]

    sequential, together = [], []
    for _ in range(repeat):
        sequential.append(one("dev") + one("prod"))
        start = time.perf_counter()
        with futures.ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(one, ["dev", "prod"]))
        together.append(time.perf_counter() - start)
    return statistics.median(sequential), statistics.median(together)


Row = tuple[int, int, float, float, float, float, int]


def measure_sizes(sizes: list[int], policy_pack: Path, repeat: int) -> list[Row]:
    """One row per size: pairs, resources, bare seconds and MiB, preflight seconds and MiB, preflight's exit."""
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="preflight-bench-") as tmp:
        for pairs in sizes:
            program = generate(Path(tmp), pairs)
            times = repeat if pairs < 1000 else 1
            bare_runs = [measure([sys.executable, __file__, "--bare", str(program)]) for _ in range(times)]
            command = [sys.executable, "-m", "secure_invoke.preflight", "--program", str(program)]
            command += ["--policy-pack", str(policy_pack), "--json", os.devnull]
            preflight_runs = [measure(command) for _ in range(times)]
            rows.append(
                (
                    pairs,
                    pairs * 10,
                    statistics.median(r[0] for r in bare_runs),
                    max(r[1] for r in bare_runs),
                    statistics.median(r[0] for r in preflight_runs),
                    max(r[1] for r in preflight_runs),
                    preflight_runs[0][2],
                )
            )
            print(f"  measured {pairs} pairs", file=sys.stderr, flush=True)
    return rows


def print_rows(rows: list[Row]) -> None:
    print(
        f"{'pairs':>6} {'resources':>9} | {'bare s':>7} {'bare MiB':>8} | {'preflight s':>11} {'MiB':>6} "
        f"{'exit':>4} | {'time x':>6} {'mem x':>5} | {'ms/pair':>7}"
    )
    for pairs, resources, bare_s, bare_mib, pf_s, pf_mib, code in rows:
        print(
            f"{pairs:>6} {resources:>9} | {bare_s:>7.2f} {bare_mib:>8.0f} | {pf_s:>11.2f} {pf_mib:>6.0f} {code:>4} | "
            f"{pf_s / bare_s:>6.2f} {pf_mib / bare_mib:>5.2f} | {1000 * pf_s / pairs:>7.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[10, 100, 1000],
        metavar="PAIRS",
        help="program sizes, in relay/worker pairs",
    )
    parser.add_argument(
        "--policy-pack", type=Path, default=ROOT / "policies", metavar="DIR", help="the policy pack preflight runs"
    )
    parser.add_argument("--repeat", type=int, default=5, help="repetitions below 1,000 pairs (median reported)")
    parser.add_argument("--stacks-repeat", type=int, default=5, help="repetitions of the dev+prod figure")
    parser.add_argument("--bare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare is not None:
        bare(args.bare)
        return
    print_rows(measure_sizes(args.sizes, args.policy_pack, args.repeat))
    if args.stacks_repeat > 0:
        sequential, together = stacks(args.stacks_repeat)
        print(
            f"dev + prod one after the other: {sequential:.2f} s; at once: {together:.2f} s "
            f"({together / sequential:.2f}x)"
        )


if __name__ == "__main__":
    main()
