"""Owners (§7), pipelines (§6), call dispositions (§4.3) and the properties API (§9)."""

from __future__ import annotations

from typing import Any

from sandbox.clock import now_ms
from sandbox.constants import BATCH_MAX_INPUTS, DISPOSITIONS, OWNERS_LIMIT_DEFAULT, OWNERS_LIMIT_MAX
from sandbox.context import Context
from sandbox.errors import ApiError, conflict, not_found, standard_error, validation
from sandbox.objtypes import ObjectType
from sandbox.routing import Request, Response, Router, batch_inputs, batch_response
from sandbox.schema import PropertyGroup, definition_from_body, group_json, property_json, validate_definition


def list_owners(ctx: Context, req: Request) -> Response:
    """GET owners: active ones, or only archived (deactivated) ones with archived=true; paged by `after`."""
    archived = req.q_bool("archived")
    email = req.q_str("email")
    owners = [
        o for o in ctx.portal.directory.owners if o["archived"] == archived and (email is None or o["email"] == email)
    ]
    limit = min(max(req.q_int("limit", OWNERS_LIMIT_DEFAULT), 1), OWNERS_LIMIT_MAX)
    start = req.q_int("after", 0)
    page = owners[start : start + limit]
    body: dict[str, Any] = {"results": page}
    if start + limit < len(owners):
        body["paging"] = {"next": {"after": str(start + limit), "link": f"?after={start + limit}"}}
    return Response(200, body)


def get_owner(ctx: Context, req: Request) -> Response:
    """GET one owner by id (or userId with idProperty=userId)."""
    key = req.params["ownerId"]
    field_name = "userIdIncludingInactive" if req.q_str("idProperty") == "userId" else "id"
    archived = req.q_bool("archived")
    for owner in ctx.portal.directory.owners:
        if str(owner[field_name]) == key and owner["archived"] == archived:
            return Response(200, owner)
    raise not_found()


def list_pipelines(ctx: Context, req: Request) -> Response:
    """GET pipelines of deals: `{"results": [...]}` without paging."""
    _deals_only(req.params["objectType"])
    return Response(200, {"results": ctx.portal.directory.pipelines})


def get_pipeline(ctx: Context, req: Request) -> Response:
    """GET one pipeline."""
    _deals_only(req.params["objectType"])
    for pipeline in ctx.portal.directory.pipelines:
        if pipeline["id"] == req.params["pipelineId"]:
            return Response(200, pipeline)
    raise not_found()


def list_stages(ctx: Context, req: Request) -> Response:
    """GET the stages of one pipeline."""
    pipeline = get_pipeline(ctx, req).body
    return Response(200, {"results": pipeline["stages"]})


def _deals_only(object_type: str) -> None:
    if object_type not in ("deals", "deal", "0-3"):
        raise validation(f"Pipelines are only served for deals in the sandbox, not '{object_type}'.")


def dispositions(ctx: Context, req: Request) -> Response:
    """GET /calling/v1/dispositions: a bare JSON array of `{id, label}`."""
    return Response(200, [{"id": guid, "label": label} for guid, label in DISPOSITIONS])


def list_properties(ctx: Context, req: Request) -> Response:
    """GET every property of a type."""
    ot = ctx.object_type(req.params["type"])
    defs = ctx.portal.directory.properties[ot.name].props.values()
    return Response(200, {"results": [property_json(d) for d in defs]})


def get_property(ctx: Context, req: Request) -> Response:
    """GET one property definition."""
    ot = ctx.object_type(req.params["type"])
    definition = ctx.portal.directory.properties[ot.name].props.get(req.params["name"])
    if definition is None:
        raise not_found(f"Unable to find property {req.params['name']} on {ot.name}")
    return Response(200, property_json(definition))


def create_property(ctx: Context, req: Request) -> Response:
    """POST a property: 201; 409 if the name exists; 400 for bad type/fieldType or an unknown group."""
    return Response(201, _new_property(ctx, ctx.object_type(req.params["type"]), req.json_object()))


