"""The worker under load: throughput and p50/p99 at concurrency 32, with valid and with invalid tokens.

Starts one metadata-server stand-in (it also serves the certs, max-age 1 h) and one worker exactly
as deployed (the Dockerfile's CMD, gunicorn gthread, WORKER_THREADS=8 = the stack's default
container concurrency, the default certs policy: 5 s fetch deadline, 30 s refresh interval).
Then, for `--seconds` each, `--concurrency` client threads (one keep-alive session each) POST a
small job (`primes`, limit 100) with:

- valid: one token reused, as the relay reuses its token for an hour; every id new;
- malformed: not a JWT;
- bad signature: our key id, signed by another key (verification runs the RSA check and fails);
- unknown key id: otherwise plausible tokens with random key ids (each could be a rotation: the
  worker may refetch the certs at most once per refresh interval, and answers 503);
- invalid anyway: wrong audience and an unknown key id (refused from the claims, no fetch).

Each kind runs in `--rounds` rounds, the order reversed every other round, so that drift on a
shared machine does not favour whichever kind runs first; the figures pool the rounds. Reports
requests/s, p50/p99 latency as the client sees it (the client runs on the same 2 CPUs), statuses,
the worker's RSS before and after (its gunicorn worker process, from /proc), how many times the
certs were fetched, and the machine's load average.

    python benchmarks/load.py [--seconds 10] [--rounds 2] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import collections
import os
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


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def gunicorn_worker_pid(master: int) -> int:
    """The one worker process gunicorn forked (the app and its caches live there)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                return int(entry.name)
    raise RuntimeError("gunicorn worker process not found")


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


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per kind, order reversed every other round")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at once")
    args = parser.parse_args()

    load_before = os.getloadavg()
    pooled: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, stopping() as procs:
        workdir = Path(tmp)
        identity = start_metadata_server(EMAIL, workdir / "key.pem", workdir, certs_max_age=3600)
        procs.append(identity)
        worker = start_worker(LOCAL_AUDIENCE, EMAIL, identity.url + "/oauth2/v1/certs", workdir)
        procs.append(worker)
        kinds = token_kinds(identity)
        run_phase(worker, kinds["valid"], 2.0, args.concurrency)  # warm-up: certs fetched, pools open
        pid = gunicorn_worker_pid(worker.popen.pid)
        rss_before = rss_mib(pid)
        certs_before = requests.get(identity.url + "/_stats", timeout=5).json()["certs_served"]
        for round_ in range(args.rounds):
            order = list(kinds) if round_ % 2 == 0 else list(reversed(kinds))
            for name in order:
                before = requests.get(identity.url + "/_stats", timeout=5).json()["certs_served"]
                phase = run_phase(worker, kinds[name], args.seconds, args.concurrency)
                after = requests.get(identity.url + "/_stats", timeout=5).json()["certs_served"]
                into = pooled.setdefault(
                    name, {"latencies": [], "elapsed": 0.0, "statuses": collections.Counter(), "certs": 0}
                )
                into["latencies"] += phase["latencies"]
                into["elapsed"] += phase["elapsed"]
                into["statuses"].update(phase["statuses"])
                into["certs"] += after - before
        rss_after = rss_mib(pid)
        certs_after = requests.get(identity.url + "/_stats", timeout=5).json()["certs_served"]
    load_after = os.getloadavg()

    print(
        f"load benchmark: concurrency {args.concurrency}, {args.rounds} x {args.seconds:g} s per kind, job {JOB}, "
        f"one worker process with 8 threads, {os.cpu_count()} CPUs"
    )
    print(f"{'tokens':<16}{'requests':>9}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'certs':>7}  statuses")
    for name, r in pooled.items():
        latencies = r["latencies"]
        print(
            f"{name:<16}{len(latencies):>9}{len(latencies) / r['elapsed']:>9.0f}{percentile(latencies, 50):>9.2f}"
            f"{percentile(latencies, 99):>9.2f}{r['certs']:>7}  {dict(sorted(r['statuses'].items()))}"
        )
    print(f"worker RSS: {rss_before:.1f} MiB before the phases, {rss_after:.1f} MiB after")
    print(f"certs fetches during the phases: {certs_after - certs_before} (refresh interval 30 s)")
    print(f"load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
