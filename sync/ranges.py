"""A list pass read side by side: one object type's ids cut into ranges of about `size` records, each read by its own
chain of list pages, so a large type is not one chain of pages one latency apart.

HubSpot's list `after` is, in its words, "effectively the ID of the next record", and list pages come in id order: a
chain started at `after=<id>` reads the records from that id up. A range stops once its pages pass its end; what a
page holds beyond the end belongs to the next range and is left to it. A range whose pages ever come out of order (or
whose cursor is not an id) forgets its end and reads to the end of the list, so nothing is lost if HubSpot ever
stops paging by id; `SYNC_LIST_RANGE_SIZE=0` reads every type in one chain, as before.

Where the cuts go: on a first load, from two one-record searches (the lowest and highest id, and the total); on a
reconcile, from the ids already stored (exact quantiles, no call). Either way the cuts depend on the portal only, so
a pass makes the same calls at any latency.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from sync.cursor import Shard

ONE_RANGE: tuple[Shard, ...] = (Shard(None, None),)


def by_span(low: int, high: int, total: int, size: int) -> tuple[Shard, ...]:
    """Ranges of about `size` records over ids low..high (inclusive) holding `total` records, cut evenly by id."""
    if size <= 0 or total <= size or high <= low:
        return ONE_RANGE
    count = math.ceil(total / size)
    cuts = sorted({low + (high + 1 - low) * k // count for k in range(1, count)} - {low})
    return _between(cuts)


def by_ids(ids: Sequence[int], size: int) -> tuple[Shard, ...]:
    """Ranges of `size` records over these sorted ids (the store's, on a reconcile); records added since fall into
    the last range, which has no end."""
    if size <= 0 or len(ids) <= size:
        return ONE_RANGE
    return _between(sorted({ids[k] for k in range(size, len(ids), size)}))


def _between(cuts: list[int]) -> tuple[Shard, ...]:
    edges: list[int | None] = [None, *cuts, None]
    return tuple(Shard(None if a is None else str(a), b) for a, b in itertools.pairwise(edges))


def id_cursor(after: str | None) -> int | None:
    """A list cursor read as the id it stands for, None when it is not one."""
    return int(after) if after is not None and after.isdigit() else None
