"""D1-D3 and the counting properties of compute_contact: what is a touch, a call, a conversation."""

from __future__ import annotations

import pytest

from kpi.config import KpiConfig
from kpi.contact import compute_contact
from kpi.rows import Contact, Engagement
from tests.kpi.kpi_factories import (
    BASE,
    CONNECTED,
    HOUR,
    make_call,
    make_contact,
    make_email,
    make_lead,
    make_meeting,
    make_other,
)


def _label(e: Engagement) -> str:
    detail = e.call_direction if e.type == "call" else e.email_direction or e.meeting_outcome
    return f"{e.type}/{detail!r}" + ("/no-owner" if not e.owner_id else "") + ("/archived" if e.archived else "")


@pytest.mark.parametrize(
    ("engagement", "touches"),
    [
        (make_call(direction="OUTBOUND"), 1),
        (make_call(direction=None), 1),
        (make_call(direction=""), 1),
        (make_call(direction="INBOUND"), 0),
        (make_email(direction="EMAIL"), 1),
        (make_email(direction="FORWARDED_EMAIL"), 0),
        (make_email(direction="INCOMING_EMAIL"), 0),
        (make_meeting(outcome="COMPLETED"), 1),
        (make_meeting(outcome="SCHEDULED"), 1),
        (make_meeting(outcome=None), 1),
        (make_meeting(outcome="CANCELED"), 0),
        (make_other("note"), 0),
        (make_other("task"), 0),
        (make_call(owner_id=None), 0),
        (make_call(owner_id=""), 0),
        (make_email(owner_id=None), 0),
        (make_meeting(owner_id=None), 0),
        (make_call(archived=True), 0),
    ],
    ids=lambda v: _label(v) if isinstance(v, Engagement) else str(v),
)
def test_touch_definition(engagement: Engagement, touches: int, config: KpiConfig, now: int) -> None:
    """D1: only owned outbound/empty-direction calls, EMAIL emails and non-canceled meetings are touches."""
    kpis = compute_contact(make_lead(), [engagement], config, now)
    assert kpis is not None
    assert kpis.sales_touches == touches


def test_engagement_with_several_contacts_is_one_touch_each(config: KpiConfig, now: int) -> None:
    """An engagement associated with two contacts is one touch for each of them."""
    call = make_call(contacts=(1, 2))
    first = compute_contact(make_contact(1), [call], config, now)
    second = compute_contact(make_contact(2), [call], config, now)
    assert first is not None
    assert second is not None
    assert (first.sales_touches, second.sales_touches) == (1, 1)


def test_engagement_listed_twice_counts_once(config: KpiConfig, now: int) -> None:
    """The same engagement passed twice is one touch."""
    call = make_call()
    kpis = compute_contact(make_contact(), [call, call], config, now)
    assert kpis is not None
    assert kpis.sales_touches == 1


def test_missing_timestamp_is_skipped_and_counted(config: KpiConfig, now: int) -> None:
    """An engagement without a timestamp takes part in nothing and is counted as skipped."""
    engagements = [make_call(None, disposition=CONNECTED), make_email(None), make_other("note", None), make_call()]
    kpis = compute_contact(make_lead(), engagements, config, now)
    assert kpis is not None
    assert (kpis.sales_touches, kpis.connected_calls, kpis.skipped_engagements) == (1, 0, 3)
    assert kpis.first_conversation_at is None


def test_archived_engagement_is_not_counted_as_skipped(config: KpiConfig, now: int) -> None:
    """Archived engagements are excluded before anything else, even without a timestamp."""
    kpis = compute_contact(make_lead(), [make_call(None, archived=True)], config, now)
    assert kpis is not None
    assert kpis.skipped_engagements == 0


@pytest.mark.parametrize(
    ("engagements", "calls", "connected"),
    [
        ([make_call(), make_call(disposition=CONNECTED)], 2, 1),
        ([make_call(disposition="busy")], 1, 0),
        ([make_call(direction="INBOUND", disposition=CONNECTED)], 0, 0),
        ([make_call(owner_id=None, disposition=CONNECTED)], 0, 0),
        ([make_call(direction=None, disposition=CONNECTED)], 1, 1),
        ([make_email(), make_meeting()], 0, 0),
    ],
)
def test_outbound_and_connected_calls(
    engagements: list[Engagement], calls: int, connected: int, config: KpiConfig, now: int
) -> None:
    """kpi_outbound_calls counts call touches; kpi_connected_calls those with a connected disposition (D2)."""
    kpis = compute_contact(make_lead(), engagements, config, now)
    assert kpis is not None
    assert (kpis.outbound_calls, kpis.connected_calls) == (calls, connected)


def test_connected_dispositions_are_configurable(now: int) -> None:
    """A custom disposition set replaces the default Connected GUID."""
    config = KpiConfig(connected_dispositions=frozenset({"spoke"}))
    kpis = compute_contact(make_lead(), [make_call(disposition="spoke"), make_call(disposition=CONNECTED)], config, now)
    assert kpis is not None
    assert kpis.connected_calls == 1


