"""Tokens never leak: not in the rendered log output, exceptions, run history, or the repr of settings.

The log checks run the service's real pipeline (`configure_service_logging`: processors, scrubber and JSON
renderer) into a stream and read what it wrote; `capture_logs` would switch the scrubber off.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import structlog
from sqlalchemy import Engine, select

from sandbox.harness import RunningSandbox
from service.cli.common import configure_service_logging
from service.settings import Settings
from storage import repo
from storage import tables as t
from sync.cycle import CycleOptions, RunSummary, run_cycle
from tests.helpers import settings_for

ADMIN_TOKEN = "admin-token-0123456789abcdef"


def test_settings_repr_hides_both_tokens(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """repr() and str() of Settings show neither the HubSpot nor the admin token."""
    settings = settings_for(sandbox, sqlite_url, kpi_sync_admin_token=ADMIN_TOKEN)
    text = repr(settings) + str(settings) + str(settings.model_dump())
    assert sandbox.token not in text
    assert ADMIN_TOKEN not in text


def rendered_logs(settings: Settings) -> io.StringIO:
    """Configure logging as the service does, at debug level, rendering JSON lines into the returned stream."""
    stream = io.StringIO()
    configure_service_logging(settings.model_copy(update={"log_level": "debug", "log_format": "json"}), stream)
    return stream


def json_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """Every line the pipeline wrote, parsed (each must be one JSON object)."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def history_and_summary(engine: Engine, summary: RunSummary) -> str:
    """The run history rows and the summary, as text."""
    with engine.connect() as conn:
        history = [dict(r) for r in conn.execute(select(repo.table(t.SyncRun))).mappings()]
    return repr(history) + repr(summary)


def nested_token(token: str) -> dict[str, Any]:
    """A log value that carries the token below the top level, in every container shape."""
    return {
        "headers": {"Authorization": f"Bearer {token}"},
        "attempts": [{"n": 1, "sent": f"Bearer {token}"}],
        "pair": ("authorization", token),
    }


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(lambda tok: {"headers": {"Authorization": f"Bearer {tok}"}}, id="dict-in-dict"),
        pytest.param(lambda tok: [["x", f"Bearer {tok}"]], id="list-in-list"),
        pytest.param(lambda tok: ("authorization", tok), id="tuple"),
        pytest.param(lambda tok: {tok: "as a key"}, id="mapping-key"),
        pytest.param(lambda tok: RuntimeError(f"401 for Bearer {tok}"), id="exception-value"),
    ],
)
def test_the_scrubber_masks_a_token_nested_in_a_value(sandbox: RunningSandbox, sqlite_url: str, value: Any) -> None:
    """A token at any depth of a logged value is rendered as *** by the service's pipeline."""
    stream = rendered_logs(settings_for(sandbox, sqlite_url))
    structlog.get_logger("test").warning("request_failed", detail=value(sandbox.token))
    assert sandbox.token not in stream.getvalue()
    assert "***" in stream.getvalue()
    assert [e["event"] for e in json_lines(stream)] == ["request_failed"]


@pytest.mark.parametrize("how", ["log.exception", "exc_info=err"])
def test_the_scrubber_masks_a_token_in_exception_text(sandbox: RunningSandbox, sqlite_url: str, how: str) -> None:
    """An exception logged with its traceback (whose message carries the token) is rendered, token masked."""
    stream = rendered_logs(settings_for(sandbox, sqlite_url))
    log = structlog.get_logger("test")
    try:
        raise RuntimeError(f"HubSpot said: bad token {sandbox.token}")
    except RuntimeError as err:
        if how == "log.exception":
            log.exception("call_failed")
        else:
            log.error("call_failed", exc_info=err)
    [event] = json_lines(stream)
    assert "RuntimeError: HubSpot said: bad token ***" in event["exception"]
    assert sandbox.token not in stream.getvalue()


