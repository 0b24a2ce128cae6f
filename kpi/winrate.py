"""K5 opportunity-win ratio: SQL to customer by the contact's owner, deal win rate by the deal's owner.

The article gives no figure for this KPI; it is shown without a benchmark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from kpi.contact import ContactKpis
from kpi.facts import DealFact
from kpi.periods import Calendar
from kpi.scopes import AggregateKey, CellKey, Scopes, Values, add_counts, bump, median, pooled, ratio, roll_up

KPI = "K5"


@dataclass(slots=True)
class WinCell:
    """Partial K5 counts of one owner and month (or of one key while rolling up)."""

    sqls: int = 0
    days: Counter[int] = field(default_factory=Counter)  # whole days SQL to customer -> customers
    won: int = 0
    lost: int = 0

    def merge(self, other: WinCell) -> None:
        """Add `other` into this cell."""
        self.sqls += other.sqls
        add_counts(self.days, other.days)
        self.won += other.won
        self.lost += other.lost

    @classmethod
    def total(cls, cells: Sequence[WinCell]) -> Values:
        """The K5 metrics."""
        days = pooled([c.days for c in cells])
        customers = len(days)
        sqls = sum(c.sqls for c in cells)
        won = sum(c.won for c in cells)
        lost = sum(c.lost for c in cells)
        return {
            "sqls": sqls,
            "customers": customers,
            "sql_to_customer_ratio": ratio(customers, sqls),
            "median_days_sql_to_customer": median(days),
            "deals_won": won,
            "deals_lost": lost,
            "deal_win_rate": ratio(won, won + lost),
        }


def aggregate_winrate(
    contacts: Iterable[ContactKpis],
    deals: Iterable[DealFact],
    scopes: Scopes,
    calendar: Calendar,
    *,
    only: Collection[AggregateKey] | None = None,
) -> dict[AggregateKey, Values]:
    """K5 per owner, team and portal, per month and all time (or only the keys in `only`).

    SQL side: qualifying contacts with an SQL date, in the month of that date, by contact owner; `customers`
    are those whose customer date is at or after the SQL date (`kpi_days_sql_to_customer` set), and the median
    is over their whole days. Deal side: closed deals by deal owner in the month of `closedate`; a closed deal
    without a close date counts in "all" only; open deals and deals whose outcome is unknown are not counted.
    """
    cells: dict[CellKey, WinCell] = {}
    for c in contacts:
        add_sql(cells, c, calendar, 1)
    for key, cell in deal_cells(deals, calendar).items():
        _cell(cells, key).merge(cell)
    return roll_up(KPI, cells, scopes, WinCell.total, only)


def add_sql(cells: dict[CellKey, WinCell], c: ContactKpis, calendar: Calendar, sign: int) -> None:
    """Count a contact's SQL side into its K5 cell (`sign` 1), or take it out again (-1)."""
    if c.sql_date is None:
        return
    cell = _cell(cells, (Scopes.owner_key(c.owner_id), calendar.period(c.sql_date)))
    cell.sqls += sign
    if c.days_sql_to_customer is not None:
        bump(cell.days, c.days_sql_to_customer, sign)


class DealSide(NamedTuple):
    """What one closed deal adds to the deal side of K5: its cell (deal owner, month of `closedate`) and outcome."""

    cell: CellKey
    won: bool


def deal_side(deal: DealFact, calendar: Calendar) -> DealSide | None:
    """The deal's part of the deal side of K5; None while it is open (or its outcome unknown)."""
    if deal.won is None:
        return None
    month = None if deal.closedate is None else calendar.period(deal.closedate)
    return DealSide((Scopes.owner_key(deal.owner_id), month), deal.won)


def add_deal(cells: dict[CellKey, WinCell], side: DealSide, sign: int) -> None:
    """Count a closed deal into its cell (`sign` 1), or take it out again (-1)."""
    cell = _cell(cells, side.cell)
    if side.won:
        cell.won += sign
    else:
        cell.lost += sign


def deal_cells(deals: Iterable[DealFact], calendar: Calendar) -> dict[CellKey, WinCell]:
    """The deal side of K5: closed deals won and lost, by deal owner and month of `closedate`."""
    cells: dict[CellKey, WinCell] = {}
    for deal in deals:
        side = deal_side(deal, calendar)
        if side is not None:
            add_deal(cells, side, 1)
    return cells


def _cell(cells: dict[CellKey, WinCell], key: CellKey) -> WinCell:
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = WinCell()
    return cell
