"""A rehearsal of work on the store: an engine whose every commit is kept only until the rehearsal ends, then undone.

`rolled_back(engine)` yields an engine over ONE connection of `engine` inside one outer transaction. Code written
for a real engine runs on it unchanged: each `engine.begin()` block that commits releases a savepoint (and sets the
next one), a block that rolls back returns to the last savepoint, so the code reads its own writes as it would
after a real commit. When the rehearsal ends, however it ends, the outer transaction is rolled back: every table is
as it was. The dry run (`kpi-sync sync --dry-run`) runs its whole cycle on such an engine.

SQLAlchemy's `join_transaction_mode` does this for a `Session` only; the store's jobs take an `Engine`, so the
savepoints are set where an engine's transactions end: at the driver connection's `commit()` and `rollback()`.

Limits: one thread at a time (all its connections are one driver connection); nothing it writes is visible to
other connections; on SQLite it holds the database's write lock from its first write to its end (other writers
wait, readers do not); PostgreSQL session settings (autocommit, isolation level) asked for inside are ignored, since
changing them would end the outer transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from storage.engine import _json_text  # the store's JSON encoding, shared within the storage package

SAVEPOINT = "kpi_sync_rehearsal"
# Session settings a driver applies by ending the transaction (psycopg refuses them inside one): kept as they are.
_FIXED = frozenset({"autocommit", "isolation_level", "read_only", "deferrable"})


class _Savepoints:
    """A driver connection whose commit releases (and sets again) the rehearsal's savepoint and whose rollback
    returns to it; everything else is the driver connection's own."""

    def __init__(self, connection: Any) -> None:
        object.__setattr__(self, "_connection", connection)

    def _run(self, *statements: str) -> None:
        cursor = self._connection.cursor()
        try:
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()

    def commit(self) -> None:
        self._run(f"RELEASE SAVEPOINT {SAVEPOINT}", f"SAVEPOINT {SAVEPOINT}")

    def rollback(self) -> None:
        self._run(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")

    def close(self) -> None:
        """The rehearsal closes the connection itself, after its rollback."""

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in _FIXED:
            setattr(self._connection, name, value)


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Engine]:
    """An engine whose writes last until the block ends and are then rolled back (see the module's docstring)."""
    pooled = engine.raw_connection()
    try:
        driver = pooled.driver_connection
        assert driver is not None  # a connection just checked out of the pool
        savepoints = _Savepoints(driver)
        # SQLite needs an explicit outer BEGIN (a savepoint outside one is a transaction that RELEASE commits);
        # psycopg opens the outer transaction itself on the first statement.
        savepoints._run(*(["BEGIN"] if engine.dialect.name == "sqlite" else []), f"SAVEPOINT {SAVEPOINT}")
        # psycopg's type lookups insist on its own connection class: hstore (unused here) is not looked up.
        options = {"use_native_hstore": False} if engine.dialect.name == "postgresql" else {}
        rehearsal = create_engine(
            engine.url,
            creator=lambda: savepoints,
            poolclass=StaticPool,
            json_deserializer=orjson.loads,
            json_serializer=_json_text,
            **options,
        )
        try:
            yield rehearsal
        finally:
            rehearsal.dispose()
            _undo(engine, pooled, driver)
    finally:
        pooled.close()


def _undo(engine: Engine, pooled: Any, driver: Any) -> None:
    """Roll the outer transaction back; a connection lost meanwhile is thrown away instead (the database discards
    its transaction with it), so the driver's error does not hide why the rehearsal ended."""
    try:
        driver.rollback()
    except engine.dialect.loaded_dbapi.Error:
        pooled.invalidate()
