"""Day and month bucketing of ms-epoch times in the configured time zone, by integer arithmetic.

A `Calendar` caches the zone's UTC offset per UTC hour and the month label per local day, so the hot loops do a
dict lookup and an integer division instead of building datetime objects.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

ALL_TIME = "all"
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
# datetime holds years 1 to 9999 only; a time within a day of either end may have a local time outside them (and a
# K1 opportunity window reaches 90 days past a call). Offsets there are taken from a day inside the range, and a
# local day outside it falls in the first or last month, so no stored time can stop a computation.
_FIRST_OFFSET_MS = -62_135_510_400_000  # 0001-01-02T00:00:00Z
_LAST_OFFSET_MS = 253_402_214_399_999  # 9999-12-30T23:59:59.999Z
_LAST_ORDINAL = date.max.toordinal()
_MIXED = -(2**62)  # marks an hour in which the offset changes (a DST transition not on the hour)
# Month boundaries are precomputed for these years; times outside them take the slower exact path.
_TABLE_YEARS = (1970, 2100)


class Calendar:
    """Maps UTC ms to local calendar days (int day numbers) and months ("YYYY-MM") in one time zone."""

    __slots__ = ("_hi", "_is_utc", "_labels", "_lo", "_months", "_offsets", "_starts", "tz")

    def __init__(self, tz: ZoneInfo | str = "UTC") -> None:
        self.tz = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
        self._is_utc = self.tz.key in ("UTC", "Etc/UTC", "Etc/Zulu", "Zulu", "Universal", "Etc/Universal")
        self._offsets: dict[int, int] = {}
        self._months: dict[int, str] = {}
        self._starts: list[int] = []
        self._labels: list[str] = []
        for year in range(_TABLE_YEARS[0], _TABLE_YEARS[1]):
            for month in range(1, 13):
                self._starts.append(_to_ms(datetime(year, month, 1, tzinfo=self.tz)))
                self._labels.append(f"{year:04d}-{month:02d}")
        self._lo = self._starts[0]
        self._hi = _to_ms(datetime(_TABLE_YEARS[1], 1, 1, tzinfo=self.tz))

    def local_ms(self, ms: int) -> int:
        """The wall-clock time in the zone, as ms since the local epoch."""
        if self._is_utc:
            return ms
        hour = ms // MS_PER_HOUR
        offset = self._offsets.get(hour)
        if offset is None:
            offset = self._hour_offset(hour)
            self._offsets[hour] = offset
        if offset == _MIXED:
            return ms + self._offset_at(ms)
        return ms + offset

    def day(self, ms: int) -> int:
        """The local calendar day of `ms` as a day number (days since 1970-01-01, local)."""
        return self.local_ms(ms) // MS_PER_DAY

    def days(self, times: list[int]) -> list[int]:
        """`day` of each time, in order."""
        if self._is_utc:
            return [t // MS_PER_DAY for t in times]
        local = self.local_ms
        return [local(t) // MS_PER_DAY for t in times]

    def period(self, ms: int) -> str:
        """The local calendar month of `ms` as "YYYY-MM"."""
        if self._lo <= ms < self._hi:
            return self._labels[bisect_right(self._starts, ms) - 1]
        day = self.local_ms(ms) // MS_PER_DAY
        label = self._months.get(day)
        if label is None:
            d = date.fromordinal(min(max(day + _EPOCH_ORDINAL, 1), _LAST_ORDINAL))
            label = f"{d.year:04d}-{d.month:02d}"
            self._months[day] = label
        return label

    def period_bounds(self, period: str) -> tuple[int, int]:
        """UTC ms of the period's first local instant and of the next period's first instant (exclusive end)."""
        year, month = parse_period(period)
        start = datetime(year, month, 1, tzinfo=self.tz)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=self.tz)
        return _to_ms(start), _to_ms(end)

    def _hour_offset(self, hour: int) -> int:
        first = self._offset_at(hour * MS_PER_HOUR)
        last = self._offset_at((hour + 1) * MS_PER_HOUR - 1)
        return first if first == last else _MIXED

    def _offset_at(self, ms: int) -> int:
        ms = min(max(ms, _FIRST_OFFSET_MS), _LAST_OFFSET_MS)
        offset = (_EPOCH + timedelta(milliseconds=ms)).astimezone(self.tz).utcoffset()
        return 0 if offset is None else offset // timedelta(milliseconds=1)


def parse_period(period: str) -> tuple[int, int]:
    """("YYYY-MM") -> (year, month); ValueError for anything else (including "all")."""
    parts = period.split("-")
    if len(parts) != 2 or len(parts[0]) != 4 or len(parts[1]) != 2 or not (parts[0] + parts[1]).isdigit():
        raise ValueError(f"period must look like '2026-10', got {period!r}")
    year, month = int(parts[0]), int(parts[1])
    if not 1 <= month <= 12 or year < 1:
        raise ValueError(f"period must look like '2026-10', got {period!r}")
    return year, month


def _to_ms(moment: datetime) -> int:
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
