"""Prometheus metrics of the worker, in a registry of their own, fed from each cycle's RunSummary and its typed counts
(what a cycle that failed early did not do reads as zero), the day's API budget, and the build's version.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sync.cycle import RunSummary
from sync.hubspot.client import ApiStats
from sync.progress import Snapshot
from sync.pull import PullStats
from sync.push import PushStats
from sync.runs import RunKind, RunOutcome

CONTENT_TYPE = CONTENT_TYPE_LATEST
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600, float("inf"))
# HubSpot answers in tens to hundreds of milliseconds; a slow search or a held connection takes seconds.
LATENCY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, float("inf"))
PACKAGE = "hubspot-kpi-sync"


def build_version() -> str:
    """The installed package's version ("unknown" when run from a tree that was never installed)."""
    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        return "unknown"


class Metrics:
    """The worker's counters, histogram and gauges; `observe_cycle` after every cycle, `render` for /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self.cycles = Counter("kpi_sync_cycles", "Cycles by kind and outcome", ["kind", "outcome"], registry=reg)
        self.duration = Histogram(
            "kpi_sync_cycle_duration_seconds", "Cycle wall time", ["kind"], buckets=DURATION_BUCKETS, registry=reg
        )
        self.pulled = Counter("kpi_sync_records_pulled", "Records read from HubSpot", ["object"], registry=reg)
        self.api_calls = Counter("kpi_sync_api_calls", "HubSpot API requests sent (retries included)", registry=reg)
        self.rate_limited = Counter("kpi_sync_rate_limited", "HubSpot 429 answers", registry=reg)
        self.writes = Counter("kpi_sync_writes", "What was written back to HubSpot", ["what"], registry=reg)
        self.refused = Counter(
            "kpi_sync_refused_contacts", "Contacts whose values HubSpot's validation rules refused", registry=reg
        )
        self.errors = Counter("kpi_sync_errors", "Errors by kind", ["kind"], registry=reg)
        self.running = Gauge("kpi_sync_cycle_running", "1 while a cycle runs", registry=reg)
        self.last_success = Gauge(
            "kpi_sync_last_success_timestamp_seconds", "End of the last cycle that ended ok or partial", registry=reg
        )
        self.paused_until = Gauge(
            "kpi_sync_paused_until_timestamp_seconds", "Daily API limit reached: no cycle before this", registry=reg
        )
        self.progress_records = Gauge(
            "kpi_sync_progress_records",
            "Running cycle: records so far by phase and object (contacts written, in the push)",
            ["phase", "object"],
            registry=reg,
        )
        self.progress_expected = Gauge(
            "kpi_sync_progress_expected_records",
            "Running cycle: records HubSpot's search answers let us expect, by phase and object",
            ["phase", "object"],
            registry=reg,
        )
        self.progress_calls = Gauge("kpi_sync_progress_api_calls", "Running cycle: API calls so far", registry=reg)
        self.progress_phase = Gauge(
            "kpi_sync_progress_phase", "Running cycle: 1 for the phase it is in", ["phase"], registry=reg
        )
        self._api_families(reg)
        Info("kpi_sync_build", "The running kpi-sync build", registry=reg).info({"version": build_version()})

    def _api_families(self, reg: CollectorRegistry) -> None:
        self.requests = Counter(
            "kpi_sync_api_requests",
            "HubSpot API requests by endpoint family and HTTP status (or timeout/connection/error: no status)",
            ["family", "status"],
            registry=reg,
        )
        self.latency = Histogram(
            "kpi_sync_api_request_duration_seconds",
            "HubSpot API request latency by endpoint family (answered or not)",
            ["family"],
            buckets=LATENCY_BUCKETS,
            registry=reg,
        )
        self.faults = Counter("kpi_sync_api_faults", "HubSpot API faults by kind", ["kind"], registry=reg)
        self.calls_today = Gauge(
            "kpi_sync_api_calls_today", "HubSpot API calls of the portal day so far (all runs)", registry=reg
        )
        self.daily_budget = Gauge("kpi_sync_api_daily_budget", "HUBSPOT_DAILY_BUDGET: calls a day", registry=reg)

    def observe_budget(self, used_today: int, daily_budget: int) -> None:
        """The day's API calls so far against the configured budget."""
        self.calls_today.set(used_today)
        self.daily_budget.set(daily_budget)

    def observe_cycle(self, kind: RunKind, summary: RunSummary, seconds: float) -> None:
        """Record one finished cycle."""
        self.cycles.labels(kind=kind.value, outcome=summary.outcome.value).inc()
        self.duration.labels(kind=kind.value).observe(max(seconds, 0.0))
        self.api_calls.inc(summary.api_calls)
        if summary.outcome is RunOutcome.FAILED:
            self.errors.labels(kind="cycle_failed").inc()
        self._pull(summary.counts.pull)
        self._push(summary.counts.push)
        self._api(summary.counts.api)

    def observe_progress(self, snapshot: Snapshot) -> None:
        """Move the progress gauges to where the running cycle is (a `sync.progress` observer)."""
        for key, obj in snapshot.objects.items():
            phase, _, name = key.partition(":")
            self.progress_records.labels(phase=phase, object=name).set(obj.records)
            if obj.total is not None:
                self.progress_expected.labels(phase=phase, object=name).set(obj.total)
        self.progress_calls.set(snapshot.calls)
        for phase in ("pull", "kpis", "push"):
            self.progress_phase.labels(phase=phase).set(1 if phase == snapshot.phase else 0)

    def clear_progress(self) -> None:
        """Reset the progress gauges as a new cycle starts."""
        self.progress_records.clear()
        self.progress_expected.clear()
        self.progress_calls.set(0)
        self.progress_phase.clear()

    def observe_crash(self) -> None:
        """A cycle raised instead of returning a summary (a bug): counted so an alert can fire."""
        self.errors.labels(kind="cycle_crashed").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return bytes(generate_latest(self.registry))

    def _pull(self, pull: PullStats) -> None:
        for obj, n in pull.fetched.items():
            self.pulled.labels(object=obj).inc(n)
        self.errors.labels(kind="skipped_records").inc(pull.parse.skipped_records)

    def _push(self, push: PushStats) -> None:
        self.writes.labels(what="contacts").inc(push.contacts_written)
        self.writes.labels(what="values").inc(push.values_written)
        self.writes.labels(what="snapshots").inc(push.snapshots_written)
        self.errors.labels(kind="write_failed").inc(push.failed.total())
        self.refused.inc(push.refused_total)

    def _api(self, api: ApiStats) -> None:
        self.rate_limited.inc(api.statuses["429"])
        self.errors.labels(kind="api_fault").inc(sum(n for k, n in api.faults.items() if k != "429"))
        for kind, n in api.faults.items():
            self.faults.labels(kind=kind).inc(n)
        for outcome, n in api.outcomes.items():
            family, _, status = outcome.partition(" ")
            self.requests.labels(family=family, status=status).inc(n)
        for family, seconds in api.latencies:
            self.latency.labels(family=family).observe(max(seconds, 0.0))
