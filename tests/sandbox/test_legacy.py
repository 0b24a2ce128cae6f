"""The legacy endpoints the peer connectors call (sandbox/legacy.py): shapes the peers parse, same data as v3."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sandbox import legacy
from sandbox.harness import RunningSandbox, run_sandbox
from tests.sandbox.wire import call

ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "notes", "tasks")


def ensure_legacy(sb: RunningSandbox) -> None:
    """Register the legacy routes unless the app already has them."""
    if not any(route.template == "/deals/v1/deal/paged" for route in sb.app.router.routes):
        legacy.register(sb.app.router)


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    """One small lag-free sandbox with the legacy routes, shared by the read-only tests."""
    with run_sandbox(seed=11, contacts=150, engagements=1_200, index_lag_ms=0) as running:
        ensure_legacy(running)
        yield running


def live(sb: RunningSandbox, object_type: str) -> dict[str, dict[str, Any]]:
    """The live records of a type from the ground-truth export, by id."""
    return {r["id"]: r for r in sb.export(object_type) if not r["archived"]}


def test_properties_v2_is_a_bare_array_of_the_v3_registry(sb: RunningSandbox) -> None:
    """GET /properties/v2/calls/properties lists the same names and types as /crm/v3/properties/calls."""
    _, v2 = call(sb, "/properties/v2/calls/properties")
    _, v3 = call(sb, "/crm/v3/properties/calls")
    assert isinstance(v2, list)
    assert {(p["name"], p["type"]) for p in v2} == {(p["name"], p["type"]) for p in v3["results"]}
    assert {"name", "type", "fieldType", "groupName", "options", "hubspotDefined"} <= set(v2[0])


@pytest.mark.parametrize("path", ["/properties/v2/company/properties", "/properties/v2/line_item/properties"])
def test_properties_of_unmodelled_types_list_the_baseline(sb: RunningSandbox, path: str) -> None:
    """Types every portal has but the sandbox does not model list hs_object_id, createdate, hs_lastmodifieddate."""
    status, body = call(sb, path)
    assert status == 200
    assert [p["name"] for p in body] == ["hs_object_id", "createdate", "hs_lastmodifieddate"]


def test_properties_of_an_unknown_type_is_404(sb: RunningSandbox) -> None:
    """A type no portal has is not found."""
    assert call(sb, "/properties/v1/spaceships/properties")[0] == 404


def page_deals(sb: RunningSandbox, query: str) -> list[dict[str, Any]]:
    """Every deal from /deals/v1/deal/paged, following hasMore/offset."""
    deals: list[dict[str, Any]] = []
    offset = 0
    while True:
        _, body = call(sb, f"/deals/v1/deal/paged?limit=7&offset={offset}&{query}")
        deals.extend(body["deals"])
        if not body["hasMore"]:
            return deals
        offset = body["offset"]


def test_deals_paged_returns_every_live_deal_once(sb: RunningSandbox) -> None:
    """Paging by offset covers exactly the live deals of the export."""
    deals = page_deals(sb, "includeAssociations=true")
    assert sorted(str(d["dealId"]) for d in deals) == sorted(live(sb, "deals"))


def test_deals_paged_associations_are_the_contact_ids(sb: RunningSandbox) -> None:
    """associatedVids holds the deal's contact ids as numbers."""
    truth = live(sb, "deals")
    for deal in page_deals(sb, "includeAssociations=true"):
        assert [str(v) for v in deal["associations"]["associatedVids"]] == truth[str(deal["dealId"])]["associations"][
            "contacts"
        ]


def test_deals_paged_all_properties_have_value_timestamp_and_versions(sb: RunningSandbox) -> None:
    """includeAllProperties gives {value, timestamp, source, versions}; datetimes are ms-epoch strings."""
    deal = page_deals(sb, "includeAllProperties=true&allPropertiesFetchMode=latest_version")[0]
    truth = live(sb, "deals")[str(deal["dealId"])]
    props = deal["properties"]
    assert props["dealname"]["value"] == truth["properties"]["dealname"]
    modified = props["hs_lastmodifieddate"]
    assert modified["value"] == str(modified["timestamp"])
    assert modified["versions"][0]["value"] == modified["value"]
    assert {"value", "timestamp", "source", "sourceId", "versions"} == set(props["dealname"])


