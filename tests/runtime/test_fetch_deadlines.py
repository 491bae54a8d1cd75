"""No certs fetch outlives its deadline, even against a server that trickles its status line and headers
(issue 24, finding 6): requests' timeouts bound each read, so such a server used to hold the fetch thread
for as long as it kept trickling, and each refresh interval abandoned one more."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from local.processes import Proc
from tests.runtime.helpers import CertsServer, Launcher, TokenForge, new_id

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from worker.certs import CertsCache, CertsFetchFailed, CertsUnavailable, HttpCertsSource


@pytest.fixture
def trickling() -> Iterator[CertsServer]:
    server = CertsServer(lambda: "{}")
    server.set("trickle headers")
    yield server
    server.close()


def fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "certs-fetch" and t.is_alive()]


def test_a_fetch_against_trickled_headers_ends_at_its_deadline(trickling: CertsServer) -> None:
    outcome: list[BaseException] = []

    def fetch() -> None:
        try:
            HttpCertsSource(trickling.url)(time.monotonic() + 1.0)
        except BaseException as exc:
            outcome.append(exc)

    started = time.monotonic()
    thread = threading.Thread(target=fetch, daemon=True)
    thread.start()
    thread.join(1.0 + 1.0)
    assert not thread.is_alive(), "the fetch was still reading trickled headers a second past its deadline"
    assert time.monotonic() - started < 1.0 + 1.0
    [error] = outcome
    assert isinstance(error, CertsFetchFailed) and "within the deadline" in str(error)


def test_no_certs_fetch_thread_outlives_its_deadline(trickling: CertsServer) -> None:
    before = set(fetch_threads())
    certs = CertsCache(HttpCertsSource(trickling.url), deadline_seconds=1.0, refresh_interval_seconds=1.0)
    started = time.monotonic()
    for _ in range(3):  # a fetch, then the next ones the backoff allows: each ends at its own deadline
        with pytest.raises(CertsUnavailable):
            certs.keys_for("kid")
        time.sleep(0.6)
    assert time.monotonic() - started < 3 * (1.0 + 0.25 + 0.6) + 1.0
    time.sleep(1.5)  # every fetch started so far is past its deadline now
    assert [t for t in fetch_threads() if t not in before] == []
    assert certs.snapshot()["fetches"] >= 2


def _threads_of(proc: Proc) -> int:
    """Threads of the process and of its children (a server may fork its workers)."""
    pids = [proc.popen.pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == proc.popen.pid:
                    pids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Threads:"):
                total += int(line.split()[1])
    return total


def test_the_worker_keeps_no_abandoned_fetch_threads(
    launcher: Launcher, forge: TokenForge, trickling: CertsServer
) -> None:
    worker = launcher.worker(
        trickling.url,
        "worker-trickled-certs",
        extra_env={"CERTS_FETCH_DEADLINE_SECONDS": "1", "CERTS_REFRESH_INTERVAL_SECONDS": "1"},
    )
    signer = forge.foreign_signer(kid="rotated-later")

    def attempt() -> int:
        body = {"id": new_id(), "job": {"task": "primes", "limit": 10}}
        headers = {"Authorization": f"Bearer {forge.sign(signer=signer)}"}
        return requests.post(worker.url + "/jobs", json=body, headers=headers, timeout=10).status_code

    attempt()  # the first fetch, and the request thread the server uses for one request at a time
    time.sleep(1.5)
    baseline = _threads_of(worker)
    deadline = time.monotonic() + 6.0
    statuses = set()
    while time.monotonic() < deadline:  # each request may start a fetch; the backoff lets one through a second
        statuses.add(attempt())
        time.sleep(0.2)
    time.sleep(1.5)
    assert statuses == {503}
    # At most the fetch in flight and its deadline timer beyond the baseline; abandoned fetches would pile up.
    assert _threads_of(worker) <= baseline + 2, f"{baseline} threads before, {_threads_of(worker)} after"
