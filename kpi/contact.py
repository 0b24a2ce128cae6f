"""Per-contact values (D1-D7); `kpi.properties` turns them into the twelve `kpi_*` properties written back.

`compute_contact` is the one entry point; its `ContactKpis` carries both the property values and the facts the
aggregates (K2, K3, K5) need, so a caller stores one row per contact and feeds those rows to the aggregates.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

from kpi.config import KpiConfig
from kpi.content import content_assets
from kpi.rows import Contact, Engagement

MS_PER_MINUTE = 60_000
MS_PER_DAY = 86_400_000
RESPONSE_WINDOW_MS = 3_600_000  # the article's 1 hour; exactly 60 minutes still counts as within

# D4: a contact without a lead date is a lead when its lifecycle stage is one of these.
LEAD_STAGES = frozenset(
    {"lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer", "evangelist"}
)
_OUTBOUND = frozenset({None, "", "OUTBOUND"})  # an empty call direction counts as outbound (D1)


class FollowupStatus(StrEnum):
    """`kpi_followup_status` values, in the order the spec applies its rules."""

    CONVERTED = "converted"
    IN_CONVERSATION = "in_conversation"
    NOT_STARTED = "not_started"
    FOLLOWING_UP = "following_up"
    STOPPED_EARLY = "stopped_early"
    EXHAUSTED = "exhausted"


class ContactKpis(NamedTuple):
    """The KPI values of one qualifying contact plus the facts the aggregates need.

    A NamedTuple rather than a frozen dataclass: as immutable and hashable, and several times cheaper to build
    200k times. Times are ms epoch UTC. `t0` is the lead start (D4, None for a non-lead), `t1` the earliest
    sales touch at or after `t0`, `first_conversation_at` the earliest conversation (D3).
    `skipped_engagements` counts the associated engagements ignored for a missing timestamp. `next_change_at` is
    when a time-dependent value would change with no new data (see `next_change_at`).
    """

    contact_id: int
    owner_id: str | None
    sales_touches: int
    first_touch_at: int | None
    last_touch_at: int | None
    lead_response_minutes: int | None
    responded_within_1h: bool | None
    outbound_calls: int
    connected_calls: int
    touches_before_conversation: int | None
    followup_status: FollowupStatus
    max_touches_per_day: int
    content_shares: int
    days_sql_to_customer: int | None
    t0: int | None
    t1: int | None
    first_conversation_at: int | None
    sql_date: int | None
    customer_date: int | None
    decision_maker: bool
    skipped_engagements: int
    next_change_at: int | None


def lead_start(contact: Contact) -> int | None:
    """D4: the lead date if set, else `createdate` when the lifecycle stage is a lead stage, else None."""
    if contact.lead_date is not None:
        return contact.lead_date
    if contact.lifecyclestage in LEAD_STAGES:
        return contact.createdate
    return None


def is_converted(contact: Contact) -> bool:
    """D5: an SQL, opportunity or customer date is set."""
    return contact.sql_date is not None or contact.opportunity_date is not None or contact.customer_date is not None


def is_decision_maker(contact: Contact, config: KpiConfig) -> bool:
    """D6: the `;`-separated buying roles contain one of `decision_maker_roles` (blanks around a role ignored)."""
    if not contact.buying_role:
        return False
    roles = config.decision_maker_roles
    return any(role.strip() in roles for role in contact.buying_role.split(";"))


def days_sql_to_customer(contact: Contact) -> int | None:
    """Whole days from SQL date to customer date; None unless both are set and customer is not before SQL."""
    sql, customer = contact.sql_date, contact.customer_date
    if sql is None or customer is None or customer < sql:
        return None
    return (customer - sql) // MS_PER_DAY


def compute_contact(
    contact: Contact, engagements: Sequence[Engagement], config: KpiConfig, now_ms: int
) -> ContactKpis | None:
    """The KPI values of `contact`, given the engagements associated with it; None when it does not qualify.

    A contact qualifies when it is not archived and is a lead (D4) or has at least one sales touch (D1); for
    None the caller clears all twelve properties. Archived engagements are ignored; an engagement (its type and
    id) listed twice counts once; a non-archived engagement without a timestamp is counted in
    `skipped_engagements` and takes part in nothing else. Touches before T0 count as touches but never as the
    response (t1 >= T0).
    """
    if contact.archived:
        return None
    if len(engagements) > 1 and len({(e.type, e.id) for e in engagements}) != len(engagements):
        # An engagement is its type and id (the store's key): a call and an email may share an id.
        engagements = list({(e.type, e.id): e for e in engagements}.values())
    times, calls, connected, content, first_conv, skipped = _collect(engagements, config)
    t0 = lead_start(contact)
    if t0 is None and not times:
        return None
    times.sort()
    count = len(times)
    t1: int | None = None
    if t0 is not None:
        at = bisect_left(times, t0)
        t1 = times[at] if at < count else None
    last = times[-1] if times else None
    status = _status(contact, first_conv, count, last, config=config, now_ms=now_ms)
    within = responded_within_1h(t0, t1, now_ms)
    return ContactKpis(
        contact.id,
        contact.owner_id or None,
        count,
        times[0] if times else None,
        last,
        None if t0 is None or t1 is None else (t1 - t0) // MS_PER_MINUTE,
        within,
        calls,
        connected,
        None if first_conv is None else bisect_left(times, first_conv),
        status,
        _max_per_day(times, config),
        content,
        days_sql_to_customer(contact),
        t0,
        t1,
        first_conv,
        contact.sql_date,
        contact.customer_date,
        is_decision_maker(contact, config),
        skipped,
        _next_change(t0, t1, within, status, last, config=config),
    )


_Collected = tuple[list[int], int, int, int, int | None, int]


def _collect(engagements: Sequence[Engagement], config: KpiConfig) -> _Collected:
    """One pass: touch times (D1), calls and connected calls (D2), first conversation (D3), content shares (D7).

    Returns (touch times, calls, connected calls, content shares, first conversation time, skipped).
    """
    times: list[int] = []
    conversations: list[int] = []
    touch, talk = times.append, conversations.append
    calls = connected = content = skipped = 0
    connected_set = config.connected_dispositions
    content_re = config.content_re
    for e in engagements:
        if e.archived:
            continue
        ts = e.timestamp
        if ts is None:
            skipped += 1
            continue
        kind = e.type
        if kind == "call":
            if e.owner_id and e.call_direction in _OUTBOUND:
                touch(ts)
                calls += 1
                if e.call_disposition in connected_set:
                    connected += 1
                    talk(ts)
        elif kind == "email":
            direction = e.email_direction
            if direction == "EMAIL" and e.owner_id:
                touch(ts)
                if e.urls and content_assets(e.urls, content_re):
                    content += 1
            elif direction == "INCOMING_EMAIL":
                talk(ts)
        elif kind == "meeting" and e.owner_id and e.meeting_outcome != "CANCELED":
            touch(ts)
            if e.meeting_outcome == "COMPLETED":
                talk(ts)
    first_conv = min(conversations) if conversations else None
    return times, calls, connected, content, first_conv, skipped


def responded_within_1h(t0: int | None, t1: int | None, now_ms: int) -> bool | None:
    """`kpi_responded_within_1h`: None for a non-lead or while the first hour has not passed without a touch."""
    if t0 is None:
        return None
    if t1 is not None:
        return t1 - t0 <= RESPONSE_WINDOW_MS
    if now_ms - t0 > RESPONSE_WINDOW_MS:
        return False
    return None


def _status(
    contact: Contact, first_conv: int | None, touches: int, last: int | None, *, config: KpiConfig, now_ms: int
) -> FollowupStatus:
    if is_converted(contact):
        return FollowupStatus.CONVERTED
    if first_conv is not None:
        return FollowupStatus.IN_CONVERSATION
    if last is None:
        return FollowupStatus.NOT_STARTED
    if now_ms - last <= config.stale_after_ms:
        return FollowupStatus.FOLLOWING_UP
    if touches < config.min_attempts:
        return FollowupStatus.STOPPED_EARLY
    return FollowupStatus.EXHAUSTED


def _max_per_day(times: list[int], config: KpiConfig) -> int:
    """The most touches in one local calendar day (K3's day, in the configured time zone)."""
    if len(times) < 2:
        return len(times)
    days = config.calendar.days(times)
    if days[0] == days[-1]:
        return len(days)
    return max(Counter(days).values())


def _next_change(
    t0: int | None,
    t1: int | None,
    within: bool | None,
    status: FollowupStatus,
    last: int | None,
    *,
    config: KpiConfig,
) -> int | None:
    candidates: list[int] = []
    if t0 is not None and t1 is None and within is None:
        candidates.append(t0 + RESPONSE_WINDOW_MS + 1)
    if status is FollowupStatus.FOLLOWING_UP and last is not None:
        candidates.append(last + config.stale_after_ms + 1)
    return min(candidates, default=None)


def next_change_at(kpis: ContactKpis, config: KpiConfig) -> int | None:
    """The earliest time (ms) at which a value of `kpis` changes with no new data, or None if none will.

    `kpi_responded_within_1h` turns from empty to false at T0 + 1 h + 1 ms while no touch came (the spec's
    `now - T0 > 3,600,000`); `kpi_followup_status` leaves `following_up` at last touch + `stale_after_days` +
    1 ms. The orchestrator recomputes a contact once `now >= next_change_at`. Always later than the `now_ms` the
    values were computed at.
    """
    return _next_change(
        kpis.t0, kpis.t1, kpis.responded_within_1h, kpis.followup_status, kpis.last_touch_at, config=config
    )
