"""One paging sequence, guarded: a page counter and loop detection (a cursor that repeats, ids that do not advance,
more pages than a sequence may have), so a portal answering the same `paging.next.after` cannot keep a cycle
reading, or memory growing, forever."""

from __future__ import annotations

from collections.abc import Iterable

from sync.hubspot.errors import HubSpotLoopError


class Paging:
    """The cursors and last id one paging sequence (`what`, e.g. "list:contacts") has seen so far."""

    def __init__(self, what: str, *, max_pages: int | None = None) -> None:
        self.what = what
        self.max_pages = max_pages
        self.pages = 0
        self._cursors: set[str] = set()
        self._last_id: int | None = None

    def advance(self, after: str | None, ids: Iterable[int] = ()) -> None:
        """Take one page: its next cursor and (for id-ordered pages) its record ids; HubSpotLoopError when the
        sequence does not advance."""
        self.pages += 1
        if self.max_pages is not None and self.pages > self.max_pages:
            raise HubSpotLoopError(f"{self.what}: more than {self.max_pages} pages; HubSpot's paging does not end")
        if after is not None and after in self._cursors:
            raise HubSpotLoopError(
                f"{self.what}: HubSpot repeated the paging cursor {after[:40]!r} (page {self.pages})"
            )
        if after is not None:
            self._cursors.add(after)
        last = max(ids, default=None)
        if last is not None:
            if self._last_id is not None and last <= self._last_id:
                raise HubSpotLoopError(f"{self.what}: page {self.pages} does not advance past id {self._last_id}")
            self._last_id = last
