"""`sync.hubspot.wire`: the client's connections say when each request is written, so a rate-limit slot counts
from the request's departure, as HubSpot counts it from its arrival."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import urllib3
from pydantic import SecretStr

from sandbox.harness import RunningSandbox
from sync.config import HubSpotConfig
from sync.hubspot import wire
from sync.hubspot.client import HubSpotClient
from sync.hubspot.ratelimit import RateLimiter
from tests.helpers import free_port


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open between requests
    read_at: list[float]

    def do_GET(self) -> None:
        type(self).read_at.append(time.monotonic())
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[float]]]:
    """A local HTTP server that notes when it has read each request."""
    read_at: list[float] = []
    handler = type("Handler", (_Handler,), {"read_at": read_at})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/", read_at
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_each_request_is_reported_once_when_written_before_the_server_reads_it(
    server: tuple[str, list[float]],
) -> None:
    """Two requests on one kept-alive connection: each reports its writing once, and before the server read it."""
    url, read_at = server
    pool = urllib3.PoolManager(retries=False)
    wire.install(pool)
    written: list[float] = []
    for _ in range(2):
        with wire.on_send(lambda: written.append(time.monotonic())):
            assert pool.request("GET", url).status == 200
    assert len(written) == len(read_at) == 2
    assert all(w <= r for w, r in zip(written, read_at, strict=True))
    assert pool.connection_from_url(url).num_connections == 1  # the second request reused the connection


def test_the_report_belongs_to_one_request_on_one_thread(server: tuple[str, list[float]]) -> None:
    """`on_send` reports the first request written inside it, once: neither a second request inside it, nor one
    after it, nor one on another thread meanwhile repeats the report."""
    url, read_at = server
    pool = urllib3.PoolManager(retries=False)
    wire.install(pool)
    written: list[str] = []
    with wire.on_send(lambda: written.append("first")):
        other = threading.Thread(target=pool.request, args=("GET", url))
        other.start()
        other.join()
        pool.request("GET", url)
        pool.request("GET", url)
    pool.request("GET", url)
    assert written == ["first"]
    assert len(read_at) == 4


def test_a_request_that_never_connects_is_never_reported() -> None:
    """Nothing listens on the port: the request is not written, so its slot keeps the time it was taken."""
    pool = urllib3.PoolManager(retries=False)
    wire.install(pool)
    written: list[str] = []
    with wire.on_send(lambda: written.append("written")), pytest.raises(urllib3.exceptions.NewConnectionError):
        pool.request("GET", f"http://127.0.0.1:{free_port()}/")
    assert written == []


class _Watching(RateLimiter):
    """The real limiter, noting which stamps the client moved (to check the client's wiring, not the rules)."""

    def __init__(self) -> None:
        super().__init__(190, 5, 1_000_000)
        self.moves: list[tuple[str, float, float]] = []

    def sent(self, taken_at: float, search: bool = False) -> float:
        written = super().sent(taken_at, search)
        self.moves.append(("sent", taken_at, written))
        return written

    def answered(self, written_at: float, search: bool = False) -> float:
        counted = super().answered(written_at, search)
        self.moves.append(("answered", written_at, counted))
        return counted


def test_the_client_moves_each_slot_to_its_writing_then_to_its_arrival(sandbox: RunningSandbox) -> None:
    """Through the SDK's own pool: every request the client sends moves its slot once when written, then once when
    answered, from the time it was written."""
    limiter = _Watching()
    config = HubSpotConfig(token=SecretStr(sandbox.token), base_url=sandbox.base_url, max_retries=0)
    client = HubSpotClient(config, limiter=limiter)
    client.sample_owners()
    client.sample_owners()
    kinds = [kind for kind, _, _ in limiter.moves]
    assert kinds == ["sent", "answered", "sent", "answered"]
    for first in (0, 2):
        (_, taken, written), (_, from_, counted) = limiter.moves[first], limiter.moves[first + 1]
        assert taken <= written == from_ <= counted
