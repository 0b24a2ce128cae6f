"""Stored times out of range: a run row whose `resume_at` is in year 33715 (what a DAILY 429 with `Retry-After: 1e12`
stored before resume times were bounded) or before the epoch crashes neither the status document nor the worker's
start, and the worker's pause still ends by the portal's next midnight plus the margin."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from sqlalchemy import Engine

from service.settings import load_settings
from service.status import recent_run_views, status_document
from service.worker import Worker
from sync import runs
from sync.hubspot.constants import DAILY_RESUME_MARGIN_S
from sync.hubspot.ratelimit import next_midnight
from sync.runs import RunCounts, RunOutcome
from tests.helpers import TOKEN

YEAR_33715_MS = 10**15  # 1e12 s after now, in milliseconds


def record_stop(engine: Engine, resume_at: int) -> None:
    """A run stopped by the DAILY limit, resuming at `resume_at` (epoch ms) as stored."""
    run_id = runs.open_run(engine, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(engine, run_id, RunOutcome.STOPPED, counts=RunCounts(), resume_at=resume_at)


@pytest.mark.parametrize("resume_at", [YEAR_33715_MS, -YEAR_33715_MS], ids=["year-33715", "before-year-1"])
def test_the_status_document_shows_an_out_of_range_resume_time_at_its_bound(
    sqlite_store: Engine, resume_at: int
) -> None:
    """`/status`, the page and `kpi-sync status` read the row: its resume time shows as the bound, no crash."""
    record_stop(sqlite_store, resume_at)
    settings = load_settings(hubspot_access_token=TOKEN, database_url=str(sqlite_store.url))
    document = status_document(sqlite_store, settings, None)
    view = recent_run_views(sqlite_store)[0]
    assert view["resume_at_iso"] in ("9999-12-31T23:59:59+00:00", "1970-01-01T00:00:00+00:00")
    assert document is not None


def test_the_worker_starts_after_an_out_of_range_pause_and_ends_it_by_the_next_midnight(
    sqlite_store: Engine,
) -> None:
    """A worker restarted after such a row starts, and its pause ends by midnight in KPI_TIMEZONE plus the margin."""
    record_stop(sqlite_store, YEAR_33715_MS)
    settings = load_settings(
        hubspot_access_token=TOKEN, database_url=str(sqlite_store.url), kpi_timezone="Europe/Berlin"
    )
    worker = Worker(sqlite_store, settings)
    worker.start()
    try:
        paused_until = worker.state()["paused_until"]
    finally:
        worker.shutdown()
    assert paused_until is not None
    latest = next_midnight(time.time(), "Europe/Berlin") + DAILY_RESUME_MARGIN_S
    assert time.time() < datetime.fromisoformat(paused_until).timestamp() <= latest
