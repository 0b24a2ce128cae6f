"""KPI recomputation over the store: per-contact values for the contacts the pull marked (plus those whose
time-dependent values moved with the clock), then the aggregates those contacts and deals feed.

The pure rules live in `kpi/`; this module only loads plain rows, calls them, and stores the results. A full
recompute (`kpis --recompute`) runs the same code over every contact and must give the very same rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, String, delete, select, type_coerce

from kpi.aggregate import aggregate_all
from kpi.config import KpiConfig
from kpi.contact import ContactKpis, FollowupStatus, compute_contact, properties_of
from kpi.facts import deal_fact, engagement_facts
from kpi.marketing import top_assets
from kpi.rows import Contact, Deal, Engagement, Owner, Stage, stage_map
from storage import repo
from storage import tables as t
from sync.config import Settings

CHUNK = 2_000  # contacts recomputed per transaction

C = repo.table(t.Contact)
E = repo.table(t.Engagement)
EC = repo.table(t.EngagementContact)
D = repo.table(t.Deal)
DC = repo.table(t.DealContact)
K = repo.table(t.ContactKpi)
A = repo.table(t.KpiAggregate)


def kpi_config(settings: Settings) -> KpiConfig:
    """The KPI rules' configuration from the service settings (validated on construction)."""
    return KpiConfig(
        connected_dispositions=frozenset(settings.kpi_connected_dispositions),
        decision_maker_roles=frozenset(settings.kpi_decision_maker_roles),
        content_path_pattern=settings.kpi_content_path_pattern,
        timezone=settings.kpi_timezone,
        stale_after_days=settings.kpi_stale_after_days,
        min_attempts=settings.kpi_min_attempts,
    )


@dataclass
class RecomputeStats:
    """What a recompute did."""

    contacts: int = 0
    changed: int = 0
    due_to_time: int = 0
    skipped_engagements: int = 0
    aggregates: int = 0

    def as_dict(self) -> dict[str, int]:
        """Plain form for the run summary."""
        return dict(self.__dict__)


def refresh(engine: Engine, config: KpiConfig, now_ms: int, *, full: bool = False) -> RecomputeStats:
    """Recompute the contacts that need it, then the aggregates, if anything they read changed."""
    stats = RecomputeStats()
    with engine.connect() as conn:
        ids, due = _contacts_to_recompute(conn, now_ms, full)
        dirty_deals = conn.execute(select(repo.table(t.DirtyDeal).c.deal_id).limit(1)).first() is not None
        owners_changed = _owners_changed(conn)
    stats.due_to_time = len(due)
    for chunk in _chunks(sorted(ids), CHUNK):
        with engine.begin() as conn:
            _recompute_chunk(conn, chunk, config, now_ms, stats)
    if full or stats.changed or dirty_deals or owners_changed:
        with engine.begin() as conn:
            stats.aggregates = _refresh_aggregates(conn, config, now_ms)
            conn.execute(delete(repo.table(t.DirtyDeal)))
    return stats


def _contacts_to_recompute(conn: Connection, now_ms: int, full: bool) -> tuple[set[int], set[int]]:
    if full:
        every = set(conn.execute(select(C.c.id).where(C.c.archived.is_(False))).scalars())
        return every | set(conn.execute(select(K.c.contact_id)).scalars()), set()
    dirty = set(conn.execute(select(repo.table(t.DirtyContact).c.contact_id)).scalars())
    due = set(conn.execute(select(K.c.contact_id).where(K.c.recheck_at <= now_ms)).scalars())
    return dirty | due, due - dirty


def _owners_changed(conn: Connection) -> bool:
    """Owner or team changes move aggregates between scopes: compare with what the last refresh used."""
    current = _owner_signature(conn)
    seen = (repo.get_state(conn, "aggregate_owners") or {}).get("signature")
    return current != seen


def _owner_signature(conn: Connection) -> str:
    rows = conn.execute(select(repo.table(t.Owner)).order_by(repo.table(t.Owner).c.id)).mappings()
    return "|".join(f"{r['id']}:{','.join(r['team_ids'] or [])}:{r['archived']}" for r in rows)


