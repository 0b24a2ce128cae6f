"""The service's configuration: one pydantic-settings model, built once in the entry point and passed down."""

from __future__ import annotations

import re
import zoneinfo
from pathlib import Path
from typing import Annotated, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from sync.errors import ConfigError

CONNECTED_DISPOSITION = "f240bbac-87c9-4f6e-bf70-924b57d47db7"  # HubSpot's built-in "Connected" call outcome
DEFAULT_CONTENT_PATTERN = (
    r"(^|/)(e-?books?|white-?papers?|case-?stud(y|ies)|guides?|webinars?|brochures?|data-?sheets?)(/|-|$)"
)
OBJECT_NAMES = ("contacts", "deals", "calls", "emails", "meetings", "notes", "tasks")

CommaList = Annotated[tuple[str, ...], NoDecode]


class Settings(BaseSettings):
    """All settings; each field is read from the environment variable of the same name (upper case) or `.env`."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True)

    hubspot_access_token: SecretStr | None = Field(default=None, description="Private app token (required to sync)")
    hubspot_base_url: str = Field(default="https://api.hubapi.com", description="HubSpot API base URL")
    database_url: str = Field(default="sqlite:///./data/kpi-sync.db", description="SQLAlchemy URL of the store")
    hubspot_timeout_seconds: float = Field(default=30.0, gt=0, le=600, description="Per-request read timeout")
    hubspot_rate_limit_per_10s: int = Field(default=190, gt=0, le=250, description="Ceiling for general calls")
    hubspot_search_per_second: int = Field(default=5, gt=0, le=10, description="Ceiling for search calls")
    hubspot_daily_budget: int = Field(default=500_000, gt=0, description="Ceiling for calls per portal day")
    hubspot_max_retries: int = Field(default=8, ge=0, le=30, description="Retries of one retriable request")
    sync_extra_properties: CommaList = Field(default=(), description="Extra properties, e.g. contacts.email")
    sync_overlap_seconds: int = Field(default=300, ge=0, le=86_400, description="Re-read window for index lag")
    sync_window_hours: int = Field(default=168, gt=0, description="Longest search window of one query chain")
    # At most a week: the scheduler cannot represent an infinite or astronomically long interval.
    sync_interval_minutes: float = Field(default=15.0, gt=0, le=10_080, description="Minutes between scheduled cycles")
    reconcile_cron: str = Field(default="0 3 * * *", description="Cron (UTC) of the deletion/association reconcile")
    kpi_connected_dispositions: CommaList = Field(default=(CONNECTED_DISPOSITION,))
    kpi_decision_maker_roles: CommaList = Field(default=("DECISION_MAKER", "BUDGET_HOLDER"))
    kpi_content_path_pattern: str = Field(default=DEFAULT_CONTENT_PATTERN)
    kpi_timezone: str = Field(default="UTC")
    kpi_stale_after_days: int = Field(default=14, gt=0, le=3650)
    kpi_min_attempts: int = Field(default=5, gt=0, le=1000)
    writeback_enabled: bool = Field(default=True, description="Write KPI properties back to HubSpot")
    writeback_snapshots: bool = Field(default=True, description="Per-owner snapshot custom object, if allowed")
    kpi_sync_admin_token: SecretStr | None = Field(default=None, description="Bearer token of the admin API")
    admin_host: str = Field(default="127.0.0.1")
    admin_port: int = Field(default=8080, gt=0, lt=65536)
    admin_url: str = Field(default="", description="Worker admin API used by `kpi-sync resync` (default local)")
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
            if obj not in OBJECT_NAMES or not re.fullmatch(r"[a-z][a-z0-9_]*", prop):
                raise ValueError(f"{item!r} is not <object>.<property> with object one of {', '.join(OBJECT_NAMES)}")
        return value

    @field_validator("kpi_connected_dispositions")
    @classmethod
    def _check_dispositions(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("must name at least one call outcome (comma-separated disposition GUIDs)")
        return value

    @field_validator("hubspot_base_url", "admin_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value and not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", value):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_db(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://")):
            raise ValueError("must start with sqlite://, postgresql:// or postgresql+psycopg://")
        return value

    @field_validator("kpi_content_path_pattern")
    @classmethod
    def _check_pattern(cls, value: str) -> str:
        if not value:
            raise ValueError("must not be empty (it would mark every link as marketing content)")
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
        return value

    @field_validator("kpi_timezone")
    @classmethod
    def _check_tz(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("reconcile_cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        try:
            CronTrigger.from_crontab(value, timezone="UTC")
        except ValueError as exc:
            raise ValueError(f"not a 5-field cron expression ({exc})") from None
        return value

    def token(self) -> str:
        """The HubSpot token; a ConfigError naming the variable when it is missing."""
        if self.hubspot_access_token is None or not self.hubspot_access_token.get_secret_value().strip():
            raise ConfigError("HUBSPOT_ACCESS_TOKEN: not set (a HubSpot private app token is required to sync)")
        return self.hubspot_access_token.get_secret_value().strip()

    def extra_properties(self, object_name: str) -> tuple[str, ...]:
        """Extra properties configured for one object type."""
        return tuple(p.split(".", 1)[1] for p in self.sync_extra_properties if p.split(".", 1)[0] == object_name)

    def sqlite_path(self) -> Path | None:
        """The file behind a sqlite URL, so the entry point can create its folder."""
        if self.database_url.startswith("sqlite:///") and ":memory:" not in self.database_url:
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


def load_settings(**overrides: object) -> Settings:
    """Build Settings from the environment (and `.env`); a bad value becomes one ConfigError line naming it."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "configuration"
        raise ConfigError(f"{name}: {first['msg']}") from None
