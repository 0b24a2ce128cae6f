"""The HubSpot string forms of the twelve kpi_* properties."""

from __future__ import annotations

from kpi.config import KpiConfig
from kpi.contact import compute_contact
from kpi.properties import PROPERTY_NAMES, properties_of
from tests.kpi.kpi_factories import BASE, CONNECTED, HOUR, make_call, make_contact, make_email, make_lead


def test_property_names_in_spec_order() -> None:
    """The twelve names, in the order of the spec's table."""
    assert PROPERTY_NAMES == (
        "kpi_sales_touches",
        "kpi_first_touch_at",
        "kpi_last_touch_at",
        "kpi_lead_response_minutes",
        "kpi_responded_within_1h",
        "kpi_outbound_calls",
        "kpi_connected_calls",
        "kpi_touches_before_conversation",
        "kpi_followup_status",
        "kpi_max_touches_per_day",
        "kpi_content_shares",
        "kpi_days_sql_to_customer",
    )


def test_a_contact_that_does_not_qualify_gets_every_property_cleared() -> None:
    """properties_of(None) maps all twelve names to the empty string."""
    assert properties_of(None) == dict.fromkeys(PROPERTY_NAMES, "")


def test_full_property_strings(config: KpiConfig, now: int) -> None:
    """Numbers as integer strings, datetimes as ms-epoch strings, booleans as true/false, enumeration values."""
    contact = make_lead(sql_date=BASE, customer_date=BASE + 3 * 86_400_000)
    engagements = [
        make_call(BASE + 30 * 60_000),
        make_email(BASE + HOUR, urls=("https://acme.com/case-studies/x",)),
        make_call(BASE + 2 * HOUR, disposition=CONNECTED),
    ]
    kpis = compute_contact(contact, engagements, config, now)
    assert kpis is not None
    assert properties_of(kpis) == {
        "kpi_sales_touches": "3",
        "kpi_first_touch_at": str(BASE + 30 * 60_000),
        "kpi_last_touch_at": str(BASE + 2 * HOUR),
        "kpi_lead_response_minutes": "30",
        "kpi_responded_within_1h": "true",
        "kpi_outbound_calls": "2",
        "kpi_connected_calls": "1",
        "kpi_touches_before_conversation": "2",
        "kpi_followup_status": "converted",
        "kpi_max_touches_per_day": "3",
        "kpi_content_shares": "1",
        "kpi_days_sql_to_customer": "3",
    }


def test_empty_values_are_empty_strings(config: KpiConfig) -> None:
    """A lead with no touch yet: zero counts as "0", unknown values as ""."""
    kpis = compute_contact(make_lead(), [], config, BASE)
    assert kpis is not None
    assert properties_of(kpis) == {
        "kpi_sales_touches": "0",
        "kpi_first_touch_at": "",
        "kpi_last_touch_at": "",
        "kpi_lead_response_minutes": "",
        "kpi_responded_within_1h": "",
        "kpi_outbound_calls": "0",
        "kpi_connected_calls": "0",
        "kpi_touches_before_conversation": "",
        "kpi_followup_status": "not_started",
        "kpi_max_touches_per_day": "0",
        "kpi_content_shares": "0",
        "kpi_days_sql_to_customer": "",
    }


def test_false_is_written_as_false(config: KpiConfig, now: int) -> None:
    """kpi_responded_within_1h false is the string "false", not empty."""
    kpis = compute_contact(make_lead(), [make_call(BASE + 2 * HOUR)], config, now)
    assert kpis is not None
    assert properties_of(kpis)["kpi_responded_within_1h"] == "false"


def test_non_lead_touched_contact(config: KpiConfig, now: int) -> None:
    """A touched non-lead has counts but empty lead-only values."""
    kpis = compute_contact(make_contact(), [make_call()], config, now)
    assert kpis is not None
    props = properties_of(kpis)
    assert (props["kpi_sales_touches"], props["kpi_lead_response_minutes"], props["kpi_responded_within_1h"]) == (
        "1",
        "",
        "",
    )