def _chunks(items: Sequence[int], size: int) -> Iterator[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _recompute_chunk(
    conn: Connection, ids: Sequence[int], config: KpiConfig, now_ms: int, stats: RecomputeStats
) -> None:
    contacts = {r.id: r for r in _load_contacts(conn, ids)}
    engagements = _load_engagements(conn, ids)
    previous = {
        r.contact_id: r.properties
        for r in conn.execute(select(K.c.contact_id, K.c.properties).where(K.c.contact_id.in_(ids)))
    }
    rows = []
    for contact_id in ids:
        contact = contacts.get(contact_id)
        kpis = compute_contact(contact, engagements.get(contact_id, ()), config, now_ms) if contact else None
        props = properties_of(kpis)
        old = previous.get(contact_id)
        if kpis is None and old is None:
            continue  # never qualified, nothing written: nothing to keep or clear
        if kpis is not None:
            stats.skipped_engagements += kpis.skipped_engagements
        pending = old != props
        stats.changed += int(pending)
        rows.append(
            {
                "contact_id": contact_id,
                "properties": props,
                "facts": _facts_json(kpis),
                "recheck_at": kpis.next_change_at if kpis else None,
                "computed_at": now_ms,
                "push_pending": pending,
            }
        )
    stats.contacts += len(ids)
    _upsert_keep_pending(conn, rows)
    conn.execute(delete(repo.table(t.DirtyContact)).where(repo.table(t.DirtyContact).c.contact_id.in_(ids)))


def _upsert_keep_pending(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Upsert KPI rows; a row still waiting to be written stays pending even if this pass found no change."""
    if not rows:
        return
    waiting = set(
        conn.execute(
            select(K.c.contact_id).where(
                K.c.contact_id.in_([r["contact_id"] for r in rows]), K.c.push_pending.is_(True)
            )
        ).scalars()
    )
    for row in rows:
        row["push_pending"] = row["push_pending"] or row["contact_id"] in waiting
    repo.upsert(conn, K, rows)


def _facts_json(kpis: ContactKpis | None) -> list[Any] | None:
    if kpis is None:
        return None
    return [v.value if isinstance(v, FollowupStatus) else v for v in kpis]


def _facts_from_json(values: list[Any]) -> ContactKpis:
    fields = list(values)
    index = ContactKpis._fields.index("followup_status")
    fields[index] = FollowupStatus(fields[index])
    return ContactKpis(*fields)


def _load_contacts(conn: Connection, ids: Sequence[int]) -> list[Contact]:
    rows = conn.execute(
        select(
            C.c.id,
            C.c.owner_id,
            C.c.createdate,
            C.c.lifecyclestage,
            C.c.lead_date,
            C.c.sql_date,
            C.c.opportunity_date,
            C.c.customer_date,
            C.c.buying_role,
            C.c.archived,
        ).where(C.c.id.in_(ids))
    )
    return [Contact(**r._mapping) for r in rows]


# `urls` comes back as the driver gives it (no SQLAlchemy JSON processing, which cost more than everything else
# here on a million rows): text on SQLite, already decoded on PostgreSQL; `_urls` takes either.
_ENGAGEMENT_COLS = (
    E.c.id,
    E.c.type,
    E.c.timestamp,
    E.c.owner_id,
    E.c.call_direction,
    E.c.call_disposition,
    E.c.email_direction,
    type_coerce(E.c.urls, String),
    E.c.meeting_outcome,
)


def _urls(raw: Any) -> tuple[str, ...]:
    if raw is None or raw == "null":
        return ()
    value = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
    return tuple(value) if isinstance(value, list) else ()


def _engagement(row: Sequence[Any], contact_ids: tuple[int, ...]) -> Engagement:
    eid, kind, ts, owner, direction, disposition, email_direction, urls, outcome = row
    return Engagement(
        eid, kind, ts, owner, contact_ids, direction, disposition, email_direction, _urls(urls), outcome
    )


def _load_engagements(conn: Connection, ids: Sequence[int]) -> dict[int, list[Engagement]]:
    """Non-archived engagements linked to each of the given contacts."""
    stmt = (
        select(EC.c.contact_id, *_ENGAGEMENT_COLS)
        .join(E, (E.c.type == EC.c.engagement_type) & (E.c.id == EC.c.engagement_id))
        .where(EC.c.contact_id.in_(ids), E.c.archived.is_(False))
    )
    found: dict[int, list[Engagement]] = defaultdict(list)
    for row in conn.execute(stmt):
        found[row[0]].append(_engagement(row[1:], (row[0],)))
    return found


# -- aggregates ----------------------------------------------------------------------------------------------------
def _refresh_aggregates(conn: Connection, config: KpiConfig, now_ms: int) -> int:
    owners = load_owners(conn)
    # JSON null and SQL NULL both mean "does not qualify": filter in Python, which sees both as None.
    contacts = [_facts_from_json(f) for f in conn.execute(select(K.c.facts)).scalars() if f]
    calls, emails = engagement_facts(_touch_engagements(conn), config)
    deals = _deal_facts(conn)
    results = aggregate_all(contacts, calls, emails, deals, owners, config=config)
    repo.set_state(conn, "top_assets", {"assets": top_assets(emails, config.calendar)})
    conn.execute(delete(A))
    rows = [
        {"kpi": k[0], "scope": k[1], "scope_id": k[2], "period": k[3], "metrics": dict(v), "computed_at": now_ms}
        for k, v in results.items()
    ]
    repo.upsert(conn, A, rows)
    repo.set_state(conn, "aggregate_owners", {"signature": _owner_signature(conn)})
    return len(rows)


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


def _touch_engagements(conn: Connection) -> Iterable[Engagement]:
    """Calls and emails with their non-archived contacts (the facts of K1 and K4).

    Walks engagement_contacts in primary-key order (engagement type, id) joined to engagements by their primary
    key, so both dialects stream it without a sort; archived contacts are filtered against an id set.
    """
    live = set(conn.execute(select(C.c.id).where(C.c.archived.is_(False))).scalars())
    stmt = (
        select(*_ENGAGEMENT_COLS, EC.c.contact_id)
        .select_from(EC.join(E, (E.c.type == EC.c.engagement_type) & (E.c.id == EC.c.engagement_id)))
        .where(EC.c.engagement_type.in_(("call", "email")), E.c.archived.is_(False))
        .order_by(EC.c.engagement_type, EC.c.engagement_id)
    )
    current: tuple[Any, ...] | None = None
    contacts: list[int] = []
    for row in conn.execute(stmt.execution_options(yield_per=10_000)):
        key = tuple(row[:-1])
        if current is not None and key[:2] != current[:2]:
            if contacts:
                yield _engagement(current, tuple(contacts))
            contacts = []
        current = key
        if row[-1] in live:
            contacts.append(row[-1])
    if current is not None and contacts:
        yield _engagement(current, tuple(contacts))


def _deal_facts(conn: Connection) -> list[Any]:
    stages = stage_map(
        [
            Stage(r.pipeline_id, r.stage_id, r.is_closed, r.probability)
            for r in conn.execute(select(repo.table(t.DealStage)))
        ]
    )
    links: dict[int, list[int]] = defaultdict(list)
    live = set(conn.execute(select(C.c.id).where(C.c.archived.is_(False))).scalars())
    for deal_id, contact_id in conn.execute(select(DC.c.deal_id, DC.c.contact_id)):
        if contact_id in live:
            links[deal_id].append(contact_id)
    facts = []
    for r in conn.execute(
        select(
            D.c.id,
            D.c.owner_id,
            D.c.createdate,
            D.c.closedate,
            D.c.pipeline,
            D.c.dealstage,
            D.c.is_closed_won,
            D.c.is_closed,
        ).where(D.c.archived.is_(False))
    ):
        fact = deal_fact(Deal(*r, contact_ids=tuple(sorted(links.get(r[0], ())))), stages)
        if fact is not None:
            facts.append(fact)
    return facts
