"""The pull -> KPI -> write-back cycle against the sandbox, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
import urllib.request

import pytest
from sqlalchemy import Engine, delete, select, update

from sandbox.harness import RunningSandbox
from storage import repo
from storage import tables as t
from sync.cycle import CycleOptions, run_cycle
from sync.properties import CONTACT_PROPERTIES
from sync.refresh.contacts import refresh
from sync.runs import RunOutcome
from tests.helpers import SETTLE_S, api_calls, cycle, kpi_mismatches, mismatched, settings_for, stored, truth


def test_full_sync_stores_exactly_what_hubspot_serves(sandbox: RunningSandbox, store: Engine, store_url: str) -> None:
    """Ids, modification times and contact links of every live record match the portal after a first run."""
    cycle(store, settings_for(sandbox, store_url, writeback_enabled=False))
    assert stored(store) == truth(sandbox)


def test_incremental_picks_up_activity_and_reconcile_catches_deletes_and_reassociations(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """New and changed records arrive by search; archived and re-associated ones by the reconcile."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    changes = sandbox.simulate(minutes=120, seed=3)
    assert changes["archived"]
    assert changes["reassociated"]
    unsearchable = _union(changes["archived"], changes["reassociated"])  # search cannot show either
    cycle(store, settings)
    assert mismatched(store, sandbox, _minus(_union(changes["created"], changes["updated"]), unsearchable)) == {}
    stale = _minus(unsearchable, changes["created"])  # one created meanwhile was read as it is now
    assert mismatched(store, sandbox, stale) == {k: sorted(map(int, v)) for k, v in stale.items() if v}
    cycle(store, settings, reconcile=True)
    assert stored(store) == truth(sandbox)


def _union(*named: dict[str, list[str]]) -> dict[str, list[str]]:
    out: dict[str, set[str]] = {}
    for ids in named:
        for object_type, some in ids.items():
            out.setdefault(object_type, set()).update(some)
    return {k: sorted(v) for k, v in out.items()}


def _minus(named: dict[str, list[str]], drop: dict[str, list[str]]) -> dict[str, list[str]]:
    return {k: [i for i in v if i not in set(drop.get(k, []))] for k, v in named.items()}


