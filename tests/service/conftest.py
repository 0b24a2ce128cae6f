"""Fixtures of the service tests: a sandbox, settings pointing at it, a SQLite store, a worker's environment, and a
stand-in for the worker behind the admin API."""

from __future__ import annotations

import os
import shutil
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox, run_sandbox
from service.metrics import Metrics
from service.worker import describe
from storage.engine import open_store
from sync.config import Settings, load_settings
from sync.cycle import CycleOptions

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


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A small HubSpot sandbox: no index lag, so every cycle sees what the previous one wrote."""
    with run_sandbox(seed=11, contacts=40, index_lag_ms=0) as sb:
        yield sb


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


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite store file to copy (migrating once per session keeps tests fast)."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


def copy_store(template: Path, folder: Path) -> str:
    """URL of a fresh, migrated SQLite store file in `folder`, copied from the migrated `template`."""
    path = folder / "store.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sqlite_url(tmp_path: Path, migrated_sqlite: Path) -> str:
    """URL of a fresh, migrated SQLite store file."""
    return copy_store(migrated_sqlite, tmp_path)


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite store."""
    engine = open_store(sqlite_url)
    yield engine
    engine.dispose()


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
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
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
