"""Date-versioned paths (hubspot-api.md §0.1): the same answers as the numbered paths, the known versions only,
no per-record association GET in 2026-09, the same limits, and calls counted per API family."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from sandbox.harness import RunningSandbox, run_sandbox
from tests.sandbox.wire import assert_lossless, call, make_client, sdk_model

Start = Callable[..., AbstractContextManager[RunningSandbox]]
NOTE_TO_CONTACT = 202
VOLATILE = ("startedAt", "completedAt")


@pytest.fixture(scope="module")
def sb() -> Iterator[RunningSandbox]:
    """One small lag-free sandbox, read-only, shared by this module."""
    with run_sandbox(seed=42, contacts=150, engagements=1_500, index_lag_ms=0) as running:
        yield running


@pytest.fixture(scope="module")
def ids(sb: RunningSandbox) -> dict[str, str]:
    """Ids the path table below refers to: a contact with deals, and a deal pipeline."""
    contact = next(c for c in sb.export("contacts") if c["associations"]["deals"] and not c["archived"])
    _, pipelines = call(sb, "/crm/v3/pipelines/deals")
    return {"contact": contact["id"], "pipeline": pipelines["results"][0]["id"]}


def stable(body: Any) -> Any:
    """A body without the timestamps that differ from one call to the next."""
    return {k: v for k, v in body.items() if k not in VOLATILE} if isinstance(body, dict) else body


OBJECTS, ASSOC, OWNERS = "hubspot.crm.objects", "hubspot.crm.associations.v4", "hubspot.crm.owners"
PIPELINES, PROPERTIES, SCHEMAS = "hubspot.crm.pipelines", "hubspot.crm.properties", "hubspot.crm.schemas"
PAIRS = [
    (
        "GET",
        "/crm/v3/objects/contacts?limit=5&properties=email&associations=deals",
        "/crm/objects/2026-09/contacts?limit=5&properties=email&associations=deals",
        None,
        OBJECTS,
        "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
    ),
    (
        "GET",
        "/crm/v3/objects/0-1/{contact}?associations=deals",
        "/crm/objects/2026-09/0-1/{contact}?associations=deals",
        None,
        OBJECTS,
        "SimplePublicObjectWithAssociations",
    ),
    (
        "POST",
        "/crm/v3/objects/contacts/batch/read",
        "/crm/objects/2026-09/contacts/batch/read",
        {"inputs": [{"id": "{contact}"}, {"id": "999999999"}], "properties": ["email"]},
        OBJECTS,
        "BatchResponseSimplePublicObjectWithErrors",
    ),
    (
        "POST",
        "/crm/v3/objects/calls/search",
        "/crm/objects/2026-09/calls/search",
        {"limit": 20, "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]},
        OBJECTS,
        "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
    ),
    (
        "POST",
        "/crm/v4/associations/contacts/deals/batch/read",
        "/crm/associations/2026-09/contacts/deals/batch/read",
        {"inputs": [{"id": "{contact}"}, {"id": "1"}]},
        ASSOC,
        "BatchResponsePublicAssociationMultiWithLabelWithErrors",
    ),
    (
        "GET",
        "/crm/v3/owners?limit=3",
        "/crm/owners/2026-09?limit=3",
        None,
        OWNERS,
        "CollectionResponsePublicOwnerForwardPaging",
    ),
    (
        "GET",
        "/crm/v3/pipelines/deals",
        "/crm/pipelines/2026-09/deals",
        None,
        PIPELINES,
        "CollectionResponsePipelineNoPaging",
    ),
    (
        "GET",
        "/crm/v3/pipelines/deals/{pipeline}/stages",
        "/crm/pipelines/2026-09/deals/{pipeline}/stages",
        None,
        PIPELINES,
        "CollectionResponsePipelineStageNoPaging",
    ),
    (
        "GET",
        "/crm/v3/properties/deals",
        "/crm/properties/2026-09/deals",
        None,
        PROPERTIES,
        "CollectionResponsePropertyNoPaging",
    ),
    (
        "GET",
        "/crm/v3/properties/contacts/groups",
        "/crm/properties/2026-09/contacts/groups",
        None,
        PROPERTIES,
        "CollectionResponsePropertyGroupNoPaging",
    ),
    (
        "POST",
        "/crm/v3/properties/contacts/batch/read",
        "/crm/properties/2026-09/contacts/batch/read",
        {"inputs": [{"name": "email"}, {"name": "lifecyclestage"}]},
        PROPERTIES,
        "BatchResponseProperty",
    ),
    (
        "GET",
        "/crm-object-schemas/v3/schemas",
        "/crm-object-schemas/2026-09/schemas",
        None,
        SCHEMAS,
        "CollectionResponseObjectSchemaNoPaging",
    ),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, list | tuple):
        return type(value)(_fill(v, ids) for v in value)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("pair", PAIRS, ids=[p[2].split("?")[0] for p in PAIRS])
def test_dated_path_answers_like_the_numbered_one(
    sb: RunningSandbox, ids: dict[str, str], pair: tuple[str, str, str, Any, str, str]
) -> None:
    """The 2026-09 path answers with the numbered path's status and body, and the SDK model reads it losslessly."""
    method, numbered, dated, body, package, model = _fill(pair, ids)
    old_status, old_body = call(sb, numbered, body, method)
    new_status, new_body = call(sb, dated, body, method)
    assert (new_status, stable(new_body)) == (old_status, stable(old_body))
    assert new_status in (200, 207)
    assert_lossless(sdk_model(package, model, new_body), new_body)


