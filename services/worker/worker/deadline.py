"""One overall deadline for HTTP calls made with requests, headers included.

requests' timeouts bound each socket operation, not the call: a server that trickles its status line and
headers one byte at a time keeps a call (and the thread making it) alive indefinitely. Inside
`with deadline(at):`, every connection the calling thread opens or reuses through a session prepared by
`bounded(session)` is registered, and when `at` passes a timer shuts those sockets down: the blocked read
returns at once and requests raises, whatever phase the call was in. A connection attempted after the
deadline fails immediately.

The worker (certs fetches) and the relay (metadata server, Pub/Sub) each ship a copy of this module: they
are deployed apart. tests/runtime/test_packaging.py keeps the two copies identical.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any, cast

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_current = threading.local()


class DeadlinePassed(OSError):
    """A connection was attempted after the call's deadline."""


class Deadline:
    """The sockets of one bounded call; `expire()` shuts them all (from the timer thread)."""

    def __init__(self, at: float) -> None:
        self.at = at
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def adopt(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            if not self.expired:
                self._sockets.append(sock)
                return
        _shut(sock)

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


@contextlib.contextmanager
def deadline(at: float) -> Iterator[Deadline]:
    """Bounds every call this thread makes through a bounded session until `at` (time.monotonic())."""
    scope = Deadline(at)
    timer = threading.Timer(max(at - time.monotonic(), 0.0), scope.expire)
    timer.daemon = True
    previous = getattr(_current, "scope", None)
    _current.scope = scope
    timer.start()
    try:
        yield scope
    finally:
        _current.scope = previous
        timer.cancel()


def _scope() -> Deadline | None:
    scope = getattr(_current, "scope", None)
    if scope is not None and (scope.expired or time.monotonic() >= scope.at):
        scope.expire()
    return scope


class _Bounded:
    """Mixed into urllib3's connections: each registers its socket with the calling thread's deadline."""

    sock: socket.socket | None

    def connect(self) -> None:
        scope = _scope()
        if scope is not None and scope.expired:
            raise DeadlinePassed("the call's deadline passed before this connection")
        super().connect()  # type: ignore[misc]
        if scope is not None:
            scope.adopt(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> Any:
        scope = _scope()
        if scope is not None:
            scope.adopt(self.sock)  # a kept-alive connection, reused: registered before it is used again
        return super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_Bounded, HTTPConnection):
    pass


class _HTTPSConnection(_Bounded, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    # Any: urllib3's own connection classes do not satisfy the protocol it declares here, for a type checker.
    ConnectionCls = cast(Any, _HTTPConnection)


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = cast(Any, _HTTPSConnection)


def bounded(session: requests.Session) -> requests.Session:
    """`session`, its adapters' connections registering with the calling thread's deadline (if any)."""
    for adapter in session.adapters.values():
        if isinstance(adapter, HTTPAdapter):
            adapter.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return session
