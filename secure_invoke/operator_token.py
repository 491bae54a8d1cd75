"""An ID token for a service account, minted with a person's own credentials by one call to the IAM Credentials
API's `generateIdToken`: the one permission `roles/iam.serviceAccountOpenIdTokenCreator` holds
(`iam.serviceAccounts.getOpenIdToken`), so it works with the narrow grant operator access gives.

    python -m secure_invoke.operator_token --service-account EMAIL --audience AUDIENCE [--access-token-stdin]

`gcloud auth print-identity-token --impersonate-service-account=…` does not: it first refreshes an impersonated
*access* token (`generateAccessToken`, permission `iam.serviceAccounts.getAccessToken`), which that role lacks.
The person's own credential is Application Default Credentials (`gcloud auth application-default login`), or,
with `--access-token-stdin`, an access token on standard input (`gcloud auth print-access-token | …`).
Prints the ID token. Exit 1 with Google's status and message when it refuses (no live grant), 2 with one line
for bad input or no credentials.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any

import google.auth
import google.auth.exceptions
import google.auth.transport.requests
import requests

IAM_CREDENTIALS = "https://iamcredentials.googleapis.com"
CLOUD_PLATFORM = "https://www.googleapis.com/auth/cloud-platform"
_SERVICE_ACCOUNT = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]@[a-z][a-z0-9-]{4,28}[a-z0-9]\.iam\.gserviceaccount\.com$")


class TokenError(Exception):
    """Google refused, or answered with no token; the message says which, with Google's status."""


def request_body(audience: str) -> dict[str, Any]:
    """What `generateIdToken` takes: the audience, the account's email in the token, no delegation chain."""
    return {"audience": audience, "includeEmail": True, "delegates": []}


def generate_id_token(
    session: requests.Session, service_account: str, audience: str, endpoint: str = IAM_CREDENTIALS, timeout: float = 30
) -> str:
    """POST …/v1/projects/-/serviceAccounts/<email>:generateIdToken through `session`, which carries the person's
    own credentials; returns the token."""
    url = f"{endpoint.rstrip('/')}/v1/projects/-/serviceAccounts/{service_account}:generateIdToken"
    response = session.post(url, json=request_body(audience), timeout=timeout)
    try:
        answer = response.json()
    except ValueError:
        answer = {}
    if response.status_code != 200:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        raise TokenError(
            f"generateIdToken for {service_account}: {response.status_code} {error.get('status', '')} "
            f"{error.get('message', response.text[:200])}".strip()
        )
    token = answer.get("token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise TokenError(f"generateIdToken for {service_account}: answer has no token")
    return token


def person_session(access_token: str | None) -> requests.Session:
    """A session authorized as the person: the given access token, else Application Default Credentials."""
    if access_token is not None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {access_token}"
        return session
    credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM])
    return google.auth.transport.requests.AuthorizedSession(credentials)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m secure_invoke.operator_token",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--service-account",
        required=True,
        help="the account to mint for, e.g. worker-operator-<env>@<project>.iam.gserviceaccount.com",
    )
    parser.add_argument(
        "--audience", required=True, help="the token's audience: the worker's (pulumi stack output worker_audience)"
    )
    parser.add_argument(
        "--access-token-stdin",
        action="store_true",
        help="read the person's access token from standard input instead of using Application Default Credentials",
    )
    parser.add_argument("--endpoint", default=IAM_CREDENTIALS, help="the IAM Credentials API's base URL")
    args = parser.parse_args(argv)
    if not _SERVICE_ACCOUNT.match(args.service_account):
        print(
            f"operator_token: --service-account {args.service_account!r} is not a service account email",
            file=sys.stderr,
        )
        return 2
    access_token = None
    if args.access_token_stdin:
        access_token = sys.stdin.read().strip()
        if not access_token or any(c.isspace() for c in access_token):
            print("operator_token: --access-token-stdin: standard input holds no access token", file=sys.stderr)
            return 2
    try:
        token = generate_id_token(person_session(access_token), args.service_account, args.audience, args.endpoint)
    except google.auth.exceptions.DefaultCredentialsError as err:
        print(f"operator_token: no credentials of yours: {str(err).splitlines()[0]}", file=sys.stderr)
        return 2
    except google.auth.exceptions.RefreshError as err:
        print(f"operator_token: your credentials could not be refreshed: {err}", file=sys.stderr)
        return 2
    except requests.RequestException as err:
        print(f"operator_token: {args.endpoint} unreachable: {type(err).__name__}", file=sys.stderr)
        return 2
    except TokenError as err:
        print(f"operator_token: {err}", file=sys.stderr)
        return 1
    print(token)
    return 0


if __name__ == "__main__":
    sys.exit(main())
