"""Prometheus metrics fed from a cycle's RunSummary: every family equals the summary's typed counts."""

from __future__ import annotations

from importlib.metadata import version

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from service.admin.api import create_app
from service.metrics import Metrics
from service.worker import Worker
from sync import runs
from sync.cycle import RunSummary
from sync.runs import RunKind, RunOutcome
from tests.helpers import cycle, make_counts, sandbox_settings, serving, settings_for, wait_for

# Faults the counts keep apart: rate limits (with a 1 s Retry-After: without one a 429 holds the limiter's whole
# 10 s window), server errors and partially failed batch writes.
FAULTS = {"rate_429": 0.08, "rate_5xx": 0.08, "rate_partial": 0.1, "retry_after": True, "seed": 5}


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    value = metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_a_cycle_feeds_every_family_its_counts(sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str) -> None:
    """Cycles by kind and outcome, duration, records pulled per object, API calls, 429s, writes and errors are the
    counts of a real cycle's summary."""
    sandbox.set_faults(**FAULTS)
    faulty_cycle = cycle(sqlite_store, settings_for(sandbox, sqlite_url))
    counts = faulty_cycle.counts
    # Not all zero, so the comparisons below can fail.
    assert counts.records_pulled > 0
    assert counts.push.contacts_written > 0
    assert counts.api.statuses["429"] > 0
    assert counts.api.faults["5xx"] > 0
    assert counts.push.failed.total() > 0
    metrics = Metrics()
    metrics.observe_cycle(RunKind.SYNC, faulty_cycle, 12.0)
    assert sample(metrics, "kpi_sync_cycles_total", kind="sync", outcome="ok") == 1
    assert sample(metrics, "kpi_sync_cycle_duration_seconds_sum", kind="sync") == 12.0
    pulled = {obj: sample(metrics, "kpi_sync_records_pulled_total", object=obj) for obj in counts.pull.fetched}
    assert pulled == dict(counts.pull.fetched)
    assert sample(metrics, "kpi_sync_api_calls_total") == faulty_cycle.api_calls
    assert sample(metrics, "kpi_sync_rate_limited_total") == counts.api.statuses["429"]
    assert sample(metrics, "kpi_sync_writes_total", what="contacts") == counts.push.contacts_written
    assert sample(metrics, "kpi_sync_writes_total", what="values") == counts.push.values_written
    assert sample(metrics, "kpi_sync_writes_total", what="snapshots") == counts.push.snapshots_written
    assert sample(metrics, "kpi_sync_errors_total", kind="write_failed") == counts.push.failed.total()
    assert sample(metrics, "kpi_sync_errors_total", kind="skipped_records") == counts.pull.parse.skipped_records
    faults = sum(n for kind, n in counts.api.faults.items() if kind != "429")
    assert sample(metrics, "kpi_sync_errors_total", kind="api_fault") == faults


def test_a_failed_cycle_counts_as_an_error() -> None:
    """A failed cycle (one that did nothing: all counts zero) records its outcome and a cycle_failed error."""
    metrics = Metrics()
    metrics.observe_cycle(RunKind.FULL, RunSummary(1, RunOutcome.FAILED), 1.0)
    assert sample(metrics, "kpi_sync_cycles_total", kind="full", outcome="failed") == 1
    assert sample(metrics, "kpi_sync_errors_total", kind="cycle_failed") == 1


def test_registries_are_independent() -> None:
    """Each Metrics has its own registry: two workers in one test process do not share counters."""
    first, second = Metrics(), Metrics()
    first.observe_cycle(RunKind.SYNC, RunSummary(1, RunOutcome.OK, make_counts(api_calls=1)), 1.0)
    assert sample(second, "kpi_sync_api_calls_total") == 0
    assert b"kpi_sync_cycles_total" in first.render()


def scraped(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """GET /metrics over HTTP, parsed: sample name -> (labels, value) pairs."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(httpx.get(url + "/metrics", timeout=30).text):
        for s in family.samples:
            found.setdefault(s.name, []).append((dict(s.labels), s.value))
    return found


def total(samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str) -> float:
    return sum(v for lab, v in samples.get(name, []) if all(lab.get(k) == x for k, x in labels.items()))


def test_metrics_of_a_real_worker_label_api_calls_by_family_and_status(
    sandbox: RunningSandbox, sqlite_store: Engine
) -> None:
    """After a real cycle with 429s, /metrics of the worker's admin app counts every request by endpoint family and
    status, times each in the latency histogram, counts faults by kind, the day's calls against the budget, and the
    build's version."""
    sandbox.set_faults(rate_429=0.08, retry_after=True, seed=5)
    settings = sandbox_settings(sandbox, str(sqlite_store.url), sync_interval_minutes=60, hubspot_daily_budget=123_456)
    worker = Worker(sqlite_store, settings)
    with serving(create_app(sqlite_store, settings, worker)) as http:
        worker.start()
        try:
            wait_for(lambda: worker.state()["last_outcome"] is not None, timeout=90, what="the first cycle")
            samples = scraped(str(http.base_url).rstrip("/"))
        finally:
            worker.shutdown()
    run = runs.recent_runs(sqlite_store, 1)[0]
    api = run.counts.api
    assert api.faults["429"] > 0, "the faults must show, or the status labels below prove nothing"
    requests = total(samples, "kpi_sync_api_requests_total")
    assert requests == api.total == total(samples, "kpi_sync_api_calls_total")
    families = {lab["family"] for lab, v in samples["kpi_sync_api_requests_total"] if v}
    assert {"objects", "owners", "properties", "writes"} <= families  # a first cycle lists, no search
    assert total(samples, "kpi_sync_api_requests_total", status="429") == api.statuses["429"]
    assert total(samples, "kpi_sync_api_requests_total", status="200") == api.statuses["200"]
    assert total(samples, "kpi_sync_api_request_duration_seconds_count") == requests
    assert total(samples, "kpi_sync_api_faults_total", kind="429") == api.faults["429"]
    assert total(samples, "kpi_sync_api_calls_today") == api.total
    assert total(samples, "kpi_sync_api_daily_budget") == 123_456
    assert total(samples, "kpi_sync_build_info", version=version("hubspot-kpi-sync")) == 1
