"""Fixtures of the service tests: a sandbox, settings pointing at it, a SQLite store, a worker's environment, and a
stand-in for the worker behind the admin API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox, run_sandbox
from storage.engine import open_store
from tests.helpers import (
    copy_store,
)


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A small HubSpot sandbox: no index lag, so every cycle sees what the previous one wrote."""
    with run_sandbox(seed=11, contacts=40, index_lag_ms=0) as sb:
        yield sb


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated, empty SQLite store file to copy (migrating once per session keeps tests fast)."""
    path = tmp_path_factory.mktemp("template") / "store.db"
    open_store(f"sqlite:///{path}").dispose()
    return path


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
