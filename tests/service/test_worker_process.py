"""The worker as a real process: SIGTERM mid-cycle leaves a consistent store, two workers on one PostgreSQL never
overlap, a cycle killed with SIGKILL leaves no lock behind, and the CLI (`resync`, `check`, `run`) talks to the worker
and to the store as documented."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from sandbox.harness import RunningSandbox
from service.cli.worker import check, resync, run
from service.lock import cycle_lock
from storage import repo
from storage import tables as t
from storage.engine import make_engine, open_store
from sync import runs
from sync.cycle import CycleOptions, run_cycle
from sync.runs import RunCounts, RunOutcome
from tests.helpers import (
    ADMIN_TOKEN,
    PG_OK,
    SYNC_CMD,
    WORKER_CMD,
    create_pg_database,
    drop_pg_database,
    free_port,
    make_counts,
    sandbox_settings,
    wait_for,
    worker_env,
)

pytestmark = pytest.mark.timeout(90)


@contextmanager
def worker_process(env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """`kpi-sync run` in a subprocess; SIGTERM and reaped on exit if still running."""
    process = subprocess.Popen(WORKER_CMD, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=30)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> str:
    """SIGTERM, wait, and return stderr (the structured log)."""
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=timeout)
    return stderr.decode()


def all_runs(engine: Engine) -> list[runs.RunRecord]:
    return runs.recent_runs(engine, 500)


def contact_ids(engine: Engine) -> set[int]:
    contacts = repo.table(t.Contact)
    with engine.connect() as conn:
        return set(conn.execute(select(contacts.c.id).where(contacts.c.archived.is_(False))).scalars())


def test_sigterm_mid_cycle_leaves_a_consistent_store(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """SIGTERM during a cycle: the process exits 0, the run is closed as stopped, and a restart completes the
    pull from the committed cursors to exactly the sandbox's contacts."""
    sandbox.set_faults(rate_slow=1.0, slow_ms=80)
    engine = open_store(sqlite_url)
    try:
        with worker_process(worker_env(sandbox, sqlite_url, free_port(), SYNC_INTERVAL_MINUTES="60")) as process:
            wait_for(lambda: any(r.outcome == "running" for r in all_runs(engine)), what="a running cycle")
            time.sleep(0.3)
            log = stop(process)
        assert process.returncode == 0, log[-2000:]
        assert "worker_stopping" in log
        assert [r.outcome for r in all_runs(engine)] == ["stopped"]
        sandbox.set_faults()
        resumed = run_cycle(engine, sandbox_settings(sandbox, sqlite_url).cycle_config(), CycleOptions(trigger="cli"))
        assert resumed.outcome == "ok", resumed.error
        truth = {int(c["id"]) for c in sandbox.export("contacts") if not c.get("archived")}
        assert contact_ids(engine) == truth
    finally:
        engine.dispose()


