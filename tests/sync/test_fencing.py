"""The cycle lock's fence on PostgreSQL: once another holder has taken the lock, a transaction of the old holder
fails before it writes, and a transaction the old holder has open holds the new holder back until it ends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, select, text

from service.settings import load_settings
from storage import repo
from storage import tables as t
from storage.engine import make_engine
from sync import fence
from sync.cycle import CycleOptions, run_cycle
from sync.errors import LostLockError
from sync.runs import RunOutcome, recent_runs
from tests.helpers import TOKEN, wait_for

pytestmark = pytest.mark.postgres
on_postgres = pytest.mark.parametrize("store_url", ["postgres"], indirect=True)
STATE = repo.table(t.KeyValue)


@pytest.fixture
def other(store: Engine) -> Iterator[Engine]:
    """A second engine on the same database: another replica."""
    engine = make_engine(store.url.render_as_string(hide_password=False))
    yield engine
    engine.dispose()


def state_keys(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(conn.execute(select(STATE.c.key)).scalars())


@on_postgres
def test_a_transaction_begun_after_another_holder_took_the_lock_fails_and_writes_nothing(
    store: Engine, other: Engine
) -> None:
    """The old holder's next transaction raises LostLockError (`lost the cycle lock`) before its first statement
    runs: the row it meant to write is not in the store, and every later transaction fails the same way."""
    old = fence.take(store, "cycle")
    with fence.holding(old):
        with store.begin() as conn:
            repo.set_state(conn, "before", {"v": 1})
        fence.take(other, "cycle")
        with pytest.raises(LostLockError, match=r"^lost the cycle lock$"), store.begin() as conn:
            repo.set_state(conn, "after", {"v": 2})
        assert fence.lost()
        with pytest.raises(LostLockError), store.connect() as conn:
            conn.execute(text("SELECT 1"))
    assert state_keys(store) == {"before"}


@on_postgres
def test_an_open_transaction_of_the_old_holder_holds_the_new_holders_bump_until_it_ends(
    store: Engine, other: Engine
) -> None:
    """A new holder's token bump waits for the old holder's open transaction: what that transaction commits lands
    before the new holder starts, never beside it."""
    old = fence.take(store, "cycle")
    taken: list[fence.Fence] = []
    with fence.holding(old), store.begin() as conn:
        repo.set_state(conn, "old holder", {"v": 1})
        bump = threading.Thread(target=lambda: taken.append(fence.take(other, "cycle")))
        bump.start()
        wait_for(lambda: waiting_on_a_lock(other), what="the new holder's bump to wait on the old transaction")
        assert not taken
    bump.join(timeout=30)
    assert [f.token for f in taken] == [old.token + 1]
    assert state_keys(store) == {"old holder"}


def waiting_on_a_lock(engine: Engine) -> bool:
    """Whether some session of this database waits on a lock (asked from outside any fence, as an observer)."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    with fence.unfenced(), engine.connect() as conn:
        return bool(conn.execute(query).scalar())


@on_postgres
def test_transactions_outside_the_holders_context_are_not_fenced(store: Engine, other: Engine) -> None:
    """Another thread of the same process (the admin API) and recording a run's end are not fenced: they succeed
    after the lock was lost."""
    old = fence.take(store, "cycle")
    fence.take(other, "cycle")
    elsewhere: list[set[str]] = []
    with fence.holding(old):
        thread = threading.Thread(target=lambda: elsewhere.append(state_keys(store)))
        thread.start()
        thread.join(timeout=30)
        with fence.unfenced(), store.begin() as conn:
            repo.set_state(conn, "run recorded", {"v": 1})
    assert elsewhere == [set()]
    assert state_keys(store) == {"run recorded"}


@on_postgres
def test_a_cycle_that_lost_its_lock_before_it_began_fails_in_one_line_and_records_nothing(
    store: Engine, other: Engine
) -> None:
    """A lock lost between taking it and the cycle's start: run_cycle returns failed, `lost the cycle lock`, run id
    0, and the old holder left no run row (it raises nothing to its caller)."""
    url = store.url.render_as_string(hide_password=False)
    config = load_settings(hubspot_access_token=TOKEN, hubspot_base_url="http://127.0.0.1:9", database_url=url)
    old = fence.take(store, "cycle")
    fence.take(other, "cycle")
    with fence.holding(old):
        summary = run_cycle(store, config.cycle_config(), CycleOptions())
    assert (summary.run_id, summary.outcome, summary.error) == (0, RunOutcome.FAILED, "lost the cycle lock")
    assert recent_runs(store) == []
