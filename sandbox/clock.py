"""Wall-clock milliseconds and HubSpot's timestamp formats (ISO-8601 UTC with ms and `Z`, or ms epoch)."""

from __future__ import annotations

import time
from datetime import UTC, datetime

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
MINUTE_MS = 60_000


def now_ms() -> int:
    """Return the current wall-clock time in ms since the epoch."""
    return time.time_ns() // 1_000_000


_DATES: dict[int, str] = {}
# Formatting runs for every timestamp of every record served, so the time-of-day parts are looked up, not built.
_CLOCK = [f"T{h:02d}:{m:02d}:{s:02d}." for h in range(24) for m in range(60) for s in range(60)]
_MILLIS = [f"{ms:03d}Z" for ms in range(1000)]


def iso(ms: int) -> str:
    """Format ms since the epoch as `2026-10-01T12:34:56.789Z`."""
    day, rest = divmod(ms, DAY_MS)
    date = _DATES.get(day)
    if date is None:
        t = time.gmtime(day * 86_400)
        date = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        if len(_DATES) < 200_000:
            _DATES[day] = date
    seconds, millis = divmod(rest, 1000)
    return date + _CLOCK[seconds] + _MILLIS[millis]


def parse_time(value: object) -> int | None:
    """Parse a ms-epoch string/int or an ISO-8601 date or datetime into ms; None when unparseable."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str) or not value:
        return None
    text = value.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def start_of_utc_day(ms: int) -> int:
    """Return midnight UTC of the day containing `ms`."""
    return ms - ms % DAY_MS
