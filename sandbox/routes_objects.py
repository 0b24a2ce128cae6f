"""`/crm/v3/objects/{type}` handlers: list, get, create, update, archive and the batch endpoints (§3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.clock import now_ms, parse_time
from sandbox.constants import (
    ASSOCIATION_TYPE_IDS,
    BATCH_MAX_INPUTS,
    INLINE_ASSOCIATIONS_PAGE,
    LIST_LIMIT_DEFAULT,
    LIST_LIMIT_MAX,
    RECORD_LIST_VERSIONS,
)
from sandbox.context import Context
from sandbox.errors import not_found, standard_error, validation
from sandbox.merge import MERGED_PROPERTY, merge_records
from sandbox.objtypes import ObjectType
from sandbox.portal import Row
from sandbox.records import (
    PropsView,
    check_changes,
    merged_props,
    not_found_error,
    problems_message,
    render,
    unique_property,
)
from sandbox.routing import Request, Response, Router, batch_inputs, batch_response
from sandbox.search import search_objects
from sandbox.validation import validated


def _id(value: str) -> int | None:
    return int(value) if value.isdigit() else None


def list_objects(ctx: Context, req: Request) -> Response:
    """GET list: id-ordered pages, `after` is the next id, `paging` absent on the last page."""
    ot = ctx.object_type(req.params["type"])
    limit = req.q_int("limit", LIST_LIMIT_DEFAULT)
    if limit < 1:
        raise validation(f"limit must be >= 1, got {limit}")
    limit = min(limit, LIST_LIMIT_MAX)
    after_text = req.q_str("after") or "0"
    after = _id(after_text)
    if after is None:
        raise validation(f"Invalid 'after' cursor: {after_text}")
    view = PropsView.build(ctx.portal, ot, req.q_list("properties"), ot.list_defaults())
    rows = ctx.portal.list_page(ot, after, limit + 1, req.q_bool("archived"))
    results = [render(ot, row, view) for row in rows[:limit]]
    attach_associations(ctx, ot, results, req)
    body: dict[str, Any] = {"results": results}
    if len(rows) > limit:
        nxt = str(rows[limit][0])
        body["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
    return Response(200, body)


def attach_associations(ctx: Context, ot: ObjectType, results: list[dict[str, Any]], req: Request) -> None:
    """Add the `associations=` requested inline (100 per record, with a cursor when there are more), like HubSpot."""
    ids = [int(r["id"]) for r in results]
    for name in req.q_list("associations") or []:
        to = ctx.portal.resolve(name)
        if to is None or not ids:
            continue
        linked = ctx.portal.associated(ot, ids, to)
        label = f"{ot.singular}_to_{to.singular}"
        for record in results:
            to_ids = linked.get(int(record["id"]))
            if not to_ids:
                continue
            page = to_ids[:INLINE_ASSOCIATIONS_PAGE]
            block: dict[str, Any] = {"results": [{"id": str(i), "type": label} for i in page]}
            if len(to_ids) > INLINE_ASSOCIATIONS_PAGE:
                after = str(page[-1])
                link = more_associations_link(ot, record["id"], to, after, req.params.get("version"))
                block["paging"] = {"next": {"after": after, "link": link}}
            record.setdefault("associations", {})[to.name] = block


def more_associations_link(ot: ObjectType, rid: str, to: ObjectType, after: str, version: str | None) -> str:
    """Where the rest of a record's inline associations are read, in the request's own API family: one record's
    association GET (v4, 2025-09, 2026-03), or in 2026-09, which has none, the batch read to re-send with `after`."""
    if version is None:
        return f"/crm/v4/objects/{ot.name}/{rid}/associations/{to.name}?after={after}"
    if version in RECORD_LIST_VERSIONS:
        return f"/crm/objects/{version}/{ot.name}/{rid}/associations/{to.name}?after={after}"
    return f"/crm/associations/{version}/{ot.name}/{to.name}/batch/read"


def _find(ctx: Context, ot: ObjectType, key: str, id_property: str | None, archived: bool) -> Row | None:
    if id_property and id_property != "hs_object_id":
        unique_property(ctx.portal, ot, id_property)
        rid = ctx.portal.id_by_property(ot, id_property, key)
    else:
        rid = _id(key)
    if rid is None:
        return None
    row = ctx.portal.rows_by_id(ot, [rid]).get(rid)
    survivor = ctx.portal.merged_into(ot, rid) if row is None else None
    if survivor is not None:  # a merged-away id reads as the record it was merged into
        row = ctx.portal.rows_by_id(ot, [survivor]).get(survivor)
    if row is None or bool(row[3]) != archived:
        return None
    return row


def get_object(ctx: Context, req: Request) -> Response:
    """GET one record; 404 when missing (or archived unless archived=true)."""
    ot = ctx.object_type(req.params["type"])
    row = _find(ctx, ot, req.params["id"], req.q_str("idProperty"), req.q_bool("archived"))
    if row is None:
        raise not_found()
    view = PropsView.build(ctx.portal, ot, req.q_list("properties"), ot.list_defaults())
    result = render(ot, row, view)
    attach_associations(ctx, ot, [result], req)
    return Response(200, result)


def batch_read(ctx: Context, req: Request) -> Response:
    """POST batch/read: records by id or unique property; missing ids give one 207 error."""
    ot = ctx.object_type(req.params["type"])
    body = req.json_object()
    inputs = batch_inputs(body, BATCH_MAX_INPUTS)
    view = PropsView.build(ctx.portal, ot, body.get("properties") or None, ot.list_defaults())
    archived = req.q_bool("archived")
    results, missing = [], []
    for item in inputs:
        key = str(item.get("id", "")) if isinstance(item, dict) else ""
        row = _find(ctx, ot, key, body.get("idProperty"), archived)
        if row is None:
            missing.append(key)
        else:
            results.append(render(ot, row, view))
    errors = [not_found_error(ot, missing)] if missing else []
    return batch_response(results, errors)


def _write_view(ctx: Context, ot: ObjectType, names: list[str]) -> PropsView:
    return PropsView.build(ctx.portal, ot, names, ())


@dataclass(frozen=True)
class Write:
    """A write that passed the value checks: how its input names the record, the record (None: a new one), and
    the record's properties once written."""

    key: str
    rid: int | None
    after: dict[str, Any]


