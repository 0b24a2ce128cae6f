"""Fencing for the cycle lock: a cycle proves in every transaction it begins that the lock is still its own.

A PostgreSQL session advisory lock is only as alive as its session, which can end under a running cycle (an admin's
`pg_terminate_backend`, an idle timeout in a NAT or load balancer, a failover); another cycle may then take the lock.
So each holder bumps the lock's token in `lock_fences` in a transaction of its own and remembers it (`take`), and,
while a fence is active in the current context (`holding`, a ContextVar: the cycle's thread only, never the admin
API's threads of the same process), every transaction begun on that engine first takes the fence's transaction-level
advisory lock in shared mode, then reads the token, and raises LostLockError if it is not the holder's. The bump
takes the same lock exclusively, so it waits until every open transaction of the old holder has ended: no commit of
the old holder lands after the new holder has started, and once the bump is committed every later transaction of
the old holder fails before it writes. The keepalive of `service.lock` flags a fence `lost` as soon as it sees the
lock's session gone, and the next transaction fails without asking.

Why a shared advisory lock rather than the token row `FOR SHARE`: locking a row gives a read-only transaction a
transaction id and a WAL flush at commit (2-4 ms each on the test machine); the advisory lock is one round trip.
The token is read in a statement of its own after the lock is granted, so under READ COMMITTED (the engine's
isolation) it sees a bump committed while it waited.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.dialects.postgresql import insert

from storage import repo
from storage import tables as t
from storage.locks import lock_key
from sync.errors import LostLockError

FENCES = repo.table(t.LockFence)
BUMP_WAIT = "60s"  # a new holder waits this long at most for the old holder's open transaction to end

_ACTIVE: ContextVar[Fence | None] = ContextVar("kpi_sync_fence", default=None)


@dataclass
class Fence:
    """A lock holder's token; `lost` is set once the holder knows the lock is gone."""

    engine: Engine
    name: str
    token: int
    lost: threading.Event = field(default_factory=threading.Event)

    @property
    def key(self) -> int:
        """The key of the transaction-level advisory lock that orders the bump and the holder's transactions."""
        return fence_key(self.name)


def fence_key(name: str) -> int:
    """The fence's advisory-lock key: not the session lock's own key, which its holder keeps."""
    return lock_key(f"fence:{name}")


def take(engine: Engine, name: str) -> Fence:
    """Bump lock `name`'s token in a transaction of its own (PostgreSQL); the new holder's fence. Call it right
    after taking the lock, before anything else of the cycle runs."""
    if not event.contains(engine, "begin", _check):
        event.listen(engine, "begin", _check)
    with unfenced(), engine.begin() as conn:
        conn.execute(text(f"SET LOCAL lock_timeout = '{BUMP_WAIT}'"))
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": fence_key(name)})
        stmt = insert(FENCES).values(name=name, token=1)
        stmt = stmt.on_conflict_do_update(index_elements=["name"], set_={"token": FENCES.c.token + 1})
        token = int(conn.execute(stmt.returning(FENCES.c.token)).scalar_one())
    return Fence(engine, name, token)


def holding(fence: Fence) -> AbstractContextManager[None]:
    """Fence every transaction this context begins on the fence's engine."""
    return _active(fence)


def unfenced() -> AbstractContextManager[None]:
    """Transactions begun here are not fenced: recording how a run ended must succeed even when the lock is lost."""
    return _active(None)


@contextmanager
def _active(fence: Fence | None) -> Iterator[None]:
    reset = _ACTIVE.set(fence)
    try:
        yield
    finally:
        _ACTIVE.reset(reset)


def prove(engine: Engine) -> None:
    """Raise LostLockError unless the fence active here (if any) still holds: one empty fenced transaction, so a
    cycle whose last writes went to HubSpot, not the store, still learns of a lost lock before it records ok."""
    if _ACTIVE.get() is not None:
        with engine.begin():
            pass


def lost() -> bool:
    """Whether the fence active in this context is known to be lost."""
    fence = _ACTIVE.get()
    return fence is not None and fence.lost.is_set()


def _check(conn: Connection) -> None:
    fence = _ACTIVE.get()
    if fence is None or conn.engine.url != fence.engine.url:
        return
    if not fence.lost.is_set():
        conn.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": fence.key})
        if conn.execute(select(FENCES.c.token).where(FENCES.c.name == fence.name)).scalar() == fence.token:
            return
        fence.lost.set()
    raise LostLockError
