"""Shared fixtures: a fresh store on SQLite and on the machine's PostgreSQL, clean environment, structlog reset."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from storage.engine import open_store
from tests.helpers import PG_OK, create_pg_database, drop_pg_database

# Property tests are reproducible: derandomized (the same examples on every run of the same selection, no example
# database) and without a per-example deadline (the 2-core machine is shared). Each property sets its own
# `max_examples`, so that together they take about half a minute. `HYPOTHESIS_PROFILE=explore` draws fresh random
# examples on every run instead, and keeps failures in .hypothesis/ to replay them.
hypothesis_settings.register_profile(
    "ci", derandomize=True, database=None, deadline=None, max_examples=100, print_blob=True
)
hypothesis_settings.register_profile("explore", deadline=None, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test sees the developer's HubSpot, database or alert settings, or a `.env` file."""
    prefixes = ("HUBSPOT_", "KPI_", "SYNC_", "DATABASE_URL", "ADMIN_", "WRITEBACK_", "RECONCILE_", "ALERT_")
    for name in list(os.environ):
        if name.startswith(prefixes):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    yield
    structlog.reset_defaults()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a fresh, empty store: once on SQLite, once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.db'}"
        return
    if not PG_OK:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (CI must start it: see .ci/run)")
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    url = create_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """URL of a fresh SQLite store, for scenarios whose subject is not the dialect (run once, on the default)."""
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.db'}"


@pytest.fixture
def sqlite_store(sqlite_url: str) -> Iterator[Engine]:
    """A migrated SQLite store."""
    engine = open_store(sqlite_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """A migrated store engine on each dialect."""
    engine = open_store(store_url)
    yield engine
    engine.dispose()
