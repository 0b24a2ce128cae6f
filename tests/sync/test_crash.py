"""The crash suite: `kpi-sync sync` processes killed with SIGKILL at random points lose and duplicate nothing.

Each run is a real process (forked by `crash_worker.py` from one interpreter that imported the CLI already) against
the in-process sandbox, slowed a little so a run lasts long enough to be killed in the middle of its work.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from hubspot import HubSpot
from sqlalchemy import Engine, func, select

from kpi.rows import parse_timestamp
from sandbox.constants import DISPOSITION_CONNECTED, DISPOSITION_NO_ANSWER
from sandbox.harness import RunningSandbox
from service.settings import Settings
from storage import repo
from storage import tables as t
from sync import runs
from sync.hubspot.constants import MODIFIED_PROPERTY, OBJECT_TYPES, SINGULAR
from sync.refresh.contacts import refresh
from tests.helpers import cycle, settings_for, stored, truth

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("crash_worker.py")
KILLED = -signal.SIGKILL
BATCH_UPDATE = "POST /crm/objects/{version}/{type}/batch/update"
# Database events (statements and commits) of a recompute with changed contacts, numbered as crash_worker.py counts
# them: 1 its first read, 10 the contact values' upsert, 12 the commit of the contacts' transaction, 13 the first
# read after it (values committed, aggregates not), 22 the aggregates' delete, 27 the commit of the aggregates'
# transaction, 28 the first event after the recompute (before the write-back).
RECOMPUTE_KILL_POINTS = (1, 10, 12, 13, 22, 27, 28)
CALL_TO_CONTACT = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 194}

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


class Forks:
    """Client of the fork server: start `kpi-sync` runs, kill them, learn how they ended."""

    def __init__(self, server: subprocess.Popen[str]) -> None:
        self.server = server
        self.live: set[int] = set()

    def _ask(self, request: str) -> str:
        assert self.server.stdin is not None
        assert self.server.stdout is not None
        self.server.stdin.write(request + "\n")
        self.server.stdin.flush()
        answer = self.server.stdout.readline().strip()
        assert answer, "the fork server died (see crash-worker.log)"
        return answer

    def run_until(self, args: list[str], due: Callable[[], bool], jitter: float = 0.0) -> int:
        """Start `kpi-sync <args>`; SIGKILL it once `due()` holds (plus `jitter` seconds); return its exit code."""
        pid = int(self._ask("run " + json.dumps(args)))
        self.live.add(pid)
        while self._ask(f"poll {pid}") == "running":
            if due():
                time.sleep(jitter)
                os.kill(pid, signal.SIGKILL)  # still our unreaped child, so the pid cannot be someone else's
                break
            time.sleep(0.005)
        code = int(self._ask(f"wait {pid}"))
        self.live.discard(pid)
        return code

    def run_dying(self, nth: int, args: list[str]) -> int:
        """Start `kpi-sync <args>` set to SIGKILL itself at the `nth` database event of its KPI recompute (see
        crash_worker.py); return its exit code."""
        pid = int(self._ask(f"run-dying {nth} " + json.dumps(args)))
        self.live.add(pid)
        code = int(self._ask(f"wait {pid}"))
        self.live.discard(pid)
        return code

    def close(self) -> None:
        """Kill any run still going, then stop the server."""
        for pid in self.live:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self.server.stdin is not None:
            self.server.stdin.close()
        try:
            self.server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
        if self.server.stdout is not None:
            self.server.stdout.close()


@contextmanager
def fork_server(
    sb: RunningSandbox, store_url: str, workdir: Path, *, writeback: bool, in_flight: int = 1
) -> Iterator[Forks]:
    """A fork server whose runs sync `sb` into `store_url`, configured only through the environment, with
    `in_flight` HubSpot requests at once; with more than one, list passes read id ranges of 500 records side by side
    (the small portal's large types in four or five ranges)."""
    env = dict(os.environ)
    env.update(
        HUBSPOT_ACCESS_TOKEN=sb.token,
        HUBSPOT_BASE_URL=sb.base_url,
        DATABASE_URL=store_url,
        SYNC_OVERLAP_SECONDS="2",
        HUBSPOT_MAX_RETRIES="12",
        HUBSPOT_RATE_LIMIT_PER_10S="250",
        HUBSPOT_SEARCH_PER_SECOND="10",
        HUBSPOT_MAX_IN_FLIGHT=str(in_flight),
        SYNC_LIST_RANGE_SIZE="500" if in_flight > 1 else "0",
        WRITEBACK_ENABLED=str(writeback).lower(),
        LOG_LEVEL="warning",
        LOG_FORMAT="json",
        PYTHONPATH=str(ROOT),
    )
    with (workdir / "crash-worker.log").open("w") as log:
        server = subprocess.Popen(
            [sys.executable, str(WORKER)],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        forks = Forks(server)
        try:
            yield forks
        finally:
            forks.close()


def after(seconds: float) -> Callable[[], bool]:
    """A condition that holds `seconds` from now."""
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() >= deadline


def batch_updates(sb: RunningSandbox) -> int:
    """Contact batch updates HubSpot has received (and applied) so far."""
    return sum(sb.stats()["by_route"].get(BATCH_UPDATE, {}).values())


def batches_reach(sb: RunningSandbox, count: int) -> Callable[[], bool]:
    """A condition that holds once HubSpot has applied `count` contact batch updates in all."""
    return lambda: batch_updates(sb) >= count


def missing_or_stale(engine: Engine, sb: RunningSandbox) -> dict[str, list[int]]:
    """Per object type, ids of records live in HubSpot that the store lacks or holds at another modification time."""
    out = {}
    with engine.connect() as conn:
        for object_type in OBJECT_TYPES:
            tbl = repo.table({"contacts": t.Contact, "deals": t.Deal}.get(object_type, t.Engagement))
            stmt = select(tbl.c.id, tbl.c.modified_at).where(tbl.c.archived.is_(False))
            if object_type in SINGULAR:
                stmt = stmt.where(tbl.c.type == SINGULAR[object_type])
            have = dict(conn.execute(stmt).all())
            modified = MODIFIED_PROPERTY[object_type]
            bad = [
                int(r["id"])
                for r in sb.export(object_type)
                if not r.get("archived") and have.get(int(r["id"])) != parse_timestamp(r["properties"].get(modified))
            ]
            if bad:
                out[object_type] = sorted(bad)
    return out


def runs_still_running(engine: Engine) -> int:
    """Rows of `sync_runs` that no run has closed."""
    runs = repo.table(t.SyncRun).c
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(runs.outcome == "running")).scalar_one())


