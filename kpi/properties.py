"""The twelve `kpi_*` contact properties kpi-sync writes (kpi-spec.md, "Per-contact values"), in one table.

The HubSpot property definitions (`sync.properties`), the values written for a contact and the tests all derive
from `WRITTEN`: a property is added, renamed or retyped here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from kpi.contact import ContactKpis, FollowupStatus

PROPERTY_GROUP: Final = "sales_kpis"
PROPERTY_GROUP_LABEL: Final = "Sales KPIs"

FOLLOWUP_LABELS: Final = {
    FollowupStatus.CONVERTED: "Converted",
    FollowupStatus.IN_CONVERSATION: "In conversation",
    FollowupStatus.NOT_STARTED: "Not started",
    FollowupStatus.FOLLOWING_UP: "Following up",
    FollowupStatus.STOPPED_EARLY: "Stopped early",
    FollowupStatus.EXHAUSTED: "Exhausted",
}


@dataclass(frozen=True)
class WrittenProperty:
    """One written property: its HubSpot name, the `ContactKpis` attribute it carries, HubSpot type and label."""

    name: str
    attribute: str
    type: str  # HubSpot property type: number, datetime, bool, enumeration
    field_type: str  # how HubSpot's UI shows it
    label: str
    description: str

    def text(self, kpis: ContactKpis) -> str:
        """The value as HubSpot takes it: integers, ms-epoch datetimes, "true"/"false", an enum value, "" if empty."""
        value = getattr(kpis, self.attribute)
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, FollowupStatus):
            return value.value
        return str(value)

    def options(self) -> list[tuple[str, str]]:
        """(value, label) pairs of a bool or enumeration property, in display order; empty otherwise."""
        if self.type == "bool":
            return [("true", "Yes"), ("false", "No")]
        if self.type == "enumeration":
            return [(status.value, FOLLOWUP_LABELS[status]) for status in FollowupStatus]
        return []


WRITTEN: Final[tuple[WrittenProperty, ...]] = (
    WrittenProperty(
        "kpi_sales_touches",
        "sales_touches",
        "number",
        "number",
        "Sales touches",
        "Sales touches (owned outbound calls, sent sales emails, meetings not canceled), all time.",
    ),
    WrittenProperty(
        "kpi_first_touch_at",
        "first_touch_at",
        "datetime",
        "date",
        "First sales touch",
        "Time of the earliest sales touch.",
    ),
    WrittenProperty(
        "kpi_last_touch_at",
        "last_touch_at",
        "datetime",
        "date",
        "Last sales touch",
        "Time of the latest sales touch.",
    ),
    WrittenProperty(
        "kpi_lead_response_minutes",
        "lead_response_minutes",
        "number",
        "number",
        "Lead response time (minutes)",
        "Leads only: minutes from lead start to the first sales touch at or after it.",
    ),
    WrittenProperty(
        "kpi_responded_within_1h",
        "responded_within_1h",
        "bool",
        "booleancheckbox",
        "Responded within 1 hour",
        "Leads only: first sales touch within 60 minutes of the lead start.",
    ),
    WrittenProperty(
        "kpi_outbound_calls",
        "outbound_calls",
        "number",
        "number",
        "Outbound calls",
        "Outbound call touches.",
    ),
    WrittenProperty(
        "kpi_connected_calls",
        "connected_calls",
        "number",
        "number",
        "Connected calls",
        "Call touches with a connected outcome.",
    ),
    WrittenProperty(
        "kpi_touches_before_conversation",
        "touches_before_conversation",
        "number",
        "number",
        "Touches before first conversation",
        "Sales touches strictly before the first conversation; empty without a conversation.",
    ),
    WrittenProperty(
        "kpi_followup_status",
        "followup_status",
        "enumeration",
        "select",
        "Follow-up status",
        "Where follow-up stands: converted, in conversation, not started, following up, stopped early, exhausted.",
    ),
    WrittenProperty(
        "kpi_max_touches_per_day",
        "max_touches_per_day",
        "number",
        "number",
        "Most sales touches in one day",
        "The most sales touches on this contact within one calendar day.",
    ),
    WrittenProperty(
        "kpi_content_shares",
        "content_shares",
        "number",
        "number",
        "Marketing content shares",
        "Sales emails with at least one link to marketing content (e-books, whitepapers, case studies...).",
    ),
    WrittenProperty(
        "kpi_days_sql_to_customer",
        "days_sql_to_customer",
        "number",
        "number",
        "Days from SQL to customer",
        "Whole days from sales-qualified lead to customer.",
    ),
)
PROPERTY_NAMES: Final = tuple(p.name for p in WRITTEN)


def properties_of(kpis: ContactKpis | None) -> dict[str, str]:
    """The twelve values of a qualifying contact, or all twelve "" for one that does not qualify (cleared)."""
    if kpis is None:
        return dict.fromkeys(PROPERTY_NAMES, "")
    return {p.name: p.text(kpis) for p in WRITTEN}
