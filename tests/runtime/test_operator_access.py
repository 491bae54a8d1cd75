"""Just-in-time operator access, locally and for real: a person signs in, mints an ID token as the operator
account through google-auth's own impersonation code against the IAM Credentials stand-in (a process),
only while a grant of the access file is live, and calls the worker, which audits the call as an operator's."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from google.auth import exceptions, jwt

from local.iam_credentials import main as iam_credentials_main
from local.operator import operator_id_token, sign_in
from local.processes import Proc
from tests.runtime.helpers import AUDIENCE, RELAY_EMAIL, Launcher, new_id, wait_for_records

OPERATOR = "worker-operator-test@secure-invoke-test.iam.gserviceaccount.com"
JOB = {"task": "primes", "limit": 1000}


def _at(days: float) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def iam(launcher: Launcher, identity: Proc) -> Proc:
    """The IAM Credentials stand-in, signing with the same key as the metadata stand-in (Google's keys)."""
    access_file = launcher.workdir / "operator-access.json"
    access_file.write_text(
        json.dumps(
            {
                "operator": OPERATOR,
                "grants": [
                    {"principal": "group:oncall@acme.com", "expires": _at(1), "reason": "INC-1 replay a job"},
                    {"principal": "user:former@acme.com", "expires": _at(-1), "reason": "INC-0"},
                ],
                "groups": {"oncall@acme.com": ["alice@acme.com"]},
            }
        )
    )
    return launcher.iam_credentials(access_file)


@pytest.fixture(scope="module")
def operated(launcher: Launcher, identity: Proc) -> Proc:
    """A worker whose allowed invokers are the relay and the operator account, as the stack configures it."""
    return launcher.worker(
        identity.url + "/oauth2/v1/certs",
        "worker-operated",
        allowed=f"{RELAY_EMAIL},{OPERATOR}",
        extra_env={"OPERATOR_INVOKERS": OPERATOR},
    )


def call(worker: Proc, token: str) -> requests.Response:
    body = {"id": new_id(), "job": JOB}
    return requests.post(worker.url + "/jobs", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_an_operator_call_is_accepted_and_audited_as_an_operator(iam: Proc, operated: Proc) -> None:
    token = operator_id_token(sign_in(iam.url, "alice@acme.com"), OPERATOR, AUDIENCE, iam.url)
    claims = jwt.decode(token, verify=False)
    assert (claims["email"], claims["aud"], claims["email_verified"]) == (OPERATOR, AUDIENCE, True)

    response = call(operated, token)
    assert response.status_code == 200, response.text
    assert response.json()["caller"] == OPERATOR
    (line,) = wait_for_records(operated, message="request", message_id=response.json()["id"])
    assert (line["status"], line["decision"], line["caller"], line["caller_kind"]) == (
        200,
        "allow",
        OPERATOR,
        "operator",
    )
    # Google's side of the trail: who minted, as whom, under which grant.
    (minted,) = wait_for_records(iam, message="GenerateIdToken granted")
    assert minted["protoPayload"]["authenticationInfo"] == {"principalEmail": "alice@acme.com"}
    assert minted["protoPayload"]["resourceName"] == f"projects/-/serviceAccounts/{OPERATOR}"
    assert (minted["granted_by"], minted["reason"]) == ("group:oncall@acme.com", "INC-1 replay a job")
    assert token not in iam.log_text() and token not in operated.log_text()


@pytest.mark.parametrize("user", ["former@acme.com", "mallory@acme.com"])
def test_an_expired_or_absent_grant_is_refused_by_the_credentials_api(iam: Proc, user: str) -> None:
    with pytest.raises(exceptions.RefreshError, match="PERMISSION_DENIED"):
        operator_id_token(sign_in(iam.url, user), OPERATOR, AUDIENCE, iam.url)
    denied = [r for r in wait_for_records(iam, message="GenerateIdToken denied") if
              r["protoPayload"]["authenticationInfo"]["principalEmail"] == user]  # fmt: skip
    assert len(denied) == 1 and denied[0]["protoPayload"]["status"]["code"] == 7


def test_the_operator_grant_reaches_no_other_account(iam: Proc) -> None:
    with pytest.raises(exceptions.RefreshError, match="PERMISSION_DENIED"):
        operator_id_token(sign_in(iam.url, "alice@acme.com"), RELAY_EMAIL, AUDIENCE, iam.url)


def test_a_forged_or_missing_person_token_is_unauthenticated(iam: Proc) -> None:
    path = f"/v1/projects/-/serviceAccounts/{OPERATOR}:generateIdToken"
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        response = requests.post(iam.url + path, json={"audience": AUDIENCE}, headers=headers, timeout=5)
        assert response.status_code == 401
        assert response.json()["error"]["status"] == "UNAUTHENTICATED"


def test_an_operator_token_is_refused_where_the_operator_is_not_an_allowed_invoker(iam: Proc, worker: Proc) -> None:
    # The session's plain worker allows the relay only.
    token = operator_id_token(sign_in(iam.url, "alice@acme.com"), OPERATOR, AUDIENCE, iam.url)
    response = call(worker, token)
    assert response.status_code == 403
    lines = [r for r in wait_for_records(worker, message="request", status=403) if r.get("caller") == OPERATOR]
    assert len(lines) == 1 and lines[0]["decision"] == "deny"


def test_the_access_file_is_checked_before_the_stand_in_serves(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    bad = tmp_path / "access.json"
    bad.write_text(json.dumps({"operator": "not-an-email", "grants": []}))
    assert iam_credentials_main(["--port", "0", "--key", str(tmp_path / "k.pem"), "--access", str(bad)]) == 2
    assert f"--access {bad}: operator 'not-an-email' is not an email address" in capsys.readouterr().err


def test_include_email_false_gives_a_token_without_email_that_the_worker_refuses(iam: Proc, operated: Proc) -> None:
    # generateIdToken puts `email` and `email_verified` in the token only with "includeEmail": true (its
    # default is false); the stand-in used to add them regardless (issue 24, finding 8).
    person = sign_in(iam.url, "alice@acme.com")
    url = f"{iam.url}/v1/projects/-/serviceAccounts/{OPERATOR}:generateIdToken"
    tokens = {}
    for include in (False, None, True):
        body = {"audience": AUDIENCE} if include is None else {"audience": AUDIENCE, "includeEmail": include}
        answer = requests.post(url, json=body, headers={"Authorization": f"Bearer {person.token}"}, timeout=10)
        assert answer.status_code == 200
        tokens[include] = answer.json()["token"]
    for include in (False, None):
        claims = jwt.decode(tokens[include], verify=False)
        assert "email" not in claims and "email_verified" not in claims
        refused = call(operated, tokens[include])
        assert refused.status_code == 401
        [line] = wait_for_records(operated, message="request", status=401, sub=None, caller=None)[-1:]
        assert line["reason"] == "invalid token: email_verified is not true"
    assert jwt.decode(tokens[True], verify=False)["email"] == OPERATOR
    assert call(operated, tokens[True]).status_code == 200
