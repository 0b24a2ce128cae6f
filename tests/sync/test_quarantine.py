"""Quarantine, not blockade: a value no store can hold (NUL, a lone surrogate, bytes that are not UTF-8, nesting too
deep) in a record, an owner or a stage costs that value or that record, counted and logged by id and field; the rest
of its page is stored, the cycle ends ok, and once HubSpot answers cleanly again the next cycle's store equals a clean
run's. Owners are stored page by page. Through the sandbox's `poison` faults, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox
from storage import repo
from storage import tables as t
from storage.engine import open_store
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.runs import RunOutcome
from tests.helpers import settings_for

pytestmark = pytest.mark.timeout(120)

SYNCED = (t.Contact, t.Deal, t.Engagement, t.DealContact, t.EngagementContact, t.Owner, t.DealStage)


def synced_rows(engine: Engine) -> dict[str, list[str]]:
    """Every synced row, all columns but `seen_at` (the time of the pass that saw it), in a comparable order."""
    out = {}
    with engine.connect() as conn:
        for model in SYNCED:
            tbl = repo.table(model)
            cols = [c for c in tbl.columns if c.name != "seen_at"]
            out[tbl.name] = sorted(repr(tuple(r)) for r in conn.execute(select(*cols)))
    return out


def run(engine: Engine, sb: RunningSandbox) -> RunSummary:
    """One cycle without write-back (which would change the portal a clean run is compared with)."""
    settings = settings_for(sb, str(engine.url.render_as_string(hide_password=False)), writeback_enabled=False)
    return run_cycle(engine, settings.cycle_config(), CycleOptions())


@pytest.fixture
def clean_run(sandbox: RunningSandbox, tmp_path: Path) -> dict[str, list[str]]:
    """What a clean first cycle stores from the sandbox as it is now."""
    engine = open_store(f"sqlite:///{tmp_path / 'clean.db'}")
    try:
        assert run(engine, sandbox).outcome is RunOutcome.OK
        return synced_rows(engine)
    finally:
        engine.dispose()


def quarantine_lines(logs: Sequence[MutableMapping[str, Any]], object_type: str) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e["event"] == "records_quarantined" and e["object_type"] == object_type]


@pytest.mark.parametrize(
    ("object_type", "poison"),
    [("contacts", "nul"), ("deals", "surrogate"), ("calls", "utf8"), ("deals", "nesting"), ("emails", "nesting")],
)
def test_a_record_no_store_can_hold_is_quarantined_and_its_page_stored(
    sandbox: RunningSandbox, store: Engine, clean_run: dict[str, list[str]], object_type: str, poison: str
) -> None:
    """The first record of every page of a type holds NUL, a lone surrogate or invalid UTF-8 in every property (it is
    stored without those values), or nesting 5,000 deep (it is not stored): the first cycle ends ok with one such
    record counted and logged per page, all other records stored; with the fault gone, the next cycle's store equals
    a clean run's."""
    sandbox.set_faults(poison_types=[object_type], poison=poison)
    with capture_logs() as logs:
        summary = run(store, sandbox)
    assert summary.outcome is RunOutcome.OK, summary.error
    pages = summary.counts.pull.pages[f"list:{object_type}"]
    assert summary.counts.pull.parse.quarantined[object_type] == pages
    lines = quarantine_lines(logs, object_type)
    assert len(lines) == pages
    assert all(line["count"] == 1 and line["records"][0]["id"] is not None for line in lines)
    table = repo.table({"contacts": t.Contact, "deals": t.Deal}.get(object_type, t.Engagement)).name
    stored = synced_rows(store)[table]
    assert len(set(clean_run[table]) - set(stored)) == pages  # the others are stored as a clean run stores them
    assert len(stored) == len(clean_run[table]) - (pages if poison == "nesting" else 0)
    sandbox.set_faults()
    assert run(store, sandbox).outcome is RunOutcome.OK
    assert synced_rows(store) == clean_run


@pytest.mark.parametrize("poison", ["nul", "utf8", "nesting"])
def test_a_changed_record_no_store_can_hold_is_read_again_once_clean(
    sandbox: RunningSandbox, store: Engine, tmp_path: Path, poison: str
) -> None:
    """Incremental search: after two hours of portal activity, the first changed deal and call of every search page
    carry a bad value; the cycle ends ok with them counted; once clean, the next cycle reads them again by id and the
    store equals that of a twin that ran the same cycles without the fault."""
    twin = open_store(f"sqlite:///{tmp_path / 'twin.db'}")
    try:
        for engine in (store, twin):
            assert run(engine, sandbox).outcome is RunOutcome.OK
        sandbox.simulate(minutes=120, seed=3)
        sandbox.set_faults(poison_types=["deals", "calls"], poison=poison)
        summary = run(store, sandbox)
        assert summary.outcome is RunOutcome.OK, summary.error
        assert summary.counts.pull.parse.quarantined["calls"] >= 1
        sandbox.set_faults()
        assert run(twin, sandbox).outcome is RunOutcome.OK
        assert synced_rows(store) != synced_rows(twin)  # the quarantined values are missing
        healed = run(store, sandbox)
        assert healed.counts.api.calls["read:calls"] >= 1
        assert synced_rows(store) == synced_rows(twin)
    finally:
        twin.dispose()


