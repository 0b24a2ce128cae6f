"""A running cycle seen from outside: `/metrics` progress gauges and `GET /runs/{id}` and `/status` move while it
pulls, before it ends."""

from __future__ import annotations

import httpx
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from service.admin.api import create_app
from service.metrics import Metrics
from service.settings import load_settings
from sync.cycle import CycleOptions
from tests.helpers import ADMIN_TOKEN, FakeWorker, PauseAt, cycle_in_thread, sandbox_settings, serving, wait_for

GOOD = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_metrics_runs_and_status_show_a_cycle_held_mid_pull(sandbox: RunningSandbox, sqlite_store: Engine) -> None:
    """Held after its first page of contacts, the cycle's records and calls are in the progress gauges, and the
    running run's phase, object and records in `GET /runs/{id}` and `GET /status`."""
    worker = FakeWorker()
    metrics: Metrics = worker.metrics
    config = sandbox_settings(sandbox, str(sqlite_store.url)).cycle_config()
    settings = load_settings(database_url=str(sqlite_store.url), kpi_sync_admin_token=ADMIN_TOKEN)
    pause = PauseAt("contacts")
    with (
        serving(create_app(sqlite_store, settings, worker)) as http,
        cycle_in_thread(sqlite_store, config, CycleOptions(), [metrics.observe_progress, pause]) as done,
    ):
        assert pause.reached.wait(60)
        page = http.get("/metrics").text
        status = http.get("/status", headers=GOOD).json()
        run: httpx.Response = http.get(f"/runs/{status['running']['id']}", headers=GOOD)
        pause.release.set()
        wait_for(lambda: bool(done), timeout=60, what="the cycle to end")

    assert pause.held is not None
    records = pause.held.records
    assert f'kpi_sync_progress_records{{object="contacts",phase="pull"}} {float(records)}' in page
    assert 'kpi_sync_progress_phase{phase="pull"} 1.0' in page
    assert f"kpi_sync_progress_api_calls {float(pause.held.calls)}" in page
    progress = run.json()["progress"]
    assert (run.json()["outcome"], progress["phase"], progress["object"]) == ("running", "pull", "contacts")
    assert progress["records"] == records > 0
    assert status["running"]["progress"]["records"] == records
    assert status["running"]["pulled"] >= records
