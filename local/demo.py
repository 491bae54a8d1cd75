"""`make local`: the whole flow on one machine, with google-auth's real token paths.

Starts the metadata-server stand-in, the worker (the Dockerfile's CMD) and the relay
(functions-framework), publishes a few jobs as Pub/Sub CloudEvents, prints each job's result and
the caller the worker verified, then stops everything. The signing key lives in a temporary
directory and is deleted at the end.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import requests

from local.processes import (
    LOCAL_AUDIENCE,
    Proc,
    StartupError,
    get_json,
    pubsub_event,
    start_identity,
    start_relay,
    start_worker,
)

RELAY_EMAIL = "relay-runtime-local@secure-invoke-local.iam.gserviceaccount.com"
SAMPLE_JOBS = [
    ("job-1", {"task": "primes", "limit": 1_000_000}),
    ("job-2", {"task": "hash", "input": "hello", "iterations": 200_000}),
    ("job-1", {"task": "primes", "limit": 1_000_000}),  # a redelivery: must not be processed again
    ("job-3", {"task": "primes", "limit": -5}),  # rejected by the worker: acknowledged, not retried
]


def publish(relay: Proc, message_id: str, job: object) -> int:
    headers, body = pubsub_event(job, message_id=message_id)
    return requests.post(relay.url + "/", data=body, headers=headers, timeout=30).status_code


def run(workdir: Path) -> int:
    procs: list[Proc] = []
    try:
        identity = start_identity(RELAY_EMAIL, workdir / "signing-key.pem", workdir)
        procs.append(identity)
        worker = start_worker(LOCAL_AUDIENCE, RELAY_EMAIL, identity.url + "/oauth2/v1/certs", workdir)
        procs.append(worker)
        relay = start_relay(worker.url, LOCAL_AUDIENCE, identity.url, workdir)
        procs.append(relay)
        print(f"stand-in {identity.url}  worker {worker.url}  relay {relay.url}")

        for message_id, job in SAMPLE_JOBS:
            status = publish(relay, message_id, job)
            delivered = [
                r for r in relay.log_records() if r.get("message_id") == message_id and r.get("component") == "relay"
            ]
            last = delivered[-1] if delivered else {}
            print(f"\n{message_id} {job}\n  relay answered {status} ({last.get('message', 'no log line')})")
            if last.get("message") == "job delivered":
                print(f"  verified caller: {last.get('verified_caller')}")
                print(f"  duplicate: {last.get('duplicate')}  result: {last.get('result')}")
            else:
                print(f"  worker status {last.get('worker_status')}: {last.get('reason')}")

        stats = get_json(identity.url + "/_stats")
        processed = sum(1 for r in worker.log_records() if r.get("message") == "job processed")
        print(
            f"\nID tokens minted: {stats['identity_tokens']}, certs served: {stats['certs_served']}, "
            f"jobs computed by the worker: {processed} (of {len(SAMPLE_JOBS)} deliveries)"
        )
        return 0
    except StartupError as exc:
        print(f"local demo: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(procs):
            proc.stop()


def main() -> int:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="secure-invoke-local-") as tmp:
        code = run(Path(tmp))
    print(f"stopped all processes ({time.perf_counter() - started:.1f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
