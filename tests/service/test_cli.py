"""The `kpi-sync` front door: configuration errors, the lock, the report."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import Engine

from service.lock import cycle_lock
from storage.engine import open_store
from sync.hubspot.constants import OBJECT_TYPES


def kpi_sync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the CLI as a user would, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def env(sqlite_url: str) -> dict[str, str]:
    """A minimal environment: a token (no HubSpot needed for these cases) and a SQLite store."""
    import os

    return {
        "PATH": os.environ.get("PATH", ""),
        "HUBSPOT_ACCESS_TOKEN": "pat-na1-cli-test-secret",
        "DATABASE_URL": sqlite_url,
        "HUBSPOT_BASE_URL": "http://127.0.0.1:9",
        "LOG_FORMAT": "json",
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("KPI_STALE_AFTER_DAYS", "0"),
        ("KPI_TIMEZONE", "Mars/Olympus"),
        ("KPI_CONTENT_PATH_PATTERN", "(unclosed"),
        ("DATABASE_URL", "mysql://x"),
        ("RECONCILE_CRON", "every night"),
        ("SYNC_EXTRA_PROPERTIES", "planets.name"),
    ],
)
def test_bad_setting_is_one_line_naming_the_variable(env: dict[str, str], name: str, value: str) -> None:
    """A bad value stops the command with exit 2 and one line that names the variable."""
    result = kpi_sync("sync", env=env | {name: value})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert name in result.stderr


def test_missing_token_is_named(env: dict[str, str]) -> None:
    """Without HUBSPOT_ACCESS_TOKEN, sync refuses to start and says which variable is missing."""
    result = kpi_sync("sync", env={k: v for k, v in env.items() if k != "HUBSPOT_ACCESS_TOKEN"})
    assert result.returncode == 2
    assert "HUBSPOT_ACCESS_TOKEN" in result.stderr


@pytest.mark.parametrize("command", [["sync"], ["resync", "--local"], ["resync"]])
def test_unknown_object_is_a_usage_error_naming_the_valid_objects(env: dict[str, str], command: list[str]) -> None:
    """`--objects foo` stops the command with exit 2 and a line naming `foo` and every valid object type; no cycle
    (nor a request to the worker) starts."""
    result = kpi_sync(*command, "--objects", "contacts,foo", env=env)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if "foo" in line]
    assert len(lines) == 1
    assert all(name in lines[0] for name in OBJECT_TYPES)
    assert "Traceback" not in result.stderr


def test_manual_sync_waits_for_no_one_while_a_worker_holds_the_lock(env: dict[str, str], sqlite_url: str) -> None:
    """A manual sync while a worker cycles is refused (exit 1), never run alongside it."""
    engine: Engine = open_store(sqlite_url)
    with cycle_lock(engine) as acquired:
        assert acquired
        result = kpi_sync("sync", env=env)
    engine.dispose()
    assert result.returncode == 1
    assert "busy" in result.stderr


def test_unreachable_hubspot_fails_the_run_without_showing_the_token(env: dict[str, str]) -> None:
    """When HubSpot cannot be reached the run fails (exit 1) and no output contains the token."""
    result = kpi_sync("sync", env=env | {"HUBSPOT_MAX_RETRIES": "1", "HUBSPOT_TIMEOUT_SECONDS": "2"})
    assert result.returncode == 1
    assert "pat-na1-cli-test-secret" not in result.stdout + result.stderr
