"""Queries and upserts over the store. Functions take a Connection and never commit: the caller's job does.

Dialect differences (SQLite vs PostgreSQL upsert) hide here, behind `upsert` and `insert_ignore`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, Table, and_, delete, false, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import SQLModel

from storage import tables as t

CHUNK = 500  # ids per IN (...) so that no dialect hits its bound-parameter limit

CONTACT_FIELDS = (
    "owner_id",
    "createdate",
    "lifecyclestage",
    "lead_date",
    "sql_date",
    "opportunity_date",
    "customer_date",
    "buying_role",
    "archived",
)
DEAL_FIELDS = (
    "owner_id",
    "createdate",
    "closedate",
    "pipeline",
    "dealstage",
    "is_closed_won",
    "is_closed",
    "archived",
)
ENGAGEMENT_FIELDS = (
    "timestamp",
    "owner_id",
    "call_direction",
    "call_disposition",
    "email_direction",
    "meeting_outcome",
    "urls",
    "archived",
)


def table(model: type[Any]) -> Table:
    """The Core table of a SQLModel class."""
    tbl: Table = model.__table__
    return tbl


def chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    """Slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _insert(conn: Connection, tbl: Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(tbl)


def upsert(conn: Connection, tbl: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows or update them in place, keyed by the table's primary key (one executemany)."""
    if not rows:
        return
    keys = [c.name for c in tbl.primary_key.columns]
    stmt = _insert(conn, tbl)
    updates = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=updates) if updates else stmt.on_conflict_do_nothing()
    conn.execute(stmt, list(rows))


def insert_ignore(conn: Connection, tbl: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows whose key is not there yet; leave existing ones alone."""
    if rows:
        conn.execute(_insert(conn, tbl).on_conflict_do_nothing(), list(rows))


def keys_in(cols: Sequence[ColumnElement[Any]], keys: Iterable[tuple[Any, ...]]) -> ColumnElement[bool]:
    """`(cols) IN keys`, written so that both dialects use the primary-key index.

    SQLite scans the whole table for a row-value `IN (VALUES ...)`; grouping the keys by all but their last column
    turns it into `a = :a AND b IN (...)` per group (one group per page in practice: a page has one object type).
    """
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for key in keys:
        groups[tuple(key[:-1])].append(key[-1])
    terms = [
        and_(*[col == value for col, value in zip(cols[:-1], prefix, strict=True)], cols[-1].in_(last))
        for prefix, last in groups.items()
    ]
    if not terms:
        return false()
    return terms[0] if len(terms) == 1 else or_(*terms)


def _existing(
    conn: Connection, tbl: Table, key_cols: Sequence[str], keys: Sequence[tuple[Any, ...]], fields: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    found: dict[tuple[Any, ...], dict[str, Any]] = {}
    cols = [tbl.c[k] for k in key_cols]
    for part in chunks(keys):
        cond = keys_in(cols, part)
        for row in conn.execute(select(*cols, *[tbl.c[f] for f in fields]).where(cond)):
            mapping = row._mapping
            found[tuple(mapping[k] for k in key_cols)] = {f: mapping[f] for f in fields}
    return found


def upsert_changed(
    conn: Connection, model: type[Any], rows: Sequence[dict[str, Any]], fields: Sequence[str]
) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
    """Upsert rows; return (previous values or None, new row) for rows that are new or differ in `fields`.

    Comparing only KPI-relevant fields is what keeps our own write-back (which bumps the modification date) from
    marking anything dirty.
    """
    tbl = table(model)
    key_cols = [c.name for c in tbl.primary_key.columns]
    keys = [tuple(r[k] for k in key_cols) for r in rows]
    before = _existing(conn, tbl, key_cols, keys, fields)
    changed = []
    for key, row in zip(keys, rows, strict=True):
        old = before.get(key)
        if old is None or any(old[f] != row.get(f) for f in fields):
            changed.append((old, row))
    upsert(conn, tbl, rows)
    return changed


def replace_links(
    conn: Connection, model: type[Any], owner_cols: Sequence[str], links: Mapping[tuple[Any, ...], Iterable[int]]
) -> dict[tuple[Any, ...], tuple[set[int], set[int]]]:
    """Make the contact links of each owner key exactly `links[key]`; return {key: (old, new)} where they differ."""
    if not links:
        return {}
    tbl = table(model)
    cols = [tbl.c[c] for c in owner_cols]
    keys = list(links)
    old: dict[tuple[Any, ...], set[int]] = defaultdict(set)
    for part in chunks(keys):
        cond = keys_in(cols, part)
        for link in conn.execute(select(*cols, tbl.c.contact_id).where(cond)):
            old[tuple(link[: len(cols)])].add(link[-1])
    diffs: dict[tuple[Any, ...], tuple[set[int], set[int]]] = {}
    removed: list[tuple[Any, ...]] = []
    added: list[dict[str, Any]] = []
    for key in keys:
        new = set(links[key])
        previous = old.get(key, set())
        if new == previous:
            continue
        diffs[key] = (previous, new)
        base = dict(zip(owner_cols, key, strict=True))
        removed.extend((*key, c) for c in previous - new)
        added.extend({**base, "contact_id": c} for c in new - previous)
    for part in chunks(removed):
        conn.execute(delete(tbl).where(keys_in([*cols, tbl.c.contact_id], part)))
    insert_ignore(conn, tbl, added)
    return diffs


def linked_keys(
    conn: Connection, model: type[Any], owner_cols: Sequence[str], contact_ids: Iterable[int]
) -> list[tuple[Any, ...]]:
    """Keys of the engagements or deals linked to any of these contacts."""
    tbl = table(model)
    cols = [tbl.c[c] for c in owner_cols]
    found: set[tuple[Any, ...]] = set()
    for part in chunks(sorted(set(contact_ids))):
        found.update(tuple(r) for r in conn.execute(select(*cols).where(tbl.c.contact_id.in_(part))))
    return sorted(found)


def links_of(
    conn: Connection, model: type[Any], owner_cols: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> dict[tuple[Any, ...], set[int]]:
    """The contacts linked to each of these engagement or deal keys."""
    tbl = table(model)
    cols = [tbl.c[c] for c in owner_cols]
    found: dict[tuple[Any, ...], set[int]] = {key: set() for key in keys}
    for part in chunks(keys):
        for row in conn.execute(select(*cols, tbl.c.contact_id).where(keys_in(cols, part))):
            found[tuple(row[: len(cols)])].add(row[-1])
    return found


def linked_contacts(
    conn: Connection, model: type[Any], owner_cols: Sequence[str], keys: Sequence[tuple[Any, ...]]
) -> set[int]:
    """Contacts currently linked to any of the given engagement or deal keys."""
    tbl = table(model)
    cols = [tbl.c[c] for c in owner_cols]
    found: set[int] = set()
    for part in chunks(keys):
        cond = keys_in(cols, part)
        found.update(conn.execute(select(tbl.c.contact_id).where(cond)).scalars())
    return found


def live_ids(conn: Connection, model: type[Any], kind: str | None = None) -> list[int]:
    """The ids of a record type's live rows, ascending (`kind`: the engagement type, for engagements)."""
    tbl = table(model)
    stmt = select(tbl.c.id).where(tbl.c.archived.is_(False)).order_by(tbl.c.id)
    if kind is not None:
        stmt = stmt.where(tbl.c.type == kind)
    return [int(i) for (i,) in conn.execute(stmt)]


def set_archived(
    conn: Connection, model: type[Any], key_cols: Sequence[str], keys: Sequence[tuple[Any, ...]], archived: bool
) -> list[tuple[Any, ...]]:
    """Flag records archived (or restored); returns the keys whose flag actually changed."""
    tbl = table(model)
    before = _existing(conn, tbl, list(key_cols), list(keys), ["archived"])
    flipped = [k for k, v in before.items() if bool(v["archived"]) != archived]
    cols = [tbl.c[c] for c in key_cols]
    for part in chunks(flipped):
        cond = keys_in(cols, part)
        conn.execute(update(tbl).where(cond).values(archived=archived))
    return flipped


def get_cursor(conn: Connection, object_type: str) -> dict[str, Any]:
    """The pull cursor of one object type (a fresh one if it has never run)."""
    tbl = table(t.SyncCursor)
    found = conn.execute(select(tbl).where(tbl.c.object_type == object_type)).mappings().first()
    if found is None:
        return {c.name: None for c in tbl.columns} | {"object_type": object_type, "phase": "full"}
    return dict(found)


def save_cursor(conn: Connection, cursor: Mapping[str, Any]) -> None:
    """Store a cursor (in the caller's transaction, with the page it belongs to)."""
    upsert(conn, table(t.SyncCursor), [dict(cursor)])


def all_cursors(conn: Connection) -> list[dict[str, Any]]:
    """Every cursor, for status pages."""
    tbl = table(t.SyncCursor)
    return [dict(r) for r in conn.execute(select(tbl).order_by(tbl.c.object_type)).mappings()]


def reset_cursors(conn: Connection, object_types: Iterable[str]) -> None:
    """Forget where the pull stands for these objects, so the next run loads them in full."""
    tbl = table(t.SyncCursor)
    conn.execute(delete(tbl).where(tbl.c.object_type.in_(list(object_types))))


def get_state(conn: Connection, key: str) -> dict[str, Any] | None:
    """A small piece of service state."""
    tbl = table(t.KeyValue)
    value = conn.execute(select(tbl.c.value).where(tbl.c.key == key)).scalar()
    return dict(value) if value is not None else None


def set_state(conn: Connection, key: str, value: Mapping[str, Any]) -> None:
    """Store a small piece of service state."""
    upsert(conn, table(t.KeyValue), [{"key": key, "value": dict(value)}])


def refresh_planner_statistics(engine: Engine) -> None:
    """PostgreSQL: re-sample every table's statistics (ANALYZE). After a store's first fill the planner would
    otherwise guess from empty tables until autovacuum gets round to them, or never where autovacuum is off, and
    pick sequential scans for key lookups. SQLite: nothing (its plans here do not depend on statistics)."""
    if engine.dialect.name != "postgresql":
        return
    names = ", ".join(engine.dialect.identifier_preparer.quote(name) for name in sorted(SQLModel.metadata.tables))
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(f"ANALYZE {names}")
