"""The schemas API for custom objects: list, get and create. Created objects get a `2-…` type id, a
fully qualified name `p{portal}_{name}`, and records served under `/crm/v3/objects/{type}` like any other."""

from __future__ import annotations

from typing import Any

from sandbox.clock import iso, now_ms
from sandbox.constants import PORTAL_ID
from sandbox.context import Context
from sandbox.errors import conflict, missing_scopes, not_found, validation
from sandbox.objtypes import ObjectType
from sandbox.routing import Request, Response, Router
from sandbox.schema import PropertyGroup, definition_from_body, property_json, validate_definition

FIRST_CUSTOM_ID = 2_610_001
TO_TYPE_IDS = {"CONTACT": "0-1", "COMPANY": "0-2", "DEAL": "0-3", "TICKET": "0-5"}


def _enabled(ctx: Context, access: str = "read") -> None:
    if not ctx.settings.custom_objects:
        raise missing_scopes(f"crm.schemas.custom.{access}")


def _schema_json(ctx: Context, ot: ObjectType) -> dict[str, Any]:
    stored = dict(ctx.portal.directory.schemas[ot.type_id])
    stored["properties"] = [property_json(d) for d in ctx.portal.directory.properties[ot.name].props.values()]
    return stored


def list_schemas(ctx: Context, req: Request) -> Response:
    """GET /crm/v3/schemas: every custom object schema."""
    _enabled(ctx)
    return Response(200, {"results": [_schema_json(ctx, ot) for ot in ctx.portal.custom_types()]})


def get_schema(ctx: Context, req: Request) -> Response:
    """GET /crm/v3/schemas/{objectType} by type id, fully qualified name or name."""
    _enabled(ctx)
    ot = ctx.portal.resolve(req.params["objectType"])
    if ot is None or not ot.custom:
        raise not_found(f"Unable to find object type {req.params['objectType']}")
    return Response(200, _schema_json(ctx, ot))


def _check_egg(body: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    name, labels, props = body.get("name"), body.get("labels"), body.get("properties")
    if not isinstance(name, str) or not name or not isinstance(labels, dict) or not isinstance(props, list):
        raise validation("A schema needs 'name', 'labels' {singular, plural} and 'properties'.")
    names = {p.get("name") for p in props if isinstance(p, dict)}
    for listed in ("requiredProperties", "searchableProperties", "secondaryDisplayProperties"):
        missing = set(body.get(listed) or []) - names
        if missing:
            raise validation(f"{listed} names undefined properties: {sorted(missing)}")
    primary = body.get("primaryDisplayProperty")
    if primary is not None and primary not in names:
        raise validation(f"primaryDisplayProperty '{primary}' is not one of the properties.")
    return name, props


def create_schema(ctx: Context, req: Request) -> Response:
    """POST /crm/v3/schemas: 201 with the new schema; 409 if the name is taken."""
    _enabled(ctx, "write")
    body = req.json_object()
    name, props = _check_egg(body)
    if ctx.portal.resolve(name) is not None:
        raise conflict(f"Object type with name '{name}' already exists.")
    group = f"{name}_information"
    for prop in props:
        problem = validate_definition({**prop, "groupName": group})
        if problem:
            raise validation(problem)
    number = FIRST_CUSTOM_ID + len(ctx.portal.custom_types())
    ot = ObjectType(name, f"2-{number}", 1_000 + len(ctx.portal.custom_types()), name, 3, True, f"p{PORTAL_ID}_{name}")
    now = now_ms()
    ctx.portal.add_type(ot)
    registry = ctx.portal.directory.properties[ot.name]
    registry.groups[group] = PropertyGroup(group, f"{body['labels'].get('singular', name)} information", 0)
    for prop in props:
        definition = definition_from_body({**prop, "groupName": group}, now)
        registry.props[definition.name] = definition
    ctx.portal.directory.schemas[ot.type_id] = _stored_schema(body, ot, now)
    return Response(201, _schema_json(ctx, ot))


def _stored_schema(body: dict[str, Any], ot: ObjectType, now: int) -> dict[str, Any]:
    stamp = iso(now)
    associations = [
        {
            "id": str(100 + i),
            "fromObjectTypeId": ot.type_id,
            "toObjectTypeId": TO_TYPE_IDS.get(str(a), str(a)),
            "name": f"{ot.name}_to_{str(a).lower()}",
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        for i, a in enumerate(body.get("associatedObjects") or [])
    ]
    return {
        "id": ot.type_id.split("-")[1],
        "objectTypeId": ot.type_id,
        "fullyQualifiedName": ot.fqn,
        "name": ot.name,
        "labels": body["labels"],
        "description": body.get("description"),
        "requiredProperties": body.get("requiredProperties") or [],
        "searchableProperties": body.get("searchableProperties") or [],
        "primaryDisplayProperty": body.get("primaryDisplayProperty"),
        "secondaryDisplayProperties": body.get("secondaryDisplayProperties") or [],
        "associations": associations,
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
    }


def register(router: Router) -> None:
    """Add the schemas routes."""
    router.add("GET", "/crm/v3/schemas", list_schemas)
    router.add("POST", "/crm/v3/schemas", create_schema)
    router.add("GET", "/crm/v3/schemas/{objectType}", get_schema)
    # hubspot-api-client 12 calls the schemas API under its older prefix; HubSpot serves both.
    router.api("GET", "/crm-object-schemas/v3/schemas", list_schemas)
    router.api("POST", "/crm-object-schemas/v3/schemas", create_schema)
    router.api("GET", "/crm-object-schemas/v3/schemas/{objectType}", get_schema)
