"""Every write to the KPI engine's dirty queues: what the pull and the write-back mark for the next refresh.

The pull marks in the transaction that stores a page, so a change and its mark commit together; the refresh
(`sync.refresh`) reads and clears the queues.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from storage import tables as t
from storage.repo import chunks, insert_ignore, keys_in, table
from sync.refresh import inputs

MS_PER_DAY = 86_400_000

ENGAGEMENTS = table(t.Engagement)
ENGAGEMENT_LINKS = table(t.EngagementContact)
DEAL_LINKS = table(t.DealContact)

TouchMark = tuple[int | None, str | None]  # (timestamp, owner id) of a call or email


def mark_dirty_contacts(conn: Connection, contact_ids: Iterable[int], now_ms: int) -> int:
    """Queue contacts for KPI recomputation; returns how many were given."""
    rows = [{"contact_id": int(c), "marked_at": now_ms} for c in set(contact_ids)]
    insert_ignore(conn, table(t.DirtyContact), rows)
    return len(rows)


def mark_dirty_deals(conn: Connection, deal_ids: Iterable[int], now_ms: int) -> int:
    """Queue deals whose change feeds the aggregates."""
    rows = [{"deal_id": int(d), "marked_at": now_ms} for d in set(deal_ids)]
    insert_ignore(conn, table(t.DirtyDeal), rows)
    return len(rows)


def mark_dirty_touch_days(conn: Connection, marks: Iterable[TouchMark], now_ms: int) -> int:
    """Queue the UTC days and owners of changed calls and emails (those owners' K1 and K4 months are recounted;
    a call without a time or an owner counts nowhere); returns how many."""
    keys = {(ts // MS_PER_DAY, owner) for ts, owner in marks if ts is not None and owner}
    rows = [{"day": day, "owner_id": owner, "marked_at": now_ms} for day, owner in keys]
    for part in chunks(rows):
        insert_ignore(conn, table(t.DirtyTouchDay), part)
    return len(rows)


def touch_marks_of(conn: Connection, keys: Sequence[tuple[Any, ...]]) -> list[TouchMark]:
    """(timestamp, owner id) of the engagements with these (type, id) keys."""
    tbl = ENGAGEMENTS
    found: list[TouchMark] = []
    for part in chunks(keys):
        stmt = select(tbl.c.timestamp, tbl.c.owner_id).where(keys_in([tbl.c.type, tbl.c.id], part))
        found.extend((ts, owner) for ts, owner in conn.execute(stmt))
    return found


def mark_added_touches(conn: Connection, keys: Iterable[tuple[str, int]], now_ms: int) -> int:
    """Queue new calls and emails, by (type, id), to be added to their K1 or K4 cells; returns how many."""
    rows = [{"type": kind, "id": int(i), "marked_at": now_ms} for kind, i in set(keys)]
    insert_ignore(conn, table(t.AddedTouch), rows)
    return len(rows)


def mark_deals_of_contacts(conn: Connection, contact_ids: Sequence[int], now_ms: int) -> None:
    """Queue the deals of recomputed contacts: a change to a contact or to its calls may move a deal's credit."""
    deal_ids: set[int] = set()
    for part in chunks(contact_ids):
        deal_ids.update(conn.execute(select(DEAL_LINKS.c.deal_id).where(DEAL_LINKS.c.contact_id.in_(part))).scalars())
    mark_dirty_deals(conn, deal_ids, now_ms)


def mark_touch_days_of_contacts(conn: Connection, contact_ids: Sequence[int], now_ms: int) -> None:
    """Queue the days and owners of the calls and emails linked to these contacts."""
    touched: set[TouchMark] = set()
    for part in chunks(contact_ids):
        stmt = (
            select(ENGAGEMENTS.c.timestamp, ENGAGEMENTS.c.owner_id)
            .join(ENGAGEMENT_LINKS, inputs.LINKED)
            .where(
                ENGAGEMENT_LINKS.c.contact_id.in_(part),
                ENGAGEMENT_LINKS.c.engagement_type.in_(("call", "email")),
            )
        )
        touched.update((ts, owner) for ts, owner in conn.execute(stmt))
    mark_dirty_touch_days(conn, touched, now_ms)
