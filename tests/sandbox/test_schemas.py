"""Custom objects: the schemas API and records of a custom type, and 403 when the portal has none."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson
import pytest
from hubspot import HubSpot
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.schemas.exceptions import ApiException as SchemasApiException

from sandbox.harness import RunningSandbox
from tests.sandbox.wire import assert_lossless, make_client

Start = Callable[..., AbstractContextManager[RunningSandbox]]
EGG: dict[str, Any] = {
    "name": "kpi_snapshot",
    "labels": {"singular": "KPI snapshot", "plural": "KPI snapshots"},
    "primaryDisplayProperty": "snapshot_key",
    "requiredProperties": ["snapshot_key"],
    "searchableProperties": ["snapshot_key"],
    "secondaryDisplayProperties": [],
    "associatedObjects": ["CONTACT"],
    "properties": [
        {"name": "snapshot_key", "label": "Key", "type": "string", "fieldType": "text", "hasUniqueValue": True},
        {"name": "reach_ratio", "label": "Reach ratio", "type": "number", "fieldType": "number"},
    ],
}


def _create(client: HubSpot) -> Any:
    return client.crm.schemas.core_api.create(EGG)


def test_create_schema_then_get_and_list(fresh: Start) -> None:
    """A created schema gets a 2-… type id and fully qualified name, and is listed and readable."""
    with fresh(contacts=10, engagements=10) as sb:
        client = make_client(sb)
        schema = _create(client)
        assert schema.object_type_id.startswith("2-")
        assert schema.fully_qualified_name.endswith("_kpi_snapshot")
        assert [s.name for s in client.crm.schemas.core_api.get_all().results] == ["kpi_snapshot"]
        raw = orjson.loads(client.crm.schemas.core_api.get_by_id(schema.object_type_id, _preload_content=False).data)
        assert_lossless(client.crm.schemas.core_api.get_by_id(schema.object_type_id), raw)


def test_duplicate_schema_is_409(fresh: Start) -> None:
    """Creating the same schema twice answers 409."""
    with fresh(contacts=10, engagements=10) as sb:
        client = make_client(sb)
        _create(client)
        with pytest.raises(SchemasApiException) as err:
            _create(client)
        assert err.value.status == 409


@pytest.mark.parametrize("address", ["type_id", "fqn", "name", "p_name"])
def test_custom_records_upsert_and_search(fresh: Start, address: str) -> None:
    """Upsert by a unique property creates then updates; records are searchable under every type alias."""
    with fresh(contacts=10, engagements=10) as sb:
        client = make_client(sb)
        schema = _create(client)
        path = {
            "type_id": schema.object_type_id,
            "fqn": schema.fully_qualified_name,
            "name": "kpi_snapshot",
            "p_name": "p_kpi_snapshot",
        }[address]
        batch = client.crm.objects.batch_api
        for ratio in ("0.31", "0.35"):
            body = BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id="owner-1:2026-10", id_property="snapshot_key", properties={"reach_ratio": ratio}
                    )
                ]
            )
            result = batch.upsert(path, body)
        assert result.results[0].new is False
        flt = Filter(property_name="snapshot_key", operator="EQ", value="owner-1:2026-10")
        found = client.crm.objects.search_api.do_search(
            path, PublicObjectSearchRequest(filter_groups=[FilterGroup(filters=[flt])], properties=["reach_ratio"])
        )
        assert [r.properties["reach_ratio"] for r in found.results] == ["0.35"]


def test_custom_objects_disabled_is_403(fresh: Start) -> None:
    """Without custom objects, the schemas API and custom object paths answer 403 MISSING_SCOPES."""
    with fresh(contacts=10, engagements=10, custom_objects=False) as sb:
        client = make_client(sb)
        with pytest.raises(SchemasApiException) as err:
            client.crm.schemas.core_api.get_all()
        assert (err.value.status, orjson.loads(err.value.body)["category"]) == (403, "MISSING_SCOPES")
        with pytest.raises(Exception) as record_err:  # noqa: PT011 - each SDK package has its own ApiException
            client.crm.objects.basic_api.get_page("2-2610001")
        assert getattr(record_err.value, "status", None) == 403
