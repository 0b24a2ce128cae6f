"""HubSpot's date-versioned API: every request of every kind of cycle is on it, and a numbered call is named."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox
from service.settings import load_settings
from sync.errors import ConfigError
from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import RequestError
from tests.helpers import cycle, settings_for

pytestmark = pytest.mark.slow


def _assert_only(sb: RunningSandbox, version: str) -> None:
    stats = sb.stats()
    assert stats["by_family"]["numbered"] == 0, stats["numbered_routes"]
    assert set(stats["by_version"]) == {version}


@pytest.mark.parametrize("version", ["2026-09", "2026-03"])
def test_every_kind_of_cycle_sends_only_date_versioned_calls(
    sqlite_store: Engine, sqlite_url: str, sandbox: RunningSandbox, version: str
) -> None:
    """First load with first-time schema setup, write-back and snapshots, incremental, reconcile: no numbered call."""
    settings = settings_for(sandbox, sqlite_url, writeback_snapshots=True, hubspot_api_version=version)
    first = cycle(sqlite_store, settings)
    _assert_only(sandbox, version)
    assert first.counts.push.created
    assert first.counts.push.contacts_written > 0
    assert first.counts.push.snapshots_written > 0

    sandbox.simulate(minutes=60, seed=3)
    incremental = cycle(sqlite_store, settings)
    reconcile = cycle(sqlite_store, settings, reconcile=True)

    _assert_only(sandbox, version)
    for summary in (first, incremental, reconcile):
        assert summary.counts.api.versions == {version: summary.api_calls}


def test_the_run_counts_calls_by_api_version_and_a_numbered_call_is_logged_by_name(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    """A numbered path, if one is ever sent, is counted apart and named in a warning."""
    client = HubSpotClient(settings_for(sandbox, sqlite_url).hubspot_config())
    list(client.owners(archived=False))
    with capture_logs() as events:
        client._call("probe", "GET", "/crm/v3/owners")

    assert client.stats.versions == {"2026-09": 1, "numbered": 1}
    warnings = [e for e in events if e["event"] == "hubspot_numbered_call"]
    assert warnings == [
        {"event": "hubspot_numbered_call", "method": "GET", "path": "/crm/v3/owners", "log_level": "warning"}
    ]


def test_a_version_hubspot_does_not_have_answers_404_from_the_sandbox(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """The sandbox refuses an unknown version as HubSpot does, and the client says which request was refused."""
    client = HubSpotClient(settings_for(sandbox, sqlite_url).hubspot_config())
    with pytest.raises(RequestError) as refused:
        client._call("probe", "GET", "/crm/owners/2026-05")
    assert refused.value.status == 404


@pytest.mark.parametrize("version", ["2026-01", "v3", "2025-09", ""])
def test_an_unsupported_api_version_is_a_configuration_error_naming_the_choices(version: str) -> None:
    """HUBSPOT_API_VERSION accepts 2026-03 and 2026-09 only."""
    with pytest.raises(ConfigError, match=r"HUBSPOT_API_VERSION: .*2026-03, 2026-09"):
        load_settings(hubspot_api_version=version)


def test_the_default_api_version_is_2026_09() -> None:
    """Without HUBSPOT_API_VERSION, kpi-sync speaks 2026-09."""
    assert load_settings(hubspot_access_token="x" * 30).hubspot_config().api_version == "2026-09"
