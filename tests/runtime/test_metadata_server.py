"""The metadata-server stand-in speaks the protocol google-auth expects (the e2e tests prove google-auth
accepts it unchanged; these pin the details)."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import requests
from google.auth import jwt

from local.metadata_server import load_or_create_key
from local.processes import ROOT, Proc
from tests.runtime.helpers import AUDIENCE, OTHER_EMAIL, RELAY_EMAIL, stats

IDENTITY = "/computeMetadata/v1/instance/service-accounts/default/identity"
FLAVOR = {"Metadata-Flavor": "Google"}


@pytest.mark.parametrize(
    "path", ["/", "/computeMetadata/v1/instance/service-accounts/default/?recursive=true", IDENTITY]
)
def test_metadata_paths_require_the_flavor_header(identity: Proc, path: str) -> None:
    response = requests.get(identity.url + path, params={"audience": AUDIENCE}, timeout=5)
    assert response.status_code == 403
    assert "Metadata-Flavor" in response.text
    assert response.headers["Content-Type"]


def test_ping_and_service_account_info(identity: Proc) -> None:
    ping = requests.get(identity.url + "/", headers=FLAVOR, timeout=5)
    assert ping.status_code == 200 and ping.headers["Metadata-Flavor"] == "Google"
    info = requests.get(
        identity.url + "/computeMetadata/v1/instance/service-accounts/default/",
        params={"recursive": "true"},
        headers=FLAVOR,
        timeout=5,
    )
    assert info.headers["Content-Type"] == "application/json"
    assert info.json()["email"] == RELAY_EMAIL


def test_identity_token_claims_and_signature(identity: Proc) -> None:
    response = requests.get(
        identity.url + IDENTITY, params={"audience": AUDIENCE, "format": "full"}, headers=FLAVOR, timeout=5
    )
    assert response.status_code == 200 and response.headers["Content-Type"]
    certs = requests.get(identity.url + "/oauth2/v1/certs", timeout=5)
    assert "max-age=300" in certs.headers["Cache-Control"]
    header = jwt.decode_header(response.text)
    assert header["alg"] == "RS256" and header["kid"] in certs.json()
    claims = jwt.decode(response.text, certs=certs.json(), audience=AUDIENCE)
    assert claims["iss"] == "https://accounts.google.com"
    assert claims["email"] == RELAY_EMAIL and claims["email_verified"] is True
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["sub"].isdigit()


def test_identity_without_audience_is_refused(identity: Proc) -> None:
    assert requests.get(identity.url + IDENTITY, headers=FLAVOR, timeout=5).status_code == 400


def test_two_instances_share_one_key_with_different_emails(identity: Proc, other_identity: Proc) -> None:
    first, second = stats(identity), stats(other_identity)
    assert first["kid"] == second["kid"]
    assert (first["email"], second["email"]) == (RELAY_EMAIL, OTHER_EMAIL)
    token = requests.get(other_identity.url + IDENTITY, params={"audience": AUDIENCE}, headers=FLAVOR, timeout=5).text
    certs = requests.get(identity.url + "/oauth2/v1/certs", timeout=5).json()
    assert jwt.decode(token, certs=certs, audience=AUDIENCE)["email"] == OTHER_EMAIL


def test_concurrent_key_creation_agrees_on_one_key(tmp_path: Path) -> None:
    key_path = tmp_path / "new" / "key.pem"
    keys: list[int] = []
    threads = [
        threading.Thread(target=lambda: keys.append(load_or_create_key(key_path).private_numbers().d)) for _ in range(6)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(keys) == 6 and len(set(keys)) == 1
    assert key_path.stat().st_mode & 0o077 == 0
    assert [p.name for p in key_path.parent.iterdir()] == ["key.pem"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email", "not-an-email"], "--email 'not-an-email' is not an email address"),
        (["--key", "BAD"], "not a readable unencrypted PEM private key"),
        (["--token-lifetime", "5"], "--token-lifetime must be between 60 and 43200 seconds"),
    ],
)
def test_cli_errors_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    argv = {"--port": "0", "--email": RELAY_EMAIL, "--key": str(tmp_path / "k.pem")}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        argv[flag] = str(bad_key) if value == "BAD" else value
    cmd = [sys.executable, "-m", "local.metadata_server", *[x for pair in argv.items() for x in pair]]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1
    assert message in done.stderr


@pytest.mark.parametrize("module", ["local.metadata_server", "local.pubsub", "local.iam_credentials"])
@pytest.mark.parametrize(
    ("port", "message"), [("99999", "99999 is outside 0-65535"), ("-1", "-1 is outside 0-65535"), ("http", "'http' is not a port number")]
)  # fmt: skip
def test_every_stand_in_range_checks_its_port(module: str, port: str, message: str) -> None:
    # argparse refuses the port before the stand-in reads any other flag or file: no traceback, no key written.
    done = subprocess.run(
        [sys.executable, "-m", module, "--port", port], cwd=ROOT, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 2
    assert f"argument --port: {message}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cmd = [sys.executable, "-m", "local.metadata_server", "--port", str(port), "--email", RELAY_EMAIL,
               "--key", str(tmp_path / "k.pem")]  # fmt: skip
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=20)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"local.metadata_server: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]
