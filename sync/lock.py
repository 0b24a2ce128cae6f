"""Never two cycles at once for one portal, even with two worker replicas: a lock held in the database.

On PostgreSQL a session-level advisory lock on a dedicated connection: if the holder dies, its connection closes
and the server releases the lock. SQLite has no such thing, so there the lock is a lease row in `worker_locks`
(taken when free or expired, renewed while held, deleted on release); a killed holder's lease runs out.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import structlog
from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from storage import repo
from storage import tables as t

log = structlog.get_logger(__name__)

LOCKS = repo.table(t.WorkerLock)
DEFAULT_LEASE_SECONDS = 60.0  # a killed SQLite holder blocks the next cycle for at most this long


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of a lock name (stable across processes and versions)."""
    digest = hashlib.sha256(f"kpi-sync:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def holder_id() -> str:
    """Who holds a lease: host, process and a random part (two engines in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@contextmanager
def cycle_lock(engine: Engine, name: str = "cycle", *, lease_seconds: float = DEFAULT_LEASE_SECONDS) -> Iterator[bool]:
    """Try to take the lock `name` without waiting; yields whether it was taken, and releases it on exit."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name) as acquired:
            yield acquired
    else:
        with _lease(engine, name, lease_seconds) as acquired:
            yield acquired


@contextmanager
def _advisory_lock(engine: Engine, name: str) -> Iterator[bool]:
    key = lock_key(name)
    conn = engine.connect()
    try:
        acquired = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()  # the lock is session-level: do not sit "idle in transaction" while the cycle runs
    except BaseException:
        conn.close()
        raise
    try:
        yield acquired
    finally:
        if acquired:
            _advisory_unlock(conn, key)
        conn.close()


def _advisory_unlock(conn: Connection, key: int) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
    except SQLAlchemyError:
        # A broken connection must not go back to the pool still holding the lock: closing it releases it.
        conn.invalidate()
        log.warning("lock_release_failed", reason="connection lost; the server releases the lock with it")


@contextmanager
def _lease(engine: Engine, name: str, lease_seconds: float) -> Iterator[bool]:
    holder = holder_id()
    acquired = take_lease(engine, name, holder, lease_seconds)
    if not acquired:
        yield False
        return
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_until, args=(engine, name, holder, lease_seconds, stop), name=f"lease-{name}", daemon=True
    )
    renewer.start()
    try:
        yield True
    finally:
        stop.set()
        renewer.join()
        release_lease(engine, name, holder)


def take_lease(engine: Engine, name: str, holder: str, lease_seconds: float) -> bool:
    """Take the lease if nobody holds it, it expired, or `holder` already has it (one atomic upsert)."""
    now = _now_ms()
    row = {"name": name, "holder": holder, "expires_at": now + int(lease_seconds * 1000)}
    dialect = postgresql if engine.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(LOCKS).values(row)
    stmt = stmt.on_conflict_do_update(
        index_elements=["name"],
        set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
        where=(LOCKS.c.expires_at < now) | (LOCKS.c.holder == holder),
    )
    with engine.begin() as conn:
        conn.execute(stmt)
        current = conn.execute(select(LOCKS.c.holder).where(LOCKS.c.name == name)).scalar()
    return current == holder


def renew_lease(engine: Engine, name: str, holder: str, lease_seconds: float) -> bool:
    """Push the lease's expiry forward; False when `holder` no longer has it."""
    with engine.begin() as conn:
        result = conn.execute(
            update(LOCKS)
            .where(LOCKS.c.name == name, LOCKS.c.holder == holder)
            .values(expires_at=_now_ms() + int(lease_seconds * 1000))
        )
    return bool(result.rowcount)


def release_lease(engine: Engine, name: str, holder: str) -> None:
    """Give the lease up (only if `holder` still has it)."""
    try:
        with engine.begin() as conn:
            conn.execute(delete(LOCKS).where(LOCKS.c.name == name, LOCKS.c.holder == holder))
    except SQLAlchemyError:
        log.warning("lock_release_failed", reason="database unreachable; the lease expires on its own")


def _renew_until(engine: Engine, name: str, holder: str, lease_seconds: float, stop: threading.Event) -> None:
    while not stop.wait(lease_seconds / 3):
        try:
            if not renew_lease(engine, name, holder, lease_seconds):
                log.error("lock_lost", lock=name, reason="another worker took over the expired lease")
                return
        except SQLAlchemyError:
            log.warning("lock_renew_failed", lock=name)


def _now_ms() -> int:
    return int(time.time() * 1000)
