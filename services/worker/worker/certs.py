"""Google's token-signing certificates: fetched over HTTP, kept with a policy for when that fails.

Two layers:

- `HttpCertsSource` fetches. It goes through a CacheControl session, which keeps the HTTP cache
  (conditional revalidation with ETag / Last-Modified, `no-store` and `Vary` honoured), but an
  entry reaches that cache only after its body parsed into a usable key set: a 200 that is not
  JSON, an array, `{}` or a certificate that does not load is never stored. The whole call, connect,
  headers and body, runs against one overall deadline (worker/deadline.py shuts the socket down when
  it passes), so a server trickling its headers or body cannot stretch the fetch read by read, nor
  keep the fetch thread alive past its deadline.
- `CertsCache` is the policy: the last good key set is served until its HTTP freshness ends
  (max-age minus Age, floored at the refresh interval and capped at a day), and while a refresh
  fails it is still served for a bounded staleness. Fetches run in a background thread, one at a
  time (single flight); no lock is held across the network, and a request waits for a fetch at
  most until that fetch's deadline. After a failed fetch the next one waits an exponential
  backoff (1 s doubling up to the refresh interval). A token whose key id is not in the current
  set triggers at most one refetch per refresh interval; the tokens that find nothing usable get
  `CertsUnavailable` (HTTP 503, the caller retries), never a verdict on the token.
"""

from __future__ import annotations

import datetime
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import cachecontrol
import cachecontrol.cache
import requests
from google.auth import crypt

from worker.deadline import bounded
from worker.deadline import deadline as bounded_call

MAX_CERTS_BYTES = 256 * 1024  # Google's certs are ~3 KiB
MAX_KEYS = 32
MAX_FRESH_SECONDS = 24 * 3600
FIRST_BACKOFF_SECONDS = 1.0
# Waiters give a fetch this long past its deadline to report its own failure (the deadline fires in
# the fetch thread too); after that the fetch is abandoned.
DEADLINE_GRACE_SECONDS = 0.25


class CertsUnavailable(Exception):
    """No usable signing key for this token right now: HTTP 503 with Retry-After."""

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class CertsFetchFailed(Exception):
    """One fetch failed; the message says how, without quoting the response."""


@dataclass(frozen=True)
class Fetched:
    keys: Mapping[str, str]  # key id -> PEM certificate
    fresh_seconds: float  # HTTP freshness from the response headers (0 if none)


@dataclass(frozen=True)
class _KeySet:
    keys: Mapping[str, str]
    fresh_until: float
    usable_until: float


class _Flight:
    __slots__ = ("deadline", "done", "started")

    def __init__(self, started: float, deadline: float) -> None:
        self.started = started
        self.deadline = deadline
        self.done = threading.Event()


def parse_certs(body: bytes) -> dict[str, str]:
    """The {key id: PEM certificate} mapping of a certs body, or CertsFetchFailed saying why not."""
    try:
        certs = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise CertsFetchFailed("certs response is not UTF-8 JSON") from None
    if not isinstance(certs, dict):
        raise CertsFetchFailed("certs response is not a JSON object")
    if not certs:
        raise CertsFetchFailed("certs response lists no keys")
    if len(certs) > MAX_KEYS:
        raise CertsFetchFailed(f"certs response lists more than {MAX_KEYS} keys")
    for kid, pem in certs.items():
        if not kid or len(kid) > 128 or not isinstance(pem, str):
            raise CertsFetchFailed("certs response is not a {key id: PEM certificate} object")
        try:
            crypt.RSAVerifier.from_string(pem)  # google-auth's own loader: what verification will use
        except Exception:
            raise CertsFetchFailed("certs response holds an entry that is not an RSA certificate") from None
    return certs


class _VettedCache(cachecontrol.cache.DictCache):
    """CacheControl's in-memory cache, except that a response is stored only once `keep()` is called.

    CacheControl stores a response when its body has been read, before anyone has looked at it;
    here that write is held back (per thread) until the fetch has parsed the body as a usable key
    set. Responses that are never kept are never served from the cache.
    """

    def __init__(self) -> None:
        super().__init__()
        self._held = threading.local()

    def set(self, key: str, value: bytes, expires: int | datetime.datetime | None = None) -> None:
        self._held.entry = (key, value, expires)

    def keep(self) -> None:
        entry = getattr(self._held, "entry", None)
        self._held.entry = None
        if entry is not None:
            super().set(*entry)

    def drop(self) -> None:
        self._held.entry = None


