"""KPI recomputation over the store: per-contact values for the contacts the pull marked (plus those whose
time-dependent values moved with the clock), then the aggregates those contacts and deals feed.

The pure rules live in `kpi/`; this module only loads plain rows, calls them, and stores the results. A full
recompute (`kpis --recompute`) runs the same code over every contact and must give the very same rows.
"""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Connection, Engine, delete, literal_column, select

from kpi.config import KpiConfig
from kpi.contact import ContactKpis, FollowupStatus, compute_contact, properties_of
from kpi.rows import Contact, Engagement
from storage import repo
from storage import tables as t
from sync import aggregates
from sync.aggregates import ENGAGEMENT_COLS, engagement_of
from sync.config import Settings

log = structlog.get_logger(__name__)

CHUNK = 2_000  # contacts recomputed per transaction
# A full recompute of this many contacts counts calls and emails in a second process (spawned: about a second to
# start, worth it from tens of seconds of work; it uses the machine's second core).
PARALLEL_FROM = 20_000

C = repo.table(t.Contact)
E = repo.table(t.Engagement)
EC = repo.table(t.EngagementContact)
K = repo.table(t.ContactKpi)


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


def refresh(
    engine: Engine, config: KpiConfig, now_ms: int, *, full: bool = False, parallel_from: int = PARALLEL_FROM
) -> RecomputeStats:
    """Recompute the contacts that need it, then the aggregates, if anything they read changed.

    Everything is recomputed when asked (`full`) or when the stored cells were counted with another KPI
    configuration (the facts depend on it too). A full run first marks the cells unusable, so a run killed
    half-way is followed by another full one. From `parallel_from` contacts on, a full run counts the call and
    email cells in a second process while this one recomputes the contacts.
    """
    stats = RecomputeStats()
    with engine.begin() as conn:
        full = full or not aggregates.cells_usable(conn, config)
        if full:
            aggregates.invalidate(conn)
        ids, due = _contacts_to_recompute(conn, now_ms, full)
    stats.due_to_time = len(due)
    touch: aggregates.TouchCells | None = None
    counted: aggregates.Cells | None = None
    if full:
        counted = aggregates.new_contact_cells()
        with _touch_counter(engine, config, parallel=len(ids) >= parallel_from) as counting:
            _recompute_all(engine, sorted(ids), config, now_ms, stats, counted=counted)
            touch = _result_or_none(counting)
    else:
        for chunk in _chunks(sorted(ids), CHUNK):
            with engine.begin() as conn:
                _recompute_chunk(conn, chunk, config, now_ms, stats, full=False)
    with engine.begin() as conn:
        if full or _owners_changed(conn) or aggregates.needs_merge(conn):
            stats.aggregates = aggregates.refresh_aggregates(
                conn, config, now_ms, full=full, touch=touch, contact_cells=counted
            )
            repo.set_state(conn, "aggregate_owners", {"signature": _owner_signature(conn)})
    return stats


def _recompute_all(
    engine: Engine,
    ids: Sequence[int],
    config: KpiConfig,
    now_ms: int,
    stats: RecomputeStats,
    *,
    counted: aggregates.Cells,
) -> None:
    """Recompute every contact (counting each into the contact cells `counted`): one stream of all links sorted by
    contact, cut into chunks of ascending ids.

    Joining the links of 2,000 contacts at a time reads engagements in random order; one sorted stream reads both
    tables in key order and lets the database sort (about three times faster on two million links). The stream
    reads on its own connection while each chunk commits on another.
    """
    with engine.connect() as reader:
        stream = _LinksByContact(reader)
        for chunk in _chunks(ids, CHUNK):
            engagements = stream.take(chunk[-1])
            with engine.begin() as conn:
                _recompute_chunk(
                    conn, chunk, config, now_ms, stats, full=True, engagements=engagements, counted=counted
                )


class _LinksByContact:
    """Non-archived engagements of every linked contact, in ascending contact id order, taken chunk by chunk."""

    def __init__(self, conn: Connection) -> None:
        stmt = (
            select(EC.c.contact_id, *ENGAGEMENT_COLS)
            .join(E, (E.c.type == EC.c.engagement_type) & (E.c.id == EC.c.engagement_id))
            .where(E.c.archived.is_(False))
            .order_by(literal_column("+engagement_contacts.contact_id"))  # sort; do not walk the contact index
        )
        self._rows = iter(conn.execute(stmt.execution_options(stream_results=True, yield_per=20_000)))
        self._next: Any = next(self._rows, None)

    def take(self, upto: int) -> dict[int, list[Engagement]]:
        """The engagements of the contacts up to `upto` (inclusive) not taken yet."""
        found: dict[int, list[Engagement]] = defaultdict(list)
        row = self._next
        while row is not None and row[0] <= upto:
            found[row[0]].append(engagement_of(row[1:], (row[0],)))
            row = next(self._rows, None)
        self._next = row
        return found