def test_quiet_second_run_costs_a_handful_of_calls_and_writes_nothing(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """With no HubSpot changes, a cycle spends one search per object and makes no write call."""
    settings = settings_for(sandbox, store_url)
    cycle(store, settings)
    time.sleep(SETTLE_S)  # our own write-back settles
    cycle(store, settings)  # reads back our own writes: must not write again
    sandbox.reset_stats()
    summary = cycle(store, settings)
    by_route = sandbox.stats()["by_route"]
    assert api_calls(sandbox) <= 8
    assert summary.counts.push.write_calls == 0
    assert not [r for r in by_route if "batch/update" in r]


def test_records_sharing_one_millisecond_sync_completely(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """25,000 contacts stamped with one modification time all arrive, each once, without a loop."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    cycle(sqlite_store, settings)
    sandbox.bulk_import("contacts", 25_000)
    summary = cycle(sqlite_store, settings)
    assert stored(sqlite_store)["contacts"] == truth(sandbox)["contacts"]
    assert summary.counts.pull.pages["search:contacts"] <= 25_000 // 200 + 3


def test_search_index_lag_loses_nothing(sqlite_store: Engine, sqlite_url: str) -> None:
    """Changes invisible to search when a run starts are read by the first run starting an overlap after them (when
    the index must hold them; a run sooner would not settle them, so it does not read them again)."""
    from sandbox.harness import run_sandbox
    from tests.helpers import TOKEN

    with run_sandbox(seed=9, size="small", token=TOKEN, index_lag_ms=1500) as sb:
        settings = settings_for(sb, sqlite_url, sync_overlap_seconds=3, writeback_enabled=False)
        cycle(sqlite_store, settings)
        changes = sb.simulate(minutes=30, seed=1)
        searchable = _minus(
            _union(changes["created"], changes["updated"]), _union(changes["archived"], changes["reassociated"])
        )
        cycle(sqlite_store, settings)  # runs inside the lag: sees little or nothing
        assert mismatched(sqlite_store, sb, searchable)  # the lag did hide changes from this run
        time.sleep(3.1)  # the overlap: past the lag (1.5 s), and past what settles the changes
        cycle(sqlite_store, settings)
        assert mismatched(sqlite_store, sb, searchable) == {}


def test_property_group_and_properties_are_created_once(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """The first cycle creates the group and the twelve properties; the second creates nothing."""
    settings = settings_for(sandbox, sqlite_url)
    first = cycle(sqlite_store, settings)
    second = cycle(sqlite_store, settings)
    assert sorted(first.counts.push.created) == sorted(["group:sales_kpis", *[p["name"] for p in CONTACT_PROPERTIES]])
    assert second.counts.push.created == []


def test_written_values_equal_the_kpi_rows(sandbox: RunningSandbox, store: Engine, store_url: str) -> None:
    """What HubSpot holds in the kpi_* properties is exactly what the KPI engine computed."""
    cycle(store, settings_for(sandbox, store_url))
    compared, wrong = kpi_mismatches(store, sandbox)
    assert compared
    assert wrong == set()


def test_conflicting_property_is_reported_and_not_written(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A kpi_* property that exists with another type is reported, left alone, and not written: the run is partial."""
    from hubspot import HubSpot

    properties = HubSpot(access_token=sandbox.token, host=sandbox.base_url).crm.properties
    properties.groups_api.create("contacts", {"name": "legacy", "label": "Legacy"})
    properties.core_api.create(
        "contacts",
        {"name": "kpi_sales_touches", "label": "Touches", "type": "string", "fieldType": "text", "groupName": "legacy"},
    )
    summary = run_cycle(sqlite_store, settings_for(sandbox, sqlite_url).cycle_config(), CycleOptions())
    assert summary.outcome is RunOutcome.PARTIAL
    assert summary.counts.push.conflicts == ["kpi_sales_touches"]
    values = {r["properties"].get("kpi_sales_touches") for r in sandbox.export("contacts")}
    assert values <= {None, ""}


def test_partial_batch_failures_are_retried_next_cycle(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Contacts HubSpot refused in a 207 stay pending and are written by the next cycle."""
    settings = settings_for(sandbox, sqlite_url)
    sandbox.set_faults(rate_partial=0.3, seed=5)
    first = cycle(sqlite_store, settings)
    assert first.counts.push.failed
    sandbox.set_faults()
    cycle(sqlite_store, settings)
    with sqlite_store.connect() as conn:
        pending = conn.execute(
            select(repo.table(t.ContactKpi).c.contact_id).where(repo.table(t.ContactKpi).c.push_pending.is_(True))
        ).all()
    assert pending == []


def test_a_contact_deleted_before_its_write_is_archived_not_retried_every_cycle(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A 207 OBJECT_NOT_FOUND for a contact HubSpot really lost archives it locally at once (no retry each cycle
    until the nightly reconcile), while a contact that still exists stays pending."""
    settings = settings_for(sandbox, sqlite_url)
    cycle(sqlite_store, settings)
    kpis, ledger = repo.table(t.ContactKpi), repo.table(t.WriteLedger)
    with sqlite_store.begin() as conn:
        gone, kept = conn.execute(select(ledger.c.contact_id).order_by(ledger.c.contact_id).limit(2)).scalars()
        conn.execute(delete(ledger).where(ledger.c.contact_id == gone))  # its values must be written again
        conn.execute(update(kpis).where(kpis.c.contact_id == gone).values(push_pending=True))
    request = urllib.request.Request(  # noqa: S310 - the local sandbox
        f"{sandbox.base_url}/crm/objects/2026-09/contacts/{gone}",
        method="DELETE",
        headers={"Authorization": f"Bearer {sandbox.token}"},
    )
    urllib.request.urlopen(request).close()  # noqa: S310 - the local sandbox

    summary = cycle(sqlite_store, settings)

    assert summary.counts.push.failed == {"OBJECT_NOT_FOUND": 1}
    assert summary.counts.push.deleted_meanwhile == 1
    with sqlite_store.connect() as conn:
        contacts = repo.table(t.Contact)
        rows = conn.execute(select(contacts.c.id, contacts.c.archived).where(contacts.c.id.in_([gone, kept])))
        archived = {row.id: row.archived for row in rows}
    assert archived == {gone: True, kept: False}
    assert cycle(sqlite_store, settings).counts.push.write_calls == 0


def test_dry_run_writes_nothing(sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str) -> None:
    """A dry run computes and lists the writes, and sends none."""
    summary = cycle(sqlite_store, settings_for(sandbox, sqlite_url), dry_run=True)
    routes = sandbox.stats()["by_route"]
    assert summary.preview.changes
    assert not [r for r in routes if r.startswith("POST") and ("batch/update" in r or "properties" in r)]


def test_bad_token_stops_the_run_with_a_clear_message(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A 401 fails the cycle at once, names the token, and never shows it."""
    settings = settings_for(sandbox, sqlite_url, hubspot_access_token="pat-na1-wrong-token-value")
    summary = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions())
    assert summary.outcome == "failed"
    assert "HUBSPOT_ACCESS_TOKEN" in (summary.error or "")
    assert "wrong-token" not in (summary.error or "")
    assert summary.api_calls == 1


def test_incremental_recompute_equals_full_recompute(sandbox: RunningSandbox, store: Engine, store_url: str) -> None:
    """After several rounds of activity, recomputing everything gives the very same KPI rows, on both databases."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    for seed in (1, 2, 3):
        sandbox.simulate(minutes=90, seed=seed)
        cycle(store, settings)
    cycle(store, settings, reconcile=True)

    def snapshot() -> tuple[dict[int, dict[str, str]], dict[tuple[str, ...], dict[str, object]]]:
        with store.connect() as conn:
            k = repo.table(t.ContactKpi).c
            a = repo.table(t.KpiAggregate).c
            contacts: dict[int, dict[str, str]] = {r[0]: r[1] for r in conn.execute(select(k.contact_id, k.properties))}
            aggs: dict[tuple[str, ...], dict[str, object]] = {
                (r[0], r[1], r[2], r[3]): r[4]
                for r in conn.execute(select(a.kpi, a.scope, a.scope_id, a.period, a.metrics))
            }
        return contacts, aggs

    now = int(time.time() * 1000)
    refresh(store, settings.kpi_config(), now)
    incremental = snapshot()
    refresh(store, settings.kpi_config(), now, full=True)
    assert snapshot() == incremental


@pytest.mark.parametrize("objects", [("contacts",), ("calls", "deals")])
def test_full_resync_of_some_objects_reloads_only_those(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, objects: tuple[str, ...]
) -> None:
    """A `--full --objects` resync lists only the objects asked for."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    cycle(sqlite_store, settings)
    summary = cycle(sqlite_store, settings, full=True, objects=objects)
    assert {k.split(":", 1)[1] for k in summary.counts.pull.pages if k.startswith("list:")} == set(objects)


def test_daily_limit_stops_cleanly_and_the_next_run_catches_up(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A DAILY 429 stops the cycle with a resume time; once the quota is back the next cycle ends exact."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    sandbox.settings(throttle=True, daily_limit=20)
    stopped = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions())
    assert stopped.outcome == "stopped"
    assert stopped.resume_at_ms is not None
    assert stopped.resume_at_ms > int(time.time() * 1000)
    # Never retried against a DAILY limit: the 20 allowed, and each request in flight when it hit refused once.
    assert stopped.api_calls <= 20 + settings.hubspot_max_in_flight
    sandbox.settings(throttle=False)
    cycle(sqlite_store, settings)
    cycle(sqlite_store, settings)
    assert stored(sqlite_store) == truth(sandbox)
