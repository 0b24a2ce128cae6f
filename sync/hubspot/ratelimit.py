"""Client-side rate limiter for one portal: rolling general and search windows, and the daily budget.

It keeps us under configurable ceilings *before* HubSpot says no, and learns from `X-HubSpot-RateLimit-*` headers
(window length, the app's maximum, what remains). Thread-safe; sleeping is injectable for tests.

HubSpot's windows roll: a slot frees when the oldest call in the window leaves it, not a whole window after the
window filled. A call takes its slot before it is handed to the SDK, is stamped again when it is written
(`sync.hubspot.wire`), and HubSpot counts it when it arrives, a little later: at most `ARRIVAL_S` after the writing
and never after its answer. So the stamp moves, when the answer comes, to the earlier of the two, and a slot is
counted free here only `GUARD_S` after that stamp left our window. An answer quicker than `ARRIVAL_S` (a fast API,
a busy machine's own delays) bounds the arrival for sure; a slower one costs `ARRIVAL_S` of the slot, not the
whole latency. A far network makes the way to HubSpot itself longer than `ARRIVAL_S`: the quickest recent round
trip (there and back, with HubSpot's own work) is longer than the way there, so the allowance grows to it.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sync.hubspot.constants import DAILY_RESUME_MARGIN_S, GENERAL_WINDOW_S, SEARCH_WINDOW_S
from sync.hubspot.errors import DailyLimitError

ARRIVAL_S = 0.05  # a written request reaches HubSpot within this long, unless its answer came sooner...
ROUND_TRIPS_KEPT = 64  # ...or within the quickest of the last this many round trips, when that is longer
GUARD_S = 0.05  # covers what is left: the jitter of the network and of the two machines' own scheduling
GUARD_MAX_SHARE = 0.05  # ...each never more than 5 % of a window (sandboxes shrink windows to fractions of a second)


def next_midnight(now: float, timezone: str = "UTC") -> float:
    """Epoch seconds of the next midnight in `timezone`: HubSpot resets the daily count at the midnight of the
    portal's time zone (kpi-sync takes it from KPI_TIMEZONE)."""
    zone = ZoneInfo(timezone)
    day = datetime.fromtimestamp(now, zone).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()


def latest_daily_resume(now: float, timezone: str = "UTC") -> float:
    """The latest a DAILY stop may last: the portal's next midnight plus a margin, whatever HubSpot said."""
    return next_midnight(now, timezone) + DAILY_RESUME_MARGIN_S


@dataclass(frozen=True)
class ObservedLimits:
    """The portal's limits as HubSpot's last rate-limit headers told them; None where no header said (search answers
    and OAuth tokens carry fewer, hubspot-api.md §2.3)."""

    max_per_window: int | None = None  # X-HubSpot-RateLimit-Max: the app's calls per window
    window_ms: int | None = None  # X-HubSpot-RateLimit-Interval-Milliseconds
    daily: int | None = None  # X-HubSpot-RateLimit-Daily: the account's calls per day
    daily_remaining: int | None = None  # X-HubSpot-RateLimit-Daily-Remaining

    def as_dict(self) -> dict[str, int | None]:
        """Plain form for reports."""
        return asdict(self)


@dataclass
class _Window:
    limit: int
    seconds: float
    stamps: deque[float] = field(default_factory=deque)
    recent: deque[float] = field(default_factory=deque)  # pruned stamps kept a window longer (see `left_since`)
    blocked_until: float = 0.0

    @property
    def span(self) -> float:
        """How long after its stamp a call stops counting: the window plus the guard."""
        return self.seconds + min(GUARD_S, self.seconds * GUARD_MAX_SHARE)

    @property
    def arrival(self) -> float:
        """How long after its writing a request may arrive at the latest, as this window counts it."""
        return min(ARRIVAL_S, self.seconds * GUARD_MAX_SHARE)

    def move(self, stamp: float, to: float) -> bool:
        """Move one call's stamp; False when it already left the window (taken more than a window ago)."""
        try:
            self.stamps.remove(stamp)
        except ValueError:
            return False
        bisect.insort(self.stamps, to)
        return True

    def prune(self, now: float) -> None:
        while self.stamps and self.stamps[0] <= now - self.span:
            self.recent.append(self.stamps.popleft())
        while self.recent and self.recent[0] <= now - 3 * self.span:
            self.recent.popleft()  # no answer in flight was sent that long ago (a request ends within its deadline)

    def left_since(self, since: float) -> int:
        """Calls already pruned from the window that were sent after `since`."""
        while self.recent and self.recent[0] <= since - self.seconds:
            self.recent.popleft()  # older than any answer still in flight can ask about
        return sum(1 for stamp in self.recent if stamp > since)

    def wait_needed(self, now: float) -> float:
        self.prune(now)
        wait = max(0.0, self.blocked_until - now)
        if len(self.stamps) >= self.limit:
            # The call that must leave for one more to fit (more than one when the limit was lowered).
            wait = max(wait, self.stamps[len(self.stamps) - self.limit] + self.span - now)
        return wait