def test_deals_paged_without_property_flags_has_no_properties(sb: RunningSandbox) -> None:
    """v1 sends no properties unless they are named or all are asked for."""
    _, body = call(sb, "/deals/v1/deal/paged?limit=3")
    assert all(d["properties"] == {} for d in body["deals"])
    _, named = call(sb, "/deals/v1/deal/paged?limit=3&properties=dealname")
    assert all(set(d["properties"]) <= {"dealname"} for d in named["deals"])


def all_live_engagements(sb: RunningSandbox) -> dict[str, dict[str, Any]]:
    """Every live engagement of every type from the export, by id."""
    return {rid: r for t in ENGAGEMENT_TYPES for rid, r in live(sb, t).items()}


def test_engagements_paged_covers_every_live_engagement_once(sb: RunningSandbox) -> None:
    """/engagements/v1/engagements/paged pages through all five types by id, each engagement once."""
    seen: list[int] = []
    offset = 0
    while True:
        _, body = call(sb, f"/engagements/v1/engagements/paged?limit=250&offset={offset}")
        seen.extend(r["engagement"]["id"] for r in body["results"])
        if not body["hasMore"]:
            break
        offset = body["offset"]
    assert seen == sorted(seen)
    assert sorted(map(str, seen)) == sorted(all_live_engagements(sb))


def test_engagement_associations_match_the_export(sb: RunningSandbox) -> None:
    """contactIds and dealIds are the engagement's associations as numbers."""
    truth = all_live_engagements(sb)
    _, body = call(sb, "/engagements/v1/engagements/paged?count=100")
    for item in body["results"]:
        expected = truth[str(item["engagement"]["id"])]["associations"]
        assert [str(i) for i in item["associations"]["contactIds"]] == expected["contacts"]
        assert [str(i) for i in item["associations"]["dealIds"]] == expected["deals"]
        assert item["associations"]["companyIds"] == []


@pytest.mark.parametrize(
    ("object_type", "types", "metadata_key", "prop"),
    [
        ("calls", {"CALL"}, "disposition", "hs_call_disposition"),
        ("emails", {"EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"}, "subject", "hs_email_subject"),
        ("meetings", {"MEETING"}, "title", "hs_meeting_title"),
        ("notes", {"NOTE"}, "body", "hs_note_body"),
        ("tasks", {"TASK"}, "status", "hs_task_status"),
    ],
)
def test_engagement_type_and_metadata(
    sb: RunningSandbox, object_type: str, types: set[str], metadata_key: str, prop: str
) -> None:
    """Each v1 engagement carries its legacy type and the type's metadata from the v3 properties."""
    record = next(iter(live(sb, object_type).values()))
    _, item = call(sb, f"/engagements/v1/engagements/{record['id']}")
    assert item["engagement"]["type"] in types
    assert item["metadata"][metadata_key] == record["properties"][prop]
    assert item["engagement"]["lastUpdated"] > 0
    assert item["engagement"]["ownerId"] is None or isinstance(item["engagement"]["ownerId"], int)


def test_engagement_by_unknown_id_is_404(sb: RunningSandbox) -> None:
    """An id no engagement has is not found."""
    assert call(sb, "/engagements/v1/engagements/999999999")[0] == 404


def modified_after(sb: RunningSandbox, after: str) -> tuple[list[dict[str, Any]], str]:
    """Follow /modified/after from `after` to the end; return the results and the last cursor."""
    results: list[dict[str, Any]] = []
    while True:
        _, body = call(sb, f"/engagements/v1/engagements/modified/after?limit=190&after={after}")
        results.extend(body["results"])
        after = body["after"]
        if not body["hasMore"]:
            return results, after


def test_modified_after_reads_everything_in_modification_order(sb: RunningSandbox) -> None:
    """From timestamp 0 the cursor walks every live engagement once, ascending by lastUpdated then id."""
    results, _ = modified_after(sb, "0")
    keys = [(r["engagement"]["lastUpdated"], r["engagement"]["id"]) for r in results]
    assert keys == sorted(keys)
    assert sorted(str(k[1]) for k in keys) == sorted(all_live_engagements(sb))


