"""Tokens never leak: not in logs, exceptions, run history, or the repr of settings."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox
from storage import repo
from storage import tables as t
from sync.cycle import CycleOptions, run_cycle
from tests.helpers import settings_for

ADMIN_TOKEN = "admin-token-0123456789abcdef"


def test_settings_repr_hides_both_tokens(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """repr() and str() of Settings show neither the HubSpot nor the admin token."""
    settings = settings_for(sandbox, sqlite_url, kpi_sync_admin_token=ADMIN_TOKEN)
    text = repr(settings) + str(settings) + str(settings.model_dump())
    assert sandbox.token not in text
    assert ADMIN_TOKEN not in text


@pytest.mark.parametrize(
    "faults",
    [
        {"rate_429": 0.2, "rate_5xx": 0.1, "rate_malformed": 0.05, "rate_partial": 0.2, "seed": 3},
        {"rate_drop": 0.1, "rate_slow": 0.1, "slow_ms": 50, "seed": 4},
    ],
)
def test_a_faulty_run_never_shows_the_token(
    sandbox: RunningSandbox,
    sqlite_store: Engine,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    faults: dict[str, object],
) -> None:
    """Under injected faults, no log event, printed line or run-history row contains the token."""
    sandbox.settings(time_scale=0.05)
    sandbox.set_faults(**faults)
    settings = settings_for(sandbox, sqlite_url, kpi_sync_admin_token=ADMIN_TOKEN, hubspot_max_retries=3)
    with capture_logs() as events:
        summary = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions())
    out = capsys.readouterr()
    with sqlite_store.connect() as conn:
        history = [dict(r) for r in conn.execute(select(repo.table(t.SyncRun))).mappings()]
    everything = repr(events) + out.out + out.err + repr(history) + repr(summary)
    assert sandbox.token not in everything
    assert ADMIN_TOKEN not in everything


def test_rejected_token_error_names_the_variable_not_the_value(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A 401 says which variable holds the bad token, never the token itself."""
    wrong = "pat-na1-this-is-not-the-right-token"
    with capture_logs() as events:
        summary = run_cycle(
            sqlite_store, settings_for(sandbox, sqlite_url, hubspot_access_token=wrong).cycle_config(), CycleOptions()
        )
    assert "HUBSPOT_ACCESS_TOKEN" in (summary.error or "")
    assert wrong not in repr(events) + repr(summary)
