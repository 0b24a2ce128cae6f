"""Merges (POST .../merge on contacts and deals, and the operator's /_sandbox/merge): the survivor keeps its id,
lists the merged ids, moves its modification date, takes over the links; the merged-away record leaves lists
and search, and reading its id gives the survivor."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hubspot.crm.contacts import PublicMergeInput

from sandbox.harness import RunningSandbox, run_sandbox
from tests.sandbox.wire import assert_lossless, call, make_client, sdk_model


@pytest.fixture
def sb() -> Iterator[RunningSandbox]:
    """A fresh small lag-free sandbox (merges change it)."""
    with run_sandbox(seed=5, contacts=80, engagements=800, index_lag_ms=0) as running:
        yield running


ENGAGEMENTS = ("calls", "emails", "meetings", "notes", "tasks")


def linked(sb: RunningSandbox, object_type: str) -> list[dict[str, Any]]:
    """Live records of a type with at least one deal (or contact), from the export."""
    other = "deals" if object_type == "contacts" else "contacts"
    return [r for r in sb.export(object_type) if not r["archived"] and r["associations"][other]]


def engagements(sb: RunningSandbox, object_type: str, rid: str) -> set[tuple[str, int]]:
    """(type, id) of every engagement linked to a record, read through the v4 batch read."""
    out: set[tuple[str, int]] = set()
    for kind in ENGAGEMENTS:
        _, body = call(sb, f"/crm/v4/associations/{object_type}/{kind}/batch/read", {"inputs": [{"id": rid}]})
        out |= {(kind, link["toObjectId"]) for result in body["results"] for link in result["to"]}
    return out


def merge(sb: RunningSandbox, object_type: str, primary: str, merged: str, prefix: str = "/crm/v3/objects") -> Any:
    """POST {prefix}/{type}/merge; the status and body."""
    body = {"primaryObjectId": primary, "objectIdToMerge": merged}
    return call(sb, f"{prefix}/{object_type}/merge", body)


def test_sdk_merge_answers_the_survivor_with_its_id(sb: RunningSandbox) -> None:
    """The SDK's contacts merge answers 200 with the primary's id and the merged id in hs_merged_object_ids."""
    keep, gone = (c["id"] for c in sb.export("contacts")[:2])
    api = make_client(sb).crm.contacts.basic_api
    raw = api.merge(PublicMergeInput(primary_object_id=keep, object_id_to_merge=gone), _preload_content=False)
    body = orjson.loads(raw.data)
    assert (raw.status, body["id"], body["properties"]["hs_merged_object_ids"]) == (200, keep, gone)
    assert_lossless(sdk_model("hubspot.crm.contacts", "SimplePublicObject", body), body)


@pytest.mark.parametrize(
    ("object_type", "both", "gap"), [("contacts", "jobtitle", "city"), ("deals", "dealname", "amount")]
)
def test_dated_merge_keeps_the_primary_and_its_values(
    sb: RunningSandbox, object_type: str, both: str, gap: str
) -> None:
    """POST /crm/objects/2026-09/{type}/merge keeps the primary's id and values; it fills gaps from the other."""
    keep, gone = (r["id"] for r in sb.export(object_type)[:2])
    call(sb, f"/crm/v3/objects/{object_type}/{keep}", {"properties": {both: "kept", gap: ""}}, "PATCH")
    call(sb, f"/crm/v3/objects/{object_type}/{gone}", {"properties": {both: "gone", gap: "12"}}, "PATCH")
    status, body = merge(sb, object_type, keep, gone, "/crm/objects/2026-09")
    assert (status, body["id"]) == (200, keep)
    survivor = next(r for r in sb.export(object_type) if r["id"] == keep)
    assert (survivor["properties"][both], survivor["properties"][gap]) == ("kept", "12")


def test_merged_ids_accumulate_across_merges(sb: RunningSandbox) -> None:
    """Merging B then C into A lists "B;C"; merging A into D then lists A and everything merged into A."""
    a, b, c, d = (r["id"] for r in sb.export("contacts")[:4])
    merge(sb, "contacts", a, b)
    assert merge(sb, "contacts", a, c)[1]["properties"]["hs_merged_object_ids"] == f"{b};{c}"
    assert merge(sb, "contacts", d, a)[1]["properties"]["hs_merged_object_ids"] == f"{a};{b};{c}"
    assert call(sb, f"/crm/v3/objects/contacts/{b}")[1]["id"] == d


