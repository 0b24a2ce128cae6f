"""kpi_followup_status (each rule and its precedence), per-day touches, SQL-to-customer days, next_change_at."""

from __future__ import annotations

import pytest

from kpi.config import KpiConfig
from kpi.contact import FollowupStatus, compute_contact, days_sql_to_customer, is_decision_maker, next_change_at
from kpi.properties import properties_of
from kpi.rows import Contact, Engagement
from tests.kpi.kpi_factories import (
    BASE,
    CONNECTED,
    DAY,
    HOUR,
    make_call,
    make_contact,
    make_email,
    make_lead,
    make_meeting,
)

S = FollowupStatus
STALE = 14 * DAY


def _status(contact: Contact, engagements: list[Engagement], now_ms: int, config: KpiConfig) -> FollowupStatus:
    kpis = compute_contact(contact, engagements, config, now_ms)
    assert kpis is not None
    return kpis.followup_status


@pytest.mark.parametrize(
    ("contact", "engagements", "now_ms", "status"),
    [
        (make_lead(sql_date=BASE), [], BASE, S.CONVERTED),
        (make_lead(opportunity_date=BASE), [], BASE, S.CONVERTED),
        (make_lead(customer_date=BASE), [], BASE, S.CONVERTED),
        (make_lead(sql_date=BASE), [make_call(disposition=CONNECTED)], BASE, S.CONVERTED),
        (make_lead(), [make_call(disposition=CONNECTED)], BASE + 100 * DAY, S.IN_CONVERSATION),
        (make_lead(), [make_email(direction="INCOMING_EMAIL")], BASE, S.IN_CONVERSATION),
        (make_lead(), [], BASE + 100 * DAY, S.NOT_STARTED),
        (make_lead(), [make_call()], BASE + STALE, S.FOLLOWING_UP),
        (make_lead(), [make_call()], BASE + STALE + 1, S.STOPPED_EARLY),
        (make_lead(), [make_call(BASE + i * HOUR) for i in range(4)], BASE + 100 * DAY, S.STOPPED_EARLY),
        (make_lead(), [make_call(BASE + i * HOUR) for i in range(5)], BASE + 100 * DAY, S.EXHAUSTED),
        (make_lead(), [make_call(BASE + i * HOUR) for i in range(5)], BASE + 4 * HOUR + STALE, S.FOLLOWING_UP),
        (make_lead(), [make_meeting(outcome="SCHEDULED")], BASE + 100 * DAY, S.STOPPED_EARLY),
    ],
    ids=[
        "sql",
        "opportunity",
        "customer",
        "converted-beats-conversation",
        "connected-call",
        "reply",
        "no-touch",
        "stale-boundary-inclusive",
        "stale-plus-1ms",
        "4-attempts",
        "5-attempts",
        "5-attempts-still-recent",
        "scheduled-meeting-is-no-conversation",
    ],
)
def test_followup_status_rules(
    contact: Contact, engagements: list[Engagement], now_ms: int, status: FollowupStatus, config: KpiConfig
) -> None:
    """The first rule that applies: converted, in_conversation, not_started, following_up, stopped_early, exhausted."""
    assert _status(contact, engagements, now_ms, config) is status


@pytest.mark.parametrize(("attempts", "status"), [(2, S.STOPPED_EARLY), (3, S.EXHAUSTED)])
def test_min_attempts_is_configurable(attempts: int, status: FollowupStatus) -> None:
    """min_attempts moves the stopped_early / exhausted boundary."""
    config = KpiConfig(min_attempts=3)
    engagements = [make_call(BASE + i * HOUR) for i in range(attempts)]
    assert _status(make_lead(), engagements, BASE + 100 * DAY, config) is status


@pytest.mark.parametrize(("age", "status"), [(2 * DAY, S.FOLLOWING_UP), (2 * DAY + 1, S.STOPPED_EARLY)])
def test_stale_after_days_is_configurable(age: int, status: FollowupStatus) -> None:
    """stale_after_days moves the following_up boundary (inclusive)."""
    config = KpiConfig(stale_after_days=2)
    assert _status(make_lead(), [make_call()], BASE + age, config) is status


@pytest.mark.parametrize(
    ("offsets", "maximum"),
    [
        ([], 0),
        ([0], 1),
        ([0, HOUR, 2 * HOUR], 3),
        ([0, DAY, 2 * DAY], 1),
        ([0, HOUR, DAY, DAY + HOUR, DAY + 2 * HOUR], 3),
    ],
)
def test_max_touches_per_day(offsets: list[int], maximum: int, config: KpiConfig, now: int) -> None:
    """kpi_max_touches_per_day is the largest number of touches on one calendar day; 0 without touches."""
    kpis = compute_contact(make_lead(), [make_call(BASE + o) for o in offsets], config, now)
    assert kpis is not None
    assert kpis.max_touches_per_day == maximum


