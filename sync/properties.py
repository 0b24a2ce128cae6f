"""The HubSpot schema kpi-sync writes into: the `sales_kpis` contact property group, its twelve `kpi_*` properties
(kpi-spec.md, "Per-contact values") and the optional `sales_kpi_snapshot` custom object for per-owner KPIs.
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

import orjson

from kpi.properties import PROPERTY_GROUP, PROPERTY_GROUP_LABEL, WRITTEN, WrittenProperty


def _definition(prop: WrittenProperty) -> dict[str, Any]:
    """HubSpot's property definition of one written property."""
    definition: dict[str, Any] = {
        "name": prop.name,
        "label": prop.label,
        "type": prop.type,
        "fieldType": prop.field_type,
        "groupName": PROPERTY_GROUP,
        "description": prop.description,
    }
    if prop.options():
        definition["options"] = [
            {"label": label, "value": value, "displayOrder": i} for i, (value, label) in enumerate(prop.options())
        ]
    return definition


CONTACT_PROPERTIES: Final[tuple[dict[str, Any], ...]] = tuple(_definition(p) for p in WRITTEN)

PROPERTY_GROUP_DEF: Final = {"name": PROPERTY_GROUP, "label": PROPERTY_GROUP_LABEL, "displayOrder": -1}


def differences(found: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """How a property HubSpot holds differs from kpi-sync's definition of it (type, field type, group, the
    enumeration's option values), in words; empty when it is the property kpi-sync would create. Labels,
    descriptions and display order may differ: values are written all the same."""
    out = []
    for key, what in (("type", "type"), ("fieldType", "field type"), ("groupName", "group")):
        if found.get(key) != wanted.get(key):
            out.append(f"{what} {found.get(key)!r}, kpi-sync needs {wanted.get(key)!r}")
    have = sorted(str(o.get("value")) for o in found.get("options") or [] if isinstance(o, dict))
    need = sorted(str(o["value"]) for o in wanted.get("options") or [])
    if have != need:
        out.append(f"options {have}, kpi-sync needs {need}")
    return out


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
