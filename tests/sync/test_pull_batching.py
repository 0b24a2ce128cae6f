"""Incremental search reads contact links for up to five search pages (1,000 records, one v4 batch read) at once
and commits those pages, their links and the cursor together. Call counts are the sandbox's exact counters."""

from __future__ import annotations

import math
import random
import threading

import pytest
from hubspot import HubSpot
from sqlalchemy import Engine, select

from sandbox.harness import RunningSandbox
from storage import repo
from storage import tables as t
from sync.cursor import Cursor
from sync.cycle import CycleOptions, run_cycle
from sync.progress import Snapshot
from tests.helpers import cycle, settings_for, stored, truth

SEARCH = "POST /crm/objects/{version}/{type}/search"
ASSOC_READ = "POST /crm/associations/{version}/{fromType}/{toType}/batch/read"
QUIET_TYPES = 6  # contacts, deals, emails, meetings, notes, tasks: one empty search page each
CALL_TO_CONTACT = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}


def calls_to(sb: RunningSandbox, route: str) -> int:
    """Requests the sandbox answered on `route` (a route template) since its last reset, whatever their status."""
    return sum(sb.stats()["by_route"].get(route, {}).values())


def log_calls(sb: RunningSandbox, n: int, seed: int = 1) -> list[int]:
    """Reps log `n` calls, each with one or two contacts, through the API; returns their ids."""
    rng = random.Random(seed)
    contacts = sorted(r["id"] for r in sb.export("contacts") if not r.get("archived"))
    api = HubSpot(access_token=sb.token, host=sb.base_url).crm.objects.batch_api
    ids: list[int] = []
    for start in range(0, n, 100):
        inputs = [
            {
                "properties": {"hs_timestamp": "2026-01-05T10:00:00.000Z", "hs_call_direction": "OUTBOUND"},
                "associations": [
                    {"to": {"id": c}, "types": [CALL_TO_CONTACT]} for c in rng.sample(contacts, rng.randint(1, 2))
                ],
            }
            for _ in range(start, min(n, start + 100))
        ]
        created = api.create("calls", {"inputs": inputs})
        ids += [int(r.id) for r in created.results]
    return sorted(ids)


@pytest.mark.parametrize(
    ("mode", "changed", "ranges"),
    [("update", 150, 1), ("update", 1_000, 1), ("update", 1_001, 1), ("create", 3_000, 1), ("create", 10_500, 4)],
    ids=["one-page", "five-full-pages", "six-pages", "2000-left", "past-the-search-cap-at-one-millisecond"],
)
def test_changed_records_over_k_search_pages_cost_one_association_read_per_thousand(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, *, mode: str, changed: int, ranges: int
) -> None:
    """N changed calls over k search pages cost k searches and ceil(N / 1,000) association reads, and arrive
    with their contact links. A window with more than 2,000 records left after its first batch reads the rest in
    up to four id ranges side by side: one search more finds the highest id, and each range may end on a part
    page and a part association read."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    cycle(sqlite_store, settings)
    sandbox.bulk_import("calls", changed, mode=mode)
    sandbox.reset_stats()
    summary = cycle(sqlite_store, settings)
    probes = 1 if ranges > 1 else 0
    assert summary.counts.pull.pages["probe:calls"] == probes
    searches = math.ceil(changed / 200) + QUIET_TYPES + probes
    assert searches <= calls_to(sandbox, SEARCH) <= searches + ranges - 1
    assert math.ceil(changed / 1_000) <= calls_to(sandbox, ASSOC_READ) <= math.ceil(changed / 1_000) + ranges - 1
    assert stored(sqlite_store) == truth(sandbox)


def test_a_batch_of_new_calls_and_their_links_is_stored_on_both_dialects(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """1,100 new calls linked to contacts arrive with every link in two association reads, on SQLite and
    PostgreSQL."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    log_calls(sandbox, 1_100)
    sandbox.reset_stats()
    cycle(store, settings)
    assert calls_to(sandbox, ASSOC_READ) == 2
    assert stored(store) == truth(sandbox)


