"""KPI recomputation over the store: per-contact values for the contacts the pull marked (plus those whose
time-dependent values moved with the clock), then the aggregates those contacts and deals feed.

The pure rules live in `kpi/`; this module only loads plain rows, calls them, and stores the results. A full
recompute (`kpis --recompute`) runs the same code over every contact and must give the very same rows.
"""

from __future__ import annotations

import multiprocessing
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Connection, Engine, delete, literal_column, select

from kpi.config import KpiConfig
from kpi.contact import ContactKpis, FollowupStatus, compute_contact
from kpi.properties import properties_of
from kpi.rows import Contact, Engagement
from storage import repo
from storage import tables as t
from storage.engine import make_engine
from sync import state_keys
from sync.json_fields import whole
from sync.refresh import cells as aggregates
from sync.refresh import inputs as kpi_rows
from sync.refresh import marks
from sync.refresh.inputs import engagement_of

log = structlog.get_logger(__name__)

CHUNK = 2_000  # contacts recomputed per transaction
# A full recompute of this many contacts takes a second process (spawned: about a second to start, worth it from
# tens of seconds of work): it counts every call and email cell, then computes the contacts of the top HELPER_SHARE
# of ids, while this process computes and stores the rest (the two take about as long on two cores).
PARALLEL_FROM = 20_000
HELPER_SHARE = 0.3

CONTACTS = repo.table(t.Contact)
CONTACT_KPIS = repo.table(t.ContactKpi)


@dataclass
class RecomputeStats:
    """What a recompute did."""

    contacts: int = 0
    changed: int = 0
    due_to_time: int = 0
    skipped_engagements: int = 0
    aggregates: int = 0  # aggregate rows merged again

    def to_json(self) -> dict[str, int]:
        """The `kpis` section of a run's stored counts, and the fields of the `kpis_recomputed` log line."""
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RecomputeStats:
        """Read back `to_json` (missing or odd entries read as zero, unknown ones are ignored)."""
        return cls(**{f.name: whole(data.get(f.name)) for f in fields(cls)})


def refresh(
    engine: Engine, config: KpiConfig, now_ms: int, *, full: bool = False, parallel_from: int = PARALLEL_FROM
) -> RecomputeStats:
    """Recompute the contacts that need it, then the aggregates, if anything they read changed.

    Everything is recomputed when asked (`full`) or when the stored cells were counted with another KPI
    configuration (the facts depend on it too). A full run first marks the cells unusable, so a run killed
    half-way is followed by another full one. From `parallel_from` contacts on, a full run shares the work with a
    spawned helper process (see HELPER_SHARE); if the helper fails, this process does its share itself. As with
    any spawned process, a script calling this must guard its entry point (`if __name__ == "__main__":`).
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
        ordered = sorted(ids)
        parallel = len(ordered) >= parallel_from and engine.url.database not in (None, "", ":memory:")
        mine, theirs = _split(ordered) if parallel else (ordered, [])
        with _helper(engine, config, now_ms, theirs, parallel=parallel) as helping:
            _recompute_all(engine, mine, config, now_ms, stats, counted=counted)
            done = _result_or_none(helping)
        if done is None:
            _recompute_all(engine, theirs, config, now_ms, stats, counted=counted)
        else:
            touch, computed = done
            _store_computed(engine, theirs, config, now_ms, stats, computed=computed, counted=counted)
    else:
        for chunk in repo.chunks(sorted(ids), CHUNK):
            with engine.begin() as conn:
                _recompute_chunk(conn, chunk, config, now_ms, stats, full=False)
    with engine.begin() as conn:
        owners = _owner_signature(conn)
        owners_changed = owners != (repo.get_state(conn, state_keys.AGGREGATE_OWNERS) or {}).get("signature")
        if full or owners_changed or aggregates.needs_merge(conn):
            stats.aggregates = aggregates.refresh_aggregates(
                conn, config, now_ms, full=full, every_key=owners_changed, touch=touch, contact_cells=counted
            )
            repo.set_state(conn, state_keys.AGGREGATE_OWNERS, {"signature": owners})
    if full:  # the first full pass follows the store's first fill: give PostgreSQL's planner the tables' sizes
        repo.refresh_planner_statistics(engine)
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
        for chunk, engagements in _chunks_with_links(reader, ids):
            with engine.begin() as conn:
                _recompute_chunk(
                    conn, chunk, config, now_ms, stats, full=True, engagements=engagements, counted=counted
                )


def _store_computed(
    engine: Engine,
    ids: Sequence[int],
    config: KpiConfig,
    now_ms: int,
    stats: RecomputeStats,
    *,
    computed: dict[int, ContactKpis | None],
    counted: aggregates.Cells,
) -> None:
    """Store the contacts the helper process computed, chunk by chunk."""
    for chunk in repo.chunks(ids, CHUNK):
        with engine.begin() as conn:
            _recompute_chunk(conn, chunk, config, now_ms, stats, full=True, computed=computed, counted=counted)


def compute_contacts(conn: Connection, ids: Sequence[int], config: KpiConfig, now_ms: int) -> dict[int, Any]:
    """The KPI values of these contacts (ascending ids, a range the caller covers wholly), without storing them."""
    out: dict[int, ContactKpis | None] = {}
    with conn.engine.connect() as reader:
        for chunk, engagements in _chunks_with_links(reader, ids):
            out.update(_compute(conn, chunk, _ids_range(chunk), config, now_ms, engagements=engagements))
    return out


def _chunks_with_links(reader: Connection, ids: Sequence[int]) -> Iterator[tuple[Sequence[int], Links]]:
    """Chunks of ascending contact ids, each with its contacts' engagements, from one sorted stream on `reader`."""
    if not ids:
        return
    stream = _LinksByContact(reader, ids[0], ids[-1])
    for chunk in repo.chunks(ids, CHUNK):
        yield chunk, stream.take(chunk[-1])


