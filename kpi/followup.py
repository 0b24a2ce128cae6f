"""K3 follow-up of contacts, by the contact's owner and the month of the first sales touch.

Benchmark (the article): only 2 % of sales happen at the first contact; a prospect says "no" about four times
before a "yes", so at least 5 attempts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from kpi.contact import ContactKpis, FollowupStatus
from kpi.periods import Calendar
from kpi.scopes import AggregateKey, CellKey, Scopes, Values, add_counts, ratio, roll_up

KPI = "K3"
OVER_CONTACTED_PER_DAY = 3  # touches on one contact in one day that count as over-contacting
ATTEMPT_BUCKETS = ("1", "2", "3", "4", "5_plus")
STATUSES = tuple(s.value for s in FollowupStatus)


@dataclass(slots=True)
class FollowupCell:
    """Partial K3 counts of one owner and month (or of one key while rolling up)."""

    touched: int = 0
    touches: int = 0
    over_contacted: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    attempts: list[int] = field(default_factory=lambda: [0] * len(ATTEMPT_BUCKETS))

    def merge(self, other: FollowupCell) -> None:
        """Add `other` into this cell."""
        self.touched += other.touched
        self.touches += other.touches
        self.over_contacted += other.over_contacted
        add_counts(self.statuses, other.statuses)
        self.attempts = [a + b for a, b in zip(self.attempts, other.attempts, strict=True)]

    @classmethod
    def total(cls, cells: Sequence[FollowupCell]) -> Values:
        """The K3 metrics."""
        touched = touches = over_contacted = 0
        statuses = dict.fromkeys(STATUSES, 0)
        attempts = [0] * len(ATTEMPT_BUCKETS)
        for c in cells:
            touched += c.touched
            touches += c.touches
            over_contacted += c.over_contacted
            for status, count in c.statuses.items():
                if status in statuses:  # a status this version does not know counts nowhere
                    statuses[status] += count
            attempts = [a + b for a, b in zip(attempts, c.attempts, strict=True)]
        values: Values = {"contacts_touched": touched, "mean_touches": ratio(touches, touched)}
        for status, count in statuses.items():
            values[f"status_{status}"] = count
        stopped = statuses[FollowupStatus.STOPPED_EARLY.value]
        exhausted = statuses[FollowupStatus.EXHAUSTED.value]
        values["share_stopped_early"] = ratio(stopped, stopped + exhausted)
        for bucket, count in zip(ATTEMPT_BUCKETS, attempts, strict=True):
            values[f"first_conversation_attempt_{bucket}"] = count
        values["over_contacted"] = over_contacted
        return values


def aggregate_followup(
    contacts: Iterable[ContactKpis],
    scopes: Scopes,
    calendar: Calendar,
    *,
    only: Collection[AggregateKey] | None = None,
) -> dict[AggregateKey, Values]:
    """K3 per owner, team and portal, per month of the first sales touch and all time (or only `only`).

    Every qualifying contact is counted in the month of its first sales touch; a contact without any touch has
    no such month and counts in "all" only (so `status_not_started` is non-zero only there, and a month's
    status counts add up to its `contacts_touched`). `mean_touches` is over touched contacts. The first
    conversation's attempt (touches before it + 1) is bucketed 1, 2, 3, 4, 5+ for contacts with a conversation.
    `over_contacted` counts contacts with `kpi_max_touches_per_day` >= 3.
    """
    cells: dict[CellKey, FollowupCell] = {}
    for c in contacts:
        add_followup(cells, c, calendar, 1)
    return roll_up(KPI, cells, scopes, FollowupCell.total, only)


def add_followup(cells: dict[CellKey, FollowupCell], c: ContactKpis, calendar: Calendar, sign: int) -> None:
    """Count a contact into its K3 cell (`sign` 1), or take it out again (-1)."""
    first = c.first_touch_at
    key = (Scopes.owner_key(c.owner_id), None if first is None else calendar.period(first))
    cell = cells.get(key)
    if cell is None:
        cell = cells[key] = FollowupCell()
    if first is not None:
        cell.touched += sign
        cell.touches += sign * c.sales_touches
    status = c.followup_status.value
    count = cell.statuses.get(status, 0) + sign
    if count:
        cell.statuses[status] = count
    else:
        cell.statuses.pop(status, None)
    if c.touches_before_conversation is not None:
        cell.attempts[min(c.touches_before_conversation, len(ATTEMPT_BUCKETS) - 1)] += sign
    if c.max_touches_per_day >= OVER_CONTACTED_PER_DAY:
        cell.over_contacted += sign
