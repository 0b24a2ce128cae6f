"""Run history: one row per cycle in `sync_runs`, opened at the start and closed with outcome and counts."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, desc, select, update

from storage import repo
from storage import tables as t

RUNS = repo.table(t.SyncRun)


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
) -> None:
    """Record how a run ended."""
    with engine.begin() as conn:
        conn.execute(
            update(RUNS)
            .where(RUNS.c.id == run_id)
            .values(
                finished_at=now_ms(),
                outcome=outcome,
                counts=counts,
                api_calls=api_calls,
                error=error,
                resume_at=resume_at,
            )
        )


def fail_abandoned(engine: Engine) -> int:
    """Close runs left 'running' by a killed process; returns how many."""
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
