"""Run history: one row per cycle in `sync_runs`, opened at the start and closed with outcome and counts.

What a run is travels typed: its kind and outcome as enums, its counts as `RunCounts` (composed of the stats each
phase keeps), a row read back as `RunRecord`. The stored counts JSON keeps its sections (`pull`, `kpis`, `push`,
`api`, `rate_limit_wait_s`, `phases`, `duration_s`); `RunCounts.from_json` reads rows of older versions too.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, desc, select, update
from sqlalchemy.exc import SQLAlchemyError

from storage import repo
from storage import tables as t
from sync.hubspot.client import ApiStats
from sync.json_fields import real, section
from sync.pull import PullStats
from sync.push import PushStats
from sync.refresh.contacts import RecomputeStats

RUNS = repo.table(t.SyncRun)


class RunOutcome(StrEnum):
    """How a run ended (`running` until it does). A str enum: stored, logged and compared as its value."""

    RUNNING = "running"
    OK = "ok"
    PARTIAL = "partial"  # completed, but HubSpot's validation rules refused some contacts' values (not retried yet)
    FAILED = "failed"
    STOPPED = "stopped"  # a graceful stop, the DAILY limit, or an interrupt (Ctrl-C, SystemExit)


class RunKind(StrEnum):
    """What a run did, named as the commands ask for it: `sync`, `resync` (`--full`), `reconcile` (`--reconcile`),
    `dry-run` (`--dry-run`: nothing of it was kept in the store or written to HubSpot)."""

    SYNC = "sync"
    RESYNC = "resync"
    RECONCILE = "reconcile"
    DRY_RUN = "dry-run"

    @classmethod
    def of(cls, *, full: bool, reconcile: bool, dry_run: bool = False) -> RunKind:
        """The kind of a cycle: a dry run is one whatever it pulls; then a reconcile wins over a full reload, which
        wins over an incremental sync."""
        if dry_run:
            return cls.DRY_RUN
        return cls.RECONCILE if reconcile else (cls.RESYNC if full else cls.SYNC)


@dataclass
class PhaseTiming:
    """How long one phase of a cycle took, and the process's peak memory when it ended (the high-water mark)."""

    seconds: float = 0.0
    peak_rss_mb: float = 0.0

    def to_json(self) -> dict[str, float]:
        """One entry of the `phases` section."""
        return {"seconds": self.seconds, "peak_rss_mb": self.peak_rss_mb}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PhaseTiming:
        """Read back `to_json`."""
        return cls(real(data.get("seconds")), real(data.get("peak_rss_mb")))


@dataclass
class RunCounts:
    """What one run moved and cost, by phase: what status, metrics, logs, the CLI and the admin page read."""

    pull: PullStats = field(default_factory=PullStats)
    kpis: RecomputeStats = field(default_factory=RecomputeStats)
    redone_in_full: bool = False  # the recompute found the last one cut short and redid every contact
    push: PushStats = field(default_factory=PushStats)
    api: ApiStats = field(default_factory=ApiStats)
    rate_limit_wait_s: float = 0.0  # time spent waiting for the client's rate limiter
    phases: dict[str, PhaseTiming] = field(default_factory=dict)  # pull, kpis, push: those that ran
    duration_s: float = 0.0

    @property
    def records_pulled(self) -> int:
        """Records read from HubSpot, every object type (owners included)."""
        return sum(self.pull.fetched.values())

    def to_json(self) -> dict[str, Any]:
        """The stored form (`sync_runs.counts`, also the `counts` of the runs API)."""
        return {
            "pull": self.pull.to_json(),
            "kpis": {**self.kpis.to_json(), "redone_in_full": self.redone_in_full},
            "push": self.push.to_json(),
            "api": self.api.to_json(),
            "rate_limit_wait_s": self.rate_limit_wait_s,
            "phases": {name: timing.to_json() for name, timing in self.phases.items()},
            "duration_s": self.duration_s,
        }

    @classmethod
    def from_json(cls, data: object) -> RunCounts:
        """Read back `to_json`; rows of older versions read too (missing sections as empty, unknown keys ignored)."""
        counts = data if isinstance(data, Mapping) else {}
        phases = section(counts, "phases")
        return cls(
            pull=PullStats.from_json(section(counts, "pull")),
            kpis=RecomputeStats.from_json(section(counts, "kpis")),
            redone_in_full=section(counts, "kpis").get("redone_in_full") is True,
            push=PushStats.from_json(section(counts, "push")),
            api=ApiStats.from_json(section(counts, "api")),
            rate_limit_wait_s=real(counts.get("rate_limit_wait_s")),
            phases={str(name): PhaseTiming.from_json(section(phases, name)) for name in phases},
            duration_s=real(counts.get("duration_s")),
        )


