"""The worker under load: throughput and p50/p99 at concurrency 32, with valid and with invalid tokens, and
what verification costs.

Starts one metadata-server stand-in (it also serves the certs, max-age 1 h) and two workers exactly as
deployed (the Dockerfile's CMD: waitress, WORKER_THREADS=8 = the stack's default container concurrency,
the default certs policy: 5 s fetch deadline, 30 s refresh interval); the second has verification
switched off through the harness-only variables (which the stack never sets and a deployed worker
refuses). Then, for `--seconds` each, `--concurrency` client threads (one keep-alive session each) POST
a small job (`primes`, limit 100) with:

- valid: one token reused, as the relay reuses its token for an hour; every id new;
- malformed: not a JWT;
- bad signature: our key id, signed by another key (verification runs the RSA check and fails);
- unknown key id: otherwise plausible tokens with random key ids (each could be a rotation: the
  worker may refetch the certs at most once per refresh interval, and answers 503);
- invalid anyway: wrong audience and an unknown key id (refused from the claims, no fetch).

Each kind runs in `--rounds` rounds, the order reversed every other round, so that drift on a
shared machine does not favour whichever kind runs first; the figures pool the rounds. Reports
requests/s, p50/p99 latency as the client sees it (the client runs on the same 2 CPUs), statuses,
the verifying worker's RSS before and after (from /proc), how many times the certs were fetched, the
machine's load average, and verification's overhead: throughput and p50 of valid tokens against the
same requests to the worker without verification ("valid, verification off"), as the median of
`--pairs` short back-to-back pairs in alternating order, with the pairs' spread (the target: at most
10 % each; exit 1 if missed).

    python benchmarks/load.py [--seconds 10] [--rounds 2] [--pairs 8] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import collections
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.stats import percentile  # noqa: E402
from local.processes import LOCAL_AUDIENCE, Proc, start_metadata_server, start_worker, stopping  # noqa: E402

EMAIL = "relay-runtime-bench@secure-invoke-bench.iam.gserviceaccount.com"
JOB = {"task": "primes", "limit": 100}
HARNESS_ENV = {"SECURE_INVOKE_BENCH_AUTH_OFF": "1", "SECURE_INVOKE_BENCH_HARNESS": "1"}
OFF = "valid, verification off"
TARGET_OVERHEAD = 0.10


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def signer(kid: str | None) -> crypt.RSASigner:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return crypt.RSASigner.from_string(pem, key_id=kid)


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": "https://accounts.google.com",
        "aud": LOCAL_AUDIENCE,
        "sub": "1" * 21,
        "email": EMAIL,
        "email_verified": True,
        "iat": now,
        "exp": now + 3600,
    }
    return {**base, **overrides}


def token_kinds(identity: Proc) -> dict[str, Callable[[int], str]]:
    url = identity.url + "/computeMetadata/v1/instance/service-accounts/default/identity"
    valid = requests.get(
        url, params={"audience": LOCAL_AUDIENCE}, headers={"Metadata-Flavor": "Google"}, timeout=5
    ).text
    kid = jwt.decode_header(valid)["kid"]
    forged = jwt.encode(signer(kid), claims()).decode()
    unknown = [jwt.encode(signer(f"rotated-{i:03d}"), claims()).decode() for i in range(64)]
    anyway = jwt.encode(signer("rotated-x"), claims(aud="https://elsewhere.example")).decode()
    return {
        "valid": lambda i: valid,
        "malformed": lambda i: "not-a-jwt-" + "x" * 40,
        "bad signature": lambda i: forged,
        "unknown key id": lambda i: unknown[i % len(unknown)],
        "invalid anyway": lambda i: anyway,
    }


def run_phase(worker: Proc, token_for: Callable[[int], str], seconds: float, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()
    start = threading.Barrier(concurrency + 1)
    stop_at = [0.0]

    def client(n: int) -> None:
        mine: list[float] = []
        seen: collections.Counter[int] = collections.Counter()
        with requests.Session() as session:
            start.wait()
            i = n
            while time.perf_counter() < stop_at[0]:
                body = {"id": f"{n}-{i}-{time.perf_counter_ns()}", "job": JOB}
                headers = {"Authorization": f"Bearer {token_for(i)}"}
                began = time.perf_counter()
                response = session.post(worker.url + "/jobs", json=body, headers=headers, timeout=60)
                mine.append((time.perf_counter() - began) * 1000)
                seen[response.status_code] += 1
                i += concurrency
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start.wait()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    return {"latencies": latencies, "elapsed": elapsed, "statuses": statuses}


def overhead(on: dict[str, Any], off: dict[str, Any]) -> tuple[float, float]:
    """(throughput lost, p50 added) by verification, as fractions of the verification-off figures."""
    rate_on, rate_off = len(on["latencies"]) / on["elapsed"], len(off["latencies"]) / off["elapsed"]
    return 1 - rate_on / rate_off, percentile(on["latencies"], 50) / percentile(off["latencies"], 50) - 1


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase of the token kinds")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per kind, order reversed every other round")
    parser.add_argument("--pairs", type=int, default=8, help="valid / verification-off pairs for the overhead")
    parser.add_argument("--pair-seconds", type=float, default=4.0, help="duration of each side of a pair")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once")
    args = parser.parse_args()

    load_before = os.getloadavg()
    pooled: dict[str, dict[str, Any]] = {}
    pairs: list[tuple[float, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, stopping() as procs:
        workdir = Path(tmp)
        identity = start_metadata_server(EMAIL, workdir / "key.pem", workdir, certs_max_age=3600)
        procs.append(identity)
        certs_url = identity.url + "/oauth2/v1/certs"
        worker = start_worker(LOCAL_AUDIENCE, EMAIL, certs_url, workdir)
        procs.append(worker)
        worker_off = start_worker(LOCAL_AUDIENCE, EMAIL, certs_url, workdir, HARNESS_ENV, name="worker-noauth")
        procs.append(worker_off)
        if not any(str(r.get("token_verification", "")).startswith("OFF") for r in worker_off.log_records()):
            raise SystemExit("harness worker did not switch verification off")
        kinds = token_kinds(identity)
        for target in (worker, worker_off):
            run_phase(target, kinds["valid"], 2.0, args.concurrency)  # warm-up: certs fetched, pools open
        rss_before = rss_mib(worker.popen.pid)
        certs_before = requests.get(identity.url + "/_stats", timeout=5).json()["certs_served"]

        def measure(name: str, target: Proc, token_for: Callable[[int], str], seconds: float) -> dict[str, Any]:
            before = requests.get(identity.url + "/_stats", timeout=5).json()["certs_served"]
            phase = run_phase(target, token_for, seconds, args.concurrency)
            after = requests.get(identity.url + "/_stats", timeout=5).json()["certs_served"]
            into = pooled.setdefault(
                name, {"latencies": [], "elapsed": 0.0, "statuses": collections.Counter(), "certs": 0}
            )
            into["latencies"] += phase["latencies"]
            into["elapsed"] += phase["elapsed"]
            into["statuses"].update(phase["statuses"])
            into["certs"] += after - before
            return phase

        for round_ in range(args.rounds):
            for name in list(kinds) if round_ % 2 == 0 else list(reversed(kinds)):
                measure(name, worker, kinds[name], args.seconds)
        # The overhead: short back-to-back pairs, in alternating order, so the shared machine's drift hits
        # both sides alike; the median pair is the figure.
        for pair in range(args.pairs):
            sides = [("valid", worker), (OFF, worker_off)]
            phases = {name: measure(name, target, kinds["valid"], args.pair_seconds)
                      for name, target in (sides if pair % 2 == 0 else reversed(sides))}  # fmt: skip
            pairs.append(overhead(phases["valid"], phases[OFF]))
        rss_after = rss_mib(worker.popen.pid)
        certs_after = requests.get(identity.url + "/_stats", timeout=5).json()["certs_served"]
    load_after = os.getloadavg()

    print(
        f"load benchmark: concurrency {args.concurrency}, {args.rounds} x {args.seconds:g} s per kind, "
        f"{args.pairs} pairs of {args.pair_seconds:g} s for the overhead, job {JOB}, "
        f"one worker process with 8 request threads, {os.cpu_count()} CPUs"
    )
    print(f"{'tokens':<24}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'certs':>7}  statuses")
    for name, r in pooled.items():
        latencies = r["latencies"]
        print(
            f"{name:<24}{len(latencies):>9}{len(latencies) / r['elapsed']:>9.0f}{percentile(latencies, 50):>9.2f}"
            f"{percentile(latencies, 99):>9.2f}{r['certs']:>7}  {dict(sorted(r['statuses'].items()))}"
        )
    print(f"worker RSS: {rss_before:.1f} MiB before the phases, {rss_after:.1f} MiB after")
    print(f"certs fetches during the phases: {certs_after - certs_before} (refresh interval 30 s)")
    print(f"load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    losses, additions = [a * 100 for a, _ in pairs], [b * 100 for _, b in pairs]
    lost, added = statistics.median(losses) / 100, statistics.median(additions) / 100
    print(
        f"verification overhead, median of {len(pairs)} pairs: throughput {-lost * 100:+.1f} % "
        f"(pairs {-max(losses):+.1f} .. {-min(losses):+.1f} %), "
        f"p50 {added * 100:+.1f} % (pairs {min(additions):+.1f} .. {max(additions):+.1f} %)"
    )
    within = lost <= TARGET_OVERHEAD and added <= TARGET_OVERHEAD
    print(f"target at most {TARGET_OVERHEAD * 100:.0f} % each at concurrency {args.concurrency}: "
          f"{'met' if within else 'MISSED'}")  # fmt: skip
    return 0 if within else 1


if __name__ == "__main__":
    sys.exit(main())
