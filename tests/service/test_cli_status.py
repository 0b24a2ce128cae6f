"""What the CLI tells about runs: `kpi-sync sync` logs its progress off a terminal, `status --run ID` shows one run's
options and detail, and `check` (like `/readyz`) is not healthy after a stopped or failed run."""

from __future__ import annotations

import io
import json
import re
import subprocess

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from service.admin.api import create_app
from service.cli import main
from service.cli.progress import progress_display
from service.settings import load_settings
from sync import runs
from sync.cycle import CycleOptions, run_cycle
from sync.hubspot.constants import OBJECT_TYPES
from sync.runs import CANCELLED, RunCounts, RunOutcome
from tests.helpers import SYNC_CMD, FakeWorker, free_port, sandbox_settings, serving, worker_env

pytestmark = pytest.mark.timeout(180)


def test_a_sync_off_a_terminal_logs_progress_lines_for_every_object(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """`kpi-sync sync` with its standard error piped logs `sync_progress` lines (phase, object, records, calls): at
    least one for every object type, the last of each with records read."""
    env = worker_env(sandbox, sqlite_url, free_port())
    done = subprocess.run(SYNC_CMD, env=env, capture_output=True, text=True, timeout=150, check=False)

    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.startswith("{")]
    progress = [line for line in lines if line["event"] == "sync_progress"]
    pulled = {line["object"]: line for line in progress if line["phase"] == "pull"}
    assert set(OBJECT_TYPES) <= set(pulled)
    assert {"phase", "object", "records", "calls"} <= set(progress[0])
    assert pulled["contacts"]["calls"] > 0


class Terminal(io.StringIO):
    """Standard error as a terminal would be: says it is a TTY, keeps what is written."""

    def isatty(self) -> bool:
        return True


def test_a_sync_on_a_terminal_draws_a_bar_per_object_with_its_records(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """On a terminal the progress is drawn (rich), one bar per phase and object, each pulled object's with its
    final record count and its API calls; no `sync_progress` log line is written there."""
    terminal = Terminal()
    config = sandbox_settings(sandbox, sqlite_url).cycle_config()
    with progress_display(terminal) as show:
        summary = run_cycle(sqlite_store, config, CycleOptions(objects=("contacts", "deals")), observers=[show])

    drawn = terminal.getvalue()
    assert summary.outcome is RunOutcome.OK, summary.error
    for name in ("contacts", "deals"):
        fetched = summary.counts.pull.fetched[name]
        assert re.search(rf"pull {name}\s.*{fetched}/{fetched}", drawn), name
    assert "push contacts" in drawn
    assert "calls" in drawn
    assert "sync_progress" not in drawn


def test_status_run_prints_the_runs_options_trigger_and_detail(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """`status --run ID` after `kpi-sync sync --full --objects contacts,deals`: the options as asked and who asked,
    the outcome, per-object counts, phases and the calls by endpoint."""
    env = worker_env(sandbox, sqlite_url, free_port())
    runner = CliRunner()
    synced = runner.invoke(main, ["sync", "--full", "--objects", "contacts,deals"], env=env)
    assert synced.exit_code == 0, synced.output

    shown = runner.invoke(main, ["status", "--run", "1"], env=env)

    assert shown.exit_code == 0, shown.output
    text = shown.output
    assert "Run 1: full, ok" in text
    assert "objects=contacts,deals" in text
    assert "full=True" in text
    assert "dry_run=False" in text
    assert "trigger=cli" in text
    assert "requested_by=" in text
    assert "list:contacts" in text
    assert "Phases" in text
    assert "pull" in text
    assert "Faults: none" in text
    record = runs.get_run(sqlite_store, 1)
    assert record is not None
    contacts = next(line for line in text.splitlines() if line.startswith("contacts "))
    assert contacts.split()[1] == str(record.counts.pull.fetched["contacts"]) != "0"
    assert runner.invoke(main, ["status", "--run", "2"], env=env).exit_code == 1


@pytest.mark.parametrize(
    ("outcome", "error", "reason"),
    [
        (RunOutcome.STOPPED, CANCELLED, "last cycle stopped (cancelled)"),
        (RunOutcome.STOPPED, "stopped on request after the last committed page", "last cycle stopped"),
        (RunOutcome.FAILED, "HubSpot refused the token (401)", "last cycle failed"),
    ],
    ids=["cancelled", "stopped", "failed"],
)
def test_check_and_readyz_are_not_healthy_after_a_stopped_or_failed_run(
    sqlite_store: Engine, outcome: RunOutcome, error: str, reason: str
) -> None:
    """`check` exits 1 naming the run and why; `/readyz` answers 503 with the reason (no error text); a run that
    completes afterwards makes both healthy again."""
    run_id = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(sqlite_store, run_id, outcome, counts=RunCounts(), error=error)
    env = {"DATABASE_URL": str(sqlite_store.url)}
    settings = load_settings(database_url=str(sqlite_store.url))

    checked = CliRunner().invoke(main, ["check"], env=env)
    with serving(create_app(sqlite_store, settings, FakeWorker())) as http:
        ready = http.get("/readyz")
        later = runs.open_run(sqlite_store, runs.RunKind.SYNC, "schedule", runs.now_ms())
        runs.close_run(sqlite_store, later, RunOutcome.OK, counts=RunCounts())
        recovered: httpx.Response = http.get("/readyz")

    assert checked.exit_code == 1
    assert checked.output.startswith(f"unhealthy: {reason} (run {run_id}): {error}")
    assert ready.status_code == 503
    assert ready.json() == {"ready": False, "reason": f"{reason} (run {run_id})"}
    assert recovered.status_code == 200
    assert CliRunner().invoke(main, ["check"], env=env).exit_code == 0
