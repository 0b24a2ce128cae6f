"""Fewer re-reads: a change is searched fresh and once more when settled, kpi-sync's own write-back once, settled.

Cycles run a second apart inside a 3 s overlap, as a worker at a 1-minute interval runs inside the default 300 s
one: what the cycles fetch and the search pages the sandbox answers are counted across them.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter

from sqlalchemy import Engine

from kpi.rows import parse_timestamp
from sandbox.harness import RunningSandbox, run_sandbox
from service.settings import Settings
from sync import own_writes
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.progress import Snapshot
from sync.runs import RunOutcome
from tests.helpers import TOKEN, cycle, mismatched, settings_for, stored, truth

OVERLAP_S = 3
CYCLES = 6  # a second apart: more than the overlap and the write-back's padding after the first


def cycles_a_second_apart(engine: Engine, sb: RunningSandbox, settings: Settings) -> list[tuple[RunSummary, int]]:
    """CYCLES cycles a second apart; each with the contacts search requests the sandbox answered during it."""
    out = []
    for _ in range(CYCLES):
        time.sleep(1)
        sb.reset_stats()
        summary = cycle(engine, settings)
        out.append((summary, int(sb.stats()["by_object"].get("contacts", 0))))
    return out


def test_kpi_syncs_own_write_back_is_searched_once(sandbox: RunningSandbox, store: Engine, store_url: str) -> None:
    """After a full write-back, the written contacts come back through search in the cycles that follow once in
    all: each is fetched by one cycle, one search page per 200 of them (plus a page per cycle for what is new)."""
    settings = settings_for(sandbox, store_url, sync_overlap_seconds=OVERLAP_S)
    written = cycle(store, settings).counts.push.contacts_written
    assert written > 200
    after = cycles_a_second_apart(store, sandbox, settings)
    fetched = [s.counts.pull.fetched["contacts"] for s, _ in after]
    assert sum(fetched) == written, fetched
    pages = [s.counts.pull.pages["search:contacts"] for s, _ in after]
    assert sum(pages) <= CYCLES + -(-written // 200) + 1, pages  # a split across two cycles costs one page more
    assert [calls for _, calls in after] == pages  # every contacts request the sandbox saw was one of those pages
    assert all(s.counts.push.write_calls == 0 for s, _ in after)
    assert stored(store) == truth(sandbox)


def test_changes_by_others_are_fetched_at_most_twice_at_a_sub_overlap_interval(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Cycles closer together than the overlap fetch each changed record twice at most: fresh, then once settled;
    every change arrives."""
    settings = settings_for(sandbox, sqlite_url, sync_overlap_seconds=OVERLAP_S, writeback_enabled=False)
    cycle(sqlite_store, settings)
    changes = sandbox.simulate(minutes=30, seed=1)
    gone = {o: set(ids) for o, ids in changes["archived"].items()}
    searchable = {o: sorted(set(ids) - gone.get(o, set())) for o, ids in _union(changes["created"], changes["updated"])}
    after = cycles_a_second_apart(sqlite_store, sandbox, settings)
    fetched: Counter[str] = Counter()
    for summary, _ in after:
        fetched.update(summary.counts.pull.fetched)
    for object_type, ids in searchable.items():
        assert ids
        assert len(ids) <= fetched[object_type] <= 2 * len(ids), object_type
    assert mismatched(sqlite_store, sandbox, searchable) == {}


def _union(*named: dict[str, list[str]]) -> list[tuple[str, set[str]]]:
    out: dict[str, set[str]] = {}
    for ids in named:
        for object_type, some in ids.items():
            out.setdefault(object_type, set()).update(some)
    return sorted(out.items())


def test_a_persons_edit_during_the_write_back_hidden_by_the_index_lag_arrives_later(
    sqlite_store: Engine, sqlite_url: str
) -> None:
    """A contact someone edits while kpi-sync writes back lies in the write-back's interval, which the next cycles
    skip until it settles (and the index lag hides it meanwhile): it is read then, and the store equals HubSpot."""
    with run_sandbox(seed=9, size="small", token=TOKEN, index_lag_ms=1500) as sb:
        settings = settings_for(sb, sqlite_url, sync_overlap_seconds=OVERLAP_S, writeback_snapshots=False)
        edit = PersonEdits(sb)
        summary = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions(), observers=[edit])
        assert summary.outcome is RunOutcome.OK, summary.error
        assert edit.contact_id is not None
        edited_at = next(int_ms(r) for r in sb.export("contacts") if r["id"] == edit.contact_id)
        with sqlite_store.connect() as conn:
            assert any(lo <= edited_at < hi for lo, hi in own_writes.load(conn)), "the edit is not inside the interval"
        named = {"contacts": [edit.contact_id]}
        cycle(sqlite_store, settings)
        assert mismatched(sqlite_store, sb, named) == {"contacts": [int(edit.contact_id)]}  # not read yet
        time.sleep(OVERLAP_S + 0.1)
        cycle(sqlite_store, settings)
        assert mismatched(sqlite_store, sb, named) == {}
        assert stored(sqlite_store) == truth(sb)


class PersonEdits:
    """An observer that, once the write-back has reported its second batch, edits a contact in HubSpot as a person
    would (a PATCH of its first name)."""

    def __init__(self, sb: RunningSandbox) -> None:
        self.sb = sb
        self.contact_id: str | None = None

    def __call__(self, snapshot: Snapshot) -> None:
        if self.contact_id is not None or snapshot.phase != "push":
            return
        if snapshot.objects.get("push:contacts") is None or snapshot.objects["push:contacts"].pages < 2:
            return
        self.contact_id = next(str(r["id"]) for r in self.sb.export("contacts") if not r.get("archived"))
        body = b'{"properties": {"firstname": "Edited"}}'
        request = urllib.request.Request(  # noqa: S310 - the local sandbox
            f"{self.sb.base_url}/crm/v3/objects/contacts/{self.contact_id}",
            data=body,
            method="PATCH",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.sb.token}"},
        )
        with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - the local sandbox
            pass


def int_ms(record: dict[str, object]) -> int:
    """A sandbox record's `lastmodifieddate`, in epoch ms."""
    properties = record["properties"]
    assert isinstance(properties, dict)
    parsed = parse_timestamp(properties["lastmodifieddate"])
    assert parsed is not None
    return int(parsed)
