"""The fault suite: every fault HubSpot throws, all at once, through a full sync, an incremental sync and their
write-backs. The store and HubSpot's kpi_* values end exactly where a fault-free run on an identical portal ends,
and the run summaries count every injected fault by kind.

Two portals are generated from one seed and anchor; the same simulated activity, dated alike, goes into both (the
operator API would date it by each call's wall clock, and KPIs such as the lead response time depend on it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select

from sandbox.harness import RunningSandbox, run_sandbox
from sandbox.simulate import Simulator
from service.settings import Settings
from service.worker import Worker
from storage import repo
from storage import tables as t
from storage.engine import open_store
from sync import runs
from sync.cycle import CycleOptions, RunSummary
from sync.hubspot.ratelimit import next_midnight
from sync.properties import CONTACT_PROPERTIES
from tests.helpers import TOKEN, api_calls, cycle, settings_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

DAY_MS = 86_400_000
FAULTS: dict[str, Any] = {
    "rate_429": 0.20,
    "rate_5xx": 0.05,
    "rate_drop": 0.02,
    "rate_slow": 0.03,
    "slow_ms": 700,  # past the client's slow mark: a quarter of the 2 s read timeout below
    "rate_malformed": 0.02,
    "rate_partial": 0.05,  # per batch-write input
}
# What the sandbox calls each fault, and what the client calls it in `counts.api.faults`.
FAULT_NAMES = {
    "429": "429",
    "5xx": "5xx",
    "drop": "connection",
    "slow": "slow",
    "malformed": "malformed",
    "partial": "partial",
}
VOLATILE = {"modified_at", "seen_at", "computed_at", "written_at"}  # wall-clock stamps, never alike on two portals
COMPARED = (
    t.Owner,
    t.DealStage,
    t.Contact,
    t.Deal,
    t.Engagement,
    t.EngagementContact,
    t.DealContact,
    t.ContactKpi,
    t.KpiAggregate,
    t.SnapshotLedger,
)
KPI_PROPERTIES = [p["name"] for p in CONTACT_PROPERTIES]
BATCH_UPDATE = "POST /crm/objects/{version}/{type}/batch/update"


@dataclass
class Synced:
    """One portal and the store a worker syncs it into."""

    sb: RunningSandbox
    engine: Engine
    settings: Settings
    summaries: list[RunSummary] = field(default_factory=list)

    def cycle(self) -> None:
        """One cycle that must end well, whatever the faults."""
        self.summaries.append(cycle(self.engine, self.settings))


@contextmanager
def twin_portals(tmp_path: Path) -> Iterator[tuple[Synced, Synced]]:
    """Two identical portals (same seed and anchor), each with a worker and a fresh SQLite store."""
    anchor = int(time.time() * 1000) // DAY_MS * DAY_MS
    portal = {"seed": 7, "contacts": 250, "token": TOKEN, "index_lag_ms": 0, "anchor_ms": anchor}
    with run_sandbox(**portal) as clean_sb, run_sandbox(**portal) as faulty_sb:
        synced = []
        for sb, name in ((clean_sb, "clean"), (faulty_sb, "faulty")):
            url = f"sqlite:///{tmp_path / name}.db"
            settings = settings_for(sb, url, hubspot_timeout_seconds=2, hubspot_max_retries=15)
            synced.append(Synced(sb, open_store(url), settings))
        try:
            yield synced[0], synced[1]
        finally:
            for each in synced:
                each.engine.dispose()


# How long before the cycles the simulated activity ends. A lead's response-time value turns from empty to false an
# hour after it came in, with no new data: with recent leads that hour could end between the faulty portal's last
# recompute and the clean one's, and the twins would differ for the clock alone. Every activity time is dated at
# least this long ago (the sandbox still stamps each change's modification time with the wall clock, so the
# incremental pull reads them as new).
ACTIVITY_ENDS_AGO_MS = 2 * 3_600_000


def same_activity(portals: list[RunningSandbox], minutes: int, seed: int) -> None:
    """The same simulated activity on each portal, every activity time alike, and every one-hour response deadline
    already past (see ACTIVITY_ENDS_AGO_MS).

    No contact is archived: an incremental sync cannot see an archive (the nightly reconcile does), but HubSpot
    refuses a write-back to an archived contact and the store learns it there. The faulty twin writes again the
    contacts its 207s refused, so it would learn of an archive the clean twin has no reason to hear of: the twins
    would differ in what they learnt, not in what they lost. Calls and emails are still archived."""
    end = int(time.time() * 1000) - ACTIVITY_ENDS_AGO_MS
    for sb in portals:
        simulator = Simulator(sb.portal, minutes, seed, archiving=("calls", "emails"))
        simulator.start, simulator.end = end - minutes * 60_000, end
        simulator.run()


def content(engine: Engine) -> dict[str, set[bytes]]:
    """Every row of the data and KPI tables, without wall-clock stamps, as canonical JSON per table."""
    out = {}
    with engine.connect() as conn:
        for model in COMPARED:
            tbl = repo.table(model)
            columns = [c for c in tbl.c if c.name not in VOLATILE]
            rows = conn.execute(select(*columns)).mappings()
            out[tbl.name] = {orjson.dumps(dict(r), option=orjson.OPT_SORT_KEYS) for r in rows}
    return out


def differences(subject: Engine, reference: Engine) -> dict[str, dict[str, list[bytes]]]:
    """Per table, a few rows only one of the two stores holds."""
    ours, theirs = content(subject), content(reference)
    out = {}
    for name in ours:
        extra, missing = sorted(ours[name] - theirs[name]), sorted(theirs[name] - ours[name])
        if extra or missing:
            out[name] = {"only_faulty": extra[:3], "only_clean": missing[:3]}
    return out


def kpi_values(sb: RunningSandbox) -> dict[int, dict[str, str]]:
    """The kpi_* properties HubSpot holds per live contact (unset as empty)."""
    return {
        int(r["id"]): {name: r["properties"].get(name) or "" for name in KPI_PROPERTIES}
        for r in sb.export("contacts")
        if not r.get("archived")
    }


def injected_faults(sb: RunningSandbox) -> dict[str, int]:
    """Faults the sandbox injected, by kind; 207s counted as the batch-update answers that carried them."""
    stats = sb.stats()
    injected = {kind: n for kind, n in stats["faults"].items() if n}
    injected["partial"] = stats["by_route"].get(BATCH_UPDATE, {}).get("207", 0)
    return injected


def counted_faults(summaries: list[RunSummary]) -> Counter[str]:
    """Faults by kind, summed over the run summaries."""
    total: Counter[str] = Counter()
    for summary in summaries:
        total.update(summary.counts.api.faults)
    return total


@pytest.mark.parametrize("retry_after", [True, False], ids=["with-retry-after", "without-retry-after"])
def test_all_faults_at_once_end_where_a_fault_free_run_ends(retry_after: bool, tmp_path: Path) -> None:
    """429s (20 %), 5xx, dropped connections, slow answers, truncated pages and 207s lose and add nothing."""
    with twin_portals(tmp_path) as (clean, faulty):
        faulty.sb.settings(time_scale=0.05)  # HubSpot's 10 s window becomes 0.5 s: waiting out 429s stays quick
        faulty.sb.set_faults(**FAULTS, retry_after=retry_after, seed=11)
        clean.cycle()
        faulty.cycle()  # the full sync
        same_activity([clean.sb, faulty.sb], minutes=90, seed=3)
        clean.cycle()
        faulty.cycle()  # the incremental sync
        injected = injected_faults(faulty.sb)
        faulty.sb.set_faults()
        faulty.cycle()  # contacts refused in a 207 are written by the next cycle
        clean.cycle()

        assert differences(faulty.engine, clean.engine) == {}
        assert kpi_values(faulty.sb) == kpi_values(clean.sb)
        assert any(any(values.values()) for values in kpi_values(faulty.sb).values())
        counted = counted_faults(faulty.summaries)
        assert set(injected) == set(FAULT_NAMES), injected
        assert {kind: counted[FAULT_NAMES[kind]] for kind in ("429", "5xx", "drop", "malformed")} == {
            kind: injected[kind] for kind in ("429", "5xx", "drop", "malformed")
        }
        assert counted["slow"] >= injected["slow"]  # a loaded machine may add slow answers of its own
        assert 0 < counted["partial"] <= injected["partial"]  # a 207 lost to a truncated body is never seen


def test_a_daily_429_pauses_the_worker_until_hubspot_resets_its_count(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A real cycle stopped by HubSpot's DAILY limit pauses the worker until the portal's reset (the sandbox's next
    midnight, UTC): though its one-second interval passes, no cycle runs and no call goes out, and a resync asked
    meanwhile waits for the resume. (The resume itself: tests/service/test_scheduler.py; the catch-up after it:
    tests/sync/test_cycle.py.)"""
    sandbox.settings(throttle=True, daily_limit=20)
    settings = settings_for(sandbox, sqlite_url, sync_interval_minutes=1 / 60, writeback_enabled=False)
    worker = Worker(sqlite_store, settings)
    worker.start()
    try:
        poll_until(lambda: worker.state()["paused_until"] is not None, what="the DAILY pause")
        reset = datetime.fromtimestamp(next_midnight(time.time()), UTC)
        assert worker.state()["paused_until"] == reset.isoformat()
        assert worker.request_resync(CycleOptions(trigger="api"))["state"] == "queued"
        spent = api_calls(sandbox)
        time.sleep(2.5)  # two and a half intervals
        assert api_calls(sandbox) == spent
        assert [(r.outcome, r.resume_at) for r in runs.recent_runs(sqlite_store)] == [
            ("stopped", int(reset.timestamp() * 1000))
        ]
    finally:
        worker.shutdown()


def poll_until(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    """Wait for `condition` (checked every 50 ms)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