def _split(ids: Sequence[int]) -> tuple[Sequence[int], Sequence[int]]:
    """This process's share of a full pass (the lower ids) and the helper's (the upper ids)."""
    cut = len(ids) - int(len(ids) * HELPER_SHARE)
    return ids[:cut], ids[cut:]


def helper_work(url: str, config: KpiConfig, now_ms: int, ids: Sequence[int]) -> tuple[Any, dict[int, Any]]:
    """The helper process's part of a full recompute, on connections of its own: every call and email cell and
    deal credit, then the KPI values of `ids`."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            touch = aggregates.count_touch_cells(conn, config)
            return touch, compute_contacts(conn, ids, config, now_ms)
    finally:
        engine.dispose()


class _LinksByContact:
    """Non-archived engagements of the linked contacts in [lo, hi], in ascending contact id order, taken chunk by
    chunk."""

    def __init__(self, conn: Connection, lo: int, hi: int) -> None:
        stmt = (
            kpi_rows.linked_engagements()
            .where(literal_column("+engagement_contacts.contact_id").between(lo, hi))
            .order_by(literal_column("+engagement_contacts.contact_id"))  # sort; do not walk the contact index
        )
        self._rows = iter(conn.execute(stmt.execution_options(stream_results=True, yield_per=20_000)))
        self._next: Any = next(self._rows, None)

    def take(self, upto: int) -> Links:
        """The engagements of the contacts up to `upto` (inclusive) not taken yet."""
        found: dict[int, list[Engagement]] = defaultdict(list)
        row = self._next
        while row is not None and row[0] <= upto:
            found[row[0]].append(engagement_of(row[1:], (row[0],)))
            row = next(self._rows, None)
        self._next = row
        return found


@contextmanager
def _helper(
    engine: Engine, config: KpiConfig, now_ms: int, ids: Sequence[int], *, parallel: bool
) -> Iterator[Future[Any] | None]:
    """A future of `helper_work` in a spawned process; None when not parallel."""
    if not parallel:
        yield None
        return
    url = engine.url.render_as_string(hide_password=False)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield pool.submit(helper_work, url, config, now_ms, list(ids))


def _result_or_none(helping: Future[Any] | None) -> tuple[aggregates.TouchCells, dict[int, Any]] | None:
    """The helper's work; None (do it here instead) when there is no helper or it failed."""
    if helping is None:
        return None
    try:
        cells: tuple[aggregates.TouchCells, dict[int, Any]] = helping.result()
    except Exception as exc:
        log.warning("kpi_helper_failed", error=type(exc).__name__)
        return None
    return cells


def _contacts_to_recompute(conn: Connection, now_ms: int, full: bool) -> tuple[set[int], set[int]]:
    dirty = set(conn.execute(select(repo.table(t.DirtyContact).c.contact_id)).scalars())
    if full:  # the dirty ones too: a linked contact the store has no row for is recomputed to nothing, and unmarked
        every = set(conn.execute(select(CONTACTS.c.id).where(CONTACTS.c.archived.is_(False))).scalars())
        return every | set(conn.execute(select(CONTACT_KPIS.c.contact_id)).scalars()) | dirty, set()
    due = set(conn.execute(select(CONTACT_KPIS.c.contact_id).where(CONTACT_KPIS.c.recheck_at <= now_ms)).scalars())
    return dirty | due, due - dirty


