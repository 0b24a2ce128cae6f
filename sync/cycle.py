"""One cycle: pull -> KPI recompute -> write-back, recorded in the run history with one summary log line.

Errors end the cycle by what to do next: fatal ones (token, scope, config) fail it with a message a person can act
on; a DAILY limit stops it cleanly with the time it can resume; a graceful stop returns after the page in flight.
Anything else (a bug, Ctrl-C) is recorded as failed or stopped and propagates. Whatever happens, every committed
page stays committed and the next cycle resumes from the cursors; a dry run works on a rehearsal of the store that
is rolled back when it ends (`storage.rehearsal`), so it keeps nothing but its run history row.
"""

from __future__ import annotations

import copy
import resource
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kpi.config import KpiConfig
from storage import rehearsal, repo
from sync import fence, runs, state_keys
from sync.config import CycleConfig
from sync.errors import KpiSyncError, LostLockError
from sync.hubspot.client import HubSpotClient
from sync.hubspot.constants import OBJECT_TYPES
from sync.hubspot.errors import DailyLimitError
from sync.preview import DEFAULT_LIMIT, WritePreview
from sync.progress import Interrupted, Observer, Progress, RunStop
from sync.pull import Puller
from sync.push import PushStats, write_back, write_snapshots
from sync.refresh.contacts import PARALLEL_FROM, RecomputeStats, refresh
from sync.runs import CANCELLED, LIVE_EVERY_S, LiveRow, PhaseTiming, RunCounts, RunKind, RunOutcome

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class CycleOptions:
    """What one cycle does: which objects, whether to reload them in full or reconcile, whether to write."""

    trigger: str = "cli"
    full: bool = False
    objects: tuple[str, ...] | None = None
    reconcile: bool = False
    dry_run: bool = False
    recompute_all: bool = False
    requested_by: str | None = None  # who or where asked, where known: "user@host" (CLI), the client's address (API)
    preview_limit: int | None = DEFAULT_LIMIT  # a dry run: contacts whose old -> new values it keeps (None: all)

    @property
    def kind(self) -> RunKind:
        """The kind of run this cycle records."""
        return RunKind.of(full=self.full, reconcile=self.reconcile, dry_run=self.dry_run)

    def to_json(self) -> dict[str, Any]:
        """The options as the run history stores them (`sync_runs.options`)."""
        return {
            "objects": list(self.objects) if self.objects is not None else None,
            "full": self.full,
            "reconcile": self.reconcile,
            "dry_run": self.dry_run,
            "recompute_all": self.recompute_all,
            "trigger": self.trigger,
            "requested_by": self.requested_by,
        }


@dataclass
class RunSummary:
    """How a cycle ended."""

    run_id: int
    outcome: RunOutcome
    counts: RunCounts = field(default_factory=RunCounts)
    error: str | None = None
    resume_at_ms: int | None = None
    preview: WritePreview = field(default_factory=WritePreview)  # a dry run's old -> new values

    @property
    def api_calls(self) -> int:
        """HubSpot requests the cycle sent, retries included."""
        return self.counts.api.total


