"""Repository functions behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import ClauseElement, Engine, func, inspect, select

from kpi.config import KpiConfig
from storage import repo
from storage import tables as t
from storage.engine import migrate
from sync.push import pending_query
from sync.refresh.contacts import refresh


def _contact(i: int, **kw: object) -> dict[str, object]:
    return {
        "id": i,
        "owner_id": "1",
        "createdate": 1_000,
        "lifecyclestage": "lead",
        "lead_date": None,
        "sql_date": None,
        "opportunity_date": None,
        "customer_date": None,
        "buying_role": None,
        "modified_at": 5_000,
        "archived": False,
        **kw,
    }


def test_migrations_create_every_table_and_are_idempotent(store: Engine) -> None:
    """Running the migrations twice leaves the full schema in place."""
    migrate(store)
    names = set(inspect(store).get_table_names())
    assert {
        "contacts",
        "deals",
        "engagements",
        "engagement_contacts",
        "sync_cursors",
        "sync_runs",
        "contact_kpis",
        "kpi_aggregates",
        "writeback_ledger",
        "alembic_version",
    } <= names


def test_upsert_changed_reports_new_and_changed_rows_only(store: Engine) -> None:
    """A row is reported when it is new or a compared field changed; a bumped modification date alone is not."""
    with store.begin() as conn:
        first = repo.upsert_changed(conn, t.Contact, [_contact(1), _contact(2)], repo.CONTACT_FIELDS)
        again = repo.upsert_changed(
            conn, t.Contact, [_contact(1, modified_at=9_999), _contact(2, owner_id="7")], repo.CONTACT_FIELDS
        )
        contacts = repo.table(t.Contact).c
        stored = conn.execute(select(contacts.modified_at).where(contacts.id == 1)).scalar()
    assert [new["id"] for old, new in first] == [1, 2]
    assert [(old["owner_id"], new["owner_id"]) for old, new in again if old] == [("1", "7")]
    assert stored == 9_999


def test_replace_links_returns_old_and_new_contacts_where_they_differ(store: Engine) -> None:
    """Links are replaced exactly and only the engagements whose links changed are reported."""
    cols = ("engagement_type", "engagement_id")
    with store.begin() as conn:
        repo.replace_links(conn, t.EngagementContact, cols, {("call", 1): {10, 11}, ("call", 2): {12}})
        diffs = repo.replace_links(conn, t.EngagementContact, cols, {("call", 1): {11, 13}, ("call", 2): {12}})
        now = repo.linked_contacts(conn, t.EngagementContact, cols, [("call", 1)])
    assert diffs == {("call", 1): ({10, 11}, {11, 13})}
    assert now == {11, 13}


def test_set_archived_flips_only_rows_that_change(store: Engine) -> None:
    """Archiving reports the rows whose flag flipped, so deletions are counted once."""
    with store.begin() as conn:
        repo.upsert(conn, repo.table(t.Contact), [_contact(1), _contact(2, archived=True)])
        flipped = repo.set_archived(conn, t.Contact, ["id"], [(1,), (2,), (3,)], True)
    assert flipped == [(1,)]


def test_cursor_round_trips_and_defaults_to_a_full_load(store: Engine) -> None:
    """A never-seen object starts in the full phase; a saved cursor comes back as saved."""
    with store.begin() as conn:
        fresh = repo.get_cursor(conn, "calls")
        repo.save_cursor(conn, fresh | {"phase": "incremental", "high_water": 123, "key_id": 9})
        back = repo.get_cursor(conn, "calls")
    assert fresh["phase"] == "full"
    assert (back["phase"], back["high_water"], back["key_id"]) == ("incremental", 123, 9)


def test_upsert_handles_more_rows_than_one_statement_allows(store: Engine) -> None:
    """Large pages are split so no dialect runs out of bound parameters."""
    rows = [_contact(i) for i in range(1, 5_001)]
    with store.begin() as conn:
        repo.upsert(conn, repo.table(t.Contact), rows)
        changed = repo.upsert_changed(conn, t.Contact, rows, repo.CONTACT_FIELDS)
        count = conn.execute(select(func.count()).select_from(repo.table(t.Contact))).scalar_one()
    assert (count, changed) == (5_000, [])


def _links(rows: list[tuple[str, int, int]]) -> list[dict[str, object]]:
    return [{"engagement_type": k, "engagement_id": e, "contact_id": c} for k, e, c in rows]


def test_composite_key_lookup_finds_exactly_the_given_keys(store: Engine) -> None:
    """Keys of several engagement types in one lookup return their links and nothing else."""
    links = repo.table(t.EngagementContact)
    with store.begin() as conn:
        repo.upsert(conn, links, _links([("call", 1, 10), ("call", 2, 20), ("email", 1, 30), ("email", 3, 40)]))
        found = repo.linked_contacts(
            conn, t.EngagementContact, ["engagement_type", "engagement_id"], [("call", 1), ("email", 3), ("note", 1)]
        )
    assert found == {10, 40}


def _sqlite_plan(engine: Engine, stmt: ClauseElement) -> str:
    """SQLite's query plan for a statement, its steps joined in one line."""
    with engine.connect() as conn:
        sql = str(stmt.compile(conn, compile_kwargs={"literal_binds": True}))
        return " ".join(str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


def test_composite_key_lookup_uses_the_primary_key_index_on_sqlite(sqlite_store: Engine) -> None:
    """A page's link lookup must not scan the whole link table (it did, and full syncs grew quadratically)."""
    links = repo.table(t.EngagementContact)
    cond = repo.keys_in([links.c.engagement_type, links.c.engagement_id], [("call", 1), ("call", 2)])
    plan = _sqlite_plan(sqlite_store, select(links.c.contact_id).where(cond))
    assert "SCAN engagement_contacts" not in plan
    assert "USING" in plan
    assert "INDEX" in plan


def test_migrations_match_the_models(store: Engine) -> None:
    """The migrated schema is exactly what the table models declare (no change left to autogenerate)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    with store.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diffs == []


def test_pending_write_back_rows_are_paged_without_sorting_them_all(sqlite_store: Engine) -> None:
    """Each write-back batch reads the next 100 pending rows off an index; it used to sort every pending row."""
    assert "TEMP B-TREE" not in _sqlite_plan(sqlite_store, pending_query(after=5))


def test_a_full_recompute_leaves_postgresql_with_planner_statistics(store: Engine) -> None:
    """A fresh store's tables have never been sampled (PostgreSQL's reltuples -1: the planner guesses, and picks
    sequential scans for key lookups); a full KPI recompute samples them all. SQLite keeps no such statistics."""
    if store.dialect.name != "postgresql":
        pytest.skip("SQLite plans these queries without statistics")

    def never_sampled() -> list[str]:
        with store.connect() as conn:
            return [
                r[0]
                for r in conn.exec_driver_sql(
                    "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
                    " AND relname <> 'alembic_version' AND reltuples < 0"
                )
            ]

    assert "engagements" in never_sampled()
    refresh(store, KpiConfig(), 1_764_000_000_000, full=True)
    assert never_sampled() == []
