"""Run history: one row per cycle in `sync_runs`, opened at the start and closed with outcome and counts."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, desc, select, update
from sqlalchemy.exc import SQLAlchemyError

from storage import repo
from storage import tables as t

RUNS = repo.table(t.SyncRun)

# How runs ended that this process could not record (the database was unreachable), by database and run id. The
# next run of this process records them first, so a worker's history tells the database error, not a generic end.
_unrecorded: dict[tuple[str, int], dict[str, Any]] = {}


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)


def open_run(engine: Engine, kind: str, trigger: str, started_at: int) -> int:
    """Record that a run started; returns its id."""
    with engine.begin() as conn:
        result = conn.execute(
            RUNS.insert().values(
                kind=kind, trigger=trigger, started_at=started_at, outcome="running", counts={}, api_calls=0
            )
        )
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def close_run(
    engine: Engine,
    run_id: int,
    outcome: str,
    *,
    counts: dict[str, Any],
    api_calls: int,
    error: str | None = None,
    resume_at: int | None = None,
) -> bool:
    """Record how a run ended; False when the database is unreachable (kept for `record_unrecorded`)."""
    values = {
        "finished_at": now_ms(),
        "outcome": outcome,
        "counts": counts,
        "api_calls": api_calls,
        "error": error,
        "resume_at": resume_at,
    }
    try:
        _update(engine, run_id, values)
    except SQLAlchemyError:
        _unrecorded[(str(engine.url), run_id)] = values
        return False
    return True


def record_unrecorded(engine: Engine) -> int:
    """Record the ends of this database's runs that `close_run` could not record; returns how many."""
    keys = [key for key in _unrecorded if key[0] == str(engine.url)]
    for key in keys:
        _update(engine, key[1], _unrecorded[key])
        del _unrecorded[key]
    return len(keys)


def _update(engine: Engine, run_id: int, values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(update(RUNS).where(RUNS.c.id == run_id).values(**values))


def fail_abandoned(engine: Engine) -> int:
    """Close runs left 'running' by a killed process (or one that lost its database); returns how many."""
    with engine.begin() as conn:
        result = conn.execute(
            update(RUNS)
            .where(RUNS.c.outcome == "running")
            .values(outcome="failed", error="process ended before the run finished", finished_at=now_ms())
        )
        return int(result.rowcount or 0)


def recent_runs(engine: Engine, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(RUNS).order_by(desc(RUNS.c.id)).limit(limit)).mappings()
        return [dict(r) for r in rows]


def get_run(engine: Engine, run_id: int) -> dict[str, Any] | None:
    """One run by id."""
    with engine.connect() as conn:
        row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).mappings().first()
        return dict(row) if row else None
