"""`/crm/v3/objects/{type}` through hubspot-api-client 12: list, get, batch read/update, writes."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager

import orjson
import pytest
from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectId,
    SimplePublicObjectInput,
)
from hubspot.crm.objects.exceptions import ApiException

from sandbox.harness import RunningSandbox
from sandbox.objtypes import STANDARD
from tests.sandbox.wire import assert_lossless, make_client


def _page_through(client: HubSpot, object_type: str, **kwargs: object) -> list[str]:
    ids: list[str] = []
    after = None
    api = client.crm.objects.basic_api
    while True:
        page = api.get_page(object_type, limit=100, after=after, **kwargs)
        ids += [r.id for r in page.results]
        if page.paging is None:
            return ids
        after = page.paging.next.after


@pytest.mark.parametrize("object_type", ["contacts", "deals", "calls", "emails", "meetings", "notes", "tasks"])
def test_paging_reaches_every_live_record_once(client: HubSpot, shared: RunningSandbox, object_type: str) -> None:
    """Following `paging.next.after` to the end yields each live record exactly once."""
    ids = _page_through(client, object_type)
    assert len(ids) == len(set(ids)) == shared.portal.count(STANDARD[object_type], archived=False)


def test_archived_records_are_listed_only_with_archived_true(client: HubSpot, shared: RunningSandbox) -> None:
    """archived=true lists exactly the archived contacts, each flagged archived with archivedAt."""
    page = client.crm.contacts.basic_api.get_page(limit=100, archived=True)
    assert len(page.results) == shared.portal.count(STANDARD["contacts"], archived=True) > 0
    assert all(r.archived and r.archived_at is not None for r in page.results)


@pytest.mark.parametrize(
    ("alias", "name"), [("0-1", "contacts"), ("0-48", "calls"), ("call", "calls"), ("0-3", "deals"), ("0-27", "tasks")]
)
def test_type_ids_are_aliases(client: HubSpot, shared: RunningSandbox, alias: str, name: str) -> None:
    """Type ids and singular names address the same records as the plural name."""
    api = client.crm.objects.basic_api
    assert [r.id for r in api.get_page(alias, limit=5).results] == [r.id for r in api.get_page(name, limit=5).results]


def test_list_response_deserialises_without_loss(shared: RunningSandbox) -> None:
    """Every JSON key of a list page with associations exists in the SDK model."""
    api = make_client(shared).crm.objects.basic_api
    kwargs = {"limit": 20, "properties": ["hs_timestamp", "hubspot_owner_id"], "associations": ["contacts", "deals"]}
    raw = orjson.loads(api.get_page("calls", _preload_content=False, **kwargs).data)
    assert_lossless(api.get_page("calls", **kwargs), raw)


def test_default_and_requested_properties(client: HubSpot) -> None:
    """No `properties` gives the defaults; requested ones come back, missing as null, unknown left out."""
    default = client.crm.contacts.basic_api.get_page(limit=1).results[0].properties
    assert set(default) == {"firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"}
    props = (
        client.crm.contacts.basic_api.get_page(
            limit=1, properties=["jobtitle", "hs_lifecyclestage_customer_date", "no_such_prop"]
        )
        .results[0]
        .properties
    )
    assert "no_such_prop" not in props
    assert "hs_lifecyclestage_customer_date" in props


def test_inline_associations_page_at_100(client: HubSpot, shared: RunningSandbox) -> None:
    """An email on more than 250 contacts lists 100 inline, with a cursor for the rest."""
    emails, contacts = STANDARD["emails"], STANDARD["contacts"]
    ids = [r[0] for r in shared.portal.query("SELECT id FROM obj_emails")]
    mass = max(ids, key=lambda i: len(shared.portal.associated(emails, [i], contacts).get(i, [])))
    record = client.crm.objects.basic_api.get_by_id("emails", str(mass), associations=["contacts"])
    block = record.associations["contacts"]
    assert len(block.results) == 100
    assert block.paging.next.after


def test_get_missing_record_is_404(client: HubSpot) -> None:
    """A record that does not exist answers 404 OBJECT_NOT_FOUND."""
    with pytest.raises(ApiException) as err:
        client.crm.objects.basic_api.get_by_id("contacts", "999999999")
    assert err.value.status == 404
    assert orjson.loads(err.value.body)["category"] == "OBJECT_NOT_FOUND"


def test_get_by_email_id_property(client: HubSpot, shared: RunningSandbox) -> None:
    """idProperty=email finds a contact by its unique email."""
    first = next(c for c in shared.export("contacts") if not c["archived"])
    found = client.crm.contacts.basic_api.get_by_id(first["properties"]["email"], id_property="email")
    assert found.id == first["id"]


def test_batch_read_reports_missing_ids_in_a_207(client: HubSpot, shared: RunningSandbox) -> None:
    """Known ids are returned; unknown ids come back as one OBJECT_NOT_FOUND error."""
    known = [r.id for r in client.crm.objects.basic_api.get_page("deals", limit=3).results]
    body = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=i) for i in [*known, "1"]], properties=["dealstage"], properties_with_history=[]
    )
    result = client.crm.objects.batch_api.read("deals", body)
    assert sorted(r.id for r in result.results) == sorted(known)
    assert result.errors[0].category == "OBJECT_NOT_FOUND"
    assert result.errors[0].context == {"ids": ["1"]}


def test_batch_over_100_inputs_is_400(client: HubSpot) -> None:
    """More than 100 inputs in a batch are refused."""
    body = BatchReadInputSimplePublicObjectId(
        inputs=[SimplePublicObjectId(id=str(i)) for i in range(101)], properties=[], properties_with_history=[]
    )
    with pytest.raises(ApiException) as err:
        client.crm.objects.batch_api.read("contacts", body)
    assert err.value.status == 400


Start = Callable[..., AbstractContextManager[RunningSandbox]]


def test_update_bumps_modification_date_and_clears_with_empty_string(fresh: Start) -> None:
    """PATCH sets values, `""` clears one, and lastmodifieddate/updatedAt move to now."""
    with fresh() as sb:
        api = make_client(sb).crm.contacts.basic_api
        before = api.get_page(limit=1, properties=["jobtitle"]).results[0]
        api.update(before.id, SimplePublicObjectInput(properties={"jobtitle": "", "firstname": "Changed"}))
        after = api.get_by_id(before.id, properties=["jobtitle", "firstname", "lastmodifieddate"])
        assert after.properties["jobtitle"] is None
        assert after.properties["firstname"] == "Changed"
        assert after.updated_at > before.updated_at
        assert after.properties["lastmodifieddate"] == after.updated_at.isoformat(timespec="milliseconds")[:23] + "Z"


@pytest.mark.parametrize(
    ("prop", "value", "error"),
    [
        ("num_employees", "many", "INVALID_FLOAT"),
        ("lifecyclestage", "hot", "INVALID_OPTION"),
        ("no_such_property", "x", "PROPERTY_DOESNT_EXIST"),
        ("lastmodifieddate", "2026-01-01", "READ_ONLY_VALUE"),
    ],
)
def test_invalid_values_are_400(fresh: Start, prop: str, value: str, error: str) -> None:
    """Invalid property values are refused with VALIDATION_ERROR naming the problem."""
    with fresh(contacts=20, engagements=50) as sb:
        api = make_client(sb).crm.objects.basic_api
        contact = api.get_page("contacts", limit=1).results[0]
        with pytest.raises(ApiException) as err:
            api.update("contacts", contact.id, SimplePublicObjectInput(properties={prop: value}))
        body = orjson.loads(err.value.body)
        assert (err.value.status, body["category"]) == (400, "VALIDATION_ERROR")
        assert error in body["message"]


def test_batch_update_applies_good_inputs_and_reports_bad_ones(fresh: Start) -> None:
    """A batch with an unknown id and an invalid value updates the rest and answers 207."""
    with fresh(contacts=20, engagements=50) as sb:
        api = make_client(sb).crm.objects.batch_api
        ids = [r.id for r in make_client(sb).crm.contacts.basic_api.get_page(limit=3).results]
        inputs = [
            SimplePublicObjectBatchInput(id=ids[0], properties={"jobtitle": "CTO"}),
            SimplePublicObjectBatchInput(id="424242", properties={"jobtitle": "CTO"}),
            SimplePublicObjectBatchInput(id=ids[1], properties={"num_employees": "lots"}),
        ]
        result = api.update("contacts", BatchInputSimplePublicObjectBatchInput(inputs=inputs))
        assert [r.id for r in result.results] == [ids[0]]
        assert sorted(e.category for e in result.errors) == ["OBJECT_NOT_FOUND", "VALIDATION_ERROR"]
        assert all(c["properties"].get("num_employees") != "lots" for c in sb.export("contacts"))


def test_deal_stage_change_recomputes_closed_flags(fresh: Start) -> None:
    """Moving a deal to closedwon sets hs_is_closed(_won) and a closedate."""
    with fresh() as sb:
        api = make_client(sb).crm.deals.basic_api
        deal = next(
            d
            for d in api.get_page(limit=100, properties=["hs_is_closed", "pipeline"]).results
            if d.properties["hs_is_closed"] == "false" and d.properties["pipeline"] == "default"
        )
        api.update(deal.id, SimplePublicObjectInput(properties={"dealstage": "closedwon"}))
        props = api.get_by_id(deal.id, properties=["hs_is_closed", "hs_is_closed_won", "closedate"]).properties
        assert (props["hs_is_closed"], props["hs_is_closed_won"]) == ("true", "true")


def test_create_with_association(fresh: Start) -> None:
    """POST create returns 201 and the default association type links the new call to a contact."""
    with fresh(contacts=20, engagements=50) as sb:
        client = make_client(sb)
        contact = client.crm.contacts.basic_api.get_page(limit=1).results[0]
        body = {
            "properties": {"hs_timestamp": "2026-01-01T10:00:00.000Z", "hs_call_direction": "OUTBOUND"},
            "associations": [
                {
                    "to": {"id": contact.id},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}],
                }
            ],
        }
        created = client.crm.objects.basic_api.create("calls", body)
        linked = client.crm.objects.basic_api.get_by_id("calls", created.id, associations=["contacts"])
        assert [a.id for a in linked.associations["contacts"].results] == [contact.id]