@contextmanager
def _touch_counter(engine: Engine, config: KpiConfig, *, parallel: bool) -> Iterator[Future[Any] | None]:
    """A future of the whole portal's call and email cells, counted in a spawned process; None when not parallel."""
    if not parallel or engine.url.database in (None, "", ":memory:"):  # an in-memory store is this process's alone
        yield None
        return
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool.submit(aggregates.count_touch_cells_at, url, config)


def _result_or_none(counting: Future[Any] | None) -> aggregates.TouchCells | None:
    """The worker's cells; None (count them here instead) when there is no worker or it failed."""
    if counting is None:
        return None
    try:
        cells: aggregates.TouchCells = counting.result()
    except Exception as exc:
        log.warning("kpi_touch_worker_failed", error=type(exc).__name__)
        return None
    return cells


def _contacts_to_recompute(conn: Connection, now_ms: int, full: bool) -> tuple[set[int], set[int]]:
    dirty = set(conn.execute(select(repo.table(t.DirtyContact).c.contact_id)).scalars())
    if full:  # the dirty ones too: a linked contact the store has no row for is recomputed to nothing, and unmarked
        every = set(conn.execute(select(C.c.id).where(C.c.archived.is_(False))).scalars())
        return every | set(conn.execute(select(K.c.contact_id)).scalars()) | dirty, set()
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
    conn: Connection,
    ids: Sequence[int],
    config: KpiConfig,
    now_ms: int,
    stats: RecomputeStats,
    *,
    full: bool,
    engagements: dict[int, list[Engagement]] | None = None,
    counted: aggregates.Cells | None = None,
) -> None:
    """Recompute and store these contacts (ascending ids); unless `full`, move their counts in the aggregate cells
    at once. A full pass covers every contact, so it reads id ranges instead of id lists (no long IN lists)."""
    of = _ids_range(ids) if full else _ids_list(ids)
    contacts = {r.id: r for r in _load_contacts(conn, of(C.c.id))}
    if engagements is None:
        engagements = _load_engagements(conn, of(EC.c.contact_id))
    facts_col = K.c.facts if not full else literal_column("NULL")  # a full pass needs no old facts
    previous = {
        r[0]: (r[1], r[2])
        for r in conn.execute(select(K.c.contact_id, K.c.properties, facts_col).where(of(K.c.contact_id)))
    }
    rows = []
    changes: list[aggregates.ContactChange] = []
    for contact_id in ids:
        contact = contacts.get(contact_id)
        kpis = compute_contact(contact, engagements.get(contact_id, ()), config, now_ms) if contact else None
        props = properties_of(kpis)
        old, old_facts = previous.get(contact_id, (None, None))
        if kpis is None and old is None:
            continue  # never qualified, nothing written: nothing to keep or clear
        if not full:
            old_kpis = aggregates.facts_from_json(old_facts) if old_facts else None
            if old_kpis != kpis:
                changes.append((old_kpis, kpis))
        if kpis is not None:
            stats.skipped_engagements += kpis.skipped_engagements
            if counted is not None:
                aggregates.add_contact(counted, kpis, config.calendar, 1)
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
    _upsert_keep_pending(conn, rows, of)
    if not full:
        aggregates.apply_contact_changes(conn, changes, config, now_ms)
        aggregates.mark_deals_of_contacts(conn, ids, now_ms)
    conn.execute(delete(repo.table(t.DirtyContact)).where(of(repo.table(t.DirtyContact).c.contact_id)))


IdFilter = Callable[[ColumnElement[Any]], ColumnElement[bool]]


def _ids_list(ids: Sequence[int]) -> IdFilter:
    return lambda col: col.in_(ids)


def _ids_range(ids: Sequence[int]) -> IdFilter:
    return lambda col: col.between(ids[0], ids[-1])


def _upsert_keep_pending(conn: Connection, rows: list[dict[str, Any]], of: IdFilter) -> None:
    """Upsert KPI rows; a row still waiting to be written stays pending even if this pass found no change."""
    if not rows:
        return
    waiting = set(conn.execute(select(K.c.contact_id).where(of(K.c.contact_id), K.c.push_pending.is_(True))).scalars())
    for row in rows:
        row["push_pending"] = row["push_pending"] or row["contact_id"] in waiting
    repo.upsert(conn, K, rows)


def _facts_json(kpis: ContactKpis | None) -> list[Any] | None:
    if kpis is None:
        return None
    return [v.value if isinstance(v, FollowupStatus) else v for v in kpis]


def _load_contacts(conn: Connection, where: ColumnElement[bool]) -> list[Contact]:
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
        ).where(where)
    )
    return [Contact(**r._mapping) for r in rows]


def _load_engagements(conn: Connection, where: ColumnElement[bool]) -> dict[int, list[Engagement]]:
    """Non-archived engagements linked to each of the contacts `where` picks (a condition on the link's contact)."""
    stmt = (
        select(EC.c.contact_id, *ENGAGEMENT_COLS)
        .join(E, (E.c.type == EC.c.engagement_type) & (E.c.id == EC.c.engagement_id))
        .where(where, E.c.archived.is_(False))
    )
    found: dict[int, list[Engagement]] = defaultdict(list)
    for row in conn.execute(stmt):
        found[row[0]].append(engagement_of(row[1:], (row[0],)))
    return found