def _owner_signature(conn: Connection) -> str:
    """Owners with their teams and archived flags: a change moves aggregates between scopes, so the refresh compares
    this with what the last one used."""
    rows = conn.execute(select(repo.table(t.Owner)).order_by(repo.table(t.Owner).c.id)).mappings()
    return "|".join(f"{r['id']}:{','.join(r['team_ids'] or [])}:{r['archived']}" for r in rows)


def _recompute_chunk(
    conn: Connection,
    ids: Sequence[int],
    config: KpiConfig,
    now_ms: int,
    stats: RecomputeStats,
    *,
    full: bool,
    engagements: Links | None = None,
    computed: dict[int, ContactKpis | None] | None = None,
    counted: aggregates.Cells | None = None,
) -> None:
    """Recompute and store these contacts (ascending ids); unless `full`, move their counts in the aggregate cells
    at once. A full pass covers every contact, so it reads id ranges instead of id lists (no long IN lists)."""
    of = _ids_range(ids) if full else _ids_list(ids)
    if computed is None:
        computed = _compute(conn, ids, of, config, now_ms, engagements=engagements)
    facts_col = CONTACT_KPIS.c.facts if not full else literal_column("NULL")  # a full pass needs no old facts
    previous = {
        r[0]: (r[1], r[2])
        for r in conn.execute(
            select(CONTACT_KPIS.c.contact_id, CONTACT_KPIS.c.properties, facts_col).where(of(CONTACT_KPIS.c.contact_id))
        )
    }
    rows = []
    changes: list[aggregates.ContactChange] = []
    for contact_id in ids:
        kpis = computed[contact_id]
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
        marks.mark_deals_of_contacts(conn, ids, now_ms)
    conn.execute(delete(repo.table(t.DirtyContact)).where(of(repo.table(t.DirtyContact).c.contact_id)))


IdFilter = Callable[[ColumnElement[Any]], ColumnElement[bool]]
Links = dict[int, list[Engagement]]  # contact id -> its non-archived engagements


def _compute(
    conn: Connection, ids: Sequence[int], of: IdFilter, config: KpiConfig, now_ms: int, *, engagements: Links | None
) -> dict[int, ContactKpis | None]:
    """The KPI values of these contacts (None: does not qualify); their engagements are read unless given."""
    contacts = {r.id: r for r in _load_contacts(conn, of(CONTACTS.c.id))}
    if engagements is None:
        engagements = kpi_rows.engagements_of_contacts(conn, ids)
    return {
        cid: compute_contact(c, engagements.get(cid, ()), config, now_ms) if (c := contacts.get(cid)) else None
        for cid in ids
    }


def _ids_list(ids: Sequence[int]) -> IdFilter:
    return lambda col: col.in_(ids)


def _ids_range(ids: Sequence[int]) -> IdFilter:
    return lambda col: col.between(ids[0], ids[-1])


def _upsert_keep_pending(conn: Connection, rows: list[dict[str, Any]], of: IdFilter) -> None:
    """Upsert KPI rows; a row still waiting to be written stays pending even if this pass found no change."""
    if not rows:
        return
    waiting = set(
        conn.execute(
            select(CONTACT_KPIS.c.contact_id).where(
                of(CONTACT_KPIS.c.contact_id), CONTACT_KPIS.c.push_pending.is_(True)
            )
        ).scalars()
    )
    for row in rows:
        row["push_pending"] = row["push_pending"] or row["contact_id"] in waiting
    repo.upsert(conn, CONTACT_KPIS, rows)


def _facts_json(kpis: ContactKpis | None) -> list[Any] | None:
    if kpis is None:
        return None
    return [v.value if isinstance(v, FollowupStatus) else v for v in kpis]


def _load_contacts(conn: Connection, where: ColumnElement[bool]) -> list[Contact]:
    rows = conn.execute(
        select(
            CONTACTS.c.id,
            CONTACTS.c.owner_id,
            CONTACTS.c.createdate,
            CONTACTS.c.lifecyclestage,
            CONTACTS.c.lead_date,
            CONTACTS.c.sql_date,
            CONTACTS.c.opportunity_date,
            CONTACTS.c.customer_date,
            CONTACTS.c.buying_role,
            CONTACTS.c.archived,
        ).where(where)
    )
    return [Contact(**r._mapping) for r in rows]
