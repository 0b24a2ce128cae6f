"""KPI input rows read from the store: calls and emails with their live contacts, deals with theirs, connected
calls by contact, owners and decision makers. Plain rows for `kpi/`; nothing here counts or stores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import orjson
from sqlalchemy import BigInteger, Connection, Select, String, any_, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import ARRAY

from kpi.config import KpiConfig
from kpi.contact import is_decision_maker
from kpi.facts import DealFact, call_fact, deal_fact
from kpi.rows import Contact, Deal, Engagement, Owner, Stage, stage_map
from storage import repo
from storage import tables as t

CONTACTS = repo.table(t.Contact)
ENGAGEMENTS = repo.table(t.Engagement)
ENGAGEMENT_LINKS = repo.table(t.EngagementContact)
DEALS = repo.table(t.Deal)
DEAL_LINKS = repo.table(t.DealContact)


# `urls` comes back as the driver gives it (no SQLAlchemy JSON processing, which cost more than everything else
# here on a million rows): text on SQLite, already decoded on PostgreSQL; `_urls` takes either.
ENGAGEMENT_COLS = (
    ENGAGEMENTS.c.id,
    ENGAGEMENTS.c.type,
    ENGAGEMENTS.c.timestamp,
    ENGAGEMENTS.c.owner_id,
    ENGAGEMENTS.c.call_direction,
    ENGAGEMENTS.c.call_disposition,
    ENGAGEMENTS.c.email_direction,
    type_coerce(ENGAGEMENTS.c.urls, String),
    ENGAGEMENTS.c.meeting_outcome,
)


LINKED = (ENGAGEMENTS.c.type == ENGAGEMENT_LINKS.c.engagement_type) & (
    ENGAGEMENTS.c.id == ENGAGEMENT_LINKS.c.engagement_id
)  # a link's engagement


def linked_engagements() -> Select[Any]:
    """Each link's contact id with its engagement's `ENGAGEMENT_COLS`, archived engagements left out (the caller
    picks the contacts)."""
    return (
        select(ENGAGEMENT_LINKS.c.contact_id, *ENGAGEMENT_COLS)
        .join(ENGAGEMENTS, LINKED)
        .where(ENGAGEMENTS.c.archived.is_(False))
    )


def _urls(raw: Any) -> tuple[str, ...]:
    if raw is None or raw == "null":
        return ()
    value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return tuple(value) if isinstance(value, list) else ()


def engagement_of(row: Sequence[Any], contact_ids: tuple[int, ...]) -> Engagement:
    """An `Engagement` from a row of `ENGAGEMENT_COLS`."""
    eid, kind, ts, owner, direction, disposition, email_direction, urls, outcome = row
    return Engagement(
        eid,
        kind,
        ts,
        owner,
        contact_ids,
        direction,
        disposition,
        email_direction,
        () if urls is None else _urls(urls),
        outcome,
    )


def touch_engagements(conn: Connection, live: set[int]) -> Iterator[Engagement]:
    """Calls and emails with their live contacts: the facts of K1 and K4.

    Walks engagement_contacts in primary-key order (engagement type, id) joined to engagements by their primary
    key, so both dialects stream it without a sort; archived contacts are filtered against an id set.
    """
    stmt = (
        select(*ENGAGEMENT_COLS, ENGAGEMENT_LINKS.c.contact_id)
        .select_from(ENGAGEMENT_LINKS.join(ENGAGEMENTS, LINKED))
        .where(ENGAGEMENT_LINKS.c.engagement_type.in_(("call", "email")), ENGAGEMENTS.c.archived.is_(False))
        .order_by(ENGAGEMENT_LINKS.c.engagement_type, ENGAGEMENT_LINKS.c.engagement_id)
    )
    current: tuple[Any, ...] | None = None
    contacts: list[int] = []
    for row in conn.execute(stmt.execution_options(yield_per=10_000)):
        key = tuple(row[:-1])
        if current is not None and key[:2] != current[:2]:
            if contacts:
                yield engagement_of(current, tuple(contacts))
            contacts = []
        current = key
        if row[-1] in live:
            contacts.append(row[-1])
    if current is not None and contacts:
        yield engagement_of(current, tuple(contacts))


Grouped = dict[tuple[str, int], tuple[Sequence[Any], list[int]]]  # (type, id) -> (ENGAGEMENT_COLS, contacts)


def group_touch_rows(conn: Connection, cond: Any, grouped: Grouped) -> None:
    """Add the non-archived calls and emails matching `cond` to `grouped`, with all their linked contacts."""
    stmt = (
        select(*ENGAGEMENT_COLS, ENGAGEMENT_LINKS.c.contact_id)
        .select_from(ENGAGEMENTS.join(ENGAGEMENT_LINKS, LINKED))
        .where(ENGAGEMENTS.c.type.in_(("call", "email")), ENGAGEMENTS.c.archived.is_(False), cond)
    )
    for row in conn.execute(stmt):
        entry = grouped.get((row[1], row[0]))
        if entry is None:
            entry = grouped[(row[1], row[0])] = (tuple(row[:-1]), [])
        entry[1].append(row[-1])


def with_live_contacts(conn: Connection, config: KpiConfig, grouped: Grouped) -> tuple[list[Engagement], set[int]]:
    """The grouped engagements with only their live contacts, and which of those are decision makers."""
    contact_ids = sorted({c for _, contacts in grouped.values() for c in contacts})
    live: set[int] = set()
    dms: set[int] = set()
    for part in repo.chunks(contact_ids):
        rows = conn.execute(
            select(CONTACTS.c.id, CONTACTS.c.buying_role).where(CONTACTS.c.id.in_(part), CONTACTS.c.archived.is_(False))
        )
        for contact_id, role in rows:
            live.add(contact_id)
            if is_decision_maker_row(contact_id, role, config):
                dms.add(contact_id)
    engagements = []
    for cols, contacts in grouped.values():
        kept = tuple(sorted(c for c in contacts if c in live))
        if kept:
            engagements.append(engagement_of(cols, kept))
    return engagements, dms


def is_decision_maker_row(contact_id: int, buying_role: str | None, config: KpiConfig) -> bool:
    contact = Contact(contact_id, None, None, None, None, None, None, None, buying_role)
    return bool(buying_role) and is_decision_maker(contact, config)


def live_contacts(conn: Connection) -> set[int]:
    return set(conn.execute(select(CONTACTS.c.id).where(CONTACTS.c.archived.is_(False))).scalars())


def decision_makers(conn: Connection, config: KpiConfig) -> set[int]:
    """Live contacts that are decision makers (D6), as the contact pass judges them."""
    rows = conn.execute(
        select(CONTACTS.c.id, CONTACTS.c.buying_role).where(
            CONTACTS.c.archived.is_(False), CONTACTS.c.buying_role.is_not(None)
        )
    )
    return {r.id for r in rows if is_decision_maker_row(r.id, r.buying_role, config)}


def credit_deals(
    conn: Connection, deal_ids: Sequence[int] | None, is_live: Callable[[int], bool] | None
) -> list[DealFact]:
    """Live deals (all, or those of `deal_ids`) with createdate and live contacts, as `DealFact`s.

    `is_live` tells live contacts; None: ask the store about the deals' contacts.
    """
    links: dict[int, list[int]] = defaultdict(list)
    deals: list[tuple[int, int | None]] = []
    parts = [None] if deal_ids is None else list(repo.chunks(deal_ids))
    for part in parts:
        link_stmt = select(DEAL_LINKS.c.deal_id, DEAL_LINKS.c.contact_id)
        deal_stmt = select(DEALS.c.id, DEALS.c.createdate).where(
            DEALS.c.archived.is_(False), DEALS.c.createdate.is_not(None)
        )
        if part is not None:
            link_stmt = link_stmt.where(DEAL_LINKS.c.deal_id.in_(part))
            deal_stmt = deal_stmt.where(DEALS.c.id.in_(part))
        for deal_id, contact_id in conn.execute(link_stmt):
            links[deal_id].append(contact_id)
        deals.extend((r[0], r[1]) for r in conn.execute(deal_stmt))
    if is_live is None:
        is_live = live_among(conn, {c for ids in links.values() for c in ids}).__contains__
    return [
        DealFact(i, None, created, None, None, tuple(sorted(c for c in links.get(i, ()) if is_live(c))))
        for i, created in deals
    ]


def live_among(conn: Connection, contact_ids: set[int]) -> set[int]:
    live: set[int] = set()
    for part in repo.chunks(sorted(contact_ids)):
        live.update(
            conn.execute(select(CONTACTS.c.id).where(CONTACTS.c.id.in_(part), CONTACTS.c.archived.is_(False))).scalars()
        )
    return live


def connected_calls(conn: Connection, config: KpiConfig, contact_ids: set[int]) -> dict[int, list[tuple[int, str]]]:
    """Each contact's connected sales calls as (time, owner)."""
    found: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for contact_id, engagements in engagements_of_contacts(conn, contact_ids, ("call",)).items():
        for engagement in engagements:
            fact = call_fact(engagement, config)
            if fact is not None and fact.connected:
                found[contact_id].append((fact.timestamp, fact.owner_id))
    return found


