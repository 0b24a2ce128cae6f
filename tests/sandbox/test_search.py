"""Search through hubspot-api-client 12: filters, sorting, paging, HubSpot's limits, archived records, index lag."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson
import pytest
from hubspot import HubSpot
from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest, SimplePublicObjectInput
from hubspot.crm.objects.exceptions import ApiException

from sandbox.clock import parse_time
from sandbox.harness import RunningSandbox
from tests.sandbox.wire import assert_lossless, make_client

Start = Callable[..., AbstractContextManager[RunningSandbox]]


def _search(client: HubSpot, object_type: str, **body: Any) -> Any:
    return client.crm.objects.search_api.do_search(object_type, PublicObjectSearchRequest(**body))


def _status(client: HubSpot, object_type: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    try:
        client.crm.objects.search_api.do_search(object_type, body)
    except ApiException as err:
        return err.status, orjson.loads(err.body)
    return 200, {}


def _window(shared: RunningSandbox) -> tuple[int, int, set[str]]:
    calls = [c for c in shared.export("calls") if not c["archived"]]
    stamps = sorted(parse_time(c["updatedAt"]) or 0 for c in calls)
    low, high = stamps[len(stamps) // 4], stamps[len(stamps) // 2]
    expected = {c["id"] for c in calls if low <= (parse_time(c["updatedAt"]) or 0) <= high}
    return low, high, expected


def test_between_on_modified_date_pages_to_the_ground_truth(client: HubSpot, shared: RunningSandbox) -> None:
    """Paging a BETWEEN window sorted by hs_lastmodifieddate returns exactly the live calls in it."""
    low, high, expected = _window(shared)
    flt = Filter(property_name="hs_lastmodifieddate", operator="BETWEEN", value=str(low), high_value=str(high))
    seen: list[str] = []
    after: str | None = None
    while True:
        page = _search(
            client,
            "calls",
            filter_groups=[FilterGroup(filters=[flt])],
            limit=200,
            after=after,
            sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        )
        seen += [r.id for r in page.results]
        assert page.total == len(expected)
        if page.paging is None:
            break
        after = page.paging.next.after
    assert sorted(seen) == sorted(expected)


def test_search_response_deserialises_without_loss(shared: RunningSandbox) -> None:
    """Every JSON key of a search page exists in the SDK model."""
    api = make_client(shared).crm.objects.search_api
    body = PublicObjectSearchRequest(limit=50, properties=["hs_call_disposition", "hs_timestamp"])
    raw = orjson.loads(api.do_search("calls", body, _preload_content=False).data)
    assert_lossless(api.do_search("calls", body), raw)


def test_default_search_properties(client: HubSpot) -> None:
    """Without `properties`, calls return hs_createdate, hs_lastmodifieddate and hs_object_id."""
    result = _search(client, "calls", limit=1)
    assert set(result.results[0].properties) == {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"}


def test_sort_descending_and_in_operator(client: HubSpot) -> None:
    """IN on an enumeration and a descending sort on hs_timestamp work together."""
    flt = Filter(property_name="hs_email_direction", operator="IN", values=["INCOMING_EMAIL", "FORWARDED_EMAIL"])
    page = _search(
        client,
        "emails",
        filter_groups=[FilterGroup(filters=[flt])],
        limit=100,
        properties=["hs_email_direction", "hs_timestamp"],
        sorts=[{"propertyName": "hs_timestamp", "direction": "DESCENDING"}],
    )
    assert {r.properties["hs_email_direction"] for r in page.results} == {"INCOMING_EMAIL", "FORWARDED_EMAIL"}
    stamps = [r.properties["hs_timestamp"] for r in page.results]
    assert stamps == sorted(stamps, reverse=True)


def test_has_property_and_multi_select_eq(client: HubSpot, shared: RunningSandbox) -> None:
    """EQ on a multi-select matches contacts holding that value among others."""
    flt = Filter(property_name="hs_buying_role", operator="EQ", value="DECISION_MAKER")
    page = _search(
        client, "contacts", filter_groups=[FilterGroup(filters=[flt])], limit=200, properties=["hs_buying_role"]
    )
    expected = [
        c
        for c in shared.export("contacts")
        if not c["archived"] and "DECISION_MAKER" in (c["properties"].get("hs_buying_role") or "").split(";")
    ]
    assert page.total == len(expected) > 0


def test_association_pseudo_filter(client: HubSpot, shared: RunningSandbox) -> None:
    """associations.contact EQ id finds the calls linked to that contact."""
    call = next(c for c in shared.export("calls") if c["associations"]["contacts"] and not c["archived"])
    contact = call["associations"]["contacts"][0]
    flt = Filter(property_name="associations.contact", operator="EQ", value=contact)
    page = _search(client, "calls", filter_groups=[FilterGroup(filters=[flt])], limit=200)
    assert call["id"] in {r.id for r in page.results}


def test_archived_records_never_appear(client: HubSpot, shared: RunningSandbox) -> None:
    """Search totals count live records only."""
    live = sum(not c["archived"] for c in shared.export("contacts"))
    assert _search(client, "contacts", limit=1).total == live


@pytest.mark.parametrize(("groups", "filters_per_group"), [(6, 1), (1, 7), (4, 5)])
def test_too_many_filters_is_400(client: HubSpot, groups: int, filters_per_group: int) -> None:
    """More than 5 groups, 6 filters in a group or 18 filters in total answer 400 VALIDATION_ERROR."""
    flt = {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}
    body = {"filterGroups": [{"filters": [flt] * filters_per_group}] * groups}
    status, error = _status(client, "contacts", body)
    assert (status, error["category"]) == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize(
    "body",
    [
        {"limit": 201},
        {"after": "10000", "limit": 10},
        {"sorts": [{"propertyName": "createdate"}, {"propertyName": "hs_object_id"}]},
        {"filterGroups": [{"filters": [{"propertyName": "no_such_prop", "operator": "EQ", "value": "x"}]}]},
        {"filterGroups": [{"filters": [{"propertyName": "email", "operator": "LIKE", "value": "x"}]}]},
        {"query": "x" * 3_100},
    ],
)
def test_invalid_search_requests_are_400(client: HubSpot, body: dict[str, Any]) -> None:
    """Page size, the 10,000 cap, two sorts, unknown properties/operators and long bodies are refused."""
    assert _status(client, "contacts", body)[0] == 400


def test_paging_stops_at_the_10000_cap(fresh: Start) -> None:
    """Results past 10,000 are not served: the request for offset 10,000 answers 400."""
    with fresh(contacts=20, engagements=50) as sb:
        sb.bulk_import("notes", 10_100)
        client = make_client(sb)
        page = _search(client, "notes", limit=200, after="9800")
        assert page.total > 10_000
        assert page.paging.next.after == "10000"
        assert _status(client, "notes", {"after": "10000"})[0] == 400


def test_changes_are_searchable_only_after_the_index_lag(fresh: Start) -> None:
    """An update is invisible to search during the lag (old state served), visible after it."""
    with fresh(contacts=20, engagements=50, index_lag_ms=400) as sb:
        client = make_client(sb)
        contact = client.crm.objects.basic_api.get_page("contacts", limit=1).results[0]
        client.crm.objects.basic_api.update(
            "contacts", contact.id, SimplePublicObjectInput(properties={"jobtitle": "Chief Lag Officer"})
        )
        flt = Filter(property_name="jobtitle", operator="EQ", value="Chief Lag Officer")
        assert _search(client, "contacts", filter_groups=[FilterGroup(filters=[flt])]).total == 0
        time.sleep(0.5)
        assert _search(client, "contacts", filter_groups=[FilterGroup(filters=[flt])]).total == 1


def test_new_records_appear_after_the_lag(fresh: Start) -> None:
    """A created record is absent from search during the lag but listed at once."""
    with fresh(contacts=20, engagements=50, index_lag_ms=400) as sb:
        client = make_client(sb)
        before = _search(client, "notes", limit=1).total
        client.crm.objects.basic_api.create("notes", {"properties": {"hs_timestamp": "1700000000000"}})
        assert _search(client, "notes", limit=1).total == before
        time.sleep(0.5)
        assert _search(client, "notes", limit=1).total == before + 1


def test_writes_set_modified_date_to_now(fresh: Start) -> None:
    """A write's hs_lastmodifieddate is the wall clock at the write, never in the future."""
    with fresh(contacts=20, engagements=50) as sb:
        client = make_client(sb)
        call = client.crm.objects.basic_api.get_page("calls", limit=1).results[0]
        started = int(time.time() * 1000)
        client.crm.objects.basic_api.update(
            "calls", call.id, SimplePublicObjectInput(properties={"hs_call_title": "Updated"})
        )
        ended = int(time.time() * 1000)
        flt = Filter(property_name="hs_lastmodifieddate", operator="GTE", value=str(started))
        page = _search(client, "calls", filter_groups=[FilterGroup(filters=[flt])])
        assert [r.id for r in page.results] == [call.id]
        assert started <= (parse_time(page.results[0].properties["hs_lastmodifieddate"]) or 0) <= ended
