"""K1 contact/reach ratio of outbound calls, by the call's owner and the call's month.

Benchmark (the article): 1,000 calls yield about 350 prospects and about 30 opportunities.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from kpi.facts import CallFact, DealFact
from kpi.periods import Calendar
from kpi.scopes import AggregateKey, CellKey, Scopes, Values, add_counts, bump, distinct, per_thousand, ratio, roll_up

KPI = "K1"
OPPORTUNITY_WINDOW_MS = 90 * 86_400_000


@dataclass(slots=True)
class ReachCell:
    """Partial K1 counts of one owner and month (or of one key while rolling up)."""

    outbound_calls: int = 0
    connected_calls: int = 0
    decision_maker_connects: int = 0
    reached: Counter[int] = field(default_factory=Counter)  # contact -> connected calls that reached it
    opportunities: Counter[int] = field(default_factory=Counter)  # deal -> owners credited with it

    def merge(self, other: ReachCell) -> None:
        """Add `other` into this cell (distinct contacts and deals stay distinct)."""
        self.outbound_calls += other.outbound_calls
        self.connected_calls += other.connected_calls
        self.decision_maker_connects += other.decision_maker_connects
        add_counts(self.reached, other.reached)
        add_counts(self.opportunities, other.opportunities)

    @classmethod
    def total(cls, cells: Sequence[ReachCell]) -> Values:
        """The K1 metrics; ratios and per-1,000 figures are None when there were no outbound calls."""
        calls = sum(c.outbound_calls for c in cells)
        connected = sum(c.connected_calls for c in cells)
        dm_connects = sum(c.decision_maker_connects for c in cells)
        reached = distinct([c.reached for c in cells])
        opportunities = distinct([c.opportunities for c in cells])
        return {
            "outbound_calls": calls,
            "connected_calls": connected,
            "reach_ratio": ratio(connected, calls),
            "decision_maker_connects": dm_connects,
            "decision_maker_reach_ratio": ratio(dm_connects, calls),
            "prospects_reached": reached,
            "opportunities": opportunities,
            "prospects_per_1000_calls": per_thousand(reached, calls),
            "opportunities_per_1000_calls": per_thousand(opportunities, calls),
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
    cells, by_contact = call_cells(calls, decision_makers, calendar)
    for fact in opportunity_facts(deals, by_contact, calendar):
        add_opportunity(cells, fact, 1)
    return roll_up(KPI, cells, scopes, ReachCell.total, only)


ConnectedCalls = Mapping[int, Sequence[tuple[int, str]]]  # contact -> (time, owner) of its connected calls


class OpportunityFact(NamedTuple):
    """A deal counted as an opportunity in the month of its `createdate`, for each owner that reached one of
    its contacts with a connected call in the 90 days up to that moment."""

    deal_id: int
    month: str
    owners: tuple[str, ...]


def call_cells(
    calls: Iterable[CallFact], decision_makers: Container[int], calendar: Calendar
) -> tuple[dict[CellKey, ReachCell], dict[int, list[tuple[int, str]]]]:
    """The call side of K1 cells by call owner and month, and each reached contact's connected calls."""
    cells: dict[CellKey, ReachCell] = {}
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
    return cells, by_contact


def opportunity_fact(deal: DealFact, connected: ConnectedCalls, calendar: Calendar) -> OpportunityFact | None:
    """The deal's opportunity credit, or None when it has no createdate or no owner reached its contacts in time.

    `connected` must hold the connected calls of (at least) the deal's contacts.
    """
    created = deal.createdate
    if created is None:
        return None
    earliest = created - OPPORTUNITY_WINDOW_MS
    owners = {
        owner_id
        for contact_id in deal.contact_ids
        for ts, owner_id in connected.get(contact_id, ())
        if earliest <= ts <= created
    }
    if not owners:
        return None
    return OpportunityFact(deal.deal_id, calendar.period(created), tuple(sorted(owners)))


def opportunity_facts(
    deals: Iterable[DealFact], connected: ConnectedCalls, calendar: Calendar
) -> list[OpportunityFact]:
    """`opportunity_fact` of every deal that has one."""
    return [f for deal in deals if (f := opportunity_fact(deal, connected, calendar)) is not None]


def add_opportunity(cells: dict[CellKey, ReachCell], fact: OpportunityFact, sign: int) -> None:
    """Credit the deal to each owner's cell of its month (`sign` 1), or take the credit back (-1)."""
    for owner_id in fact.owners:
        cell = cells.get((owner_id, fact.month))
        if cell is None:
            cell = cells[(owner_id, fact.month)] = ReachCell()
        bump(cell.opportunities, fact.deal_id, sign)
