"""Write-back beyond the contact values: per-owner snapshots in a custom object, and writing only what changed."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine, select

from sandbox.harness import RunningSandbox, run_sandbox
from storage import repo
from storage import tables as t
from sync.hubspot.client import HubSpotClient
from sync.properties import CONTACT_PROPERTIES, PROPERTY_GROUP_DEF, SNAPSHOT_OBJECT
from tests.helpers import SETTLE_S, TOKEN, cycle, settings_for


def _owner_months(engine: Engine) -> set[str]:
    agg = repo.table(t.KpiAggregate).c
    owners = repo.table(t.Owner).c
    with engine.connect() as conn:
        known = set(conn.execute(select(owners.id)).scalars())
        rows = conn.execute(select(agg.scope_id, agg.period).where(agg.scope == "owner", agg.period != "all"))
        return {f"{owner}:{period}" for owner, period in rows if owner in known}


def _kpi_properties(engine: Engine) -> dict[int, dict[str, str]]:
    k = repo.table(t.ContactKpi).c
    with engine.connect() as conn:
        return {r.contact_id: dict(r.properties or {}) for r in conn.execute(select(k.contact_id, k.properties))}


def test_one_snapshot_per_owner_and_month_is_upserted_and_kept_current(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """The `sales_kpi_snapshot` custom object gets one record per owner per month, equal to the aggregates;
    an unchanged cycle upserts none, and activity upserts only the months it moved."""
    settings = settings_for(sandbox, sqlite_url)
    first = cycle(sqlite_store, settings)
    expected = _owner_months(sqlite_store)
    records = sandbox.export(SNAPSHOT_OBJECT)
    assert expected
    assert {r["properties"]["snapshot_key"] for r in records} == expected
    assert first.counts.push.snapshots_written == len(expected)
    assert first.counts.push.snapshot_calls == -(-len(expected) // 100)

    time.sleep(SETTLE_S)  # our own write-back settles: read once, by the next cycle
    cycle(sqlite_store, settings)
    assert cycle(sqlite_store, settings).counts.push.snapshot_calls == 0

    sandbox.simulate(minutes=240, seed=4)
    moved = cycle(sqlite_store, settings).counts.push.snapshots_written
    assert 0 < moved < len(expected)
    assert len(sandbox.export(SNAPSHOT_OBJECT)) == len(_owner_months(sqlite_store))


def test_a_portal_without_custom_objects_skips_snapshots_with_one_log_line(
    sqlite_store: Engine, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where the schemas API answers 403 the contact values are still written; snapshots are skipped, said once."""
    with run_sandbox(seed=3, size="small", token=TOKEN, index_lag_ms=0, custom_objects=False) as sb:
        settings = settings_for(sb, sqlite_url)
        summary = cycle(sqlite_store, settings)
        again = cycle(sqlite_store, settings)
    assert summary.counts.push.contacts_written > 0
    assert summary.counts.push.snapshots_written == 0
    assert again.counts.push.snapshot_calls == 0
    assert capsys.readouterr().out.count("snapshots_skipped") == 1


def test_after_activity_only_the_contacts_whose_values_changed_are_written(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """The write-back sends exactly the contacts whose KPI values moved, in as few batches as possible."""
    settings = settings_for(sandbox, store_url)
    cycle(store, settings)
    time.sleep(SETTLE_S)
    cycle(store, settings)
    before = _kpi_properties(store)
    sandbox.simulate(minutes=180, seed=8)
    summary = cycle(store, settings)
    after = _kpi_properties(store)
    moved = {c for c, props in after.items() if props != before.get(c) and any(props.values())}
    assert moved
    assert summary.counts.push.contacts_written == len(moved)
    assert summary.counts.push.write_calls == -(-len(moved) // 100)


def test_a_portal_where_some_properties_exist_gets_only_the_missing_ones(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Properties an earlier install (or another worker) created are left alone; creating one that appeared
    meanwhile answers 409, which counts as done, not as an error."""
    settings = settings_for(sandbox, sqlite_url)
    client = HubSpotClient(settings.hubspot_config())
    assert client.create_property_group("contacts", PROPERTY_GROUP_DEF) is True
    existing = CONTACT_PROPERTIES[:5]
    for definition in existing:
        assert client.create_property("contacts", definition) is True
    assert client.create_property("contacts", existing[0]) is False  # 409: it exists

    summary = cycle(sqlite_store, settings)

    assert sorted(summary.counts.push.created) == sorted(p["name"] for p in CONTACT_PROPERTIES[5:])
    assert summary.counts.push.conflicts == []
