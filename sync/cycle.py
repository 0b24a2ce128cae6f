"""One cycle: pull -> KPI recompute -> write-back, recorded in the run history with one summary log line.

Errors end the cycle by what to do next: fatal ones (token, scope, config) fail it with a message a person can act
on; a DAILY limit stops it cleanly with the time it can resume; a graceful stop returns after the page in flight.
Whatever happens, every committed page stays committed and the next cycle resumes from the cursors.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from kpi.config import KpiConfig
from storage import repo
from sync import runs, state_keys
from sync.config import CycleConfig
from sync.errors import DailyLimitError, KpiSyncError
from sync.hubspot.client import HubSpotClient
from sync.hubspot.constants import OBJECT_TYPES
from sync.pull import Interrupted, Puller
from sync.push import PushStats, write_back, write_snapshots
from sync.refresh.contacts import refresh

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


@dataclass
class RunSummary:
    """How a cycle ended."""

    run_id: int
    outcome: str  # ok | failed | stopped
    counts: dict[str, Any] = field(default_factory=dict)
    api_calls: int = 0
    error: str | None = None
    resume_at_ms: int | None = None
    preview: list[dict[str, Any]] = field(default_factory=list)


def run_cycle(
    engine: Engine,
    config: CycleConfig,
    options: CycleOptions,
    *,
    stop: threading.Event | None = None,
    client: HubSpotClient | None = None,
) -> RunSummary:
    """Run one cycle and record it; never raises for HubSpot or database trouble (the summary says)."""
    started = runs.now_ms()
    kind = "reconcile" if options.reconcile else ("resync" if options.full else "sync")
    try:
        runs.record_unrecorded(engine)
        runs.fail_abandoned(engine)
        run_id = runs.open_run(engine, kind, options.trigger, started)
    except SQLAlchemyError as err:
        return _not_started(err)
    structlog.contextvars.bind_contextvars(run_id=run_id)
    summary = RunSummary(run_id, "ok")
    clock = time.monotonic()
    try:
        client = client or HubSpotClient(config.hubspot)
        _cycle(engine, config, options, client, started=started, stop=stop, summary=summary)
    except Interrupted:
        summary.outcome = "stopped"
        summary.error = "stopped on request after the last committed page"
    except DailyLimitError as err:
        summary.outcome, summary.error = "stopped", str(err)
        summary.resume_at_ms = int(err.resume_at * 1000)
    except KpiSyncError as err:
        summary.outcome, summary.error = "failed", str(err)
    except SQLAlchemyError as err:
        summary.outcome, summary.error = "failed", database_error(err)
    finally:
        if client is not None:
            summary.api_calls = client.stats.total
            summary.counts["api"] = client.stats.as_dict()
            summary.counts["rate_limit_wait_s"] = round(client.limiter.waited_seconds, 2)
        summary.counts["duration_s"] = round(time.monotonic() - clock, 3)
        _close(engine, summary)
        structlog.contextvars.unbind_contextvars("run_id")
    return summary


def database_error(err: SQLAlchemyError) -> str:
    """One line for a database failure: the driver's first line, without SQL, parameters or hints."""
    lines = str(getattr(err, "orig", None) or err).strip().splitlines()
    return f"database error: {type(err).__name__}: {(lines[0] if lines else '')[:200]}"


def _not_started(err: SQLAlchemyError) -> RunSummary:
    """A cycle that could not even record its start: nothing ran; the summary (run id 0) says why."""
    summary = RunSummary(0, "failed", error=database_error(err))
    log.warning("cycle_finished", outcome=summary.outcome, error=summary.error)
    return summary


def _cycle(
    engine: Engine,
    config: CycleConfig,
    options: CycleOptions,
    client: HubSpotClient,
    *,
    started: int,
    stop: threading.Event | None,
    summary: RunSummary,
) -> None:
    objects = options.objects or OBJECT_TYPES
    if options.full:
        with engine.begin() as conn:
            repo.reset_cursors(conn, objects)
    puller = Puller(engine, client, config.pull, started, stop)
    try:
        with _phase(summary, "pull"):
            puller.run(objects, reconcile=options.reconcile)
    finally:
        summary.counts["pull"] = puller.stats.as_dict()
    with _phase(summary, "kpis"):
        summary.counts["kpis"] = _recompute(engine, config.kpi, full=options.recompute_all)
    if not config.write.enabled:
        return
    push = PushStats()
    try:
        with _phase(summary, "push"):
            write_back(engine, client, dry_run=options.dry_run, now_ms=runs.now_ms(), stats=push)
        summary.preview = push.preview
        if config.write.snapshots and not options.dry_run:
            write_snapshots(engine, client, runs.now_ms(), push)
    finally:
        summary.counts["push"] = push.as_dict()
        if options.dry_run:
            summary.counts["push"]["would_write_contacts"] = len(push.preview)


@contextmanager
def _phase(summary: RunSummary, name: str) -> Iterator[None]:
    """Record a phase's duration and the process's peak memory when it ended (the high-water mark so far)."""
    begin = time.perf_counter()
    try:
        yield
    finally:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        summary.counts.setdefault("phases", {})[name] = {
            "seconds": round(time.perf_counter() - begin, 3),
            "peak_rss_mb": round(peak_mb, 1),
        }


def _recompute(engine: Engine, config: KpiConfig, *, full: bool) -> dict[str, Any]:
    """Recompute the KPIs. The contacts' values and the aggregates commit in separate transactions, and a run that
    died between them leaves nothing dirty to say the aggregates are stale: a recompute is marked as running while
    it runs, and one found cut short is redone over every contact and aggregate."""
    with engine.begin() as conn:
        cut_short = bool((repo.get_state(conn, state_keys.KPI_RECOMPUTE) or {}).get("running"))
        repo.set_state(conn, state_keys.KPI_RECOMPUTE, {"running": True})
    if cut_short and not full:
        log.warning("kpi_recompute_redone", reason="the last recompute was cut short; recomputing everything")
    stats = refresh(engine, config, runs.now_ms(), full=full or cut_short)
    with engine.begin() as conn:
        repo.set_state(conn, state_keys.KPI_RECOMPUTE, {"running": False})
    return {**stats.as_dict(), "redone_in_full": cut_short}


def _close(engine: Engine, summary: RunSummary) -> None:
    pull = summary.counts.get("pull", {})
    push = summary.counts.get("push", {})
    kpis = summary.counts.get("kpis", {})
    event = log.info if summary.outcome == "ok" else log.warning
    event(
        "cycle_finished",
        outcome=summary.outcome,
        fetched=sum(pull.get("fetched", {}).values()),
        changed=sum(pull.get("changed", {}).values()),
        archived=sum(pull.get("archived", {}).values()),
        skipped=pull.get("skipped_records", 0),
        invalid_values=sum(pull.get("invalid_values", {}).values()),
        recomputed=kpis.get("contacts", 0),
        written=push.get("contacts_written", 0),
        write_calls=push.get("write_calls", 0),
        api_calls=summary.api_calls,
        faults=summary.counts.get("api", {}).get("faults", {}),
        duration_s=summary.counts.get("duration_s"),
        error=summary.error,
    )
    recorded = runs.close_run(
        engine,
        summary.run_id,
        summary.outcome,
        counts=summary.counts,
        api_calls=summary.api_calls,
        error=summary.error,
        resume_at=summary.resume_at_ms,
    )
    if not recorded:
        log.error("run_not_recorded", reason="database unreachable; the next run of this process records it")
