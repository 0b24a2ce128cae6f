"""Transport behaviour: authentication, rate limits and their headers, injected faults, exact request stats."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import orjson
import pytest
import urllib3
from hubspot.crm.objects import BatchInputSimplePublicObjectBatchInput, SimplePublicObjectBatchInput
from hubspot.crm.objects.exceptions import ApiException

from sandbox.constants import READ_SCOPES
from sandbox.errors import AUTH_MESSAGE
from sandbox.harness import RunningSandbox
from tests.sandbox.wire import make_client

Start = Callable[..., AbstractContextManager[RunningSandbox]]


def _get(sb: RunningSandbox, path: str, token: str | None = None, retries: bool = False) -> Any:
    with urllib3.PoolManager(retries=retries) as http:
        headers = {"Authorization": f"Bearer {token or sb.token}"}
        return http.request("GET", sb.base_url + path, headers=headers)


def _post(sb: RunningSandbox, path: str, body: Any) -> Any:
    with urllib3.PoolManager(retries=False) as http:
        return http.request(
            "POST",
            sb.base_url + path,
            body=orjson.dumps(body),
            headers={"Authorization": f"Bearer {sb.token}", "Content-Type": "application/json"},
        )


def test_bad_token_is_401_with_hubspot_body(shared: RunningSandbox) -> None:
    """A wrong bearer token answers 401 INVALID_AUTHENTICATION with HubSpot's message."""
    with pytest.raises(ApiException) as err:
        make_client(shared, token="pat-na1-wrong").crm.objects.basic_api.get_page("contacts")
    body = orjson.loads(err.value.body)
    assert (err.value.status, body["category"], body["message"]) == (401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)
    assert body["correlationId"]


def test_missing_header_is_401(shared: RunningSandbox) -> None:
    """No Authorization header answers 401."""
    with urllib3.PoolManager() as http:
        assert http.request("GET", shared.base_url + "/crm/v3/objects/contacts").status == 401


def test_token_without_scopes_is_403(fresh: Start) -> None:
    """A token configured without scopes answers 403 MISSING_SCOPES naming the scope."""
    with fresh(contacts=10, engagements=10, limited_token="pat-na1-limited") as sb:
        response = _get(sb, "/crm/v3/objects/deals", token="pat-na1-limited")
        body = orjson.loads(response.data)
        assert (response.status, body["category"]) == (403, "MISSING_SCOPES")
        assert body["errors"][0]["context"]["requiredGranularScopes"] == ["crm.objects.deals.read"]


@pytest.mark.parametrize(
    ("path", "scope"),
    [
        ("/crm/objects/2026-09/contacts?limit=1", "crm.objects.contacts.read"),
        ("/crm/objects/2026-09/calls?limit=1", "crm.objects.contacts.read"),  # engagements ride on contacts
        ("/crm/objects/2026-09/emails?limit=1", "sales-email-read"),  # ...and emails need their own scope too
        ("/crm/objects/2026-09/deals?limit=1", "crm.objects.deals.read"),
        ("/crm/pipelines/2026-09/deals", "crm.objects.deals.read"),
        ("/crm/owners/2026-09?limit=1", "crm.objects.owners.read"),
        ("/crm/properties/2026-09/contacts/groups", "crm.schemas.contacts.read"),
        ("/crm-object-schemas/2026-09/schemas", "crm.schemas.custom.read"),
    ],
)
def test_a_scope_not_granted_answers_403_naming_it(fresh: Start, path: str, scope: str) -> None:
    """With `granted_scopes` set, a call needing a scope not in it answers 403 MISSING_SCOPES naming that scope."""
    with fresh(contacts=10, engagements=10, granted_scopes=[s for s in READ_SCOPES if s != scope]) as sb:
        response = _get(sb, path)
        body = orjson.loads(response.data)
        assert (response.status, body["category"]) == (403, "MISSING_SCOPES")
        assert body["errors"][0]["context"]["requiredGranularScopes"] == [scope]
        sb.settings(granted_scopes=list(READ_SCOPES))
        assert _get(sb, path).status == 200


def test_granted_scopes_default_to_every_scope(shared: RunningSandbox) -> None:
    """Without `granted_scopes` (null) the token may call everything, as before."""
    assert shared.settings()["granted_scopes"] is None
    assert _get(shared, "/crm/objects/2026-09/emails?limit=1").status == 200


def test_rate_limit_headers_on_lists_not_on_search(shared: RunningSandbox) -> None:
    """List answers carry X-HubSpot-RateLimit-*; search answers carry none."""
    listed = _get(shared, "/crm/v3/objects/contacts")
    searched = _post(shared, "/crm/v3/objects/contacts/search", {})
    names = ("Daily", "Daily-Remaining", "Interval-Milliseconds", "Max", "Remaining")
    assert all(f"X-HubSpot-RateLimit-{n}" in listed.headers for n in names)
    assert not any(h.lower().startswith("x-hubspot-ratelimit") for h in searched.headers)


