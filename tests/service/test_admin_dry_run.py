"""The admin API offers no dry run: a resync asking for one is refused, never run for real."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import Engine

from service.admin.api import create_app
from service.settings import load_settings
from tests.helpers import ADMIN_TOKEN, FakeWorker, serving


@pytest.fixture
def worker() -> FakeWorker:
    return FakeWorker()


@pytest.fixture
def client(sqlite_store: Engine, sqlite_url: str, worker: FakeWorker) -> Iterator[httpx.Client]:
    settings = load_settings(database_url=sqlite_url, kpi_sync_admin_token=ADMIN_TOKEN)
    with serving(create_app(sqlite_store, settings, worker)) as http:
        yield http


def test_a_resync_asking_for_a_dry_run_is_refused(client: httpx.Client, worker: FakeWorker) -> None:
    """POST /resync with `dry_run` in its body answers 422 naming the field, and no cycle is queued."""
    response = client.post("/resync", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, json={"dry_run": True})
    assert response.status_code == 422
    assert "dry_run" in response.text
    assert worker.requests == []
