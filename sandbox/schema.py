"""Property definitions and property groups of every object type, and the value rules for writing them.

The built-in definitions mirror HubSpot's default properties (hubspot-api.md §4-§6, §9); properties created
through the API are added to the same registry and become readable, writable and searchable at once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import iso, parse_time
from sandbox.constants import DISPOSITIONS

# Valid type -> fieldType combinations (§9.2).
FIELD_TYPES: dict[str, frozenset[str]] = {
    "bool": frozenset({"booleancheckbox", "calculation_equation"}),
    "enumeration": frozenset({"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"}),
    "date": frozenset({"date"}),
    "datetime": frozenset({"date"}),
    "string": frozenset({"text", "textarea", "html", "phonenumber", "file", "calculation_equation"}),
    "number": frozenset({"number", "calculation_equation"}),
    "phone_number": frozenset({"phonenumber"}),
}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
MAX_STRING = 65_536
NUMBER_PATTERN = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass(frozen=True)
class PropertyDef:
    """One property definition as the properties API describes it."""

    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group: str = "information"
    options: tuple[tuple[str, str], ...] = ()
    hubspot_defined: bool = True
    read_only: bool = False
    calculated: bool = False
    unique: bool = False
    description: str = ""
    display_order: int = -1
    created_ms: int = 0


@dataclass
class PropertyGroup:
    """A property group: `{name, label, displayOrder, archived}`."""

    name: str
    label: str
    display_order: int = -1


def _enum(values: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple((v, v.replace("_", " ").title()) for v in values)


def _p(name: str, kind: str = "string", field_type: str = "", **kw: Any) -> PropertyDef:
    default_field = {
        "number": "number",
        "datetime": "date",
        "date": "date",
        "bool": "booleancheckbox",
        "enumeration": "select",
    }.get(kind, "text")
    return PropertyDef(
        name=name,
        label=name.replace("hs_", "").replace("_", " ").title(),
        type=kind,
        field_type=field_type or default_field,
        **kw,
    )


LIFECYCLE_STAGES = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
    "evangelist",
    "other",
)
BUYING_ROLES = (
    "BLOCKER",
    "BUDGET_HOLDER",
    "CHAMPION",
    "DECISION_MAKER",
    "END_USER",
    "EXECUTIVE_SPONSOR",
    "INFLUENCER",
    "LEGAL_AND_COMPLIANCE",
    "OTHER",
)
LEAD_STATUSES = (
    "NEW",
    "OPEN",
    "IN_PROGRESS",
    "OPEN_DEAL",
    "UNQUALIFIED",
    "ATTEMPTED_TO_CONTACT",
    "CONNECTED",
    "BAD_TIMING",
)
MEETING_OUTCOMES = ("SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED")
CALL_STATUSES = (
    "BUSY",
    "CALLING_CRM_USER",
    "CANCELED",
    "COMPLETED",
    "CONNECTING",
    "FAILED",
    "IN_PROGRESS",
    "NO_ANSWER",
    "QUEUED",
    "RINGING",
)

# The ids merged into a record, semicolon-separated; HubSpot sets it on merges only.
MERGED_IDS = _p("hs_merged_object_ids", "enumeration", "checkbox", calculated=True, read_only=True)

_COMMON_ENGAGEMENT = (
    _p("hs_timestamp", "datetime"),
    _p("hubspot_owner_id", "enumeration"),
    _p("hs_createdate", "datetime", read_only=True),
    _p("hs_lastmodifieddate", "datetime", read_only=True),
    _p("hs_object_id", "number", read_only=True),
    _p("hs_attachment_ids", "enumeration", "checkbox"),
    _p("hs_body_preview", "string", read_only=True),
)

BUILTIN: dict[str, tuple[PropertyDef, ...]] = {
    "contacts": (
        _p("email", unique=True),
        _p("firstname"),
        _p("lastname"),
        _p("company"),
        _p("industry"),
        _p("jobtitle"),
        _p("phone", field_type="phonenumber"),
        _p("city"),
        _p("country"),
        _p("lifecyclestage", "enumeration", "radio", options=_enum(LIFECYCLE_STAGES)),
        _p("hs_lead_status", "enumeration", "radio", options=_enum(LEAD_STATUSES)),
        _p("hubspot_owner_id", "enumeration"),
        _p("hubspot_owner_assigneddate", "datetime", read_only=True),
        _p("hs_buying_role", "enumeration", "checkbox", options=_enum(BUYING_ROLES)),
        *(_p(f"hs_lifecyclestage_{s}_date", "datetime", calculated=True) for s in LIFECYCLE_STAGES),
        _p("num_employees", "number"),
        _p("createdate", "datetime"),
        MERGED_IDS,
        _p("lastmodifieddate", "datetime", read_only=True),
        _p("hs_lastmodifieddate", "datetime", read_only=True),
        _p("hs_object_id", "number", read_only=True),
    ),
    "deals": (
        _p("dealname"),
        _p("amount", "number"),
        _p("pipeline", "enumeration"),
        _p("dealstage", "enumeration"),
        _p("closedate", "datetime"),
        _p("createdate", "datetime"),
        _p("hubspot_owner_id", "enumeration"),
        _p("dealtype", "enumeration", "radio", options=_enum(("newbusiness", "existingbusiness"))),
        _p("hs_is_closed_won", "bool", calculated=True, read_only=True),
        _p("hs_is_closed_lost", "bool", calculated=True, read_only=True),
        _p("hs_is_closed", "bool", calculated=True, read_only=True),
        MERGED_IDS,
        _p("hs_lastmodifieddate", "datetime", read_only=True),
        _p("hs_object_id", "number", read_only=True),
    ),
    "calls": (
        *_COMMON_ENGAGEMENT,
        _p("hs_call_title"),
        _p("hs_call_body", field_type="html"),
        _p("hs_call_direction", "enumeration", options=_enum(("INBOUND", "OUTBOUND"))),
        _p("hs_call_disposition", "enumeration", options=DISPOSITIONS),
        _p("hs_call_duration", "number"),
        _p("hs_call_status", "enumeration", options=_enum(CALL_STATUSES)),
        _p("hs_call_from_number"),
        _p("hs_call_to_number"),
    ),
    "emails": (
        *_COMMON_ENGAGEMENT,
        _p("hs_email_direction", "enumeration", options=_enum(("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"))),
        _p("hs_email_status", "enumeration", options=_enum(("BOUNCED", "FAILED", "SCHEDULED", "SENDING", "SENT"))),
        _p("hs_email_subject"),
        _p("hs_email_text", field_type="textarea"),
        _p("hs_email_html", field_type="html"),
        _p("hs_email_headers", field_type="textarea"),
    ),
    "meetings": (
        *_COMMON_ENGAGEMENT,
        _p("hs_meeting_title"),
        _p("hs_meeting_body", field_type="html"),
        _p("hs_meeting_outcome", "enumeration", options=_enum(MEETING_OUTCOMES)),
        _p("hs_meeting_start_time", "datetime"),
        _p("hs_meeting_end_time", "datetime"),
        _p("hs_meeting_location"),
    ),
    "notes": (*_COMMON_ENGAGEMENT, _p("hs_note_body", field_type="html")),
    "tasks": (
        *_COMMON_ENGAGEMENT,
        _p("hs_task_subject"),
        _p("hs_task_body", field_type="html"),
        _p(
            "hs_task_status",
            "enumeration",
            options=_enum(("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED", "DEFERRED")),
        ),
        _p("hs_task_type", "enumeration", options=_enum(("EMAIL", "CALL", "TODO"))),
        _p("hs_task_priority", "enumeration", options=_enum(("LOW", "MEDIUM", "HIGH"))),
        _p("hs_task_completion_date", "datetime"),
    ),
}

# Default groups every object type has; HubSpot names vary per object, these cover the built-ins above.
BUILTIN_GROUPS = (PropertyGroup("information", "Information", 0),)


@dataclass
class ObjectProperties:
    """The properties and groups of one object type."""

    props: dict[str, PropertyDef] = field(default_factory=dict)
    groups: dict[str, PropertyGroup] = field(default_factory=dict)


def builtin_properties(object_type: str) -> ObjectProperties:
    """Return a fresh registry of the built-in properties of `object_type` (empty for custom objects)."""
    defs = BUILTIN.get(object_type, ())
    return ObjectProperties({d.name: d for d in defs}, {g.name: g for g in BUILTIN_GROUPS})


def property_json(d: PropertyDef) -> dict[str, Any]:
    """Render a definition in the properties API's `Property` shape."""
    created = iso(d.created_ms)
    return {
        "name": d.name,
        "label": d.label,
        "type": d.type,
        "fieldType": d.field_type,
        "groupName": d.group,
        "description": d.description,
        "displayOrder": d.display_order,
        "hidden": False,
        "formField": False,
        "calculated": d.calculated,
        "externalOptions": False,
        "hasUniqueValue": d.unique,
        "hubspotDefined": d.hubspot_defined,
        "archived": False,
        "createdAt": created,
        "updatedAt": created,
        "modificationMetadata": {
            "archivable": not d.hubspot_defined,
            "readOnlyDefinition": d.hubspot_defined,
            "readOnlyValue": d.read_only,
        },
        "options": [
            {"value": v, "label": lbl, "displayOrder": i, "hidden": False} for i, (v, lbl) in enumerate(d.options)
        ],
    }


