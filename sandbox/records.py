"""Record rendering (HubSpot's SimplePublicObject shape) and property writes with HubSpot's value rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from sandbox.clock import iso, now_ms
from sandbox.errors import standard_error, validation
from sandbox.objtypes import ObjectType
from sandbox.portal import Portal, Row
from sandbox.schema import PropertyDef, normalise_value, validate_value

CREATE_ONLY = frozenset({"createdate", "hs_createdate"})


@dataclass(frozen=True)
class PropsView:
    """Which properties a response carries: the requested (or default) names plus the always-present ones."""

    wanted: tuple[str, ...]
    known: frozenset[str]
    virtual: dict[str, str]
    base: tuple[str, ...]

    @classmethod
    def build(
        cls, portal: Portal, ot: ObjectType, requested: Sequence[str] | None, defaults: Sequence[str]
    ) -> PropsView:
        """A view for `requested` names, or for the type's defaults when nothing was requested."""
        virtual = ot.virtual_props()
        known = frozenset(portal.directory.properties[ot.name].props) | frozenset(virtual)
        base = ("hs_object_id", ot.created_prop, ot.modified_prop)
        return cls(tuple(requested if requested is not None else defaults), known, virtual, base)


def _virtual_value(column: str, row: Row) -> str:
    if column == "id":
        return str(row[0])
    return iso(row[1] if column == "created" else row[2])


def render(ot: ObjectType, row: Row, view: PropsView) -> dict[str, Any]:
    """One record as list/get/search return it."""
    stored: dict[str, str] = orjson.loads(row[5])
    created, updated = iso(row[1]), iso(row[2])
    values = {"id": str(row[0]), "created": created, "updated": updated}
    props: dict[str, str | None] = {}
    virtual, known = view.virtual, view.known
    for name in view.wanted:
        if name in stored:
            props[name] = stored[name]
        elif name in virtual:
            props[name] = values[virtual[name]]
        elif name in known:
            props[name] = None
    for name in view.base:
        props[name] = values[virtual[name]]
    out: dict[str, Any] = {
        "id": values["id"],
        "properties": props,
        "createdAt": created,
        "updatedAt": updated,
        "archived": bool(row[3]),
    }
    if row[3] and row[4] is not None:
        out["archivedAt"] = iso(row[4])
    return out


def envelope(row: Row, props: dict[str, str | None]) -> dict[str, Any]:
    """Wrap properties in the record envelope: id, createdAt, updatedAt, archived(At)."""
    out: dict[str, Any] = {
        "id": str(row[0]),
        "properties": props,
        "createdAt": iso(row[1]),
        "updatedAt": iso(row[2]),
        "archived": bool(row[3]),
    }
    if row[3] and row[4] is not None:
        out["archivedAt"] = iso(row[4])
    return out


def render_full(ot: ObjectType, row: Row) -> dict[str, Any]:
    """Every stored and computed property of a record (ground truth for the operator export)."""
    props: dict[str, str | None] = orjson.loads(row[5])
    for name, column in ot.virtual_props().items():
        props[name] = _virtual_value(column, row)
    return envelope(row, props)


def check_changes(portal: Portal, ot: ObjectType, changes: Any, creating: bool = False) -> list[dict[str, Any]]:
    """Validate written properties; return HubSpot's per-property error entries (empty when valid)."""
    if not isinstance(changes, dict):
        return [
            {
                "isValid": False,
                "message": "properties must be an object",
                "error": "INVALID_INPUT",
                "name": "properties",
            }
        ]
    defs = portal.directory.properties[ot.name].props
    problems: list[dict[str, Any]] = []
    for name, value in changes.items():
        definition = defs.get(name)
        if definition is None:
            problems.append(
                {
                    "isValid": False,
                    "message": f'Property "{name}" does not exist',
                    "error": "PROPERTY_DOESNT_EXIST",
                    "name": name,
                }
            )
        elif definition.read_only or (name in CREATE_ONLY and not creating):
            problems.append(
                {
                    "isValid": False,
                    "message": f'"{name}" is a read only property; its value cannot be set.',
                    "error": "READ_ONLY_VALUE",
                    "name": name,
                }
            )
        else:
            bad = validate_value(definition, _as_text(value))
            if bad:
                problems.append({"isValid": False, "message": bad[1], "error": bad[0], "name": name})
    return problems


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def problems_message(problems: list[dict[str, Any]]) -> str:
    """HubSpot's message for invalid property values."""
    return "Property values were not valid: " + orjson.dumps(problems).decode()


def merged_props(portal: Portal, ot: ObjectType, current: dict[str, str], changes: dict[str, Any]) -> dict[str, str]:
    """Current properties with validated changes applied; `""` clears a value."""
    defs = portal.directory.properties[ot.name].props
    out = dict(current)
    for name, raw in changes.items():
        if name in CREATE_ONLY:
            continue
        value = _as_text(raw)
        if value == "":
            out.pop(name, None)
        else:
            out[name] = normalise_value(defs[name], value, current.get(name))
    if ot.name == "deals":
        derive_deal_flags(portal, current, out)
    return out


def derive_deal_flags(portal: Portal, before: dict[str, str], after: dict[str, str]) -> None:
    """Recompute hs_is_closed(_won/_lost) from the stage metadata; set closedate on entering a closed stage."""
    stage = _stage(portal, after.get("pipeline", "default"), after.get("dealstage"))
    if stage is None:
        return
    closed = stage["metadata"]["isClosed"] == "true"
    won = closed and float(stage["metadata"]["probability"]) >= 1.0
    after.update(
        {
            "hs_is_closed": str(closed).lower(),
            "hs_is_closed_won": str(won).lower(),
            "hs_is_closed_lost": str(closed and not won).lower(),
        }
    )
    previous = _stage(portal, before.get("pipeline", "default"), before.get("dealstage"))
    was_closed = previous is not None and previous["metadata"]["isClosed"] == "true"
    if closed and not was_closed and before.get("closedate") == after.get("closedate"):
        after["closedate"] = iso(now_ms())


def _stage(portal: Portal, pipeline: str, stage_id: str | None) -> dict[str, Any] | None:
    for p in portal.directory.pipelines:
        if p["id"] == pipeline:
            for s in p["stages"]:
                if s["id"] == stage_id:
                    return dict(s)
    return None


def unique_property(portal: Portal, ot: ObjectType, name: str) -> PropertyDef:
    """The definition of an `idProperty`; 400 unless it is a unique-value property."""
    definition = portal.directory.properties[ot.name].props.get(name)
    if definition is None or not definition.unique:
        raise validation(f"{name} is not a unique property of {ot.name}; idProperty must have unique values.")
    return definition


def not_found_error(ot: ObjectType, ids: list[str]) -> dict[str, Any]:
    """The batch error for ids that do not exist."""
    return standard_error(
        "OBJECT_NOT_FOUND",
        f"Could not get some {ot.singular.upper()} objects, they may be "
        "deleted or not exist. Check that ids are valid.",
        {"ids": ids},
    )
