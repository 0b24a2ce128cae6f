"""Database faults: the store disappears in the middle of a first load. The run fails with one clear line, every page
committed before the loss has its cursor and no page is half there, and the next run, with the database back,
catches up to exactly what HubSpot holds.

PostgreSQL runs as a private server of this module (initdb in a temporary directory, its own port), so stopping it
does not disturb the shared server other tests use. On SQLite the store's files become unwritable (immutable).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox
from storage import repo
from storage import tables as t
from storage.engine import open_store
from sync import runs
from sync.cursor import Cursor, Shard
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.hubspot.constants import OBJECT_TYPES, SINGULAR
from tests.helpers import cycle, settings_for, stored, truth

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LIST_ROUTE = "GET /crm/objects/{version}/{type}"
# Of the small portal's 68 list pages, fetched eight at once: some committed, most of the pass still to come.
PAGES_BEFORE_THE_LOSS = 30
PG_CTL = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))


class PrivateServer:
    """A PostgreSQL server of our own in a temporary directory, started and stopped at will."""

    def __init__(self, bindir: Path, root: Path, port: int) -> None:
        self.bindir, self.root, self.port = bindir, root, port
        self.data = root / "data"
        self.up = False

    def _as_owner(self, *command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []  # initdb refuses to run as root
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        """Create the cluster (trust authentication, no fsync: it is thrown away)."""
        self._as_owner(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        )

    def start(self) -> None:
        """Start serving on 127.0.0.1:port and wait until it accepts connections (if not serving already)."""
        if self.up:
            return
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._as_owner(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )
        self.up = True

    def stop(self) -> None:
        """Stop at once, as a crash or a lost host would: open transactions are simply gone."""
        if not self.up:
            return
        self._as_owner(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        self.up = False

    def new_database(self) -> str:
        """URL of a new empty database on this server."""
        name = f"kpi_{int(time.time() * 1000)}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivateServer]:
    """A private PostgreSQL server for this module (skipped where no server binaries are installed)."""
    if not PG_CTL:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin (initdb, pg_ctl)")
    if os.geteuid() == 0 and not _has_user("postgres"):
        pytest.skip("running as root, and there is no `postgres` user to run initdb and the server as")
    root = Path(tempfile.mkdtemp(prefix="kpi-pg-"))  # not under pytest's root-only directory: postgres must enter
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    server = PrivateServer(Path(PG_CTL[-1]).parent, root, free_port())
    try:
        server.init()
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def list_pages(sb: RunningSandbox) -> int:
    """List pages the sandbox has served so far."""
    return sum(sb.stats()["by_route"].get(LIST_ROUTE, {}).values())


def when(condition: Callable[[], bool], action: Callable[[], object]) -> threading.Thread:
    """A thread that runs `action` once `condition` holds."""

    def watch() -> None:
        while not condition():
            time.sleep(0.005)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def run_losing_the_database(
    engine: Engine, sb: RunningSandbox, store_url: str, lose: Callable[[], object]
) -> tuple[RunSummary, list[MutableMapping[str, Any]]]:
    """A first load during which `lose()` takes the database away; the summary and the log entries."""
    sb.set_faults(rate_slow=1.0, slow_ms=30)  # pages take a while, so the loss lands in the middle of the load
    watcher = when(lambda: list_pages(sb) >= PAGES_BEFORE_THE_LOSS, lose)
    with capture_logs() as logs:
        summary = run_cycle(engine, settings_for(sb, store_url).cycle_config(), CycleOptions())
    watcher.join()
    sb.set_faults()
    return summary, logs


def half_committed(engine: Engine, sb: RunningSandbox) -> dict[str, object]:
    """Per object type, where the store's rows and its cursor disagree: rows must be exactly the live records each id
    range of the list pass has listed (all of them once the list pass is done, none before it starts)."""
    problems: dict[str, object] = {}
    with engine.connect() as conn:
        for object_type in OBJECT_TYPES:
            cursor = repo.get_cursor(conn, object_type)
            shards = Cursor.from_row(cursor).list_shards
            tbl = repo.table({"contacts": t.Contact, "deals": t.Deal}.get(object_type, t.Engagement))
            stmt = select(tbl.c.id)
            if object_type in SINGULAR:
                stmt = stmt.where(tbl.c.type == SINGULAR[object_type])
            have = sorted(conn.execute(stmt).scalars())
            live = sorted(int(r["id"]) for r in sb.export(object_type) if not r.get("archived"))
            if cursor["phase"] == "incremental":
                expected = live
            else:
                expected = [i for i in live if any(listed(s, i) for s in shards)]
            if have != expected:
                problems[object_type] = {"cursor": shards, "rows": len(have), "expected": len(expected)}
    return problems


def listed(shard: Shard, record_id: int) -> bool:
    """Whether an id range of a list pass has listed this record: it lies in the range, before where it stands."""
    start, end = int(shard.start or 0), shard.end if shard.end is not None else float("inf")
    upto = end if shard.done else min(end, int(shard.after) if shard.after else start)
    return start <= record_id < upto


def cut_mid_list(engine: Engine) -> list[str]:
    """Object types whose list pass the loss interrupted (rows of some pages stored, a cursor to go on from)."""
    with engine.connect() as conn:
        cursors = [Cursor.from_row(repo.get_cursor(conn, o)) for o in OBJECT_TYPES]
    return [c.object_type for c in cursors if c.list_after or any(s.after for s in c.list_shards)]


def assert_failed_cleanly(summary: RunSummary, logs: list[MutableMapping[str, Any]], token: str) -> None:
    """The run failed with one line naming the database, no token, and no traceback in the logs."""
    assert summary.outcome == "failed"
    error = summary.error or ""
    assert error.startswith("database error: ")
    assert "\n" not in error
    assert token not in error
    assert [e for e in logs if "exc_info" in e or "exception" in e] == []
    assert [e["error"] for e in logs if e["event"] == "cycle_finished"] == [error]


def assert_recorded_as_failed(engine: Engine, summary: RunSummary) -> None:
    """The run history shows the lost run as failed with its database error, nothing still running."""
    history = {r.id: r for r in runs.recent_runs(engine, 10)}
    assert (history[summary.run_id].outcome, history[summary.run_id].error) == ("failed", summary.error)
    assert [r.id for r in history.values() if r.outcome == "running"] == []


@dataclass
class LosableStore:
    """A migrated store, and how to take its database away and bring it back."""

    url: str
    engine: Engine
    lose: Callable[[], object]
    bring_back: Callable[[], object]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def losable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LosableStore]:
    """PostgreSQL: the private server stops at once and starts again. SQLite: the store's files turn immutable (not
    even root writes them) and writable again."""
    if request.param == "postgres":
        server: PrivateServer = request.getfixturevalue("private_pg")
        url = server.new_database()
        store = LosableStore(url, open_store(url), server.stop, server.start)
    else:
        path = tmp_path / "store.db"
        files = [str(path), f"{path}-wal"]
        store = LosableStore(
            f"sqlite:///{path}",
            open_store(f"sqlite:///{path}"),
            lambda: immutable(files, True),
            lambda: immutable(files, False),
        )
        if not immutable(files, True) or not immutable(files, False):
            pytest.skip("this filesystem cannot make files immutable (chattr +i)")
    yield store
    store.bring_back()
    store.engine.dispose()


def immutable(files: list[str], on: bool) -> bool:
    """Make files immutable or writable again; False where the filesystem cannot."""
    return subprocess.run(["chattr", "+i" if on else "-i", *files], check=False, capture_output=True).returncode == 0


def test_database_gone_mid_run_fails_cleanly_and_the_next_run_catches_up(
    losable_store: LosableStore, sandbox: RunningSandbox
) -> None:
    """The database lost during a first load: one clear line, nothing half committed; once back, the run is exact."""
    store = losable_store
    summary, logs = run_losing_the_database(store.engine, sandbox, store.url, store.lose)
    assert_failed_cleanly(summary, logs, sandbox.token)
    store.bring_back()
    assert cut_mid_list(store.engine) != []
    assert half_committed(store.engine, sandbox) == {}
    cycle(store.engine, settings_for(sandbox, store.url, writeback_enabled=False))
    assert stored(store.engine) == truth(sandbox)
    assert_recorded_as_failed(store.engine, summary)
