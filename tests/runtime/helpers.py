"""Helpers shared by the runtime tests: process launcher, event publishing, log matching, token forging,
and a certs server whose failures the tests choose."""

from __future__ import annotations

import base64
import contextlib
import json
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import crypt, jwt

from local.processes import (
    LOCAL_AUDIENCE,
    Proc,
    pubsub_event,
    start_iam_credentials,
    start_metadata_server,
    start_pubsub,
    start_relay,
    start_worker,
)
from local.serving import QuietHandler, loopback_server

RELAY_EMAIL = "relay-runtime-test@secure-invoke-test.iam.gserviceaccount.com"
OTHER_EMAIL = "intruder-test@secure-invoke-test.iam.gserviceaccount.com"
AUDIENCE = LOCAL_AUDIENCE


def new_id() -> str:
    return uuid.uuid4().hex


class Launcher:
    """Starts processes on demand and stops them all at the end of the session."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.key = workdir / "signing-key.pem"
        self.procs: list[Proc] = []

    def identity(self, email: str, name: str, **kwargs: Any) -> Proc:
        return self._keep(start_metadata_server(email, self.key, self.workdir, name=name, **kwargs))

    def pubsub(self, identity: Proc, publisher: str = RELAY_EMAIL) -> Proc:
        return self._keep(start_pubsub(identity.url + "/tokeninfo", publisher, self.workdir))

    def iam_credentials(self, access_file: Path) -> Proc:
        """The IAM Credentials stand-in, signing with the same key as the metadata stand-ins."""
        return self._keep(start_iam_credentials(self.key, access_file, self.workdir))

    def worker(self, certs_url: str, name: str, allowed: str = RELAY_EMAIL, **kwargs: Any) -> Proc:
        """A worker; `behind_front_end=<dir>` serves it on a private socket for local.cloud_run only."""
        return self._keep(start_worker(AUDIENCE, allowed, certs_url, self.workdir, name=name, **kwargs))

    def relay(
        self,
        worker_url: str,
        metadata_url: str,
        name: str,
        pubsub: Proc,
        timeout_seconds: float = 10.0,
        extra_env: dict[str, str] | None = None,
    ) -> Proc:
        return self._keep(
            start_relay(
                worker_url,
                AUDIENCE,
                metadata_url,
                self.workdir,
                timeout_seconds,
                name=name,
                pubsub_url=pubsub.url,
                extra_env=extra_env,
            )
        )

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


def processed(worker: Proc, message_id: str) -> list[dict[str, Any]]:
    """The worker's audit lines for computations of `message_id` (not duplicates, not refusals)."""
    return records(worker, message="request", message_id=message_id, reason="processed")


def dead_letters(pubsub: Proc) -> list[dict[str, Any]]:
    """Every record published to the dead-letter stand-in, decoded, with its attributes."""
    messages = requests.get(pubsub.url + "/_messages", timeout=5).json()["messages"]
    return [
        {**json.loads(base64.b64decode(m["data"])), "_attributes": m["attributes"], "_id": m["messageId"]}
        for m in messages
    ]


def dead_letters_for(pubsub: Proc, event_id: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [d for d in dead_letters(pubsub) if d.get("event", {}).get("id") == event_id]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


class TokenForge:
    """Signs ID tokens directly with the stand-in's key, or with other keys, for attack cases."""

    def __init__(self, key_path: Path, kid: str) -> None:
        self.kid = kid
        self.key_path = key_path
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

    def foreign_signer(self, kid: str | None = None, with_kid: bool = True) -> crypt.Signer:
        """A key that is not the stand-in's, claiming our key id (or `kid`, or none at all)."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return crypt.RSASigner.from_string(pem, key_id=(kid or self.kid) if with_kid else None)


def b64url(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class CertsServer:
    """A certs endpoint on 127.0.0.1 that fails the way the test says.

    Modes: "ok" (the body from `certs`, with Cache-Control max-age), "hang" (reads the request,
    never answers until released), "trickle" (headers at once, then one body byte every 0.2 s),
    "trickle headers" (the status line and headers one byte every 0.2 s, never finished until released),
    "reset" (closes the connection without answering), "status" (HTTP `status`), "garbage"
    (200 with `body` and a long max-age: what must never be cached), and "down" via stop()
    (nothing listens: connection refused) until start() again on the same port.
    """

    def __init__(self, certs: Callable[[], str], max_age: int = 1) -> None:
        self.certs = certs
        self.max_age = max_age
        self.mode = "ok"
        self.status = 500
        self.body = b""
        self.fetches = 0
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self.port = 0
        self.server: ThreadingHTTPServer | None = None
        self.start()
        self.url = f"http://127.0.0.1:{self.port}/oauth2/v1/certs"

    def start(self) -> None:
        front = self

        class Handler(QuietHandler):
            def setup(self) -> None:
                super().setup()
                with front._lock:
                    front._connections.add(self.connection)

            def finish(self) -> None:
                with front._lock:
                    front._connections.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:
                with front._lock:
                    front.fetches += 1
                    mode = front.mode
                if mode == "hang":
                    front.release.wait(60)
                    self.close_connection = True
                    return
                if mode == "trickle headers":
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: " + b"a" * 10_000
                    for byte in head:
                        if front.release.wait(0.2):
                            break
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                    self.close_connection = True
                    return
                if mode == "reset":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if mode == "status":
                    return self._send(front.status, b"<html>unavailable</html>", "text/html", "no-store")
                if mode == "garbage":
                    return self._send(200, front.body, "application/json", "public, max-age=86400")
                body = front.certs().encode()
                if mode == "trickle":
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.send_header("Cache-Control", f"public, max-age={front.max_age}")
                    self.end_headers()
                    for byte in body:
                        if front.release.is_set():
                            break
                        try:
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                        except OSError:
                            return
                        time.sleep(0.2)
                    self.close_connection = True
                    return
                self._send(200, body, "application/json; charset=UTF-8", f"public, max-age={front.max_age}")

            def _send(self, status: int, body: bytes, content_type: str, cache: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", cache)
                self.end_headers()
                self.wfile.write(body)

        server = loopback_server("127.0.0.1", self.port, Handler)
        self.port = server.server_address[1]
        self.server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        """Connection refused from now on (until start()); open keep-alive connections are cut too."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None
        with self._lock:
            connections, self._connections = self._connections, set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def set(self, mode: str, body: bytes = b"", status: int = 500) -> None:
        with self._lock:
            self.mode, self.body, self.status = mode, body, status
        if mode in ("hang", "trickle", "trickle headers"):
            self.release.clear()
        else:
            self.release.set()

    def close(self) -> None:
        self.release.set()
        self.stop()