def group_json(g: PropertyGroup) -> dict[str, Any]:
    """Render a property group."""
    return {"name": g.name, "label": g.label, "displayOrder": g.display_order, "archived": False}


def _enum_problem(d: PropertyDef, value: str) -> tuple[str, str] | None:
    if not d.options:
        return None
    allowed = {v for v, _ in d.options}
    parts = value.lstrip(";").split(";") if d.field_type == "checkbox" else [value]
    bad = [p for p in parts if p not in allowed]
    return ("INVALID_OPTION", f"{bad[0]} was not one of the allowed options: {sorted(allowed)}") if bad else None


def validate_value(d: PropertyDef, value: str) -> tuple[str, str] | None:
    """Check a written value against its definition; return (error code, message) when it is invalid.

    `""` always clears and is valid.
    """
    if value == "":
        return None
    problem: tuple[str, str] | None = None
    if d.type == "number" and not NUMBER_PATTERN.match(value):
        problem = "INVALID_FLOAT", f"{value} was not a valid number."
    elif d.type == "bool" and value not in ("true", "false"):
        problem = "INVALID_BOOLEAN", f"{value} was not a valid boolean (true/false)."
    elif d.type in ("datetime", "date") and parse_time(value) is None:
        problem = "INVALID_DATE", f"{value} was not a valid date."
    elif d.type == "enumeration":
        problem = _enum_problem(d, value)
    elif d.type == "string" and len(value) > MAX_STRING:
        problem = "INVALID_STRING", f"{d.name} exceeds {MAX_STRING} characters."
    return problem


