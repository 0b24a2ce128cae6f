"""Where a named lock lives on each database, and a lock that waits for its turn (for migrations).

PostgreSQL: a session advisory lock keyed by `lock_key(name)`. SQLite file: an exclusive `flock` on
`<database>.<name>.lock` beside the database; an in-memory database needs none (no other process sees it).
The cycle lock (`service.lock`) takes the same locks without waiting.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError


class LockTimeoutError(Exception):
    """A lock was not free within the time allowed."""


def lock_key(name: str) -> int:
    """The signed 64-bit advisory-lock key of a lock name (stable across processes and versions)."""
    digest = hashlib.sha256(f"kpi-sync:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def pg_lock_ids(key: int) -> dict[str, int]:
    """How `pg_locks` shows an advisory lock of bigint `key`: `classid` and `objid`, its unsigned 32-bit halves
    (with `objsubid` 1)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return {"classid": unsigned >> 32, "objid": unsigned & 0xFFFFFFFF}


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
def waiting_lock(engine: Engine, name: str, timeout_s: float) -> Iterator[None]:
    """Hold lock `name`, waiting up to `timeout_s` for it; raises LockTimeoutError when it stays taken."""
    if engine.dialect.name == "postgresql":
        with _waiting_advisory_lock(engine, name, timeout_s):
            yield
        return
    path = lock_file(engine.url, name)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o644)
    try:
        _flock_within(fd, timeout_s, name)
        yield
    finally:
        os.close(fd)


def try_flock(fd: int) -> bool:
    """Take an exclusive `flock` on `fd` without waiting; whether it was taken."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _flock_within(fd: int, timeout_s: float, name: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not try_flock(fd):
        if time.monotonic() >= deadline:
            raise LockTimeoutError(f"the {name} lock stayed taken for {timeout_s:.0f} s")
        time.sleep(0.05)


@contextmanager
def _waiting_advisory_lock(engine: Engine, name: str, timeout_s: float) -> Iterator[None]:
    key = lock_key(name)
    with engine.connect() as conn:
        # lock_timeout bounds the wait of pg_advisory_lock (a heavyweight lock like any other).
        conn.execute(text("SELECT set_config('lock_timeout', :t, false)"), {"t": f"{int(timeout_s * 1000)}ms"})
        try:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
        except OperationalError as exc:
            if getattr(exc.orig, "sqlstate", None) == "55P03":  # lock_not_available
                raise LockTimeoutError(f"the {name} lock stayed taken for {timeout_s:.0f} s") from None
            raise
        conn.execute(text("SELECT set_config('lock_timeout', '0', false)"))
        conn.commit()  # a session lock: do not sit idle in transaction while the holder works
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
