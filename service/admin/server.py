"""Serve the admin app with uvicorn in a background thread, on a socket bound up front so errors are ours to report."""

from __future__ import annotations

import socket
import threading
import time

import structlog
import uvicorn
from fastapi import FastAPI

log = structlog.get_logger(__name__)

START_TIMEOUT_SECONDS = 10.0


class AdminServer:
    """uvicorn in a thread: `start` binds and serves, `stop` asks it to finish and joins."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.host = host
        self._socket = _bind(host, port)
        self.port = int(self._socket.getsockname()[1])
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", timeout_graceful_shutdown=5)
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