def _after(ctx: Context, ot: ObjectType, row: Row | None, changes: dict[str, Any]) -> dict[str, Any]:
    return merged_props(ctx.portal, ot, orjson.loads(row[5]) if row else {}, changes)


def screen(
    ctx: Context, req: Request, ot: ObjectType, writes: list[Write], *, single: bool = False
) -> tuple[set[int], list[dict[str, Any]]]:
    """Apply the write-validation rules (2026-09 paths only) to the resulting records.

    Returns the positions of refused writes and their 207 errors (`per_input` mode); raises 400 VALIDATION_ERROR
    listing every refused input when the mode is `batch` or the request writes one record.
    """
    if not validated(req.params.get("version")):
        return set(), []
    refused = {i: found for i, w in enumerate(writes) if (found := ctx.validation.violations(ot.name, w.rid, w.after))}
    if not refused:
        return set(), []
    ctx.stats.refused(len(refused))
    if single or ctx.validation.mode == "batch":
        details = [{"message": " ".join(found), "context": {"ids": [writes[i].key]}} for i, found in refused.items()]
        raise validation(
            f"{len(refused)} of {len(writes)} input(s) break this portal's validation rules; nothing was written.",
            errors=details,
        )
    errors = [
        standard_error("VALIDATION_ERROR", " ".join(found), {"id": [writes[i].key]}) for i, found in refused.items()
    ]
    return set(refused), errors


def update_object(ctx: Context, req: Request) -> Response:
    """PATCH one record: 200 with the written properties, 400 for invalid values, 404 when missing."""
    ot = ctx.object_type(req.params["type"])
    changes = req.json_object().get("properties", {})
    row = _find(ctx, ot, req.params["id"], req.q_str("idProperty"), False)
    if row is None:
        raise not_found()
    problems = check_changes(ctx.portal, ot, changes)
    if problems:
        raise validation(problems_message(problems))
    screen(ctx, req, ot, [Write(req.params["id"], row[0], _after(ctx, ot, row, changes))], single=True)
    return Response(200, _apply_updates(ctx, ot, [(row, changes)])[0])


def _apply_updates(ctx: Context, ot: ObjectType, items: list[tuple[Row, dict[str, Any]]]) -> list[dict[str, Any]]:
    now = now_ms()
    writes = []
    for row, changes in items:
        writes.append((row[0], _after(ctx, ot, row, changes)))
    ctx.portal.update_many(ot, writes, now)
    fresh = ctx.portal.rows_by_id(ot, [rid for rid, _ in writes])
    return [
        render(ot, fresh[rid], _write_view(ctx, ot, list(changes)))
        for (rid, _), (_, changes) in zip(writes, items, strict=True)
    ]


