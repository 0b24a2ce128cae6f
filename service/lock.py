"""Never two cycles at once for one portal, even with two worker replicas: a lock that its holder's death frees.

PostgreSQL: a session-level advisory lock on a dedicated connection. If the holder dies, its connection closes and
the server releases the lock as soon as it has ended that session. That session can also end under a live holder
(`pg_terminate_backend`, an idle timeout, a failover), so the holder is fenced (`sync.fence`): it bumps the lock's
token on taking it, every transaction of its cycle checks the token, and a keepalive thread checks every
`KEEPALIVE_S` that the session still holds the lock, flagging the fence lost at once when it does not.
SQLite file: an exclusive `flock` on a lock file beside the database (`<database>.<name>.lock`). The kernel releases
it when the holder's process ends, however it ends (SIGKILL included), so the next holder gets it at once. The file
is left in place: deleting a lock file while another process waits on it would let two processes lock two files.
In-memory SQLite: no other process can see the database, so a lock inside this process is enough.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from storage.locks import lock_file, lock_key, pg_lock_ids, try_flock
from sync import fence

__all__ = ["cycle_lock", "lock_file", "lock_key"]

log = structlog.get_logger(__name__)

KEEPALIVE_S = 10.0  # how often the lock's session is checked; a lost lock fails the cycle's next transaction

_IN_PROCESS: dict[str, threading.Lock] = {}  # in-memory SQLite: one lock per (database URL, lock name)
_IN_PROCESS_GUARD = threading.Lock()


@contextmanager
def cycle_lock(engine: Engine, name: str = "cycle", *, keepalive_s: float = KEEPALIVE_S) -> Iterator[bool]:
    """Try to take the lock `name` without waiting; yields whether it was taken, and releases it on exit. On
    PostgreSQL the block runs fenced: a transaction it begins after the lock was lost raises LostLockError.

    Raises SQLAlchemyError when PostgreSQL cannot be asked, OSError when a SQLite lock file cannot be opened.
    """
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name, keepalive_s) as acquired:
            yield acquired
        return
    path = lock_file(engine.url, name)
    if path is None:
        with _in_process_lock(f"{engine.url}#{name}") as acquired:
            yield acquired
    else:
        with _file_lock(path) as acquired:
            yield acquired


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    # Read-only is enough for flock, and lets another user that may write the database share the lock file.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        yield try_flock(fd)
    finally:
        os.close(fd)  # releases the lock: each open() is its own lock, even in one process


@contextmanager
def _in_process_lock(key: str) -> Iterator[bool]:
    with _IN_PROCESS_GUARD:
        lock = _IN_PROCESS.setdefault(key, threading.Lock())
    acquired = lock.acquire(blocking=False)
    try:
        yield acquired
    finally:
        if acquired:
            lock.release()


@contextmanager
def _advisory_lock(engine: Engine, name: str, keepalive_s: float) -> Iterator[bool]:
    key = lock_key(name)
    conn = engine.connect()
    try:
        acquired = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
        conn.commit()  # the lock is session-level: do not sit "idle in transaction" while the cycle runs
        token = fence.take(engine, name) if acquired else None
    except BaseException:
        conn.close()  # releases the lock with the session
        raise
    if token is None:
        conn.close()
        yield False
        return
    keepalive = _Keepalive(conn, key, token, keepalive_s)
    try:
        with fence.holding(token):
            yield True
    finally:
        keepalive.stop()
        _advisory_unlock(conn, key, lost=token.lost.is_set())
        conn.close()


class _Keepalive:
    """Checks every `interval` seconds, on the lock's own connection, that its session still holds the advisory lock
    (which also keeps the connection from looking idle); flags the fence lost the first time it does not."""

    def __init__(self, conn: Connection, key: int, token: fence.Fence, interval: float) -> None:
        self._conn, self._fence, self._interval = conn, token, interval
        self._params = pg_lock_ids(key)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cycle-lock-keepalive", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop checking; returns once the thread no longer uses the connection."""
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            if not self._held():
                self._fence.lost.set()  # the cycle's next transaction fails; its end is the one log line
                return

    def _held(self) -> bool:
        query = text(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
            " AND classid = :classid AND objid = :objid AND objsubid = 1"
        )
        try:
            held = bool(self._conn.execute(query, self._params).scalar())
            self._conn.commit()
        except SQLAlchemyError:
            return False
        return held


def _advisory_unlock(conn: Connection, key: int, *, lost: bool) -> None:
    try:
        conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
        conn.commit()
    except SQLAlchemyError:
        # A broken connection must not go back to the pool still holding the lock: closing it releases it.
        conn.invalidate()
        if not lost:  # a lost lock was said once already, by the cycle that stopped for it
            log.warning("lock_release_failed", reason="connection lost; the server releases the lock with it")
