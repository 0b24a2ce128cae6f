"""The worker with the real APScheduler, the real store and the sandbox: cycles on the interval, one at a time,
manual resyncs queued once while busy, graceful stop, and the DAILY pause that ends on its own."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox
from service.lock import lock_file
from service.settings import Settings
from service.worker import Worker, merge
from sync import runs
from sync.config import CycleConfig
from sync.cycle import CycleOptions, RunSummary
from sync.progress import Observer
from sync.runs import RunCounts, RunOutcome
from tests.helpers import TOKEN, make_counts, sandbox_settings, wait_for

pytestmark = pytest.mark.timeout(60)
ONE_SECOND = 1 / 60  # sync_interval_minutes


@contextmanager
def running(worker: Worker) -> Iterator[Worker]:
    worker.start()
    try:
        yield worker
    finally:
        worker.shutdown()


def finished(engine: Engine) -> list[runs.RunRecord]:
    return [r for r in runs.recent_runs(engine, 100) if r.outcome is not RunOutcome.RUNNING]


def overlaps(rows: list[runs.RunRecord]) -> list[tuple[int, int]]:
    ordered = sorted(rows, key=lambda r: r.started_at)
    return [(a.id, b.id) for a, b in itertools.pairwise(ordered) if b.started_at < (a.finished_at or 0)]


def test_scheduler_runs_cycles_on_the_interval(sandbox: RunningSandbox, sqlite_store: Engine) -> None:
    """With a one-second interval the worker runs the first cycle at once and keeps cycling, one at a time."""
    settings = sandbox_settings(sandbox, str(sqlite_store.url), sync_interval_minutes=ONE_SECOND)
    with running(Worker(sqlite_store, settings)) as worker:
        wait_for(lambda: len(finished(sqlite_store)) >= 2, what="two cycles")
        assert worker.next_run_at() is not None
    done = finished(sqlite_store)
    assert {r.trigger for r in done} == {"schedule"}
    assert done[-1].outcome == "ok", done[-1].error
    assert overlaps(done) == []
    assert worker.metrics.registry.get_sample_value("kpi_sync_cycles_total", {"kind": "sync", "outcome": "ok"})


def test_resync_while_busy_is_queued_once_and_runs_right_after(sandbox: RunningSandbox, sqlite_store: Engine) -> None:
    """Two resyncs asked during a cycle become one queued run (their requests merged) right after it, not parallel."""
    sandbox.set_faults(rate_slow=1.0, slow_ms=60)  # every request takes 60 ms: the first load lasts seconds
    settings = sandbox_settings(sandbox, str(sqlite_store.url), sync_interval_minutes=60)
    with running(Worker(sqlite_store, settings)) as worker:
        wait_for(lambda: worker.state()["running"] is not None, what="the first cycle")
        first = worker.request_resync(CycleOptions(trigger="api", objects=("contacts",)))
        second = worker.request_resync(CycleOptions(trigger="page", full=True, objects=("deals",)))
        assert (first["state"], second["state"]) == ("queued", "queued")
        assert second["pending"] == {
            "kind": "full",
            "trigger": "api",
            "full": True,
            "objects": ["contacts", "deals"],
            "reconcile": False,
        }
        wait_for(lambda: len(finished(sqlite_store)) >= 2, timeout=30, what="the queued resync")
        sandbox.set_faults()
    done = sorted(finished(sqlite_store), key=lambda r: r.id)
    assert [(r.kind, r.trigger) for r in done] == [("sync", "schedule"), ("full", "api")]
    assert overlaps(done) == []


def test_resync_when_idle_starts_at_once(sandbox: RunningSandbox, sqlite_store: Engine) -> None:
    """A resync with nothing running starts immediately."""
    settings = sandbox_settings(sandbox, str(sqlite_store.url), sync_interval_minutes=60)
    with running(Worker(sqlite_store, settings)) as worker:
        wait_for(lambda: len(finished(sqlite_store)) == 1 and worker.state()["running"] is None, what="first cycle")
        answer = worker.request_resync(CycleOptions(trigger="api", objects=("contacts",)))
        assert answer["state"] == "started"
        wait_for(lambda: len(finished(sqlite_store)) == 2, what="the resync")
    assert finished(sqlite_store)[0].trigger == "api"


def test_stop_mid_cycle_commits_and_closes_the_run(sandbox: RunningSandbox, sqlite_store: Engine) -> None:
    """A stop request during a cycle ends it after the page in flight: the run is closed as stopped, none left open."""
    sandbox.set_faults(rate_slow=1.0, slow_ms=80)
    # One request at a time: the small portal's first load (80 ms a call) must outlast the half second below.
    settings = sandbox_settings(sandbox, str(sqlite_store.url), sync_interval_minutes=60, hubspot_max_in_flight=1)
    worker = Worker(sqlite_store, settings)
    worker.start()
    wait_for(lambda: worker.state()["running"] is not None, what="the first cycle")
    time.sleep(0.5)
    started = time.monotonic()
    worker.request_stop()
    worker.shutdown()
    assert time.monotonic() - started < 10
    rows = runs.recent_runs(sqlite_store, 10)
    assert [r.outcome for r in rows] == ["stopped"]
    assert worker.request_resync(CycleOptions(trigger="api"))["state"] == "stopping"


class ScriptedCycle:
    """A stand-in cycle that records a run and returns the scripted outcome (the DAILY limit cannot be made to
    end within a test on the sandbox, whose daily counter resets at midnight)."""

    def __init__(self, outcomes: list[tuple[str, int | None]]) -> None:
        self.outcomes = outcomes
        self.calls: list[tuple[float, CycleOptions]] = []

    def __call__(
        self,
        engine: Engine,
        config: CycleConfig,
        options: CycleOptions,
        *,
        stop: threading.Event | None = None,
        observers: Sequence[Observer] = (),
    ) -> RunSummary:
        self.calls.append((time.monotonic(), options))
        scripted, resume_in_ms = self.outcomes.pop(0) if self.outcomes else ("ok", None)
        outcome = RunOutcome(scripted)
        run_id = runs.open_run(engine, runs.RunKind.SYNC, options.trigger, runs.now_ms())
        resume_at = runs.now_ms() + resume_in_ms if resume_in_ms is not None else None
        counts = make_counts(api_calls=1)
        runs.close_run(engine, run_id, outcome, counts=counts, resume_at=resume_at)
        return RunSummary(run_id, outcome, counts, resume_at_ms=resume_at)


def test_daily_limit_pauses_cycles_until_the_resume_time(sqlite_store: Engine) -> None:
    """After a DAILY stop no cycle runs (requests wait) until the resume time, then the worker resumes on its own."""
    cycle = ScriptedCycle([("stopped", 2500)])
    settings = Settings(
        database_url=str(sqlite_store.url), sync_interval_minutes=ONE_SECOND, hubspot_access_token=TOKEN
    )
    with running(Worker(sqlite_store, settings, cycle=cycle)) as worker:
        wait_for(lambda: len(cycle.calls) == 1, what="the first cycle")
        wait_for(lambda: worker.state()["paused_until"] is not None, what="the pause")
        assert worker.request_resync(CycleOptions(trigger="api"))["state"] == "queued"
        time.sleep(1.5)
        assert len(cycle.calls) == 1, "no cycle while paused, though the interval is one second"
        wait_for(lambda: len(cycle.calls) >= 2, timeout=10, what="the resume")
        paused_for = cycle.calls[1][0] - cycle.calls[0][0]
        assert paused_for >= 2.3
        assert cycle.calls[1][1].trigger == "api", "the request that waited runs first"


def test_a_pause_recorded_before_a_restart_is_kept(sqlite_store: Engine) -> None:
    """A worker started while the last run's resume time is ahead waits for it."""
    run_id = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(sqlite_store, run_id, RunOutcome.STOPPED, counts=RunCounts(), resume_at=runs.now_ms() + 60_000)
    cycle = ScriptedCycle([])
    settings = Settings(
        database_url=str(sqlite_store.url), sync_interval_minutes=ONE_SECOND, hubspot_access_token=TOKEN
    )
    with running(Worker(sqlite_store, settings, cycle=cycle)) as worker:
        time.sleep(1.2)
        assert cycle.calls == []
        assert worker.state()["paused_until"] is not None


