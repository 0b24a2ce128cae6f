"""Calendar months and days in the configured time zone."""

from __future__ import annotations

import pytest

from kpi.periods import Calendar, parse_period
from tests.kpi.kpi_factories import HOUR, OCT_2026

OCT_2026_AMS = OCT_2026 - 2 * HOUR  # 2026-10-01T00:00+02:00
NOV_2026_AMS = 1_793_487_600_000  # 2026-11-01T00:00+01:00 (after the end of DST on Oct 25)


@pytest.mark.parametrize(
    ("timezone", "ms", "period"),
    [
        ("UTC", OCT_2026 - 1, "2026-09"),
        ("UTC", OCT_2026, "2026-10"),
        ("Europe/Amsterdam", OCT_2026_AMS - 1, "2026-09"),
        ("Europe/Amsterdam", OCT_2026_AMS, "2026-10"),
        ("Europe/Amsterdam", OCT_2026 - HOUR, "2026-10"),
        ("Europe/Amsterdam", NOV_2026_AMS - 1, "2026-10"),
        ("Europe/Amsterdam", NOV_2026_AMS, "2026-11"),
        ("America/New_York", OCT_2026 + 3 * HOUR, "2026-09"),
        ("UTC", 0, "1970-01"),
        ("UTC", -1, "1969-12"),
        ("Europe/Amsterdam", 4_102_444_800_000, "2100-01"),
    ],
)
def test_period_is_the_local_month(timezone: str, ms: int, period: str) -> None:
    """A time's period is its calendar month in the zone (also outside the precomputed table)."""
    assert Calendar(timezone).period(ms) == period


@pytest.mark.parametrize(
    ("timezone", "period", "bounds"),
    [
        ("UTC", "2026-10", (OCT_2026, 1_793_491_200_000)),
        ("Europe/Amsterdam", "2026-10", (OCT_2026_AMS, NOV_2026_AMS)),
        ("UTC", "2026-12", (1_796_083_200_000, 1_798_761_600_000)),
    ],
)
def test_period_bounds(timezone: str, period: str, bounds: tuple[int, int]) -> None:
    """period_bounds gives the UTC ms of the local month start and of the next month start."""
    assert Calendar(timezone).period_bounds(period) == bounds


def test_days_across_the_end_of_dst() -> None:
    """Local days in Amsterdam: 25 hours on 2026-10-25, one day number per local date."""
    cal = Calendar("Europe/Amsterdam")
    oct25_start = 1_792_879_200_000  # 2026-10-24T22:00Z = 2026-10-25T00:00+02:00
    assert cal.day(oct25_start - 1) + 1 == cal.day(oct25_start) == cal.day(oct25_start + 25 * HOUR - 1)
    assert cal.day(oct25_start + 25 * HOUR) == cal.day(oct25_start) + 1


def test_days_of_many_times() -> None:
    """days() maps each time to its local day number, in order."""
    cal = Calendar("Europe/Amsterdam")
    assert cal.days([OCT_2026_AMS - 1, OCT_2026_AMS]) == [cal.day(OCT_2026_AMS - 1), cal.day(OCT_2026_AMS)]


def test_half_hour_zone_transition_inside_an_hour() -> None:
    """A zone whose offset changes at half past a UTC hour is still bucketed exactly."""
    cal = Calendar("Australia/Lord_Howe")  # +10:30 to +11 at 2026-10-04 02:00 local = 2026-10-03T15:30Z
    switch = 1_791_041_400_000
    assert cal.local_ms(switch - 1) - (switch - 1) == 10 * HOUR + 30 * 60_000
    assert cal.local_ms(switch) - switch == 11 * HOUR
    assert cal.local_ms(switch - 31 * 60_000) - (switch - 31 * 60_000) == 10 * HOUR + 30 * 60_000


@pytest.mark.parametrize("period", ["all", "2026-13", "2026-1", "26-10", "2026/10", "abcd-ef", ""])
def test_bad_period_strings(period: str) -> None:
    """Only YYYY-MM is a month period."""
    with pytest.raises(ValueError, match="period must look like"):
        parse_period(period)
