"""Helpers shared by the tests (plain functions and constants; fixtures stay in the conftest files)."""

from __future__ import annotations

import hashlib
import math
import os
import shutil
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
from fastapi import FastAPI
from sqlalchemy import Engine, select

from kpi.rows import parse_timestamp
from sandbox.harness import RunningSandbox
from service.admin.server import AdminServer
from service.metrics import Metrics
from service.settings import Settings, load_settings
from service.worker import describe
from storage import repo
from storage import tables as t
from sync.config import CycleConfig
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.hubspot.client import ApiStats
from sync.hubspot.constants import OBJECT_TYPES, SINGULAR
from sync.progress import Observer, Snapshot
from sync.pull import PullStats
from sync.runs import RunCounts, RunOutcome

PG_ADMIN = os.environ.get("KPI_SYNC_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


PG_OK = _pg_available()


def create_pg_database() -> str:
    """A new empty PostgreSQL database; returns its URL."""
    name = f"kpi_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_pg_database(url: str) -> None:
    """Drop a database made by create_pg_database (closing whoever still holds it)."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


TOKEN = "pat-na1-test-0000-secret-token"


def settings_for(sb: RunningSandbox, store_url: str, **overrides: Any) -> Settings:
    """Settings of a worker pointed at the sandbox, retrying fast."""
    values: dict[str, Any] = {
        "hubspot_access_token": sb.token,
        "hubspot_base_url": sb.base_url,
        "database_url": store_url,
        "sync_overlap_seconds": 2,
        "hubspot_max_retries": 12,
        "hubspot_rate_limit_per_10s": 250,
        "hubspot_search_per_second": 10,
    }
    return load_settings(**(values | overrides))


# More than the overlap of `settings_for` (2 s): a run starting this long after a write-back reads it settled, once,
# whatever the time the cycles took.
SETTLE_S = 3.1


def cycle(engine: Engine, settings: Settings, **options: Any) -> RunSummary:
    """Run one cycle and insist it ended well."""
    summary = run_cycle(engine, settings.cycle_config(), CycleOptions(**options))
    assert summary.outcome is RunOutcome.OK, summary.error
    return summary


def make_counts(*, fetched: dict[str, int] | None = None, api_calls: int = 0) -> RunCounts:
    """A run's counts: `fetched` records by object type, `api_calls` requests sent (all of them searches)."""
    return RunCounts(
        pull=PullStats(fetched=Counter(fetched or {})), api=ApiStats(calls=Counter({"search:contacts": api_calls}))
    )


def truth(sb: RunningSandbox) -> dict[str, str]:
    """Checksum per object type of what HubSpot holds: live ids, modification times and contact links."""
    return {object_type: _checksum(lines) for object_type, lines in truth_lines(sb).items()}


def truth_lines(sb: RunningSandbox) -> dict[str, dict[int, str]]:
    """Per object type, each live record's line (id, modification time, contact links) as HubSpot holds it."""
    out = {}
    for object_type in OBJECT_TYPES:
        modprop = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
        lines = {}
        for rec in sb.export(object_type):
            if rec.get("archived"):
                continue
            links = sorted(int(i) for i in (rec.get("associations") or {}).get("contacts", []))
            rid = int(rec["id"])
            lines[rid] = f"{rid}|{rec['properties'].get(modprop)}|{links if object_type != 'contacts' else ''}"
        out[object_type] = lines
    return out


def _checksum(lines: dict[int, str]) -> str:
    return hashlib.sha256("\n".join(sorted(lines.values())).encode()).hexdigest()


def stored(engine: Engine) -> dict[str, str]:
    """The same checksum over the store."""
    return {object_type: _checksum(lines) for object_type, lines in stored_lines(engine).items()}


def stored_lines(engine: Engine) -> dict[str, dict[int, str]]:
    """Per object type, each live stored record's line, in the form of `truth_lines`."""
    out = {}
    with engine.connect() as conn:
        for object_type in OBJECT_TYPES:
            model = {"contacts": t.Contact, "deals": t.Deal}.get(object_type, t.Engagement)
            tbl = repo.table(model)
            stmt = select(tbl.c.id, tbl.c.modified_at).where(tbl.c.archived.is_(False))
            if object_type in SINGULAR:
                stmt = stmt.where(tbl.c.type == SINGULAR[object_type])
            links: dict[int, list[int]] = {}
            if object_type == "deals":
                dc = repo.table(t.DealContact).c
                for d, c in conn.execute(select(dc.deal_id, dc.contact_id)):
                    links.setdefault(d, []).append(c)
            elif object_type in SINGULAR:
                ec = repo.table(t.EngagementContact).c
                for e, c in conn.execute(
                    select(ec.engagement_id, ec.contact_id).where(ec.engagement_type == SINGULAR[object_type])
                ):
                    links.setdefault(e, []).append(c)
            lines = {}
            for rid, modified in conn.execute(stmt):
                link = sorted(links.get(rid, [])) if object_type != "contacts" else ""
                lines[rid] = f"{rid}|{_iso(modified)}|{link}"
            out[object_type] = lines
    return out


def mismatched(engine: Engine, sb: RunningSandbox, ids: dict[str, list[str]]) -> dict[str, list[int]]:
    """Of the records named in `ids` (per object type, as the sandbox's simulate() lists them), those whose stored
    line differs from HubSpot's (missing, stale, wrongly linked, or still live after HubSpot archived them)."""
    have, want = stored_lines(engine), truth_lines(sb)
    out = {}
    for object_type, named in ids.items():
        wrong = [i for i in map(int, named) if have[object_type].get(i) != want[object_type].get(i)]
        if wrong:
            out[object_type] = sorted(wrong)
    return out


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def kpi_mismatches(engine: Engine, sb: RunningSandbox) -> tuple[int, set[int]]:
    """How many live contacts have computed KPI values, and those whose kpi_* values in HubSpot differ from them."""
    hubspot = {int(r["id"]): r["properties"] for r in sb.export("contacts") if not r.get("archived")}
    with engine.connect() as conn:
        kpis = repo.table(t.ContactKpi).c
        computed = {cid: dict(props or {}) for cid, props in conn.execute(select(kpis.contact_id, kpis.properties))}
    live = {cid: props for cid, props in computed.items() if cid in hubspot}
    wrong = {cid for cid, props in live.items() if {k: _hubspot_kpi(k, hubspot[cid].get(k)) for k in props} != props}
    return len(live), wrong


def _hubspot_kpi(name: str, value: str | None) -> str:
    """HubSpot answers datetime properties in ISO form; we write epoch milliseconds."""
    if value and name.endswith("_at") and not value.isdigit():
        return str(parse_timestamp(value))
    return value or ""


def api_calls(sb: RunningSandbox) -> int:
    """Exact API calls the sandbox counted since its last reset."""
    return int(sb.stats()["total"])


ADMIN_TOKEN = "admin-token-for-tests-0123456789"


# The worker and a one-off cycle as separate processes, through the front door: `kpi-sync run`, `kpi-sync sync`.
WORKER_CMD = [sys.executable, "-m", "service.cli", "run"]


SYNC_CMD = [sys.executable, "-m", "service.cli", "sync"]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll until `condition` holds; fail naming `what` after `timeout` seconds (a bound, not a measurement)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class RecordingClock:
    """Monotonic time that moves only when something sleeps on it; records every sleep and, like `time.sleep`,
    refuses a sleep that is not a finite number of seconds >= 0."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"sleep length must be a finite number >= 0, not {seconds}")
        self.sleeps.append(seconds)
        self.now += seconds


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sandbox_settings(sb: RunningSandbox, database_url: str, **overrides: Any) -> Settings:
    """Settings for a worker syncing `sb` into `database_url` (snapshots off: they are not what is tested here)."""
    values: dict[str, Any] = {
        "hubspot_access_token": sb.token,
        "hubspot_base_url": sb.base_url,
        "database_url": database_url,
        "writeback_snapshots": False,
        "kpi_sync_admin_token": ADMIN_TOKEN,
        "log_format": "json",
        "hubspot_search_per_second": 10,  # the sandbox does not throttle here; keep cycles short
    }
    return load_settings(**(values | overrides))


def copy_store(template: Path, folder: Path) -> str:
    """URL of a fresh, migrated SQLite store file in `folder`, copied from the migrated `template`."""
    path = folder / "store.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


def worker_env(sb: RunningSandbox, database_url: str, admin_port: int, **extra: str) -> dict[str, str]:
    """The environment of a worker subprocess syncing `sb` every second."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HUBSPOT_", "KPI_", "SYNC_", "ADMIN_"))}
    env.update(
        HUBSPOT_ACCESS_TOKEN=sb.token,
        HUBSPOT_BASE_URL=sb.base_url,
        DATABASE_URL=database_url,
        SYNC_INTERVAL_MINUTES=str(1 / 60),
        WRITEBACK_SNAPSHOTS="false",
        KPI_SYNC_ADMIN_TOKEN=ADMIN_TOKEN,
        ADMIN_HOST="127.0.0.1",
        ADMIN_PORT=str(admin_port),
        LOG_FORMAT="json",
        HUBSPOT_SEARCH_PER_SECOND="10",
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
    )
    env.update(extra)
    return env