def _new_property(ctx: Context, ot: ObjectType, body: dict[str, Any]) -> dict[str, Any]:
    problem = validate_definition(body)
    if problem:
        raise validation(problem)
    registry = ctx.portal.directory.properties[ot.name]
    if body["name"] in registry.props:
        raise conflict(f"Property named '{body['name']}' already exists.")
    if body["groupName"] not in registry.groups:
        raise validation(f"Property group '{body['groupName']}' does not exist.")
    definition = definition_from_body(body, now_ms())
    registry.props[definition.name] = definition
    return property_json(definition)


def batch_read_properties(ctx: Context, req: Request) -> Response:
    """POST properties batch/read `{"inputs": [{"name"}]}`: the known ones; unknown names in a 207."""
    ot = ctx.object_type(req.params["type"])
    props = ctx.portal.directory.properties[ot.name].props
    names = [
        str(item.get("name", "")) if isinstance(item, dict) else ""
        for item in batch_inputs(req.json_object(), BATCH_MAX_INPUTS)
    ]
    missing = [n for n in names if n not in props]
    errors = [standard_error("OBJECT_NOT_FOUND", f"Unable to find properties {missing}", {"names": missing})]
    return batch_response([property_json(props[n]) for n in names if n in props], errors if missing else [])


def batch_create_properties(ctx: Context, req: Request) -> Response:
    """POST properties batch/create: each input by the single-create rules; 201, or 207 naming refused inputs."""
    ot = ctx.object_type(req.params["type"])
    results, errors = [], []
    for item in batch_inputs(req.json_object(), BATCH_MAX_INPUTS):
        try:
            results.append(_new_property(ctx, ot, item if isinstance(item, dict) else {}))
        except ApiError as err:
            name = str(item.get("name", "")) if isinstance(item, dict) else ""
            errors.append(standard_error(err.category, err.message, {"name": [name]}))
    return batch_response(results, errors, ok=201)


def list_groups(ctx: Context, req: Request) -> Response:
    """GET property groups of a type."""
    ot = ctx.object_type(req.params["type"])
    groups = ctx.portal.directory.properties[ot.name].groups.values()
    return Response(200, {"results": [group_json(g) for g in groups]})


def get_group(ctx: Context, req: Request) -> Response:
    """GET one property group."""
    ot = ctx.object_type(req.params["type"])
    group = ctx.portal.directory.properties[ot.name].groups.get(req.params["name"])
    if group is None:
        raise not_found()
    return Response(200, group_json(group))


def create_group(ctx: Context, req: Request) -> Response:
    """POST a property group: 201, or 409 if it exists."""
    ot = ctx.object_type(req.params["type"])
    body = req.json_object()
    name, label = body.get("name"), body.get("label")
    if not isinstance(name, str) or not name or not isinstance(label, str) or not label:
        raise validation("Property groups need a 'name' and a 'label'.")
    groups = ctx.portal.directory.properties[ot.name].groups
    if name in groups:
        raise conflict(f"A property group named '{name}' already exists.")
    groups[name] = PropertyGroup(name, label, int(body.get("displayOrder", -1)))
    return Response(201, group_json(groups[name]))


def register(router: Router) -> None:
    """Add the owners, pipelines, dispositions and properties routes."""
    router.api("GET", "/crm/v3/owners", list_owners)
    router.api("GET", "/crm/v3/owners/{ownerId}", get_owner)
    router.api("GET", "/crm/v3/pipelines/{objectType}", list_pipelines)
    router.api("GET", "/crm/v3/pipelines/{objectType}/{pipelineId}", get_pipeline)
    router.api("GET", "/crm/v3/pipelines/{objectType}/{pipelineId}/stages", list_stages)
    router.add("GET", "/calling/v1/dispositions", dispositions)
    router.api("GET", "/crm/v3/properties/{type}/groups", list_groups)
    router.api("POST", "/crm/v3/properties/{type}/groups", create_group)
    router.api("GET", "/crm/v3/properties/{type}/groups/{name}", get_group)
    router.api("POST", "/crm/v3/properties/{type}/batch/read", batch_read_properties)
    router.api("POST", "/crm/v3/properties/{type}/batch/create", batch_create_properties)
    router.api("GET", "/crm/v3/properties/{type}", list_properties)
    router.api("POST", "/crm/v3/properties/{type}", create_property)
    router.api("GET", "/crm/v3/properties/{type}/{name}", get_property)
