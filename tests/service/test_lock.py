"""The cycle lock: one holder at a time per database, freed when its holder dies, on SQLite (a file lock beside the
database, or a lock in the process for an in-memory database) and PostgreSQL (an advisory lock, fenced: a holder
whose lock session ended stops before it commits anything more)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.engine import make_url
from structlog.testing import capture_logs

from sandbox.harness import run_sandbox
from service.lock import KEEPALIVE_S, cycle_lock, lock_file, lock_key
from service.report import load_aggregates
from service.settings import Settings
from storage import repo
from storage import tables as t
from storage.engine import make_engine
from storage.locks import pg_lock_ids
from sync import fence
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.errors import LostLockError
from sync.properties import SNAPSHOT_OBJECT
from sync.push import _snapshot_records as snapshot_records
from sync.refresh.contacts import refresh
from sync.runs import RunOutcome, get_run, now_ms
from tests.helpers import TOKEN, settings_for, stored_lines, truth_lines, wait_for

ROOT = Path(__file__).resolve().parents[2]
HOLDER = Path(__file__).with_name("lock_holder.py")


def test_second_holder_is_refused_while_the_first_holds(store: Engine) -> None:
    """While one holder has the lock, another engine on the same database cannot take it."""
    other = make_engine(str(store.url.render_as_string(hide_password=False)))
    try:
        with cycle_lock(store) as first, cycle_lock(other) as second:
            assert (first, second) == (True, False)
    finally:
        other.dispose()


def test_lock_is_free_again_after_release(store: Engine) -> None:
    """Leaving the block releases the lock for the next holder."""
    other = make_engine(str(store.url.render_as_string(hide_password=False)))
    try:
        with cycle_lock(store) as first:
            assert first
        with cycle_lock(other) as second:
            assert second
    finally:
        other.dispose()


def test_locks_with_different_names_do_not_conflict(store: Engine) -> None:
    """The name scopes the lock."""
    with cycle_lock(store, "cycle") as a, cycle_lock(store, "other") as b:
        assert (a, b) == (True, True)


@contextmanager
def holder_process(url: str) -> Iterator[subprocess.Popen[str]]:
    """`lock_holder.py` holding the cycle lock on `url` in a process of its own; killed and reaped on exit."""
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(HOLDER), url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def advisory_holder_pid(store: Engine, name: str = "cycle") -> int:
    """The PostgreSQL backend that holds the session advisory lock `name` in this (test-only) database (not the
    fence's transaction-level locks, which the holder's transactions take and release as they go)."""
    query = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
        " AND classid = :classid AND objid = :objid"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    with store.connect() as conn:
        return int(conn.execute(query, pg_lock_ids(lock_key(name))).scalar_one())


def session_alive(store: Engine, pid: int) -> bool:
    """Whether the PostgreSQL backend `pid` still runs (its session still exists)."""
    with store.connect() as conn:
        return bool(conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).scalar())


def test_a_holder_killed_with_sigkill_frees_the_lock(store: Engine) -> None:
    """A holder process killed with SIGKILL blocks no one: on SQLite the lock is free as soon as the process is
    gone; on PostgreSQL as soon as the server has ended the dead holder's session (it notices the closed
    connection by itself, a moment after the process died)."""
    url = store.url.render_as_string(hide_password=False)
    with holder_process(url) as holder:
        with cycle_lock(store) as while_alive:
            assert not while_alive
        backend = advisory_holder_pid(store) if store.dialect.name == "postgresql" else None
        holder.send_signal(signal.SIGKILL)
        assert holder.wait(timeout=30) == -signal.SIGKILL
    if backend is not None:
        wait_for(lambda: not session_alive(store, backend), what="the server to end the killed holder's session")
    with cycle_lock(store) as after_death:
        assert after_death


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:////data/kpi-sync.db", "/data/kpi-sync.db.cycle.lock"),
        ("sqlite+pysqlite:////data/kpi-sync.db", "/data/kpi-sync.db.cycle.lock"),
        ("sqlite:////data/file.db?mode=ro&uri=true", "/data/file.db.cycle.lock"),
        ("sqlite:///file:/data/kpi.db?mode=rwc&uri=true", "/data/kpi.db.cycle.lock"),
        ("sqlite://", None),
        ("sqlite:///:memory:", None),
        ("sqlite:///file:shared?mode=memory&cache=shared&uri=true", None),
    ],
)
def test_the_lock_file_lies_beside_the_database_file(url: str, expected: str | None) -> None:
    """One lock file per database file and lock name; none for an in-memory database."""
    path = lock_file(make_url(url), "cycle")
    assert (str(path) if path else None) == expected


def test_a_relative_database_path_locks_the_same_file_as_the_absolute_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sqlite:///./x.db` and `sqlite:////abs/x.db` name one database, so they share one lock."""
    monkeypatch.chdir(tmp_path)
    relative, absolute = make_engine("sqlite:///./store.db"), make_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with cycle_lock(relative) as first, cycle_lock(absolute) as second:
            assert (first, second) == (True, False)
    finally:
        relative.dispose()
        absolute.dispose()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_locked_within_the_process(url: str) -> None:
    """No other process can see an in-memory database: two holders in this process still exclude each other."""
    engine = make_engine(url)
    try:
        with cycle_lock(engine) as first, cycle_lock(engine) as second:
            assert (first, second) == (True, False)
        with cycle_lock(engine) as again:
            assert again
    finally:
        engine.dispose()


@pytest.mark.parametrize("name", ["cycle", "reconcile", "x" * 200])
def test_lock_key_is_a_stable_signed_64_bit_integer(name: str) -> None:
    """Every process derives the same advisory-lock key from a name."""
    key = lock_key(name)
    assert key == lock_key(name)
    assert -(2**63) <= key < 2**63