def test_survivor_is_modified_now_and_found_by_incremental_search(sb: RunningSandbox) -> None:
    """The survivor's modification date moves to the merge, so a search from just before finds it."""
    keep, gone = (c["id"] for c in sb.export("contacts")[:2])
    since = max(c["updatedAt"] for c in sb.export("contacts"))
    _, body = merge(sb, "contacts", keep, gone, "/crm/objects/2026-09")
    assert body["updatedAt"] > since
    flt = {"propertyName": "lastmodifieddate", "operator": "GT", "value": since}
    _, found = call(sb, "/crm/objects/2026-09/contacts/search", {"filterGroups": [{"filters": [flt]}]})
    assert [r["id"] for r in found["results"]] == [keep]


def test_merged_away_record_leaves_lists_search_and_export(sb: RunningSandbox) -> None:
    """The merged-away id is in no live or archived list, no search, and not in the ground-truth export."""
    keep, gone = (c["id"] for c in sb.export("contacts")[:2])
    merge(sb, "contacts", keep, gone)
    listed = [r["id"] for archived in ("false", "true") for r in _all(sb, f"archived={archived}")]
    flt = {"propertyName": "hs_object_id", "operator": "EQ", "value": gone}
    _, found = call(sb, "/crm/v3/objects/contacts/search", {"filterGroups": [{"filters": [flt]}]})
    assert gone not in listed
    assert found["total"] == 0
    assert gone not in {c["id"] for c in sb.export("contacts")}


def _all(sb: RunningSandbox, query: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    after = "0"
    while True:
        _, page = call(sb, f"/crm/v3/objects/contacts?limit=100&after={after}&{query}")
        out += page["results"]
        if "paging" not in page:
            return out
        after = page["paging"]["next"]["after"]


def test_reading_a_merged_away_id_gives_the_survivor(sb: RunningSandbox) -> None:
    """GET and batch read of the merged-away id answer the survivor (HubSpot: old ids resolve to the merge)."""
    keep, gone = (c["id"] for c in sb.export("contacts")[:2])
    merge(sb, "contacts", keep, gone)
    assert call(sb, f"/crm/objects/2026-09/contacts/{gone}")[1]["id"] == keep
    _, batch = call(sb, "/crm/v3/objects/contacts/batch/read", {"inputs": [{"id": gone}]})
    assert [r["id"] for r in batch["results"]] == [keep]


@pytest.mark.parametrize("object_type", ["contacts", "deals"])
def test_associations_move_to_the_survivor(sb: RunningSandbox, object_type: str) -> None:
    """The survivor ends with the links of both records: engagements and deals<->contacts."""
    keep, gone = linked(sb, object_type)[:2]
    before = engagements(sb, object_type, keep["id"]) | engagements(sb, object_type, gone["id"])
    assert before
    merge(sb, object_type, keep["id"], gone["id"])
    survivor = next(r for r in sb.export(object_type) if r["id"] == keep["id"])
    for other in survivor["associations"]:
        expected = set(keep["associations"][other]) | set(gone["associations"][other])
        assert set(survivor["associations"][other]) == expected
    assert engagements(sb, object_type, keep["id"]) == before
    assert engagements(sb, object_type, gone["id"]) == set()


def test_merged_ids_property_is_known_and_requestable(sb: RunningSandbox) -> None:
    """hs_merged_object_ids is a contact and deal property, returned when asked for in properties=."""
    for object_type in ("contacts", "deals"):
        assert call(sb, f"/crm/v3/properties/{object_type}/hs_merged_object_ids")[0] == 200
    keep, gone = (c["id"] for c in sb.export("contacts")[:2])
    merge(sb, "contacts", keep, gone)
    _, body = call(sb, f"/crm/v3/objects/contacts/{keep}?properties=hs_merged_object_ids")
    assert body["properties"]["hs_merged_object_ids"] == gone


@pytest.mark.parametrize(
    ("object_type", "pick", "status"),
    [("contacts", "same", 400), ("contacts", "missing", 404), ("calls", "pair", 400)],
)
def test_bad_merges_are_refused(sb: RunningSandbox, object_type: str, pick: str, status: int) -> None:
    """Merging a record with itself or a missing one, or merging engagements, is refused."""
    first, second = (r["id"] for r in sb.export(object_type)[:2])
    other = {"same": first, "missing": "999999999", "pair": second}[pick]
    assert merge(sb, object_type, first, other)[0] == status


def test_operator_merge_is_the_same_merge(sb: RunningSandbox) -> None:
    """The harness's merge() merges like the API: the survivor lists the merged id and the other is gone."""
    keep, gone = (c["id"] for c in sb.export("deals")[:2])
    survivor = sb.merge("deals", keep, gone)
    assert (survivor["id"], survivor["properties"]["hs_merged_object_ids"]) == (keep, gone)
    assert gone not in {d["id"] for d in sb.export("deals")}
