"""Helpers shared by the runtime tests: process launcher, event publishing, log matching, token forging."""

from __future__ import annotations

import base64
import json
import signal
import time
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from local.processes import LOCAL_AUDIENCE, Proc, pubsub_event, start_identity, start_relay, start_worker

RELAY_EMAIL = "relay-runtime-test@secure-invoke-test.iam.gserviceaccount.com"
OTHER_EMAIL = "intruder-test@secure-invoke-test.iam.gserviceaccount.com"
AUDIENCE = LOCAL_AUDIENCE


class Launcher:
    """Starts processes on demand and stops them all at the end of the session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.key = workdir / "signing-key.pem"
        self.procs: list[Proc] = []

    def identity(self, email: str, name: str, **kwargs: Any) -> Proc:
        return self._keep(start_identity(email, self.key, self.workdir, name=name, **kwargs))

    def worker(self, certs_url: str, name: str, allowed: str = RELAY_EMAIL, **kwargs: Any) -> Proc:
        return self._keep(start_worker(AUDIENCE, allowed, certs_url, self.workdir, name=name, **kwargs))

    def relay(self, worker_url: str, metadata_url: str, name: str, timeout_seconds: float = 10.0) -> Proc:
        return self._keep(start_relay(worker_url, AUDIENCE, metadata_url, self.workdir, timeout_seconds, name=name))

    def _keep(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        # Signal every process first, so their graceful shutdowns overlap.
        for proc in self.procs:
            if proc.alive():
                proc.popen.send_signal(signal.SIGTERM)
        for proc in reversed(self.procs):
            proc.stop()


def stats(proc: Proc) -> dict[str, Any]:
    return requests.get(proc.url + "/_stats", timeout=5).json()


def publish(relay: Proc, job: Any, message_id: str | None = None, **kwargs: Any) -> requests.Response:
    headers, body = pubsub_event(job, message_id=message_id, **kwargs)
    return requests.post(relay.url + "/", data=body, headers=headers, timeout=30)


def records(proc: Proc, **match: Any) -> list[dict[str, Any]]:
    return [r for r in proc.log_records() if all(r.get(k) == v for k, v in match.items())]


def wait_for_records(proc: Proc, timeout: float = 5.0, **match: Any) -> list[dict[str, Any]]:
    """Log lines are written just after the response; poll briefly for them."""
    deadline = time.monotonic() + timeout
    while True:
        found = records(proc, **match)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.02)


class TokenForge:
    """Signs ID tokens directly with the stand-in's key, or with other keys, for attack cases."""

    def __init__(self, key_path: Path, kid: str) -> None:
        self.kid = kid
        self.signer = crypt.RSASigner.from_string(key_path.read_bytes(), key_id=kid)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": "https://accounts.google.com",
            "aud": AUDIENCE,
            "sub": "123456789012345678901",
            "azp": "123456789012345678901",
            "email": RELAY_EMAIL,
            "email_verified": True,
            "iat": now,
            "exp": now + 3600,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any] | None = None, signer: crypt.Signer | None = None) -> str:
        return jwt.encode(signer or self.signer, claims or self.claims()).decode()

    def foreign_signer(self) -> crypt.Signer:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return crypt.RSASigner.from_string(pem, key_id=self.kid)


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
