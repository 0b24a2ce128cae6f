"""Owners, pipelines, dispositions and the properties API through hubspot-api-client 12."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson
import pytest
from hubspot import HubSpot
from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest, SimplePublicObjectInput
from hubspot.crm.properties import (
    BatchInputPropertyCreate,
    BatchReadInputPropertyName,
    PropertyCreate,
    PropertyGroupCreate,
    PropertyName,
)
from hubspot.crm.properties.exceptions import ApiException as PropertiesApiException

from sandbox.constants import DISPOSITION_CONNECTED
from sandbox.harness import RunningSandbox
from tests.sandbox.wire import assert_lossless, make_client

Start = Callable[..., AbstractContextManager[RunningSandbox]]


def test_owners_have_teams_and_archived_owner_is_separate(client: HubSpot) -> None:
    """Active owners carry teams; the deactivated one appears only with archived=true, userId null."""
    active = client.crm.owners.owners_api.get_page(limit=100).results
    archived = client.crm.owners.owners_api.get_page(archived=True).results
    assert len(active) == 9
    assert {t.name for o in active for t in o.teams} == {"Inside Sales", "Field Sales", "SDR Team"}
    assert [(o.user_id, o.user_id_including_inactive is not None) for o in archived] == [(None, True)]


def test_owners_deserialise_without_loss(shared: RunningSandbox) -> None:
    """Every JSON key of the owners page exists in the SDK model."""
    api = make_client(shared).crm.owners.owners_api
    assert_lossless(api.get_page(), orjson.loads(api.get_page(_preload_content=False).data))


def test_deal_pipelines_carry_stage_metadata_as_strings(client: HubSpot) -> None:
    """The default pipeline's closed stages say isClosed "true" with probability "1.0"/"0.0"."""
    pipelines = client.crm.pipelines.pipelines_api.get_all("deals").results
    default = next(p for p in pipelines if p.id == "default")
    meta = {s.id: s.metadata for s in default.stages}
    assert meta["closedwon"] == {"isClosed": "true", "probability": "1.0"}
    assert meta["closedlost"] == {"isClosed": "true", "probability": "0.0"}
    assert any(s.id.isdigit() for p in pipelines for s in p.stages)


def test_dispositions_are_a_bare_array(shared: RunningSandbox) -> None:
    """GET /calling/v1/dispositions returns [{id, label}] including Connected."""
    client = HubSpot(access_token=shared.token, host=shared.base_url, base_url=shared.base_url)
    response = client.api_request({"method": "GET", "path": "/calling/v1/dispositions"})
    body = response.json()
    assert {"id": DISPOSITION_CONNECTED, "label": "Connected"} in body
    response.close()


def test_properties_list_and_get(client: HubSpot) -> None:
    """The contact properties include lifecyclestage with its options."""
    names = {p.name for p in client.crm.properties.core_api.get_all("contacts").results}
    assert {"lifecyclestage", "hs_buying_role", "hubspot_owner_id"} <= names
    stage = client.crm.properties.core_api.get_by_name("contacts", "lifecyclestage")
    assert "customer" in {o.value for o in stage.options}


def _create_property(client: HubSpot, **fields: Any) -> Any:
    body = {
        "name": "kpi_sales_touches",
        "label": "Sales touches",
        "type": "number",
        "fieldType": "number",
        "groupName": "sales_kpis",
        **fields,
    }
    return client.crm.properties.core_api.create("contacts", PropertyCreate(**_snake(body)))


def _snake(body: dict[str, Any]) -> dict[str, Any]:
    names = {"fieldType": "field_type", "groupName": "group_name"}
    return {names.get(k, k): v for k, v in body.items()}


def test_group_and_property_create_then_409(fresh: Start) -> None:
    """Creating a group and a property answers 201; creating them again answers 409."""
    with fresh(contacts=20, engagements=50) as sb:
        client = make_client(sb)
        group = PropertyGroupCreate(name="sales_kpis", label="Sales KPIs", display_order=-1)
        assert client.crm.properties.groups_api.create("contacts", group).name == "sales_kpis"
        assert _create_property(client).name == "kpi_sales_touches"
        creates: tuple[Callable[[], object], ...] = (
            lambda: client.crm.properties.groups_api.create("contacts", group),
            lambda: _create_property(client),
        )
        for create in creates:
            with pytest.raises(PropertiesApiException) as err:
                create()
            assert err.value.status == 409


def test_properties_batch_create_reports_refused_inputs_in_a_207(fresh: Start) -> None:
    """Properties batch/create creates the valid inputs and names the one whose name exists in a 207 error."""
    with fresh(contacts=10, engagements=10) as sb:
        client = make_client(sb)
        fields = {"label": "KPI", "type": "number", "fieldType": "number", "groupName": "information"}
        inputs = [PropertyCreate(name=n, **_snake(fields)) for n in ("kpi_a", "email", "kpi_b")]
        answer = client.crm.properties.batch_api.create("contacts", BatchInputPropertyCreate(inputs=inputs))
        assert sorted(p.name for p in answer.results) == ["kpi_a", "kpi_b"]
        assert [(e.category, e.context) for e in answer.errors] == [("OBJECT_ALREADY_EXISTS", {"name": ["email"]})]
        read = client.crm.properties.batch_api.read(
            "contacts", BatchReadInputPropertyName(archived=False, inputs=[PropertyName(name="kpi_b")])
        )
        assert [p.name for p in read.results] == ["kpi_b"]


@pytest.mark.parametrize(
    ("kind", "field_type", "ok"),
    [
        ("number", "number", True),
        ("datetime", "date", True),
        ("bool", "booleancheckbox", True),
        ("string", "number", False),
        ("number", "text", False),
        ("enumeration", "select", False),
        ("money", "number", False),
    ],
)
def test_type_and_field_type_are_validated(fresh: Start, kind: str, field_type: str, ok: bool) -> None:
    """Only HubSpot's valid type/fieldType pairs are accepted (enumerations need options)."""
    with fresh(contacts=10, engagements=10) as sb:
        client = make_client(sb)
        client.crm.properties.groups_api.create("contacts", PropertyGroupCreate(name="sales_kpis", label="KPIs"))
        try:
            _create_property(client, type=kind, fieldType=field_type)
            status = 201
        except PropertiesApiException as err:
            status = err.status
        assert status == (201 if ok else 400)


def test_created_property_is_writable_and_searchable(fresh: Start) -> None:
    """A new number property can be written on contacts and filtered in search."""
    with fresh(contacts=20, engagements=50) as sb:
        client = make_client(sb)
        client.crm.properties.groups_api.create("contacts", PropertyGroupCreate(name="sales_kpis", label="KPIs"))
        _create_property(client)
        contact = client.crm.objects.basic_api.get_page("contacts", limit=1).results[0]
        client.crm.objects.basic_api.update(
            "contacts", contact.id, SimplePublicObjectInput(properties={"kpi_sales_touches": "7"})
        )
        flt = Filter(property_name="kpi_sales_touches", operator="GTE", value="5")
        page = client.crm.objects.search_api.do_search(
            "contacts",
            PublicObjectSearchRequest(filter_groups=[FilterGroup(filters=[flt])], properties=["kpi_sales_touches"]),
        )
        assert [(r.id, r.properties["kpi_sales_touches"]) for r in page.results] == [(contact.id, "7")]
