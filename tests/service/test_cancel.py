"""Cancel: `kpi-sync cancel` and `POST /runs/{id}/cancel` store a request on the running run's row; the cycle reads it
at a page boundary and ends stopped (cancelled); the next run resumes from there. A run that is not running cannot
be cancelled (409, exit 1)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from service.admin.api import create_app
from service.cli import main
from service.settings import load_settings
from service.worker import Worker
from storage import repo
from storage.engine import open_store
from sync import runs
from sync.cursor import Cursor, Phase
from sync.cycle import CycleOptions, run_cycle
from sync.runs import RunCounts, RunOutcome
from tests.helpers import (
    ADMIN_TOKEN,
    FakeWorker,
    PauseAt,
    contact_values,
    copy_store,
    cycle_in_thread,
    free_port,
    sandbox_settings,
    serving,
    stored,
    truth,
    wait_for,
    worker_env,
)

GOOD = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def client(sqlite_store: Engine) -> Iterator[httpx.Client]:
    settings = load_settings(database_url=str(sqlite_store.url), kpi_sync_admin_token=ADMIN_TOKEN)
    with serving(create_app(sqlite_store, settings, FakeWorker())) as http:
        yield http


def test_kpi_sync_cancel_stops_the_running_cycle_at_a_page_boundary_and_the_next_run_resumes_to_a_clean_result(
    sandbox: RunningSandbox,
    sqlite_store: Engine,
    sqlite_url: str,
    tmp_path: Path,
    migrated_sqlite: Path,
) -> None:
    """`kpi-sync cancel` (no id: the running run) while a first load is held after its contacts page: the run ends
    stopped (cancelled) before it reads deals, with the contacts committed; the next run resumes, and the store and
    the KPIs equal those of a clean run."""
    # No write-back: it would move the contacts' modification times between the two stores' pulls. One request at a
    # time: the object types are then read in turn (contacts before deals), as the test's boundary needs.
    config = sandbox_settings(sandbox, sqlite_url, writeback_enabled=False, hubspot_max_in_flight=1).cycle_config()
    pause = PauseAt("contacts")
    with cycle_in_thread(sqlite_store, config, CycleOptions(), [pause]) as done:
        assert pause.reached.wait(60)
        asked = CliRunner().invoke(main, ["cancel"], env=worker_env(sandbox, sqlite_url, free_port()))
        pause.release.set()
        wait_for(lambda: bool(done), timeout=60, what="the cancelled cycle to end")

    assert asked.exit_code == 0, asked.output
    (cancelled,) = done
    assert (cancelled.outcome, cancelled.error) == (RunOutcome.STOPPED, "cancelled")
    record = runs.get_run(sqlite_store, cancelled.run_id)
    assert record is not None
    assert record.shown_outcome == "stopped (cancelled)"
    assert record.cancel_requested_at is not None
    assert cancelled.counts.pull.fetched["contacts"] > 0
    assert cancelled.counts.pull.fetched["deals"] == 0, "stopped at the next page boundary, before deals"
    with sqlite_store.connect() as conn:
        assert Cursor.from_row(repo.get_cursor(conn, "deals")).phase is Phase.FULL, "deals are still to be read"

    resumed = run_cycle(sqlite_store, config, CycleOptions())
    assert resumed.outcome is RunOutcome.OK, resumed.error
    assert resumed.counts.pull.fetched["deals"] > 0
    (tmp_path / "clean").mkdir()
    clean = open_store(copy_store(migrated_sqlite, tmp_path / "clean"))
    try:
        assert run_cycle(clean, config, CycleOptions()).outcome is RunOutcome.OK
        assert stored(sqlite_store) == stored(clean) == truth(sandbox)
        assert contact_values(sqlite_store) == contact_values(clean)
    finally:
        clean.dispose()


def test_post_runs_cancel_records_the_request_on_a_running_run(client: httpx.Client, sqlite_store: Engine) -> None:
    """202 with the run, its cancel request stored (a second request keeps the first time); the token is needed."""
    run_id = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
    assert client.post(f"/runs/{run_id}/cancel").status_code == 401

    first = client.post(f"/runs/{run_id}/cancel", headers=GOOD)
    again = client.post(f"/runs/{run_id}/cancel", headers=GOOD)

    assert first.status_code == 202, first.text
    assert first.json()["cancel_requested_at"] is not None
    assert again.json()["cancel_requested_at"] == first.json()["cancel_requested_at"]
    record = runs.get_run(sqlite_store, run_id)
    assert record is not None
    assert record.cancel_requested_at == first.json()["cancel_requested_at"]


def test_a_run_that_is_not_running_cannot_be_cancelled(
    client: httpx.Client, sqlite_store: Engine, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An ended run: 409 and exit 1; an unknown run: 404 and exit 1; nothing running: `kpi-sync cancel` exits 1.
    The ended run's row is left as it was."""
    run_id = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(sqlite_store, run_id, RunOutcome.OK, counts=RunCounts())
    monkeypatch.setenv("DATABASE_URL", sqlite_url)

    assert client.post(f"/runs/{run_id}/cancel", headers=GOOD).status_code == 409
    assert client.post(f"/runs/{run_id + 1}/cancel", headers=GOOD).status_code == 404
    ended = CliRunner().invoke(main, ["cancel", str(run_id)])
    unknown = CliRunner().invoke(main, ["cancel", str(run_id + 1)])
    idle = CliRunner().invoke(main, ["cancel"])

    assert (ended.exit_code, unknown.exit_code, idle.exit_code) == (1, 1, 1)
    assert f"run {run_id} is not running" in ended.output
    assert "no run is running" in idle.output
    record = runs.get_run(sqlite_store, run_id)
    assert record is not None
    assert (record.outcome, record.cancel_requested_at) == (RunOutcome.OK, None)


def test_a_cancel_stops_the_workers_cycle_only_and_the_worker_runs_the_next(
    sandbox: RunningSandbox, sqlite_store: Engine
) -> None:
    """A cancel of the worker's running cycle (every request slowed: its first load lasts seconds) ends that run
    stopped (cancelled); the worker is not stopping, and the resync asked next runs to ok."""
    sandbox.set_faults(rate_slow=1.0, slow_ms=60)
    settings = sandbox_settings(sandbox, str(sqlite_store.url), sync_interval_minutes=60)
    worker = Worker(sqlite_store, settings)
    worker.start()
    try:
        wait_for(lambda: runs.running_run(sqlite_store) is not None, what="the first cycle")
        first = runs.request_cancel(sqlite_store)
        wait_for(lambda: worker.state()["running"] is None, timeout=60, what="the cancelled cycle to end")
        assert not worker.stopping
        sandbox.set_faults()
        assert worker.request_resync(CycleOptions(trigger="api"))["state"] == "started"
        wait_for(lambda: len(runs.recent_runs(sqlite_store, 5)) == 2, what="the resync to start")
        wait_for(lambda: runs.running_run(sqlite_store) is None, timeout=60, what="the resync to end")
    finally:
        worker.shutdown()

    cancelled = runs.get_run(sqlite_store, first.id)
    assert cancelled is not None
    assert (cancelled.shown_outcome, cancelled.error) == ("stopped (cancelled)", "cancelled")
    latest = runs.recent_runs(sqlite_store, 1)[0]
    assert (latest.trigger, latest.outcome) == ("api", RunOutcome.OK), latest.error