def engagements_of_contacts(
    conn: Connection, contact_ids: Iterable[int], types: Sequence[str] | None = None
) -> dict[int, list[Engagement]]:
    """The non-archived engagements (of these types, or all) linked to each of these contacts.

    SQLite joins the links from the contact index to the engagements by key. PostgreSQL's planner, given that
    join, hashes the whole engagements table for a few hundred contacts (a sequential scan that grows with the
    portal) unless told that random reads are cheap, so there the links are read first and the engagements looked
    up by primary key after (on SQLite the two steps take 1.5 times as long as the join).
    """
    found: dict[int, list[Engagement]] = defaultdict(list)
    ids = sorted(set(contact_ids))
    if conn.dialect.name == "sqlite":
        for part in repo.chunks(ids):
            stmt = linked_engagements().where(ENGAGEMENT_LINKS.c.contact_id.in_(part))
            if types is not None:
                # `type || ''`: an expression is no index key, so SQLite starts from the contacts' links (given
                # the bare equality it walks every engagement of the type, a thousand times slower on a large
                # portal)
                stmt = stmt.where(ENGAGEMENT_LINKS.c.engagement_type.concat("").in_(types))
            for row in conn.execute(stmt):
                found[row[0]].append(engagement_of(row[1:], (row[0],)))
        return found
    links: dict[tuple[str, int], list[int]] = defaultdict(list)
    for part in repo.chunks(ids):
        link_stmt = select(
            ENGAGEMENT_LINKS.c.engagement_type, ENGAGEMENT_LINKS.c.engagement_id, ENGAGEMENT_LINKS.c.contact_id
        ).where(ENGAGEMENT_LINKS.c.contact_id.in_(part))
        if types is not None:
            link_stmt = link_stmt.where(ENGAGEMENT_LINKS.c.engagement_type.in_(types))
        for kind, eid, contact_id in conn.execute(link_stmt):
            links[(kind, eid)].append(contact_id)
    by_type: dict[str, list[int]] = defaultdict(list)
    for kind, eid in sorted(links):
        by_type[kind].append(eid)
    for kind, eids in by_type.items():
        for part in repo.chunks(eids, 10_000):  # one array parameter: half the time of as many IN parameters
            in_part = ENGAGEMENTS.c.id == any_(literal(list(part), ARRAY(BigInteger)))
            stmt = select(*ENGAGEMENT_COLS).where(
                ENGAGEMENTS.c.type == kind, in_part, ENGAGEMENTS.c.archived.is_(False)
            )
            for row in conn.execute(stmt):
                for contact_id in links[(kind, row[0])]:
                    found[contact_id].append(engagement_of(row, (contact_id,)))
    return found