@pytest.mark.parametrize("in_flight", [1, 4])
def test_killed_ten_times_during_pull_converges_to_the_exact_data(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, tmp_path: Path, in_flight: int
) -> None:
    """Ten runs killed at random moments while data moves lose nothing, and a reconcile then makes the store exact;
    with one request at a time and with four in flight (pages of several object types, and of several id ranges of
    one type, fetched at once)."""
    rng = random.Random(2026)
    sandbox.set_faults(rate_slow=1.0, slow_ms=20)
    kills, finished = 0, 0
    with fork_server(sandbox, sqlite_url, tmp_path, writeback=False, in_flight=in_flight) as forks:
        while kills < 10:
            assert kills + finished < 30, f"only {kills} of 30 runs were still going when their kill was due"
            if kills + finished and rng.random() < 0.6:
                sandbox.simulate(minutes=rng.randint(10, 120), seed=rng.randrange(1_000))
            args = ["sync", "--reconcile"] if rng.random() < 0.3 else ["sync"]
            code = forks.run_until(args, after(rng.uniform(0.05, 2.5)))
            assert code in (0, KILLED), f"`kpi-sync {' '.join(args)}` exited {code} (see crash-worker.log)"
            kills, finished = kills + (code == KILLED), finished + (code == 0)
    sandbox.set_faults()
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    cycle(sqlite_store, settings)  # may only finish a killed list pass: what changed during it is searched next run
    cycle(sqlite_store, settings)
    assert missing_or_stale(sqlite_store, sandbox) == {}  # deletions and re-associations wait for the reconcile
    cycle(sqlite_store, settings, reconcile=True)
    assert stored(sqlite_store) == truth(sandbox)  # association tables' primary keys rule out duplicate rows
    assert runs_still_running(sqlite_store) == 0


