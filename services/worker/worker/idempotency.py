"""Per-instance, bounded, thread-safe record of processed jobs, keyed by (caller, job id).

Pub/Sub delivers at least once and Eventarc retries failures, so one message id can arrive again,
even concurrently. This store makes a repeat on the same instance return the first result. The key
includes the verified caller, so one caller never sees another's result, and each entry keeps a
digest of its job: the same id with a different job is a `Conflict` (HTTP 409), never the first
job's result. It is per instance and in memory: a repeat landing on another instance, or after a
restart, is processed again. Exactly-once across instances needs a shared store
(Firestore/Memorystore keyed the same way with a TTL), the production extension in the README.

Bounded by `max_entries`, but an entry whose job is still running is never evicted: forgetting it
would let a duplicate arriving meanwhile run the same job concurrently. When over the cap, the
oldest *finished* entries go first; if every entry is still running, the store holds more than
`max_entries` until some finish. That overshoot is bounded by the requests one instance runs at
once (request threads, one process), and refusing new ids with 503 instead would only turn a
burst of distinct jobs into retries.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class StillProcessing(Exception):
    """The same id is being processed by another request that has not finished (or failed)."""


class Conflict(Exception):
    """The same caller sent this id before with a different job."""


Key = tuple[str, str]  # (caller, job id)


class _Entry:
    __slots__ = ("digest", "done", "expires", "result")

    def __init__(self, digest: str) -> None:
        self.digest = digest
        self.done = threading.Event()
        self.result: dict[str, Any] | None = None
        self.expires = _RUNNING

    @property
    def finished(self) -> bool:
        return self.expires != _RUNNING


_RUNNING = float("inf")  # the expiry of an entry whose job has not finished


class IdempotencyStore:
    def __init__(
        self,
        max_entries: int = 10_000,
        ttl_seconds: float = 24 * 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1 or ttl_seconds <= 0:
            raise ValueError("max_entries must be >= 1 and ttl_seconds > 0")
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._entries: OrderedDict[Key, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def run_once(
        self, key: Key, compute: Callable[[], dict[str, Any]], digest: str = "", wait_seconds: float = 30.0
    ) -> tuple[dict[str, Any], bool]:
        """Returns (result, duplicate). Runs `compute` only if `key` has no live entry.

        `digest` identifies the job's content: a live entry with another digest raises Conflict.
        """
        now = self._clock()
        with self._lock:
            self._sweep(now)
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = _Entry(digest)
                self._entries[key] = entry
                self._sweep(now)
            elif entry.digest != digest:
                raise Conflict(key[1])
        if not owner:
            if not entry.done.wait(wait_seconds) or entry.result is None:
                raise StillProcessing(key)
            return entry.result, True
        try:
            result = compute()
        except BaseException:
            # Forget the id so the platform's retry computes it again.
            with self._lock:
                if self._entries.get(key) is entry:
                    del self._entries[key]
            entry.done.set()
            raise
        entry.result = result
        with self._lock:
            entry.expires = self._clock() + self.ttl_seconds
            # Finished entries sit in finishing order, which with one TTL is expiry order.
            if self._entries.get(key) is entry:
                self._entries.move_to_end(key)
        entry.done.set()
        return result, False

    def _sweep(self, now: float) -> None:
        """Drops expired entries, then the oldest finished ones while over the cap; never a running one."""
        over = len(self._entries) - self.max_entries
        victims: list[Key] = []
        for key, entry in self._entries.items():
            if not entry.finished:
                continue  # at most one per request in flight, so skipping them stays cheap
            if entry.expires <= now or len(victims) < over:
                victims.append(key)
            else:
                break  # finished entries are in expiry order: nothing later has expired
        for key in victims:
            del self._entries[key]
