"""A list pass reads a large object type in id ranges side by side (`sync.ranges`): the store ends exactly as HubSpot
is, a stopped pass resumes each range where it stood, and the calls do not depend on how many are in flight."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox, run_sandbox
from storage import repo
from storage.engine import open_store
from sync import ranges
from sync.cursor import Cursor, Shard
from sync.cycle import CycleOptions, run_cycle
from sync.progress import Snapshot
from sync.runs import RunOutcome
from tests.helpers import TOKEN, cycle, settings_for, stored, truth

RANGE = 500  # records per range: the small portal's calls (about 2,000) read in four ranges


def test_ranges_cut_an_id_span_evenly_and_cover_it_end_to_end() -> None:
    """The cuts split the span into ceil(total / size) ranges; the first starts at the list's start, the last has no
    end, and each range starts where the one before ends."""
    shards = ranges.by_span(1_000, 1_999, 1_000, 250)
    assert shards == (
        Shard(None, 1_250),
        Shard("1250", 1_500),
        Shard("1500", 1_750),
        Shard("1750", None),
    )


@pytest.mark.parametrize(("total", "size"), [(500, 500), (10, 0), (0, 100)])
def test_a_type_no_larger_than_one_range_is_read_in_one(total: int, size: int) -> None:
    """At most `size` records, or ranges turned off (size 0): one chain from the start, as before."""
    assert ranges.by_span(1, 10_000, total, size) == ranges.ONE_RANGE


def test_a_reconcile_cuts_at_the_stored_ids_so_each_range_holds_size_records() -> None:
    """Quantiles of the stored ids: every range but the last holds exactly `size` of them."""
    ids = [3, 4, 9, 20, 21, 22, 50, 51, 90, 91]
    assert ranges.by_ids(ids, 4) == (Shard(None, 21), Shard("21", 90), Shard("90", None))


def test_a_first_load_in_ranges_stores_exactly_what_hubspot_has(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """Calls, emails, meetings and contacts are larger than a range: each is cut (two one-record searches find its
    lowest and highest id), read side by side, and the store ends equal to HubSpot; a reconcile then cuts at the
    stored ids without a search, and archives what HubSpot deleted meanwhile."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False, sync_list_range_size=RANGE)
    first = cycle(store, settings)
    calls = len([r for r in sandbox.export("calls") if not r.get("archived")])
    assert calls > 2 * RANGE
    assert first.counts.pull.pages["probe:calls"] == 2
    assert first.counts.pull.pages["probe:deals"] == 1  # the highest id and the total say one range is enough
    assert stored(store) == truth(sandbox)
    sandbox.simulate(minutes=240, seed=5)  # creates, updates, deletes and re-associates records
    reconciled = cycle(store, settings, reconcile=True)
    assert not [k for k in reconciled.counts.pull.pages if k.startswith("probe:")]
    assert reconciled.counts.pull.archived
    assert stored(store) == truth(sandbox)


def test_ranges_make_the_same_calls_one_or_eight_in_flight(
    sqlite_url: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """The cuts depend on the portal only: a first load sends the same requests, route by route, whether its ranges
    are read one after the other or eight at once."""
    routes: dict[int, object] = {}
    for in_flight in (1, 8):
        url = f"sqlite:///{tmp_path_factory.mktemp(f'ranges{in_flight}')}/kpi.db"
        with run_sandbox(seed=7, size="small", token=TOKEN, index_lag_ms=0) as sb:
            engine = open_store(url)
            settings = settings_for(
                sb, url, writeback_enabled=False, sync_list_range_size=RANGE, hubspot_max_in_flight=in_flight
            )
            cycle(engine, settings)
            routes[in_flight] = sb.stats()["by_route"]
            engine.dispose()
    assert routes[8] == routes[1]


def test_a_pass_stopped_midway_resumes_every_range_where_it_stood(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Stopped after a few pages of calls, the stored cursor holds each range's position; the next run reads only
    what is left of each range (at most the pages that were in flight again) and the store ends equal to HubSpot."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False, sync_list_range_size=RANGE)
    stop = threading.Event()

    def stop_after_calls_pages(snapshot: Snapshot) -> None:
        if snapshot.objects.get("pull:calls") and snapshot.objects["pull:calls"].pages >= 3:
            stop.set()

    whole = len([r for r in sandbox.export("calls") if not r.get("archived")])
    summary = run_cycle(
        sqlite_store, settings.cycle_config(), CycleOptions(), stop=stop, observers=[stop_after_calls_pages]
    )
    assert summary.outcome is RunOutcome.STOPPED
    with sqlite_store.connect() as conn:
        cursor = Cursor.from_row(repo.get_cursor(conn, "calls"))
    assert len(cursor.list_shards) >= 4
    assert any(s.after for s in cursor.list_shards)  # some range has read pages, kept for the next run
    first_pages = summary.counts.pull.pages["list:calls"]
    resumed = cycle(sqlite_store, settings)
    assert first_pages + resumed.counts.pull.pages["list:calls"] <= whole // 100 + len(cursor.list_shards) + 8
    assert stored(sqlite_store) == truth(sandbox)


def test_ranges_of_a_list_that_stops_coming_in_id_order_read_on_to_its_end(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Should HubSpot's list pages ever stop coming in id order, a range cannot tell where its end is: each range
    forgets its end, says so once, and reads on to the end of the list; nothing is lost, only read twice."""
    sandbox.set_faults(reversed_page=["objects"])
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False, sync_list_range_size=RANGE)
    with capture_logs() as logs:
        summary = cycle(sqlite_store, settings)
    ids = sorted(int(r["id"]) for r in sandbox.export("calls") if not r.get("archived"))
    with_an_end = len(ranges.by_span(ids[0], ids[-1], len(ids), RANGE)) - 1
    unordered = [e for e in logs if e["event"] == "list_range_unordered" and e["object_type"] == "calls"]
    assert len(unordered) == with_an_end >= 3
    assert summary.counts.pull.pages["list:calls"] > len(ids) // 100 + with_an_end  # ranges overlapped
    sandbox.set_faults()
    assert stored(sqlite_store) == truth(sandbox)
