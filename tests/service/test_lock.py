"""The cycle lock: one holder at a time per database, on SQLite (lease row) and PostgreSQL (advisory lock)."""

from __future__ import annotations

import time

import psycopg
import pytest
from sqlalchemy import Engine, insert, select

from storage.engine import make_engine
from sync.lock import LOCKS, cycle_lock, lock_key, take_lease


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


def test_a_dead_holder_does_not_block_forever(store: Engine) -> None:
    """A holder that died (expired lease on SQLite, closed session on PostgreSQL) no longer blocks the lock."""
    if store.dialect.name == "postgresql":
        url = store.url.set(drivername="postgresql").render_as_string(hide_password=False)
        dead = psycopg.connect(url, autocommit=True)
        dead.execute("SELECT pg_advisory_lock(%s)", (lock_key("cycle"),))
        with cycle_lock(store) as while_alive:
            assert not while_alive
        dead.close()
    else:
        with store.begin() as conn:
            conn.execute(insert(LOCKS).values(name="cycle", holder="gone:1:x", expires_at=int(time.time() * 1000) - 1))
    with cycle_lock(store) as after_death:
        assert after_death


def test_unexpired_lease_of_another_holder_is_respected(sqlite_store: Engine) -> None:
    """A lease that has not run out belongs to its holder, even if that holder is in another process."""
    with sqlite_store.begin() as conn:
        conn.execute(
            insert(LOCKS).values(name="cycle", holder="elsewhere:1:x", expires_at=int(time.time() * 1000) + 60_000)
        )
    with cycle_lock(sqlite_store) as acquired:
        assert not acquired


def test_lease_is_renewed_while_held(sqlite_store: Engine) -> None:
    """A holder keeps its lease beyond the lease time while the block runs."""
    with cycle_lock(sqlite_store, lease_seconds=0.3) as acquired:
        assert acquired
        time.sleep(0.8)
        assert not take_lease(sqlite_store, "cycle", "someone-else", 0.3)
    with sqlite_store.connect() as conn:
        assert conn.execute(select(LOCKS)).first() is None, "the lease row is deleted on release"


@pytest.mark.parametrize("name", ["cycle", "reconcile", "x" * 200])
def test_lock_key_is_a_stable_signed_64_bit_integer(name: str) -> None:
    """Every process derives the same advisory-lock key from a name."""
    key = lock_key(name)
    assert key == lock_key(name)
    assert -(2**63) <= key < 2**63
