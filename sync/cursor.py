"""Where the pull of one object type stands, typed: a list pass in progress, or the incremental search's high-water
mark and the window [window_lo, window_hi) it is searching, with its keyset position.

Storage keeps the row (`repo.get_cursor` / `save_cursor`); `Cursor.from_row` and `to_row` convert. A cursor is
immutable: each transition the pull makes is a method returning the next cursor, saved with the page it belongs to.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import Any


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
    high_water: int | None = None  # every change modified before this (epoch ms) has been read
    window_lo: int | None = None  # the search window in progress, [lo, hi) of the modification property
    window_hi: int | None = None
    key_id: int | None = None  # the last id read in the current window
    settled: int | None = None  # every change modified before this (epoch ms) was read once the search index held it
    window_skips: tuple[tuple[int, int], ...] = ()  # ranges [lo, hi) inside the window in progress it does not read
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
                "list_shards": tuple(Shard.from_json(s) for s in row.get("list_shards") or ()),
            }
        )

    def to_row(self) -> dict[str, Any]:
        """The row to store: plain values only (the driver would store an enum member by its name)."""
        return asdict(self) | {
            "phase": self.phase.value,
            "window_skips": [list(s) for s in self.window_skips] or None,
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
        """The list pass done: incremental from now on; a first load also sets the high-water mark to its start,
        while a reconcile leaves it (what changed meanwhile is searched from where the search stood)."""
        started = self.list_started_at
        return replace(
            self,
            phase=Phase.INCREMENTAL,
            high_water=started if self.phase is Phase.FULL else self.high_water,
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

    def next_window(self, *, overlap_ms: int, span_ms: int, until_ms: int) -> Cursor | None:
        """The next search window: from the high-water mark less `overlap_ms`, at most `span_ms` long, ending by
        `until_ms` (the run's start); None when there is nothing left to search."""
        lo = max(0, (self.high_water or 0) - overlap_ms)
        if lo >= until_ms:
            return None
        return replace(self, window_lo=lo, window_hi=min(until_ms, lo + span_ms), key_id=0)

    def searched_to(self, key_id: int) -> Cursor:
        """Search pages of the window read up to id `key_id`."""
        return replace(self, key_id=key_id)

    def close_window(self) -> Cursor:
        """The window exhausted: everything modified before its end has been read."""
        return replace(self, high_water=self.window_hi, window_lo=None, window_hi=None, key_id=None)
