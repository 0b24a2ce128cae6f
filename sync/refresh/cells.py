"""The K1-K5 aggregate rows, merged from per-owner, per-month cells that the store keeps between refreshes.

A cell holds one KPI's partial counts for one owner in one month (`kpi.scopes`); the aggregate rows of every
owner, team and the portal, per month and for all time, are merges of cells. A refresh recounts only the cells its
changes touch, then merges the cells again (a few thousand rows, whatever the portal's size):

- contact KPIs (K2, K3, the SQL side of K5): the contact pass subtracts each changed contact's old facts from its
  cells and adds the new ones, in the same transaction that stores the new facts (`apply_contact_changes`);
- calls and emails (K1, K4): the cells of the owners and months around the days marked in `dirty_touch_days`
  are recounted from the store (the pull marks the days and owners of changed calls and emails, before and after
  the change, the contact pass those of the calls and emails of a contact that was archived, restored or changed
  its decision-maker flag);
- K1 opportunities: each deal's credit (which owners reached its contacts in the 90 days before it was created)
  is kept per deal and recomputed for the deals in `dirty_deals` (the pull marks changed deals, the contact pass
  the deals of every contact it recomputed);
- the deal side of K5: cells of kind "deals", moved by the deals in `dirty_deals` (each closed deal's part is kept
  in `deal_outcomes` to be taken out again); every deal is counted again when the pipeline stages changed.

Every cell whose counts changed is queued in `changed_cells` (in the transaction that changed it), and only the
aggregate rows those cells feed are merged again: a change in last month's calls re-merges last month's rows and
the all-time rows of its owner, team and the portal, not every month of every KPI. A refresh after owners or
teams changed merges every row.

A full rebuild (`kpis --recompute`, a changed KPI configuration, or a store without cells) recounts every cell
with the same functions, so an incremental refresh and a full one give the very same rows.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, Text, and_, cast, delete, select

from kpi.config import KpiConfig
from kpi.contact import ContactKpis, FollowupStatus
from kpi.facts import engagement_facts
from kpi.followup import FollowupCell, add_followup
from kpi.marketing import MarketingCell, email_cells, most_shared
from kpi.periods import MS_PER_DAY, Calendar
from kpi.reach import OpportunityFact, ReachCell, add_opportunity, call_cells, opportunity_fact
from kpi.response import ResponseCell, add_response
from kpi.rows import MAX_MS, MIN_MS
from kpi.scopes import AggregateKey, CellKey, Scopes, Values, cell_from_json, cell_to_json, is_empty, roll_up
from kpi.winrate import DealSide, WinCell, add_deal, add_sql, deal_side
from storage import repo
from storage import tables as t
from sync import state_keys
from sync.refresh import inputs as kpi_rows
from sync.refresh import marks

ENGAGEMENTS = repo.table(t.Engagement)
ENGAGEMENT_LINKS = repo.table(t.EngagementContact)
DEAL_LINKS = repo.table(t.DealContact)
CONTACT_KPIS = repo.table(t.ContactKpi)
AGGREGATES = repo.table(t.KpiAggregate)
CELLS = repo.table(t.KpiCell)
CREDITS = repo.table(t.OpportunityCredit)
DAYS = repo.table(t.DirtyTouchDay)
ADDED = repo.table(t.AddedTouch)
DIRTY_DEALS = repo.table(t.DirtyDeal)
CHANGED = repo.table(t.ChangedCell)
OUTCOMES = repo.table(t.DealOutcome)

# Stored cell kinds: the KPI each feeds and its cell class.
KINDS: dict[str, tuple[str, type[Any]]] = {
    "calls": ("K1", ReachCell),
    "response": ("K2", ResponseCell),
    "followup": ("K3", FollowupCell),
    "emails": ("K4", MarketingCell),
    "sqls": ("K5", WinCell),
}
DEALS = "deals"  # the deal side of K5 (WinCell won/lost by deal owner and close month), stored beside the others
KPI_OF = {kind: kpi for kind, (kpi, _) in KINDS.items()} | {DEALS: "K5"}
CONTACT_KINDS = ("response", "followup", "sqls")
TOUCH_CELL_KINDS = ("calls", "emails")

Cells = dict[str, dict[CellKey, Any]]  # kind -> {(owner key, month or None): cell}
ContactChange = tuple[ContactKpis | None, ContactKpis | None]


# -- bookkeeping ----------------------------------------------------------------------------------------------------
def config_signature(config: KpiConfig) -> str:
    """What the cells depend on besides the data: a changed rule or time zone means recounting everything."""
    parts = [
        sorted(config.connected_dispositions),
        sorted(config.decision_maker_roles),
        config.content_path_pattern,
        str(config.timezone),
        config.stale_after_days,
        config.min_attempts,
    ]
    return hashlib.sha256(orjson.dumps(parts, default=str)).hexdigest()[:16]


def cells_usable(conn: Connection, config: KpiConfig) -> bool:
    """Whether the stored cells were counted with this configuration (else a full rebuild is due)."""
    return (repo.get_state(conn, state_keys.KPI_CELLS) or {}).get("config") == config_signature(config)


def needs_merge(conn: Connection) -> bool:
    """Whether anything the aggregate rows are merged from changed since the last merge."""
    if (repo.get_state(conn, state_keys.KPI_CELLS) or {}).get("stale") or _stages_changed(conn):
        return True
    return any(conn.execute(select(tbl).limit(1)).first() is not None for tbl in (DAYS, ADDED, DIRTY_DEALS, CHANGED))


def _mark_stale(conn: Connection, config: KpiConfig) -> None:
    repo.set_state(conn, state_keys.KPI_CELLS, {"config": config_signature(config), "stale": True})


# -- contact pass: deltas -----------------------------------------------------------------------------------------
def apply_contact_changes(conn: Connection, changes: Sequence[ContactChange], config: KpiConfig, now_ms: int) -> None:
    """Move changed contacts' counts in the contact cells; queue the days of the calls and emails that read them.

    Runs in the contact pass's transaction, so cells and stored facts never disagree. `changes` are
    (old facts, new facts) of contacts whose facts differ (None: the contact did not qualify).
    """
    if not changes:
        return
    cal = config.calendar
    deltas: Cells = {kind: {} for kind in CONTACT_KINDS}
    for old, new in changes:
        for facts, sign in ((old, -1), (new, 1)):
            if facts is not None:
                add_contact(deltas, facts, cal, sign)
    _add_to_stored(conn, deltas)
    flipped = [_contact_id(old, new) for old, new in changes if _touch_view(old) != _touch_view(new)]
    marks.mark_touch_days_of_contacts(conn, flipped, now_ms)
    _mark_stale(conn, config)


def add_contact(cells: Cells, facts: ContactKpis, calendar: Calendar, sign: int) -> None:
    """Count a contact into its K2, K3 and K5 cells (`sign` 1), or take it out again (-1)."""
    add_response(cells["response"], facts, calendar, sign)
    add_followup(cells["followup"], facts, calendar, sign)
    add_sql(cells["sqls"], facts, calendar, sign)


def new_contact_cells() -> Cells:
    """Empty contact cells, to count a full pass into as it goes."""
    return {kind: {} for kind in CONTACT_KINDS}


def invalidate(conn: Connection) -> None:
    """Forget that the cells are usable: until a full rebuild finishes, every refresh rebuilds them."""
    repo.set_state(conn, state_keys.KPI_CELLS, {"config": None, "stale": True})


def _contact_id(old: ContactKpis | None, new: ContactKpis | None) -> int:
    facts = new if new is not None else old
    assert facts is not None
    return facts.contact_id


def _touch_view(facts: ContactKpis | None) -> bool | None:
    """What call and email facts read of a contact: whether it counts (live and qualifying), and is a decision
    maker. A contact linked to a sales touch always qualifies, so None here means "not on any fact"."""
    return None if facts is None else facts.decision_maker


# -- refresh ------------------------------------------------------------------------------------------------------
def refresh_aggregates(
    conn: Connection,
    config: KpiConfig,
    now_ms: int,
    *,
    full: bool,
    every_key: bool = False,
    touch: TouchCells | None = None,
    contact_cells: Cells | None = None,
) -> int:
    """Recount the cells that need it (all of them when `full`, taking the call and email cells from `touch` and
    the contact cells from `contact_cells` when they were counted already), merge the aggregate rows the changed
    cells feed (every row when `full` or `every_key`, after owners or teams changed) and store the rows whose
    figures changed; returns how many rows were merged."""
    if full:
        if contact_cells is None:
            contact_cells = new_contact_cells()
            for facts in _all_contact_facts(conn):
                add_contact(contact_cells, facts, config.calendar, 1)
        _rebuild_cells(conn, config, contact_cells, touch or count_touch_cells(conn, config))
    else:
        months = _dirty_months(conn, config)
        _recount_touch_months(conn, config, months)
        _add_new_touches(conn, config, months)
        _recount_credits(conn, config)
        _recount_deal_side(conn, config)
    scopes = Scopes(kpi_rows.load_owners(conn))
    affected = None if full or every_key else _affected_keys(conn, scopes)
    for tbl in (DAYS, ADDED, DIRTY_DEALS, CHANGED):
        conn.execute(delete(tbl))
    merged = _merge(conn, scopes, affected)
    _store_rows(conn, merged, affected, now_ms)
    repo.set_state(conn, state_keys.KPI_CELLS, {"config": config_signature(config), "stale": False})
    return len(merged)


def _affected_keys(conn: Connection, scopes: Scopes) -> set[AggregateKey]:
    """The aggregate rows the changed cells feed."""
    keys: set[AggregateKey] = set()
    for kind, owner, month in conn.execute(select(CHANGED.c.kind, CHANGED.c.owner_key, CHANGED.c.month)):
        keys.update(scopes.keys_of(KPI_OF[kind], owner, month or None))
    return keys


def _merge(conn: Connection, scopes: Scopes, affected: set[AggregateKey] | None) -> dict[AggregateKey, Values]:
    """The figures of the `affected` rows (every row when None) from the stored cells, with K1's credits and K5's
    deal side added; a KPI none of whose rows is affected is not read at all."""
    wanted = {kpi for kpi, *_ in affected} if affected is not None else set(KPI_OF.values())
    out: dict[AggregateKey, Values] = {}
    for kind, (kpi, cls) in KINDS.items():
        if kpi not in wanted:
            continue
        cells = _load_kind(conn, kind)
        if kind == "calls":
            for fact in _load_credits(conn):
                add_opportunity(cells, fact, 1)
        elif kind == "sqls":
            for key, cell in _load_kind(conn, DEALS).items():
                cells.setdefault(key, WinCell()).merge(cell)
        elif kind == "emails":
            assets: Counter[str] = Counter()
            for cell in cells.values():
                assets.update(cell.assets)
            repo.set_state(conn, state_keys.TOP_ASSETS, {"assets": most_shared(assets)})
        out.update(roll_up(kpi, cells, scopes, cls.total, affected))
    return out


def _store_rows(
    conn: Connection, merged: Mapping[AggregateKey, Values], affected: set[AggregateKey] | None, now_ms: int
) -> None:
    """Write the rows whose figures changed (computed_at: the refresh that last changed them); drop the `affected`
    rows (any row when None) that nothing feeds any more."""
    # the figures as text, decoded only for the rows merged now (a few of the rows read, after a small change)
    stmt = select(
        AGGREGATES.c.kpi,
        AGGREGATES.c.scope,
        AGGREGATES.c.scope_id,
        AGGREGATES.c.period,
        cast(AGGREGATES.c.metrics, Text),
    )
    if affected is not None:
        stmt = stmt.where(AGGREGATES.c.kpi.in_(sorted({key[0] for key in affected})))
    current = {(r[0], r[1], r[2], r[3]): r[4] for r in conn.execute(stmt)}
    gone = [key for key in current if key not in merged and (affected is None or key in affected)]
    for part in repo.chunks(gone):
        conn.execute(
            delete(AGGREGATES).where(
                repo.keys_in([AGGREGATES.c.kpi, AGGREGATES.c.scope, AGGREGATES.c.scope_id, AGGREGATES.c.period], part)
            )
        )
    rows = [
        {"kpi": k[0], "scope": k[1], "scope_id": k[2], "period": k[3], "metrics": dict(v), "computed_at": now_ms}
        for k, v in merged.items()
        if (text := current.get(k)) is None or orjson.loads(text) != v
    ]
    repo.upsert(conn, AGGREGATES, rows)


# -- cells in the store -------------------------------------------------------------------------------------------
def _month_text(month: str | None) -> str:
    return month or ""


def _load_cells(conn: Connection, keys: Iterable[tuple[str, CellKey]]) -> Cells:
    """The stored cells of these (kind, cell) keys: only those (an owner's other months are not read, nor decoded)."""
    wanted = sorted({(kind, owner, _month_text(month)) for kind, (owner, month) in keys})
    found: Cells = {}
    for part in repo.chunks(wanted):
        stmt = select(CELLS).where(repo.keys_in([CELLS.c.kind, CELLS.c.owner_key, CELLS.c.month], part))
        for r in conn.execute(stmt):
            found.setdefault(r.kind, {})[(r.owner_key, r.month or None)] = cell_from_json(_cell_class(r.kind), r.state)
    return found


def _cell_class(kind: str) -> type[Any]:
    return WinCell if kind == DEALS else KINDS[kind][1]


def _load_kind(conn: Connection, kind: str) -> dict[CellKey, Any]:
    """Every stored cell of a kind."""
    cls = _cell_class(kind)
    stmt = select(CELLS.c.owner_key, CELLS.c.month, CELLS.c.state).where(CELLS.c.kind == kind)
    return {(r.owner_key, r.month or None): cell_from_json(cls, r.state) for r in conn.execute(stmt)}


def _save_cells(conn: Connection, cells: Cells) -> None:
    """Store cells; a cell that counts nothing any more is deleted (a full count would not have it)."""
    rows, empty = [], []
    for kind, by_key in cells.items():
        for (owner, month), cell in by_key.items():
            if is_empty(cell):
                empty.append((kind, owner, _month_text(month)))
            else:
                state = cell_to_json(cell)
                rows.append({"kind": kind, "owner_key": owner, "month": _month_text(month), "state": state})
    for part in repo.chunks(empty):
        conn.execute(delete(CELLS).where(repo.keys_in([CELLS.c.kind, CELLS.c.owner_key, CELLS.c.month], part)))
    repo.upsert(conn, CELLS, rows)


def _add_to_stored(conn: Connection, deltas: Cells) -> None:
    """Add each delta cell to its stored cell (an absent one counts nothing), store the sums and queue them as
    changed (a delta that nets to nothing changes nothing)."""
    deltas = {kind: {key: d for key, d in by_key.items() if not is_empty(d)} for kind, by_key in deltas.items()}
    stored = _load_cells(conn, [(kind, key) for kind, by_key in deltas.items() for key in by_key])
    for kind, by_key in deltas.items():
        cells = stored.setdefault(kind, {})
        for key, delta in by_key.items():
            cells.setdefault(key, _cell_class(kind)()).merge(delta)
    _save_cells(conn, stored)
    _mark_changed(conn, [(kind, key) for kind, by_key in deltas.items() for key in by_key])


def _mark_changed(conn: Connection, keys: Iterable[tuple[str, CellKey]]) -> None:
    rows = [{"kind": kind, "owner_key": owner, "month": _month_text(month)} for kind, (owner, month) in keys]
    for part in repo.chunks(rows):
        repo.insert_ignore(conn, CHANGED, part)


def _replace_changed(conn: Connection, old: Cells, new: Cells) -> None:
    """Store `new` in place of `old` (the same kinds and months, counted again), writing and queueing only the
    cells that differ; an old cell with no new one is deleted."""
    changed: Cells = {}
    for kind in set(old) | set(new):
        before, after = old.get(kind, {}), new.get(kind, {})
        cls = _cell_class(kind)
        changed[kind] = {
            key: after.get(key, cls()) for key in set(before) | set(after) if before.get(key) != after.get(key)
        }
    _save_cells(conn, changed)
    _mark_changed(conn, [(kind, key) for kind, by_key in changed.items() for key in by_key])


# -- full rebuild -------------------------------------------------------------------------------------------------
@dataclass
class TouchCells:
    """The call and email cells of a whole portal and its deals' opportunity credits."""

    calls: dict[CellKey, ReachCell]
    emails: dict[CellKey, MarketingCell]
    credits: list[OpportunityFact]


def count_touch_cells(conn: Connection, config: KpiConfig) -> TouchCells:
    """Count every call and email cell and every deal's credit (reads engagements, links, contacts and deals only,
    so it can run beside the contact pass)."""
    cal = config.calendar
    live = kpi_rows.live_contacts(conn)
    calls, emails = engagement_facts(kpi_rows.touch_engagements(conn, live), config)
    reach, by_contact = call_cells(calls, kpi_rows.decision_makers(conn, config), cal)
    credits = [opportunity_fact(d, by_contact, cal) for d in kpi_rows.credit_deals(conn, None, live.__contains__)]
    return TouchCells(reach, email_cells(emails, cal), [c for c in credits if c is not None])


def _rebuild_cells(conn: Connection, config: KpiConfig, contact_cells: Cells, touch: TouchCells) -> None:
    conn.execute(delete(CELLS))
    _save_cells(conn, contact_cells)
    _save_cells(conn, {"calls": dict(touch.calls), "emails": dict(touch.emails)})
    conn.execute(delete(OUTCOMES))
    _recount_deal_side(conn, config, every=True)
    conn.execute(delete(CREDITS))
    _save_credits(conn, touch.credits)


def _all_contact_facts(conn: Connection) -> Iterator[ContactKpis]:
    # JSON null and SQL NULL both mean "does not qualify": filter in Python, which sees both as None.
    for values in conn.execute(select(CONTACT_KPIS.c.facts)).scalars():
        if values:
            yield facts_from_json(values)


def facts_from_json(values: list[Any]) -> ContactKpis:
    """The `ContactKpis` stored as a JSON list."""
    fields = list(values)
    index = ContactKpis._fields.index("followup_status")
    fields[index] = FollowupStatus(fields[index])
    return ContactKpis(*fields)


# -- calls and emails ---------------------------------------------------------------------------------------------
def _dirty_months(conn: Connection, config: KpiConfig) -> dict[str, set[str]]:
    """The months (in the KPI time zone) around each marked day, with the owners marked on those days."""
    cal = config.calendar
    months: dict[str, set[str]] = {}
    for day, owner in conn.execute(select(DAYS.c.day, DAYS.c.owner_id)):
        start = min(max(day * MS_PER_DAY, MIN_MS), MAX_MS)
        end = min(max((day + 1) * MS_PER_DAY - 1, MIN_MS), MAX_MS)
        for month in (cal.period(start), cal.period(end)):
            months.setdefault(month, set()).add(owner)
    return months


def _recount_touch_months(conn: Connection, config: KpiConfig, months: dict[str, set[str]]) -> None:
    """Recount the call and email cells of the marked owners in the marked months; store those that changed."""
    if not months:
        return
    grouped: kpi_rows.Grouped = {}
    for month, owners in sorted(months.items()):
        start, end = _bounds(config, month)
        cond = and_(
            ENGAGEMENTS.c.type.in_(("call", "email")),
            ENGAGEMENTS.c.timestamp >= start,
            ENGAGEMENTS.c.timestamp < end,
            ENGAGEMENTS.c.owner_id.in_(sorted(owners)),
        )
        kpi_rows.group_touch_rows(conn, cond, grouped)
    # clamped bounds of the first and last representable months may reach further: keep the marked cells only
    fresh = _touch_cells(conn, config, grouped, lambda owner, month: owner in months.get(month, ()))
    cells = [
        (kind, (owner, month)) for kind in TOUCH_CELL_KINDS for month, owners in months.items() for owner in owners
    ]
    _replace_changed(conn, _load_cells(conn, cells), fresh)


def _add_new_touches(conn: Connection, config: KpiConfig, recounted: dict[str, set[str]]) -> None:
    """Add the facts of new calls and emails to their cells (those of recounted cells are counted already)."""
    keys = [tuple(r) for r in conn.execute(select(ADDED.c.type, ADDED.c.id))]
    if not keys:
        return
    grouped: kpi_rows.Grouped = {}
    for part in repo.chunks(keys):
        kpi_rows.group_touch_rows(conn, repo.keys_in([ENGAGEMENTS.c.type, ENGAGEMENTS.c.id], part), grouped)
    fresh = _touch_cells(conn, config, grouped, lambda owner, month: owner not in recounted.get(month, ()))
    _add_to_stored(conn, fresh)


def _touch_cells(
    conn: Connection, config: KpiConfig, grouped: kpi_rows.Grouped, wanted: Callable[[str, str], bool]
) -> Cells:
    """The call and email cells of the grouped engagements (with their live contacts), of the (owner, month) pairs
    `wanted`."""
    cal = config.calendar
    engagements, dms = kpi_rows.with_live_contacts(conn, config, grouped)
    calls, emails = engagement_facts(engagements, config)
    calls = [c for c in calls if wanted(c.owner_id, cal.period(c.timestamp))]
    emails = [e for e in emails if wanted(e.owner_id, cal.period(e.timestamp))]
    return {"calls": dict(call_cells(calls, dms, cal)[0]), "emails": dict(email_cells(emails, cal))}


def _bounds(config: KpiConfig, month: str) -> tuple[int, int]:
    """[start, end) of a month in UTC ms, clamped to the timestamps an engagement can have."""
    try:
        start, end = config.calendar.period_bounds(month)
    except (ValueError, OverflowError):  # the first or last month representable
        year = int(month[:4])
        start, end = (MIN_MS, MIN_MS + 32 * MS_PER_DAY) if year <= 1 else (MAX_MS - 32 * MS_PER_DAY, MAX_MS + 1)
    return max(start, MIN_MS), min(end, MAX_MS + 1)


# -- opportunities and deals --------------------------------------------------------------------------------------
def _recount_credits(conn: Connection, config: KpiConfig) -> None:
    deal_ids = list(conn.execute(select(DIRTY_DEALS.c.deal_id)).scalars())
    if not deal_ids:
        return
    deals = kpi_rows.credit_deals(conn, deal_ids, None)
    connected = kpi_rows.connected_calls(conn, config, {c for d in deals for c in d.contact_ids})
    cal = config.calendar
    fresh = [f for d in deals if (f := opportunity_fact(d, connected, cal)) is not None]
    old: list[OpportunityFact] = []
    for part in repo.chunks(deal_ids):
        old.extend(_load_credits(conn, CREDITS.c.deal_id.in_(part)))
        conn.execute(delete(CREDITS).where(CREDITS.c.deal_id.in_(part)))
    _save_credits(conn, fresh)
    moved = set(old) ^ set(fresh)  # a credit that moved changes the K1 cells of its old and new owners and month
    _mark_changed(conn, {("calls", (owner, f.month)) for f in moved for owner in f.owners})


def _recount_deal_side(conn: Connection, config: KpiConfig, *, every: bool = False) -> None:
    """Move the deals in `dirty_deals` (every deal when asked, or when the pipeline stages changed) in the deal side
    of K5: take each one's stored outcome out of its cell, add the new one, and store the new outcomes."""
    signature = kpi_rows.stage_signature(conn)
    every = every or _stages_changed(conn, signature)
    ids = None if every else list(conn.execute(select(DIRTY_DEALS.c.deal_id)).scalars())
    if ids == []:
        return
    cal = config.calendar
    fresh = {d.deal_id: side for d in kpi_rows.deal_facts(conn, ids) if (side := deal_side(d, cal)) is not None}
    old = dict(_load_outcomes(conn, ids))
    deltas: dict[CellKey, WinCell] = {}
    for deal_id in old.keys() | fresh.keys():
        before, after = old.get(deal_id), fresh.get(deal_id)
        if before != after:
            if before is not None:
                add_deal(deltas, before, -1)
            if after is not None:
                add_deal(deltas, after, 1)
    _add_to_stored(conn, {DEALS: deltas})
    if ids is None:
        conn.execute(delete(OUTCOMES))
    else:
        for part in repo.chunks(ids):
            conn.execute(delete(OUTCOMES).where(OUTCOMES.c.deal_id.in_(part)))
    _save_outcomes(conn, fresh)
    repo.set_state(conn, state_keys.DEAL_STAGES, {"signature": signature})


def _stages_changed(conn: Connection, signature: str | None = None) -> bool:
    """Whether the pipeline stages differ from those the deal side was counted with (`signature`: read now)."""
    current = kpi_rows.stage_signature(conn) if signature is None else signature
    return (repo.get_state(conn, state_keys.DEAL_STAGES) or {}).get("signature") != current


def _load_outcomes(conn: Connection, deal_ids: Sequence[int] | None) -> Iterator[tuple[int, DealSide]]:
    stmt = select(OUTCOMES.c.deal_id, OUTCOMES.c.owner_key, OUTCOMES.c.month, OUTCOMES.c.won)
    for part in [None] if deal_ids is None else list(repo.chunks(deal_ids)):
        for r in conn.execute(stmt if part is None else stmt.where(OUTCOMES.c.deal_id.in_(part))):
            yield r.deal_id, DealSide((r.owner_key, r.month or None), r.won)


def _save_outcomes(conn: Connection, sides: Mapping[int, DealSide]) -> None:
    rows = [
        {"deal_id": deal_id, "owner_key": side.cell[0], "month": _month_text(side.cell[1]), "won": side.won}
        for deal_id, side in sides.items()
    ]
    for part in repo.chunks(rows, 5_000):
        repo.upsert(conn, OUTCOMES, part)


def _save_credits(conn: Connection, credits: Sequence[OpportunityFact]) -> None:
    repo.upsert(conn, CREDITS, [{"deal_id": f.deal_id, "month": f.month, "owners": list(f.owners)} for f in credits])


def _load_credits(conn: Connection, where: ColumnElement[bool] | None = None) -> Iterator[OpportunityFact]:
    stmt = select(CREDITS.c.deal_id, CREDITS.c.month, CREDITS.c.owners)
    for r in conn.execute(stmt if where is None else stmt.where(where)):
        yield OpportunityFact(r.deal_id, r.month, tuple(r.owners))
