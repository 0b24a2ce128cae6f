"""Run records: the kind a cycle records, the counts' JSON round trip (also through the store), and rows of older
versions read back typed."""

from __future__ import annotations

from collections import Counter
from dataclasses import fields
from typing import Any

import pytest
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from sync import runs
from sync.cycle import CycleOptions
from sync.hubspot.client import ApiStats
from sync.hubspot.records import ParseStats
from sync.pull import PullStats
from sync.push import PushStats
from sync.refresh.contacts import RecomputeStats
from sync.runs import PhaseTiming, RunCounts, RunKind, RunOutcome
from tests.helpers import cycle, settings_for


@pytest.mark.parametrize(
    ("options", "kind"),
    [
        (CycleOptions(), RunKind.SYNC),
        (CycleOptions(full=True), RunKind.FULL),
        (CycleOptions(reconcile=True), RunKind.RECONCILE),
        (CycleOptions(full=True, reconcile=True), RunKind.RECONCILE),
        (CycleOptions(recompute_all=True), RunKind.SYNC),
        (CycleOptions(dry_run=True, full=True), RunKind.DRY_RUN),
        (CycleOptions(dry_run=True, recompute_all=True), RunKind.DRY_RUN),
        (CycleOptions(dry_run=True, full=True, reconcile=True), RunKind.DRY_RUN),
    ],
)
def test_the_kind_of_a_cycle(options: CycleOptions, kind: RunKind) -> None:
    """A dry run wins, then a reconcile, then a full reload, then an incremental sync."""
    assert options.kind is kind


def every_count_set() -> RunCounts:
    """Counts with every field away from its default."""
    return RunCounts(
        pull=PullStats(
            pages=Counter({"list:contacts": 2, "search:calls": 3}),
            fetched=Counter({"contacts": 400, "owners": 5}),
            changed=Counter({"contacts": 12}),
            archived=Counter({"deals": 1}),
            relinked=Counter({"calls": 2}),
            merged=Counter({"contacts": 1}),
            dirty_contacts=14,
            dirty_deals=3,
            parse=ParseStats(skipped_records=1, invalid_values=Counter({"createdate": 2})),
        ),
        kpis=RecomputeStats(contacts=14, changed=9, due_to_time=2, skipped_engagements=1, aggregates=30),
        redone_in_full=True,
        push=PushStats(
            write_calls=2,
            contacts_written=150,
            values_written=900,
            failed=Counter({"VALIDATION_ERROR": 1}),
            unchanged=4,
            created=["kpi_sales_touches"],
            conflicts=["kpi_reached"],
            snapshots_written=8,
            snapshot_calls=1,
            deleted_meanwhile=1,
            would_write_contacts=6,
            would_write_values=11,
            refused={"17": "Property 'industry' is required when lifecyclestage is 'customer'."},
            refused_total=3,
            held=2,
        ),
        api=ApiStats(
            versions=Counter({"2026-09": 7}),
            calls=Counter({"search:contacts": 7}),
            statuses=Counter({"200": 6, "429": 1}),
            faults=Counter({"429": 1}),
            retries=1,
            outcomes=Counter({"search 200": 6, "search 429": 1}),
            peak_in_flight=3,
        ),
        rate_limit_wait_s=1.25,
        phases={"pull": PhaseTiming(3.5, 120.0), "kpis": PhaseTiming(0.75, 130.5)},
        duration_s=4.5,
    )


def test_every_count_is_set_in_the_sample() -> None:
    """The sample below leaves no field at its default, so the round trip covers every field."""
    sample, default = every_count_set(), RunCounts()
    unset = [f.name for f in fields(RunCounts) if getattr(sample, f.name) == getattr(default, f.name)]
    for part in ("pull", "kpis", "push", "api"):
        typed, untouched = getattr(sample, part), getattr(default, part)
        unset += [
            f"{part}.{f.name}"
            for f in fields(typed)
            if f.compare and getattr(typed, f.name) == getattr(untouched, f.name)
        ]
    assert unset == []


def test_counts_survive_their_json_round_trip() -> None:
    """`from_json(to_json())` gives the same counts back."""
    counts = every_count_set()
    assert RunCounts.from_json(counts.to_json()) == counts


def test_the_stored_sections_keep_their_names() -> None:
    """The JSON keeps the sections and names that stored rows and the admin page's clients read."""
    stored = every_count_set().to_json()
    assert set(stored) == {"pull", "kpis", "push", "api", "rate_limit_wait_s", "phases", "duration_s"}
    assert stored["pull"]["fetched"] == {"contacts": 400, "owners": 5}
    assert stored["kpis"]["redone_in_full"] is True
    assert stored["push"]["schema_created"] == ["kpi_sales_touches"]
    assert stored["api"]["total"] == 7
    assert stored["phases"]["pull"] == {"seconds": 3.5, "peak_rss_mb": 120.0}


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {},
        {"pull": None, "push": [], "api": "x"},
        {"pull": {"fetched": "x"}, "push": {"failed": {"a": "b"}}, "api": {"statuses": []}},
        {"duration_s": "soon", "phases": {"pull": None}, "kpis": {"contacts": True}},
    ],
)
def test_missing_or_odd_sections_read_as_zero(stored: Any) -> None:
    """A row of a cycle that failed early, of an older version, or edited by hand reads as zeros, never raises."""
    counts = RunCounts.from_json(stored)
    assert (counts.records_pulled, counts.push.failed.total(), counts.api.total, counts.kpis.contacts) == (0, 0, 0, 0)
    assert counts.duration_s == 0.0
    assert all(timing == PhaseTiming() for timing in counts.phases.values())


def test_a_row_of_an_older_version_reads_what_it_has() -> None:
    """Sections and keys it lacks read as zero; keys this version does not know are ignored."""
    stored = {
        "pull": {"fetched": {"contacts": 9}, "skipped_records": 2, "retired_key": 5},
        "push": {"contacts_written": 4},
        "future_section": {"anything": 1},
    }
    counts = RunCounts.from_json(stored)
    assert counts.records_pulled == 9
    assert counts.pull.parse.skipped_records == 2
    assert counts.push == PushStats(contacts_written=4)
    assert counts.kpis == RecomputeStats()


def test_a_cycle_reads_back_from_the_history_as_it_ended(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """The stored run of a real cycle gives back its kind, outcome and counts, typed."""
    summary = cycle(sqlite_store, settings_for(sandbox, sqlite_url), full=True)
    record = runs.get_run(sqlite_store, summary.run_id)
    assert record is not None
    assert (record.kind, record.outcome) == (RunKind.FULL, RunOutcome.OK)
    assert record.counts == summary.counts
    assert record.api_calls == summary.api_calls > 0
