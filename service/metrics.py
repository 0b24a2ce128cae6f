"""Prometheus metrics of the worker, in a registry of their own, fed from each cycle's RunSummary counts.

The counts come from `run_cycle` (pull, push, api sections); every key is read defensively, so a cycle that
failed early (or a future change in the counts) records what there is and nothing breaks.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
        self.errors = Counter("kpi_sync_errors", "Errors by kind", ["kind"], registry=reg)
        self.running = Gauge("kpi_sync_cycle_running", "1 while a cycle runs", registry=reg)
        self.last_success = Gauge(
            "kpi_sync_last_success_timestamp_seconds", "End of the last cycle that ended ok", registry=reg
        )
        self.paused_until = Gauge(
            "kpi_sync_paused_until_timestamp_seconds", "Daily API limit reached: no cycle before this", registry=reg
        )

    def observe_cycle(self, kind: str, outcome: str, seconds: float, counts: Mapping[str, Any], api_calls: int) -> None:
        """Record one finished cycle."""
        self.cycles.labels(kind=kind, outcome=outcome).inc()
        self.duration.labels(kind=kind).observe(max(seconds, 0.0))
        self.api_calls.inc(max(api_calls, 0))
        if outcome == "failed":
            self.errors.labels(kind="cycle_failed").inc()
        self._pull(_section(counts, "pull"))
        self._push(_section(counts, "push"))
        self._api(_section(counts, "api"))

    def observe_crash(self) -> None:
        """A cycle raised instead of returning a summary (a bug): counted so an alert can fire."""
        self.errors.labels(kind="cycle_crashed").inc()

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return bytes(generate_latest(self.registry))

    def _pull(self, pull: Mapping[str, Any]) -> None:
        for obj, n in _section(pull, "fetched").items():
            self.pulled.labels(object=str(obj)).inc(_num(n))
        self.errors.labels(kind="skipped_records").inc(_num(pull.get("skipped_records")))

    def _push(self, push: Mapping[str, Any]) -> None:
        self.writes.labels(what="contacts").inc(_num(push.get("contacts_written")))
        self.writes.labels(what="values").inc(_num(push.get("values_written")))
        self.writes.labels(what="snapshots").inc(_num(push.get("snapshots_written")))
        self.errors.labels(kind="write_failed").inc(sum(_num(n) for n in _section(push, "failed").values()))

    def _api(self, api: Mapping[str, Any]) -> None:
        self.rate_limited.inc(_num(_section(api, "statuses").get("429")))
        faults = _section(api, "faults")
        self.errors.labels(kind="api_fault").inc(sum(_num(n) for k, n in faults.items() if k != "429"))


def _section(counts: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = counts.get(key)
    return value if isinstance(value, Mapping) else {}


def _num(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return max(float(value), 0.0)
