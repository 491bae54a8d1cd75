"""Slow and idle clients cost the worker no request thread (issue 24, finding 1).

A worker exactly as deployed (the Dockerfile's CMD, WORKER_THREADS = the stack's default container
concurrency) faces, one kind at a time, more hostile connections than it has threads: request headers
trickled one byte at a time, connections that never send a byte, bodies trickled after a valid token's
headers, and a body never sent after headers whose token earns a 401. Meanwhile a valid request must be
answered no more than 100 ms later than before the attack (medians of a few requests, measured in the same
test, so the machine's speed cancels out).
"""

from __future__ import annotations

import contextlib
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests

from local.processes import Proc
from tests.runtime.helpers import Launcher, TokenForge, new_id

CONCURRENCY = 8  # the stack's default workerConcurrency, and so the worker's request threads
ALLOWED_DELAY_SECONDS = 0.1
SAMPLES = 5


@pytest.fixture(scope="module")
def exposed(launcher: Launcher, identity: Proc) -> Proc:
    # Its own worker: a test that fails must not leave the shared worker's threads held.
    return launcher.worker(
        identity.url + "/oauth2/v1/certs", "worker-slow-clients", extra_env={"WORKER_THREADS": str(CONCURRENCY)}
    )


def valid_latency(worker: Proc, token: str) -> float:
    began = time.perf_counter()
    response = requests.post(
        worker.url + "/jobs",
        json={"id": new_id(), "job": {"task": "primes", "limit": 100}},
        headers={"Authorization": f"Bearer {token}", "Connection": "close"},
        timeout=15,
    )
    assert response.status_code == 200, response.text
    return time.perf_counter() - began


def median_latency(worker: Proc, token: str) -> float:
    return statistics.median(valid_latency(worker, token) for _ in range(SAMPLES))


def _address(worker: Proc) -> tuple[str, int]:
    host, port = worker.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


Behaviour = Callable[[socket.socket, threading.Event], None]


def _trickle(data: bytes, interval: float) -> Behaviour:
    def send(conn: socket.socket, stop: threading.Event) -> None:
        for byte in data:
            if stop.wait(interval):
                return
            conn.sendall(bytes([byte]))

    return send


def _idle(conn: socket.socket, stop: threading.Event) -> None:
    stop.wait()


def _headers_then(body_sender: Behaviour, head: bytes) -> Behaviour:
    def send(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head)
        body_sender(conn, stop)

    return send


@contextlib.contextmanager
def attack(worker: Proc, count: int, behave: Behaviour) -> Iterator[None]:
    """`count` connections, each behaving as told until the block ends (then all are closed)."""
    stop = threading.Event()
    connections: list[socket.socket] = []

    def run(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            behave(conn, stop)

    threads = []
    for _ in range(count):
        conn = socket.create_connection(_address(worker), timeout=30)
        connections.append(conn)
        threads.append(threading.Thread(target=run, args=(conn,), daemon=True))
    for thread in threads:
        thread.start()
    try:
        time.sleep(1.0)  # let every connection reach the server and whatever it does with it
        yield
    finally:
        stop.set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.close()
        for thread in threads:
            thread.join(5)


def _slow_headers(token: str) -> Behaviour:
    head = f"POST /jobs HTTP/1.1\r\nHost: worker\r\nAuthorization: Bearer {token}\r\n".encode()
    return _trickle(head + b"X-Padding: " + b"a" * 4000, 0.3)


def _slow_body(token: str) -> Behaviour:
    body = b'{"id": "slow-body", "job": {"task": "primes", "limit": 10}}'.ljust(2000)
    head = (
        f"POST /jobs HTTP/1.1\r\nHost: worker\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    return _headers_then(_trickle(body, 0.3), head)


def _unsent_body_after_401(_token: str) -> Behaviour:
    head = (
        b"POST /jobs HTTP/1.1\r\nHost: worker\r\nAuthorization: Bearer not-a-token\r\n"
        b"Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    )
    return _headers_then(_idle, head)


KINDS: dict[str, tuple[int, Callable[[str], Behaviour]]] = {
    # (connections, behaviour given a valid token)
    "headers trickled byte by byte": (2 * CONCURRENCY, _slow_headers),
    "idle connections, not a byte sent": (40, lambda _token: _idle),
    "bodies trickled after a valid token": (2 * CONCURRENCY, _slow_body),
    "body never sent after a 401": (2 * CONCURRENCY, _unsent_body_after_401),
}


@pytest.mark.parametrize("kind", list(KINDS))
def test_slow_clients_do_not_delay_a_valid_request(exposed: Proc, forge: TokenForge, kind: str) -> None:
    token = forge.sign()
    valid_latency(exposed, token)  # warm: certs fetched, imports done
    before = median_latency(exposed, token)
    count, behaviour = KINDS[kind]
    with attack(exposed, count, behaviour(token)):
        during = [valid_latency(exposed, token) for _ in range(SAMPLES)]
    assert statistics.median(during) - before <= ALLOWED_DELAY_SECONDS, (
        f"{kind}: a valid request took {statistics.median(during) * 1000:.0f} ms (median) under attack, "
        f"{before * 1000:.0f} ms before; slowest {max(during) * 1000:.0f} ms"
    )
    assert exposed.alive()
