"""A rehearsal of the store reads its own commits, undoes a failed block to the last commit, and keeps nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError

from storage import repo
from storage import tables as t
from storage.rehearsal import rolled_back


def state(engine: Engine, key: str) -> object:
    with engine.connect() as conn:
        return repo.get_state(conn, key)


def write_then_fail(engine: Engine) -> None:
    with engine.begin() as conn:
        repo.set_state(conn, "k", {"v": 4})
        raise ValueError("undo")


def rehearse_losing_the_connection(store: Engine) -> None:
    """A rehearsal that writes, has its connection ended by the server, and writes again."""
    with rolled_back(store) as rehearsal:
        with rehearsal.begin() as conn:
            repo.set_state(conn, "k", {"v": 2})
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        with store.connect() as admin:
            admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with rehearsal.begin() as conn:
            repo.set_state(conn, "k", {"v": 3})


def test_a_rehearsal_reads_its_own_commits_and_keeps_none(store: Engine) -> None:
    """Inside, a committed write is read back (also while a stream reads on another connection of the rehearsal);
    a block that fails returns to the last commit; outside and afterwards the store is as it was."""
    with store.begin() as conn:
        repo.set_state(conn, "k", {"v": 1})
    with rolled_back(store) as rehearsal:
        with rehearsal.begin() as conn:
            repo.set_state(conn, "k", {"v": 2})
        with rehearsal.connect() as reader:
            rows = reader.execute(select(repo.table(t.KeyValue)).execution_options(stream_results=True, yield_per=1))
            with rehearsal.begin() as conn:
                repo.set_state(conn, "other", {"v": 3})
            assert [tuple(r) for r in rows] == [("k", {"v": 2})]
        with pytest.raises(ValueError, match="undo"):
            write_then_fail(rehearsal)
        assert (state(rehearsal, "k"), state(rehearsal, "other")) == ({"v": 2}, {"v": 3})
        assert state(store, "k") == {"v": 1}
    assert (state(store, "k"), state(store, "other")) == ({"v": 1}, None)


@pytest.mark.postgres
def test_a_lost_connection_ends_the_rehearsal_with_the_error_that_ended_it(store: Engine) -> None:
    """When the database drops the rehearsal's connection, the caller sees SQLAlchemy's error from its own work,
    not the driver's from the final rollback, and the store keeps nothing."""
    if store.dialect.name != "postgresql":
        pytest.skip("the server ends a session only on PostgreSQL")
    with pytest.raises(SQLAlchemyError):
        rehearse_losing_the_connection(store)
    assert state(store, "k") is None
