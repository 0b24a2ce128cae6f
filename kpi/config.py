"""The spec's configurable KPI items with their defaults, validated once when the config is built."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from kpi.periods import Calendar

# HubSpot's built-in "Connected" call outcome.
CONNECTED_DISPOSITION = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
DEFAULT_CONNECTED_DISPOSITIONS = frozenset({CONNECTED_DISPOSITION})
DEFAULT_DECISION_MAKER_ROLES = frozenset({"DECISION_MAKER", "BUDGET_HOLDER"})
DEFAULT_CONTENT_PATH_PATTERN = (
    r"(^|/)(e-?books?|white-?papers?|case-?stud(y|ies)|guides?|webinars?|brochures?|data-?sheets?)(/|-|$)"
)
DEFAULT_TIMEZONE = "UTC"
DEFAULT_STALE_AFTER_DAYS = 14
DEFAULT_MIN_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class KpiConfig:
    """The configurable items of the spec; building one validates it (ValueError on a bad value).

    Dispositions and buying roles are compared exactly as HubSpot stores them (GUIDs and upper-case internal
    values). `content_re`, `tzinfo` and `calendar` (day/month bucketing with its caches) are derived once from
    `content_path_pattern` and `timezone`.
    """

    connected_dispositions: frozenset[str] = DEFAULT_CONNECTED_DISPOSITIONS
    decision_maker_roles: frozenset[str] = DEFAULT_DECISION_MAKER_ROLES
    content_path_pattern: str = DEFAULT_CONTENT_PATH_PATTERN
    timezone: str = DEFAULT_TIMEZONE
    stale_after_days: int = DEFAULT_STALE_AFTER_DAYS
    min_attempts: int = DEFAULT_MIN_ATTEMPTS
    content_re: re.Pattern[str] = field(init=False, repr=False, compare=False)
    tzinfo: ZoneInfo = field(init=False, repr=False, compare=False)
    calendar: Calendar = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "connected_dispositions", frozenset(self.connected_dispositions))
        object.__setattr__(self, "decision_maker_roles", frozenset(self.decision_maker_roles))
        self.validate()  # first, so that the first bad item in field order is the one named
        object.__setattr__(self, "content_re", _compile_pattern(self.content_path_pattern))
        object.__setattr__(self, "tzinfo", _zone(self.timezone))
        object.__setattr__(self, "calendar", Calendar(self.tzinfo))

    @property
    def stale_after_ms(self) -> int:
        """`stale_after_days` in milliseconds."""
        return self.stale_after_days * 86_400_000

    def validate(self) -> KpiConfig:
        """Raise ValueError naming the bad item and what is expected; return self when all is well."""
        _check_names("connected_dispositions", self.connected_dispositions, allow_empty=False)
        _check_names("decision_maker_roles", self.decision_maker_roles, allow_empty=True)
        _compile_pattern(self.content_path_pattern)
        _zone(self.timezone)
        _check_positive("stale_after_days", self.stale_after_days)
        _check_positive("min_attempts", self.min_attempts)
        return self


def _check_names(item: str, values: frozenset[str], *, allow_empty: bool) -> None:
    if not values and not allow_empty:
        raise ValueError(f"{item} must name at least one value")
    for value in values:
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{item} must contain non-empty strings, got {value!r}")


def _check_positive(item: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{item} must be a positive whole number, got {value!r}")


def _compile_pattern(pattern: str) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"content_path_pattern must be a non-empty regular expression, got {pattern!r}")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"content_path_pattern is not a valid regular expression ({exc}): {pattern!r}") from exc


def _zone(name: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise ValueError(f"timezone must be an IANA time zone name such as 'Europe/Amsterdam', got {name!r}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"timezone {name!r} is not a known IANA time zone (for example 'UTC' or 'Europe/Amsterdam')"
        ) from exc
