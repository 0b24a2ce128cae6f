"""The admin API: bearer-token auth on every protected endpoint, open probes and metrics, the documented shape."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

from service.admin.api import create_app
from service.admin.server import local_url
from service.settings import load_settings
from storage.engine import make_engine
from sync import runs
from sync.cycle import CycleOptions, RunSummary
from sync.runs import RunCounts, RunKind, RunOutcome
from tests.helpers import ADMIN_TOKEN, FakeWorker, copy_store, make_counts, serving

PROTECTED = [
    ("POST", "/resync"),
    ("GET", "/runs"),
    ("GET", "/runs/1"),
    ("GET", "/status"),
    ("GET", "/kpis"),
    ("GET", "/ui/panel"),
]
OPEN = ["/healthz", "/readyz", "/metrics", "/openapi.json", "/"]
BAD_CREDENTIALS = [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": "Bearer wrong-token"}, id="wrong-token"),
    pytest.param({"Authorization": f"Bearer {ADMIN_TOKEN}x"}, id="token-prefix"),
    pytest.param({"Authorization": f"Basic {ADMIN_TOKEN}"}, id="wrong-scheme"),
    pytest.param({"Authorization": "Bearer"}, id="empty-token"),
]
GOOD = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def worker() -> FakeWorker:
    return FakeWorker()


@pytest.fixture(scope="module")
def shared(
    tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path
) -> Iterator[tuple[httpx.Client, FakeWorker]]:
    """One server with a token and one without, for the read-only auth tables (starting one per case is slow)."""
    engine = make_engine(copy_store(migrated_sqlite, tmp_path_factory.mktemp("shared")))
    worker = FakeWorker()
    with_token = load_settings(database_url=str(engine.url), kpi_sync_admin_token=ADMIN_TOKEN)
    with serving(create_app(engine, with_token, worker)) as http:
        yield http, worker
    engine.dispose()


@pytest.fixture(scope="module")
def shared_no_token(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path) -> Iterator[httpx.Client]:
    """A server whose admin token is not configured."""
    engine = make_engine(copy_store(migrated_sqlite, tmp_path_factory.mktemp("shared")))
    with serving(create_app(engine, load_settings(database_url=str(engine.url)), FakeWorker())) as http:
        yield http
    engine.dispose()


@pytest.fixture
def client(sqlite_store: Engine, worker: FakeWorker) -> Iterator[httpx.Client]:
    settings = load_settings(database_url=str(sqlite_store.url), kpi_sync_admin_token=ADMIN_TOKEN)
    with serving(create_app(sqlite_store, settings, worker)) as http:
        yield http


@pytest.mark.parametrize("headers", BAD_CREDENTIALS)
@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_endpoints_answer_401_without_the_right_token(
    shared: tuple[httpx.Client, FakeWorker], method: str, path: str, headers: dict[str, str]
) -> None:
    """No token, a wrong one or another scheme: 401 with a Bearer challenge, and nothing happens."""
    client, worker = shared
    response = client.request(method, path, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert worker.requests == []


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_protected_endpoints_are_disabled_without_a_configured_token(
    shared_no_token: httpx.Client, method: str, path: str
) -> None:
    """With KPI_SYNC_ADMIN_TOKEN unset the admin endpoints are disabled (403), never open - whatever is sent."""
    for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer anything"}):
        response = shared_no_token.request(method, path, headers=headers)
        assert response.status_code == 403
        assert "disabled" in response.json()["detail"]


@pytest.mark.parametrize("path", OPEN)
def test_probes_metrics_openapi_and_page_shell_are_open(shared_no_token: httpx.Client, path: str) -> None:
    """Health, metrics, the OpenAPI document and the page shell need no token."""
    assert shared_no_token.get(path).status_code == 200


@pytest.mark.parametrize(("method", "path"), [p for p in PROTECTED if p[1] != "/runs/1"])
def test_the_right_token_is_accepted_and_never_echoed(client: httpx.Client, method: str, path: str) -> None:
    """With the configured token every protected endpoint answers, and no answer contains the token."""
    response = client.request(method, path, headers=GOOD)
    assert response.status_code in (200, 202)
    assert ADMIN_TOKEN not in response.text


def test_resync_passes_the_request_to_the_worker(client: httpx.Client, worker: FakeWorker) -> None:
    """POST /resync with a body queues that request and answers 202 with its state."""
    response = client.post("/resync", headers=GOOD, json={"full": True, "objects": ["contacts", "deals"]})
    assert response.status_code == 202
    assert response.json()["state"] == "started"
    assert worker.requests == [
        CycleOptions(trigger="api", full=True, objects=("contacts", "deals"), requested_by="127.0.0.1")
    ]


def test_resync_takes_query_parameters(client: httpx.Client, worker: FakeWorker) -> None:
    """The query form (what the page and curl use) works too; objects may repeat or be comma-separated."""
    response = client.post("/resync?full=true&objects=contacts,deals&objects=calls&trigger=page", headers=GOOD)
    assert response.status_code == 202
    assert worker.requests == [
        CycleOptions(trigger="page", full=True, objects=("contacts", "deals", "calls"), requested_by="127.0.0.1")
    ]


def test_resync_rejects_unknown_objects(client: httpx.Client, worker: FakeWorker) -> None:
    """An unknown object type is a 422 naming it; nothing is queued."""
    response = client.post("/resync", headers=GOOD, json={"objects": ["contacts", "widgets"]})
    assert response.status_code == 422
    assert "widgets" in response.text
    assert worker.requests == []


def test_resync_without_a_worker_is_unavailable(sqlite_store: Engine) -> None:
    """An admin app with no scheduler behind it cannot start cycles: 503."""
    settings = load_settings(database_url=str(sqlite_store.url), kpi_sync_admin_token=ADMIN_TOKEN)
    with serving(create_app(sqlite_store, settings, None)) as http:
        assert http.post("/resync", headers=GOOD).status_code == 503


@pytest.mark.parametrize(
    ("run_id", "code"),
    [("0", 422), ("-1", 422), ("9223372036854775807", 404), ("9223372036854775808", 422), ("1" + "0" * 30, 422)],
)
def test_run_ids_beyond_the_database_range_are_refused_not_a_server_error(
    shared: tuple[httpx.Client, FakeWorker], run_id: str, code: int
) -> None:
    """Run ids are positive 64-bit integers: anything else is a 422 (a bigger number used to crash SQLite: 500)."""
    client, _ = shared
    assert client.get(f"/runs/{run_id}", headers=GOOD).status_code == code


def test_runs_and_one_run(client: httpx.Client, sqlite_store: Engine) -> None:
    """GET /runs lists runs newest first with ISO times; GET /runs/{id} returns one or 404."""
    first = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(sqlite_store, first, RunOutcome.OK, counts=make_counts(fetched={"contacts": 3}, api_calls=4))
    second = runs.open_run(sqlite_store, runs.RunKind.FULL, "api", runs.now_ms())
    listed = client.get("/runs", headers=GOOD).json()
    assert [r["id"] for r in listed] == [second, first]
    one = client.get(f"/runs/{first}", headers=GOOD).json()
    assert (one["outcome"], one["pulled"], one["api_calls"]) == ("ok", 3, 4)
    assert one["started_at_iso"].endswith("+00:00")
    assert client.get("/runs/999", headers=GOOD).status_code == 404


def test_status_reports_budget_cursors_and_worker(client: httpx.Client, sqlite_store: Engine) -> None:
    """GET /status: last run, cursors, API calls used today against the budget, the worker's state."""
    run_id = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(sqlite_store, run_id, RunOutcome.OK, counts=make_counts(api_calls=17))
    document = client.get("/status", headers=GOOD).json()
    assert document["last_run"]["id"] == run_id
    assert document["api_budget"]["used_today"] == 17
    assert document["api_budget"]["daily_budget"] == 500_000
    assert document["cursors"] == []
    assert document["worker"]["running"] is None
    assert set(document["schedule"]) == {"interval_minutes", "reconcile_cron", "next_run_at"}


