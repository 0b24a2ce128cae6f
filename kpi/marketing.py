"""K4 use of marketing content by sales, by the email's owner and the email's month.

The article gives no figure for this KPI; it is shown without a benchmark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from kpi.facts import EmailFact
from kpi.periods import ALL_TIME, Calendar
from kpi.scopes import AggregateKey, CellKey, Scopes, Values, add_counts, distinct, ratio, roll_up

KPI = "K4"
TOP_ASSETS = 10


@dataclass(slots=True)
class MarketingCell:
    """Partial K4 counts of one owner and month (or of one key while rolling up)."""

    sales_emails: int = 0
    content_emails: int = 0
    assets: Counter[str] = field(default_factory=Counter)  # asset key -> content emails sharing it

    def merge(self, other: MarketingCell) -> None:
        """Add `other` into this cell."""
        self.sales_emails += other.sales_emails
        self.content_emails += other.content_emails
        add_counts(self.assets, other.assets)

    @classmethod
    def total(cls, cells: Sequence[MarketingCell]) -> Values:
        """The K4 metrics."""
        sales = sum(c.sales_emails for c in cells)
        content = sum(c.content_emails for c in cells)
        return {
            "sales_emails": sales,
            "content_emails": content,
            "content_usage_rate": ratio(content, sales),
            "distinct_assets": distinct([c.assets for c in cells]),
        }


def aggregate_marketing(
    emails: Iterable[EmailFact],
    scopes: Scopes,
    calendar: Calendar,
    *,
    only: Collection[AggregateKey] | None = None,
) -> dict[AggregateKey, Values]:
    """K4 per owner, team and portal, per month of the email and all time (or only the keys in `only`).

    Each sales email counts once however many contacts it went to; `distinct_assets` are the distinct asset
    keys (D7) among the content emails of the key.
    """
    return roll_up(KPI, email_cells(emails, calendar), scopes, MarketingCell.total, only)


def email_cells(emails: Iterable[EmailFact], calendar: Calendar) -> dict[CellKey, MarketingCell]:
    """K4 cells by email owner and month of the email."""
    cells: dict[CellKey, MarketingCell] = {}
    period = calendar.period
    for email in emails:
        key = (email.owner_id, period(email.timestamp))
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = MarketingCell()
        cell.sales_emails += 1
        if email.assets:
            cell.content_emails += 1
            cell.assets.update(email.assets)
    return cells


def top_assets(
    emails: Iterable[EmailFact], calendar: Calendar, period: str = ALL_TIME, limit: int = TOP_ASSETS
) -> list[tuple[str, int]]:
    """Portal-wide, the `limit` assets shared in the most emails in `period`, most first, ties by asset key."""
    counts: Counter[str] = Counter()
    for email in emails:
        if email.assets and (period == ALL_TIME or calendar.period(email.timestamp) == period):
            counts.update(email.assets)
    return most_shared(counts, limit)


def most_shared(counts: Counter[str], limit: int = TOP_ASSETS) -> list[tuple[str, int]]:
    """The `limit` assets with the most emails, most first, ties by asset key."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
