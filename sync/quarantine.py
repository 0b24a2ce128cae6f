"""Records held in quarantine: those that held a value no store can hold (NUL, lone surrogates, invalid UTF-8,
nesting too deep; see `sync.hubspot.records` and `sync.hubspot.decode`).

Such a record never blocks its page: it is stored without the value (or, when it could not be read at all, not
stored), counted by object type (`pull.quarantined`), logged once per page by id and field (never the value), and its
id held in the store (`state_keys.QUARANTINE`, committed with its page) so the next incremental pass of its type reads
it again: a value HubSpot sent once garbled, or one fixed without a new modification time, then reaches the store.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import structlog
from sqlalchemy import Connection

from storage import repo
from sync import state_keys
from sync.hubspot.decode import Unreadable
from sync.hubspot.records import ParseStats, Quarantined, valid_id

log = structlog.get_logger(__name__)

QUARANTINE_HELD = 10_000  # ids held per object type; beyond, the oldest are let go (a reconcile reads every record)
LOGGED_PER_PAGE = 20  # records named in one page's log line; the count says how many there were


class Quarantine:
    """The held ids of one pull, by object type, and the counting and logging of each page's quarantine."""

    def __init__(self, stats: ParseStats) -> None:
        self.stats = stats
        self.held: dict[str, list[int]] = {}
        self._changed = False  # held ids changed since the last save

    def load(self, conn: Connection) -> None:
        """Read the ids held by earlier cycles."""
        raw = repo.get_state(conn, state_keys.QUARANTINE) or {}
        self.held = {
            str(kind): [n for i in ids if (n := valid_id(i)) is not None][-QUARANTINE_HELD:]
            for kind, ids in raw.items()
            if isinstance(ids, list)
        }

    def save(self, conn: Connection) -> None:
        """Store the held ids if they changed (in the transaction of the page that changed them)."""
        if not self._changed:
            return
        self._changed = False
        repo.set_state(conn, state_keys.QUARANTINE, {k: ids for k, ids in self.held.items() if ids})

    def ids(self, object_type: str) -> list[int]:
        """The ids of this type held for another read."""
        return list(self.held.get(object_type, []))

    def page(
        self,
        object_type: str,
        quarantined: Sequence[Quarantined],
        unreadable: Sequence[Unreadable] = (),
        stored: Iterable[int] = (),
    ) -> None:
        """Count and log one page's quarantine; ids stored clean are released, quarantined ones held."""
        entries = [*quarantined, *(Quarantined(valid_id(u.record_id), u.field, u.reason) for u in unreadable)]
        self.stats.quarantined[object_type] += len(unreadable)  # the others were counted when parsed
        self.stats.skipped_records += len(unreadable)
        bad = {e.record_id for e in entries if isinstance(e.record_id, int)}
        held = self.held.get(object_type, [])
        released = set(stored) - bad
        if bad or not released.isdisjoint(held):
            kept = [i for i in held if i not in released and i not in bad]
            self.held[object_type] = [*kept, *sorted(bad)][-QUARANTINE_HELD:]
            self._changed = True
        if entries:
            log.warning(
                "records_quarantined",
                object_type=object_type,
                count=len(entries),
                records=[e.to_log() for e in entries[:LOGGED_PER_PAGE]],
            )