@dataclass(frozen=True)
class RunRecord:
    """One row of the run history, typed."""

    id: int
    kind: RunKind
    trigger: str
    started_at: int
    outcome: RunOutcome
    counts: RunCounts
    api_calls: int = 0
    finished_at: int | None = None
    error: str | None = None
    resume_at: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> RunRecord:
        """A `sync_runs` row as read by SQLAlchemy."""
        return cls(
            id=int(row["id"]),
            kind=RunKind(row["kind"]),
            trigger=str(row["trigger"]),
            started_at=int(row["started_at"]),
            outcome=RunOutcome(row["outcome"]),
            counts=RunCounts.from_json(row["counts"]),
            api_calls=int(row["api_calls"] or 0),
            finished_at=row["finished_at"],
            error=row["error"],
            resume_at=row["resume_at"],
        )

    def to_json(self) -> dict[str, Any]:
        """The row as JSON: the columns, with counts in their stored form."""
        return {
            "id": self.id,
            "kind": self.kind.value,
            "trigger": self.trigger,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "outcome": self.outcome.value,
            "counts": self.counts.to_json(),
            "api_calls": self.api_calls,
            "error": self.error,
            "resume_at": self.resume_at,
        }


# How runs ended that this process could not record (the database was unreachable), by database and run id. The
# next run of this process records them first, so a worker's history tells the database error, not a generic end.
_unrecorded: dict[tuple[str, int], dict[str, Any]] = {}


# The latest time Python's datetime can show (the end of year 9999): a stored time beyond it (a resume time from a
# bogus `Retry-After`, a hand-edited row) is read as this, and one before the epoch as the epoch, so no reader crashes.
MAX_READABLE_MS = 253_402_300_799_000


def readable_ms(epoch_ms: int | float | None) -> int | None:
    """A stored epoch-milliseconds time clamped to what datetime can show (None stays None)."""
    if epoch_ms is None:
        return None
    return int(min(max(epoch_ms, 0), MAX_READABLE_MS))


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)


def open_run(engine: Engine, kind: RunKind, trigger: str, started_at: int) -> int:
    """Record that a run started; returns its id."""
    # Plain strings go to the driver: psycopg would store an Enum member by its name ("SYNC"), not its value.
    values: dict[str, Any] = {
        "kind": RunKind(kind).value,
        "outcome": RunOutcome.RUNNING.value,
        "counts": {},
        "api_calls": 0,
    }
    with engine.begin() as conn:
        result = conn.execute(RUNS.insert().values(trigger=trigger, started_at=started_at, **values))
        return int(result.inserted_primary_key[0])  # type: ignore[index]


def close_run(
    engine: Engine,
    run_id: int,
    outcome: RunOutcome,
    *,
    counts: RunCounts,
    error: str | None = None,
    resume_at: int | None = None,
) -> bool:
    """Record how a run ended, its API calls being `counts.api.total`; False when the database is unreachable (kept
    for `record_unrecorded`)."""
    values = {
        "finished_at": now_ms(),
        "outcome": RunOutcome(outcome).value,
        "counts": counts.to_json(),
        "api_calls": counts.api.total,
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
            .where(RUNS.c.outcome == RunOutcome.RUNNING.value)
            .values(
                outcome=RunOutcome.FAILED.value, error="process ended before the run finished", finished_at=now_ms()
            )
        )
        return int(result.rowcount or 0)


def recent_runs(engine: Engine, limit: int = 20) -> list[RunRecord]:
    """The latest runs, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(select(RUNS).order_by(desc(RUNS.c.id)).limit(limit)).mappings()
        return [RunRecord.from_row(r) for r in rows]


def get_run(engine: Engine, run_id: int) -> RunRecord | None:
    """One run by id."""
    with engine.connect() as conn:
        row = conn.execute(select(RUNS).where(RUNS.c.id == run_id)).mappings().first()
        return RunRecord.from_row(row) if row else None
