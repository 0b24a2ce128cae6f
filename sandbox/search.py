"""CRM search (`POST /crm/v3/objects/{type}/search`, §3.3): request validation and filters compiled to SQL.

Search reads the indexed state of each record (`s_vis`, `s_updated`, `s_props`), never archived records, and
enforces HubSpot's limits: 5 groups / 6 filters per group / 18 filters, one sort, 200 per page, 3,000-character
bodies and the 10,000-result cap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.clock import iso, now_ms, parse_time
from sandbox.constants import (
    SEARCH_BODY_MAX_CHARS,
    SEARCH_LIMIT_DEFAULT,
    SEARCH_LIMIT_MAX,
    SEARCH_MAX_FILTERS,
    SEARCH_MAX_FILTERS_PER_GROUP,
    SEARCH_MAX_GROUPS,
    SEARCH_RESULT_CAP,
)
from sandbox.context import Context
from sandbox.errors import validation
from sandbox.objtypes import QUERY_FIELDS, ObjectType
from sandbox.portal import SEARCH_COLUMNS, Portal
from sandbox.records import PropsView, render
from sandbox.routing import Request, Response

PROPS_EXPR = "json_extract(COALESCE(s_props, props), ?)"
COMPARISONS = {"EQ": "=", "LT": "<", "LTE": "<=", "GT": ">", "GTE": ">="}


@dataclass
class Column:
    """A searchable property: its SQL expression, bound parameters, and how values compare."""

    expr: str
    params: list[Any]
    kind: str  # "int", "ms", "datetime", "number", "enum", "multi", "string"
    convert: Callable[[Any], Any] = str


@dataclass
class Where:
    """A compiled WHERE clause."""

    sql: str = "s_vis = 1"
    params: list[Any] = field(default_factory=list)


def _to_ms(value: Any) -> int:
    ms = parse_time(value)
    if ms is None:
        raise validation(f"{value} is not a valid date value.")
    return ms


def _to_iso(value: Any) -> str:
    return iso(_to_ms(value))


def _to_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise validation(f"{value} is not a valid number.") from exc


def _to_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise validation(f"{value} is not a valid id.") from exc


def column(portal: Portal, ot: ObjectType, name: Any) -> Column:
    """How to read property `name` in SQL; 400 for an unknown property."""
    virtual = ot.virtual_props()
    if name in virtual:
        col = virtual[name]
        if col == "id":
            return Column("id", [], "int", _to_int)
        return Column("s_updated" if col == "updated" else "created", [], "ms", _to_ms)
    definition = portal.directory.properties[ot.name].props.get(str(name))
    if definition is None:
        raise validation(f"There was a problem with the request: property '{name}' does not exist on {ot.name}.")
    path = [f'$."{name}"']
    if definition.type in ("datetime", "date"):
        return Column(PROPS_EXPR, path, "datetime", _to_iso)
    if definition.type == "number":
        return Column(f"sb_num({PROPS_EXPR})", path, "number", _to_float)
    if definition.type in ("enumeration", "bool"):
        return Column(PROPS_EXPR, path, "multi" if definition.field_type == "checkbox" else "enum")
    return Column(PROPS_EXPR, path, "string")


def _compare(c: Column, op: str, value: Any) -> tuple[str, list[Any]]:
    if c.kind == "string":
        return f"lower({c.expr}) {op} lower(?)", [*c.params, c.convert(value)]
    if c.kind == "multi" and op == "=":
        return f"(';' || {c.expr} || ';') LIKE ?", [*c.params, f"%;{value};%"]
    return f"{c.expr} {op} ?", [*c.params, c.convert(value)]


def _in(c: Column, values: Any, negate: bool) -> tuple[str, list[Any]]:
    if not isinstance(values, list) or not values:
        raise validation("IN and NOT_IN need a non-empty 'values' list.")
    if c.kind == "multi":
        parts = [_compare(c, "=", v) for v in values]
        sql = "(" + " OR ".join(p[0] for p in parts) + ")"
        params = [x for p in parts for x in p[1]]
    else:
        sql = f"{c.expr} IN ({','.join('?' * len(values))})"
        params = [*c.params, *(c.convert(v) for v in values)]
    if negate:
        return f"({c.expr} IS NULL OR NOT {sql})", [*c.params, *params]
    return sql, params


def _token(c: Column, value: Any, negate: bool) -> tuple[str, list[Any]]:
    pattern = "%" + str(value).lower().replace("*", "%") + "%"
    sql = f"lower({c.expr}) LIKE ?"
    if negate:
        return f"({c.expr} IS NULL OR NOT {sql})", [*c.params, *c.params, pattern]
    return sql, [*c.params, pattern]


def compile_filter(portal: Portal, ot: ObjectType, f: Any) -> tuple[str, list[Any]]:
    """One filter as SQL; 400 for unknown operators or properties."""
    if not isinstance(f, dict):
        raise validation("Each filter must be an object.")
    name, op = f.get("propertyName"), f.get("operator", "EQ")
    if isinstance(name, str) and name.startswith("associations."):
        return _association_filter(portal, ot, name, op, f.get("value"))
    c = column(portal, ot, name)
    if op in COMPARISONS:
        return _compare(c, COMPARISONS[op], f.get("value"))
    build = OPERATORS.get(str(op))
    if build is None:
        raise validation(f"Unsupported filter operator '{op}'.")
    return build(c, f)


def _neq(c: Column, f: dict[str, Any]) -> tuple[str, list[Any]]:
    sql, params = _compare(c, "=", f.get("value"))
    return f"({c.expr} IS NULL OR NOT {sql})", [*c.params, *params]


def _between(c: Column, f: dict[str, Any]) -> tuple[str, list[Any]]:
    low, lp = _compare(c, ">=", f.get("value"))
    high, hp = _compare(c, "<=", f.get("highValue"))
    return f"({low} AND {high})", [*lp, *hp]


def _has(c: Column, present: bool) -> tuple[str, list[Any]]:
    return f"{c.expr} IS {'NOT ' if present else ''}NULL", list(c.params)


OPERATORS: dict[str, Callable[[Column, dict[str, Any]], tuple[str, list[Any]]]] = {
    "NEQ": _neq,
    "BETWEEN": _between,
    "IN": lambda c, f: _in(c, f.get("values"), False),
    "NOT_IN": lambda c, f: _in(c, f.get("values"), True),
    "HAS_PROPERTY": lambda c, f: _has(c, True),
    "NOT_HAS_PROPERTY": lambda c, f: _has(c, False),
    "CONTAINS_TOKEN": lambda c, f: _token(c, f.get("value"), False),
    "NOT_CONTAINS_TOKEN": lambda c, f: _token(c, f.get("value"), True),
}


def _association_filter(portal: Portal, ot: ObjectType, name: str, op: Any, value: Any) -> tuple[str, list[Any]]:
    to = portal.resolve(name.split(".", 1)[1])
    if to is None or op != "EQ" or ot.custom:
        raise validation(f"Unsupported association filter '{name}' {op}.")
    src_type, src_id, dst_type, dst_id = portal.direction(ot, to)
    sql = f"id IN (SELECT {src_id} FROM assoc WHERE {src_type} = ? AND {dst_type} = ? AND {dst_id} = ?)"
    return sql, [ot.code, to.code, _to_int(value)]


def _check_limits(groups: Any) -> list[Any]:
    if not isinstance(groups, list):
        raise validation("filterGroups must be a list.")
    filters = [f for g in groups for f in (g.get("filters") or [] if isinstance(g, dict) else [])]
    too_many = (
        len(groups) > SEARCH_MAX_GROUPS
        or any(len(g.get("filters") or []) > SEARCH_MAX_FILTERS_PER_GROUP for g in groups)
        or len(filters) > SEARCH_MAX_FILTERS
    )
    if too_many:
        raise validation(
            f"There was a problem with the request. Too many filters: at most {SEARCH_MAX_GROUPS} filterGroups, "
            f"{SEARCH_MAX_FILTERS_PER_GROUP} filters per group and {SEARCH_MAX_FILTERS} filters in total are "
            "allowed.",
            sub_category="VALIDATION_ERROR.TOO_MANY_FILTERS",
        )
    return groups


def compile_where(portal: Portal, ot: ObjectType, body: dict[str, Any]) -> Where:
    """The WHERE clause for filterGroups (ORed groups of ANDed filters) and the free-text `query`.

    A top-level `filters` list without `filterGroups` is the older form HubSpot still accepts (ANDed, as one
    group; hubspot-api-nodejs#491); Airbyte's source-hubspot sends it.
    """
    where = Where()
    raw = body.get("filterGroups")
    if raw is None and isinstance(body.get("filters"), list):
        raw = [{"filters": body["filters"]}] if body["filters"] else []
    groups = _check_limits(raw or [])
    ors = []
    for group in groups:
        parts = [compile_filter(portal, ot, f) for f in group.get("filters") or []]
        if parts:
            ors.append("(" + " AND ".join(p[0] for p in parts) + ")")
            where.params += [x for p in parts for x in p[1]]
    if ors:
        where.sql += " AND (" + " OR ".join(ors) + ")"
    text = body.get("query")
    if isinstance(text, str) and text.strip():
        fields = QUERY_FIELDS.get(ot.name, ())
        like = " OR ".join(f"lower({PROPS_EXPR}) LIKE ?" for _ in fields) or "0"
        where.sql += f" AND ({like})"
        for name in fields:
            where.params += [f'$."{name}"', f"%{text.strip().lower()}%"]
    return where


def compile_order(portal: Portal, ot: ObjectType, sorts: Any) -> tuple[str, list[Any]]:
    """ORDER BY for at most one sort; oldest-created first without one."""
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise validation("There was a problem with the request. Only one sort is allowed.")
    if not sorts:
        return "created ASC, id ASC", []
    sort = sorts[0]
    if isinstance(sort, str):
        sort = {"propertyName": sort.lstrip("-"), "direction": "DESCENDING" if sort.startswith("-") else "ASCENDING"}
    direction = "DESC" if sort.get("direction") == "DESCENDING" else "ASC"
    c = column(portal, ot, sort.get("propertyName"))
    return f"{c.expr} {direction}, id {direction}", list(c.params)


def _paging(body: dict[str, Any]) -> tuple[int, int]:
    limit, after = body.get("limit", SEARCH_LIMIT_DEFAULT), body.get("after") or 0
    try:
        limit, after = int(limit), int(after)
    except (TypeError, ValueError) as exc:
        raise validation("limit and after must be integers.") from exc
    if limit < 0 or limit > SEARCH_LIMIT_MAX:
        raise validation(f"limit must be between 0 and {SEARCH_LIMIT_MAX}, got {limit}.")
    if after >= SEARCH_RESULT_CAP:
        raise validation(
            f"There was a problem with the request. Paging is limited to {SEARCH_RESULT_CAP} "
            "results; use a narrower filter.",
            sub_category="VALIDATION_ERROR.PAGING_LIMIT",
        )
    return limit, after


def search_objects(ctx: Context, req: Request) -> Response:
    """Search one object type; the response carries `total` and, when more match, `paging.next.after`."""
    ot = ctx.object_type(req.params["type"])
    if len(req.body.decode("utf-8", "replace")) > SEARCH_BODY_MAX_CHARS:
        raise validation(f"The request body exceeds the maximum of {SEARCH_BODY_MAX_CHARS} characters.")
    body = req.json_object()
    limit, after = _paging(body)
    where = compile_where(ctx.portal, ot, body)
    order, order_params = compile_order(ctx.portal, ot, body.get("sorts") or [])
    ctx.portal.refresh_index(ot, now_ms())
    total = ctx.portal.count_cached(f"SELECT COUNT(*) FROM {ot.table} WHERE {where.sql}", where.params)
    size = min(limit, SEARCH_RESULT_CAP - after)
    rows = ctx.portal.query(
        f"SELECT {SEARCH_COLUMNS} FROM {ot.table} WHERE {where.sql} ORDER BY {order} LIMIT ? OFFSET ?",
        [*where.params, *order_params, size, after],
    )
    view = PropsView.build(ctx.portal, ot, body.get("properties") or None, ot.search_defaults())
    out: dict[str, Any] = {"total": total, "results": [render(ot, row, view) for row in rows]}
    if after + limit < total and limit:
        nxt = str(after + limit)
        out["paging"] = {"next": {"after": nxt, "link": f"?after={nxt}"}}
    return Response(200, out)
