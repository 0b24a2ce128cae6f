"""K2 lead response time, by the contact's owner and the month of the lead start (T0).

Benchmark (the article): respond within 1 hour (about 7 times more likely to get a good conversation); the
average response seen in the market was 42 hours.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from kpi.contact import ContactKpis
from kpi.periods import Calendar
from kpi.scopes import AggregateKey, CellKey, Scopes, Values, add_counts, bump, mean, median, pooled, ratio, roll_up

KPI = "K2"


@dataclass(slots=True)
class ResponseCell:
    """Partial K2 counts of one owner and month (or of one key while rolling up)."""

    leads: int = 0
    within_1h: int = 0
    decided: int = 0
    awaiting: int = 0
    minutes: Counter[int] = field(default_factory=Counter)  # response minutes -> responded leads

    def merge(self, other: ResponseCell) -> None:
        """Add `other` into this cell."""
        self.leads += other.leads
        self.within_1h += other.within_1h
        self.decided += other.decided
        self.awaiting += other.awaiting
        add_counts(self.minutes, other.minutes)

    @classmethod
    def total(cls, cells: Sequence[ResponseCell]) -> Values:
        """The K2 metrics."""
        within_1h = sum(c.within_1h for c in cells)
        minutes = pooled([c.minutes for c in cells])
        return {
            "leads": sum(c.leads for c in cells),
            "responded": len(minutes),
            "responded_within_1h": within_1h,
            "share_within_1h": ratio(within_1h, sum(c.decided for c in cells)),
            "median_response_minutes": median(minutes),
            "mean_response_minutes": mean(minutes),
            "awaiting_response": sum(c.awaiting for c in cells),
        }


def aggregate_response(
    contacts: Iterable[ContactKpis],
    scopes: Scopes,
    calendar: Calendar,
    *,
    only: Collection[AggregateKey] | None = None,
) -> dict[AggregateKey, Values]:
    """K2 per owner, team and portal, per month of T0 and all time (or only the keys in `only`).

    `leads` are contacts with a T0; `responded` those with a t1 (a sales touch at or after T0) and
    `awaiting_response` those without one. `share_within_1h` = leads responded within 1 hour / leads whose
    `kpi_responded_within_1h` is decided (responded, or T0 more than an hour ago): a lead answered in 5 minutes
    counts as soon as it is answered, so the share never exceeds 1. Median and mean are over responded leads,
    in whole minutes as written to `kpi_lead_response_minutes`.
    """
    cells: dict[CellKey, ResponseCell] = {}
    for c in contacts:
        add_response(cells, c, calendar, 1)
    return roll_up(KPI, cells, scopes, ResponseCell.total, only)


def add_response(cells: dict[CellKey, ResponseCell], c: ContactKpis, calendar: Calendar, sign: int) -> None:
    """Count a contact into its K2 cell (`sign` 1), or take it out again (-1); non-leads count nowhere."""
    t0 = c.t0
    if t0 is None:
        return
    key = (Scopes.owner_key(c.owner_id), calendar.period(t0))
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = ResponseCell()
    cell.leads += sign
    if c.lead_response_minutes is None:
        cell.awaiting += sign
    else:
        bump(cell.minutes, c.lead_response_minutes, sign)
    if c.responded_within_1h is not None:
        cell.decided += sign
        cell.within_1h += sign * c.responded_within_1h