def run_cycle(
    engine: Engine,
    config: CycleConfig,
    options: CycleOptions,
    *,
    stop: threading.Event | None = None,
    client: HubSpotClient | None = None,
    observers: Sequence[Observer] = (),
    live_every_s: float = LIVE_EVERY_S,
) -> RunSummary:
    """Run one cycle and record it; never raises for HubSpot or database trouble (the summary says). Any other
    exception (a bug, Ctrl-C) is recorded as a failed or stopped run and logged, then propagates.

    `stop` asks the cycle to end after the page in flight; so does a cancel request stored on the run's row, read
    with the live progress the row gets every `live_every_s` seconds. `observers` hear the progress too."""
    started = runs.now_ms()
    try:
        runs.record_unrecorded(engine)
        runs.fail_abandoned(engine)
        run_id = runs.open_run(engine, options.kind, options.trigger, started, options.to_json())
    except (SQLAlchemyError, LostLockError) as err:
        return _not_started(err)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    summary = RunSummary(run_id, RunOutcome.RUNNING)
    clock = time.monotonic()
    halt = RunStop(stop)
    live = LiveRow(engine, run_id, halt, every_s=live_every_s, read_only=options.dry_run)
    progress = Progress([live, *observers], calls=lambda: client.stats.total if client else 0, stop=halt)
    try:
        client = client or HubSpotClient(config.hubspot)
        with _store(engine, dry_run=options.dry_run) as store:
            _cycle(store, config, options, client, started=started, progress=progress, summary=summary)
        summary.outcome, summary.error = completed(summary.counts.push)
    except Interrupted:
        summary.outcome = RunOutcome.STOPPED
        summary.error = CANCELLED if live.cancelled else "stopped on request after the last committed page"
    except DailyLimitError as err:
        summary.outcome, summary.error = RunOutcome.STOPPED, str(err)
        summary.resume_at_ms = int(err.resume_at * 1000)
    except KpiSyncError as err:
        summary.outcome, summary.error = RunOutcome.FAILED, str(err)
    except SQLAlchemyError as err:
        summary.outcome, summary.error = RunOutcome.FAILED, database_error(err)
    except BaseException as exc:
        summary.outcome, summary.error = unhandled(exc)
        raise
    finally:
        if fence.lost():  # whatever else ended it: a cycle that lost its lock is never ok, nor merely stopped
            summary.outcome, summary.error = RunOutcome.FAILED, str(LostLockError())
        if client is not None:
            summary.counts.api = copy.deepcopy(client.stats)  # a client given by the caller may live on
            summary.counts.rate_limit_wait_s = round(client.limiter.waited_seconds, 2)
        summary.counts.duration_s = round(time.monotonic() - clock, 3)
        _close(engine, summary, progress)
        structlog.contextvars.unbind_contextvars("run_id")
    return summary


def completed(push: PushStats) -> tuple[RunOutcome, str | None]:
    """How a cycle that ran to its end is recorded: ok, or partial (in words) while contacts wait because HubSpot's
    validation rules refused their values, in this run or an earlier one (held back until they change), or while
    `kpi_*` properties in HubSpot are not kpi-sync's (another group, type or set of options) and are not written."""
    waiting = push.refused_total + push.held
    said = []
    if waiting:
        noun = "contact" if waiting == 1 else "contacts"
        said.append(f"{waiting} {noun} refused by HubSpot's validation rules (see kpi-sync status)")
    if push.conflicts:  # kpi-sync's own value of these properties reaches nobody: a person must act
        said.append(
            f"not written, held by other definitions in HubSpot: {', '.join(push.conflicts)} (see kpi-sync doctor)"
        )
    return (RunOutcome.PARTIAL, "; ".join(said)) if said else (RunOutcome.OK, None)


def unhandled(exc: BaseException) -> tuple[RunOutcome, str]:
    """How a cycle ended by an exception it does not handle is recorded: an interrupt (Ctrl-C, SystemExit) as
    stopped, anything else as failed, named by the exception's type only (its message may carry record data)."""
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        return RunOutcome.STOPPED, "interrupted"
    return RunOutcome.FAILED, f"crashed: {type(exc).__name__}"


def database_error(err: SQLAlchemyError) -> str:
    """One line for a database failure: the driver's first line, without SQL, parameters or hints."""
    lines = str(getattr(err, "orig", None) or err).strip().splitlines()
    return f"database error: {type(err).__name__}: {(lines[0] if lines else '')[:200]}"


def _not_started(err: SQLAlchemyError | LostLockError) -> RunSummary:
    """A cycle that could not even record its start: nothing ran; the summary (run id 0) says why."""
    error = str(err) if isinstance(err, LostLockError) else database_error(err)
    summary = RunSummary(0, RunOutcome.FAILED, error=error)
    log.warning("cycle_finished", outcome=summary.outcome, error=summary.error)
    return summary


@contextmanager
def _store(engine: Engine, *, dry_run: bool) -> Iterator[Engine]:
    """Where a cycle works: the store itself, or for a dry run a rehearsal of it that is rolled back when the cycle
    ends, so nothing a dry run pulls, recomputes or marks becomes the next run's starting point."""
    if not dry_run:
        yield engine
        return
    with rehearsal.rolled_back(engine) as rehearsed:
        yield rehearsed


