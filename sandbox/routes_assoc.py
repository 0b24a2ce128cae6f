"""Associations v4 (§8): batch read with per-input paging and 207 + NO_ASSOCIATIONS_FOUND, and one record's
associations with `limit`/`after`."""

from __future__ import annotations

from typing import Any

from sandbox.constants import ASSOCIATION_TYPE_IDS, RECORD_LIST_VERSIONS, V4_BATCH_READ_MAX_INPUTS, V4_PAGE_SIZE
from sandbox.context import Context
from sandbox.errors import not_found, standard_error, validation
from sandbox.objtypes import ObjectType
from sandbox.routing import Request, Response, Router, batch_inputs, batch_response

CUSTOM_ASSOCIATION_TYPE_ID = 1


def _types(src: ObjectType, dst: ObjectType) -> list[dict[str, Any]]:
    type_id = ASSOCIATION_TYPE_IDS.get((src.name, dst.name), CUSTOM_ASSOCIATION_TYPE_ID)
    return [{"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": None}]


def _cursor(value: Any) -> int:
    text = str(value or "0")
    if not text.isdigit():
        raise validation(f"Invalid 'after' cursor: {text}")
    return int(text)


def _page(
    ctx: Context, src: ObjectType, rid: int, dst: ObjectType, *, after: int, limit: int
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    ids, more = ctx.portal.associated_page(src, rid, dst, after, limit)
    types = _types(src, dst)
    to = [{"toObjectId": i, "associationTypes": types} for i in ids]
    paging = {"next": {"after": str(ids[-1]), "link": None}} if more else None
    return to, paging


def batch_read(ctx: Context, req: Request) -> Response:
    """POST /crm/v4/associations/{from}/{to}/batch/read (<= 1,000 inputs, 500 per input per page)."""
    src, dst = ctx.object_type(req.params["fromType"]), ctx.object_type(req.params["toType"])
    inputs = batch_inputs(req.json_object(), V4_BATCH_READ_MAX_INPUTS)
    results, errors = [], []
    for item in inputs:
        key = str(item.get("id", "")) if isinstance(item, dict) else ""
        to: list[dict[str, Any]] = []
        paging = None
        if key.isdigit():
            to, paging = _page(ctx, src, int(key), dst, after=_cursor(item.get("after")), limit=V4_PAGE_SIZE)
        if not to:
            errors.append(
                standard_error(
                    "OBJECT_NOT_FOUND",
                    f"No {dst.singular} is associated with {src.singular} {key}.",
                    {"fromObjectId": [key], "fromObjectType": [src.singular], "toObjectType": [dst.singular]},
                    "crm.associations.NO_ASSOCIATIONS_FOUND",
                )
            )
            continue
        entry: dict[str, Any] = {"from": {"id": key}, "to": to}
        if paging:
            entry["paging"] = paging
        results.append(entry)
    return batch_response(results, errors)


def list_for_record(ctx: Context, req: Request) -> Response:
    """GET /crm/v4/objects/{type}/{id}/associations/{toType}?limit=&after= (limit <= 500)."""
    src, dst = ctx.object_type(req.params["type"]), ctx.object_type(req.params["toType"])
    key = req.params["id"]
    if not key.isdigit() or int(key) not in ctx.portal.rows_by_id(src, [int(key)]):
        raise not_found()
    limit = min(max(req.q_int("limit", V4_PAGE_SIZE), 1), V4_PAGE_SIZE)
    to, paging = _page(ctx, src, int(key), dst, after=_cursor(req.q_str("after")), limit=limit)
    body: dict[str, Any] = {"results": to}
    if paging:
        body["paging"] = paging
    return Response(200, body)


def register(router: Router) -> None:
    """Add the v4 association routes."""
    router.api("POST", "/crm/v4/associations/{fromType}/{toType}/batch/read", batch_read)
    router.api(
        "GET", "/crm/v4/objects/{type}/{id}/associations/{toType}", list_for_record, versions=RECORD_LIST_VERSIONS
    )
