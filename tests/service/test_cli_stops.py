"""Ctrl-C and SIGTERM on `kpi-sync sync`: a clean stop after the page in flight, recorded, exit 3."""

from __future__ import annotations

import signal
import subprocess
import time

import pytest
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from sync import runs
from sync.runs import RunOutcome
from tests.helpers import SYNC_CMD, free_port, wait_for, worker_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


def _sync_in_flight(sandbox: RunningSandbox, sqlite_url: str) -> subprocess.Popen[str]:
    """A `kpi-sync sync` whose first load is slow (50 ms a call), once it has sent a few calls."""
    sandbox.settings(latency_ms=50)
    # One request at a time: with several in flight this 450-record first load could end before the signal lands.
    env = worker_env(sandbox, sqlite_url, free_port(), HUBSPOT_MAX_IN_FLIGHT="1")
    process = subprocess.Popen(SYNC_CMD, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for(lambda: int(sandbox.stats()["total"]) >= 8, what="the first load to start")
    return process


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_one_signal_stops_after_the_page_in_flight_records_stopped_and_exits_3(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, sig: signal.Signals
) -> None:
    """The first Ctrl-C (or SIGTERM) lets the page in flight commit, records the run as stopped, exits 3."""
    process = _sync_in_flight(sandbox, sqlite_url)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 3, err
    (run,) = runs.recent_runs(sqlite_store, 1)
    assert run.outcome is RunOutcome.STOPPED
    assert "stopped on request" in (run.error or "")
    assert "Aborted!" not in err


def test_a_second_ctrl_c_stops_at_once_and_the_run_is_still_recorded_stopped(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Two Ctrl-Cs while a page takes seconds: out at once, exit 3, the run recorded as stopped, not running."""
    process = _sync_in_flight(sandbox, sqlite_url)
    sandbox.settings(latency_ms=120_000)  # the page in flight now takes minutes: only the second Ctrl-C ends it
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)  # waiting for the slow page would overrun this

    assert process.returncode == 3, err
    (run,) = runs.recent_runs(sqlite_store, 1)
    assert run.outcome is RunOutcome.STOPPED