def test_a_sync_killed_with_sigkill_does_not_block_the_next_one(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """`kpi-sync sync` killed with SIGKILL mid-cycle leaves no lock behind on SQLite: the next sync runs at once
    (not "busy"), closes the killed run as failed and completes."""
    sandbox.set_faults(rate_slow=1.0, slow_ms=60)
    env = worker_env(sandbox, sqlite_url, free_port())
    engine = open_store(sqlite_url)
    try:
        killed = subprocess.Popen(SYNC_CMD, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: any(r.outcome == "running" for r in all_runs(engine)), what="a running cycle")
        with cycle_lock(engine) as while_running:
            assert not while_running, "the running sync holds the cycle lock"
        killed.kill()
        assert killed.wait(timeout=30) == -signal.SIGKILL
        sandbox.set_faults()
        after = subprocess.run(SYNC_CMD, env=env, capture_output=True, text=True, timeout=60, check=False)
        assert after.returncode == 0, after.stderr[-2000:]
        outcomes = [(r.outcome, r.error) for r in sorted(all_runs(engine), key=lambda r: r.id)]
        assert outcomes == [("failed", "process ended before the run finished"), ("ok", None)]
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_workers_on_one_postgres_never_overlap(sandbox: RunningSandbox) -> None:
    """Two worker processes on one database: cycles strictly one after another, the loser of the lock skips."""
    if not PG_OK:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (CI must start it: see .ci/run)")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = create_pg_database()
    open_store(url).dispose()
    engine = make_engine(url)
    try:
        envs = [worker_env(sandbox, url, free_port()) for _ in range(2)]
        with worker_process(envs[0]) as first, worker_process(envs[1]) as second:
            wait_for(lambda: sum(r.outcome != "running" for r in all_runs(engine)) >= 3, timeout=45, what="cycles")
            first.send_signal(signal.SIGTERM)
            logs = stop(second) + first.communicate(timeout=30)[1].decode()
        done = sorted(all_runs(engine), key=lambda r: r.started_at)
        assert [(r.outcome, r.error) for r in done if r.outcome not in ("ok", "stopped")] == []
        clashes = [(a.id, b.id) for a, b in itertools.pairwise(done) if b.started_at < (a.finished_at or 0)]
        assert clashes == []
        assert "another worker holds the cycle lock" in logs
    finally:
        engine.dispose()
        drop_pg_database(url)


def test_cli_resync_reaches_the_worker_and_is_queued_when_busy(
    sandbox: RunningSandbox, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kpi-sync resync` during a cycle is queued behind it; the worker then runs it with trigger cli."""
    sandbox.set_faults(rate_slow=1.0, slow_ms=60)
    port = free_port()
    env = worker_env(sandbox, sqlite_url, port, SYNC_INTERVAL_MINUTES="60")
    engine = make_engine(sqlite_url)
    for name in ("DATABASE_URL", "KPI_SYNC_ADMIN_TOKEN", "ADMIN_PORT"):
        monkeypatch.setenv(name, env[name])
    with worker_process(env) as process:
        wait_for(lambda: any(r.outcome == "running" for r in all_runs(engine)), what="the first cycle")
        result = CliRunner().invoke(resync, ["--objects", "contacts"])
        assert result.exit_code == 0, result.output
        assert result.output.strip() == "resync queued behind the running cycle"
        sandbox.set_faults()
        wait_for(lambda: any(r.trigger == "cli" and r.outcome == "ok" for r in all_runs(engine)), what="resync")
        stop(process)
    triggers = [(r.trigger, r.kind) for r in sorted(all_runs(engine), key=lambda r: r.id)]
    assert triggers == [("schedule", "sync"), ("cli", "sync")]
    engine.dispose()


@pytest.mark.parametrize(
    ("env", "code", "message"),
    [
        ({"KPI_SYNC_ADMIN_TOKEN": "wrong-token-0123456789-abcdef"}, 2, "refused the resync: HTTP 401"),
        ({"ADMIN_PORT": "1"}, 1, "worker not reachable"),
        ({"KPI_SYNC_ADMIN_TOKEN": ""}, 2, "KPI_SYNC_ADMIN_TOKEN"),
    ],
)
def test_cli_resync_failures_are_one_line_with_a_meaningful_exit_code(
    sqlite_store: Engine, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], code: int, message: str
) -> None:
    """A refused token, no worker listening, or no token at all: one line on stderr and exit 2, 1, 2."""
    from fastapi import FastAPI

    from service.admin.api import create_app
    from service.admin.server import AdminServer
    from service.settings import load_settings

    settings = load_settings(database_url=str(sqlite_store.url), kpi_sync_admin_token=ADMIN_TOKEN)
    app: FastAPI = create_app(sqlite_store, settings, None)
    server = AdminServer(app, "127.0.0.1", 0)
    server.start()
    try:
        monkeypatch.setenv("DATABASE_URL", str(sqlite_store.url))
        monkeypatch.setenv("ADMIN_PORT", str(server.port))
        monkeypatch.setenv("KPI_SYNC_ADMIN_TOKEN", ADMIN_TOKEN)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        if env.get("KPI_SYNC_ADMIN_TOKEN") == "":
            monkeypatch.delenv("KPI_SYNC_ADMIN_TOKEN")
        result = CliRunner().invoke(resync, [])
    finally:
        server.stop()
    assert result.exit_code == code
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert ADMIN_TOKEN not in result.output


def test_local_resync_runs_in_process_under_the_lock(
    sandbox: RunningSandbox, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`resync --local` runs the cycle here (trigger cli); while another holder has the lock it refuses, exit 1."""
    for name, value in worker_env(sandbox, sqlite_url, free_port()).items():
        monkeypatch.setenv(name, value)
    engine = open_store(sqlite_url)
    with cycle_lock(engine):
        busy = CliRunner().invoke(resync, ["--local", "--objects", "contacts"])
    assert busy.exit_code == 1
    assert "busy" in busy.output
    result = CliRunner().invoke(resync, ["--local", "--objects", "contacts,deals", "--full"])
    assert result.exit_code == 0, result.output
    (only,) = all_runs(engine)
    assert (only.trigger, only.kind, only.outcome) == ("cli", "full", "ok")
    engine.dispose()


def test_check_follows_database_and_last_cycle(sqlite_store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """`check`: 0 on a reachable store, 1 after a failed cycle or with a bad setting (never Docker's reserved 2)."""
    monkeypatch.setenv("DATABASE_URL", str(sqlite_store.url))
    assert CliRunner().invoke(check, []).exit_code == 0
    run_id = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(sqlite_store, run_id, RunOutcome.FAILED, counts=RunCounts(), error="HubSpot refused the token (401)")
    failed = CliRunner().invoke(check, [])
    assert failed.exit_code == 1
    assert failed.output.strip() == f"unhealthy: last cycle failed (run {run_id}): HubSpot refused the token (401)"
    monkeypatch.setenv("SYNC_INTERVAL_MINUTES", "-1")
    bad = CliRunner().invoke(check, [])
    assert bad.exit_code == 1
    assert "SYNC_INTERVAL_MINUTES" in bad.output


def test_run_without_a_hubspot_token_fails_fast(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """`run` with no HUBSPOT_ACCESS_TOKEN exits 2 at once with one line naming it."""
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    result = CliRunner().invoke(run, [])
    assert result.exit_code == 2
    assert result.output.strip().startswith("configuration error: HUBSPOT_ACCESS_TOKEN")


def test_status_prints_runs_cursors_and_budget(sqlite_store: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """`status` prints the run history, the cursors and today's API calls; `--json` the status document."""
    from service.cli.worker import status

    monkeypatch.setenv("DATABASE_URL", str(sqlite_store.url))
    run_id = runs.open_run(sqlite_store, runs.RunKind.FULL, "api", runs.now_ms())
    runs.close_run(sqlite_store, run_id, RunOutcome.OK, counts=make_counts(fetched={"contacts": 9}, api_calls=12))
    with sqlite_store.begin() as conn:
        repo.save_cursor(conn, {"object_type": "contacts", "phase": "incremental", "high_water": 1_700_000_000_000})
    text = CliRunner().invoke(status, [])
    assert text.exit_code == 0, text.output
    assert "full  api      ok" in text.output
    assert "contacts  incremental  2023-11-14T22:13:20" in text.output
    assert "API calls today: 12 of 500000" in text.output
    document = CliRunner().invoke(status, ["--json"])
    assert '"used_today": 12' in document.output
