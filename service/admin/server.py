"""Serve the admin app with uvicorn in a background thread, on a socket bound up front so errors are ours to report.

The server runs inside the worker, next to the sync, so what a client can make it hold is bounded (`Limits`): open
connections, header size, idle keep-alive time, and the time to send a whole request. uvicorn has no deadline for a
request still arriving (its keep-alive timer stops at the first byte), so `DeadlineH11Protocol` adds one: a
connection that has not delivered a complete request within `request_seconds` of opening, or of its previous
answer, is closed. At the connection cap a new connection first closes the one that has waited longest without
delivering a request, so a flood of slow connections cannot lock out a client that sends its request at once
(uvicorn answers 503 only when every connection is busy with a request). Body size and the token are checked by
`service.admin.guard`.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from dataclasses import dataclass

import structlog
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

log = structlog.get_logger(__name__)

START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class Limits:
    """What one client can make the admin server hold."""

    max_connections: int = 256  # open connections; at the cap the longest-waiting one without a request is closed
    request_seconds: float = 10.0  # to send a complete request (headers and body) after connecting or an answer
    keep_alive_seconds: int = 5  # an idle connection between requests
    max_header_bytes: int = 16 * 1024  # an incomplete request head larger than this is a 400 and closed


class DeadlineH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a deadline for receiving each request in full (see the module docstring)."""

    request_seconds = Limits.request_seconds
    max_connections = Limits.max_connections

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._received: object | None = None  # the request cycle last received in full
        self._deadline: asyncio.TimerHandle | None = None
        self._waiting_since = self.loop.time()
        self._arm()
        self._evict_the_slowest_at_the_cap()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._disarm_once_received()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()
            self._disarm_once_received()  # a pipelined request may already be in

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def _evict_the_slowest_at_the_cap(self) -> None:
        open_ = [c for c in self.connections if isinstance(c, DeadlineH11Protocol) and not c.transport.is_closing()]
        if len(open_) < self.max_connections:
            return
        waiting = [c for c in open_ if c is not self and c._deadline is not None]
        if waiting:
            oldest = min(waiting, key=lambda c: c._waiting_since)
            log.debug("admin_connection_evicted", client=oldest.client, open=len(open_))
            oldest.transport.close()

    def _arm(self) -> None:
        self._cancel()
        self._waiting_since = self.loop.time()
        self._deadline = self.loop.call_later(self.request_seconds, self._too_slow)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _disarm_once_received(self) -> None:
        cycle = self.cycle
        if cycle is not None and cycle is not self._received and not cycle.more_body:
            self._received = cycle
            self._cancel()

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            log.debug("admin_request_too_slow", client=self.client, seconds=self.request_seconds)
            self.transport.close()


class AdminServer:
    """uvicorn in a thread: `start` binds and serves, `stop` asks it to finish and joins."""

    def __init__(self, app: FastAPI, host: str, port: int, limits: Limits | None = None) -> None:
        self.host = host
        self._socket = _bind(host, port)
        self.port = int(self._socket.getsockname()[1])
        limits = limits or Limits()
        deadlines = {"request_seconds": limits.request_seconds, "max_connections": limits.max_connections}
        protocol = type("AdminHttp", (DeadlineH11Protocol,), deadlines)
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
            http=protocol,
            limit_concurrency=limits.max_connections,
            timeout_keep_alive=limits.keep_alive_seconds,
            h11_max_incomplete_event_size=limits.max_header_bytes,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="admin-api", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the running server."""
        return local_url(self.host, self.port)

    def start(self) -> None:
        """Serve; returns once uvicorn accepts connections (RuntimeError if it did not start)."""
        self._thread.start()
        for _ in range(int(START_TIMEOUT_SECONDS / 0.05)):
            if self._server.started or not self._thread.is_alive():
                break
            time.sleep(0.05)
        if not self._server.started:
            raise RuntimeError("the admin API did not start")
        log.info("admin_api_started", host=self.host, port=self.port)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()
        log.info("admin_api_stopped")

    def _serve(self) -> None:
        self._server.run(sockets=[self._socket])


def local_url(host: str, port: int) -> str:
    """The URL that reaches a server listening on `host`:`port` from this machine (a wildcard host is local)."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - comparing, not binding
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
