"""D4 lead start and the response values: kpi_lead_response_minutes and kpi_responded_within_1h."""

from __future__ import annotations

import pytest

from kpi.config import KpiConfig
from kpi.contact import compute_contact, lead_start, responded_within_1h
from kpi.rows import Contact
from tests.kpi.kpi_factories import BASE, HOUR, MIN, make_call, make_contact, make_email, make_lead


@pytest.mark.parametrize(
    ("contact", "t0"),
    [
        (make_contact(lead_date=BASE + HOUR, lifecyclestage="subscriber"), BASE + HOUR),
        (make_contact(lead_date=BASE + HOUR, lifecyclestage="lead"), BASE + HOUR),
        (make_contact(lifecyclestage="lead"), BASE),
        (make_contact(lifecyclestage="marketingqualifiedlead"), BASE),
        (make_contact(lifecyclestage="salesqualifiedlead"), BASE),
        (make_contact(lifecyclestage="opportunity"), BASE),
        (make_contact(lifecyclestage="customer"), BASE),
        (make_contact(lifecyclestage="evangelist"), BASE),
        (make_contact(lifecyclestage="subscriber"), None),
        (make_contact(lifecyclestage="other"), None),
        (make_contact(lifecyclestage=None), None),
        (make_contact(lifecyclestage="lead", createdate=None), None),
    ],
)
def test_lead_start(contact: Contact, t0: int | None) -> None:
    """D4: the lead date if set, else createdate for a contact in a lead lifecycle stage, else no T0."""
    assert lead_start(contact) == t0


@pytest.mark.parametrize(
    ("touch_offset", "minutes"),
    [(0, 0), (59_999, 0), (60_000, 1), (90 * MIN + 59_999, 90), (HOUR, 60), (42 * HOUR, 2520)],
)
def test_response_minutes_are_floored(touch_offset: int, minutes: int, config: KpiConfig, now: int) -> None:
    """kpi_lead_response_minutes = floor((t1 - T0) / 60000)."""
    kpis = compute_contact(make_lead(), [make_call(BASE + touch_offset)], config, now)
    assert kpis is not None
    assert kpis.lead_response_minutes == minutes


def test_touches_before_t0_are_not_the_response(config: KpiConfig, now: int) -> None:
    """t1 is the earliest touch at or after T0; earlier touches still count as touches."""
    engagements = [make_call(BASE - 2 * HOUR), make_email(BASE + 3 * HOUR)]
    kpis = compute_contact(make_lead(), engagements, config, now)
    assert kpis is not None
    assert (kpis.t1, kpis.lead_response_minutes, kpis.sales_touches) == (BASE + 3 * HOUR, 180, 2)
    assert kpis.first_touch_at == BASE - 2 * HOUR


def test_only_touches_before_t0_means_no_response(config: KpiConfig, now: int) -> None:
    """A lead touched only before T0 has no t1: response minutes empty, within-1h false once the hour passed."""
    kpis = compute_contact(make_lead(), [make_call(BASE - HOUR)], config, now)
    assert kpis is not None
    assert (kpis.t1, kpis.lead_response_minutes, kpis.responded_within_1h) == (None, None, False)


def test_non_lead_has_no_response_values(config: KpiConfig, now: int) -> None:
    """Response values are for leads only."""
    kpis = compute_contact(make_contact(), [make_call(BASE)], config, now)
    assert kpis is not None
    assert (kpis.lead_response_minutes, kpis.responded_within_1h, kpis.t0) == (None, None, None)


@pytest.mark.parametrize(
    ("t1", "now_ms", "within"),
    [
        (BASE + 3_600_000, BASE + 10 * HOUR, True),
        (BASE + 3_600_001, BASE + 10 * HOUR, False),
        (BASE, BASE, True),
        (BASE + 30 * MIN, BASE + 31 * MIN, True),
        (None, BASE + 3_600_000, None),
        (None, BASE + 3_600_001, False),
        (None, BASE + MIN, None),
        (None, BASE - HOUR, None),
    ],
    ids=[
        "exactly-60-min",
        "60-min-and-1-ms",
        "at-t0",
        "early-answer",
        "no-touch-window-open",
        "no-touch-window-passed",
        "no-touch-just-started",
        "t0-in-future",
    ],
)
def test_responded_within_1h(t1: int | None, now_ms: int, within: bool | None) -> None:
    """kpi_responded_within_1h: true iff t1 - T0 <= 3,600,000 ms; false without t1 once now - T0 > 1 h."""
    assert responded_within_1h(BASE, t1, now_ms) is within


def test_responded_within_1h_for_non_lead_is_empty() -> None:
    """Without T0 the value is empty whatever the times."""
    assert responded_within_1h(None, BASE, BASE + 10 * HOUR) is None


def test_responded_within_1h_through_compute_contact(config: KpiConfig) -> None:
    """compute_contact applies the 60-minute tie rule to the real first touch."""
    kpis = compute_contact(make_lead(), [make_call(BASE + HOUR), make_call(BASE + 2 * HOUR)], config, BASE + HOUR)
    assert kpis is not None
    assert kpis.responded_within_1h is True
