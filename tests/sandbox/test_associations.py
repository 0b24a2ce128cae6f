"""Associations v4 through hubspot-api-client 12: batch read with per-input paging, 207, single-record list."""

from __future__ import annotations

from typing import Any

import orjson
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)

from sandbox.constants import ASSOCIATION_TYPE_IDS
from sandbox.harness import RunningSandbox
from tests.sandbox.wire import assert_lossless, make_client


def _mass_email(shared: RunningSandbox) -> dict[str, Any]:
    return max(shared.export("emails"), key=lambda e: len(e["associations"]["contacts"]))


def _read(client: HubSpot, inputs: list[PublicFetchAssociationsBatchRequest], to: str = "contacts") -> Any:
    body = BatchInputPublicFetchAssociationsBatchRequest(inputs=inputs)
    return client.crm.associations.v4.batch_api.get_page("emails", to, body)


def test_batch_read_pages_each_input(client: HubSpot, shared: RunningSandbox) -> None:
    """Re-sending an input with its `after` walks all its associations (more than 250 here)."""
    email = _mass_email(shared)
    seen: list[str] = []
    after = None
    while True:
        page = _read(client, [PublicFetchAssociationsBatchRequest(id=email["id"], after=after)])
        result = page.results[0]
        seen += [str(t.to_object_id) for t in result.to]
        if result.paging is None:
            break
        after = result.paging.next.after
    assert sorted(seen) == sorted(email["associations"]["contacts"])


def test_type_ids_are_hubspot_defined(client: HubSpot, shared: RunningSandbox) -> None:
    """Email -> contact links carry HUBSPOT_DEFINED type 198."""
    page = _read(client, [PublicFetchAssociationsBatchRequest(id=_mass_email(shared)["id"])])
    kinds = {(t.category, t.type_id) for to in page.results[0].to for t in to.association_types}
    assert kinds == {("HUBSPOT_DEFINED", ASSOCIATION_TYPE_IDS[("emails", "contacts")])}


def test_inputs_without_links_answer_207_no_associations_found(client: HubSpot, shared: RunningSandbox) -> None:
    """An email without contacts yields an error entry with subCategory NO_ASSOCIATIONS_FOUND."""
    lonely = next(e for e in shared.export("emails") if not e["associations"]["contacts"])
    page = _read(
        client,
        [
            PublicFetchAssociationsBatchRequest(id=lonely["id"]),
            PublicFetchAssociationsBatchRequest(id=_mass_email(shared)["id"]),
        ],
    )
    assert len(page.results) == 1
    assert page.errors[0].sub_category == "crm.associations.NO_ASSOCIATIONS_FOUND"


def test_raw_v4_response_has_numeric_ids_and_deserialises(shared: RunningSandbox) -> None:
    """toObjectId is a JSON number, and nothing is lost in the SDK model."""
    api = make_client(shared).crm.associations.v4.batch_api
    body = BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[PublicFetchAssociationsBatchRequest(id=_mass_email(shared)["id"])]
    )
    raw = orjson.loads(api.get_page("emails", "contacts", body, _preload_content=False).data)
    assert isinstance(raw["results"][0]["to"][0]["toObjectId"], int)
    assert_lossless(api.get_page("emails", "contacts", body), raw)


def test_single_record_associations_page_by_500(client: HubSpot, shared: RunningSandbox) -> None:
    """GET /crm/v4/objects/{type}/{id}/associations/{to} honours limit and after."""
    email = _mass_email(shared)
    api = client.crm.associations.v4.basic_api
    first = api.get_page("emails", email["id"], "contacts", limit=100)
    second = api.get_page("emails", email["id"], "contacts", limit=500, after=first.paging.next.after)
    ids = [str(t.to_object_id) for t in first.results + second.results]
    assert ids == sorted(email["associations"]["contacts"], key=int)


def test_deal_to_contact_uses_type_3(client: HubSpot, shared: RunningSandbox) -> None:
    """Deals link to contacts with type id 3."""
    deal = next(d for d in shared.export("deals") if d["associations"]["contacts"])
    body = BatchInputPublicFetchAssociationsBatchRequest(inputs=[PublicFetchAssociationsBatchRequest(id=deal["id"])])
    page = client.crm.associations.v4.batch_api.get_page("deals", "contacts", body)
    assert page.results[0].to[0].association_types[0].type_id == 3