@pytest.mark.parametrize("poison", ["nul", "utf8", "nesting"])
def test_an_owner_whose_id_no_store_can_hold_is_dropped_and_counted(
    sandbox: RunningSandbox, store: Engine, clean_run: dict[str, list[str]], poison: str
) -> None:
    """The first owner of each owners answer (active, archived) has a bad id: it is dropped and counted, every other
    owner stored, the cycle ok; with the fault gone the next cycle reads owners again (not an hour later)."""
    sandbox.set_faults(poison_types=["owners"], poison=poison, poison_field="id")
    summary = run(store, sandbox)
    assert summary.outcome is RunOutcome.OK, summary.error
    dropped = summary.counts.pull.parse.quarantined["owners"]
    assert dropped >= 1
    assert len(synced_rows(store)["owners"]) == len(clean_run["owners"]) - dropped
    sandbox.set_faults()
    assert run(store, sandbox).outcome is RunOutcome.OK
    assert synced_rows(store) == clean_run


@pytest.mark.parametrize("poison", ["surrogate"])
def test_an_owners_names_no_store_can_hold_are_left_empty(sandbox: RunningSandbox, store: Engine, poison: str) -> None:
    """Every text of the first owner of each answer but its id is bad: the owner is stored without them, counted."""
    sandbox.set_faults(poison_types=["owners"], poison=poison, poison_field="firstName")
    summary = run(store, sandbox)
    assert summary.outcome is RunOutcome.OK, summary.error
    assert summary.counts.pull.parse.quarantined["owners"] >= 1
    with store.connect() as conn:
        names = [r.first_name for r in conn.execute(select(repo.table(t.Owner)))]
    assert None in names


@pytest.mark.parametrize("poison", ["nul", "surrogate"])
def test_a_stage_label_no_store_can_hold_is_cleaned_and_its_deals_stored(
    sandbox: RunningSandbox, store: Engine, clean_run: dict[str, list[str]], poison: str
) -> None:
    """The first stage's label carries a bad value: the stage is stored with the label cleaned (NUL removed, the rest
    as U+FFFD), counted; every deal is stored; with the fault gone the next cycle stores the label as HubSpot has it."""
    sandbox.set_faults(poison_types=["pipelines"], poison=poison, poison_field="label")
    summary = run(store, sandbox)
    assert summary.outcome is RunOutcome.OK, summary.error
    assert summary.counts.pull.parse.quarantined["stages"] == 1
    rows = synced_rows(store)
    assert len(rows["deal_stages"]) == len(clean_run["deal_stages"])
    assert rows["deals"] == clean_run["deals"]
    with store.connect() as conn:
        labels = [r.label for r in conn.execute(select(repo.table(t.DealStage)))]
    assert sum("\x00" in label or "\ufffd" in label for label in labels) == (poison != "nul")
    sandbox.set_faults()
    assert run(store, sandbox).outcome is RunOutcome.OK
    assert synced_rows(store) == clean_run


def test_a_stage_whose_id_no_store_can_hold_is_dropped_and_counted(
    sandbox: RunningSandbox, store: Engine, clean_run: dict[str, list[str]]
) -> None:
    """A NUL in the first stage's id: that stage is dropped and counted, the others and every deal stored."""
    sandbox.set_faults(poison_types=["pipelines"], poison="nul", poison_field="id")
    summary = run(store, sandbox)
    assert summary.outcome is RunOutcome.OK, summary.error
    assert summary.counts.pull.parse.quarantined["stages"] == 1
    rows = synced_rows(store)
    assert len(rows["deal_stages"]) == len(clean_run["deal_stages"]) - 1
    assert rows["deals"] == clean_run["deals"]


def test_owners_are_stored_page_by_page(
    sandbox: RunningSandbox, store: Engine, clean_run: dict[str, list[str]]
) -> None:
    """Owners are stored as each page arrives, not collected first: when the owners paging loops on its second call,
    the first page's owners are already in the store (the cycle fails on the loop)."""
    sandbox.set_faults(repeat_cursor=["owners"])
    summary = run(store, sandbox)
    assert summary.outcome is RunOutcome.FAILED
    owners = synced_rows(store)["owners"]
    assert owners
    assert set(owners) <= set(clean_run["owners"])
