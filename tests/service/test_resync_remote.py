"""`kpi-sync resync` against something at ADMIN_URL that is not the worker: no token leaves, no false success."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from service.cli import main
from tests.helpers import ADMIN_TOKEN


class _Stranger(BaseHTTPRequestHandler):
    """Answers every POST as configured on the server; remembers the Authorization headers it saw."""

    def do_POST(self) -> None:
        server = self.server
        assert isinstance(server, _Server)
        server.seen.append(self.headers.get("Authorization"))
        self.send_response(server.status)
        for name, value in server.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(server.body)

    def log_message(self, *_: object) -> None:
        return


class _Server(ThreadingHTTPServer):
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str]
    seen: list[str | None]


@contextmanager
def _serving(status: int, body: bytes, headers: dict[str, str] | None = None) -> Iterator[_Server]:
    server = _Server(("127.0.0.1", 0), _Stranger)
    server.status, server.body, server.headers, server.seen = status, body, headers or {}, []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def _resync(monkeypatch: pytest.MonkeyPatch, url: str) -> tuple[int, str]:
    monkeypatch.setenv("ADMIN_URL", url)
    monkeypatch.setenv("KPI_SYNC_ADMIN_TOKEN", ADMIN_TOKEN)
    result = CliRunner().invoke(main, ["resync"])
    return result.exit_code, result.output


@pytest.mark.parametrize("status", [301, 302, 303, 307])
def test_a_redirect_is_refused_and_the_token_goes_nowhere_else(monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    """A redirect from ADMIN_URL to another server fails the resync; the other server never sees the token."""
    with (
        _serving(200, b'{"state": "started"}') as elsewhere,
        _serving(status, b"", {"Location": f"http://127.0.0.1:{elsewhere.server_address[1]}/resync"}) as redirecting,
    ):
        code, output = _resync(monkeypatch, f"http://127.0.0.1:{redirecting.server_address[1]}")

    assert code == 1
    assert "redirect" in output
    assert elsewhere.seen == []


@pytest.mark.parametrize("body", [b"{}", b'{"state": null}', b"[]", b"<html>hello</html>"])
def test_an_answer_without_a_state_is_an_error(monkeypatch: pytest.MonkeyPatch, body: bytes) -> None:
    """Only `started` or `queued` is success; anything else at ADMIN_URL is not reported as a resync."""
    with _serving(200, body) as stranger:
        code, output = _resync(monkeypatch, f"http://127.0.0.1:{stranger.server_address[1]}")

    assert code == 1
    assert "resync None" not in output