class HttpCertsSource:
    """Fetches the certs URL within a deadline; see the module docstring."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._cache = _VettedCache()
        self._session = bounded(cachecontrol.CacheControl(requests.Session(), cache=self._cache))

    def __call__(self, deadline: float) -> Fetched:
        try:
            return self._fetch(deadline)
        finally:
            self._cache.drop()

    def _fetch(self, deadline: float) -> Fetched:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CertsFetchFailed("certs fetch deadline passed before it started")
        # One deadline for the whole call, connect and headers included, not one per read: at the
        # deadline the socket is shut, so a server trickling its headers or body cannot hold this thread.
        with bounded_call(deadline):
            try:
                # no-cache: always ask the server (conditionally, if CacheControl holds a validator);
                # how long to reuse the answer is decided by CertsCache, not by a second cache layer.
                response = self._session.get(
                    self.url,
                    headers={"Cache-Control": "no-cache"},
                    stream=True,
                    timeout=(remaining, remaining),
                    allow_redirects=False,
                )
            except (requests.RequestException, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise CertsFetchFailed("certs endpoint did not answer within the deadline") from None
                if isinstance(exc, requests.ConnectionError):
                    raise CertsFetchFailed("certs endpoint unreachable") from None
                raise CertsFetchFailed(f"certs request failed ({type(exc).__name__})") from None
            with response:
                try:
                    if response.status_code != 200:
                        raise CertsFetchFailed(f"certs endpoint answered HTTP {response.status_code}")
                    body = bytearray()
                    for chunk in response.iter_content(16 * 1024):
                        body += chunk
                        if len(body) > MAX_CERTS_BYTES:
                            raise CertsFetchFailed(f"certs response is larger than {MAX_CERTS_BYTES} bytes")
                except (requests.RequestException, OSError, ValueError) as exc:
                    if time.monotonic() >= deadline:
                        raise CertsFetchFailed("certs response did not complete within the deadline") from None
                    raise CertsFetchFailed(f"certs response broken off ({type(exc).__name__})") from None
                if time.monotonic() >= deadline:
                    raise CertsFetchFailed("certs response did not complete within the deadline")
                keys = parse_certs(bytes(body))
                self._cache.keep()
                return Fetched(keys, fresh_seconds(response.headers))


def fresh_seconds(headers: Mapping[str, str]) -> float:
    """HTTP freshness left in a response: max-age (or Expires - Date) minus Age; 0 if not cacheable."""
    lowered = {k.lower(): v for k, v in headers.items()}
    directives = cachecontrol.CacheController().parse_cache_control(lowered)
    if "no-store" in directives or "no-cache" in directives:
        return 0.0
    try:
        age = max(int(lowered.get("age", "0").strip() or 0), 0)
    except ValueError:
        age = 0
    max_age = directives.get("max-age")
    if max_age is not None:
        return float(max(max_age - age, 0))
    if "expires" in lowered and "date" in lowered:
        try:
            lifetime = (
                parsedate_to_datetime(lowered["expires"]) - parsedate_to_datetime(lowered["date"])
            ).total_seconds()
        except (TypeError, ValueError):
            return 0.0
        return max(lifetime - age, 0.0)
    return 0.0


class CertsCache:
    """The policy around a certs source; `keys_for(kid)` is called once per token verification."""

    def __init__(
        self,
        source: Callable[[float], Fetched],
        *,
        deadline_seconds: float = 5.0,
        refresh_interval_seconds: float = 30.0,
        max_stale_seconds: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
        start: Callable[[Callable[[], None]], Any] | None = None,
    ) -> None:
        self._source = source
        self.deadline_seconds = deadline_seconds
        self.refresh_interval = refresh_interval_seconds
        self.max_stale = max_stale_seconds
        self._clock = clock
        self._start = start or _start_daemon
        self._current: _KeySet | None = None
        self._flight: _Flight | None = None
        self._not_before = 0.0  # no fetch starts before this (rate limit after success, backoff after failure)
        self._failures = 0
        self._last_error: str | None = None
        self._lock = threading.Lock()  # guards the fields above; never held across a fetch
        self.fetches = 0

    def keys_for(self, kid: str | None) -> Mapping[str, str]:
        now = self._clock()
        current = self._current
        if current is not None and now < current.fresh_until and (kid is None or kid in current.keys):
            return current.keys  # the common case: no lock, no I/O
        return self._slow(kid, now)

    def _slow(self, kid: str | None, now: float) -> Mapping[str, str]:
        current = self._current
        if current is not None and (kid is None or kid in current.keys) and now < current.usable_until:
            # Stale but within the bound: serve it and refresh in the background.
            self._refresh(now)
            return current.keys
        flight = self._refresh(now)
        if flight is not None:
            flight.done.wait(max(flight.deadline + DEADLINE_GRACE_SECONDS - self._clock(), 0.0))
        now = self._clock()
        current = self._current
        if current is not None and (kid is None or kid in current.keys) and now < current.usable_until:
            return current.keys
        raise CertsUnavailable(self._why(kid, current, now), self._retry_after(now))

    def _refresh(self, now: float) -> _Flight | None:
        """Joins the fetch in progress, or starts one if the rate limit and backoff allow it."""
        with self._lock:
            flight = self._flight
            if flight is not None and not flight.done.is_set():
                if now < flight.deadline + DEADLINE_GRACE_SECONDS:
                    return flight
                # Past its deadline (the deadline shuts its socket, but name resolution, say, is beyond
                # its reach): count it as failed so that a new fetch may start after the backoff.
                self._failed(flight, "certs fetch did not finish within its deadline", flight.deadline)
            if now < self._not_before:
                return None
            flight = _Flight(now, now + self.deadline_seconds)
            self._flight = flight
            self._not_before = now + self.refresh_interval
            self.fetches += 1
        self._start(lambda: self._run(flight))
        return flight

    def _run(self, flight: _Flight) -> None:
        fetched: Fetched | None = None
        error = "certs fetch failed"
        try:
            fetched = self._source(flight.deadline)
        except CertsFetchFailed as exc:
            error = str(exc)
        except Exception as exc:  # a bug in parsing must not kill the refresh loop
            error = f"certs fetch failed ({type(exc).__name__})"
        with self._lock:
            if self._flight is not flight:
                return  # abandoned at its deadline; a newer fetch owns the state
            now = self._clock()
            if fetched is None:
                self._failed(flight, error, now)
                return
            fresh = min(max(fetched.fresh_seconds, self.refresh_interval), MAX_FRESH_SECONDS)
            self._current = _KeySet(dict(fetched.keys), now + fresh, now + fresh + self.max_stale)
            self._failures = 0
            self._last_error = None
            self._not_before = flight.started + self.refresh_interval
            self._flight = None
            flight.done.set()

    def _failed(self, flight: _Flight, error: str, now: float) -> None:
        # Caller holds the lock.
        self._failures += 1
        self._last_error = error
        backoff = min(FIRST_BACKOFF_SECONDS * 2 ** (self._failures - 1), self.refresh_interval)
        self._not_before = now + backoff
        if self._flight is flight:
            self._flight = None
        flight.done.set()

    def _why(self, kid: str | None, current: _KeySet | None, now: float) -> str:
        with self._lock:
            flight = self._flight
            if flight is None:
                error = self._last_error
            elif now >= flight.deadline:
                error = "certs fetch did not finish within its deadline"
            else:
                error = None  # still running: the caller gave up waiting first
        if current is not None and kid is not None and kid not in current.keys and now < current.usable_until:
            if error:
                return f"token key id is not in the cached certs and refreshing them failed: {error}"
            if flight is not None:
                return "token key id is not in the cached certs; a refetch is still running"
            return "token key id is not in Google's current certs (refetched at most once per interval)"
        if current is not None and now >= current.usable_until:
            return f"cached certs are older than the staleness bound and refreshing failed: {error or 'still trying'}"
        return f"no certs yet: {error or 'the first fetch is still running'}"

    def _retry_after(self, now: float) -> int:
        with self._lock:
            wait = self._not_before - now
        return max(1, min(math.ceil(wait), int(self.refresh_interval) or 1))

    def snapshot(self) -> dict[str, Any]:
        """Counters and state for tests and benchmarks."""
        with self._lock:
            current = self._current
            return {
                "fetches": self.fetches,
                "failures": self._failures,
                "last_error": self._last_error,
                "kids": sorted(current.keys) if current else [],
            }


def _start_daemon(target: Callable[[], None]) -> None:
    threading.Thread(target=target, name="certs-fetch", daemon=True).start()
