"""Settings that would hand a secret away are refused at start-up, in one line naming the variable: a HubSpot base URL
in clear text beyond this machine or with credentials of its own, and an admin token short enough to guess."""

from __future__ import annotations

import pytest

from service.settings import MIN_ADMIN_TOKEN_CHARS, load_settings
from sync.errors import ConfigError


@pytest.mark.parametrize(
    "url",
    [
        "https://api.hubapi.com",
        "http://127.0.0.1:8765",
        "http://localhost:8765",
        "http://[::1]:8765",
        "https://api-eu1.hubapi.com/",
    ],
)
def test_https_or_a_loopback_host_is_accepted(url: str) -> None:
    """TLS anywhere, plain HTTP only to this machine (the sandbox)."""
    assert load_settings(hubspot_base_url=url).hubspot_base_url == url.rstrip("/")


@pytest.mark.parametrize("url", ["http://api.hubapi.com", "http://10.0.0.5:8765", "http://127.0.0.1.evil.example"])
def test_plain_http_beyond_loopback_is_refused_naming_the_variable(url: str) -> None:
    """The token would cross a network in clear text: a one-line ConfigError naming HUBSPOT_BASE_URL and the way out."""
    with pytest.raises(ConfigError) as err:
        load_settings(hubspot_base_url=url)
    assert str(err.value).startswith("HUBSPOT_BASE_URL: must be https://")
    assert "HUBSPOT_ALLOW_INSECURE_URL" in str(err.value)


def test_plain_http_beyond_loopback_is_accepted_when_allowed() -> None:
    """HUBSPOT_ALLOW_INSECURE_URL=true (the compose demo's sandbox container) lets it through."""
    settings = load_settings(hubspot_base_url="http://sandbox:8765", hubspot_allow_insecure_url=True)
    assert settings.hubspot_base_url == "http://sandbox:8765"


@pytest.mark.parametrize("url", ["https://user:pw@api.hubapi.com", "https://user@api.hubapi.com", "http://a@127.0.0.1"])
def test_a_base_url_with_user_info_is_refused(url: str) -> None:
    """user@host in the URL is refused, even when insecure URLs are allowed."""
    with pytest.raises(ConfigError, match=r"^HUBSPOT_BASE_URL: must not contain user info"):
        load_settings(hubspot_base_url=url, hubspot_allow_insecure_url=True)


@pytest.mark.parametrize("token", ["x", "short-admin-token", "a" * (MIN_ADMIN_TOKEN_CHARS - 1)])
def test_an_admin_token_shorter_than_24_characters_is_refused(token: str) -> None:
    """A guessable admin token is a configuration error naming KPI_SYNC_ADMIN_TOKEN."""
    with pytest.raises(ConfigError, match=r"^KPI_SYNC_ADMIN_TOKEN: .*at least 24 characters"):
        load_settings(kpi_sync_admin_token=token)


@pytest.mark.parametrize("token", ["", "a" * MIN_ADMIN_TOKEN_CHARS])
def test_an_admin_token_of_24_characters_or_none_is_accepted(token: str) -> None:
    """24 characters are enough; an empty one leaves the admin API disabled, as before."""
    assert load_settings(kpi_sync_admin_token=token).kpi_sync_admin_token is not None