@pytest.mark.parametrize(
    ("faults", "kinds"),
    [
        ({"rate_429": 0.2, "rate_5xx": 0.1, "rate_malformed": 0.05, "rate_partial": 0.2, "seed": 3}, ["429", "5xx"]),
        ({"rate_drop": 0.1, "rate_slow": 0.1, "slow_ms": 50, "seed": 4}, ["drop", "slow"]),
    ],
    ids=["429-5xx-malformed-partial", "drop-slow"],
)
def test_a_faulty_run_never_shows_the_token(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, faults: dict[str, object], kinds: list[str]
) -> None:
    """Under faults the sandbox really injected, and with the token bound nested into every line of the run, no
    rendered log line, run-history row or summary contains either token."""
    sandbox.settings(time_scale=0.05)
    sandbox.set_faults(**faults)
    settings = settings_for(sandbox, sqlite_url, kpi_sync_admin_token=ADMIN_TOKEN, hubspot_max_retries=3)
    stream = rendered_logs(settings)
    with structlog.contextvars.bound_contextvars(request=nested_token(sandbox.token), admin=[ADMIN_TOKEN]):
        summary = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions())
    injected = sandbox.stats()["faults"]
    assert all(injected[kind] for kind in kinds), injected
    assert summary.counts.api.faults, summary.counts.api
    events = json_lines(stream)
    assert "cycle_finished" in [e["event"] for e in events]
    assert all(e["request"]["headers"]["Authorization"] == "Bearer ***" for e in events)
    everything = stream.getvalue() + history_and_summary(sqlite_store, summary)
    assert sandbox.token not in everything
    assert ADMIN_TOKEN not in everything


class EchoingProxy(ThreadingHTTPServer):
    """Relays requests to the sandbox, but answers the `fail_at`-th one (and every later one) with a 401 that echoes
    the request's Authorization header in its body and headers, as a careless gateway might."""

    def __init__(self, upstream: str, fail_at: int) -> None:
        super().__init__(("127.0.0.1", 0), _Relay)
        self.upstream, self.fail_at = upstream, fail_at
        self.seen = self.echoed = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        """Where the proxy listens."""
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Relay(BaseHTTPRequestHandler):
    server: EchoingProxy

    def _relay(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        auth = self.headers.get("Authorization", "")
        with self.server.lock:
            self.server.seen += 1
            echo = self.server.seen >= self.server.fail_at
            self.server.echoed += echo
        if echo:
            answer = {"status": "error", "category": "INVALID_AUTHENTICATION", "message": f"bad credentials: {auth}"}
            self._send(401, json.dumps(answer).encode(), {"WWW-Authenticate": f'Bearer error="{auth}"'})
            return
        request = urllib.request.Request(  # noqa: S310 - the local sandbox
            self.server.upstream + self.path, data=body or None, method=self.command, headers=dict(self.headers)
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local sandbox
                self._send(response.status, response.read(), dict(response.headers))
        except urllib.error.HTTPError as err:
            self._send(err.code, err.read(), dict(err.headers))

    def _send(self, status: int, data: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay  # noqa: N815 - http.server's naming

    def log_message(self, *_: Any) -> None:
        """Quiet: the test reads the service's logs, not the proxy's."""


@pytest.fixture
def echoing_proxy(sandbox: RunningSandbox) -> Iterator[EchoingProxy]:
    """A proxy in front of the sandbox whose 40th request (and later ones) get a 401 echoing the token."""
    proxy = EchoingProxy(sandbox.base_url, fail_at=40)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
    thread.join()


def test_a_401_echoing_the_token_fails_the_run_without_showing_it(
    sandbox: RunningSandbox, echoing_proxy: EchoingProxy, sqlite_store: Engine, sqlite_url: str
) -> None:
    """After 5xx and 429 faults from the sandbox, a 401 whose body and headers echo the token fails the run with an
    error naming HUBSPOT_ACCESS_TOKEN; no rendered line, history row or summary shows the token."""
    sandbox.settings(time_scale=0.05)
    sandbox.set_faults(rate_429=0.15, rate_5xx=0.15, seed=5)
    settings = settings_for(sandbox, sqlite_url, hubspot_base_url=echoing_proxy.url)
    stream = rendered_logs(settings)
    summary = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions())
    injected = sandbox.stats()["faults"]
    assert injected["429"], injected
    assert injected["5xx"], injected
    # A 401 is fatal: never retried, and no request is sent after it (those already in flight got their own 401).
    assert 1 <= echoing_proxy.echoed <= settings.hubspot_max_in_flight
    assert summary.outcome == "failed"
    assert "HUBSPOT_ACCESS_TOKEN" in (summary.error or "")
    assert "cycle_finished" in [e["event"] for e in json_lines(stream)]
    assert sandbox.token not in stream.getvalue() + history_and_summary(sqlite_store, summary)
