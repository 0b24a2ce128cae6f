"""K1 contact/reach ratio of outbound calls, by the call's owner and the call's month.

Benchmark (the article): 1,000 calls yield about 350 prospects and about 30 opportunities.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable
from dataclasses import dataclass, field

from kpi.facts import CallFact, DealFact
from kpi.periods import Calendar
from kpi.scopes import AggregateKey, Cell, Scopes, Values, per_thousand, ratio, roll_up

KPI = "K1"
OPPORTUNITY_WINDOW_MS = 90 * 86_400_000


@dataclass(slots=True)
class ReachCell:
    """Partial K1 counts of one owner and month (or of one key while rolling up)."""

    outbound_calls: int = 0
    connected_calls: int = 0
    decision_maker_connects: int = 0
    reached: set[int] = field(default_factory=set)
    opportunities: set[int] = field(default_factory=set)

    def merge(self, other: ReachCell) -> None:
        """Add `other` into this cell (distinct contacts and deals stay distinct)."""
        self.outbound_calls += other.outbound_calls
        self.connected_calls += other.connected_calls
        self.decision_maker_connects += other.decision_maker_connects
        self.reached |= other.reached
        self.opportunities |= other.opportunities

    def finish(self) -> Values:
        """The K1 metrics; ratios and per-1,000 figures are None when there were no outbound calls."""
        calls = self.outbound_calls
        return {
            "outbound_calls": calls,
            "connected_calls": self.connected_calls,
            "reach_ratio": ratio(self.connected_calls, calls),
            "decision_maker_connects": self.decision_maker_connects,
            "decision_maker_reach_ratio": ratio(self.decision_maker_connects, calls),
            "prospects_reached": len(self.reached),
            "opportunities": len(self.opportunities),
            "prospects_per_1000_calls": per_thousand(len(self.reached), calls),
            "opportunities_per_1000_calls": per_thousand(len(self.opportunities), calls),
        }


def aggregate_reach(
    calls: Iterable[CallFact],
    deals: Iterable[DealFact],
    decision_makers: Container[int],
    scopes: Scopes,
    calendar: Calendar,
    *,
    only: Collection[AggregateKey] | None = None,
) -> dict[AggregateKey, Values]:
    """K1 per owner, team and portal, per month and all time (or only the keys in `only`).

    `outbound_calls` counts calls, not call-contact pairs (an engagement with several contacts is one call);
    `decision_maker_connects` are connected calls with at least one contact in `decision_makers` (D6);
    `decision_maker_reach_ratio` = decision-maker connects / outbound calls (the article's contact ratio is the
    share of outbound activity that reaches a decision maker). `opportunities` counts, in the month of the deal's
    `createdate`, the distinct deals associated with a contact this owner reached with a connected call at a
    time t with createdate - 90 days <= t <= createdate (both ends inclusive).

    To get a key right, pass every call of its scope in its period and, for opportunities, every connected call
    of its scope from 90 days before the period start, plus every deal created in the period.
    """
    cells: dict[Cell, ReachCell] = {}
    period = calendar.period
    by_contact: dict[int, list[tuple[int, str]]] = {}
    for call in calls:
        cell_key = (call.owner_id, period(call.timestamp))
        cell = cells.get(cell_key)
        if cell is None:
            cell = cells[cell_key] = ReachCell()
        cell.outbound_calls += 1
        if call.connected:
            cell.connected_calls += 1
            contact_ids = call.contact_ids
            cell.reached.update(contact_ids)
            if any(c in decision_makers for c in contact_ids):
                cell.decision_maker_connects += 1
            for c in contact_ids:
                by_contact.setdefault(c, []).append((call.timestamp, call.owner_id))
    _add_opportunities(cells, deals, by_contact, calendar)
    return roll_up(KPI, cells, scopes, ReachCell, only)


def _add_opportunities(
    cells: dict[Cell, ReachCell],
    deals: Iterable[DealFact],
    by_contact: dict[int, list[tuple[int, str]]],
    calendar: Calendar,
) -> None:
    for deal in deals:
        created = deal.createdate
        if created is None:
            continue
        month = calendar.period(created)
        for contact_id in deal.contact_ids:
            for ts, owner_id in by_contact.get(contact_id, ()):
                if created - OPPORTUNITY_WINDOW_MS <= ts <= created:
                    cell = cells.get((owner_id, month))
                    if cell is None:
                        cell = cells[(owner_id, month)] = ReachCell()
                    cell.opportunities.add(deal.deal_id)