@pytest.mark.parametrize(("timezone", "maximum"), [("UTC", 1), ("Europe/Amsterdam", 2)])
def test_max_touches_per_day_uses_the_time_zone(timezone: str, maximum: int, now: int) -> None:
    """Days are calendar days in the configured zone: 22:30Z and 23:30Z on Oct 4 and 00:30Z on Oct 5."""
    day_start = BASE - 10 * HOUR  # 2026-10-05T00:00Z
    times = [day_start - 90 * 60_000, day_start + 30 * 60_000]  # 22:30Z (00:30 CEST Oct 5) and 00:30Z
    kpis = compute_contact(make_lead(), [make_call(t) for t in times], KpiConfig(timezone=timezone), now)
    assert kpis is not None
    assert kpis.max_touches_per_day == maximum


@pytest.mark.parametrize(
    ("sql", "customer", "days"),
    [
        (BASE, BASE + 3 * DAY, 3),
        (BASE, BASE + 3 * DAY - 1, 2),
        (BASE, BASE, 0),
        (BASE, BASE - 1, None),
        (None, BASE, None),
        (BASE, None, None),
    ],
    ids=["three-days", "floored", "same-ms", "customer-before-sql", "no-sql", "no-customer"],
)
def test_days_sql_to_customer(sql: int | None, customer: int | None, days: int | None) -> None:
    """floor((customer - sql) / 1 day) when both are set and customer is not before SQL; else empty."""
    assert days_sql_to_customer(make_contact(sql_date=sql, customer_date=customer)) == days


@pytest.mark.parametrize(
    ("role", "decision_maker"),
    [
        ("DECISION_MAKER", True),
        ("BUDGET_HOLDER", True),
        ("INFLUENCER;BUDGET_HOLDER", True),
        ("INFLUENCER; DECISION_MAKER", True),
        ("INFLUENCER;END_USER", False),
        ("", False),
        (None, False),
        ("decision_maker", False),
    ],
)
def test_decision_maker(role: str | None, decision_maker: bool, config: KpiConfig) -> None:
    """D6: the ;-separated buying roles contain a configured decision-maker role (exact internal values)."""
    assert is_decision_maker(make_contact(buying_role=role), config) is decision_maker


@pytest.mark.parametrize(
    ("contact", "engagements", "now_ms", "expected"),
    [
        (make_lead(), [], BASE + 10 * 60_000, BASE + HOUR + 1),
        (make_lead(), [], BASE + HOUR + 1, None),
        (make_lead(), [make_call(BASE + 5 * 60_000)], BASE + 10 * 60_000, BASE + 5 * 60_000 + STALE + 1),
        (make_contact(), [make_call()], BASE + DAY, BASE + STALE + 1),
        (make_lead(), [make_call(BASE - DAY)], BASE + 10 * 60_000, BASE + HOUR + 1),
        (make_lead(), [make_call(BASE - 20 * DAY)], BASE + 10 * 60_000, BASE + HOUR + 1),
        (make_lead(), [make_call(disposition=CONNECTED)], BASE + DAY, None),
        (make_lead(sql_date=BASE), [make_call()], BASE + DAY, None),
        (make_contact(), [make_call()], BASE + STALE + 1, None),
    ],
    ids=[
        "awaiting-response",
        "window-passed",
        "following-up",
        "following-up-non-lead",
        "touch-before-t0-both-pending",
        "old-touch-before-t0",
        "in-conversation",
        "converted",
        "stale",
    ],
)
def test_next_change_at(
    contact: Contact, engagements: list[Engagement], now_ms: int, expected: int | None, config: KpiConfig
) -> None:
    """The earliest time a value changes with no new data: T0 + 1 h + 1 ms, or last touch + stale days + 1 ms."""
    kpis = compute_contact(contact, engagements, config, now_ms)
    assert kpis is not None
    assert kpis.next_change_at == expected
    assert next_change_at(kpis, config) == expected


def test_next_change_at_is_when_the_value_really_changes(config: KpiConfig) -> None:
    """Recomputing at next_change_at - 1 gives the same values; at next_change_at they differ."""
    contact, engagements = make_lead(), [make_call(BASE - DAY)]
    kpis = compute_contact(contact, engagements, config, BASE)
    assert kpis is not None
    assert kpis.next_change_at is not None
    before = compute_contact(contact, engagements, config, kpis.next_change_at - 1)
    after = compute_contact(contact, engagements, config, kpis.next_change_at)
    assert before is not None
    assert after is not None
    assert properties_of(before) == properties_of(kpis) != properties_of(after)