POSTGRES = [pytest.param("postgres", marks=pytest.mark.postgres)]
on_postgres = pytest.mark.parametrize("store_url", POSTGRES, indirect=True)


def terminate(engine: Engine, pid: int) -> None:
    """End backend `pid` as an admin's `pg_terminate_backend` would, and wait until its session (and lock) is gone."""
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
    wait_for(lambda: not session_alive(engine, pid), what="the terminated session to end")


@on_postgres
def test_the_keepalive_flags_a_lock_whose_session_ended_and_the_next_transaction_fails(store: Engine) -> None:
    """With no new holder to change the token, the keepalive alone finds the lock's session gone: the holder's next
    transaction raises LostLockError."""
    other = make_engine(store.url.render_as_string(hide_password=False))
    try:
        with cycle_lock(store, keepalive_s=0.1) as acquired:
            assert acquired
            terminate(other, advisory_holder_pid(other))
            wait_for(fence.lost, what="the keepalive to flag the lock lost")
            with pytest.raises(LostLockError), store.begin():
                pass
    finally:
        other.dispose()


def stored_count(engine: Engine, model: type) -> int:
    with engine.connect() as conn:
        return len(conn.execute(select(repo.table(model).c.id)).all())


@contextmanager
def cycle_in_a_thread(
    engine: Engine, settings: Settings, keepalive_s: float
) -> Iterator[tuple[threading.Thread, list[RunSummary]]]:
    """A cycle under the cycle lock in a thread of its own (as the worker runs it); its summary lands in the list
    once it ends, which leaving the block waits for."""
    ended: list[RunSummary] = []

    def hold_and_run() -> None:
        with cycle_lock(engine, keepalive_s=keepalive_s) as acquired:
            assert acquired
            ended.append(run_cycle(engine, settings.cycle_config(), CycleOptions()))

    thread = threading.Thread(target=hold_and_run)
    thread.start()
    try:
        yield thread, ended
    finally:
        thread.join(timeout=120)


@pytest.mark.slow
@on_postgres
def test_a_cycle_whose_lock_session_is_killed_fails_and_the_next_cycle_leaves_the_truth(store: Engine) -> None:
    """Kill the cycle lock's session mid-pull and start a second cycle beside the first: the first ends `failed:
    lost the cycle lock`, the second completes, and the store, its aggregates and the snapshots in HubSpot equal a
    full recompute of what HubSpot holds."""
    url = store.url.render_as_string(hide_password=False)
    other = make_engine(url)
    with run_sandbox(seed=7, size="small", token=TOKEN, index_lag_ms=0, latency_ms=60) as sb:
        settings = settings_for(sb, url)
        with cycle_in_a_thread(store, settings, KEEPALIVE_S) as (thread, first):
            wait_for(lambda: stored_count(other, t.Engagement) > 0, what="the first cycle to commit a page")
            terminate(other, advisory_holder_pid(other))
            sb.settings(latency_ms=0)
            with cycle_lock(other) as acquired:
                assert acquired
                assert thread.is_alive(), "the first cycle must still run when the second starts"
                second = run_cycle(other, settings.cycle_config(), CycleOptions())
        assert second.outcome is RunOutcome.OK, second.error
        assert [(s.outcome, s.error) for s in first] == [(RunOutcome.FAILED, "lost the cycle lock")]
        recorded = get_run(other, first[0].run_id)
        assert recorded is not None
        assert (recorded.outcome, recorded.error) == (RunOutcome.FAILED, "lost the cycle lock")

        # Every record as HubSpot holds it (contacts by id: kpi-sync's own write-back moved their modification dates).
        held, kept = truth_lines(sb), stored_lines(other)
        assert held.pop("contacts").keys() == kept.pop("contacts").keys()
        assert kept == held
        cycled = load_aggregates(other)
        written = {r["properties"]["snapshot_key"]: r["properties"] for r in sb.export(SNAPSHOT_OBJECT)}
        refresh(other, settings.cycle_config().kpi, now_ms(), full=True)
        assert cycled == load_aggregates(other)
        for record in snapshot_records(other):  # an empty value is a cleared property in HubSpot
            assert {k: written[record["snapshot_key"]].get(k) or "" for k in record} == record
    other.dispose()


@pytest.mark.slow
@on_postgres
def test_a_cycle_whose_lock_session_ends_with_no_one_else_waiting_fails_at_once_in_one_line(store: Engine) -> None:
    """No second holder changes the token: the keepalive finds the lock's session gone, the cycle fails at its next
    transaction (`failed: lost the cycle lock`, never ok or stopped) and says so in its one summary line."""
    url = store.url.render_as_string(hide_password=False)
    other = make_engine(url)
    with (
        run_sandbox(seed=7, size="small", token=TOKEN, index_lag_ms=0, latency_ms=60) as sb,
        capture_logs() as logs,
        cycle_in_a_thread(store, settings_for(sb, url), 0.1) as (_, ended),
    ):
        wait_for(lambda: stored_count(other, t.Engagement) > 0, what="the cycle to commit a page")
        terminate(other, advisory_holder_pid(other))
    other.dispose()
    assert [(s.outcome, s.error) for s in ended] == [(RunOutcome.FAILED, "lost the cycle lock")]
    assert ended[0].counts.kpis.contacts == 0  # it stopped in the pull: nothing recomputed, nothing written
    said = [e["event"] for e in logs if "lock" in e["event"] or "lock" in str(e.get("error"))]
    assert said == ["cycle_finished"]
