"""The operator API: simulated activity, bulk imports, export, settings and the portal summary."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager

from hubspot.crm.objects import Filter, FilterGroup, PublicObjectSearchRequest

from sandbox.clock import parse_time
from sandbox.harness import RunningSandbox
from tests.sandbox.wire import ANCHOR_MS, make_client

Start = Callable[..., AbstractContextManager[RunningSandbox]]


def test_simulate_creates_and_changes_records_with_ids(fresh: Start) -> None:
    """Simulating an hour creates contacts and engagements and changes contacts and deals, returning ids."""
    with fresh() as sb:
        summary = sb.simulate(minutes=60, seed=7)
        assert summary["created"]["contacts"]
        assert {"calls", "emails"} & set(summary["created"])
        assert summary["updated"]["contacts"]
        assert summary["archived"]
        exported = {c["id"]: c for c in sb.export("contacts")}
        assert all(i in exported for i in summary["created"]["contacts"])


def test_simulated_activity_is_back_dated_and_modified_now(fresh: Start) -> None:
    """New engagements' hs_timestamp lies in the simulated window; their modification date is the real now."""
    with fresh() as sb:
        summary = sb.simulate(minutes=30, seed=1)
        low, high = parse_time(summary["window"]["from"]) or 0, parse_time(summary["window"]["to"]) or 0
        new_calls = set(summary["created"].get("calls", []))
        for call in sb.export("calls"):
            if call["id"] in new_calls:
                assert low <= (parse_time(call["properties"]["hs_timestamp"]) or 0) <= high
                assert (parse_time(call["updatedAt"]) or 0) >= high


def test_reassociation_does_not_bump_modification_date(fresh: Start) -> None:
    """A re-associated call moves to another contact but keeps its updatedAt."""
    with fresh() as sb:
        before = {c["id"]: c for c in sb.export("calls")}
        moved = sb.simulate(minutes=60, seed=3)["reassociated"]["calls"]
        after = {c["id"]: c for c in sb.export("calls")}
        assert moved
        for cid in moved:
            assert after[cid]["updatedAt"] == before[cid]["updatedAt"]
            assert after[cid]["associations"]["contacts"] != before[cid]["associations"]["contacts"]


def test_bulk_import_shares_one_timestamp(fresh: Start) -> None:
    """A bulk import of 2,500 contacts gives all of them one lastmodifieddate, visible to search."""
    with fresh() as sb:
        result = sb.bulk_import("contacts", 2_500)
        flt = Filter(property_name="lastmodifieddate", operator="EQ", value=str(result["timestamp_ms"]))
        page = make_client(sb).crm.objects.search_api.do_search(
            "contacts", PublicObjectSearchRequest(filter_groups=[FilterGroup(filters=[flt])], limit=1)
        )
        assert page.total == 2_500
        stamps = Counter(c["updatedAt"] for c in sb.export("contacts"))
        assert stamps[result["timestamp"]] == 2_500


def test_export_is_deterministic_for_a_seed(fresh: Start) -> None:
    """Two sandboxes with the same seed and anchor export identical contacts and calls."""
    with fresh(seed=9, anchor_ms=ANCHOR_MS) as one, fresh(seed=9, anchor_ms=ANCHOR_MS) as two:
        assert one.export("contacts") == two.export("contacts")
        assert one.export("calls") == two.export("calls")


def test_export_includes_archived_records_and_associations(shared: RunningSandbox) -> None:
    """The export has archived records and contact/deal associations for engagements."""
    calls = shared.export("calls")
    assert any(c["archived"] for c in calls)
    assert set(calls[0]["associations"]) == {"contacts", "deals"}
    assert "hs_lastmodifieddate" in calls[0]["properties"]


def test_settings_round_trip(fresh: Start) -> None:
    """PUT settings changes only the given keys; unknown keys are refused."""
    with fresh(contacts=10, engagements=10) as sb:
        assert sb.settings(index_lag_ms=1_500)["index_lag_ms"] == 1_500
        assert sb.settings()["tier"] == "professional"
        assert sb.portal.index_lag_ms == 1_500


def test_seed_option_seeds_the_portal(fresh: Start) -> None:
    """`seed` reaches the generator: the portal summary reports it."""
    with fresh(seed=9, contacts=10, engagements=10) as sb:
        assert sb.summary()["seed"] == 9


def test_portal_summary(shared: RunningSandbox) -> None:
    """GET /_sandbox/portal reports counts, seed and generation time."""
    summary = shared.summary()
    assert summary["seed"] == 42
    assert summary["counts"]["contacts"]["live"] + summary["counts"]["contacts"]["archived"] == 600
    assert summary["generation_seconds"] > 0
