"""The HTTP/1.1 keep-alive server (stdlib `ThreadingHTTPServer`) on 127.0.0.1 in front of `SandboxApp`."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sandbox.app import Outcome, SandboxApp
from sandbox.constants import CONTENT_TYPE

IDLE_TIMEOUT_S = 120


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_S
    server: SandboxHTTPServer

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        outcome = self.server.app.handle(self.command, self.path, self.headers.get("Authorization"), body)
        if outcome.drop:
            self.close_connection = True
            return
        if outcome.delay_s:
            time.sleep(outcome.delay_s)
        with contextlib.suppress(OSError):  # the client gave up waiting (a timeout), or the server stopped
            self._write(outcome)

    def _write(self, outcome: Outcome) -> None:
        lines = [f"HTTP/1.1 {outcome.status} {_reason(outcome.status)}"]
        if outcome.status != 204:
            lines.append(f"Content-Type: {CONTENT_TYPE}")
        lines.append(f"Content-Length: {len(outcome.body)}")
        lines += [f"{k}: {v}" for k, v in outcome.headers.items()]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if not outcome.trickle_s:
            self.wfile.write(head + outcome.body)
            return
        self.wfile.write(head)
        for i in range(len(outcome.body)):  # a slow body: each byte in time for a per-read timeout, never all
            time.sleep(outcome.trickle_s)
            self.wfile.write(outcome.body[i : i + 1])
            self.wfile.flush()

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's naming

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet: the operator API's stats are the request log."""


class SandboxHTTPServer(ThreadingHTTPServer):
    """Threading server that can close its keep-alive connections when it stops."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        super().__init__(address, _Handler)
        self.app = app
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down every open client connection (their handler threads then finish)."""
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class ServerThread:
    """Runs a `SandboxHTTPServer` in a background thread."""

    def __init__(self, app: SandboxApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = SandboxHTTPServer((host, port), app)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="sandbox-http", daemon=True
        )

    @property
    def url(self) -> str:
        """The base URL clients use."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Start serving."""
        self.thread.start()

    def stop(self) -> None:
        """Stop serving, close client connections and the listening socket."""
        self.server.shutdown()
        self.server.close_connections()
        self.server.server_close()
        self.thread.join(timeout=5)