class FakeWorker:
    """Stands in for the scheduler behind the admin API: records resync requests, reports an idle state."""

    def __init__(self) -> None:
        self.metrics = Metrics()
        self.requests: list[CycleOptions] = []

    def request_resync(self, options: CycleOptions) -> dict[str, Any]:
        self.requests.append(options)
        return {"state": "started", "request": describe(options)}

    def state(self) -> dict[str, Any]:
        return {"running": None, "pending": None, "paused_until": None, "next_run_at": None}


@contextmanager
def serving(app: FastAPI) -> Iterator[httpx.Client]:
    """The app on a real uvicorn server on a free port, and a client for it."""
    server = AdminServer(app, "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            yield http
    finally:
        server.stop()


def contact_values(engine: Engine) -> dict[int, tuple[Any, ...]]:
    """Every contact's stored KPI values and facts."""
    k = repo.table(t.ContactKpi).c
    with engine.connect() as conn:
        return {r[0]: (r[1], r[2]) for r in conn.execute(select(k.contact_id, k.properties, k.facts))}


class Recorder:
    """An observer that keeps every snapshot it hears."""

    def __init__(self) -> None:
        self.snapshots: list[Snapshot] = []

    def __call__(self, snapshot: Snapshot) -> None:
        self.snapshots.append(snapshot)


class PauseAt:
    """An observer that holds the cycle (in its own thread) once it has pulled a page of `object_type`, until the
    test releases it."""

    def __init__(self, object_type: str = "contacts") -> None:
        self.object_type = object_type
        self.reached, self.release = threading.Event(), threading.Event()
        self.held: Snapshot | None = None

    def __call__(self, snapshot: Snapshot) -> None:
        here = snapshot.phase == "pull" and snapshot.object_type == self.object_type
        if self.held is None and here and snapshot.records > 0:
            self.held = snapshot
            self.reached.set()
            assert self.release.wait(60), "the test never released the cycle"


@contextmanager
def cycle_in_thread(
    engine: Engine, config: CycleConfig, options: CycleOptions, observers: list[Observer]
) -> Iterator[list[RunSummary]]:
    """A cycle running in a thread, its progress written to its row at every page (no throttle); yields the list its
    summary lands in, and joins the thread on the way out."""
    done: list[RunSummary] = []

    def work() -> None:
        done.append(run_cycle(engine, config, options, observers=observers, live_every_s=0))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        thread.join(120)
