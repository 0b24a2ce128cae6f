"""A cycle's live progress: observers hear each object's records as pages commit, and the running run's row carries
them, readable from another connection while the cycle is still pulling."""

from __future__ import annotations

import threading

from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from storage.engine import open_store
from sync import runs
from sync.cycle import CycleOptions, run_cycle
from sync.hubspot.constants import OBJECT_TYPES
from sync.progress import RunStop
from sync.runs import RunOutcome
from tests.helpers import PauseAt, Recorder, cycle_in_thread, settings_for, wait_for


def test_the_progress_hook_hears_each_objects_records_as_the_pull_commits_them(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Every object type's records reach the observer, page by page, summing to what the pull fetched; the phases
    come in order pull, kpis, push."""
    heard = Recorder()
    config = settings_for(sandbox, sqlite_url).cycle_config()
    summary = run_cycle(sqlite_store, config, CycleOptions(), observers=[heard])

    assert summary.outcome is RunOutcome.OK, summary.error
    last = heard.snapshots[-1].objects
    for object_type in OBJECT_TYPES:
        assert last[f"pull:{object_type}"].records == summary.counts.pull.fetched[object_type], object_type
        assert last[f"pull:{object_type}"].pages >= 1
    contacts = [s.records for s in heard.snapshots if (s.phase, s.object_type) == ("pull", "contacts")]
    assert contacts == sorted(contacts)
    assert len(set(contacts)) > 1, "the count grows page by page"
    phases = [s.phase for s in heard.snapshots]
    assert phases.index("pull") < phases.index("kpis") < phases.index("push")
    assert heard.snapshots[-1].calls > 0


def test_an_incremental_search_tells_how_many_records_to_expect(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Where HubSpot's search answer gives a total, the progress carries it: the records the window holds."""
    config = settings_for(sandbox, sqlite_url).cycle_config()
    run_cycle(sqlite_store, config, CycleOptions())
    sandbox.simulate(minutes=120, seed=3)
    heard = Recorder()
    summary = run_cycle(sqlite_store, config, CycleOptions(), observers=[heard])

    assert summary.outcome is RunOutcome.OK, summary.error
    searched = [t for t in OBJECT_TYPES if summary.counts.pull.fetched[t]]
    assert searched
    for object_type in searched:
        final = heard.snapshots[-1].objects[f"pull:{object_type}"]
        assert final.total == final.records == summary.counts.pull.fetched[object_type], object_type


def test_the_running_rows_live_counts_are_visible_from_another_connection_mid_pull(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """While the cycle is held in the middle of pulling contacts, another connection reads the running row: its
    phase, object, records and calls as the cycle last reported them."""
    pause = PauseAt()
    config = settings_for(sandbox, sqlite_url).cycle_config()
    with cycle_in_thread(sqlite_store, config, CycleOptions(), [pause]) as done:
        assert pause.reached.wait(60)
        reader = open_store(sqlite_url)
        try:
            (row,) = runs.recent_runs(reader, 1)
        finally:
            reader.dispose()
        pause.release.set()
        wait_for(lambda: bool(done), timeout=60, what="the cycle to end")

    assert pause.held is not None
    assert row.outcome is RunOutcome.RUNNING
    assert row.progress is not None
    assert (row.progress.phase, row.progress.object_type) == ("pull", "contacts")
    assert row.progress.records == pause.held.records > 0
    assert row.progress.objects["pull:contacts"].records == pause.held.records
    assert row.api_calls == row.progress.calls == pause.held.calls > 0
    assert done[0].outcome is RunOutcome.OK


def test_a_runs_own_stop_never_stops_its_caller() -> None:
    """A cancel sets the run's stop only: the caller's event (a worker's, shared by every cycle it runs) stays clear,
    while the caller's stop still stops the run."""
    caller = threading.Event()
    cancelled = RunStop(caller)
    cancelled.set()
    assert cancelled.is_set()
    assert not caller.is_set()

    asked = RunStop(caller)
    assert not asked.is_set()
    caller.set()
    assert asked.is_set()
