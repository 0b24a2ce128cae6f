"""Never two cycles at once for one portal, even with two worker replicas: a lock that its holder's death frees.

PostgreSQL: a session-level advisory lock on a dedicated connection. If the holder dies, its connection closes and
the server releases the lock as soon as it has ended that session.
SQLite file: an exclusive `flock` on a lock file beside the database (`<database>.<name>.lock`). The kernel releases
it when the holder's process ends, however it ends (SIGKILL included), so the next holder gets it at once. The file
is left in place: deleting a lock file while another process waits on it would let two processes lock two files.
In-memory SQLite: no other process can see the database, so a lock inside this process is enough.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import structlog
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

log = structlog.get_logger(__name__)

_IN_PROCESS: dict[str, threading.Lock] = {}  # in-memory SQLite: one lock per (database URL, lock name)
_IN_PROCESS_GUARD = threading.Lock()


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of a lock name (stable across processes and versions)."""
    digest = hashlib.sha256(f"kpi-sync:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def cycle_lock(engine: Engine, name: str = "cycle") -> Iterator[bool]:
    """Try to take the lock `name` without waiting; yields whether it was taken, and releases it on exit.

    Raises SQLAlchemyError when PostgreSQL cannot be asked, OSError when a SQLite lock file cannot be opened.
    """
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, name) as acquired:
            yield acquired
        return
    path = lock_file(engine.url, name)
    if path is None:
        with _in_process_lock(f"{engine.url}#{name}") as acquired:
            yield acquired
    else:
        with _file_lock(path) as acquired:
            yield acquired


def lock_file(url: URL, name: str) -> Path | None:
    """The lock file of lock `name` beside a SQLite database file; None for an in-memory database."""
    database = url.database or ""
    if database.startswith("file:") and url.query.get("uri") == "true":  # sqlite:///file:path?mode=...&uri=true
        if url.query.get("mode") == "memory":
            return None
        database = urlsplit(database).path
    if database in ("", ":memory:"):
        return None
    # resolve(): every URL naming this file (relative, absolute, through a symlink) finds the same lock file.
    path = Path(database).resolve()
    return path.with_name(f"{path.name}.{_file_part(name)}.lock")


def _file_part(name: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name):
        return name
    return hashlib.sha256(name.encode()).hexdigest()[:16]


@contextmanager
def _file_lock(path: Path) -> Iterator[bool]:
    # Read-only is enough for flock, and lets another user that may write the database share the lock file.
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        yield _try_flock(fd)
    finally:
        os.close(fd)  # releases the lock: each open() is its own lock, even in one process


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


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