def batch_update(ctx: Context, req: Request) -> Response:
    """POST batch/update: valid inputs applied, unknown ids and invalid values reported in a 207."""
    ot = ctx.object_type(req.params["type"])
    body = req.json_object()
    items: list[tuple[Row, dict[str, Any]]] = []
    writes: list[Write] = []
    errors: list[dict[str, Any]] = []
    failing = ctx.partial_failures(len(batch_inputs(body, BATCH_MAX_INPUTS)))
    for index, item in enumerate(batch_inputs(body, BATCH_MAX_INPUTS)):
        key = str(item.get("id", "")) if isinstance(item, dict) else ""
        row = _find(ctx, ot, key, item.get("idProperty") if isinstance(item, dict) else None, False)
        changes = item.get("properties", {}) if isinstance(item, dict) else {}
        problems = check_changes(ctx.portal, ot, changes)
        if row is None or index in failing:
            errors.append(not_found_error(ot, [key]))
        elif problems:
            errors.append(standard_error("VALIDATION_ERROR", problems_message(problems), {"ids": [key]}))
        else:
            items.append((row, changes))
            writes.append(Write(key, row[0], _after(ctx, ot, row, changes)))
    refused, invalid = screen(ctx, req, ot, writes)
    items = [item for i, item in enumerate(items) if i not in refused]
    return batch_response(_apply_updates(ctx, ot, items) if items else [], errors + invalid)


def _creation(item: Any) -> dict[str, Any]:
    changes = item.get("properties", {}) if isinstance(item, dict) else {}
    return changes if isinstance(changes, dict) else {}


def _check_create(ctx: Context, ot: ObjectType, item: Any) -> None:
    problems = check_changes(
        ctx.portal, ot, item.get("properties", {}) if isinstance(item, dict) else None, creating=True
    )
    if problems:
        raise validation(problems_message(problems))


def _new_write(ctx: Context, ot: ObjectType, item: Any, index: int) -> Write:
    """A create as a write: named by its `objectWriteTraceId`, or by its position in the batch."""
    trace = item.get("objectWriteTraceId") if isinstance(item, dict) else None
    return Write(str(trace) if trace else str(index), None, _after(ctx, ot, None, _creation(item)))


def _create(ctx: Context, ot: ObjectType, item: Any, rid: int, now: int) -> dict[str, Any]:
    _check_create(ctx, ot, item)
    changes = _creation(item)
    created = parse_time(changes.get("createdate") or changes.get("hs_createdate"))
    props = merged_props(ctx.portal, ot, {}, changes)
    row = ctx.portal.create(ot, rid, props, now, min(created, now) if created is not None else None)
    for assoc in item.get("associations") or []:
        _create_association(ctx, ot, rid, assoc)
    return render(ot, row, _write_view(ctx, ot, list(changes)))


def _create_association(ctx: Context, ot: ObjectType, rid: int, assoc: dict[str, Any]) -> None:
    to_id = _id(str(assoc.get("to", {}).get("id", "")))
    type_ids = {t.get("associationTypeId") for t in assoc.get("types", [])}
    for (src, dst), type_id in ASSOCIATION_TYPE_IDS.items():
        target = ctx.portal.resolve(dst)
        if src == ot.name and type_id in type_ids and to_id is not None and target is not None:
            ctx.portal.associate(ot, rid, target, to_id)
            return
    raise validation(f"Invalid association types {sorted(map(str, type_ids))} from {ot.name}.")


def create_object(ctx: Context, req: Request) -> Response:
    """POST create: 201 with the record; associations by HUBSPOT_DEFINED type id."""
    ot = ctx.object_type(req.params["type"])
    item = req.json_object()
    _check_create(ctx, ot, item)
    screen(ctx, req, ot, [_new_write(ctx, ot, item, 0)], single=True)
    rid = ctx.portal.next_ids(ot, 1)[0]
    return Response(201, _create(ctx, ot, item, rid, now_ms()))


def batch_create(ctx: Context, req: Request) -> Response:
    """POST batch/create: 201 with every record (400 if any input is invalid, as HubSpot does)."""
    ot = ctx.object_type(req.params["type"])
    inputs = batch_inputs(req.json_object(), BATCH_MAX_INPUTS)
    for item in inputs:
        _check_create(ctx, ot, item)
    refused, errors = screen(ctx, req, ot, [_new_write(ctx, ot, item, i) for i, item in enumerate(inputs)])
    inputs = [item for i, item in enumerate(inputs) if i not in refused]
    now = now_ms()
    ids = ctx.portal.next_ids(ot, len(inputs))
    results = [_create(ctx, ot, item, rid, now) for item, rid in zip(inputs, ids, strict=True)]
    return batch_response(results, errors, ok=201)


