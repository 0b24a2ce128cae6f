"""The HubSpot schema kpi-sync writes into: the `sales_kpis` contact property group, its twelve `kpi_*` properties
(kpi-spec.md, "Per-contact values") and the optional `sales_kpi_snapshot` custom object for per-owner KPIs.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import orjson

from kpi.contact import PROPERTY_GROUP, PROPERTY_GROUP_LABEL, FollowupStatus

_FOLLOWUP_LABELS: Final = {
    "converted": "Converted",
    "in_conversation": "In conversation",
    "not_started": "Not started",
    "following_up": "Following up",
    "stopped_early": "Stopped early",
    "exhausted": "Exhausted",
}


def _prop(name: str, label: str, kind: str, field_type: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": kind,
        "fieldType": field_type,
        "groupName": PROPERTY_GROUP,
        "description": description,
        **extra,
    }


CONTACT_PROPERTIES: Final[tuple[dict[str, Any], ...]] = (
    _prop(
        "kpi_sales_touches",
        "Sales touches",
        "number",
        "number",
        "Sales touches (owned outbound calls, sent sales emails, meetings not canceled), all time.",
    ),
    _prop("kpi_first_touch_at", "First sales touch", "datetime", "date", "Time of the earliest sales touch."),
    _prop("kpi_last_touch_at", "Last sales touch", "datetime", "date", "Time of the latest sales touch."),
    _prop(
        "kpi_lead_response_minutes",
        "Lead response time (minutes)",
        "number",
        "number",
        "Leads only: minutes from lead start to the first sales touch at or after it.",
    ),
    _prop(
        "kpi_responded_within_1h",
        "Responded within 1 hour",
        "bool",
        "booleancheckbox",
        "Leads only: first sales touch within 60 minutes of the lead start.",
        options=[
            {"label": "Yes", "value": "true", "displayOrder": 0},
            {"label": "No", "value": "false", "displayOrder": 1},
        ],
    ),
    _prop("kpi_outbound_calls", "Outbound calls", "number", "number", "Outbound call touches."),
    _prop("kpi_connected_calls", "Connected calls", "number", "number", "Call touches with a connected outcome."),
    _prop(
        "kpi_touches_before_conversation",
        "Touches before first conversation",
        "number",
        "number",
        "Sales touches strictly before the first conversation; empty without a conversation.",
    ),
    _prop(
        "kpi_followup_status",
        "Follow-up status",
        "enumeration",
        "select",
        "Where follow-up stands: converted, in conversation, not started, following up, stopped early, exhausted.",
        options=[
            {"label": _FOLLOWUP_LABELS[s.value], "value": s.value, "displayOrder": i}
            for i, s in enumerate(FollowupStatus)
        ],
    ),
    _prop(
        "kpi_max_touches_per_day",
        "Most sales touches in one day",
        "number",
        "number",
        "The most sales touches on this contact within one calendar day.",
    ),
    _prop(
        "kpi_content_shares",
        "Marketing content shares",
        "number",
        "number",
        "Sales emails with at least one link to marketing content (e-books, whitepapers, case studies...).",
    ),
    _prop(
        "kpi_days_sql_to_customer",
        "Days from SQL to customer",
        "number",
        "number",
        "Whole days from sales-qualified lead to customer.",
    ),
)

PROPERTY_GROUP_DEF: Final = {"name": PROPERTY_GROUP, "label": PROPERTY_GROUP_LABEL, "displayOrder": -1}

SNAPSHOT_OBJECT: Final = "sales_kpi_snapshot"
SNAPSHOT_METRICS: Final = (
    ("K1", "reach_ratio", "k1_reach_ratio", "Reach ratio (connected / outbound calls)"),
    ("K1", "outbound_calls", "k1_outbound_calls", "Outbound calls"),
    ("K2", "share_within_1h", "k2_share_within_1h", "Leads answered within 1 hour"),
    ("K2", "median_response_minutes", "k2_median_response_minutes", "Median lead response (minutes)"),
    ("K3", "share_stopped_early", "k3_share_stopped_early", "Share of follow-ups stopped early"),
    ("K4", "content_usage_rate", "k4_content_usage_rate", "Sales emails with marketing content"),
    ("K5", "sql_to_customer_ratio", "k5_sql_to_customer_ratio", "SQL to customer ratio"),
    ("K5", "deal_win_rate", "k5_deal_win_rate", "Deal win rate"),
)


def snapshot_schema() -> dict[str, Any]:
    """The custom object schema of one owner's KPIs in one month."""
    text = [
        ("snapshot_key", "Snapshot key"),
        ("owner_id", "Owner id"),
        ("owner_name", "Owner"),
        ("team", "Team"),
        ("period", "Period"),
    ]
    properties: list[dict[str, Any]] = [
        {"name": n, "label": lbl, "type": "string", "fieldType": "text"} for n, lbl in text
    ]
    properties[0]["hasUniqueValue"] = True
    properties += [
        {"name": prop, "label": label, "type": "number", "fieldType": "number"}
        for _, _, prop, label in SNAPSHOT_METRICS
    ]
    return {
        "name": SNAPSHOT_OBJECT,
        "labels": {"singular": "Sales KPI snapshot", "plural": "Sales KPI snapshots"},
        "primaryDisplayPropertyName": "snapshot_key",
        "requiredProperties": ["snapshot_key"],
        "searchableProperties": ["owner_name", "period"],
        "properties": properties,
        "associatedObjects": [],
    }


def definitions_hash() -> str:
    """Changes whenever the definitions above change, so a verified schema is re-checked after an upgrade."""
    blob = orjson.dumps([PROPERTY_GROUP_DEF, CONTACT_PROPERTIES, snapshot_schema()], option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:16]