@pytest.mark.parametrize("in_flight", [1, 4])
def test_killed_during_write_back_resumes_without_losing_writes(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, tmp_path: Path, in_flight: int
) -> None:
    """Runs killed while writing back leave every value written and the ledger equal to what HubSpot holds; with one
    batch update at a time and with four in flight."""
    rng = random.Random(5)
    cycle(sqlite_store, settings_for(sandbox, sqlite_url, writeback_enabled=False))  # every contact now pending
    sandbox.set_faults(rate_slow=1.0, slow_ms=100)  # a batch is applied, then answered 100 ms later
    kills = 0
    with fork_server(sandbox, sqlite_url, tmp_path, writeback=True, in_flight=in_flight) as forks:
        for round_ in range(12):
            if kills == 5:
                break
            if round_ % 2:
                sandbox.simulate(minutes=rng.randint(30, 240), seed=rng.randrange(1_000))
            target = batch_updates(sandbox) + rng.randint(1, 2)
            code = forks.run_until(["sync"], batches_reach(sandbox, target), jitter=rng.uniform(0, 0.2))
            assert code in (0, KILLED), f"`kpi-sync sync` exited {code} (see crash-worker.log)"
            kills += code == KILLED
    assert kills == 5, f"only {kills} runs were still writing when their kill was due"
    sandbox.set_faults()
    cycle(sqlite_store, settings_for(sandbox, sqlite_url))
    cycle(sqlite_store, settings_for(sandbox, sqlite_url), reconcile=True)  # archived contacts refuse writes till then
    hubspot = {int(r["id"]): r["properties"] for r in sandbox.export("contacts") if not r.get("archived")}
    k, ledger = repo.table(t.ContactKpi).c, repo.table(t.WriteLedger).c
    with sqlite_store.connect() as conn:
        computed = dict(conn.execute(select(k.contact_id, k.properties)).all())
        pending = conn.execute(select(k.contact_id).where(k.push_pending.is_(True))).scalars().all()
        written = dict(conn.execute(select(ledger.contact_id, ledger.written)).all())
    assert computed
    assert pending == []
    recorded = {cid: {name: written.get(cid, {}).get(name, "") for name in props} for cid, props in computed.items()}
    assert _diverging(computed, hubspot) == {}
    assert _diverging(recorded, hubspot) == {}


def test_killed_during_kpi_recompute_restarts_to_the_fault_free_result(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, tmp_path: Path
) -> None:
    """Runs killed inside and between the recompute's transactions each restart to the KPI values and aggregates a
    recompute from scratch gives, all written to HubSpot, none pending; the store then equals HubSpot."""
    rng = random.Random(7)
    settings = settings_for(sandbox, sqlite_url)
    cycle(sqlite_store, settings)
    with fork_server(sandbox, sqlite_url, tmp_path, writeback=True) as forks:
        for nth in RECOMPUTE_KILL_POINTS:
            log_calls(sandbox, rng)
            code = forks.run_dying(nth, ["sync"])
            assert code == KILLED, f"the run set to die at recompute event {nth} exited {code} (see crash-worker.log)"
            cycle(sqlite_store, settings)  # the restart
            assert kpi_drift(sqlite_store, settings) == {}, f"after a kill at recompute event {nth}"
            assert left_behind(sqlite_store) == {}, f"after a kill at recompute event {nth}"
            assert _diverging(computed_values(sqlite_store), live_values(sandbox)) == {}
    cycle(sqlite_store, settings, reconcile=True)
    cycle(sqlite_store, settings)  # reads back what the reconcile's write-back changed
    assert stored(sqlite_store) == truth(sandbox)
    assert runs_still_running(sqlite_store) == 0


