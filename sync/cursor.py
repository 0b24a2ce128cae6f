"""Where the pull of one object type stands, typed: a list pass in progress, or the incremental search's high-water
and settled marks and the window [window_lo, window_hi) it is searching, with the ranges it skips and its keyset
position.

A change is read fresh by the first window that covers it and read once more when it is settled: by the first run
starting at least the overlap after it, when the search index must hold it. What was read fresh and is not settled
yet is skipped (reading it again proves nothing), and so is kpi-sync's own write-back until it settles: it is read
once, settled. See `Cursor.next_window`.

Storage keeps the row (`repo.get_cursor` / `save_cursor`); `Cursor.from_row` and `to_row` convert. A cursor is
immutable: each transition the pull makes is a method returning the next cursor, saved with the page it belongs to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any

Span = tuple[int, int]  # [lo, hi) of a modification time, epoch ms
MAX_PIECES = 5  # filter groups HubSpot ORs in one search request: a window reads at most this many ranges


class Phase(StrEnum):
    """A cursor's phase: the first full load by list pass, then incremental search."""

    FULL = "full"
    INCREMENTAL = "incremental"


@dataclass(frozen=True)
class Shard:
    """One id range of a list pass read side by side with the others: it starts at `start` (the list's `after`, an
    id; None for the first), ends before id `end` (None for the last), and has read up to `after` (None before its
    first page); `done` once its last page is stored."""

    start: str | None
    end: int | None
    after: str | None = None
    done: bool = False

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Shard:
        """A stored `list_shards` entry."""
        end = data.get("end")
        return cls(data.get("start"), None if end is None else int(end), data.get("after"), bool(data.get("done")))