def test_modified_after_cursor_returns_only_later_changes() -> None:
    """The final cursor of a full read yields exactly the engagements changed afterwards."""
    with run_sandbox(seed=5, contacts=100, engagements=600, index_lag_ms=0) as fresh:
        ensure_legacy(fresh)
        _, cursor = modified_after(fresh, "0")
        changed = fresh.simulate(minutes=30, seed=2)
        later, _ = modified_after(fresh, cursor)
        touched = {
            i for section in ("created", "updated") for t in ENGAGEMENT_TYPES for i in changed[section].get(t, [])
        }
        archived = {i for t in ENGAGEMENT_TYPES for i in changed["archived"].get(t, [])}
        assert {str(r["engagement"]["id"]) for r in later} == touched - archived


def test_recent_modified_is_newest_first_with_a_total(sb: RunningSandbox) -> None:
    """recent/modified caps count at 100 and returns newest first, with total and offset."""
    _, body = call(sb, "/engagements/v1/engagements/recent/modified?count=500&since=0")
    stamps = [r["engagement"]["lastUpdated"] for r in body["results"]]
    assert len(stamps) == min(100, body["total"])
    assert stamps == sorted(stamps, reverse=True)
    assert body["offset"] == len(stamps)


def test_archived_engagements_are_left_out() -> None:
    """An engagement archived through v3 disappears from the legacy reads."""
    with run_sandbox(seed=6, contacts=60, engagements=300, index_lag_ms=0) as fresh:
        ensure_legacy(fresh)
        call_id = next(iter(live(fresh, "calls")))
        assert call(fresh, f"/crm/v3/objects/calls/{call_id}", method="DELETE")[0] == 204
        results, _ = modified_after(fresh, "0")
        assert call_id not in {str(r["engagement"]["id"]) for r in results}
        assert call(fresh, f"/engagements/v1/engagements/{call_id}")[0] == 404


def test_v4_read_to_an_unmodelled_type_is_207_no_associations(sb: RunningSandbox) -> None:
    """Reading contact -> companies answers 207 with NO_ASSOCIATIONS_FOUND for each input."""
    ids = list(live(sb, "contacts"))[:3]
    status, body = call(sb, "/crm/v4/associations/contact/companies/batch/read", {"inputs": [{"id": i} for i in ids]})
    assert status == 207
    assert body["results"] == []
    assert [e["subCategory"] for e in body["errors"]] == ["crm.associations.NO_ASSOCIATIONS_FOUND"] * 3
    assert body["errors"][0]["context"]["toObjectType"] == ["company"]


def test_v4_read_to_a_modelled_type_is_still_served_by_v4(sb: RunningSandbox) -> None:
    """The unmodelled-type route does not capture reads between types the sandbox has."""
    deal = next(d for d in live(sb, "deals").values() if d["associations"]["contacts"])
    status, body = call(sb, "/crm/v4/associations/deals/contacts/batch/read", {"inputs": [{"id": deal["id"]}]})
    assert status == 200
    assert [str(t["toObjectId"]) for t in body["results"][0]["to"]] == deal["associations"]["contacts"]


def test_search_accepts_top_level_filters_as_one_and_group(sb: RunningSandbox) -> None:
    """A search body with top-level `filters` (Airbyte's form) is answered like one filter group."""
    deal = next(iter(live(sb, "deals").values()))
    top = [
        {"propertyName": "hs_object_id", "operator": "GTE", "value": deal["id"]},
        {"propertyName": "hs_object_id", "operator": "LTE", "value": deal["id"]},
    ]
    _, flat = call(sb, "/crm/v3/objects/deals/search", {"filters": top, "limit": 10})
    _, grouped = call(sb, "/crm/v3/objects/deals/search", {"filterGroups": [{"filters": top}], "limit": 10})
    assert [r["id"] for r in flat["results"]] == [r["id"] for r in grouped["results"]] == [deal["id"]]