def test_a_cycle_lock_that_cannot_be_taken_skips_the_cycle_and_the_worker_lives_on(sqlite_store: Engine) -> None:
    """When the cycle lock cannot even be asked (here its SQLite lock file is unusable), no cycle runs, each tick
    logs `cycle_lock_failed` and counts a database error, and the worker keeps ticking."""
    path = lock_file(sqlite_store.url, "cycle")
    assert path is not None
    path.mkdir()  # a directory where the lock file should be: opening it fails
    cycle = ScriptedCycle([])
    settings = Settings(
        database_url=str(sqlite_store.url), sync_interval_minutes=ONE_SECOND, hubspot_access_token=TOKEN
    )
    worker = Worker(sqlite_store, settings, cycle=cycle)
    with capture_logs() as events, running(worker):
        wait_for(lambda: (database_errors(worker) or 0) >= 2, what="two ticks refused the lock")
    assert cycle.calls == []
    assert {e["error_type"] for e in events if e["event"] == "cycle_lock_failed"} == {"IsADirectoryError"}


def database_errors(worker: Worker) -> float | None:
    return worker.metrics.registry.get_sample_value("kpi_sync_errors_total", {"kind": "database"})


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (None, CycleOptions(trigger="api"), CycleOptions(trigger="api")),
        (
            CycleOptions(trigger="api", objects=("contacts",)),
            CycleOptions(trigger="page", full=True, objects=("deals", "contacts")),
            CycleOptions(trigger="api", full=True, objects=("contacts", "deals")),
        ),
        (
            CycleOptions(trigger="schedule", reconcile=True),
            CycleOptions(trigger="api", objects=("contacts",)),
            CycleOptions(trigger="api", reconcile=True, objects=None),
        ),
    ],
)
def test_merging_requests(first: CycleOptions | None, second: CycleOptions, expected: CycleOptions) -> None:
    """Queued requests merge: full or reconcile if either asks, objects united (None = all)."""
    assert merge(first, second) == expected