@dataclass(frozen=True)
class Cursor:
    """One object type's pull cursor (a `sync_cursors` row)."""

    object_type: str
    phase: Phase = Phase.FULL
    list_after: str | None = None  # the list pass's paging cursor: where the next page starts
    list_started_at: int | None = None  # a list pass in progress started at (epoch ms); records not seen are archived
    high_water: int | None = None  # every change modified before this (epoch ms) has been read, or set aside to settle
    window_lo: int | None = None  # the search window in progress, [lo, hi) of the modification property
    window_hi: int | None = None
    key_id: int | None = None  # the last id read in the current window
    settled: int | None = None  # every change modified before this (epoch ms) was read once the search index held it
    window_skips: tuple[Span, ...] = ()  # ranges [lo, hi) inside the window in progress it does not read
    window_ranges: tuple[Shard, ...] = ()  # a large window read side by side in id ranges: where each range stands
    list_shards: tuple[Shard, ...] = ()  # a list pass read side by side in id ranges: where each range stands
    last_reconciled_at: int | None = None  # start of the last list pass that finished
    updated_at: int | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Cursor:
        """A `sync_cursors` row (or `repo.get_cursor`'s fresh one)."""
        known = {f.name: row[f.name] for f in fields(cls) if f.name in row}
        return cls(
            **known
            | {
                "phase": Phase(row.get("phase") or Phase.FULL),
                "window_skips": tuple((int(lo), int(hi)) for lo, hi in row.get("window_skips") or ()),
                "window_ranges": tuple(Shard.from_json(s) for s in row.get("window_ranges") or ()),
                "list_shards": tuple(Shard.from_json(s) for s in row.get("list_shards") or ()),
            }
        )

    def to_row(self) -> dict[str, Any]:
        """The row to store: plain values only (the driver would store an enum member by its name)."""
        return asdict(self) | {
            "phase": self.phase.value,
            "window_skips": [list(s) for s in self.window_skips] or None,
            "window_ranges": [asdict(s) for s in self.window_ranges] or None,
            "list_shards": [asdict(s) for s in self.list_shards] or None,
        }

    # -- list pass ---------------------------------------------------------------------------------------------------
    @property
    def listing(self) -> bool:
        """Whether the next pull of this type is (or continues) a list pass rather than a search."""
        return (
            self.phase is Phase.FULL
            or bool(self.list_after)
            or bool(self.list_shards)
            or self.list_started_at is not None
        )

    @property
    def planned(self) -> bool:
        """Whether the list pass in progress has its id ranges (a pass that started before ranges existed continues
        as one range from its `list_after`)."""
        return bool(self.list_shards)

    def plan(self, shards: tuple[Shard, ...]) -> Cursor:
        """The list pass read in these id ranges (a pass in progress without ranges goes on from `list_after` as the
        first range's position)."""
        if self.list_after and shards:
            shards = (replace(shards[0], after=self.list_after), *shards[1:])
        return replace(self, list_shards=shards, list_after=None)

    def shard_read(self, index: int, shard: Shard) -> Cursor:
        """One range of the list pass has read a page: where it stands now."""
        return replace(self, list_shards=(*self.list_shards[:index], shard, *self.list_shards[index + 1 :]))

    @property
    def listed(self) -> bool:
        """Every range of the list pass has read its last page."""
        return bool(self.list_shards) and all(s.done for s in self.list_shards)

    def start_listing(self, now_ms: int) -> Cursor:
        """A list pass starting now, or the one in progress (which keeps its start)."""
        return self if self.list_started_at is not None else replace(self, list_started_at=now_ms)

    def listed_to(self, after: str | None) -> Cursor:
        """A list page read: the next one starts at `after` (None after the last)."""
        return replace(self, list_after=after)

    def finish_listing(self) -> Cursor:
        """The list pass done: incremental from now on; a first load also sets the high-water and settled marks to
        its start (a list reads the store, not the search index), while a reconcile leaves them (what changed
        meanwhile is searched from where the search stood)."""
        started = self.list_started_at
        first = self.phase is Phase.FULL
        return replace(
            self,
            phase=Phase.INCREMENTAL,
            high_water=started if first else self.high_water,
            settled=started if first else self.settled,
            list_after=None,
            list_started_at=None,
            list_shards=(),
            last_reconciled_at=started,
        )

    # -- incremental search ------------------------------------------------------------------------------------------
    @property
    def searching(self) -> bool:
        """Whether a search window is in progress."""
        return self.window_lo is not None

    def settled_mark(self, overlap_ms: int) -> int:
        """Where the settled changes end; a cursor from before the mark existed re-read the overlap every run, so
        what lies before its high-water mark less the overlap counts as settled."""
        if self.settled is not None:
            return self.settled
        return max(0, (self.high_water or 0) - overlap_ms)

    def next_window(
        self, *, overlap_ms: int, span_ms: int, until_ms: int, writes: Iterable[Span] = ()
    ) -> Cursor | None:
        """The next search window of a run starting at `until_ms`: from the settled mark, at most `span_ms` long,
        ending by `until_ms`; None when there is nothing left to search.

        It reads [settled, until) except, as skips: what was read fresh and is not settled yet, [max(settled, until
        - overlap), high_water); and `writes`, kpi-sync's own write-back intervals, where they lie beyond both the
        high-water mark and until - overlap (read once when settled, by a later run's [settled, high_water)). More
        than MAX_PIECES ranges to read: the smallest skips are dropped (it reads more, never less)."""
        lo = self.settled_mark(overlap_ms)
        if lo >= until_ms:
            return None
        hi = min(until_ms, lo + span_ms)
        fresh_from, high_water = until_ms - overlap_ms, self.high_water or 0
        skips = [(max(lo, fresh_from), high_water), *((max(a, high_water, fresh_from), b) for a, b in writes)]
        return replace(self, window_lo=lo, window_hi=hi, key_id=0, settled=lo, window_skips=fitted(skips, lo, hi))

    @property
    def pieces(self) -> tuple[Span, ...]:
        """The ranges the window in progress reads: the window less its skips (none when it is all skipped)."""
        assert self.window_lo is not None
        assert self.window_hi is not None
        return gaps(self.window_lo, self.window_hi, self.window_skips)

    def searched_to(self, key_id: int) -> Cursor:
        """Search pages of the window read up to id `key_id`."""
        return replace(self, key_id=key_id)

    def split(self, ranges: tuple[Shard, ...]) -> Cursor:
        """The rest of the window read in these id ranges, side by side."""
        return replace(self, window_ranges=ranges)

    def range_searched(self, index: int, shard: Shard) -> Cursor:
        """One id range of the window has read a batch: where it stands now."""
        return replace(self, window_ranges=(*self.window_ranges[:index], shard, *self.window_ranges[index + 1 :]))

    def close_window(self, *, settled_by: int) -> Cursor:
        """The window exhausted: every change before its end has been read, or skipped to be read when settled; the
        settled mark moves to the window's end, but not past `settled_by` (the run's start less the overlap: what
        was read after that was read fresh)."""
        assert self.window_lo is not None
        assert self.window_hi is not None
        settled = self.settled if self.settled is not None else self.window_lo
        return replace(
            self,
            high_water=max(self.high_water or 0, self.window_hi),
            settled=max(settled, min(self.window_hi, settled_by)),
            window_lo=None,
            window_hi=None,
            key_id=None,
            window_skips=(),
            window_ranges=(),
        )


def merged(spans: Iterable[Span]) -> list[Span]:
    """Non-empty spans sorted, those that overlap or touch joined."""
    out: list[Span] = []
    for lo, hi in sorted(s for s in spans if s[0] < s[1]):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def gaps(lo: int, hi: int, skips: Iterable[Span]) -> tuple[Span, ...]:
    """[lo, hi) less the skips, as sorted non-empty ranges."""
    out: list[Span] = []
    for a, b in merged(skips):
        if a > lo:
            out.append((lo, min(a, hi)))
        lo = max(lo, b)
    if lo < hi:
        out.append((lo, hi))
    return tuple(s for s in out if s[0] < s[1])


def fitted(skips: Iterable[Span], lo: int, hi: int) -> tuple[Span, ...]:
    """The skips clipped to the window [lo, hi), the smallest dropped until at most MAX_PIECES ranges are left to
    read."""
    kept = merged((max(a, lo), min(b, hi)) for a, b in skips)
    while len(gaps(lo, hi, kept)) > MAX_PIECES:
        kept.remove(min(kept, key=lambda s: s[1] - s[0]))
    return tuple(kept)
