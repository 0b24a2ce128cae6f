"""Contacts and deals merged in HubSpot: the merged-away record goes, and its KPI effect moves to the survivor,
in the first incremental cycle after the merge (not at the nightly reconcile)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine, func, select

from sandbox.harness import RunningSandbox
from sandbox.objtypes import STANDARD
from service.report import load_aggregates
from storage import repo
from storage import tables as t
from sync.refresh.contacts import refresh
from tests.helpers import contact_values, cycle, settings_for

LINKS = repo.table(t.EngagementContact).c


def _reached_contacts(engine: Engine, n: int) -> list[int]:
    """The live contacts with the most calls, most first."""
    contacts = repo.table(t.Contact).c
    with engine.connect() as conn:
        stmt = (
            select(LINKS.contact_id)
            .join(repo.table(t.Contact), contacts.id == LINKS.contact_id)
            .where(LINKS.engagement_type == "call", contacts.archived.is_(False))
            .group_by(LINKS.contact_id)
            .order_by(func.count().desc(), LINKS.contact_id)
            .limit(n)
        )
        return list(conn.execute(stmt).scalars())


def _calls_of(engine: Engine, contact_id: int) -> set[int]:
    with engine.connect() as conn:
        stmt = select(LINKS.engagement_id).where(LINKS.contact_id == contact_id, LINKS.engagement_type == "call")
        return set(conn.execute(stmt).scalars())


def _state(engine: Engine) -> tuple[Any, ...]:
    return load_aggregates(engine), contact_values(engine)


def test_a_contact_merge_moves_its_kpis_to_the_survivor_in_one_incremental_cycle(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """After HubSpot merges two reached contacts and one plain incremental cycle: the merged-away contact is
    archived, its calls are the survivor's, and the KPIs equal a recompute from scratch."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    survivor, merged = _reached_contacts(store, 2)
    moved = _calls_of(store, merged)
    before = _state(store)

    sandbox.merge("contacts", survivor, merged)
    summary = cycle(store, settings)

    assert [k for k in summary.counts.pull.pages if not k.startswith("search:")] == []
    assert summary.counts.pull.merged == {"contacts": 1}
    with store.connect() as conn:
        archived = conn.execute(select(repo.table(t.Contact).c.archived).where(repo.table(t.Contact).c.id == merged))
        assert archived.scalar_one() is True
    assert moved <= _calls_of(store, survivor)
    assert _calls_of(store, merged) == set()
    calls = STANDARD["calls"]
    assert all(survivor in sandbox.portal.associated(calls, [c], STANDARD["contacts"])[c] for c in moved)
    incremental = _state(store)
    assert incremental != before
    refresh(store, settings.kpi_config(), int(time.time() * 1000), full=True)
    assert _state(store) == incremental


def test_a_deal_merge_archives_the_merged_away_deal_in_one_incremental_cycle(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """After HubSpot merges two deals and one plain incremental cycle, the merged-away deal is archived and the
    KPIs equal a recompute from scratch."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    deals = repo.table(t.Deal).c
    with store.connect() as conn:
        survivor, merged = conn.execute(select(deals.id).where(deals.archived.is_(False)).order_by(deals.id).limit(2))
    sandbox.merge("deals", survivor[0], merged[0])
    summary = cycle(store, settings)

    assert summary.counts.pull.merged == {"deals": 1}
    with store.connect() as conn:
        assert conn.execute(select(deals.archived).where(deals.id == merged[0])).scalar_one() is True
    incremental = _state(store)
    refresh(store, settings.kpi_config(), int(time.time() * 1000), full=True)
    assert _state(store) == incremental


def test_merged_ids_of_a_first_load_are_already_gone_and_change_nothing(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A portal whose merges happened before the first load: the survivor names ids kpi-sync never stored."""
    table = STANDARD["contacts"].table
    contacts = sorted(int(r[0]) for r in sandbox.portal.query(f"SELECT id FROM {table} WHERE archived = 0"))
    sandbox.merge("contacts", contacts[0], contacts[1])
    summary = cycle(sqlite_store, settings_for(sandbox, sqlite_url, writeback_enabled=False))

    assert summary.counts.pull.merged == {}
    assert summary.outcome == "ok"