def deal_facts(conn: Connection, deal_ids: Sequence[int] | None = None) -> list[DealFact]:
    """Live deals (all, or those of `deal_ids`) with their outcome (the deal side of K5; contacts are not needed)."""
    stages = stage_map(
        [
            Stage(r.pipeline_id, r.stage_id, r.is_closed, r.probability)
            for r in conn.execute(select(repo.table(t.DealStage)))
        ]
    )
    stmt = select(
        DEALS.c.id,
        DEALS.c.owner_id,
        DEALS.c.createdate,
        DEALS.c.closedate,
        DEALS.c.pipeline,
        DEALS.c.dealstage,
        DEALS.c.is_closed_won,
        DEALS.c.is_closed,
    ).where(DEALS.c.archived.is_(False))
    facts = []
    for part in [None] if deal_ids is None else list(repo.chunks(deal_ids)):
        for r in conn.execute(stmt if part is None else stmt.where(DEALS.c.id.in_(part))):
            fact = deal_fact(Deal(*r, contact_ids=()), stages)
            if fact is not None:
                facts.append(fact)
    return facts


def stage_signature(conn: Connection) -> str:
    """The pipeline stages' metadata as one string: a changed stage can win or lose deals (see `deal_outcome`)."""
    rows = conn.execute(select(repo.table(t.DealStage)).order_by(*repo.table(t.DealStage).primary_key.columns))
    return "|".join(f"{r.pipeline_id}:{r.stage_id}:{r.is_closed}:{r.probability}" for r in rows)


def load_owners(conn: Connection) -> list[Owner]:
    """Owners as the KPI rules see them (name from first/last name, else e-mail, else id)."""
    out = []
    for r in conn.execute(select(repo.table(t.Owner))).mappings():
        name = " ".join(p for p in (r["first_name"], r["last_name"]) if p) or r["email"] or r["id"]
        out.append(
            Owner(
                r["id"], name, r["email"], tuple(r["team_ids"] or ()), tuple(r["team_names"] or ()), bool(r["archived"])
            )
        )
    return out
