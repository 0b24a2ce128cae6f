"""`kpi-sync --version`, `kpi-sync config`, and secrets read from files (`*_FILE`, Docker and Kubernetes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli import main
from service.settings import load_settings
from sync.errors import ConfigError

SECRET = "service-key-from-a-file-0123456789"


def test_version_prints_the_installed_version() -> None:
    """`kpi-sync --version` names the program and the package's version."""
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("kpi-sync ")
    assert result.output.split()[1][0].isdigit()


def test_the_service_key_can_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """HUBSPOT_ACCESS_TOKEN_FILE names a file whose content (trailing newline dropped) is the key."""
    secret = tmp_path / "key"
    secret.write_text(SECRET + "\n")
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN_FILE", str(secret))
    assert load_settings().hubspot_config().token.get_secret_value() == SECRET


def test_the_admin_token_can_come_from_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """KPI_SYNC_ADMIN_TOKEN_FILE works the same way."""
    secret = tmp_path / "admin"
    secret.write_text(SECRET)
    monkeypatch.setenv("KPI_SYNC_ADMIN_TOKEN_FILE", str(secret))
    token = load_settings().kpi_sync_admin_token
    assert token is not None
    assert token.get_secret_value() == SECRET


def test_a_secret_file_that_cannot_be_read_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """A missing file is one configuration error naming the *_FILE variable, not a traceback."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN_FILE", "/nonexistent/key")
    with pytest.raises(ConfigError, match=r"^HUBSPOT_ACCESS_TOKEN_FILE: cannot read /nonexistent/key"):
        load_settings()


def test_a_secret_given_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The variable and its file together are ambiguous: a configuration error."""
    secret = tmp_path / "key"
    secret.write_text(SECRET)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN_FILE", str(secret))
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "another-key-0123456789")
    with pytest.raises(ConfigError, match="either HUBSPOT_ACCESS_TOKEN or HUBSPOT_ACCESS_TOKEN_FILE"):
        load_settings()


def test_config_prints_every_setting_with_secrets_and_the_database_password_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`kpi-sync config --format json` lists every variable; no secret or password appears."""
    secret = tmp_path / "key"
    secret.write_text(SECRET)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN_FILE", str(secret))
    monkeypatch.setenv("DATABASE_URL", "postgresql://kpi:db-password-42@db.internal/kpis")
    monkeypatch.setenv("SYNC_INTERVAL_MINUTES", "5")
    result = CliRunner().invoke(main, ["config", "--format", "json"])

    assert result.exit_code == 0, result.output
    shown = json.loads(result.output)
    assert shown["HUBSPOT_ACCESS_TOKEN"] == "****** (set)"
    assert shown["KPI_SYNC_ADMIN_TOKEN"] == "(not set)"
    assert shown["DATABASE_URL"] == "postgresql://kpi:***@db.internal/kpis"
    assert shown["SYNC_INTERVAL_MINUTES"] == 5
    assert shown["HUBSPOT_API_VERSION"] == "2026-09"
    assert SECRET not in result.output
    assert "db-password-42" not in result.output


def test_config_refuses_a_bad_setting_with_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad value stops `config` as it stops every command: one line naming the variable, exit 2."""
    monkeypatch.setenv("HUBSPOT_API_VERSION", "2025-01")
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 2
    assert "HUBSPOT_API_VERSION" in result.output