def normalise_value(d: PropertyDef, value: str, current: str | None) -> str:
    """Return the stored form: datetimes as ISO with ms, a leading `;` appends to a multi-select."""
    if value and d.type in ("datetime", "date"):
        ms = parse_time(value)
        return iso(ms) if ms is not None else value
    if value.startswith(";") and d.field_type == "checkbox":
        existing = [v for v in (current or "").split(";") if v]
        added = [v for v in value[1:].split(";") if v and v not in existing]
        return ";".join(existing + added)
    return value


def validate_definition(body: dict[str, Any]) -> str | None:
    """Check a property-create body (§9.1-§9.3); return an error message or None."""
    for key in ("name", "label", "type", "fieldType", "groupName"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"Missing required field '{key}'."
    if not NAME_PATTERN.match(body["name"]):
        return f"Property name '{body['name']}' must start with a letter and contain only a-z, 0-9 and _."
    allowed = FIELD_TYPES.get(body["type"])
    if allowed is None:
        return f"Invalid property type '{body['type']}'."
    if body["fieldType"] not in allowed:
        return f"fieldType '{body['fieldType']}' is not valid for type '{body['type']}'; allowed: {sorted(allowed)}"
    if body["type"] == "enumeration" and body["fieldType"] != "booleancheckbox" and not body.get("options"):
        return "Enumeration properties require options."
    return None


def definition_from_body(body: dict[str, Any], now: int) -> PropertyDef:
    """Build a user-defined property from a validated create body."""
    options = tuple((str(o.get("value")), str(o.get("label", o.get("value")))) for o in body.get("options") or [])
    return PropertyDef(
        name=body["name"],
        label=body["label"],
        type=body["type"],
        field_type=body["fieldType"],
        group=body["groupName"],
        options=options,
        hubspot_defined=False,
        unique=bool(body.get("hasUniqueValue", False)),
        description=str(body.get("description") or ""),
        display_order=int(body.get("displayOrder", -1)),
        created_ms=now,
    )
