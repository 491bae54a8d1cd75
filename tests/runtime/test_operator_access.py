"""Just-in-time operator access, locally: a person signs in, mints an ID token as the operator account
through google-auth's real impersonation code against the IAM Credentials stand-in, and only while a grant
of the access file is live."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from google.auth import exceptions, jwt

from local.iam_credentials import Credentials, load_access, serve
from local.identity import Identity, load_or_create_key
from local.operator import operator_id_token, sign_in

OPERATOR = "worker-operator-test@secure-invoke-test.iam.gserviceaccount.com"
AUDIENCE = "https://worker-test.secure-invoke.internal"


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Credentials]]:
    workdir: Path = tmp_path_factory.mktemp("iam")
    access_file = workdir / "access.json"
    access_file.write_text(
        json.dumps(
            {
                "operator": OPERATOR,
                "grants": [
                    {"principal": "group:oncall@acme.com", "expires": _at(1), "reason": "INC-1"},
                    {"principal": "user:former@acme.com", "expires": _at(-1), "reason": "INC-0"},
                ],
                "groups": {"oncall@acme.com": ["alice@acme.com"]},
            }
        )
    )
    operator = Identity(OPERATOR, load_or_create_key(workdir / "key.pem"), 3600, 3600)
    creds = Credentials(load_access(access_file), operator, 3600)
    server = serve(creds, "127.0.0.1", 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", creds
    server.shutdown()


def test_a_group_member_mints_an_operator_token_through_google_auth(stand_in: tuple[str, Credentials]) -> None:
    url, creds = stand_in
    token = operator_id_token(sign_in(url, "alice@acme.com"), OPERATOR, AUDIENCE, url)
    claims = jwt.decode(token, certs=creds.certs, audience=AUDIENCE)
    assert claims["email"] == OPERATOR and claims["email_verified"] is True
    assert claims["iss"] == "https://accounts.google.com"


@pytest.mark.parametrize("user", ["former@acme.com", "mallory@acme.com"])
def test_no_live_grant_no_token(stand_in: tuple[str, Credentials], user: str) -> None:
    url, _ = stand_in
    with pytest.raises(exceptions.RefreshError, match="PERMISSION_DENIED"):
        operator_id_token(sign_in(url, user), OPERATOR, AUDIENCE, url)


def test_another_account_is_not_reachable_with_the_operator_grant(stand_in: tuple[str, Credentials]) -> None:
    url, _ = stand_in
    with pytest.raises(exceptions.RefreshError, match="PERMISSION_DENIED"):
        operator_id_token(sign_in(url, "alice@acme.com"), "relay-runtime-test@x.iam.gserviceaccount.com", AUDIENCE, url)


def test_a_forged_or_missing_person_token_is_unauthenticated(stand_in: tuple[str, Credentials]) -> None:
    url, _ = stand_in
    path = f"/v1/projects/-/serviceAccounts/{OPERATOR}:generateIdToken"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = requests.post(url + path, json={"audience": AUDIENCE}, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"
