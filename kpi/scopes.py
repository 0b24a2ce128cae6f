"""Aggregate keys, owner/team/portal scopes, and the roll-up of per-(owner, month) cells into keys.

Every KPI module accumulates its facts into one cell per (owner key, month) and lets `roll_up` merge the cells
into the keys that were asked for: owner, primary team and portal, each for the month and for all time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import fields
from itertools import chain
from typing import Any, Protocol, Self, TypeVar

import numpy as np
import numpy.typing as npt

from kpi.periods import ALL_TIME
from kpi.rows import Owner

# (kpi 'K1'..'K5', scope 'owner' | 'team' | 'portal', scope id, period "YYYY-MM" | "all")
AggregateKey = tuple[str, str, str, str]
Values = dict[str, float | int | None]

OWNER = "owner"
TEAM = "team"
PORTAL = "portal"
PORTAL_ID = "portal"
# Facts whose owner is empty are aggregated under this owner id (HubSpot owner ids are numeric, so no clash).
UNASSIGNED = "unassigned"

Ordered = npt.NDArray[np.int64]  # values in ascending order (a multiset pooled for medians and means)
CellKey = tuple[str, str | None]  # (owner key, month or None when the fact has no time for this KPI)


class Accumulator(Protocol):
    """Partial counts of one owner and month that can absorb another cell of its kind, and whose merge with other
    cells gives a key's metric values."""

    def merge(self, other: Self) -> None:
        """Add `other`'s counts into this one."""

    @classmethod
    def total(cls, cells: Sequence[Self]) -> Values:
        """The metric values of the cells taken together."""


class Scopes:
    """Which scopes an owner's facts feed: the owner, the owner's primary team (if any) and the portal.

    Each owner counts in its primary (first) team only, so team figures partition the portal. An owner id that
    is not among the Owner rows still gets its own owner row (no team); facts with no owner go to `UNASSIGNED`.
    """

    def __init__(self, owners: Iterable[Owner]) -> None:
        self.owners = {o.id: o for o in owners}
        self._targets: dict[str, tuple[tuple[str, str], ...]] = {}

    @staticmethod
    def owner_key(owner_id: str | None) -> str:
        """The owner scope id for a fact's owner id."""
        return owner_id or UNASSIGNED

    def targets(self, owner_key: str) -> tuple[tuple[str, str], ...]:
        """The (scope, scope id) pairs fed by facts of `owner_key`."""
        found = self._targets.get(owner_key)
        if found is None:
            owner = self.owners.get(owner_key)
            team = owner.primary_team_id if owner is not None else None
            pairs = [(OWNER, owner_key)]
            if team is not None:
                pairs.append((TEAM, team))
            pairs.append((PORTAL, PORTAL_ID))
            found = tuple(pairs)
            self._targets[owner_key] = found
        return found

    def all_scopes(self) -> set[tuple[str, str]]:
        """Every owner and team scope known from the Owner rows, plus the portal."""
        pairs = {(PORTAL, PORTAL_ID)}
        for owner_id in self.owners:
            pairs.update(self.targets(owner_id))
        return pairs

    def keys_of(self, kpi: str, owner_key: str, month: str | None) -> list[AggregateKey]:
        """The keys a fact of `owner_key` in `month` (None: no month, all time only) contributes to."""
        periods = (month, ALL_TIME) if month is not None else (ALL_TIME,)
        return [(kpi, scope, sid, p) for scope, sid in self.targets(owner_key) for p in periods]


A = TypeVar("A", bound=Accumulator)


def roll_up(
    kpi: str,
    cells: Mapping[CellKey, A],
    scopes: Scopes,
    total: Callable[[Sequence[A]], Values],
    only: Collection[AggregateKey] | None,
) -> dict[AggregateKey, Values]:
    """The values of every key the cells feed (or only the keys in `only`): `total` of the cells of each key."""
    members: dict[AggregateKey, list[A]] = {}
    for (owner_key, month), cell in cells.items():
        for key in scopes.keys_of(kpi, owner_key, month):
            if only is None or key in only:
                members.setdefault(key, []).append(cell)
    return {key: total(group) for key, group in members.items()}


