"""The service's configuration: one pydantic-settings model, built once in the entry point, that hands each part of
a cycle its own narrow record (`sync.config`)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from kpi import config as kpi_defaults
from kpi.config import KpiConfig
from service.alerts import AlertConfig
from storage.probe import masked_url
from sync.config import CycleConfig, HubSpotConfig, PullConfig, WriteConfig
from sync.errors import ConfigError
from sync.hubspot.constants import OBJECT_TYPES
from sync.hubspot.paths import API_VERSIONS, DEFAULT_API_VERSION

CommaList = Annotated[tuple[str, ...], NoDecode]
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})
MIN_ADMIN_TOKEN_CHARS = 24
DEFAULT_STALE_MINUTES = 120.0


class Settings(BaseSettings):
    """All settings; each field is read from the environment variable of the same name (upper case) or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    hubspot_access_token: SecretStr | None = Field(default=None, description="HubSpot Service Key (required to sync)")
    hubspot_base_url: str = Field(default="https://api.hubapi.com", description="HubSpot API base URL")
    hubspot_allow_insecure_url: bool = Field(default=False, description="Allow http:// to a non-loopback host")
    hubspot_api_version: str = Field(default=DEFAULT_API_VERSION, description="HubSpot's date-versioned API")
    database_url: str = Field(default="sqlite:///./data/kpi-sync.db", description="SQLAlchemy URL of the store")
    hubspot_timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="Per-request read timeout")
    hubspot_rate_limit_per_10s: int = Field(default=190, gt=0, le=250, description="Ceiling for general calls")
    hubspot_search_per_second: int = Field(default=5, gt=0, le=10, description="Ceiling for search calls")
    hubspot_daily_budget: int = Field(default=500_000, gt=0, description="Ceiling for calls per portal day")
    hubspot_max_retries: int = Field(default=8, ge=0, le=30, description="Retries of one retriable request")
    hubspot_max_in_flight: int = Field(default=8, ge=1, le=16, description="HubSpot requests in flight at once")
    sync_extra_properties: CommaList = Field(default=(), description="Extra properties, e.g. contacts.email")
    sync_overlap_seconds: int = Field(default=300, ge=0, le=86_400, description="Re-read window for index lag")
    sync_window_hours: int = Field(default=168, gt=0, description="Longest search window of one query chain")
    sync_list_range_size: int = Field(
        default=10_000, ge=0, description="Records per id range of a list pass read side by side (0: one range)"
    )
    # At most a week: the scheduler cannot represent an infinite or astronomically long interval.
    sync_interval_minutes: float = Field(default=15.0, gt=0, le=10_080, description="Minutes between scheduled cycles")
    reconcile_cron: str = Field(default="0 3 * * *", description="Cron (UTC) of the deletion/association reconcile")
    kpi_connected_dispositions: CommaList = Field(default=tuple(sorted(kpi_defaults.DEFAULT_CONNECTED_DISPOSITIONS)))
    kpi_decision_maker_roles: CommaList = Field(default=tuple(sorted(kpi_defaults.DEFAULT_DECISION_MAKER_ROLES)))
    kpi_content_path_pattern: str = Field(default=kpi_defaults.DEFAULT_CONTENT_PATH_PATTERN)
    kpi_timezone: str = Field(default=kpi_defaults.DEFAULT_TIMEZONE)
    kpi_stale_after_days: int = Field(default=kpi_defaults.DEFAULT_STALE_AFTER_DAYS, gt=0, le=3650)
    kpi_min_attempts: int = Field(default=kpi_defaults.DEFAULT_MIN_ATTEMPTS, gt=0, le=1000)
    writeback_enabled: bool = Field(default=True, description="Write KPI properties back to HubSpot")
    writeback_snapshots: bool = Field(default=True, description="Per-owner snapshot custom object, if allowed")
    writeback_refused_retry_hours: float = Field(
        default=24.0, ge=0, le=8_760, description="Hours before values HubSpot's validation refused are sent again"
    )
    kpi_sync_admin_token: SecretStr | None = Field(default=None, description="Bearer token of the admin API")
    admin_host: str = Field(default="127.0.0.1")
    admin_port: int = Field(default=8080, gt=0, lt=65536)
    admin_url: str = Field(default="", description="Worker admin API used by `kpi-sync resync` (default local)")
    alert_webhook_url: SecretStr | None = Field(default=None, description="Slack-compatible webhook for alerts")
    alert_stale_after: float | None = Field(
        default=None, gt=0, le=525_600, description="Minutes without a successful cycle before an alert"
    )
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["auto", "json", "console"] = "auto"

    @field_validator("sync_extra_properties", "kpi_connected_dispositions", "kpi_decision_maker_roles", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("sync_extra_properties")
    @classmethod
    def _check_extra(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            obj, _, prop = item.partition(".")
            if obj not in OBJECT_TYPES or not re.fullmatch(r"[a-z][a-z0-9_]*", prop):
                raise ValueError(f"{item!r} is not <object>.<property> with object one of {', '.join(OBJECT_TYPES)}")
        return value

    @field_validator("hubspot_api_version")
    @classmethod
    def _check_version(cls, value: str) -> str:
        if value not in API_VERSIONS:
            raise ValueError(f"must be one of {', '.join(API_VERSIONS)} (HubSpot's date-versioned APIs), got {value!r}")
        return value

    @field_validator("alert_webhook_url")
    @classmethod
    def _check_webhook(cls, value: SecretStr | None) -> SecretStr | None:
        url = value.get_secret_value().strip() if value is not None else ""
        if url and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", url):
            raise ValueError("must be an http(s) URL")  # the value itself is not echoed: it holds the hook's secret
        return SecretStr(url) if url else None

    @field_validator("hubspot_base_url", "admin_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("kpi_sync_admin_token")
    @classmethod
    def _check_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        secret = value.get_secret_value().strip() if value is not None else ""
        if secret and len(secret) < MIN_ADMIN_TOKEN_CHARS:  # empty: the admin API stays disabled, as when unset
            raise ValueError(f"at least {MIN_ADMIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 24`)")
        return value

    @model_validator(mode="after")
    def _check_base_url(self) -> Settings:
        """HubSpot's token travels to HUBSPOT_BASE_URL: over TLS unless the host is this machine (the sandbox) or
        HUBSPOT_ALLOW_INSECURE_URL says so, and never with credentials of its own in the URL."""
        parts = urlsplit(self.hubspot_base_url)
        if "@" in parts.netloc:
            raise ValueError("HUBSPOT_BASE_URL: must not contain user info (user@host): the token is the credential")
        loopback = parts.hostname in LOOPBACK_HOSTS
        if parts.scheme != "https" and not loopback and not self.hubspot_allow_insecure_url:
            raise ValueError(
                "HUBSPOT_BASE_URL: must be https:// unless the host is loopback (127.0.0.1, ::1, localhost); "
                "set HUBSPOT_ALLOW_INSECURE_URL=true to send the token in clear anyway"
            )
        return self

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite://, postgresql:// or postgresql+psycopg://")
        return value

    @field_validator("reconcile_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a 5-field cron expression ({exc})") from None
        return value

    @model_validator(mode="after")
    def _check_kpi(self) -> Settings:
        """The KPI items are validated by the KPI rules' own configuration, the one place that knows them."""
        self.kpi_config()
        return self

    def kpi_config(self) -> KpiConfig:
        """The KPI rules' configuration; a ValueError naming the KPI_* variable when an item is invalid."""
        try:
            return KpiConfig(
                connected_dispositions=frozenset(self.kpi_connected_dispositions),
                decision_maker_roles=frozenset(self.kpi_decision_maker_roles),
                content_path_pattern=self.kpi_content_path_pattern,
                timezone=self.kpi_timezone,
                stale_after_days=self.kpi_stale_after_days,
                min_attempts=self.kpi_min_attempts,
            )
        except ValueError as exc:
            item = str(exc).split(" ", 1)[0]
            raise ValueError(f"KPI_{item.upper()}: {exc}") from None

    def hubspot_config(self) -> HubSpotConfig:
        """The HubSpot connection; a ConfigError naming the variable when the token is missing."""
        token = self.hubspot_access_token.get_secret_value().strip() if self.hubspot_access_token else ""
        if not token:
            raise ConfigError("HUBSPOT_ACCESS_TOKEN: not set (a HubSpot Service Key is required to sync)")
        return HubSpotConfig(
            token=SecretStr(token),
            base_url=self.hubspot_base_url,
            api_version=self.hubspot_api_version,
            timeout_seconds=self.hubspot_timeout_seconds,
            rate_limit_per_10s=self.hubspot_rate_limit_per_10s,
            search_per_second=self.hubspot_search_per_second,
            daily_budget=self.hubspot_daily_budget,
            max_retries=self.hubspot_max_retries,
            max_in_flight=self.hubspot_max_in_flight,
            timezone=self.kpi_timezone,
        )

    def pull_config(self) -> PullConfig:
        """What the pull reads beyond the KPI inputs, per object type."""
        extra: dict[str, tuple[str, ...]] = {}
        for item in self.sync_extra_properties:
            obj, _, prop = item.partition(".")
            extra[obj] = (*extra.get(obj, ()), prop)
        return PullConfig(extra, self.sync_overlap_seconds, self.sync_window_hours, self.sync_list_range_size)

    def cycle_config(self) -> CycleConfig:
        """Everything one cycle needs (a ConfigError when the token is missing)."""
        return CycleConfig(
            hubspot=self.hubspot_config(),
            pull=self.pull_config(),
            kpi=self.kpi_config(),
            write=WriteConfig(self.writeback_enabled, self.writeback_snapshots, self.writeback_refused_retry_hours),
        )

    def alert_config(self) -> AlertConfig:
        """The alerter's settings: the stale threshold defaults to 3 intervals, at least 2 hours."""
        minutes = self.alert_stale_after or max(3 * self.sync_interval_minutes, DEFAULT_STALE_MINUTES)
        secrets = (self.hubspot_access_token, self.kpi_sync_admin_token)
        return AlertConfig(
            webhook_url=self.alert_webhook_url,
            stale_after_s=minutes * 60,
            secrets=tuple(s.get_secret_value() for s in secrets if s is not None),
        )

    def sqlite_path(self) -> Path | None:
        """The file behind a sqlite URL, so the entry point can create its folder."""
        if self.database_url.startswith("sqlite:///") and ":memory:" not in self.database_url:
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


SECRET_FILES = ("hubspot_access_token", "kpi_sync_admin_token")  # each may come from <NAME>_FILE (Docker, Kubernetes)


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment (and `.env`); a bad value becomes one ConfigError line naming it.

    A secret may be given as a file instead (`HUBSPOT_ACCESS_TOKEN_FILE`, `KPI_SYNC_ADMIN_TOKEN_FILE`: Docker and
    Kubernetes secrets); setting both the variable and its file is an error."""
    overrides = {**_secrets_from_files(overrides), **overrides}
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        if not first["loc"]:  # a whole-model check names its variable itself ("Value error, KPI_TIMEZONE: ...")
            raise ConfigError(str(first["msg"]).removeprefix("Value error, ")) from None
        raise ConfigError(f"{str(first['loc'][0]).upper()}: {first['msg']}") from None


def _secrets_from_files(overrides: Mapping[str, object]) -> dict[str, object]:
    found: dict[str, object] = {}
    for name in SECRET_FILES:
        file_var = f"{name.upper()}_FILE"
        path = os.environ.get(file_var)
        if not path or name in overrides:
            continue
        if os.environ.get(name.upper()):
            raise ConfigError(f"{file_var}: set either {name.upper()} or {file_var}, not both")
        try:
            found[name] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{file_var}: cannot read {path} ({exc.strerror or type(exc).__name__})") from None
    return found


def effective(settings: Settings) -> dict[str, object]:
    """Every setting by its variable name as the process sees it; secrets and a database password masked."""
    shown: dict[str, object] = {}
    for name in Settings.model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = "****** (set)" if value.get_secret_value() else "(not set)"
        elif value is None:
            value = "(not set)" if name in SECRET_FILES else None
        elif name == "database_url":
            value = masked_url(str(value))
        elif isinstance(value, tuple):
            value = ",".join(value)
        shown[name.upper()] = value
    return shown