@pytest.mark.parametrize(
    "path",
    [
        "/crm/objects/2026-05/contacts",
        "/crm/objects/2099-09/contacts",
        "/crm/owners/2026-04",
        "/crm/properties/2024-09/contacts",
        "/crm/associations/2026-10/contacts/deals/batch/read",
    ],
)
def test_unknown_version_is_404(sb: RunningSandbox, path: str) -> None:
    """A version segment HubSpot does not serve answers 404 in the error envelope."""
    status, body = call(sb, path, {"inputs": []} if path.endswith("/read") else None)
    assert (status, body["status"], body["category"]) == (404, "error", "OBJECT_NOT_FOUND")
    assert body["correlationId"]


@pytest.mark.parametrize(("version", "expected"), [("2025-09", 200), ("2026-03", 200), ("2026-09", 404)])
def test_record_association_get_exists_until_2026_03(
    sb: RunningSandbox, ids: dict[str, str], version: str, expected: int
) -> None:
    """GET /crm/objects/{version}/contacts/{id}/associations/deals answers in 2025-09 and 2026-03, not in 2026-09."""
    status, body = call(sb, f"/crm/objects/{version}/contacts/{ids['contact']}/associations/deals")
    assert status == expected
    if expected == 200:
        _, v4 = call(sb, f"/crm/v4/objects/contacts/{ids['contact']}/associations/deals")
        assert body == v4


@pytest.mark.parametrize("groups", [6, 1])
def test_dated_search_keeps_the_filter_limits(sb: RunningSandbox, groups: int) -> None:
    """Six filter groups, or seven filters in one group, answer 400 VALIDATION_ERROR on the 2026-09 search."""
    flt = {"propertyName": "hs_object_id", "operator": "GT", "value": "0"}
    body = {"filterGroups": [{"filters": [flt] * (1 if groups == 6 else 7)}] * groups}
    status, error = call(sb, "/crm/objects/2026-09/contacts/search", body)
    assert (status, error["category"]) == (400, "VALIDATION_ERROR")


@pytest.mark.parametrize("body", [{"limit": 201}, {"after": "10000", "limit": 10}])
def test_dated_search_keeps_the_paging_limits(sb: RunningSandbox, body: dict[str, Any]) -> None:
    """Pages over 200 and offsets at the 10,000 cap answer 400 on the 2026-09 search."""
    assert call(sb, "/crm/objects/2026-09/contacts/search", body)[0] == 400


def test_dated_paths_need_the_token(sb: RunningSandbox) -> None:
    """A dated call without a valid token answers 401 INVALID_AUTHENTICATION."""
    anonymous = RunningSandbox(sb.app, sb.server)
    anonymous.token = "pat-na1-wrong"
    status, body = call(anonymous, "/crm/objects/2026-09/contacts")
    assert (status, body["category"]) == (401, "INVALID_AUTHENTICATION")


def test_dated_and_numbered_calls_share_the_daily_budget(fresh: Start) -> None:
    """Numbered and dated calls draw on one daily limit: the call after the budget is 429 DAILY on either."""
    with fresh(contacts=10, engagements=10, throttle=True, daily_limit=1_000) as sb:
        sb.settings(daily_used=998)
        assert call(sb, "/crm/v3/objects/contacts")[0] == 200
        assert call(sb, "/crm/objects/2026-09/contacts")[0] == 200
        status, body = call(sb, "/crm/objects/2026-09/contacts")
        assert (status, body["policyName"]) == (429, "DAILY")


