"""The worker behind `kpi-sync run`: APScheduler runs the cycle on an interval and the reconcile on a cron.

One cycle at a time: in this process a busy flag with a single pending slot (a resync or reconcile requested while a
cycle runs is queued once and runs right after it, requests arriving meanwhile merge into that slot); across
replicas the cycle lock of `sync.lock`. A cycle that hits HubSpot's DAILY limit pauses the worker until the
time HubSpot gave, and a one-off job resumes it then. `request_stop` makes the running cycle finish its page,
commit and return; `shutdown` then waits for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.alerts import Alerter
from service.health import api_calls_since, day_start_ms, last_success_ms
from service.lock import cycle_lock
from service.metrics import Metrics
from service.settings import Settings
from sync import runs
from sync.config import CycleConfig
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.hubspot.ratelimit import latest_daily_resume
from sync.progress import Observer
from sync.runs import RunOutcome

log = structlog.get_logger(__name__)

SCHEDULED = "schedule"
RECONCILE_GRACE_SECONDS = 3600  # a nightly reconcile delayed by up to an hour (busy, restarting) still runs
STALE_JOB = "stale"  # the scheduler job that checks the last success's age
STALE_CHECK_MAX_S = 60.0  # how often the last success's age is checked (more often for a short threshold)


class CycleFn(Protocol):
    """The shape of `sync.cycle.run_cycle`."""

    def __call__(
        self,
        engine: Engine,
        config: CycleConfig,
        options: CycleOptions,
        *,
        stop: threading.Event | None = None,
        observers: Sequence[Observer] = (),
    ) -> RunSummary: ...


def merge(first: CycleOptions | None, second: CycleOptions | None) -> CycleOptions | None:
    """Two requests as one: full or reconcile if either asks, the union of their objects (None means all)."""
    if first is None or second is None:
        return first or second
    objects = None if first.objects is None or second.objects is None else (*first.objects, *second.objects)
    return replace(
        first,
        trigger=first.trigger if first.trigger != SCHEDULED else second.trigger,
        requested_by=first.requested_by if first.trigger != SCHEDULED else second.requested_by,
        full=first.full or second.full,
        reconcile=first.reconcile or second.reconcile,
        objects=tuple(dict.fromkeys(objects)) if objects is not None else None,
    )


def describe(options: CycleOptions | None) -> dict[str, Any] | None:
    """A request as JSON."""
    if options is None:
        return None
    return {
        "kind": options.kind.value,
        "trigger": options.trigger,
        "full": options.full,
        "objects": list(options.objects) if options.objects is not None else None,
        "reconcile": options.reconcile,
    }


def _plain_tick(options: CycleOptions | None) -> bool:
    """A scheduled incremental cycle: skipped when busy, since the next tick does the same work."""
    return options is not None and options.trigger == SCHEDULED and not options.reconcile


def _iso(epoch_ms: int | None) -> str | None:
    clamped = runs.readable_ms(epoch_ms)
    return datetime.fromtimestamp(clamped / 1000, UTC).isoformat() if clamped else None


@dataclass
class _State:
    busy: bool = False
    current: CycleOptions | None = None
    pending: CycleOptions | None = None
    paused_until_ms: int = 0
    last: RunSummary | None = None


class Worker:
    """The scheduled worker: `start`, then `wait` in the main thread, `request_stop` from a signal, `shutdown`."""

    def __init__(
        self, engine: Engine, settings: Settings, *, metrics: Metrics | None = None, cycle: CycleFn = run_cycle
    ) -> None:
        self.engine, self.settings = engine, settings
        self.config = settings.cycle_config()
        self.metrics = metrics or Metrics()
        self.alerts = Alerter(settings.alert_config())
        self._last_success_s = time.time()  # until the history says otherwise: staleness counts from the start
        self._cycle = cycle
        self._stop = threading.Event()
        self._mutex = threading.Lock()
        self._state = _State()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=4)}, timezone=UTC, daemon=True
        )

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Schedule the jobs (the first cycle runs at once, or when a DAILY pause ends) and start the scheduler."""
        interval_s = self.settings.sync_interval_minutes * 60
        common: dict[str, Any] = {"max_instances": 1, "coalesce": True, "replace_existing": True}
        resume_ms = self._restore_pause()
        first = datetime.now(UTC) if resume_ms is None else datetime.fromtimestamp(resume_ms / 1000, UTC)
        self._scheduler.add_job(
            self._execute,
            IntervalTrigger(seconds=interval_s, timezone=UTC),
            args=[CycleOptions(trigger=SCHEDULED)],
            id="cycle",
            next_run_time=first,
            misfire_grace_time=max(1, int(interval_s)),
            **common,
        )
        self._scheduler.add_job(
            self._execute,
            CronTrigger.from_crontab(self.settings.reconcile_cron, timezone="UTC"),
            args=[CycleOptions(trigger=SCHEDULED, reconcile=True)],
            id="reconcile",
            misfire_grace_time=RECONCILE_GRACE_SECONDS,
            **common,
        )
        self._schedule_stale_check(common)
        self._scheduler.start()
        self._observe_budget()
        log.info(
            "worker_started",
            interval_minutes=self.settings.sync_interval_minutes,
            reconcile_cron=self.settings.reconcile_cron,
            paused_until=_iso(resume_ms),
        )

    def _schedule_stale_check(self, common: dict[str, Any]) -> None:
        """Check the last success's age on a timer: a worker whose cycles hang or never start alerts too."""
        try:
            restored = last_success_ms(self.engine)
        except SQLAlchemyError:
            restored = None
        if restored is not None:
            self._last_success_s = restored / 1000
        every = min(STALE_CHECK_MAX_S, self.alerts.config.stale_after_s / 4)
        self._scheduler.add_job(self._check_stale, IntervalTrigger(seconds=every, timezone=UTC), id=STALE_JOB, **common)

    def _check_stale(self) -> None:
        self.alerts.check_stale(self._last_success_s)

    def _observe_budget(self) -> None:
        try:
            used = api_calls_since(self.engine, day_start_ms(self.settings.kpi_timezone))
        except SQLAlchemyError:
            return
        self.metrics.observe_budget(used, self.settings.hubspot_daily_budget)

    def request_stop(self) -> None:
        """Ask the running cycle to stop after its current page; no new cycle starts. Safe from a signal handler."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """Whether a stop was requested."""
        return self._stop.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a stop is requested (True) or `timeout` passes (False)."""
        return self._stop.wait(timeout)

    def shutdown(self) -> None:
        """Stop, wait for the running cycle to commit and return, and shut the scheduler down."""
        self._stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        log.info("worker_stopped")

    # -- requests ----------------------------------------------------------------------------------------------
    def request_resync(self, options: CycleOptions) -> dict[str, Any]:
        """Run a manual cycle now, or queue it once behind the running one; returns what happened, as JSON."""
        with self._mutex:
            if self._stop.is_set():
                return {"state": "stopping", "request": describe(options)}
            self._state.pending = merge(self._state.pending, options)
            busy = self._state.busy or self._paused_locked()
            state = "queued" if busy else "started"
        if not busy:
            self._scheduler.add_job(
                self._execute, args=[None], id="resync", replace_existing=True, misfire_grace_time=None
            )
        log.info("resync_requested", state=state, **(describe(options) or {}))
        return {"state": state, "request": describe(options), **self.state()}

    def state(self) -> dict[str, Any]:
        """What the worker is doing: running cycle, pending request, DAILY pause, next scheduled run."""
        with self._mutex:
            snapshot = replace(self._state)
        last = snapshot.last
        return {
            "running": describe(snapshot.current) if snapshot.busy else None,
            "pending": describe(snapshot.pending),
            "paused_until": _iso(snapshot.paused_until_ms) if snapshot.paused_until_ms > runs.now_ms() else None,
            "next_run_at": self.next_run_at(),
            "last_outcome": last.outcome.value if last else None,
            "stopping": self._stop.is_set(),
        }

    def next_run_at(self) -> str | None:
        """When the scheduler next starts a cycle (ISO 8601, UTC), if it runs (the stale-alert check is no cycle)."""
        if not self._scheduler.running:
            return None
        jobs = [j for j in self._scheduler.get_jobs() if j.id != STALE_JOB]
        times = [j.next_run_time for j in jobs if j.next_run_time is not None]
        return min(times).astimezone(UTC).isoformat() if times else None

    # -- running cycles ----------------------------------------------------------------------------------------
    def _execute(self, options: CycleOptions | None) -> None:
        """A job: run `options` (None: the pending request) unless busy, paused or stopping; then drain the slot."""
        todo = self._claim(options)
        try:
            while todo is not None:
                ran = self._run_locked(todo)
                todo = self._next(todo, ran)
        except BaseException:
            self._release()
            raise

    def _claim(self, options: CycleOptions | None) -> CycleOptions | None:
        with self._mutex:
            st = self._state
            if self._stop.is_set():
                return None
            if st.busy or self._paused_locked():
                if options is not None and not _plain_tick(options):
                    st.pending = merge(st.pending, options)  # a reconcile or resync must not be lost
                elif options is not None:
                    log.info("cycle_skipped", reason="paused" if self._paused_locked() else "busy")
                return None
            # A plain tick with a request waiting runs that request instead; the next tick covers the rest.
            todo = (st.pending or options) if _plain_tick(options) else merge(st.pending, options)
            st.pending = None
            st.busy, st.current = todo is not None, todo
            return todo

    def _next(self, done: CycleOptions, ran: bool) -> CycleOptions | None:
        with self._mutex:
            st = self._state
            if not ran and not _plain_tick(done):
                st.pending = merge(done, st.pending)  # another replica is busy: keep it for the next tick
            if ran and not self._stop.is_set() and not self._paused_locked() and st.pending is not None:
                st.current, st.pending = st.pending, None
                return st.current
            st.busy, st.current = False, None
            return None

    def _release(self) -> None:
        with self._mutex:
            self._state.busy, self._state.current = False, None

    def _run_locked(self, options: CycleOptions) -> bool:
        """Run one cycle under the database lock; False when another worker holds it."""
        try:
            with cycle_lock(self.engine) as acquired:
                if not acquired:
                    log.info("cycle_skipped", reason="another worker holds the cycle lock", **(describe(options) or {}))
                    return False
                self._run(options)
                return True
        except (SQLAlchemyError, OSError) as err:  # database unreachable, or the SQLite lock file cannot be opened
            log.error("cycle_lock_failed", error_type=type(err).__name__)
            self.metrics.errors.labels(kind="database").inc()
            return False

    def _run(self, options: CycleOptions) -> None:
        started = time.monotonic()
        self.metrics.running.set(1)
        self.metrics.clear_progress()
        try:
            summary = self._cycle(
                self.engine, self.config, options, stop=self._stop, observers=[self.metrics.observe_progress]
            )
        except Exception as exc:  # run_cycle never raises by contract; if it does, the worker must live on
            log.error("cycle_crashed", error_type=type(exc).__name__)
            self.metrics.observe_crash()
            return
        finally:
            self.metrics.running.set(0)
        seconds = time.monotonic() - started
        self.metrics.observe_cycle(options.kind, summary, seconds)
        self._observe_budget()
        if summary.outcome in (RunOutcome.OK, RunOutcome.PARTIAL):  # partial completed too: only refused values wait
            self._last_success_s = time.time()
            self.metrics.last_success.set(self._last_success_s)
        if not (summary.outcome is RunOutcome.STOPPED and self._stop.is_set()):  # a shutdown's stop is no alert
            self.alerts.after_cycle(options.kind, summary)
        with self._mutex:
            self._state.last = summary
        if summary.resume_at_ms:
            self._pause(summary.resume_at_ms)

    # -- DAILY limit -------------------------------------------------------------------------------------------
    def _paused_locked(self) -> bool:
        return self._state.paused_until_ms > runs.now_ms()

    def _bounded_resume(self, resume_at_ms: int | None) -> int | None:
        """A DAILY pause ends by the portal's next midnight plus a margin, whatever a stored row says (a row from
        before that bound, or edited by hand, could say year 33715)."""
        if resume_at_ms is None:
            return None
        latest = latest_daily_resume(time.time(), self.settings.kpi_timezone)
        return min(resume_at_ms, int(latest * 1000))

    def _pause(self, resume_at_ms: int) -> None:
        resume_at_ms = self._bounded_resume(resume_at_ms) or resume_at_ms
        with self._mutex:
            self._state.paused_until_ms = resume_at_ms
        self.metrics.paused_until.set(resume_at_ms / 1000)
        when = datetime.fromtimestamp(resume_at_ms / 1000, UTC)
        if self._scheduler.running:
            self._scheduler.add_job(
                self._resume, DateTrigger(run_date=when), id="resume", replace_existing=True, misfire_grace_time=None
            )
        log.warning("daily_limit_pause", resume_at=when.isoformat())

    def _resume(self) -> None:
        with self._mutex:
            self._state.paused_until_ms = 0
        self.metrics.paused_until.set(0)
        log.info("daily_limit_resume")
        self._execute(CycleOptions(trigger=SCHEDULED))

    def _restore_pause(self) -> int | None:
        """A DAILY pause recorded by the last run outlives a restart."""
        try:
            latest = runs.recent_runs(self.engine, 1)
        except SQLAlchemyError:
            return None
        resume = self._bounded_resume(latest[0].resume_at) if latest else None
        if resume and resume > runs.now_ms():
            with self._mutex:
                self._state.paused_until_ms = resume
            self.metrics.paused_until.set(resume / 1000)
            return resume
        return None
