"""Prometheus metrics of the worker, in a registry of their own, fed from each cycle's RunSummary and its typed counts
(what a cycle that failed early did not do reads as zero).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from sync.cycle import RunSummary
from sync.hubspot.client import ApiStats
from sync.progress import Snapshot
from sync.pull import PullStats
from sync.push import PushStats
from sync.runs import RunKind, RunOutcome

CONTENT_TYPE = CONTENT_TYPE_LATEST
DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600, float("inf"))


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