def test_a_run_stopped_inside_a_batch_keeps_the_committed_batches_and_the_next_run_reads_only_the_rest(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A run stopped (HubSpot's DAILY limit) two pages into its second batch of search pages holds exactly the
    first 1,000 new calls with their links; the next run re-reads only the two uncommitted pages and ends exact."""
    # One request at a time: the daily limit below counts the calls in the serial order of the object types.
    # A long overlap: nothing the test writes settles within it, so no run re-reads it settled.
    settings = settings_for(
        sandbox,
        sqlite_url,
        writeback_enabled=False,
        hubspot_search_per_second=5,
        hubspot_max_in_flight=1,
        sync_overlap_seconds=600,
    )
    cycle(sqlite_store, settings)
    new_calls = log_calls(sandbox, 1_300)
    # Accepted before the stop: searches of contacts and deals, five call pages, one association read, two pages.
    sandbox.settings(throttle=True, daily_limit=2 + 5 + 1 + 2, daily_used=0)
    stopped = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions())
    assert stopped.outcome == "stopped"
    assert stored_calls(sqlite_store, new_calls) == new_calls[:1_000]
    assert call_links(sqlite_store, new_calls[:1_000]) == hubspot_links(sandbox, new_calls[:1_000])

    sandbox.settings(throttle=False)
    sandbox.reset_stats()
    summary = cycle(sqlite_store, settings)
    # calls: the two uncommitted pages (300 calls), then the empty window from the stopped run's start.
    assert summary.counts.pull.pages["search:calls"] == 3
    assert calls_to(sandbox, SEARCH) == 3 + QUIET_TYPES
    assert calls_to(sandbox, ASSOC_READ) == 1
    assert stored(sqlite_store) == truth(sandbox)


def stored_calls(engine: Engine, ids: list[int]) -> list[int]:
    """Which of `ids` the store holds as calls, ascending."""
    e = repo.table(t.Engagement).c
    with engine.connect() as conn:
        rows = conn.execute(select(e.id).where(e.type == "call", e.id.in_(ids)).order_by(e.id))
        return list(rows.scalars())


def call_links(engine: Engine, ids: list[int]) -> dict[int, set[int]]:
    """Contact links the store holds for the calls `ids`."""
    ec = repo.table(t.EngagementContact).c
    out: dict[int, set[int]] = {i: set() for i in ids}
    with engine.connect() as conn:
        for call, contact in conn.execute(
            select(ec.engagement_id, ec.contact_id).where(ec.engagement_type == "call", ec.engagement_id.in_(ids))
        ):
            out[call].add(contact)
    return out


def hubspot_links(sb: RunningSandbox, ids: list[int]) -> dict[int, set[int]]:
    """Contact links HubSpot holds for the calls `ids`."""
    wanted = set(ids)
    return {
        int(r["id"]): {int(c) for c in (r.get("associations") or {}).get("contacts", [])}
        for r in sb.export("calls")
        if int(r["id"]) in wanted
    }


def test_a_large_window_stopped_midway_resumes_each_id_range_where_it_stood(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """10,500 calls created at one millisecond: after its first batch the window is read in four id ranges, at
    most two requests in flight however many ranges run; stopped midway, the cursor keeps each range's position,
    and the next run reads only what is left of each (and at most the batches in flight again) and ends exact."""
    # A long overlap: the calls do not settle within the test, so no run re-reads them settled.
    settings = settings_for(
        sandbox, sqlite_url, writeback_enabled=False, hubspot_max_in_flight=2, sync_overlap_seconds=600
    )
    cycle(sqlite_store, settings)
    sandbox.bulk_import("calls", 10_500, mode="create")
    stop = threading.Event()

    def stop_midway(snapshot: Snapshot) -> None:
        calls = snapshot.objects.get("pull:calls")
        if calls is not None and calls.records >= 5_000:
            stop.set()

    stopped = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions(), stop=stop, observers=[stop_midway])
    assert stopped.outcome == "stopped"
    assert stopped.counts.api.peak_in_flight <= 2
    with sqlite_store.connect() as conn:
        window = Cursor.from_row(repo.get_cursor(conn, "calls"))
    assert len(window.window_ranges) == 4
    assert any(r.after for r in window.window_ranges[1:])  # ranges beyond the first have read pages too
    sandbox.reset_stats()
    resumed = cycle(sqlite_store, settings)
    read_before = stopped.counts.pull.fetched["calls"]
    # what is left, in pages of 200 per range, plus one batch of five pages per range read again at most
    assert resumed.counts.pull.pages["search:calls"] <= math.ceil((10_500 - read_before) / 200) + 4 + 4 * 5
    assert resumed.counts.pull.fetched["calls"] < 10_500 - read_before + 4 * 1_000
    assert stored(sqlite_store) == truth(sandbox)
