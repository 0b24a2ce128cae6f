"""The admin API fuzzed against its own OpenAPI document (schemathesis, in process over ASGI): every operation, as an
admin, as a caller without a token and with the admin API disabled, answers without a server error and as documented
(status code, content type, headers and body schema), for valid and invalid requests alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service.admin.api import create_app
from service.settings import Settings, load_settings
from storage.engine import make_engine
from sync import runs
from sync.runs import RunOutcome
from tests.helpers import ADMIN_TOKEN, FakeWorker, copy_store, make_counts

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
# Bounded and reproducible: the same examples on every run, few enough that the module takes well under a minute.
FUZZ = settings(
    max_examples=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
CALLERS = {
    "admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
    "no-token": {},
    "disabled": {"Authorization": f"Bearer {ADMIN_TOKEN}"},  # sent to an app with no admin token configured
}


def openapi_document() -> dict[str, Any]:
    """The admin API's OpenAPI document: it depends on the routes only, not on the store or the settings' values."""
    return create_app(make_engine("sqlite://"), Settings.model_construct()).openapi()


SCHEMA = schemathesis.openapi.from_dict(openapi_document())


@pytest.fixture(scope="module")
def apps(tmp_path_factory: pytest.TempPathFactory, migrated_sqlite: Path) -> Iterator[dict[str, FastAPI]]:
    """The app per caller, over one store that holds a finished run (so `/runs/{run_id}` can find one)."""
    url = copy_store(migrated_sqlite, tmp_path_factory.mktemp("fuzz"))
    engine = make_engine(url)
    run_id = runs.open_run(engine, runs.RunKind.SYNC, "schedule", runs.now_ms())
    runs.close_run(engine, run_id, RunOutcome.OK, counts=make_counts(fetched={"contacts": 3}, api_calls=4))
    with_token = create_app(engine, load_settings(database_url=url, kpi_sync_admin_token=ADMIN_TOKEN), FakeWorker())
    without_token = create_app(engine, load_settings(database_url=url), FakeWorker())
    yield {"admin": with_token, "no-token": with_token, "disabled": without_token}
    engine.dispose()


@pytest.mark.parametrize("caller", list(CALLERS))
@SCHEMA.parametrize()
@FUZZ
def test_every_operation_answers_as_documented(case: Case[Any], caller: str, apps: dict[str, FastAPI]) -> None:
    """No 5xx from any generated request, and each answer's status, media type, headers and body match the schema."""
    case.call_and_validate(app=apps[caller], headers=CALLERS[caller], checks=CHECKS)
