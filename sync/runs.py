"""Run history: one row per cycle in `sync_runs`, opened at the start and closed with outcome and counts.

What a run is travels typed: its kind and outcome as enums, its counts as `RunCounts` (composed of the stats each
phase keeps), a row read back as `RunRecord`. The stored counts JSON keeps its sections (`pull`, `kpis`, `push`,
`api`, `rate_limit_wait_s`, `phases`, `duration_s`); `RunCounts.from_json` reads rows of older versions too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, desc, func, select, update
from sqlalchemy.exc import SQLAlchemyError

from storage import repo
from storage import tables as t
from sync.clock import now_ms as now_ms  # noqa: PLC0414 (re-exported: callers know the run clock as runs.now_ms)
from sync.hubspot.client import ApiStats
from sync.json_fields import real, section
from sync.progress import RunStop, Snapshot
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
    """What a run did, named as the commands ask for it: `sync`, `full` (`--full`), `reconcile` (`--reconcile`),
    `dry-run` (`--dry-run`). Rows of older versions said `resync` for a full reload: they read as `full`."""

    SYNC = "sync"
    FULL = "full"
    RECONCILE = "reconcile"
    DRY_RUN = "dry-run"

    @classmethod
    def _missing_(cls, value: object) -> RunKind | None:
        return cls.FULL if value == "resync" else None

    @classmethod
    def of(cls, *, full: bool, reconcile: bool, dry_run: bool = False) -> RunKind:
        """The kind of a cycle: a dry run wins (it writes nothing), then a reconcile, then a full reload, then an
        incremental sync."""
        if dry_run:
            return cls.DRY_RUN
        return cls.RECONCILE if reconcile else (cls.FULL if full else cls.SYNC)


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
    options: Mapping[str, Any] = field(default_factory=dict)  # what was asked, and by whom (empty in old rows)
    progress: Snapshot | None = None  # the last live progress committed (kept after the run ends)
    cancel_requested_at: int | None = None

    @property
    def cancelled(self) -> bool:
        """A run that stopped because someone cancelled it."""
        return self.outcome is RunOutcome.STOPPED and self.error == CANCELLED

    @property
    def shown_outcome(self) -> str:
        """The outcome as people read it: `stopped (cancelled)` for a cancelled run."""
        return f"{self.outcome.value} (cancelled)" if self.cancelled else self.outcome.value

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
            options=dict(row["options"]) if isinstance(row["options"], Mapping) else {},
            progress=Snapshot.from_json(row["progress"]),
            cancel_requested_at=row["cancel_requested_at"],
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
            "options": dict(self.options),
            "progress": self.progress.to_json() if self.progress else None,
            "cancel_requested_at": self.cancel_requested_at,
            "shown_outcome": self.shown_outcome,
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


def open_run(
    engine: Engine, kind: RunKind, trigger: str, started_at: int, options: Mapping[str, Any] | None = None
) -> int:
    """Record that a run started, with the options it was asked with; returns its id."""
    # Plain strings go to the driver: psycopg would store an Enum member by its name ("SYNC"), not its value.
    values: dict[str, Any] = {
        "kind": RunKind(kind).value,
        "outcome": RunOutcome.RUNNING.value,
        "counts": {},
        "api_calls": 0,
        "options": dict(options or {}),
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
    progress: Snapshot | None = None,
) -> bool:
    """Record how a run ended, its API calls being `counts.api.total`, and its last progress; False when the
    database is unreachable (kept for `record_unrecorded`)."""
    values: dict[str, Any] = {
        "finished_at": now_ms(),
        "outcome": RunOutcome(outcome).value,
        "counts": counts.to_json(),
        "api_calls": counts.api.total,
        "error": error,
        "resume_at": resume_at,
    }
    if progress is not None:
        values["progress"] = progress.to_json()
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


# -- while a run runs: live progress and cancel requests --------------------------------------------------------
CANCELLED = "cancelled"  # the error of a run stopped by a cancel request: shown as "stopped (cancelled)"
LIVE_EVERY_S = 1.0  # the running row is written (and its cancel request read) at most this often


class LiveRow:
    """A progress observer that commits the running run's progress (and its API calls so far) to its row and reads
    whether someone asked to cancel it: at most every `every_s` seconds, at page boundaries. A cancel sets the run's
    stop, so the run ends after the page in flight. A `read_only` one (a dry run's, whose rehearsal holds SQLite's
    write lock until it ends) only reads the cancel request."""

    def __init__(
        self,
        engine: Engine,
        run_id: int,
        stop: RunStop,
        *,
        every_s: float = LIVE_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
        read_only: bool = False,
    ) -> None:
        self.engine, self.run_id, self.stop, self.read_only = engine, run_id, stop, read_only
        self.every_s, self.clock = every_s, clock
        self.cancelled = False
        self._last: float | None = None

    def __call__(self, snapshot: Snapshot) -> None:
        now = self.clock()
        if self._last is not None and now - self._last < self.every_s:
            return
        self._last = now
        with self.engine.begin() as conn:
            if not self.read_only:
                conn.execute(
                    update(RUNS)
                    .where(RUNS.c.id == self.run_id)
                    .values(progress=snapshot.to_json(), api_calls=snapshot.calls)
                )
            asked = conn.execute(select(RUNS.c.cancel_requested_at).where(RUNS.c.id == self.run_id)).scalar()
        if asked is not None and not self.cancelled:
            self.cancelled = True
            self.stop.set()


class CancelError(Exception):
    """A cancel that cannot be recorded: no such run, or it is not running (the message says which)."""

    def __init__(self, message: str, *, found: bool) -> None:
        super().__init__(message)
        self.found = found


def running_run(engine: Engine) -> RunRecord | None:
    """The newest run still recorded as running, if any."""
    with engine.connect() as conn:
        row = (
            conn.execute(select(RUNS).where(RUNS.c.outcome == RunOutcome.RUNNING.value).order_by(desc(RUNS.c.id)))
            .mappings()
            .first()
        )
        return RunRecord.from_row(row) if row else None


def request_cancel(engine: Engine, run_id: int | None = None) -> RunRecord:
    """Ask a running run (by default the newest running one) to stop after its page in flight; the run reads the
    request within a second or a page and ends `stopped (cancelled)`. Returns the run as it stands; CancelError
    when there is no such run or it is not running. Asking twice keeps the first request's time."""
    target = running_run(engine) if run_id is None else get_run(engine, run_id)
    if target is None:
        raise CancelError("no run is running" if run_id is None else f"no run {run_id}", found=False)
    with engine.begin() as conn:
        changed = conn.execute(
            update(RUNS)
            .where(RUNS.c.id == target.id, RUNS.c.outcome == RunOutcome.RUNNING.value)
            .values(cancel_requested_at=func.coalesce(RUNS.c.cancel_requested_at, now_ms()))
        )
    if not changed.rowcount:
        raise CancelError(f"run {target.id} is not running", found=True)
    found = get_run(engine, target.id)
    assert found is not None
    return found