def _cycle(
    engine: Engine,
    config: CycleConfig,
    options: CycleOptions,
    client: HubSpotClient,
    *,
    started: int,
    progress: Progress,
    summary: RunSummary,
) -> None:
    objects = options.objects or OBJECT_TYPES
    if options.full:
        with engine.begin() as conn:
            repo.reset_cursors(conn, objects)
    puller = Puller(engine, client, config.pull, started, progress.stop, progress=progress)
    try:
        with _phase(summary, "pull", progress):
            puller.run(objects, reconcile=options.reconcile)
    finally:
        summary.counts.pull = puller.stats
    progress.boundary()
    with _phase(summary, "kpis", progress):
        summary.counts.kpis, summary.counts.redone_in_full = _recompute(
            engine, config.kpi, full=options.recompute_all, alone=options.dry_run
        )
    if not config.write.enabled:
        return
    push = PushStats(preview=WritePreview(limit=options.preview_limit))
    try:
        with _phase(summary, "push", progress):
            write_back(
                engine,
                client,
                dry_run=options.dry_run,
                now_ms=runs.now_ms(),
                stats=push,
                config=config.write,
                progress=progress,
            )
        if config.write.snapshots and not options.dry_run:
            write_snapshots(engine, client, runs.now_ms(), push)
    finally:
        summary.counts.push, summary.preview = push, push.preview
    fence.prove(engine)


@contextmanager
def _phase(summary: RunSummary, name: str, progress: Progress) -> Iterator[None]:
    """Record a phase's duration and the process's peak memory when it ended (the high-water mark so far)."""
    progress.phase(name)
    begin = time.perf_counter()
    try:
        yield
    finally:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        summary.counts.phases[name] = PhaseTiming(round(time.perf_counter() - begin, 3), round(peak_mb, 1))


def _recompute(engine: Engine, config: KpiConfig, *, full: bool, alone: bool) -> tuple[RecomputeStats, bool]:
    """Recompute the KPIs. The contacts' values and the aggregates commit in separate transactions, and a run that
    died between them leaves nothing dirty to say the aggregates are stale: a recompute is marked as running while
    it runs, and one found cut short is redone over every contact and aggregate. Returns what it did and whether it
    was such a redo. `alone`: no helper process shares a full recompute (a dry run's rehearsal is visible only on
    its own connection)."""
    with engine.begin() as conn:
        cut_short = bool((repo.get_state(conn, state_keys.KPI_RECOMPUTE) or {}).get("running"))
        repo.set_state(conn, state_keys.KPI_RECOMPUTE, {"running": True})
    if cut_short and not full:
        log.warning("kpi_recompute_redone", reason="the last recompute was cut short; recomputing everything")
    parallel_from = sys.maxsize if alone else PARALLEL_FROM
    stats = refresh(engine, config, runs.now_ms(), full=full or cut_short, parallel_from=parallel_from)
    with engine.begin() as conn:
        repo.set_state(conn, state_keys.KPI_RECOMPUTE, {"running": False})
    return stats, cut_short


def _close(engine: Engine, summary: RunSummary, progress: Progress) -> None:
    counts = summary.counts
    event = log.info if summary.outcome is RunOutcome.OK else log.warning
    event(
        "cycle_finished",
        outcome=summary.outcome.value,
        fetched=counts.records_pulled,
        changed=sum(counts.pull.changed.values()),
        archived=sum(counts.pull.archived.values()),
        skipped=counts.pull.parse.skipped_records,
        invalid_values=counts.pull.parse.total_invalid(),
        quarantined=sum(counts.pull.parse.quarantined.values()),
        recomputed=counts.kpis.contacts,
        written=counts.push.contacts_written,
        refused=counts.push.refused_total,
        write_calls=counts.push.write_calls,
        api_calls=summary.api_calls,
        faults=dict(counts.api.faults),
        duration_s=counts.duration_s,
        error=summary.error,
    )
    with fence.unfenced():  # a cycle that lost its lock still records that it failed
        recorded = runs.close_run(
            engine,
            summary.run_id,
            summary.outcome,
            counts=counts,
            error=summary.error,
            resume_at=summary.resume_at_ms,
            progress=progress.snapshot,
        )
    if not recorded:
        log.error("run_not_recorded", reason="database unreachable; the next run of this process records it")
