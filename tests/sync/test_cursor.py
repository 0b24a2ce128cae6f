"""The pull cursor's transitions: list pass, search windows, and its round trip through the store."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from storage import repo
from sync.cursor import Cursor, Phase, Shard

HOUR = 3_600_000


@pytest.mark.parametrize(
    ("high_water", "until", "window"),
    [
        (None, 10 * HOUR, (0, 1 * HOUR)),  # never searched: from the epoch, one span
        (5 * HOUR, 10 * HOUR, (5 * HOUR - 1000, 6 * HOUR - 1000)),  # from the high-water mark less the overlap
        (10 * HOUR - 500, 10 * HOUR, (10 * HOUR - 1500, 10 * HOUR)),  # the last window ends at the run's start
        (10 * HOUR + 1000, 10 * HOUR, None),  # nothing left before the run's start
        (500, 10 * HOUR, (0, 1 * HOUR)),  # the overlap never reaches before the epoch
    ],
)
def test_a_cursor_without_a_settled_mark_starts_an_overlap_before_its_high_water(
    high_water: int | None, until: int, window: tuple[int, int] | None
) -> None:
    """A cursor from before the settled mark counts what lies an overlap before its high-water mark as settled: its
    window starts there, spans at most `span_ms` and ends by the run's start."""
    cursor = Cursor("calls", Phase.INCREMENTAL, high_water=high_water)
    opened = cursor.next_window(overlap_ms=1000, span_ms=HOUR, until_ms=until)
    assert (None if opened is None else (opened.window_lo, opened.window_hi)) == window
    assert opened is None or (opened.searching and opened.key_id == 0 and opened.settled == opened.window_lo)


OV = 300  # the overlap, in the tables below (ms)


@pytest.mark.parametrize(
    ("high_water", "settled", "writes", "pieces"),
    [
        # The last run started at 9,000, more than an overlap ago: its settled re-read and the fresh read in one range.
        (9_000, 8_700, (), ((8_700, 10_000),)),
        # It started 100 ms ago: what it read fresh and is not settled yet, [9,700, 9,900), is skipped.
        (9_900, 9_600, (), ((9_600, 9_700), (9_900, 10_000))),
        # kpi-sync wrote at [9,100, 9,800): the part not settled yet is skipped, the rest read once, settled.
        (9_000, 8_700, ((9_100, 9_800),), ((8_700, 9_700), (9_800, 10_000))),
        # A write-back settled since: read with the rest.
        (9_000, 8_700, ((9_100, 9_500),), ((8_700, 10_000),)),
        # A write-back skipped last run and settled now is read, settled, once ([9,650, 9,700)); its part not
        # settled yet lies in what was read fresh, skipped with it.
        (9_900, 9_600, ((9_650, 9_750),), ((9_600, 9_700), (9_900, 10_000))),
        # Nothing needs reading: the window closes without a request.
        (9_950, 9_750, ((9_950, 10_000),), ()),
    ],
)
def test_a_window_reads_the_settled_re_read_and_the_new_less_its_skips(
    high_water: int, settled: int, writes: tuple[tuple[int, int], ...], pieces: tuple[tuple[int, int], ...]
) -> None:
    """A run at 10,000 reads [settled, 10,000) less what was read fresh and is not settled and less kpi-sync's own
    write-back not settled yet."""
    cursor = Cursor("contacts", Phase.INCREMENTAL, high_water=high_water, settled=settled)
    opened = cursor.next_window(overlap_ms=OV, span_ms=HOUR, until_ms=10_000, writes=writes)
    assert opened is not None
    assert (opened.window_lo, opened.window_hi, opened.pieces) == (settled, 10_000, pieces)


def test_more_than_five_ranges_to_read_drop_the_smallest_skips() -> None:
    """HubSpot ORs at most five filter groups: the smallest skips are read after all until five ranges are left."""
    writes = ((2000, 2100), (3000, 3010), (4000, 4500), (5000, 5050), (6000, 6200), (7000, 7001))
    cursor = Cursor("contacts", Phase.INCREMENTAL, high_water=1000, settled=0)
    opened = cursor.next_window(overlap_ms=10_000, span_ms=HOUR, until_ms=10_000, writes=writes)
    assert opened is not None
    assert opened.window_skips == ((0, 1000), (2000, 2100), (4000, 4500), (5000, 5050), (6000, 6200))
    assert opened.pieces == ((1000, 2000), (2100, 4000), (4500, 5000), (5050, 6000), (6200, 10_000))


@pytest.mark.parametrize(
    ("window_hi", "settled_by", "settled_after", "high_water_after"),
    [
        (10_000, 10_000 - OV, 10_000 - OV, 10_000),  # the run's last window: settled up to an overlap before it
        (5_000, 10_000 - OV, 5_000, 9_000),  # a catch-up window ending long before: settled to its end
        (9_800, 10_000 - OV, 9_700, 9_800),  # one ending inside the overlap: settled to an overlap before the run
        (8_900, 3_000, 4_000, 9_000),  # the settled mark never moves back
    ],
)
def test_closing_a_window_moves_the_settled_mark_to_its_end_but_not_past_the_overlap(
    window_hi: int, settled_by: int, settled_after: int, high_water_after: int
) -> None:
    """Closed, a window's changes before `settled_by` (the run's start less the overlap) are settled; the high-water
    mark is the window's end (or stays, when further on)."""
    cursor = Cursor("calls", Phase.INCREMENTAL, high_water=9_000, settled=4_000, window_lo=4_000, window_hi=window_hi)
    closed = cursor.searched_to(42).close_window(settled_by=settled_by)
    assert (closed.settled, closed.high_water) == (settled_after, high_water_after)
    assert (closed.window_lo, closed.window_hi, closed.key_id, closed.window_skips) == (None, None, None, ())
    assert not closed.searching