def batch_upsert(ctx: Context, req: Request) -> Response:
    """POST batch/upsert: by a unique `idProperty`; each result says whether it is `new`."""
    ot = ctx.object_type(req.params["type"])
    results, errors = [], []
    planned: list[tuple[str, str, dict[str, Any]]] = []
    writes: list[Write] = []
    for item in batch_inputs(req.json_object(), BATCH_MAX_INPUTS):
        name = str(item.get("idProperty") or "")
        unique_property(ctx.portal, ot, name)
        key = str(item.get("id", ""))
        changes = {**(item.get("properties") or {}), name: key}
        problems = check_changes(ctx.portal, ot, changes, creating=True)
        if problems:
            errors.append(standard_error("VALIDATION_ERROR", problems_message(problems), {"ids": [key]}))
            continue
        rid = ctx.portal.id_by_property(ot, name, key)
        row = ctx.portal.rows_by_id(ot, [rid]).get(rid) if rid is not None else None
        planned.append((name, key, changes))
        writes.append(Write(key, rid, _after(ctx, ot, row, changes)))
    refused, invalid = screen(ctx, req, ot, writes)
    now = now_ms()
    for name, key, changes in (p for i, p in enumerate(planned) if i not in refused):
        existing = ctx.portal.id_by_property(ot, name, key)
        if existing is None:
            record = _create(ctx, ot, {"properties": changes}, ctx.portal.next_ids(ot, 1)[0], now)
        else:
            row = ctx.portal.rows_by_id(ot, [existing])[existing]
            record = _apply_updates(ctx, ot, [(row, changes)])[0]
        results.append({**record, "new": existing is None})
    return batch_response(results, errors + invalid)


def merge_objects(ctx: Context, req: Request) -> Response:
    """POST merge `{"primaryObjectId", "objectIdToMerge"}`: 200 with the survivor (see sandbox/merge.py)."""
    ot = ctx.object_type(req.params["type"])
    body = req.json_object()
    primary, merged = _id(str(body.get("primaryObjectId", ""))), _id(str(body.get("objectIdToMerge", "")))
    if primary is None or merged is None:
        raise validation("Merging needs 'primaryObjectId' and 'objectIdToMerge' record ids.")
    row = merge_records(ctx.portal, ot, primary, merged, now_ms())
    return Response(200, render(ot, row, merge_view(ctx, ot)))


def merge_view(ctx: Context, ot: ObjectType) -> PropsView:
    """What a merge answers: the type's default properties and the merged ids."""
    return PropsView.build(ctx.portal, ot, [*ot.list_defaults(), MERGED_PROPERTY], ())


def archive_object(ctx: Context, req: Request) -> Response:
    """DELETE one record: 204 (archiving a missing record is also 204, as in HubSpot)."""
    ot = ctx.object_type(req.params["type"])
    rid = _id(req.params["id"])
    if rid is not None and rid in ctx.portal.rows_by_id(ot, [rid]):
        ctx.portal.archive(ot, [rid], now_ms())
    return Response(204)


def batch_archive(ctx: Context, req: Request) -> Response:
    """POST batch/archive: 204 whatever the prior state."""
    ot = ctx.object_type(req.params["type"])
    ids = [_id(str(i.get("id", ""))) for i in batch_inputs(req.json_object(), BATCH_MAX_INPUTS) if isinstance(i, dict)]
    found = ctx.portal.rows_by_id(ot, [i for i in ids if i is not None])
    ctx.portal.archive(ot, [i for i, row in found.items() if not row[3]], now_ms())
    return Response(204)


def register(router: Router) -> None:
    """Add the object routes (batch and search before `{id}` so they win)."""
    base = "/crm/v3/objects/{type}"
    router.api("POST", f"{base}/search", search_objects, kind="search")
    for op, handler in (
        ("read", batch_read),
        ("update", batch_update),
        ("create", batch_create),
        ("upsert", batch_upsert),
        ("archive", batch_archive),
    ):
        router.api("POST", f"{base}/batch/{op}", handler)
    router.api("POST", f"{base}/merge", merge_objects)
    router.api("GET", base, list_objects)
    router.api("POST", base, create_object)
    router.api("GET", f"{base}/{{id}}", get_object)
    router.api("PATCH", f"{base}/{{id}}", update_object)
    router.api("DELETE", f"{base}/{{id}}", archive_object)
