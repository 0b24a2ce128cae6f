"""The cycle lock: one holder at a time per database, freed when its holder dies, on SQLite (a file lock beside the
database, or a lock in the process for an in-memory database) and PostgreSQL (an advisory lock)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from service.lock import cycle_lock, lock_file, lock_key
from storage.engine import make_engine
from tests.helpers import wait_for

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


def advisory_holder_pid(store: Engine) -> int:
    """The PostgreSQL backend that holds an advisory lock in this (test-only) database."""
    query = text(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    with store.connect() as conn:
        return int(conn.execute(query).scalar_one())


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