def test_kpis_is_the_json_report(client: httpx.Client) -> None:
    """GET /kpis returns the report document (every KPI with its benchmark), and validates the period."""
    report = client.get("/kpis", headers=GOOD).json()
    assert report["period"] == "all"
    assert set(report["kpis"]) == {"K1", "K2", "K3", "K4", "K5"}
    assert "benchmark" in report["kpis"]["K1"]
    assert client.get("/kpis?period=2026-13", headers=GOOD).status_code == 422


def test_readyz_follows_the_last_finished_cycle(client: httpx.Client, sqlite_store: Engine) -> None:
    """Ready with no runs or a good last run; 503 once the last finished cycle failed (without its error text)."""
    assert client.get("/readyz").json() == {"ready": True, "reason": "ok"}
    run_id = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(sqlite_store, run_id, RunOutcome.FAILED, counts=RunCounts(), error="HubSpot refused the token")
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["ready"] is False
    assert "HubSpot" not in response.text


def test_metrics_are_prometheus_text(client: httpx.Client, worker: FakeWorker) -> None:
    """GET /metrics serves the worker's registry in the Prometheus text format."""
    summary = RunSummary(1, RunOutcome.OK, make_counts(api_calls=5))
    worker.metrics.observe_cycle(RunKind.SYNC, summary, 2.0)
    response = client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    assert 'kpi_sync_cycles_total{kind="sync",outcome="ok"} 1.0' in response.text
    assert "kpi_sync_api_calls_total 5.0" in response.text


def test_openapi_documents_every_endpoint_and_the_bearer_scheme(client: httpx.Client) -> None:
    """The OpenAPI document lists the endpoints and the bearer security scheme of the protected ones."""
    document = client.get("/openapi.json").json()
    paths = set(document["paths"])
    assert {"/resync", "/runs", "/runs/{run_id}", "/status", "/kpis", "/healthz", "/readyz", "/metrics"} <= paths
    assert document["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "security" in document["paths"]["/status"]["get"]
    assert "security" not in document["paths"]["/healthz"]["get"]


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("0.0.0.0", 8080, "http://127.0.0.1:8080"),  # noqa: S104 - a string under test, nothing binds
        ("::", 8080, "http://127.0.0.1:8080"),
        ("", 8080, "http://127.0.0.1:8080"),
        ("127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("::1", 8080, "http://[::1]:8080"),
        ("worker", 8080, "http://worker:8080"),
    ],
)
def test_the_admin_url_of_a_listening_address(host: str, port: int, url: str) -> None:
    """Where this machine reaches a server bound to `host`: a wildcard is local, an IPv6 literal is bracketed."""
    assert local_url(host, port) == url