@pytest.mark.parametrize(
    ("conversation", "at"),
    [
        (make_call(BASE + HOUR, disposition=CONNECTED), BASE + HOUR),
        (make_meeting(BASE + HOUR, outcome="COMPLETED"), BASE + HOUR),
        (make_email(BASE + HOUR, direction="INCOMING_EMAIL"), BASE + HOUR),
        (make_email(BASE + HOUR, direction="INCOMING_EMAIL", owner_id=None), BASE + HOUR),
        (make_meeting(BASE + HOUR, outcome="SCHEDULED"), None),
        (make_meeting(BASE + HOUR, outcome="CANCELED"), None),
        (make_call(BASE + HOUR, direction="INBOUND", disposition=CONNECTED), None),
        (make_call(BASE + HOUR, owner_id=None, disposition=CONNECTED), None),
        (make_email(BASE + HOUR, direction="FORWARDED_EMAIL"), None),
    ],
)
def test_conversation_definition(conversation: Engagement, at: int | None, config: KpiConfig, now: int) -> None:
    """D3: connected call touches, completed meeting touches and incoming email replies are conversations."""
    kpis = compute_contact(make_lead(), [conversation], config, now)
    assert kpis is not None
    assert kpis.first_conversation_at == at


@pytest.mark.parametrize(
    ("engagements", "before"),
    [
        ([make_call(BASE), make_call(BASE + HOUR), make_call(BASE + 2 * HOUR, disposition=CONNECTED)], 2),
        ([make_call(BASE, disposition=CONNECTED), make_call(BASE + HOUR)], 0),
        ([make_email(BASE - HOUR, direction="INCOMING_EMAIL"), make_call(BASE)], 0),
        (
            [
                make_call(BASE),
                make_call(BASE + HOUR, disposition=CONNECTED),
                make_meeting(BASE + 2 * HOUR, outcome="COMPLETED"),
            ],
            1,
        ),
        ([make_call(BASE), make_call(BASE, disposition=CONNECTED)], 0),
        ([make_call(BASE), make_call(BASE + HOUR)], None),
    ],
    ids=["two-before", "first-is-conversation", "reply-first", "earliest-conversation", "same-ms", "none"],
)
def test_touches_before_conversation(
    engagements: list[Engagement], before: int | None, config: KpiConfig, now: int
) -> None:
    """kpi_touches_before_conversation counts touches strictly before the first conversation; empty without one."""
    kpis = compute_contact(make_lead(), engagements, config, now)
    assert kpis is not None
    assert kpis.touches_before_conversation == before


def test_first_and_last_touch(config: KpiConfig, now: int) -> None:
    """kpi_first_touch_at / kpi_last_touch_at are the earliest and latest touch, in any input order."""
    engagements = [make_call(BASE + 5 * HOUR), make_email(BASE - HOUR), make_other("note", BASE - 9 * HOUR)]
    kpis = compute_contact(make_contact(), engagements, config, now)
    assert kpis is not None
    assert (kpis.first_touch_at, kpis.last_touch_at) == (BASE - HOUR, BASE + 5 * HOUR)


@pytest.mark.parametrize(
    ("contact", "engagements", "qualifies"),
    [
        (make_contact(), [], False),
        (make_contact(), [make_other("note")], False),
        (make_contact(), [make_call(owner_id=None)], False),
        (make_contact(), [make_call()], True),
        (make_lead(), [], True),
        (make_lead(archived=True), [make_call()], False),
        (make_contact(archived=True), [make_call()], False),
    ],
    ids=["nothing", "note-only", "ownerless-call", "touched", "lead", "archived-lead", "archived-touched"],
)
def test_who_qualifies(
    contact: Contact, engagements: list[Engagement], qualifies: bool, config: KpiConfig, now: int
) -> None:
    """A non-archived contact qualifies when it is a lead or has a sales touch; otherwise None (cleared)."""
    assert (compute_contact(contact, engagements, config, now) is not None) is qualifies


@pytest.mark.parametrize(
    ("emails", "shares"),
    [
        ([make_email(urls=("https://acme.com/ebooks/x",))], 1),
        ([make_email(urls=("https://acme.com/ebooks/x", "https://acme.com/guides/y"))], 1),
        ([make_email(urls=("https://acme.com/pricing",))], 0),
        ([make_email(direction="INCOMING_EMAIL", urls=("https://acme.com/ebooks/x",))], 0),
        ([make_email(urls=("https://acme.com/ebooks/x",)), make_email(urls=("https://acme.com/webinar",))], 2),
    ],
    ids=["one", "two-links-one-email", "no-content", "reply-not-a-touch", "two-emails"],
)
def test_content_shares(emails: list[Engagement], shares: int, config: KpiConfig, now: int) -> None:
    """kpi_content_shares counts email touches with at least one marketing content link (D7)."""
    kpis = compute_contact(make_lead(), emails, config, now)
    assert kpis is not None
    assert kpis.content_shares == shares
