"""Factories for KPI engine rows: small records with the defaults a test does not care about."""

from __future__ import annotations

import itertools

from kpi.config import CONNECTED_DISPOSITION
from kpi.rows import Contact, Deal, Engagement, Owner

MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000
BASE = 1_791_194_400_000  # 2026-10-05T10:00:00Z
OCT_2026 = 1_790_812_800_000  # 2026-10-01T00:00:00Z
CONNECTED = CONNECTED_DISPOSITION

_ids = itertools.count(1000)


def make_owner(oid: str = "o1", name: str = "Anna", teams: tuple[str, ...] = ("t1",)) -> Owner:
    """An owner whose team names are the team ids upper-cased."""
    return Owner(oid, name, f"{name.lower()}@example.com", teams, tuple(t.upper() for t in teams), False)


def make_contact(
    cid: int = 1,
    *,
    owner_id: str | None = "o1",
    createdate: int | None = BASE,
    lifecyclestage: str | None = None,
    lead_date: int | None = None,
    sql_date: int | None = None,
    opportunity_date: int | None = None,
    customer_date: int | None = None,
    buying_role: str | None = None,
    archived: bool = False,
) -> Contact:
    """A contact; not a lead unless a lead date or lead lifecycle stage is given."""
    return Contact(
        cid,
        owner_id,
        createdate,
        lifecyclestage,
        lead_date,
        sql_date,
        opportunity_date,
        customer_date,
        buying_role,
        archived,
    )


def make_lead(cid: int = 1, t0: int = BASE, **kwargs: object) -> Contact:
    """A lead whose T0 is its lead date."""
    return make_contact(cid, lead_date=t0, **kwargs)  # type: ignore[arg-type]


def make_call(
    ts: int | None = BASE,
    *,
    contacts: tuple[int, ...] = (1,),
    owner_id: str | None = "o1",
    direction: str | None = "OUTBOUND",
    disposition: str | None = None,
    archived: bool = False,
    eid: int | None = None,
) -> Engagement:
    """A call; connected when disposition is CONNECTED."""
    return Engagement(
        next(_ids) if eid is None else eid,
        "call",
        ts,
        owner_id,
        contacts,
        call_direction=direction,
        call_disposition=disposition,
        archived=archived,
    )


def make_email(
    ts: int | None = BASE,
    *,
    contacts: tuple[int, ...] = (1,),
    owner_id: str | None = "o1",
    direction: str | None = "EMAIL",
    urls: tuple[str, ...] = (),
    archived: bool = False,
) -> Engagement:
    """An email; a sales email when direction is EMAIL."""
    return Engagement(
        next(_ids), "email", ts, owner_id, contacts, email_direction=direction, urls=urls, archived=archived
    )


def make_meeting(
    ts: int | None = BASE, *, contacts: tuple[int, ...] = (1,), owner_id: str | None = "o1", outcome: str | None = None
) -> Engagement:
    """A meeting with the given outcome."""
    return Engagement(next(_ids), "meeting", ts, owner_id, contacts, meeting_outcome=outcome)


def make_other(kind: str, ts: int | None = BASE, *, contacts: tuple[int, ...] = (1,)) -> Engagement:
    """A note or task (never a touch)."""
    return Engagement(next(_ids), kind, ts, "o1", contacts)


def make_deal(
    did: int = 1,
    *,
    owner_id: str | None = "o1",
    createdate: int | None = BASE,
    closedate: int | None = None,
    won: bool | None = None,
    closed: bool | None = None,
    pipeline: str | None = "default",
    stage: str | None = "open",
    contacts: tuple[int, ...] = (1,),
    archived: bool = False,
) -> Deal:
    """A deal; flags None unless given."""
    return Deal(did, owner_id, createdate, closedate, pipeline, stage, won, closed, contacts, archived)
