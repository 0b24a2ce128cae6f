"""Aggregate keys, owner/team/portal scopes, and the roll-up of per-(owner, month) cells into keys.

Every KPI module accumulates its facts into one cell per (owner key, month) and lets `roll_up` merge the cells
into the keys that were asked for: owner, primary team and portal, each for the month and for all time.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from typing import Protocol, Self, TypeVar

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


def ratio(numerator: int, denominator: int) -> float | None:
    """numerator / denominator as a fraction; None (empty) when the denominator is zero."""
    return numerator / denominator if denominator else None


def per_thousand(numerator: int, calls: int) -> float | None:
    """numerator per 1,000 calls; None when there are no calls."""
    return numerator * 1000 / calls if calls else None


def median(values: list[int]) -> float | None:
    """The median (mean of the two middle values for an even count); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[mid])
    return (ordered[mid - 1] + ordered[mid]) / 2


def mean(values: list[int]) -> float | None:
    """The arithmetic mean; None for no values."""
    return sum(values) / len(values) if values else None
