"""kpi-sync's own write-back as intervals of contact modification time, so the pull reads its echo once.

Every batch update moves its contacts' `lastmodifieddate` to when HubSpot applied it, somewhere between the first
batch sent and the last answer. The write-back records that interval, from CLOCK_SKEW_MS before its first batch left
to when its last answer is committed (on our clock; should HubSpot's run ahead of ours, an echo stamped after the
interval is read fresh once more, never lost), committed with the ledger rows. The interval ends no later than the
write-back does, so an edit made after a cycle has finished is read fresh by the next one. The pull skips
an interval while it is not settled and reads it once it is (`Cursor.next_window`), so kpi-sync's own writes cost
one search read, not one per run for an overlap. Someone else's edit of a contact inside such an interval is read
at most one overlap later, never lost.
"""

from __future__ import annotations

from sqlalchemy import Connection

from storage import repo
from sync import state_keys
from sync.cursor import Cursor, Span

CLOCK_SKEW_MS = 1_000


def load(conn: Connection) -> tuple[Span, ...]:
    """The intervals recorded and not yet pruned."""
    state = repo.get_state(conn, state_keys.OWN_WRITES) or {}
    return tuple((int(lo), int(hi)) for lo, hi in state.get("intervals") or ())


def record(conn: Connection, first_sent_ms: int, answered_ms: int) -> None:
    """This write-back's interval so far, from its first batch sent (less CLOCK_SKEW_MS) to its last answer, in the
    caller's transaction: an interval starting where it starts is replaced, and those wholly below the contacts cursor's
    settled mark (read settled already) are dropped."""
    settled = Cursor.from_row(repo.get_cursor(conn, "contacts")).settled or 0
    lo, hi = first_sent_ms - CLOCK_SKEW_MS, answered_ms
    kept = [[a, b] for a, b in load(conn) if a != lo and b > settled]
    repo.set_state(conn, state_keys.OWN_WRITES, {"intervals": [*kept, [lo, hi]]})