def test_catch_up_windows_of_one_run_continue_where_the_last_ended() -> None:
    """After a long gap the run reads window after window of `span_ms`, each starting at the last one's end."""
    cursor, until, windows = Cursor("calls", Phase.INCREMENTAL, high_water=0, settled=0), 3 * HOUR, []
    while (opened := cursor.next_window(overlap_ms=OV, span_ms=HOUR, until_ms=until)) is not None:
        windows.append((opened.window_lo, opened.window_hi))
        cursor = opened.close_window(settled_by=until - OV)
        if (cursor.high_water or 0) >= until:
            break
    assert windows == [(0, HOUR), (HOUR, 2 * HOUR), (2 * HOUR, until)]
    assert (cursor.high_water, cursor.settled) == (until, until - OV)


@pytest.mark.parametrize("interval", [50, 100, 250, 300, 450, 1000])
def test_a_change_is_read_at_most_twice_and_once_settled_and_own_writes_once(interval: int) -> None:
    """At any interval between runs, every moment's changes are read at most twice, once by a run starting at least
    an overlap after them (when the search index holds them); kpi-sync's own write-back exactly once, settled."""
    cursor = Cursor("contacts", Phase.INCREMENTAL, high_water=0, settled=0)
    writes = ((130, 170), (1_000, 1_260), (2_000, 2_020))
    reads: dict[int, list[int]] = {}  # moment -> starts of the runs that read it
    for run_start in range(interval, 4_000, interval):
        opened = cursor.next_window(overlap_ms=OV, span_ms=HOUR, until_ms=run_start, writes=writes)
        assert opened is not None
        for lo, hi in opened.pieces:
            for moment in range(lo, hi):
                reads.setdefault(moment, []).append(run_start)
        cursor = opened.close_window(settled_by=run_start - OV)
    settled = cursor.settled or 0
    assert settled >= 4_000 - interval - OV
    own = {m for lo, hi in writes for m in range(lo, hi)}
    for moment in range(settled):
        runs = reads.get(moment, [])
        assert len(runs) <= (1 if moment in own else 2), (moment, runs)
        assert any(at >= moment + OV for at in runs), (moment, runs)


@pytest.mark.parametrize(
    ("phase", "high_water_after"),
    [(Phase.FULL, 7_000), (Phase.INCREMENTAL, 3_000)],
)
def test_finishing_a_list_pass(phase: Phase, high_water_after: int) -> None:
    """A first load sets the high-water and settled marks to its start (a list reads the store, not the search
    index); a reconcile keeps where the search stood."""
    cursor = (
        Cursor("deals", phase, high_water=3_000, settled=2_700).start_listing(7_000).listed_to("p2").listed_to(None)
    )
    done = cursor.finish_listing()
    assert (done.phase, done.high_water, done.last_reconciled_at) == (Phase.INCREMENTAL, high_water_after, 7_000)
    assert done.settled == (7_000 if phase is Phase.FULL else 2_700)
    assert (done.list_after, done.list_started_at, done.listing) == (None, None, False)


def test_a_list_pass_in_progress_keeps_its_start() -> None:
    """Resuming a list pass (or a reconcile asked for meanwhile) does not move its start, which decides what is
    archived as unseen."""
    cursor = Cursor("deals", Phase.INCREMENTAL).start_listing(1_000)
    assert cursor.start_listing(9_000).list_started_at == 1_000
    assert cursor.listing


@pytest.mark.parametrize(
    "cursor",
    [
        Cursor("contacts"),
        Cursor("calls", Phase.INCREMENTAL, high_water=5, window_lo=1, window_hi=9, key_id=2**62, updated_at=7),
        Cursor("deals", Phase.FULL, list_after="abc", list_started_at=3, last_reconciled_at=2),
        Cursor(
            "contacts", Phase.INCREMENTAL, high_water=9, settled=4, window_lo=4, window_hi=12, window_skips=((5, 9),)
        ),
        Cursor("emails", list_started_at=3, list_shards=(Shard(None, 500, "120"), Shard("500", None, done=True))),
    ],
)
def test_a_cursor_survives_the_store(sqlite_store: Engine, cursor: Cursor) -> None:
    """`to_row` stored by the repository and read back with `from_row` gives the same cursor."""
    with sqlite_store.begin() as conn:
        repo.save_cursor(conn, cursor.to_row())
    with sqlite_store.connect() as conn:
        assert Cursor.from_row(repo.get_cursor(conn, cursor.object_type)) == cursor


def test_a_type_never_pulled_starts_with_a_full_load(sqlite_store: Engine) -> None:
    """The repository's fresh cursor reads as a full load with nothing read yet."""
    with sqlite_store.connect() as conn:
        assert Cursor.from_row(repo.get_cursor(conn, "emails")) == Cursor("emails", Phase.FULL)