def test_dated_search_has_the_search_rate_limit(fresh: Start) -> None:
    """The sixth search within a second answers 429 SECONDLY, whichever family the searches use."""
    with fresh(contacts=10, engagements=10, throttle=True) as sb:
        paths = ["/crm/v3/objects/contacts/search", "/crm/objects/2026-09/contacts/search"] * 3
        assert [call(sb, path, {})[0] for path in paths] == [200] * 5 + [429]


def test_faults_apply_to_dated_paths(fresh: Start) -> None:
    """An injected 5xx rate of 1 answers every dated call with a server error."""
    with fresh(contacts=10, engagements=10, rate_5xx=1.0) as sb:
        assert call(sb, "/crm/objects/2026-09/contacts")[0] in (500, 502, 503, 504)


def _notes_on_one_contact(sb: RunningSandbox, count: int) -> str:
    """Create `count` notes on one contact (more than an inline association page holds); return the contact id."""
    contact = call(sb, "/crm/v3/objects/contacts?limit=1")[1]["results"][0]["id"]
    link = [{"to": {"id": contact}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 202}]}]
    note = {"properties": {"hs_timestamp": "2026-01-01T00:00:00Z", "hs_note_body": "n"}, "associations": link}
    for start in range(0, count, 100):
        status, _ = call(sb, "/crm/v3/objects/notes/batch/create", {"inputs": [note] * min(100, count - start)})
        assert status == 201
    return str(contact)


def test_inline_associations_link_follows_the_request_family(fresh: Start) -> None:
    """Past 100 inline associations, `paging.next.link` points at v4, the 2026-03 record GET, or the 2026-09
    batch read, and each of them serves the rest."""
    with fresh(contacts=5, engagements=0) as sb:
        contact = _notes_on_one_contact(sb, 130)
        links = {}
        for prefix in ("/crm/v3/objects", "/crm/objects/2026-03", "/crm/objects/2026-09"):
            _, record = call(sb, f"{prefix}/contacts/{contact}?associations=notes")
            block = record["associations"]["notes"]
            assert len(block["results"]) == 100
            links[prefix] = (block["paging"]["next"]["link"], block["paging"]["next"]["after"])
        after = links["/crm/v3/objects"][1]
        assert links == {
            "/crm/v3/objects": (f"/crm/v4/objects/contacts/{contact}/associations/notes?after={after}", after),
            "/crm/objects/2026-03": (
                f"/crm/objects/2026-03/contacts/{contact}/associations/notes?after={after}",
                after,
            ),
            "/crm/objects/2026-09": ("/crm/associations/2026-09/contacts/notes/batch/read", after),
        }
        assert len(call(sb, links["/crm/objects/2026-03"][0])[1]["results"]) == 30
        _, rest = call(sb, links["/crm/objects/2026-09"][0], {"inputs": [{"id": contact, "after": after}]})
        assert len(rest["results"][0]["to"]) == 30


def test_calls_are_counted_per_family_and_version(sb: RunningSandbox) -> None:
    """Stats count numbered and dated calls apart, dated ones per version, and name each numbered call."""
    sb.reset_stats()
    make_client(sb).crm.objects.basic_api.get_page("contacts", limit=1)
    call(sb, "/crm/v4/associations/contacts/deals/batch/read", {"inputs": []})
    call(sb, "/crm-object-schemas/v3/schemas")
    for path in ("/crm/objects/2026-09/contacts", "/crm/owners/2026-09", "/crm/objects/2026-03/deals"):
        call(sb, path)
    call(sb, "/crm/objects/2099-09/contacts")
    call(sb, "/crm/v3/objects/contacts/no/such/path")
    stats = sb.stats()
    assert stats["by_family"] == {"numbered": 4, "dated": 4, "other": 0}
    assert stats["by_version"] == {"2026-09": 2, "2026-03": 1, "2099-09": 1}
    assert stats["numbered_routes"] == {
        "GET /crm/v3/objects/{type}": 1,
        "POST /crm/v4/associations/{fromType}/{toType}/batch/read": 1,
        "GET /crm-object-schemas/v3/schemas": 1,
        "GET /crm/v3/objects/contacts/no/such/path": 1,
    }
