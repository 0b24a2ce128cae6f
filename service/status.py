"""The service's status as one JSON document: last cycle, cursors, contacts HubSpot refused, today's API spend,
what the worker is doing.

Read by `GET /status`, the admin page and `kpi-sync status`; runs are made JSON-friendly (ISO times, durations).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from service.health import api_calls_since, day_start_ms, readiness
from service.settings import Settings
from storage import repo
from sync import runs
from sync.cursor import Cursor
from sync.refusals import outstanding
from sync.runs import RunOutcome, RunRecord

TIME_FIELDS = ("started_at", "finished_at", "resume_at", "cancel_requested_at")
CURSOR_TIME_FIELDS = ("high_water", "list_started_at", "last_reconciled_at", "updated_at")


def iso(epoch_ms: int | None) -> str | None:
    """Epoch milliseconds as ISO 8601 UTC (None stays None)."""
    clamped = runs.readable_ms(epoch_ms)  # a time out of datetime's range reads as its bound, never a crash
    return None if clamped is None else datetime.fromtimestamp(clamped / 1000, UTC).isoformat(timespec="seconds")


def run_view(run: RunRecord) -> dict[str, Any]:
    """A run for people and JSON clients: its row (options, live progress, cancel request), ISO times beside the raw
    ones, duration, records pulled (so far, while it runs) and contacts written."""
    view = run.to_json()
    for name in TIME_FIELDS:
        view[f"{name}_iso"] = iso(view[name])
    started, finished = run.started_at, run.finished_at
    view["duration_s"] = round((finished - started) / 1000, 3) if started and finished else None
    view["pulled"] = run.counts.records_pulled
    view["written"] = run.counts.push.contacts_written
    if run.progress is not None and run.outcome is RunOutcome.RUNNING:  # live counts until the run closes its own
        view["pulled"] = sum(o.records for k, o in run.progress.objects.items() if k.startswith("pull:"))
        view["progress"]["updated_at_iso"] = iso(run.progress.updated_at)
    return view


def cursor_view(cursor: Cursor) -> dict[str, Any]:
    """A pull cursor with ISO times."""
    view = cursor.to_row()
    for name in CURSOR_TIME_FIELDS:
        view[f"{name}_iso"] = iso(view[name])
    return view


def refused_view(engine: Engine) -> dict[str, Any]:
    """Contacts waiting because HubSpot's validation rules refused their values: the count and the first by id, each
    with HubSpot's message and when it refused them."""
    view = outstanding(engine).to_json()
    for item in view["listed"]:
        item["refused_at_iso"] = iso(item["refused_at"])
    return view


def recent_run_views(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first, as run views."""
    return [run_view(r) for r in runs.recent_runs(engine, limit)]


def status_document(engine: Engine, settings: Settings, worker: dict[str, Any] | None) -> dict[str, Any]:
    """Everything `GET /status` answers. `worker` is the running worker's state (None outside the worker)."""
    latest = runs.recent_runs(engine, 1)
    running = runs.running_run(engine)
    with engine.connect() as conn:
        cursors = [cursor_view(Cursor.from_row(row)) for row in repo.all_cursors(conn)]
    since = day_start_ms(settings.kpi_timezone)
    ready = readiness(engine)
    return {
        "last_run": run_view(latest[0]) if latest else None,
        "running": run_view(running) if running else None,
        "ready": ready.ready,
        "ready_reason": ready.reason,
        "cursors": cursors,
        "refused": refused_view(engine),
        "api_budget": {
            "used_today": api_calls_since(engine, since),
            "daily_budget": settings.hubspot_daily_budget,
            "day_started_at": iso(since),
            "timezone": settings.kpi_timezone,
        },
        "schedule": {
            "interval_minutes": settings.sync_interval_minutes,
            "reconcile_cron": settings.reconcile_cron,
            "next_run_at": worker.get("next_run_at") if worker else None,
        },
        "worker": worker,
    }
