"""The moment a request leaves: urllib3 connections that tell the rate limiter when a request is written.

HubSpot counts a request in its windows when it arrives. The limiter takes a slot before the request is handed to
the SDK, and the request leaves some time later: after the SDK builds it, after a new connection's handshake, after
the GIL comes back from threads busy decoding pages. With requests in flight that delay varies by more than the
limiter's guard, so a slot's time is corrected to the moment the request is written (`on_send`), here, one step
before its bytes go out. What is left (the network, the other side's scheduling) the limiter bounds with the
answer and its arrival allowance (`sync.hubspot.ratelimit`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

_local = threading.local()


@contextmanager
def on_send(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` once, on this thread, when the next request is about to be written (connected by then)."""
    _local.callback = callback
    try:
        yield
    finally:
        _local.callback = None


def _written() -> None:
    callback: Callable[[], None] | None = getattr(_local, "callback", None)
    if callback is not None:
        _local.callback = None
        callback()


class _TellsWhenSent:
    """Mixin for urllib3 connections: connect first (as the first write would), then report, then write."""

    sock: Any

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is None:
            self.connect()  # type: ignore[attr-defined]
        _written()
        super().request(*args, **kwargs)  # type: ignore[misc]


class _HTTPConnection(_TellsWhenSent, HTTPConnection):
    pass


class _HTTPSConnection(_TellsWhenSent, HTTPSConnection):
    pass


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def install(pool_manager: urllib3.PoolManager) -> None:
    """Make the pools `pool_manager` creates from now on report each request's sending (`on_send`)."""
    pool_manager.pool_classes_by_scheme = {"http": _HTTPConnectionPool, "https": _HTTPSConnectionPool}
