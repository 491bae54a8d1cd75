"""The certs policy (worker/certs.py): CertsCache with a scripted source and clock, and HttpCertsSource
against real HTTP servers on loopback that misbehave on purpose."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from local.processes import Proc
from local.serving import QuietHandler
from tests.runtime.helpers import CertsServer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "services" / "worker"))

from cachecontrol import CacheController
from worker.certs import (
    MAX_FRESH_SECONDS,
    CertsCache,
    CertsFetchFailed,
    CertsUnavailable,
    Fetched,
    HttpCertsSource,
    parse_certs,
)

KEYS_A = {"kid-a": "PEM A"}
KEYS_AB = {"kid-a": "PEM A", "kid-b": "PEM B"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Script:
    """A certs source answering from a list: a Fetched, or an exception to raise."""

    def __init__(self, *answers: Fetched | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, deadline: float) -> Fetched:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def inline(target: Callable[[], None]) -> None:
    target()  # the fetch runs in the caller's thread: deterministic with the scripted clock


def cache(source: Script, clock: Clock, **kwargs: Any) -> CertsCache:
    options = {"deadline_seconds": 5.0, "refresh_interval_seconds": 30.0, "max_stale_seconds": 600.0, **kwargs}
    return CertsCache(source, clock=clock, start=inline, **options)


def test_keys_are_reused_for_their_http_freshness_then_refreshed() -> None:
    clock, source = Clock(), Script(Fetched(KEYS_A, 300))
    certs = cache(source, clock)
    assert certs.keys_for("kid-a") == KEYS_A
    clock.now += 299
    assert certs.keys_for("kid-a") == KEYS_A
    assert source.calls == 1
    clock.now += 2  # past max-age: served stale at once, refreshed in the same breath (inline here)
    assert certs.keys_for("kid-a") == KEYS_A
    assert source.calls == 2


@pytest.mark.parametrize(("fresh", "reused"), [(0, 30), (5, 30), (10**9, MAX_FRESH_SECONDS)])
def test_freshness_is_floored_at_the_refresh_interval_and_capped_at_a_day(fresh: float, reused: float) -> None:
    # No max-age (or a tiny one) must not mean a fetch per request; a huge one not forever.
    clock, source = Clock(), Script(Fetched(KEYS_A, fresh))
    certs = cache(source, clock)
    certs.keys_for("kid-a")
    clock.now += reused - 0.5
    certs.keys_for("kid-a")
    assert source.calls == 1
    clock.now += 1
    certs.keys_for("kid-a")
    assert source.calls == 2


def test_an_unusable_response_is_never_kept_and_the_next_fetch_waits_a_backoff() -> None:
    clock = Clock()
    source = Script(CertsFetchFailed("certs response is not a JSON object"), Fetched(KEYS_A, 300))
    certs = cache(source, clock)
    with pytest.raises(CertsUnavailable) as caught:
        certs.keys_for("kid-a")
    assert caught.value.reason == "no certs yet: certs response is not a JSON object"
    assert caught.value.retry_after == 1
    # Within the backoff: no fetch at all, the same answer.
    clock.now += 0.5
    with pytest.raises(CertsUnavailable):
        certs.keys_for("kid-a")
    assert source.calls == 1
    clock.now += 0.6
    assert certs.keys_for("kid-a") == KEYS_A
    assert source.calls == 2


def test_backoff_doubles_up_to_the_refresh_interval() -> None:
    clock, source = Clock(), Script(CertsFetchFailed("certs endpoint unreachable"))
    certs = cache(source, clock, refresh_interval_seconds=10.0)
    gaps = []
    last = None
    for _ in range(200):
        calls = source.calls
        with pytest.raises(CertsUnavailable):
            certs.keys_for("kid-a")
        if source.calls > calls:
            if last is not None:
                gaps.append(clock.now - last)
            last = clock.now
        clock.now += 0.25  # exact in binary: the gaps add up exactly
    assert gaps[:6] == [1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_last_good_keys_are_served_while_refresh_fails_until_the_staleness_bound() -> None:
    clock = Clock()
    source = Script(Fetched(KEYS_A, 60), CertsFetchFailed("certs endpoint answered HTTP 503"))
    certs = cache(source, clock, max_stale_seconds=120.0)
    assert certs.keys_for("kid-a") == KEYS_A
    clock.now += 61  # stale: the refresh fails, the old set still verifies
    assert certs.keys_for("kid-a") == KEYS_A
    clock.now += 118
    assert certs.keys_for("kid-a") == KEYS_A
    clock.now += 2  # beyond fresh (60) + max stale (120): cannot tell any more
    with pytest.raises(CertsUnavailable) as caught:
        certs.keys_for("kid-a")
    assert caught.value.reason.startswith("cached certs are older than the staleness bound")
    assert "HTTP 503" in caught.value.reason


def test_an_unknown_key_id_refetches_at_most_once_per_interval() -> None:
    clock = Clock()
    source = Script(Fetched(KEYS_A, 3600), Fetched(KEYS_A, 3600), Fetched(KEYS_AB, 3600))
    certs = cache(source, clock, refresh_interval_seconds=30.0)
    certs.keys_for("kid-a")
    clock.now += 31
    with pytest.raises(CertsUnavailable) as caught:  # refetched once: still unknown
        certs.keys_for("kid-b")
    assert caught.value.reason.startswith("token key id is not in Google's current certs")
    assert source.calls == 2
    for _ in range(100):  # a flood of unknown key ids within the interval: no fetch
        clock.now += 0.1
        with pytest.raises(CertsUnavailable):
            certs.keys_for("kid-b")
        assert certs.keys_for("kid-a") == KEYS_A  # known keys keep working meanwhile
    assert source.calls == 2
    clock.now += 21  # the interval has passed: one refetch, and the rotated key is there
    assert certs.keys_for("kid-b") == KEYS_AB
    assert source.calls == 3


def test_a_token_without_key_id_uses_whatever_set_is_current() -> None:
    clock, source = Clock(), Script(Fetched(KEYS_AB, 300))
    assert cache(source, clock).keys_for(None) == KEYS_AB


def test_concurrent_callers_share_one_fetch() -> None:
    release = threading.Event()
    calls: list[int] = []

    def slow(deadline: float) -> Fetched:
        calls.append(1)
        release.wait(5)
        return Fetched(KEYS_A, 300)

    certs = CertsCache(slow, deadline_seconds=5.0)
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(certs.keys_for("kid-a"))) for _ in range(20)]
    for thread in threads:
        thread.start()
    time.sleep(0.2)
    release.set()
    for thread in threads:
        thread.join(5)
    assert calls == [1]
    assert results == [KEYS_A] * 20


def test_a_fetch_past_its_deadline_releases_every_waiter_and_is_abandoned() -> None:
    release = threading.Event()
    answers = iter([None, Fetched(KEYS_A, 300)])

    def source(deadline: float) -> Fetched:
        answer = next(answers)
        if answer is None:  # the first fetch hangs far beyond its deadline, then "succeeds"
            release.wait(10)
            return Fetched({"kid-late": "PEM"}, 300)
        return answer

    certs = CertsCache(source, deadline_seconds=0.3, refresh_interval_seconds=1.0)
    latencies: list[float] = []

    def call() -> None:
        started = time.monotonic()
        with pytest.raises(CertsUnavailable):
            certs.keys_for("kid-a")
        latencies.append(time.monotonic() - started)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert len(latencies) == 8 and max(latencies) < 0.3 + 0.5
    time.sleep(1.1)  # the backoff after the abandoned fetch
    assert certs.keys_for("kid-a") == KEYS_A  # a new fetch started although the old one still hangs
    release.set()
    time.sleep(0.1)
    assert certs.keys_for("kid-a") == KEYS_A  # the abandoned fetch's late answer is discarded
    assert certs.snapshot()["kids"] == ["kid-a"]


# --- HttpCertsSource against real servers -----------------------------------------------------------


@pytest.fixture(scope="module")
def real_certs(identity: Proc) -> str:
    import requests

    return requests.get(identity.url + "/oauth2/v1/certs", timeout=5).text


@pytest.fixture
def server(real_certs: str) -> Iterator[CertsServer]:
    certs = CertsServer(lambda: real_certs, max_age=300)
    yield certs
    certs.close()


def _cached(source: HttpCertsSource) -> bytes | None:
    return source._cache.get(CacheController.cache_url(source.url))


def test_source_returns_parsed_keys_and_their_freshness(server: CertsServer, real_certs: str) -> None:
    source = HttpCertsSource(server.url)
    fetched = source(time.monotonic() + 5)
    assert set(fetched.keys) == set(parse_certs(real_certs.encode()))
    assert fetched.fresh_seconds == 300
    assert _cached(source) is not None


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>oops</html>", "not UTF-8 JSON"),
        (b"[]", "not a JSON object"),
        (b"{}", "lists no keys"),
        (b'{"kid": "not a certificate"}', "not an RSA certificate"),
        (b'{"kid": 7}', "not a {key id: PEM certificate} object"),
        (b'{"keys": [{"kty": "RSA"}]}', "not a {key id: PEM certificate} object"),
        (b"\xff\xfe", "not UTF-8 JSON"),
        (b"[" * 50_000 + b"]" * 50_000, "not UTF-8 JSON"),
    ],
)
def test_source_never_stores_an_unusable_response(server: CertsServer, body: bytes, reason: str) -> None:
    # Served with max-age=86400: a plain HTTP cache would keep it for a day.
    server.set("garbage", body)
    source = HttpCertsSource(server.url)
    with pytest.raises(CertsFetchFailed, match=reason.replace("{", r"\{").replace("}", r"\}")):
        source(time.monotonic() + 5)
    assert _cached(source) is None


def test_source_refuses_an_oversized_body(server: CertsServer) -> None:
    server.set("garbage", b'{"k": "' + b"a" * 300_000 + b'"}')
    with pytest.raises(CertsFetchFailed, match="larger than"):
        HttpCertsSource(server.url)(time.monotonic() + 5)


@pytest.mark.parametrize("mode", ["hang", "trickle"])
def test_source_gives_up_at_one_overall_deadline(server: CertsServer, mode: str) -> None:
    # A trickle sends a byte every 0.2 s: no single read ever times out, only the deadline ends it.
    server.set(mode)
    started = time.monotonic()
    with pytest.raises(CertsFetchFailed, match="within the deadline"):
        HttpCertsSource(server.url)(started + 1.0)
    assert time.monotonic() - started < 1.0 + 0.5


class _EtagServer:
    """Answers with an ETag and honours If-None-Match with 304: what CacheControl revalidates."""

    def __init__(self, body: str) -> None:
        self.requests: list[dict[str, str]] = []
        outer = self

        class Handler(QuietHandler):
            def do_GET(self) -> None:
                outer.requests.append(dict(self.headers.items()))
                if self.headers.get("If-None-Match") == '"v1"':
                    self.send_response(304)
                    self.send_header("ETag", '"v1"')
                    self.send_header("Cache-Control", "public, max-age=120")
                    self.end_headers()
                    return
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", '"v1"')
                self.send_header("Cache-Control", "public, max-age=60")
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/certs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_source_revalidates_with_the_etag_cachecontrol_kept(real_certs: str) -> None:
    etag = _EtagServer(real_certs)
    try:
        source = HttpCertsSource(etag.url)
        first = source(time.monotonic() + 5)
        second = source(time.monotonic() + 5)  # the server answers 304: the kept body is reused
        assert second.keys == first.keys
        assert second.fresh_seconds == 120  # with the 304's own freshness
        assert "If-None-Match" not in etag.requests[0]
        assert etag.requests[1]["If-None-Match"] == '"v1"'
    finally:
        etag.server.shutdown()
        etag.server.server_close()
