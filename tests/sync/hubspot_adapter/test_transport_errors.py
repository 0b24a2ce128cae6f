"""A timeout and a failed connection are told apart by type, against real sockets: the sandbox answering late, and
a port nobody listens on."""

from __future__ import annotations

import pytest

from sandbox.harness import RunningSandbox
from sync.errors import RetriableError
from sync.hubspot.client import HubSpotClient
from sync.hubspot.errors import (
    HubSpotConnectionError,
    HubSpotDnsError,
    HubSpotRefusedError,
    HubSpotTimeoutError,
    HubSpotTlsError,
)
from tests.helpers import free_port, settings_for


def test_an_answer_later_than_the_timeout_is_a_timeout(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """The sandbox answers 1.5 s late, past a 0.3 s read timeout: HubSpotTimeoutError, counted as a timeout."""
    sandbox.set_faults(rate_slow=1.0, slow_ms=1_500)
    settings = settings_for(sandbox, sqlite_url, hubspot_timeout_seconds=0.3, hubspot_max_retries=0)
    client = HubSpotClient(settings.hubspot_config())
    with pytest.raises(HubSpotTimeoutError) as caught:
        client.pipelines()
    assert isinstance(caught.value, RetriableError)
    assert sandbox.stats()["faults"]["slow"] == 1
    assert dict(client.stats.faults) == {"timeout": 1}


def test_a_closed_port_is_a_connection_error(sandbox: RunningSandbox, sqlite_url: str) -> None:
    """Nobody listens on the port: the refused connection is HubSpotConnectionError, not a timeout."""
    settings = settings_for(
        sandbox, sqlite_url, hubspot_base_url=f"http://127.0.0.1:{free_port()}", hubspot_max_retries=0
    )
    client = HubSpotClient(settings.hubspot_config())
    with pytest.raises(HubSpotConnectionError) as caught:
        client.pipelines()
    assert isinstance(caught.value, RetriableError)
    assert dict(client.stats.faults) == {"connection": 1}


@pytest.mark.parametrize(
    ("base_url", "error"),
    [
        ("https://nonexistent.invalid", HubSpotDnsError),
        ("closed-port", HubSpotRefusedError),
        ("https-to-plain-http", HubSpotTlsError),
    ],
)
def test_each_connection_failure_has_its_own_type(
    sandbox: RunningSandbox, sqlite_url: str, base_url: str, error: type[HubSpotConnectionError]
) -> None:
    """An unresolvable host, a closed port and https to a plain-HTTP server are three subtypes of the connection
    error (still retriable, counted as connection faults), so the doctor can name each."""
    url = {
        "closed-port": f"http://127.0.0.1:{free_port()}",
        "https-to-plain-http": sandbox.base_url.replace("http://", "https://"),
    }.get(base_url, base_url)
    client = HubSpotClient(
        settings_for(sandbox, sqlite_url, hubspot_base_url=url, hubspot_max_retries=0).hubspot_config()
    )
    with pytest.raises(error):
        client.pipelines()
    assert dict(client.stats.faults) == {"connection": 1}
