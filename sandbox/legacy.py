"""The legacy (v1/v2) endpoints that the peer connectors in `bench/peers/` still call, served from the same
portal data as the v3 API: properties v1/v2, deals v1 paged, engagements v1 (paged, recent, modified/after,
one by id), empty association reads for object types the sandbox portal does not model (companies, tickets,
line items...), which a real portal answers with 207 NO_ASSOCIATIONS_FOUND when it has none, and the older
search body with top-level `filters` that Airbyte sends (now handled by `sandbox.search`).

Shapes follow HubSpot's legacy docs (legacydocs.hubspot.com) as the peers parse them; see
`bench/peers/ENDPOINTS.md` for which peer calls what. Legacy reads see the current record state (they are not
served from the search index). Values the sandbox does not track are stated where they are made up: a legacy
property's `timestamp` is the record's modification time, and `source` is always `CRM_UI`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson

from sandbox.clock import DAY_MS, iso, now_ms, parse_time
from sandbox.constants import ENGAGEMENT_TYPES, PORTAL_ID, V4_BATCH_READ_MAX_INPUTS
from sandbox.context import Context
from sandbox.errors import not_found, standard_error, validation
from sandbox.objtypes import STANDARD, ObjectType
from sandbox.portal import ROW_COLUMNS, Row
from sandbox.routing import Request, Response, Router, batch_inputs, batch_response
from sandbox.schema import PropertyDef

# Page sizes and caps of the legacy endpoints (legacydocs: "get all deals" max 250, "get all engagements"
# max 250, "recent engagements" max 100 and only the last 30 days, at most 10,000 results).
DEALS_PAGE_DEFAULT = 100
DEALS_PAGE_MAX = 250
ENGAGEMENTS_PAGE_DEFAULT = 100
ENGAGEMENTS_PAGE_MAX = 250
RECENT_PAGE_DEFAULT = 20
RECENT_PAGE_MAX = 100
RECENT_RESULT_CAP = 10_000
RECENT_WINDOW_MS = 30 * DAY_MS

# HubSpot object types that every real portal has but the sandbox does not model: their property lists are
# empty and no record is associated with them.
UNMODELLED_TYPES = frozenset(
    {
        "companies",
        "company",
        "0-2",
        "tickets",
        "ticket",
        "0-5",
        "line_items",
        "line_item",
        "0-8",
        "products",
        "product",
        "0-7",
        "quotes",
        "quote",
        "0-14",
        "leads",
        "lead",
        "0-136",
        "goal_targets",
        "goal_target",
        "goals",
        "deal_split",
        "deal_splits",
        "form",
        "forms",
        "communications",
        "0-18",
    }
)

UNMODELLED_SINGULAR = {
    "companies": "company",
    "tickets": "ticket",
    "line_items": "line_item",
    "products": "product",
    "quotes": "quote",
    "leads": "lead",
    "goal_targets": "goal_target",
    "goals": "goal",
    "deal_splits": "deal_split",
    "forms": "form",
}

ENGAGEMENT_V1_TYPE = {"calls": "CALL", "emails": "EMAIL", "meetings": "MEETING", "notes": "NOTE", "tasks": "TASK"}
BODY_PROPERTY = {
    "calls": "hs_call_body",
    "emails": "hs_email_text",
    "meetings": "hs_meeting_body",
    "notes": "hs_note_body",
    "tasks": "hs_task_body",
}
PROPERTY_SOURCE = "CRM_UI"


# Properties every HubSpot object type has: what an unmodelled type's property list holds.
BASELINE_PROPERTIES = (
    PropertyDef("hs_object_id", "Record ID", "number", "number", read_only=True),
    PropertyDef("createdate", "Create Date", "datetime", "date", read_only=True),
    PropertyDef("hs_lastmodifieddate", "Last Modified Date", "datetime", "date", read_only=True),
)


def _engagement_types() -> list[ObjectType]:
    return [STANDARD[name] for name in ENGAGEMENT_TYPES]


def _ms(value: str | None) -> int | None:
    return parse_time(value) if value else None


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(value, low), high)


# -- properties v1/v2 ---------------------------------------------------------------------------------------


def legacy_property(d: PropertyDef) -> dict[str, Any]:
    """One definition in the v1/v2 properties shape (a flat object; times are ms epoch)."""
    return {
        "name": d.name,
        "label": d.label,
        "description": d.description,
        "groupName": d.group,
        "type": d.type,
        "fieldType": d.field_type,
        "options": [
            {"label": label, "value": value, "displayOrder": i, "hidden": False, "description": "", "readOnly": False}
            for i, (value, label) in enumerate(d.options)
        ],
        "displayOrder": d.display_order,
        "hidden": False,
        "formField": False,
        "calculated": d.calculated,
        "externalOptions": False,
        "hubspotDefined": d.hubspot_defined,
        "readOnlyValue": d.read_only,
        "readOnlyDefinition": d.hubspot_defined,
        "mutableDefinitionNotDeletable": d.hubspot_defined,
        "hasUniqueValue": d.unique,
        "favorited": False,
        "favoritedOrder": -1,
        "deleted": False,
        "displayMode": "current_value",
        "showCurrencySymbol": False,
        "currencyPropertyName": None,
        "createdAt": d.created_ms or None,
        "updatedAt": d.created_ms or None,
        "createdUserId": None,
        "updatedUserId": None,
        "optionsAreMutable": not d.hubspot_defined,
        "searchableInGlobalSearch": False,
    }


def list_properties(ctx: Context, req: Request) -> Response:
    """GET /properties/v1|v2/{type}/properties: a bare JSON array (the baseline three for types the portal
    does not model)."""
    name = req.params["type"]
    ot = ctx.portal.resolve(name)
    if ot is None:
        if name.lower() in UNMODELLED_TYPES:
            return Response(200, [legacy_property(d) for d in BASELINE_PROPERTIES])
        raise not_found(f"Unable to find object type {name}")
    defs = ctx.portal.directory.properties[ot.name].props.values()
    return Response(200, [legacy_property(d) for d in defs])


# -- deals v1 -----------------------------------------------------------------------------------------------


def _legacy_value(d: PropertyDef | None, value: str) -> str:
    """v1 sends datetimes as ms-epoch strings; everything else as the stored string."""
    if d is not None and d.type in ("datetime", "date"):
        ms = parse_time(value)
        return str(ms) if ms is not None else value
    return value


def _current_values(ot: ObjectType, row: Row) -> dict[str, str]:
    """Stored properties plus the computed ones (id, created and modified dates) as strings."""
    values: dict[str, str] = orjson.loads(row[5])
    for name, column in ot.virtual_props().items():
        values[name] = str(row[0]) if column == "id" else iso(row[1] if column == "created" else row[2])
    return values


def legacy_properties(
    ctx: Context, ot: ObjectType, row: Row, names: Sequence[str] | None, with_versions: bool
) -> dict[str, Any]:
    """The v1 `properties` map: `{name: {value, timestamp, source, sourceId, versions}}`.

    `names` None means every property with a value. The timestamp is when the record was last modified
    (creation for `createdate`), since the sandbox keeps no per-property history.
    """
    defs = ctx.portal.directory.properties[ot.name].props
    values = _current_values(ot, row)
    out: dict[str, Any] = {}
    for name in names if names is not None else list(values):
        if name not in values:
            continue
        stamp = row[1] if name in ("createdate", "hs_createdate") else row[2]
        value = _legacy_value(defs.get(name), values[name])
        entry: dict[str, Any] = {"value": value, "timestamp": stamp, "source": PROPERTY_SOURCE, "sourceId": None}
        if with_versions:
            entry["versions"] = [
                {
                    "name": name,
                    "value": value,
                    "timestamp": stamp,
                    "source": PROPERTY_SOURCE,
                    "sourceVid": [],
                    "requestId": "",
                }
            ]
        out[name] = entry
    return out


def _deal_names(req: Request) -> list[str] | None:
    """None (all) with includeAllProperties; otherwise the requested `properties` (v1 sends none by default)."""
    if req.q_bool("includeAllProperties"):
        return None
    return [*(req.q_list("properties") or []), *(req.q_list("propertiesWithHistory") or [])]


def deals_paged(ctx: Context, req: Request) -> Response:
    """GET /deals/v1/deal/paged: live deals by id; `offset` is the last dealId returned."""
    ot = STANDARD["deals"]
    limit = _clamp(req.q_int("limit", DEALS_PAGE_DEFAULT), 1, DEALS_PAGE_MAX)
    offset = req.q_int("offset", 0)
    rows = ctx.portal.list_page(ot, offset + 1, limit + 1, False)
    page = rows[:limit]
    names = _deal_names(req)
    contacts: dict[int, list[int]] = {}
    if req.q_bool("includeAssociations"):
        contacts = ctx.portal.associated(ot, [r[0] for r in page], STANDARD["contacts"])
    deals = []
    for row in page:
        deal: dict[str, Any] = {
            "portalId": PORTAL_ID,
            "dealId": row[0],
            "isDeleted": False,
            "properties": legacy_properties(ctx, ot, row, names, with_versions=True),
            "imports": [],
            "stateChanges": [],
        }
        if req.q_bool("includeAssociations"):
            deal["associations"] = {
                "associatedVids": contacts.get(row[0], []),
                "associatedCompanyIds": [],
                "associatedDealIds": [],
                "associatedTicketIds": [],
            }
        deals.append(deal)
    return Response(200, {"deals": deals, "hasMore": len(rows) > limit, "offset": page[-1][0] if page else offset})


# -- engagements v1 -----------------------------------------------------------------------------------------


def _owner(props: dict[str, str]) -> int | None:
    owner = props.get("hubspot_owner_id", "")
    return int(owner) if owner.isdigit() else None


def _email_addresses(props: dict[str, str]) -> dict[str, Any]:
    try:
        headers = orjson.loads(props.get("hs_email_headers") or "{}")
    except orjson.JSONDecodeError:
        headers = {}
    if not isinstance(headers, dict):
        headers = {}
    return {
        "from": headers.get("from") or {},
        "to": headers.get("to") or [],
        "cc": headers.get("cc") or [],
        "bcc": headers.get("bcc") or [],
    }


def _metadata(ot: ObjectType, props: dict[str, str]) -> dict[str, Any]:
    """The type-specific `metadata` block of a v1 engagement."""
    meta: dict[str, Any]
    if ot.name == "calls":
        duration = props.get("hs_call_duration", "")
        meta = {
            "toNumber": props.get("hs_call_to_number"),
            "fromNumber": props.get("hs_call_from_number"),
            "status": props.get("hs_call_status"),
            "title": props.get("hs_call_title"),
            "durationMilliseconds": int(duration) if duration.isdigit() else None,
            "disposition": props.get("hs_call_disposition"),
            "recordingUrl": props.get("hs_call_recording_url"),
        }
    elif ot.name == "emails":
        meta = {
            **_email_addresses(props),
            "subject": props.get("hs_email_subject"),
            "html": props.get("hs_email_html"),
            "text": props.get("hs_email_text"),
            "status": props.get("hs_email_status"),
        }
    elif ot.name == "meetings":
        meta = {
            "title": props.get("hs_meeting_title"),
            "startTime": _ms(props.get("hs_meeting_start_time")),
            "endTime": _ms(props.get("hs_meeting_end_time")),
            "meetingOutcome": props.get("hs_meeting_outcome"),
            "location": props.get("hs_meeting_location"),
        }
    elif ot.name == "tasks":
        meta = {
            "subject": props.get("hs_task_subject"),
            "status": props.get("hs_task_status"),
            "taskType": props.get("hs_task_type"),
            "priority": props.get("hs_task_priority"),
            "forObjectType": "CONTACT",
            "completionDate": _ms(props.get("hs_task_completion_date")),
        }
    else:
        meta = {}
    meta["body"] = props.get(BODY_PROPERTY[ot.name])
    return {k: v for k, v in meta.items() if v is not None}


def engagement_v1(ot: ObjectType, row: Row, contact_ids: list[int], deal_ids: list[int]) -> dict[str, Any]:
    """One engagement in the v1 shape: `{engagement, associations, attachments, metadata}`."""
    props: dict[str, str] = orjson.loads(row[5])
    kind = props.get("hs_email_direction", "EMAIL") if ot.name == "emails" else ENGAGEMENT_V1_TYPE[ot.name]
    preview = props.get("hs_body_preview") or ""
    attachments = [{"id": int(i)} for i in (props.get("hs_attachment_ids") or "").split(";") if i.isdigit()]
    return {
        "engagement": {
            "id": row[0],
            "portalId": PORTAL_ID,
            "active": not row[3],
            "createdAt": row[1],
            "lastUpdated": row[2],
            "ownerId": _owner(props),
            "type": kind,
            "timestamp": _ms(props.get("hs_timestamp")) or row[1],
            "bodyPreview": preview,
            "bodyPreviewIsTruncated": False,
            "queueMembershipIds": [],
        },
        "associations": {
            "contactIds": contact_ids,
            "companyIds": [],
            "dealIds": deal_ids,
            "ownerIds": [],
            "workflowIds": [],
            "ticketIds": [],
            "contentIds": [],
            "quoteIds": [],
        },
        "attachments": attachments,
        "metadata": _metadata(ot, props),
    }


def render_engagements(ctx: Context, rows: Sequence[tuple[ObjectType, Row]]) -> list[dict[str, Any]]:
    """Render engagement rows of mixed types, with their contact and deal ids, in the given order."""
    links: dict[str, tuple[dict[int, list[int]], dict[int, list[int]]]] = {}
    for ot in {ot.name: ot for ot, _ in rows}.values():
        ids = [r[0] for t, r in rows if t.name == ot.name]
        links[ot.name] = (
            ctx.portal.associated(ot, ids, STANDARD["contacts"]),
            ctx.portal.associated(ot, ids, STANDARD["deals"]),
        )
    return [
        engagement_v1(ot, row, links[ot.name][0].get(row[0], []), links[ot.name][1].get(row[0], [])) for ot, row in rows
    ]


def _ensure_modified_indexes(ctx: Context) -> None:
    """An index on (archived, updated, id) per engagement table, for the modified-order legacy reads."""
    for ot in _engagement_types():
        ctx.portal.query(f"CREATE INDEX IF NOT EXISTS legacy_{ot.table}_mod ON {ot.table}(archived, updated, id)")


def _merged(ctx: Context, where: str, order: str, params: Sequence[Any], limit: int) -> list[tuple[ObjectType, Row]]:
    """Up to `limit` live engagement rows of every type matching `where`, merged in `order` (columns)."""
    merged: list[tuple[ObjectType, Row]] = []
    for ot in _engagement_types():
        rows = ctx.portal.query(
            f"SELECT {ROW_COLUMNS} FROM {ot.table} WHERE archived = 0 AND {where} ORDER BY {order} LIMIT ?",
            [*params, limit],
        )
        merged.extend((ot, row) for row in rows)
    descending = order.endswith("DESC")
    key_updated = "updated" in order
    merged.sort(key=lambda item: (item[1][2], item[1][0]) if key_updated else (item[1][0],), reverse=descending)
    return merged[:limit]


def engagements_paged(ctx: Context, req: Request) -> Response:
    """GET /engagements/v1/engagements/paged: every live engagement by id; `offset` is the last id returned."""
    limit = _clamp(req.q_int("limit", req.q_int("count", ENGAGEMENTS_PAGE_DEFAULT)), 1, ENGAGEMENTS_PAGE_MAX)
    offset = req.q_int("offset", 0)
    rows = _merged(ctx, "id > ?", "id", [offset], limit + 1)
    page = rows[:limit]
    return Response(
        200,
        {
            "results": render_engagements(ctx, page),
            "hasMore": len(rows) > limit,
            "offset": page[-1][1][0] if page else offset,
        },
    )


def engagements_recent(ctx: Context, req: Request) -> Response:
    """GET /engagements/v1/engagements/recent/modified: changed since `since` and in the last 30 days, newest
    first; `offset` counts results already returned; at most 10,000 results in all."""
    count = _clamp(req.q_int("count", RECENT_PAGE_DEFAULT), 1, RECENT_PAGE_MAX)
    offset = req.q_int("offset", 0)
    since = max(req.q_int("since", 0), now_ms() - RECENT_WINDOW_MS)
    _ensure_modified_indexes(ctx)
    total = sum(
        int(ctx.portal.query(f"SELECT COUNT(*) FROM {ot.table} WHERE archived = 0 AND updated >= ?", (since,))[0][0])
        for ot in _engagement_types()
    )
    total = min(total, RECENT_RESULT_CAP)
    rows = (
        _merged(ctx, "updated >= ?", "updated DESC, id DESC", [since], offset + count)[offset:]
        if offset < total
        else []
    )
    page = rows[: max(0, min(count, total - offset))]
    nxt = offset + len(page)
    return Response(
        200, {"results": render_engagements(ctx, page), "hasMore": nxt < total, "offset": nxt, "total": total}
    )


CURSOR = re.compile(r"^(\d+)_(\d+)$")


def _modified_after_start(after: str) -> tuple[int, int]:
    """(updated, id) to continue after: a bare ms timestamp starts at that time (inclusive)."""
    if after.isdigit():
        return int(after), -1
    found = CURSOR.match(after)
    if not found:
        raise validation(f"Invalid 'after' cursor: {after}")
    return int(found.group(1)), int(found.group(2))


def engagements_modified_after(ctx: Context, req: Request) -> Response:
    """GET /engagements/v1/engagements/modified/after?after=: cursor-paged by modification time, no 10k cap.

    `after` is an ms timestamp on the first call, then the opaque cursor of the previous page (`"{ms}_{id}"`).
    """
    limit = _clamp(req.q_int("limit", ENGAGEMENTS_PAGE_DEFAULT), 1, ENGAGEMENTS_PAGE_MAX)
    after = req.q_str("after") or "0"
    updated, last_id = _modified_after_start(after)
    _ensure_modified_indexes(ctx)
    rows = _merged(
        ctx, "(updated > ? OR (updated = ? AND id > ?))", "updated, id", [updated, updated, last_id], limit + 1
    )
    page = rows[:limit]
    cursor = f"{page[-1][1][2]}_{page[-1][1][0]}" if page else after
    return Response(200, {"results": render_engagements(ctx, page), "hasMore": len(rows) > limit, "after": cursor})


def get_engagement(ctx: Context, req: Request) -> Response:
    """GET /engagements/v1/engagements/{engagementId}: one live engagement of any type."""
    key = req.params["engagementId"]
    if key.isdigit():
        for ot in _engagement_types():
            row = ctx.portal.rows_by_id(ot, [int(key)]).get(int(key))
            if row is not None and not row[3]:
                return Response(200, render_engagements(ctx, [(ot, row)])[0])
    raise not_found(f"Engagement {key} does not exist")


# -- associations with types the portal does not model ------------------------------------------------------


def no_associations(ctx: Context, req: Request) -> Response:
    """POST /crm/v4/associations/{from}/{unmodelled}/batch/read: 207, NO_ASSOCIATIONS_FOUND for every input."""
    src = ctx.object_type(req.params["fromType"])
    inputs = batch_inputs(req.json_object(), V4_BATCH_READ_MAX_INPUTS)
    to = UNMODELLED_SINGULAR.get(req.params["toType"], req.params["toType"])
    errors = []
    for item in inputs:
        key = str(item.get("id", "")) if isinstance(item, dict) else ""
        errors.append(
            standard_error(
                "OBJECT_NOT_FOUND",
                f"No {to} is associated with {src.singular} {key}.",
                {"fromObjectId": [key], "fromObjectType": [src.singular], "toObjectType": [to]},
                "crm.associations.NO_ASSOCIATIONS_FOUND",
            )
        )
    return batch_response([], errors)


def register(router: Router) -> None:
    """Add the legacy routes (and the empty association reads, ahead of the v4 ones)."""
    router.add("GET", "/properties/v1/{type}/properties", list_properties)
    router.add("GET", "/properties/v2/{type}/properties", list_properties)
    router.add("GET", "/deals/v1/deal/paged", deals_paged)
    router.add("GET", "/engagements/v1/engagements/paged", engagements_paged)
    router.add("GET", "/engagements/v1/engagements/recent/modified", engagements_recent)
    router.add("GET", "/engagements/v1/engagements/modified/after", engagements_modified_after)
    router.add("GET", "/engagements/v1/engagements/{engagementId}", get_engagement)
    router.api(
        "POST",
        "/crm/v4/associations/{fromType}/{toType}/batch/read",
        no_associations,
        only={"toType": UNMODELLED_TYPES},
        first=True,
    )
