"""The upstream API key, read from the file Cloud Run mounts the secret at (`UPSTREAM_API_KEY_FILE`).

Read when a job needs it, never at start: the service's first revision starts before the secret has a version
(docs/design.md §2), and a mounted secret is resolved when the file is read, always its latest version. A
missing, empty or unreadable file is "cannot tell now" for the job that needs the key (`KeyUnavailable`, HTTP
503: the caller retries), never a crash. The value is kept for `ttl_seconds`, so a rotation is picked up within
that time without reading the file on every job. Reasons are fixed phrases; the key is never logged.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Callable
from pathlib import Path

# An API key is short; anything larger is not one (and is not read whole into memory).
MAX_KEY_BYTES = 8192
RETRY_AFTER_SECONDS = 30


class KeyUnavailable(Exception):
    """The key cannot be had now; `reason` is a fixed phrase naming the variable or the file's state."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UpstreamKey:
    def __init__(
        self, path: str | None, ttl_seconds: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.path = path
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._value: str | None = None
        self._read_at = 0.0
        self._lock = threading.Lock()

    def present(self) -> bool:
        """Whether the file is there now (for the start-up log line; a job still reads it when it runs)."""
        return self.path is not None and Path(self.path).is_file()

    def get(self) -> str:
        """The key, or KeyUnavailable."""
        with self._lock:
            now = self._clock()
            if self._value is not None and now - self._read_at < self.ttl_seconds:
                return self._value
            value = self._read()
            self._value, self._read_at = value, now
            return value

    def _read(self) -> str:
        if not self.path:
            raise KeyUnavailable("UPSTREAM_API_KEY_FILE is not set")
        try:
            with open(self.path, "rb") as file:
                raw = file.read(MAX_KEY_BYTES + 1)
        except FileNotFoundError:
            raise KeyUnavailable("the upstream key file is absent (no secret version yet?)") from None
        except OSError as exc:
            name = errno.errorcode.get(exc.errno or 0, type(exc).__name__)
            raise KeyUnavailable(f"the upstream key file could not be read ({name})") from None
        if len(raw) > MAX_KEY_BYTES:
            raise KeyUnavailable(f"the upstream key file is larger than {MAX_KEY_BYTES} bytes")
        try:
            key = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise KeyUnavailable("the upstream key file is not UTF-8") from None
        if not key:
            raise KeyUnavailable("the upstream key file is empty")
        return key
