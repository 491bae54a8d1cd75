"""Tokens Cloud Run has already checked (issue 19): the front-end stand-in and the worker behind it.

Cloud Scheduler, Pub/Sub push, Cloud Tasks, Workflows and Eventarc send their OIDC token in `Authorization`
only; Cloud Run's IAM check consumes it and forwards it with its signature replaced by
SIGNATURE_REMOVED_BY_GOOGLE. The worker accepts such a token only behind that check (a deployment setting,
and locally: only the front end reaches its private socket), only from the header the front end checked,
and still checks every claim. The red-team cases: a stripped token outside the Cloud Run path; a stripped
token with the wrong audience or an unlisted email; a forged "stripped" token straight to the worker, or
slipped in beside a genuine one.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from local.processes import Proc, start_cloud_run, write_invokers
from tests.runtime.helpers import (
    AUDIENCE,
    OTHER_EMAIL,
    RELAY_EMAIL,
    Launcher,
    TokenForge,
    b64url,
    new_id,
    records,
    wait_for_records,
)

QUEUE = "batch-queue-test@secure-invoke-test.iam.gserviceaccount.com"  # a Cloud Tasks queue: {"id", "job"}
SERVICE_URL = "https://worker-test-abc123-ew.a.run.app"  # the service's own URL: Cloud Run accepts it too
REMOVED = "SIGNATURE_REMOVED_BY_GOOGLE"
JOB = {"task": "primes", "limit": 100}


@pytest.fixture(scope="module")
def fronted(launcher: Launcher, identity: Proc) -> dict[str, Proc]:
    certs = identity.url + "/oauth2/v1/certs"
    worker = launcher.worker(
        certs,
        "worker-fronted",
        allowed=f"{RELAY_EMAIL},{QUEUE}",
        extra_env={"CALLER_KINDS": f"{QUEUE}=cloud-tasks"},
        behind_front_end=launcher.workdir / "cloud-run",
    )
    # OTHER_EMAIL holds run.invoker (say, through a broader grant) but is not one of the worker's callers.
    invokers = write_invokers(launcher.workdir / "invokers.txt", [RELAY_EMAIL, QUEUE, OTHER_EMAIL])
    front = start_cloud_run(worker, certs, AUDIENCE, invokers, launcher.workdir)
    launcher.procs.append(front)
    return {"worker": worker, "front": front}


def post(front: Proc, headers: dict[str, str], message_id: str | None = None) -> requests.Response:
    body = {"id": message_id or new_id(), "job": JOB}
    return requests.post(front.url + "/jobs", json=body, headers=headers, timeout=30)


def stripped(token: str) -> str:
    return token.rsplit(".", 1)[0] + "." + REMOVED


def audit_of(worker: Proc, message_id: str) -> dict:
    [line] = wait_for_records(worker, message="request", message_id=message_id)
    return line


# --- the model: what passes ------------------------------------------------------------------------


def test_an_authorization_only_caller_is_accepted_on_its_claims_behind_the_iam_check(
    fronted: dict[str, Proc], forge: TokenForge
) -> None:
    message_id = new_id()
    token = forge.sign(forge.claims(email=QUEUE))
    response = post(fronted["front"], {"Authorization": f"Bearer {token}"}, message_id)
    assert response.status_code == 200, response.text
    assert response.json()["caller"] == QUEUE
    line = audit_of(fronted["worker"], message_id)
    assert line["decision"] == "allow" and line["caller_kind"] == "cloud-tasks"
    assert line["verified_by"] == "cloud_run_iam"  # which path decided


def test_an_intact_token_in_authorization_keeps_full_verification(fronted: dict[str, Proc], forge: TokenForge) -> None:
    # The relay's way: both headers; Cloud Run checks and strips X-Serverless-Authorization, passes
    # Authorization untouched, and the worker verifies its signature itself.
    message_id = new_id()
    token = forge.sign()
    headers = {"X-Serverless-Authorization": f"Bearer {token}", "Authorization": f"Bearer {token}"}
    assert post(fronted["front"], headers, message_id).status_code == 200
    assert audit_of(fronted["worker"], message_id)["verified_by"] == "signature"


def test_the_front_end_strips_only_the_header_it_checked_and_forwards_the_rest(
    fronted: dict[str, Proc], forge: TokenForge
) -> None:
    message_id = new_id()
    token = forge.sign(forge.claims(email=QUEUE))
    headers = {"X-Serverless-Authorization": f"Bearer {token}", "X-Custom": "kept as sent"}
    assert post(fronted["front"], headers, message_id).status_code == 200
    assert audit_of(fronted["worker"], message_id)["verified_by"] == "cloud_run_iam"
    front_lines = records(fronted["front"], message="front end", checked_header="X-Serverless-Authorization")
    assert front_lines and front_lines[-1]["member"] == f"serviceAccount:{QUEUE}"
    assert token.rsplit(".", 1)[1] not in fronted["front"].log_text()


# --- the front end's own refusals ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "status"),
    [
        ("no token", 401),
        ("a forged token (another key)", 401),
        ("a forged token already 'stripped'", 401),
        ("the wrong audience", 401),
        ("an expired token", 401),
        ("a valid token of someone without run.invoker", 403),
    ],
)
def test_the_front_end_answers_401_and_403_itself(
    fronted: dict[str, Proc], forge: TokenForge, case: str, status: int
) -> None:
    now = int(time.time())
    tokens = {
        "no token": None,
        "a forged token (another key)": forge.sign(signer=forge.foreign_signer()),
        "a forged token already 'stripped'": stripped(forge.sign(signer=forge.foreign_signer())),
        "the wrong audience": forge.sign(forge.claims(aud="https://someone-else.example")),
        "an expired token": forge.sign(forge.claims(iat=now - 7200, exp=now - 3600)),
        "a valid token of someone without run.invoker": forge.sign(
            forge.claims(email="stranger@secure-invoke-test.iam.gserviceaccount.com")
        ),
    }
    token = tokens[case]
    message_id = new_id()
    response = post(fronted["front"], {"Authorization": f"Bearer {token}"} if token else {}, message_id)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("text/html")  # Google's page, not the worker's JSON
    assert not records(fronted["worker"], message_id=message_id)  # the worker never saw it


# --- red team ---------------------------------------------------------------------------------------


def test_a_checked_token_of_an_invoker_the_worker_does_not_list_is_403(
    fronted: dict[str, Proc], forge: TokenForge
) -> None:
    # OTHER_EMAIL passes Cloud Run's IAM check (it holds run.invoker) but is not in ALLOWED_INVOKERS.
    message_id = new_id()
    response = post(fronted["front"], {"Authorization": f"Bearer {forge.sign(forge.claims(email=OTHER_EMAIL))}"})
    assert response.status_code == 403
    assert response.json() == {"error": "caller not allowed"}
    [line] = [r for r in records(fronted["worker"], message="request", status=403) if r["caller"] == OTHER_EMAIL]
    assert line["verified_by"] == "cloud_run_iam"
    assert not records(fronted["worker"], message_id=message_id, reason="processed")


def test_a_checked_token_for_another_audience_is_401_at_the_worker(
    launcher: Launcher, identity: Proc, fronted: dict[str, Proc], forge: TokenForge
) -> None:
    # Cloud Run also accepts its own URL as audience; the worker accepts only its custom audience.
    invokers = write_invokers(launcher.workdir / "invokers-url.txt", [RELAY_EMAIL, QUEUE])
    front = start_cloud_run(
        fronted["worker"], identity.url + "/oauth2/v1/certs", SERVICE_URL, invokers, launcher.workdir, "cloud-run-url"
    )
    launcher.procs.append(front)
    token = forge.sign(forge.claims(email=QUEUE, aud=SERVICE_URL))
    response = post(front, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json() == {"error": "invalid token"}
    lines = [r for r in records(fronted["worker"], message="request", status=401) if "wrong audience" in r["reason"]]
    assert lines


def test_a_forged_stripped_token_beside_a_checked_one_is_refused(fronted: dict[str, Proc], forge: TokenForge) -> None:
    # An invoker sends its own valid token in X-Serverless-Authorization (checked, stripped) and a forged
    # "stripped" token claiming the relay in Authorization, which Cloud Run passes through unchecked.
    own = forge.sign(forge.claims(email=QUEUE))
    claims = b64url(forge.claims(email=RELAY_EMAIL))
    forged = f"{b64url({'alg': 'RS256', 'kid': forge.kid, 'typ': 'JWT'})}.{claims}.{REMOVED}"
    headers = {"X-Serverless-Authorization": f"Bearer {own}", "Authorization": f"Bearer {forged}"}
    message_id = new_id()
    response = post(fronted["front"], headers, message_id)
    assert response.status_code == 401
    [line] = [r for r in records(fronted["worker"], message="request", status=401) if "did not check" in r["reason"]]
    assert line["reason"] == "invalid token: signature removed from Authorization, which Cloud Run did not check"


def test_a_stripped_token_outside_the_cloud_run_path_is_401(worker: Proc, forge: TokenForge) -> None:
    # The session's worker is not behind Cloud Run's IAM check: a stripped token there proves nothing,
    # even one whose claims are perfect (here made from a genuine token).
    for headers in (
        {"Authorization": f"Bearer {stripped(forge.sign())}"},
        {"X-Serverless-Authorization": f"Bearer {stripped(forge.sign())}"},
    ):
        response = requests.post(worker.url + "/jobs", json={"id": new_id(), "job": JOB}, headers=headers, timeout=10)
        assert response.status_code == 401
    assert records(
        worker, reason="invalid token: signature removed, and this worker is not behind Cloud Run's IAM check"
    )


def _listening_tcp_ports(pid: int) -> set[int]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = str(fd.readlink()) if fd.is_symlink() else ""
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for row in Path(table).read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_a_forged_stripped_token_cannot_be_sent_straight_to_the_worker(fronted: dict[str, Proc]) -> None:
    # As on Cloud Run, where the container is reachable only through the front end: the worker that trusts
    # Cloud Run's check listens on no TCP port at all, only on a socket in a directory only we can enter.
    worker = fronted["worker"]
    assert _listening_tcp_ports(worker.popen.pid) == set()
    socket_path = Path(worker.url.removeprefix("unix:"))
    assert socket_path.is_socket()
    assert socket_path.parent.stat().st_mode & 0o077 == 0
    assert socket_path.stat().st_mode & 0o077 == 0


def test_the_planned_url_followed_by_a_path_is_an_audience_and_nothing_that_merely_starts_like_it(
    identity: Proc, forge: TokenForge
) -> None:
    # Pub/Sub's default audience is the push endpoint, path included; with the service's URL known (--plan) the
    # stand-in takes it, as the pack's caller-audiences-accepted does. A host that only begins like the URL is not.
    from local.cloud_run import Certs, FrontEnd, Verdict

    front = FrontEnd("unused.sock", Certs(identity.url + "/oauth2/v1/certs"), [AUDIENCE, SERVICE_URL],
                     frozenset({f"serviceAccount:{QUEUE}"}), url=SERVICE_URL)  # fmt: skip
    for accepted in (AUDIENCE, SERVICE_URL, SERVICE_URL + "/pubsub"):
        member, _ = front.check(f"Bearer {forge.sign(forge.claims(email=QUEUE, aud=accepted))}")
        assert member == f"serviceAccount:{QUEUE}"
    for refused in (SERVICE_URL + ".evil.example/x", "https://worker-test-abc123-ew.a.run.ap", SERVICE_URL[:-1]):
        with pytest.raises(Verdict) as verdict:
            front.check(f"Bearer {forge.sign(forge.claims(email=QUEUE, aud=refused))}")
        assert verdict.value.status == 401
