"""What does the worker's own token verification cost? p50/p99 of a relay -> worker call, with and without.

Starts one metadata-server stand-in, two workers (one verifying, one with verification switched
off through the harness-only variables, which the stack never sets and a deployed worker refuses)
and one relay in front of each, then alternates the same small job through both pairs so drift
hits both equally. Reports:

- relay -> worker: the relay's own measurement (its `elapsed_ms` log field: token from the cached
  credentials, POST, response), the call the target is about;
- end to end: the publisher's view of the whole CloudEvent delivery;
- the relay module's import time (`python -X importtime`) and what its deferred imports cost;
- the stand-in's counters (ID tokens minted, certs served) over the run.

    python benchmarks/auth.py [--calls 1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stats import percentile  # noqa: E402
from local.processes import (  # noqa: E402
    LOCAL_AUDIENCE,
    RELAY_SOURCE,
    Proc,
    pubsub_event,
    start_metadata_server,
    start_pubsub,
    start_relay,
    start_worker,
    stopping,
)

EMAIL = "relay-runtime-bench@secure-invoke-bench.iam.gserviceaccount.com"
HARNESS_ENV = {"SECURE_INVOKE_BENCH_AUTH_OFF": "1", "SECURE_INVOKE_BENCH_HARNESS": "1"}
JOB = {"task": "primes", "limit": 1000}
TARGET_RATIO = 1.20


def import_time_ms(code: str, module: str, runs: int = 7) -> float:
    """Median cumulative import time of `module` (ms) as reported by -X importtime."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            cwd=RELAY_SOURCE.parent,
            capture_output=True,
            text=True,
            check=True,
        )
        for line in done.stderr.splitlines():
            parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
            if len(parts) == 3 and parts[2] == module:
                samples.append(int(parts[1]) / 1000)
    return statistics.median(samples)


def run_calls(relays: dict[str, Proc], calls: int, warmup: int) -> dict[str, list[float]]:
    end_to_end: dict[str, list[float]] = {name: [] for name in relays}
    with requests.Session() as session:
        for i in range(warmup + calls):
            for name, relay in relays.items():
                headers, body = pubsub_event(JOB)
                started = time.perf_counter()
                response = session.post(relay.url + "/", data=body, headers=headers, timeout=30)
                elapsed = (time.perf_counter() - started) * 1000
                if response.status_code != 200:
                    raise SystemExit(f"{name}: relay answered {response.status_code}")
                if i >= warmup:
                    end_to_end[name].append(elapsed)
    return end_to_end


def relay_side(relay: Proc, skip: int) -> list[float]:
    delivered = [r for r in relay.log_records() if r.get("message") == "job delivered"]
    return [float(r["elapsed_ms"]) for r in delivered[skip:]]


def measure(calls: int, warmup: int) -> tuple[dict[str, list[float]], dict[str, list[float]], dict[str, int]]:
    """(end to end, relay -> worker hop, the metadata stand-in's counters), each latency list per variant."""
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp, stopping() as procs:
        workdir = Path(tmp)
        identity = start_metadata_server(EMAIL, workdir / "key.pem", workdir, certs_max_age=3600)
        procs.append(identity)
        pubsub = start_pubsub(identity.url + "/tokeninfo", EMAIL, workdir)  # the relays' dead-letter topic
        procs.append(pubsub)
        certs = identity.url + "/oauth2/v1/certs"
        worker_on = start_worker(LOCAL_AUDIENCE, EMAIL, certs, workdir, name="worker-auth")
        worker_off = start_worker(LOCAL_AUDIENCE, EMAIL, certs, workdir, HARNESS_ENV, name="worker-noauth")
        procs += [worker_on, worker_off]
        relays = {
            name: start_relay(
                target.url, LOCAL_AUDIENCE, identity.url, workdir, name=f"relay-{name}", pubsub_url=pubsub.url
            )
            for name, target in (("auth", worker_on), ("no-auth", worker_off))
        }
        procs += relays.values()
        if not any(r.get("token_verification", "").startswith("OFF") for r in worker_off.log_records()):
            raise SystemExit("harness worker did not switch verification off")

        end_to_end = run_calls(relays, calls, warmup)
        hop = {name: relay_side(relay, warmup) for name, relay in relays.items()}
        return end_to_end, hop, requests.get(identity.url + "/_stats", timeout=5).json()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--calls", type=int, default=1000, help="measured calls per variant")
    parser.add_argument(
        "--warmup", type=int, default=50, help="unmeasured calls per variant first (connections, caches)"
    )
    args = parser.parse_args()
    end_to_end, hop, counters = measure(args.calls, args.warmup)

    print(f"auth benchmark: {args.calls} calls per variant after {args.warmup} warm-up, job {JOB}")
    print(f"{'measure':<24}{'p50 ms':>9}{'p99 ms':>9}")
    ratios = {}
    for label, samples in (("relay -> worker", hop), ("end to end", end_to_end)):
        for name in ("auth", "no-auth"):
            values = samples[name]
            print(f"{label + ' ' + name:<24}{percentile(values, 50):>9.2f}{percentile(values, 99):>9.2f}")
        ratios[label] = percentile(samples["auth"], 50) / percentile(samples["no-auth"], 50)
    for label, ratio in ratios.items():
        print(f"p50 ratio auth / no-auth, {label}: {ratio:.3f} (+{(ratio - 1) * 100:.1f}%)")
    print(
        f"stand-in counters: {counters['identity_tokens']} ID tokens minted (2 relays), "
        f"{counters['certs_served']} certs fetches (1 verifying worker), "
        f"for {2 * (args.calls + args.warmup)} invocations"
    )

    print_import_cost()
    within = ratios["relay -> worker"] <= TARGET_RATIO
    print(f"target auth <= +{(TARGET_RATIO - 1) * 100:.0f}% at p50 (relay -> worker): {'met' if within else 'MISSED'}")
    return 0 if within else 1


def print_import_cost() -> None:
    module_ms = import_time_ms("import functions_framework; import main", "main")
    deferred_ms = import_time_ms(
        "import functions_framework, main; import google.oauth2.id_token, google.auth.transport.requests",
        "google.auth.transport.requests",
    ) + import_time_ms("import functions_framework, main; import google.oauth2.id_token", "google.oauth2.id_token")
    print(f"relay import (-X importtime, functions_framework preloaded as on the host): {module_ms:.1f} ms")
    print(f"deferred to the first invocation (google-auth ID token + transport): ~{deferred_ms:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
