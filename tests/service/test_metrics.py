"""Prometheus metrics fed from a cycle's counts: what is counted, and that missing counts break nothing."""

from __future__ import annotations

from typing import Any

import pytest

from service.metrics import Metrics

COUNTS: dict[str, Any] = {
    "pull": {"fetched": {"contacts": 10, "calls": 5}, "skipped_records": 1},
    "push": {"contacts_written": 4, "values_written": 12, "snapshots_written": 2, "failed": {"VALIDATION_ERROR": 1}},
    "api": {"total": 30, "statuses": {"200": 27, "429": 3}, "faults": {"429": 3, "5xx": 2}},
}


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_cycle_feeds_every_family() -> None:
    """Cycles by outcome, duration, records pulled, API calls, 429s, writes and errors."""
    metrics = Metrics()
    metrics.observe_cycle("sync", "ok", 12.0, COUNTS, 30)
    assert sample(metrics, "kpi_sync_cycles_total", kind="sync", outcome="ok") == 1
    assert sample(metrics, "kpi_sync_cycle_duration_seconds_sum", kind="sync") == 12.0
    assert sample(metrics, "kpi_sync_records_pulled_total", object="contacts") == 10
    assert sample(metrics, "kpi_sync_api_calls_total") == 30
    assert sample(metrics, "kpi_sync_rate_limited_total") == 3
    assert sample(metrics, "kpi_sync_writes_total", what="contacts") == 4
    assert sample(metrics, "kpi_sync_writes_total", what="values") == 12
    assert sample(metrics, "kpi_sync_errors_total", kind="write_failed") == 1
    assert sample(metrics, "kpi_sync_errors_total", kind="skipped_records") == 1
    assert sample(metrics, "kpi_sync_errors_total", kind="api_fault") == 2


@pytest.mark.parametrize(
    "counts",
    [{}, {"pull": None}, {"pull": {"fetched": "x"}}, {"push": {"failed": {"a": "b"}}}, {"api": {"statuses": []}}],
)
def test_missing_or_odd_counts_are_ignored(counts: dict[str, Any]) -> None:
    """A cycle that failed early (or changed its counts) still records its outcome."""
    metrics = Metrics()
    metrics.observe_cycle("resync", "failed", 1.0, counts, 0)
    assert sample(metrics, "kpi_sync_cycles_total", kind="resync", outcome="failed") == 1
    assert sample(metrics, "kpi_sync_errors_total", kind="cycle_failed") == 1


def test_registries_are_independent() -> None:
    """Each Metrics has its own registry: two workers in one test process do not share counters."""
    first, second = Metrics(), Metrics()
    first.observe_cycle("sync", "ok", 1.0, {}, 1)
    assert sample(second, "kpi_sync_api_calls_total") == 0
    assert b"kpi_sync_cycles_total" in first.render()
