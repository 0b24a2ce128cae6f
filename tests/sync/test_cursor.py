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
def test_next_window(high_water: int | None, until: int, window: tuple[int, int] | None) -> None:
    """A window starts at the high-water mark less the overlap, spans at most `span_ms` and ends by the run's start."""
    cursor = Cursor("calls", Phase.INCREMENTAL, high_water=high_water)
    opened = cursor.next_window(overlap_ms=1000, span_ms=HOUR, until_ms=until)
    assert (None if opened is None else (opened.window_lo, opened.window_hi)) == window
    assert opened is None or (opened.searching and opened.key_id == 0)


def test_a_closed_window_moves_the_high_water_mark_to_its_end() -> None:
    """Everything modified before the window's end has been read; the window and keyset are cleared."""
    cursor = Cursor("calls", Phase.INCREMENTAL, high_water=HOUR)
    opened = cursor.next_window(overlap_ms=0, span_ms=HOUR, until_ms=5 * HOUR)
    assert opened is not None
    closed = opened.searched_to(42).close_window()
    assert (closed.high_water, closed.window_lo, closed.window_hi, closed.key_id) == (2 * HOUR, None, None, None)
    assert not closed.searching


@pytest.mark.parametrize(
    ("phase", "high_water_after"),
    [(Phase.FULL, 7_000), (Phase.INCREMENTAL, 3_000)],
)
def test_finishing_a_list_pass(phase: Phase, high_water_after: int) -> None:
    """A first load sets the high-water mark to its start; a reconcile keeps where the search stood."""
    cursor = Cursor("deals", phase, high_water=3_000).start_listing(7_000).listed_to("page-2").listed_to(None)
    done = cursor.finish_listing()
    assert (done.phase, done.high_water, done.last_reconciled_at) == (Phase.INCREMENTAL, high_water_after, 7_000)
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
