"""A Cloud Scheduler-like caller, locally: one HTTP call with its OIDC token in `Authorization` only.

Cloud Scheduler, Pub/Sub push subscriptions, Cloud Tasks, Workflows and Eventarc can put their OIDC token
nowhere else, so behind Cloud Run's IAM invoker check the worker receives it with its signature removed
(docs/design.md §3). This caller mints its token as its own identity through google-auth's real metadata
path (`fetch_id_token`), against the metadata stand-in named by GCE_METADATA_HOST / GCE_METADATA_IP, which
must be in the environment before this process starts (google-auth reads GCE_METADATA_HOST at import).

    GCE_METADATA_HOST=127.0.0.1:PORT GCE_METADATA_IP=127.0.0.1:PORT \\
        python -m local.scheduler --url URL --audience AUD --id ID --job '{"task": "primes", "limit": 10}'

Prints one JSON line: the status and the worker's answer (or the front end's page).
"""

from __future__ import annotations

import argparse
import json
import sys

import google.auth.transport.requests
import google.oauth2.id_token
import requests
from google.auth import exceptions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.scheduler", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--url", required=True, help="the service's base URL (the front end)")
    parser.add_argument("--audience", required=True, help="the audience to mint the ID token for")
    parser.add_argument("--id", required=True, help="the job id")
    parser.add_argument("--job", required=True, help="the job, as JSON")
    args = parser.parse_args(argv)
    try:
        job = json.loads(args.job)
    except ValueError:
        print(f"local.scheduler: --job is not JSON: {args.job!r}", file=sys.stderr)
        return 2
    try:
        token = google.oauth2.id_token.fetch_id_token(google.auth.transport.requests.Request(), args.audience)
    except exceptions.GoogleAuthError as exc:
        print(f"local.scheduler: no ID token from the metadata server ({type(exc).__name__})", file=sys.stderr)
        return 1
    response = requests.post(
        args.url.rstrip("/") + "/jobs",
        json={"id": args.id, "job": job},
        headers={"Authorization": f"Bearer {token}"},  # the only header such callers can use
        timeout=60,
    )
    try:
        answer = response.json()
    except ValueError:
        answer = response.text[:200]
    print(json.dumps({"status": response.status_code, "answer": answer}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
