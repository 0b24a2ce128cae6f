"""The admin API under hostile clients, over real sockets to the real server: a body is refused before it is read
(no token: 401; too large: 413), slow or silent connections are closed, and a flood of them never locks out the
page or the CLI."""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import psutil
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from service.admin.api import create_app
from service.admin.guard import MAX_BODY_BYTES
from service.admin.server import AdminServer, Limits
from service.cli import main
from service.settings import load_settings
from tests.helpers import ADMIN_TOKEN, FakeWorker, wait_for

MB = 1024 * 1024
CHUNK = b" " * MB  # JSON whitespace: a body the API would parse if it read it
GOOD = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
FAST_DEADLINE = Limits(request_seconds=2.0, max_connections=64)


@contextmanager
def admin_server(engine: Engine, worker: FakeWorker, limits: Limits | None = None) -> Iterator[AdminServer]:
    settings = load_settings(database_url=str(engine.url), kpi_sync_admin_token=ADMIN_TOKEN)
    server = AdminServer(create_app(engine, settings, worker), "127.0.0.1", 0, limits)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Upload:
    """What happened to one raw HTTP upload: the status line answered, and how much of the body went out first."""

    status: int
    body_bytes_sent: int


def upload(port: int, head: str, chunks: Iterator[bytes]) -> Upload:
    """Send `head`, then `chunks` until the server answers (or stops reading); read the status line."""
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(head.encode())
        for chunk in chunks:
            if select.select([sock], [], [], 0)[0]:
                break  # the server answered: stop sending, as a client reading its socket would
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        answer = sock.recv(64 * 1024)
    return Upload(int(answer.split(b" ", 2)[1]), sent)


def plain(total: int) -> Iterator[bytes]:
    for _ in range(total // MB):
        yield CHUNK


def chunked(total: int) -> Iterator[bytes]:
    for _ in range(total // MB):
        yield f"{MB:x}\r\n".encode() + CHUNK + b"\r\n"
    yield b"0\r\n\r\n"


class PeakRss:
    """The highest resident memory of this process (the server runs in it) while the block runs."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start = self.peak = int(self._process.memory_info().rss)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, int(self._process.memory_info().rss))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.start) / MB


def post_200_mb(port: int, framing: str, authorization: str = "") -> Upload:
    """POST /resync announcing 200 MB (by Content-Length, or chunked without a length) and sending it."""
    total = 200 * MB
    framed = f"Content-Length: {total}" if framing == "content-length" else "Transfer-Encoding: chunked"
    head = f"POST /resync HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{authorization}{framed}\r\n\r\n"
    return upload(port, head, plain(total) if framing == "content-length" else chunked(total))


FRAMINGS = pytest.mark.parametrize("framing", ["content-length", "chunked"])


@FRAMINGS
def test_an_unauthenticated_200_mb_body_is_refused_unread(sqlite_store: Engine, framing: str) -> None:
    """No token, 200 MB announced: 401 from the headers alone, long before the body is sent, and the server's
    memory does not grow by the body (it grew by 1.45 GB for three of these before)."""
    worker = FakeWorker()
    with admin_server(sqlite_store, worker) as server, PeakRss() as rss:
        answer = post_200_mb(server.port, framing)

    assert answer.status == 401
    assert answer.body_bytes_sent < 100 * MB
    assert rss.growth_mb < 100, f"server memory grew {rss.growth_mb:.0f} MB for a refused request"
    assert worker.requests == []


@FRAMINGS
def test_an_authenticated_body_over_the_limit_is_413_before_it_is_read(sqlite_store: Engine, framing: str) -> None:
    """With the right token, a body over the limit is 413: at once when Content-Length says so, else as soon as
    the chunks pass the limit; the server stops reading it."""
    worker = FakeWorker()
    with admin_server(sqlite_store, worker) as server:
        answer = post_200_mb(server.port, framing, f"Authorization: Bearer {ADMIN_TOKEN}\r\n")

    assert answer.status == 413
    assert answer.body_bytes_sent < 100 * MB
    assert worker.requests == []


def test_a_body_within_the_limit_is_still_served(sqlite_store: Engine) -> None:
    """The limit leaves room for any real request: a resync body padded to just under it is accepted."""
    worker = FakeWorker()
    body = b'{"full": true}'.ljust(MAX_BODY_BYTES, b" ")
    with admin_server(sqlite_store, worker) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        response = http.post("/resync", headers={**GOOD, "Content-Type": "application/json"}, content=body)

    assert response.status_code == 202
    assert len(worker.requests) == 1


@contextmanager
def slow_clients(port: int, count: int, send_bytes: bool) -> Iterator[list[socket.socket]]:
    """`count` connections that send a request head one byte a second (or, silent, nothing at all)."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(count)]
    stop = threading.Event()

    def trickle() -> None:
        while not stop.wait(1.0):
            for sock in socks:
                try:
                    sock.send(b"G")
                except OSError:
                    continue

    thread = threading.Thread(target=trickle, daemon=True)
    if send_bytes:
        thread.start()
    try:
        yield socks
    finally:
        stop.set()
        if send_bytes:
            thread.join()
        for sock in socks:
            sock.close()


def closed_by_server(sock: socket.socket) -> bool:
    """The server closed this connection (EOF or reset), without blocking."""
    if not select.select([sock], [], [], 0)[0]:
        return False
    try:
        return sock.recv(1024, socket.MSG_PEEK) == b""
    except OSError:
        return True


@pytest.mark.parametrize("send_bytes", [True, False], ids=["one-byte-a-second", "silent"])
def test_slow_and_silent_connections_are_closed_by_the_server(sqlite_store: Engine, send_bytes: bool) -> None:
    """A connection that does not deliver a complete request within the request deadline is closed (uvicorn alone
    keeps both kinds open for ever)."""
    with (
        admin_server(sqlite_store, FakeWorker(), FAST_DEADLINE) as server,
        slow_clients(server.port, 20, send_bytes) as socks,
    ):
        wait_for(lambda: all(closed_by_server(s) for s in socks), timeout=60, what="the server to close them")


def test_a_slow_header_flood_does_not_lock_out_the_page_or_the_cli(
    sqlite_store: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 connections trickling a header byte a second, three times the connection cap: an authenticated GET,
    the page and `kpi-sync resync` against ADMIN_URL are answered at once, and the flood's connections are closed."""
    worker = FakeWorker()
    with (
        admin_server(sqlite_store, worker, FAST_DEADLINE) as server,
        slow_clients(server.port, 200, send_bytes=True) as socks,
        httpx.Client(base_url=server.url, timeout=30) as http,
    ):
        assert http.get("/status", headers=GOOD).status_code == 200
        assert http.get("/ui/panel", headers=GOOD).status_code == 200
        assert http.get("/").status_code == 200
        monkeypatch.setenv("ADMIN_URL", server.url)
        monkeypatch.setenv("KPI_SYNC_ADMIN_TOKEN", ADMIN_TOKEN)
        result = CliRunner().invoke(main, ["resync"])
        assert result.exit_code == 0, result.output
        assert len(worker.requests) == 1
        wait_for(lambda: all(closed_by_server(s) for s in socks), timeout=60, what="the flood to be closed")
