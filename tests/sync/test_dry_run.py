"""A dry run is read-only for the store and for HubSpot, shows old -> new values with totals, and is recorded as one.

Each scenario first syncs the portal for real, then lets it move on (the sandbox's simulated activity), so that the
dry run has records to pull and KPI values to change.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlmodel import SQLModel

from sandbox.harness import RunningSandbox, run_sandbox
from storage import repo
from storage import tables as t
from storage.engine import open_store
from sync import runs
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.runs import RunKind, RunOutcome
from tests.helpers import SETTLE_S, TOKEN, cycle, kpi_mismatches, settings_for

HISTORY = "sync_runs"  # the one table a dry run writes: its own row
READS = ("/search", "/batch/read")  # POSTs that only read


def dump(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table but the run history, in a stable order."""
    out = {}
    with engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            if table.name != HISTORY:
                out[table.name] = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
    return out


def ledger(engine: Engine) -> dict[int, dict[str, str]]:
    """What the write-back ledger says HubSpot was last given, per contact."""
    table = repo.table(t.WriteLedger)
    with engine.connect() as conn:
        return {r.contact_id: dict(r.written or {}) for r in conn.execute(select(table.c.contact_id, table.c.written))}


def writes(sb: RunningSandbox) -> dict[str, dict[str, int]]:
    """The calls HubSpot got that could change something: anything but a GET, a search or a batch read."""
    return {r: n for r, n in sb.stats()["by_route"].items() if not r.startswith("GET ") and not r.endswith(READS)}


def dry_run(engine: Engine, sb: RunningSandbox, url: str, **options: Any) -> RunSummary:
    """A dry run that ended well."""
    summary = run_cycle(engine, settings_for(sb, url).cycle_config(), CycleOptions(dry_run=True, **options))
    assert summary.outcome is RunOutcome.OK, summary.error
    return summary


def moved_on(engine: Engine, sb: RunningSandbox, url: str) -> None:
    """Sync the portal for real, then let an afternoon of activity happen in HubSpot."""
    cycle(engine, settings_for(sb, url))
    sb.simulate(minutes=240, seed=5)
    sb.reset_stats()


def test_a_dry_run_leaves_every_table_but_the_history_as_it_was(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """After a dry run that pulled records and would change values, every table but the run history is unchanged
    (full dumps compared, SQLite and PostgreSQL), HubSpot got no write, and the run is recorded as a dry run."""
    moved_on(store, sandbox, store_url)
    before = dump(store)
    summary = dry_run(store, sandbox, store_url)
    assert summary.counts.records_pulled > 0
    assert summary.preview.contacts > 0
    assert dump(store) == before
    assert writes(sandbox) == {}
    recorded = runs.get_run(store, summary.run_id)
    assert recorded is not None
    assert (recorded.kind, recorded.outcome) == (RunKind.DRY_RUN, RunOutcome.OK)
    assert recorded.counts.push.would_write_values == summary.preview.values


def test_a_full_dry_run_leaves_the_store_as_it_was(sandbox: RunningSandbox, store: Engine, store_url: str) -> None:
    """A dry run with a full reload and a full KPI recompute (cursors reset, planner statistics asked for on
    PostgreSQL) keeps nothing either."""
    moved_on(store, sandbox, store_url)
    before = dump(store)
    summary = dry_run(store, sandbox, store_url, full=True, recompute_all=True)
    assert summary.counts.kpis.contacts > 0
    assert dump(store) == before


def test_the_diff_shows_old_and_new_values_of_changed_contacts(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Each value shown is the one HubSpot was last given (old) and the one the next real run writes (new); some
    contact had an earlier value that changes."""
    moved_on(sqlite_store, sandbox, sqlite_url)
    old = ledger(sqlite_store)
    shown = dry_run(sqlite_store, sandbox, sqlite_url, preview_limit=None).preview.changes
    assert any(c.old is not None and c.old != c.new for c in shown)
    cycle(sqlite_store, settings_for(sandbox, sqlite_url))
    new = ledger(sqlite_store)
    assert [(c.old, c.new) for c in shown] == [
        (old.get(c.contact_id, {}).get(c.property), new[c.contact_id][c.property]) for c in shown
    ]
    assert kpi_mismatches(sqlite_store, sandbox)[1] == set()


def test_the_totals_count_every_contact_and_value_beyond_the_limit(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """With a limit of 3, three contacts are shown, and the totals are what the next real run writes."""
    moved_on(sqlite_store, sandbox, sqlite_url)
    preview = dry_run(sqlite_store, sandbox, sqlite_url, preview_limit=3).preview
    written = cycle(sqlite_store, settings_for(sandbox, sqlite_url)).counts.push
    assert written.contacts_written > 3
    assert (preview.shown, preview.contacts, preview.values) == (3, written.contacts_written, written.values_written)
    assert len({c.contact_id for c in preview.changes}) == 3
    assert (
        preview.headline()
        == f"3 of {written.contacts_written:,} contacts shown, {written.values_written:,} values change"
    )


@pytest.fixture
def control() -> Iterator[RunningSandbox]:
    """A second portal, the same as the `sandbox` fixture's."""
    with run_sandbox(seed=7, size="small", token=TOKEN, index_lag_ms=0) as sb:
        yield sb


def test_the_next_real_run_is_as_if_the_dry_run_never_happened(
    sandbox: RunningSandbox, control: RunningSandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two equal portals synced alike; one gets a dry run. Their next real runs find the same records changed,
    recompute the same contacts, send the same calls and write the same values."""
    urls = [f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.db'}" for _ in range(2)]
    engines = [open_store(url) for url in urls]
    try:
        for engine, sb, url in zip(engines, (sandbox, control), urls, strict=True):
            moved_on(engine, sb, url)
        dry_run(engines[0], sandbox, urls[0])
        time.sleep(SETTLE_S)  # both portals' write-back settled: the next runs read it alike, however long each took
        sandbox.reset_stats()
        after = [cycle(e, settings_for(sb, u)) for e, sb, u in zip(engines, (sandbox, control), urls, strict=True)]
        for section in ("pull", "kpis", "push"):  # what changed, what was recomputed, what was written
            assert after[0].counts.to_json()[section] == after[1].counts.to_json()[section], section
        assert sandbox.stats()["by_route"] == control.stats()["by_route"]
        assert kpi_values(sandbox) == kpi_values(control)
    finally:
        for engine in engines:
            engine.dispose()


def kpi_values(sb: RunningSandbox) -> dict[int, dict[str, Any]]:
    """The kpi_* properties HubSpot holds per contact; of times only whether they are set (two portals' simulated
    activity happens at their own wall-clock times)."""
    return {
        int(r["id"]): {
            k: bool(v) if k.endswith("_at") else v for k, v in r["properties"].items() if k.startswith("kpi_")
        }
        for r in sb.export("contacts")
    }