def log_calls(sb: RunningSandbox, rng: random.Random, n: int = 12) -> None:
    """Reps log `n` outbound calls with contacts through the API: contact values and aggregates move, no deal does
    (a changed deal would make the next run refresh the aggregates anyway)."""
    owners = {r["id"]: r["properties"].get("hubspot_owner_id") for r in sb.export("contacts") if not r.get("archived")}
    now = int(time.time() * 1000)
    inputs = [
        {
            "properties": {
                "hs_timestamp": str(now - rng.randint(0, 3_600_000)),
                "hs_call_direction": "OUTBOUND",
                "hs_call_disposition": rng.choice((DISPOSITION_CONNECTED, DISPOSITION_NO_ANSWER)),
                "hubspot_owner_id": owners[contact] or "",
            },
            "associations": [{"to": {"id": contact}, "types": [CALL_TO_CONTACT]}],
        }
        for contact in rng.sample(sorted(owners), n)
    ]
    HubSpot(access_token=sb.token, host=sb.base_url).crm.objects.batch_api.create("calls", {"inputs": inputs})


def kpi_drift(engine: Engine, settings: Settings) -> dict[str, list[object]]:
    """What a recompute of every contact and aggregate from scratch changes: contacts and aggregate keys, a few."""
    before = _kpi_rows(engine)
    refresh(engine, settings.kpi_config(), runs.now_ms(), full=True)
    after = _kpi_rows(engine)
    return {
        name: sorted(k for k in before[name].keys() | after[name].keys() if before[name].get(k) != after[name].get(k))[
            :5
        ]
        for name in before
        if before[name] != after[name]
    }


def _kpi_rows(engine: Engine) -> dict[str, dict[Any, Any]]:
    k, a = repo.table(t.ContactKpi).c, repo.table(t.KpiAggregate).c
    with engine.connect() as conn:
        contacts = {r[0]: (r[1], r[2]) for r in conn.execute(select(k.contact_id, k.properties, k.facts))}
        aggregates = {tuple(r[:4]): r[4] for r in conn.execute(select(a.kpi, a.scope, a.scope_id, a.period, a.metrics))}
    return {"contact_kpis": contacts, "kpi_aggregates": aggregates}


def left_behind(engine: Engine) -> dict[str, int]:
    """Work a finished cycle must not leave: dirty contacts or deals, values not yet written."""
    k = repo.table(t.ContactKpi).c
    with engine.connect() as conn:
        counts = {
            "dirty_contacts": conn.execute(select(func.count()).select_from(repo.table(t.DirtyContact))).scalar_one(),
            "dirty_deals": conn.execute(select(func.count()).select_from(repo.table(t.DirtyDeal))).scalar_one(),
            "push_pending": conn.execute(select(func.count()).where(k.push_pending.is_(True))).scalar_one(),
        }
    return {name: int(n) for name, n in counts.items() if n}


def computed_values(engine: Engine) -> dict[int, dict[str, str]]:
    """The KPI values the store computed, per contact."""
    k = repo.table(t.ContactKpi).c
    with engine.connect() as conn:
        return {cid: dict(props) for cid, props in conn.execute(select(k.contact_id, k.properties))}


def live_values(sb: RunningSandbox) -> dict[int, dict[str, str]]:
    """Properties HubSpot holds per live contact."""
    return {int(r["id"]): r["properties"] for r in sb.export("contacts") if not r.get("archived")}


def _diverging(
    expected: dict[int, dict[str, str]], hubspot: dict[int, dict[str, str]]
) -> dict[int, dict[str, str | None]]:
    """Per live contact, the properties whose HubSpot value differs from `expected` (HubSpot's value shown)."""
    out: dict[int, dict[str, str | None]] = {}
    for cid, props in expected.items():
        if cid in hubspot:
            differ = {
                name: hubspot[cid].get(name)
                for name, value in props.items()
                if _normal(name, hubspot[cid].get(name)) != value
            }
            if differ:
                out[cid] = differ
    return out


def _normal(name: str, value: str | None) -> str:
    """HubSpot answers datetime properties in ISO form; we write epoch milliseconds."""
    if value and name.endswith("_at") and not value.isdigit():
        return str(parse_timestamp(value))
    return value or ""
