"""Health facts read from the store: readiness (database reachable, last cycle not failed) and today's API spend.

Shared by `GET /readyz`, `GET /status` and `kpi-sync check`, so the probe and the command cannot disagree.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, desc, func, select
from sqlalchemy.exc import SQLAlchemyError

from sync import runs
from sync.runs import RunKind, RunOutcome, RunRecord


@dataclass(frozen=True)
class Readiness:
    """Whether the service is ready, and why not (one line, no secrets, no record data)."""

    ready: bool
    reason: str
    detail: str | None = None  # the failed run's error: for the CLI and the authenticated status, not for probes


def last_finished_run(engine: Engine) -> RunRecord | None:
    """The newest cycle that has ended (whatever its outcome); dry runs do not count: they keep nothing, so an ok
    one says nothing of the store's health."""
    tbl = runs.RUNS
    ended = (tbl.c.outcome != RunOutcome.RUNNING.value) & (tbl.c.kind != RunKind.DRY_RUN.value)
    with engine.connect() as conn:
        row = conn.execute(select(tbl).where(ended).order_by(desc(tbl.c.id)).limit(1)).mappings().first()
    return RunRecord.from_row(row) if row else None


def readiness(engine: Engine) -> Readiness:
    """Ready when the database answers and the last finished cycle completed (no cycle yet counts as ready; a
    partial cycle, some contacts refused by HubSpot's validation rules, completed and counts as ready). A failed
    cycle is not ready until one completes; nor is a stopped one (a signal, a cancel, HubSpot's daily limit): what
    it left unread waits for the next cycle."""
    try:
        last = last_finished_run(engine)
    except SQLAlchemyError as err:
        return Readiness(False, f"database unreachable ({type(err).__name__})")
    if last is not None and last.outcome is RunOutcome.FAILED:
        return Readiness(False, f"last cycle failed (run {last.id})", detail=last.error)
    if last is not None and last.outcome is RunOutcome.STOPPED:
        return Readiness(False, f"last cycle {last.shown_outcome} (run {last.id})", detail=last.error)
    return Readiness(True, "ok")


def day_start_ms(timezone: str, now: datetime | None = None) -> int:
    """Epoch ms of the last midnight in `timezone` (HubSpot resets the daily limit at the account's midnight)."""
    tz = zoneinfo.ZoneInfo(timezone)
    local = (now or datetime.now(tz)).astimezone(tz)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp() * 1000)


def api_calls_since(engine: Engine, since_ms: int) -> int:
    """API calls recorded by runs that started at or after `since_ms` (running ones count what they closed with)."""
    tbl = runs.RUNS
    with engine.connect() as conn:
        total = conn.execute(select(func.coalesce(func.sum(tbl.c.api_calls), 0)).where(tbl.c.started_at >= since_ms))
        return int(total.scalar() or 0)


def last_success_ms(engine: Engine) -> int | None:
    """When the newest run that ended ok or partial finished (epoch ms), if any did."""
    tbl = runs.RUNS
    succeeded = tbl.c.outcome.in_([RunOutcome.OK.value, RunOutcome.PARTIAL.value])
    with engine.connect() as conn:
        value = conn.execute(select(func.max(tbl.c.finished_at)).where(succeeded)).scalar()
    return int(value) if value is not None else None
