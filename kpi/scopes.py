"""Aggregate keys, owner/team/portal scopes, and the roll-up of per-(owner, month) cells into keys.

Every KPI module accumulates its facts into one cell per (owner key, month) and lets `roll_up` merge the cells
into the keys that were asked for: owner, primary team and portal, each for the month and for all time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import fields
from typing import Any, Protocol, Self, TypeVar

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

Cell = tuple[str, str | None]  # (owner key, month or None when the fact has no time for this KPI)


class Accumulator(Protocol):
    """A partial aggregate that can absorb another of its kind and produce the final values."""

    def merge(self, other: Self) -> None:
        """Add `other`'s counts into this one."""

    def finish(self) -> Values:
        """The metric values."""


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
    cells: dict[Cell, A],
    scopes: Scopes,
    new: Callable[[], A],
    only: Collection[AggregateKey] | None,
) -> dict[AggregateKey, Values]:
    """Merge the cells into every key they feed (or only the keys in `only`) and finish them."""
    merged: dict[AggregateKey, A] = {}
    for (owner_key, month), cell in cells.items():
        for key in scopes.keys_of(kpi, owner_key, month):
            if only is not None and key not in only:
                continue
            acc = merged.get(key)
            if acc is None:
                acc = merged[key] = new()
            acc.merge(cell)
    return {key: acc.finish() for key, acc in merged.items()}


def bump(counter: Counter[Any], item: Any, sign: int) -> None:
    """Add `sign` (+1 or -1) to `item`'s count, dropping the item when its count reaches zero."""
    count = counter[item] + sign
    if count:
        counter[item] = count
    else:
        del counter[item]


def is_empty(cell: Any) -> bool:
    """Whether a cell counts nothing (every fact it held was taken out again)."""
    for f in fields(cell):
        value = getattr(cell, f.name)
        if isinstance(value, list):
            if any(value):
                return False
        elif value:
            return False
    return True


def cell_to_json(cell: Any) -> dict[str, Any]:
    """A cell as plain JSON values: counters become sorted [item, count] pairs (items keep their type)."""
    out: dict[str, Any] = {}
    for f in fields(cell):
        value = getattr(cell, f.name)
        out[f.name] = sorted([k, n] for k, n in value.items()) if isinstance(value, Counter) else value
    return out


def cell_from_json(cls: type[A], data: Mapping[str, Any]) -> A:
    """The cell `cell_to_json` gave; fields it lacks keep their defaults."""
    cell = cls()
    for f in fields(cell):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        if isinstance(getattr(cell, f.name), Counter):
            value = Counter({(k if isinstance(k, str) else int(k)): int(n) for k, n in value})
        elif isinstance(value, dict):
            value = dict(value)
        elif isinstance(value, list):
            value = list(value)
        setattr(cell, f.name, value)
    return cell


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator as a fraction; None (empty) when the denominator is zero."""
    return numerator / denominator if denominator else None


def per_thousand(numerator: int, calls: int) -> float | None:
    """numerator per 1,000 calls; None when there are no calls."""
    return numerator * 1000 / calls if calls else None


def median(counts: Mapping[int, int]) -> float | None:
    """The median of a multiset {value: count} (mean of the two middle values for an even count); None if empty."""
    total = sum(counts.values())
    if not total:
        return None
    ordered = sorted(counts)
    low, high = _at_rank(ordered, counts, (total - 1) // 2), _at_rank(ordered, counts, total // 2)
    return float(low) if low == high else (low + high) / 2


def _at_rank(ordered: list[int], counts: Mapping[int, int], rank: int) -> int:
    """The value at a 0-based rank of the multiset whose distinct values are `ordered`."""
    seen = 0
    for value in ordered:
        seen += counts[value]
        if seen > rank:
            return value
    raise IndexError(rank)


def mean(counts: Mapping[int, int]) -> float | None:
    """The arithmetic mean of a multiset {value: count}; None if empty."""
    total = sum(counts.values())
    return sum(v * n for v, n in counts.items()) / total if total else None