def test_burst_limit_gives_ten_secondly_429(fresh: Start) -> None:
    """Over the tier's 10 s budget, calls answer 429 TEN_SECONDLY_ROLLING with Remaining 0 and Retry-After."""
    with fresh(contacts=10, engagements=10, throttle=True, tier="free", time_scale=0.5, retry_after=True) as sb:
        statuses = [_get(sb, "/crm/v3/objects/contacts?limit=1") for _ in range(101)]
        last = statuses[-1]
        body = orjson.loads(last.data)
        assert [r.status for r in statuses[:100]] == [200] * 100
        assert (last.status, body["errorType"], body["policyName"]) == (429, "RATE_LIMIT", "TEN_SECONDLY_ROLLING")
        assert last.headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert last.headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "5000"
        assert int(last.headers["Retry-After"]) >= 1


def test_daily_limit_gives_daily_429(fresh: Start) -> None:
    """With the day's budget spent, calls answer 429 DAILY."""
    with fresh(contacts=10, engagements=10, throttle=True, daily_limit=1_000) as sb:
        sb.settings(daily_used=1_000)
        response = _get(sb, "/crm/v3/objects/contacts")
        assert (response.status, orjson.loads(response.data)["policyName"]) == (429, "DAILY")
        assert "daily_resets_at" in sb.settings()


def test_search_over_5_per_second_is_secondly_429(fresh: Start) -> None:
    """The sixth search within a second answers 429 SECONDLY without rate-limit headers."""
    with fresh(contacts=10, engagements=10, throttle=True) as sb:
        answers = [_post(sb, "/crm/v3/objects/contacts/search", {}) for _ in range(6)]
        assert [a.status for a in answers] == [200] * 5 + [429]
        assert orjson.loads(answers[-1].data)["policyName"] == "SECONDLY"


def test_stats_count_every_api_request_exactly(fresh: Start) -> None:
    """Stats count each API call by route template, status and object; operator calls are not counted."""
    with fresh(contacts=10, engagements=10) as sb:
        sb.reset_stats()
        _get(sb, "/crm/v3/objects/contacts")
        _get(sb, "/crm/v3/objects/calls/1")
        _get(sb, "/crm/v3/objects/calls", token="bad")
        sb.settings()
        stats = sb.stats()
        assert stats["total"] == 3
        assert stats["by_route"]["GET /crm/v3/objects/{type}"] == {"200": 1, "401": 1}
        assert stats["by_route"]["GET /crm/v3/objects/{type}/{id}"] == {"404": 1}
        assert stats["by_object"] == {"contacts": 1, "calls": 2}


@pytest.mark.parametrize(
    ("fault", "expect"),
    [
        ({"rate_429": 1.0, "retry_after": True}, 429),
        ({"rate_5xx": 1.0}, "5xx"),
        ({"rate_malformed": 1.0}, "malformed"),
        ({"rate_drop": 1.0}, "drop"),
    ],
)
def test_injected_faults(fresh: Start, fault: dict[str, Any], expect: Any) -> None:
    """Each fault type shows up as configured and is counted; operator routes stay unaffected."""
    with fresh(contacts=10, engagements=10) as sb:
        sb.set_faults(seed=1, **fault)
        try:
            response = _get(sb, "/crm/v3/objects/contacts")
        except urllib3.exceptions.ProtocolError:
            response = None
        if expect == 429:
            assert response is not None
            assert response.status == 429
            assert response.headers["Retry-After"] == "1"
        elif expect == "5xx":
            assert response is not None
            assert response.status in (500, 502, 503, 504)
        elif expect == "malformed":
            assert response is not None
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(response.data)
        else:
            assert response is None
        counted = {"429": "429", "5xx": "5xx", "malformed": "malformed", "drop": "drop"}[str(expect)]
        assert sb.stats()["faults"][counted] == 1


def test_partial_failures_in_batch_update(fresh: Start) -> None:
    """With rate_partial, some batch inputs fail as OBJECT_NOT_FOUND and are not applied."""
    with fresh(contacts=50, engagements=10) as sb:
        sb.set_faults(rate_partial=0.5, seed=3)
        client = make_client(sb)
        ids = [r.id for r in client.crm.objects.basic_api.get_page("contacts", limit=40).results]
        inputs = [SimplePublicObjectBatchInput(id=i, properties={"jobtitle": "Partial"}) for i in ids]
        result = client.crm.objects.batch_api.update("contacts", BatchInputSimplePublicObjectBatchInput(inputs=inputs))
        failed = {i for e in result.errors for i in e.context["ids"]}
        assert 0 < len(failed) < len(ids)
        assert len(result.results) + len(failed) == len(ids)
        applied = {c["id"] for c in sb.export("contacts") if c["properties"].get("jobtitle") == "Partial"}
        assert applied == set(ids) - failed
        assert sb.stats()["faults"].get("partial") == 1  # one 207 answer, counted like every other fault