class RateLimiter:
    """Blocks until a request may go out; raises DailyLimitError once the daily budget is spent."""

    def __init__(
        self,
        per_10s: int,
        search_per_second: int,
        daily_budget: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        timezone: str = "UTC",
    ) -> None:
        self.timezone = timezone
        self._general = _Window(per_10s, GENERAL_WINDOW_S)
        self._search = _Window(search_per_second, SEARCH_WINDOW_S)
        self._ceiling = per_10s
        self._daily_budget = daily_budget
        self._daily_used = 0
        self._daily_stopped_until = 0.0  # HubSpot said DAILY (epoch s): nothing more is sent before then
        self._daily_day = datetime.fromtimestamp(wall(), ZoneInfo(timezone)).date()
        self._clock, self._wall, self._sleep = clock, wall, sleep
        self._lock = threading.Lock()
        self._observed = ObservedLimits()
        self._round_trips: deque[float] = deque(maxlen=ROUND_TRIPS_KEPT)  # writing to answer, the latest answers
        self.waited_seconds = 0.0

    def acquire(self, search: bool = False) -> float:
        """Wait for a free slot in the relevant window and take it; returns the time it was taken (the request is
        counted as sent then, so requests in flight on other threads hold their slots from that moment)."""
        window = self._search if search else self._general
        while True:
            with self._lock:
                self._check_daily()
                now = self._clock()
                wait = window.wait_needed(now)
                if wait <= 0:
                    window.stamps.append(now)
                    self._daily_used += 1
                    return now
                self.waited_seconds += wait
            self._sleep(wait)

    def _check_daily(self) -> None:
        today = datetime.fromtimestamp(self._wall(), ZoneInfo(self.timezone)).date()
        if today != self._daily_day:
            self._daily_day, self._daily_used = today, 0
        if self._wall() < self._daily_stopped_until:
            raise DailyLimitError("HubSpot's daily API limit is reached", resume_at=self._daily_stopped_until)
        if self._daily_used >= self._daily_budget:
            resume = next_midnight(self._wall(), self.timezone)
            raise DailyLimitError(f"daily API budget of {self._daily_budget} calls spent", resume_at=resume)

    def observe(self, headers: Mapping[str, str], sent_at: float | None = None) -> None:
        """Learn from HubSpot's rate-limit headers: window length, app maximum, what remains today and now.

        `sent_at` is when the answered request was sent (`acquire`'s time): HubSpot counted its window when the
        request arrived, so every call of ours it counted was sent after `sent_at` less a window."""
        lower = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            interval = _int(lower.get("x-hubspot-ratelimit-interval-milliseconds"))
            if interval:
                scale = interval / 1000.0 / GENERAL_WINDOW_S
                self._general.seconds = interval / 1000.0
                self._search.seconds = SEARCH_WINDOW_S * scale  # sandboxes shrink both windows alike
            maximum = _int(lower.get("x-hubspot-ratelimit-max"))
            if maximum:
                self._general.limit = min(self._ceiling, maximum)
            remaining = _int(lower.get("x-hubspot-ratelimit-remaining"))
            if maximum and remaining is not None:
                self._count_others(maximum - remaining, sent_at)
            daily, daily_left = (
                _int(lower.get("x-hubspot-ratelimit-daily")),
                _int(lower.get("x-hubspot-ratelimit-daily-remaining")),
            )
            if daily is not None and daily_left is not None:
                self._daily_used = max(self._daily_used, daily - daily_left)  # the portal's usage, all apps
            self._remember(maximum, interval, daily, daily_left)

    def _remember(self, maximum: int | None, interval: int | None, daily: int | None, left: int | None) -> None:
        """Keep what the headers said, each value until a later answer says otherwise."""
        seen = {"max_per_window": maximum, "window_ms": interval, "daily": daily, "daily_remaining": left}
        self._observed = replace(self._observed, **{k: v for k, v in seen.items() if v is not None})

    def observed(self) -> ObservedLimits:
        """What HubSpot's rate-limit headers said so far (read-only; for the doctor and status pages)."""
        with self._lock:
            return self._observed

    def _count_others(self, used: int, sent_at: float | None) -> None:
        """HubSpot counts more calls in the window than we sent: another process shares the token. We cannot know
        when its calls leave the window, so count them as sent now (they free their slots a window from now)."""
        window = self._general
        now = self._clock()
        window.prune(now)
        # Our own calls never exceed our count: we stamp before HubSpot does and forget after it does. Calls that
        # left our window while the answer travelled back (a slow answer, others in flight) were still in HubSpot's
        # count: they are ours, not another process's.
        ours = len(window.stamps)
        if sent_at is not None:
            ours += window.left_since(sent_at - window.seconds)
        for _ in range(used - ours):
            window.stamps.append(now)

    def refused(self, search: bool = False) -> float:
        """HubSpot answered 429 without `Retry-After`: the window is full as HubSpot counts it. Hold it until its
        oldest call leaves (a slot frees then; a whole window when we know of no call in it) and return that wait."""
        window = self._search if search else self._general
        with self._lock:
            now = self._clock()
            window.prune(now)
            if window.stamps:
                window.stamps.pop()  # the refused call: HubSpot did not count it
            wait = window.stamps[0] + window.span - now if window.stamps else window.span
            # The rest of the full window is calls another process made, at times we cannot know: count them as sent
            # now, as `_count_others` does, so they hold their slots a window.
            window.stamps.extend([now] * (window.limit - len(window.stamps)))
            window.blocked_until = max(window.blocked_until, now + wait)
            return wait

    def sent(self, taken_at: float, search: bool = False) -> float:
        """The request whose slot was taken at `taken_at` is being written now (`sync.hubspot.wire`): it counts
        from now. Returns the new stamp. Between taking a slot and writing the request lie the SDK's work, a new
        connection's handshake and the GIL: with requests in flight on several threads that delay varies more than
        `GUARD_S` covers."""
        window = self._search if search else self._general
        with self._lock:
            now = self._clock()
            if not window.move(taken_at, now):
                bisect.insort(window.stamps, now)  # its slot had left the window while it waited: it counts again
            return now

    def answered(self, written_at: float, search: bool = False) -> float:
        """The request written at `written_at` was answered (or failed): HubSpot counted it by now, and at the
        latest an allowance after its writing (`ARRIVAL_S`, or the quickest recent round trip when that is longer).
        Its stamp moves to the earlier of the two; returns the new stamp."""
        window = self._search if search else self._general
        with self._lock:
            now = self._clock()
            self._round_trips.append(now - written_at)
            allowance = max(window.arrival, min(self._round_trips))
            arrived_by = min(now, written_at + allowance)
            window.move(written_at, arrived_by)
            return arrived_by

    def daily_refused(self, resume_at: float) -> None:
        """HubSpot answered 429 DAILY: no request of any thread is sent before `resume_at` (epoch seconds); those
        already in flight end as they end."""
        with self._lock:
            self._daily_stopped_until = max(self._daily_stopped_until, resume_at)

    def pause(self, seconds: float, search: bool = False) -> None:
        """HubSpot answered 429 with `Retry-After`: hold the window for `seconds`."""
        window = self._search if search else self._general
        with self._lock:
            window.blocked_until = max(window.blocked_until, self._clock() + seconds)

    def window_seconds(self, search: bool = False) -> float:
        """The current length of a window (learnt from headers)."""
        return (self._search if search else self._general).seconds

    @property
    def daily_used(self) -> int:
        """Calls counted against today's budget (ours, or HubSpot's count when it told us more)."""
        return self._daily_used


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
