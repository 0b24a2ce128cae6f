"""What one cycle needs to know, as narrow frozen records: the HubSpot connection, the pull, the write-back.

`service.settings.Settings` reads the environment once and builds these; each part of a cycle takes only its own
record, so a test or a benchmark can build one without the whole service configuration.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import SecretStr

from kpi.config import KpiConfig


@dataclass(frozen=True)
class HubSpotConfig:
    """How to reach HubSpot and how hard to press it."""

    token: SecretStr
    base_url: str = "https://api.hubapi.com"
    api_version: str = "2026-09"  # HubSpot's date-versioned API (sync.hubspot.paths.API_VERSIONS)
    timeout_seconds: float = 30.0
    rate_limit_per_10s: int = 190
    search_per_second: int = 5
    daily_budget: int = 500_000
    max_retries: int = 8
    max_in_flight: int = 8  # requests in flight at once (pages of several object types, write batches); 1 = serial
    timezone: str = "UTC"  # the portal's day, for the daily budget


@dataclass(frozen=True)
class PullConfig:
    """What the pull reads beyond the KPI inputs, and how far back each incremental window reaches."""

    extra_properties: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    overlap_seconds: int = 300
    window_hours: int = 168
    list_range_size: int = 10_000  # records per id range of a list pass read side by side; 0 = one range per type

    def extra_for(self, object_type: str) -> tuple[str, ...]:
        """Extra properties configured for one object type."""
        return tuple(self.extra_properties.get(object_type, ()))


@dataclass(frozen=True)
class WriteConfig:
    """Whether the cycle writes KPI values back, the per-owner snapshot records, and how long a contact whose values
    HubSpot's validation rules refused is held back before the same values are tried again."""

    enabled: bool = True
    snapshots: bool = True
    refused_retry_hours: float = 24.0

    @property
    def refused_retry_ms(self) -> int:
        """The back-off of refused values, in milliseconds."""
        return int(self.refused_retry_hours * 3_600_000)


@dataclass(frozen=True)
class CycleConfig:
    """Everything one cycle needs, each part handed to the module that uses it."""

    hubspot: HubSpotConfig
    pull: PullConfig = field(default_factory=PullConfig)
    kpi: KpiConfig = field(default_factory=KpiConfig)
    write: WriteConfig = field(default_factory=WriteConfig)
