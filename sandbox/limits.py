"""Rate limits per tier (§2): a rolling 10 s window, a daily counter reset at the portal's midnight (UTC),
and the search API's own 5 per second. Counters always run (for the headers); enforcement is opt-in."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from sandbox.clock import DAY_MS, now_ms, start_of_utc_day
from sandbox.config import Settings
from sandbox.constants import SEARCH_PER_SECOND, TEN_SECONDS_MS


@dataclass
class Verdict:
    """The limiter's answer for one request."""

    policy: str | None = None  # set when the request is refused
    retry_after_s: int | None = None
    headers: dict[str, str] = field(default_factory=dict)


class RateLimiter:
    """Counts API calls and refuses them over the tier's limits when throttling is on."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._burst: deque[float] = deque()
        self._search: deque[float] = deque()
        self.daily_used = 0
        self.day_ends_ms = start_of_utc_day(now_ms()) + DAY_MS

    def check(self, search: bool) -> Verdict:
        """Count one request (unless refused) and say whether it may proceed."""
        with self._lock:
            self._roll_day()
            s = self.settings
            if s.throttle and self.daily_used >= s.daily():
                return Verdict("DAILY", None, self._headers(search))
            window = (1_000 if search else TEN_SECONDS_MS) * s.time_scale / 1000
            queue = self._search if search else self._burst
            limit = SEARCH_PER_SECOND if search else s.burst_limit()
            now = time.monotonic()
            while queue and queue[0] <= now - window:
                queue.popleft()
            if s.throttle and len(queue) >= limit:
                wait = max(1, math.ceil(queue[0] + window - now))
                return Verdict("SECONDLY" if search else "TEN_SECONDLY_ROLLING", wait, self._headers(search))
            queue.append(now)
            self.daily_used += 1
            return Verdict(None, None, self._headers(search))

    def _roll_day(self) -> None:
        now = now_ms()
        if now >= self.day_ends_ms:
            self.daily_used = 0
            self.day_ends_ms = start_of_utc_day(now) + DAY_MS

    def _headers(self, search: bool) -> dict[str, str]:
        if search:
            return {}  # search responses carry no rate-limit headers (§2.3)
        s = self.settings
        return {
            "X-HubSpot-RateLimit-Daily": str(s.daily()),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, s.daily() - self.daily_used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(round(TEN_SECONDS_MS * s.time_scale)),
            "X-HubSpot-RateLimit-Max": str(s.burst_limit()),
            "X-HubSpot-RateLimit-Remaining": str(max(0, s.burst_limit() - len(self._burst))),
        }

    def set_daily_used(self, used: int) -> None:
        """Set today's count (so a test can reach the DAILY limit quickly)."""
        with self._lock:
            self.daily_used = used