def distinct(counters: Sequence[Mapping[Any, int]]) -> int:
    """How many distinct items the multisets hold together."""
    if len(counters) == 1:
        return len(counters[0])
    return len(set().union(*counters))


def pooled(counters: Sequence[Mapping[int, int]]) -> Ordered:
    """Every value the multisets {value: count} hold together, each as often as counted, in ascending order.

    Built and sorted by numpy (items read by C iterators, repeated and sorted in arrays): a key's median and mean
    read all the values of its cells, hundreds of thousands on a large portal's all-time keys, and adding the
    multisets up in a Python loop cost about four times as long.
    """
    values = np.fromiter(chain.from_iterable(c.keys() for c in counters), dtype=np.int64)
    counts = np.fromiter(chain.from_iterable(c.values() for c in counters), dtype=np.int64)
    ordered = np.repeat(values, counts)
    ordered.sort()
    return ordered


def bump(counts: dict[Any, int], item: Any, sign: int) -> None:
    """Add `sign` (+1 or -1, or any count) to `item`'s count, dropping the item when its count reaches zero: a count
    taken out again leaves nothing behind, as in a count from scratch."""
    count = counts.get(item, 0) + sign
    if count:
        counts[item] = count
    else:
        counts.pop(item, None)


def add_counts(counts: dict[Any, int], other: Mapping[Any, int]) -> None:
    """Add `other`'s counts (negative ones too) into `counts`, item by item as `bump` does."""
    for item, count in other.items():
        bump(counts, item, count)


def is_empty(cell: Any) -> bool:
    """Whether a cell counts nothing (every fact it held was taken out again)."""
    for f in fields(cell):
        value = getattr(cell, f.name)
        if isinstance(value, list):
            if any(value):
                return False
        elif isinstance(value, Mapping):
            if any(value.values()):
                return False
        elif value:
            return False
    return True


def cell_to_json(cell: Any) -> dict[str, Any]:
    """A cell as plain JSON values: a multiset becomes the sorted list of its items, each repeated by its count
    (most counts are 1: smaller and faster to read back than [item, count] pairs; items keep their type)."""
    out: dict[str, Any] = {}
    for name, kind in _plan(type(cell)):
        value = getattr(cell, name)
        out[name] = sorted(value.elements()) if kind is Counter else value
    return out


def cell_from_json(cls: type[A], data: Mapping[str, Any]) -> A:
    """The cell `cell_to_json` gave (multisets also as the [item, count] pairs of earlier versions); fields it lacks
    keep their defaults."""
    cell = cls()
    for name, kind in _plan(cls):
        if name in data:
            value = data[name]
            if kind is Counter:
                value = Counter(dict(value)) if value and isinstance(value[0], list) else Counter(value)
            elif kind:
                value = kind(value)
            setattr(cell, name, value)
    return cell


_PLANS: dict[type[Any], list[tuple[str, Any]]] = {}


def _plan(cls: type[Any]) -> list[tuple[str, Any]]:
    """Each field of a cell class with the type to rebuild it as (None: as JSON gives it)."""
    plan = _PLANS.get(cls)
    if plan is None:
        sample = cls()
        plan = _PLANS[cls] = [
            (f.name, next((k for k in (Counter, dict, list) if isinstance(getattr(sample, f.name), k)), None))
            for f in fields(sample)
        ]
    return plan


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator as a fraction; None (empty) when the denominator is zero."""
    return numerator / denominator if denominator else None


def per_thousand(numerator: int, calls: int) -> float | None:
    """numerator per 1,000 calls; None when there are no calls."""
    return numerator * 1000 / calls if calls else None


def median(ordered: Ordered) -> float | None:
    """The median of ascending values (mean of the two middle values for an even count); None if empty."""
    n = len(ordered)
    if not n:
        return None
    low, high = int(ordered[(n - 1) // 2]), int(ordered[n // 2])
    return float(low) if low == high else (low + high) / 2


def mean(values: Ordered) -> float | None:
    """The arithmetic mean; None if empty."""
    return int(values.sum()) / len(values) if len(values) else None
