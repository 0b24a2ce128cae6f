"""The client-side rate limiter: rolling windows that free a slot when the oldest call leaves, headers that teach
it the window and what others used, and a full run against the sandbox's throttled windows at the floor."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from hubspot.crm.objects.exceptions import ApiException

from sandbox.harness import RunningSandbox, run_sandbox
from sync.hubspot.client import HubSpotClient, translate
from sync.hubspot.errors import DailyLimitError, RateLimitedError
from sync.hubspot.ratelimit import ARRIVAL_S, GUARD_S, RateLimiter, next_midnight
from tests.helpers import settings_for

HEADERS = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "190"}


class FakeClock:
    """Monotonic time that moves only when the limiter sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def make_limiter(clock: FakeClock, per_10s: int = 190, search: int = 5, daily: int = 1_000_000) -> RateLimiter:
    """A limiter on the fake clock (wall time fixed at a Monday noon UTC)."""
    return RateLimiter(per_10s, search, daily, clock=clock, wall=lambda: 1_764_590_400.0, sleep=clock.sleep)


def send(limiter: RateLimiter, clock: FakeClock, n: int, *, gap: float = 0.0, search: bool = False) -> list[float]:
    """Acquire `n` slots, `gap` seconds of work after each; return the send times."""
    times = []
    for _ in range(n):
        limiter.acquire(search=search)
        times.append(clock.now)
        clock.now += gap
    return times


def test_a_full_window_frees_a_slot_when_its_oldest_call_leaves_it() -> None:
    """The call after a full window goes out when the window's first call has left it, plus the guard."""
    clock = FakeClock()
    limiter = make_limiter(clock, per_10s=3)
    times = send(limiter, clock, 4, gap=1.0)
    assert times[3] == pytest.approx(10.0 + GUARD_S)


def test_a_call_counts_from_when_it_was_written_not_from_when_its_slot_was_taken() -> None:
    """Five searches take their slots at 0; four are written at once, one 0.3 s later (a new connection, the GIL).
    HubSpot counts that one from its arrival: after the window, four slots free at 1 s, the fifth at 1.3 s."""
    clock = FakeClock()
    limiter = make_limiter(clock, search=5)
    taken = [limiter.acquire(search=True) for _ in range(5)]
    for slot in taken[1:]:
        limiter.sent(slot, search=True)
    clock.now = 0.3
    assert limiter.sent(taken[0], search=True) == 0.3
    clock.now = 1.0
    times = send(limiter, clock, 5, search=True)
    assert times == pytest.approx([1.0 + GUARD_S] * 4 + [1.3 + GUARD_S])


def test_an_answer_bounds_when_hubspot_counted_the_call_and_a_slow_one_costs_only_the_arrival_allowance() -> None:
    """Five searches written at 0: one answered after 10 ms (HubSpot counted it by then), four after 500 ms (it
    counted them within ARRIVAL_S of their writing, not at their answer). After the window the first slot frees at
    1.01 s, the others at 1.05 s, each plus the guard: a latency costs a slot no more than ARRIVAL_S."""
    clock = FakeClock()
    limiter = make_limiter(clock, search=5)
    written = [limiter.sent(limiter.acquire(search=True), search=True) for _ in range(5)]
    clock.now = 0.01
    assert limiter.answered(written[0], search=True) == 0.01
    clock.now = 0.5
    assert {limiter.answered(at, search=True) for at in written[1:]} == {ARRIVAL_S}
    clock.now = 1.0
    times = send(limiter, clock, 5, search=True)
    assert times == pytest.approx([1.01 + GUARD_S] + [ARRIVAL_S + 1.0 + GUARD_S] * 4)


def test_on_a_far_network_the_quickest_recent_round_trip_is_the_arrival_allowance() -> None:
    """Every answer takes 0.3 s: the way to HubSpot may take longer than ARRIVAL_S, but never longer than the quickest
    round trip, so the slots count from the answers, and the next searches go out at 1.3 s plus the guard."""
    clock = FakeClock()
    limiter = make_limiter(clock, search=5)
    written = [limiter.sent(limiter.acquire(search=True), search=True) for _ in range(5)]
    clock.now = 0.3
    assert {limiter.answered(at, search=True) for at in written} == {0.3}
    clock.now = 1.0
    assert send(limiter, clock, 5, search=True) == pytest.approx([1.3 + GUARD_S] * 5)


def test_a_request_written_after_its_slot_left_the_window_counts_from_its_writing() -> None:
    """A slot taken at 0 whose request is written only at 2 s (a slow handshake): the request counts from 2 s, so four
    more searches fill the window and the fifth waits for it to leave."""
    clock = FakeClock()
    limiter = make_limiter(clock, search=5)
    taken = limiter.acquire(search=True)
    clock.now = 2.0
    limiter.sent(taken, search=True)
    times = send(limiter, clock, 5, search=True)
    assert times == pytest.approx([2.0] * 4 + [3.0 + GUARD_S])


def test_remaining_zero_from_our_own_calls_does_not_block_a_whole_window() -> None:
    """HubSpot's `Remaining: 0` after our own calls fill the window waits for the oldest to leave, not 10 s more."""
    clock = FakeClock()
    limiter = make_limiter(clock)
    for i in range(190):
        limiter.acquire()
        limiter.observe({**HEADERS, "X-HubSpot-RateLimit-Remaining": str(189 - i)})
        clock.now += 0.01
    limiter.acquire()
    assert clock.now == pytest.approx(10.0 + GUARD_S)


def test_calls_another_process_made_are_counted_until_a_window_from_now() -> None:
    """When HubSpot counts more calls than we sent, the extra ones hold their slots for a window from then."""
    clock = FakeClock()
    limiter = make_limiter(clock, per_10s=10)
    limiter.acquire()
    limiter.observe({**HEADERS, "X-HubSpot-RateLimit-Max": "10", "X-HubSpot-RateLimit-Remaining": "2"})
    times = send(limiter, clock, 3)
    assert times[:2] == [0.0, 0.0]
    assert times[2] == pytest.approx(10.0 + GUARD_S)


def test_a_count_that_matches_ours_takes_no_slot() -> None:
    """HubSpot counting exactly our calls leaves every remaining slot usable at once."""
    clock = FakeClock()
    limiter = make_limiter(clock, per_10s=3)
    limiter.acquire()
    limiter.observe({**HEADERS, "X-HubSpot-RateLimit-Max": "3", "X-HubSpot-RateLimit-Remaining": "2"})
    assert send(limiter, clock, 2) == [0.0, 0.0]


@pytest.mark.parametrize(
    ("interval_ms", "general_s", "search_s"),
    [(10_000, 10.0, 1.0), (1_000, 1.0, 0.1), (40_000, 40.0, 4.0)],
)
def test_the_interval_header_sets_both_windows(interval_ms: int, general_s: float, search_s: float) -> None:
    """A scaled window (a sandbox's time scale) scales the search window alike."""
    limiter = make_limiter(FakeClock())
    limiter.observe({"X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms)})
    assert limiter.window_seconds() == pytest.approx(general_s)
    assert limiter.window_seconds(search=True) == pytest.approx(search_s)


@pytest.mark.parametrize(("interval_ms", "second_search_at"), [(10_000, 1.0 + GUARD_S), (1_000, 0.105), (100, 0.0105)])
def test_the_guard_is_at_most_a_twentieth_of_a_window(interval_ms: int, second_search_at: float) -> None:
    """The send-to-arrival guard never costs more than 5 % of a (shrunk) search window."""
    clock = FakeClock()
    limiter = make_limiter(clock, search=1)
    limiter.observe({"X-HubSpot-RateLimit-Interval-Milliseconds": str(interval_ms)})
    assert send(limiter, clock, 2, search=True)[1] == pytest.approx(second_search_at)


def test_the_max_header_does_not_raise_the_configured_ceiling() -> None:
    """HubSpot allowing 190 leaves a ceiling of 150 at 150."""
    clock = FakeClock()
    limiter = make_limiter(clock, per_10s=150)
    limiter.observe(HEADERS)
    times = send(limiter, clock, 151)
    assert times[149] == 0.0
    assert times[150] == pytest.approx(10.0 + GUARD_S)


def test_a_429_pause_holds_the_window() -> None:
    """After `pause(s)`, nothing goes out for `s` seconds."""
    clock = FakeClock()
    limiter = make_limiter(clock)
    limiter.pause(3.0)
    assert send(limiter, clock, 1) == [3.0]


def test_the_daily_budget_stops_the_run() -> None:
    """The call past the daily budget raises DailyLimitError with the next midnight as resume time."""
    clock = FakeClock()
    limiter = make_limiter(clock, daily=2)
    send(limiter, clock, 2)
    with pytest.raises(DailyLimitError):
        limiter.acquire()


@pytest.mark.parametrize(
    ("timezone", "resume_utc"),
    [
        ("UTC", "2025-12-02T00:00:00+00:00"),
        ("America/New_York", "2025-12-02T05:00:00+00:00"),  # noon UTC is 07:00 there: five hours after UTC's
        ("Europe/Amsterdam", "2025-12-01T23:00:00+00:00"),  # an hour before UTC's
    ],
)
def test_a_spent_daily_budget_resumes_at_the_portals_midnight(timezone: str, resume_utc: str) -> None:
    """HubSpot resets the daily count at midnight in the portal's time zone, not at midnight UTC."""
    clock = FakeClock()
    limiter = RateLimiter(1, 1, 1, clock=clock, wall=lambda: 1_764_590_400.0, sleep=clock.sleep, timezone=timezone)
    limiter.acquire()
    with pytest.raises(DailyLimitError) as err:
        limiter.acquire()
    assert err.value.resume_at == datetime.fromisoformat(resume_utc).timestamp()


def test_a_daily_429_without_retry_after_resumes_at_the_portals_midnight() -> None:
    """A DAILY 429 that does not say when to retry is held until the next midnight of the portal's time zone."""
    exc = ApiException(status=429, reason="Too Many Requests")
    exc.body = b'{"status":"error","errorType":"RATE_LIMIT","policyName":"DAILY","message":"daily limit"}'
    err = translate(exc, timezone="America/Los_Angeles")
    assert isinstance(err, DailyLimitError)
    assert err.resume_at == next_midnight(time.time(), "America/Los_Angeles")
    assert datetime.fromtimestamp(err.resume_at, ZoneInfo("America/Los_Angeles")).hour == 0


@pytest.mark.parametrize("gap", [0.0, 0.02])
def test_many_windows_of_calls_take_the_rate_limit_floor(gap: float) -> None:
    """N calls at 190 per 10 s take (N / 190 - 1) windows plus one guard per window: the floor, within 1 %."""
    clock = FakeClock()
    limiter = make_limiter(clock)
    limiter.observe(HEADERS)
    times = send(limiter, clock, 1_900, gap=gap)
    assert times[-1] == pytest.approx(9 * (10.0 + GUARD_S) + gap * 189, rel=0.01)


# -- against the sandbox's enforced windows ---------------------------------------------------------------------

SCALE = 0.2  # a 2 s window: 190 calls need 2 s, far more than the sandbox needs to answer them
SLEEP_TOLERANCE_S = 0.1  # how late a sleep may wake on a loaded machine


@pytest.fixture(scope="module")
def throttled() -> Iterator[RunningSandbox]:
    """A small portal enforcing Professional limits (190 per window) with windows shrunk to a fifth."""
    with run_sandbox(seed=3, contacts=50, throttle=True, tier="professional", time_scale=SCALE) as sb:
        yield sb


def owners_call(sb: RunningSandbox) -> tuple[int, dict[str, str]]:
    """One cheap general call: status and headers (a 429 returns its own)."""
    url, auth = sb.base_url + "/crm/v3/owners?limit=1", {"Authorization": f"Bearer {sb.token}"}
    request = urllib.request.Request(url, headers=auth)  # noqa: S310 - the local sandbox
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the local sandbox
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers)


def test_at_the_professional_limit_the_sandbox_refuses_nothing_and_no_wait_is_longer_than_the_window_needs(
    throttled: RunningSandbox,
) -> None:
    """Four windows of calls at HubSpot's own maximum: no 429, and before each call the limiter waits only until the
    call 190 back has left the window (plus the guard), whatever the time each call took."""
    limiter = RateLimiter(190, 5, 1_000_000)
    span = 10 * SCALE + GUARD_S
    sent: list[float] = []
    done: list[float] = []
    statuses = []
    for _ in range(4 * 190 + 1):
        limiter.acquire()
        sent.append(time.monotonic())
        status, headers = owners_call(throttled)
        done.append(time.monotonic())
        limiter.observe(headers)
        statuses.append(status)
    excess = [sent[i] - max(done[i - 1], sent[i - 190] + span if i >= 190 else 0.0) for i in range(1, len(sent))]
    assert statuses.count(429) == 0
    assert max(excess) < SLEEP_TOLERANCE_S
    assert sent[-1] - sent[0] >= 4 * 10 * SCALE


@pytest.mark.parametrize(("headers", "wait"), [({"Retry-After": "3"}, 3.0), ({}, None)], ids=["retry-after", "none"])
@pytest.mark.parametrize("policy", ["SECONDLY", "TEN_SECONDLY_ROLLING"])
def test_a_short_policy_429_carries_hubspots_wait_or_none(
    policy: str, headers: dict[str, str], wait: float | None
) -> None:
    """A SECONDLY or TEN_SECONDLY_ROLLING 429 is retriable with HubSpot's `Retry-After`, or with no wait when it
    names none (the client then asks its limiter)."""
    exc = ApiException(status=429, reason="Too Many Requests")
    exc.body = orjson.dumps({"status": "error", "errorType": "RATE_LIMIT", "policyName": policy, "message": "limit"})
    exc.headers = headers
    err = translate(exc)
    assert isinstance(err, RateLimitedError)
    assert err.wait_seconds == wait


@pytest.mark.parametrize(
    ("search", "limit", "window_s"), [(False, 10, 10.0), (True, 5, 1.0)], ids=["general", "search"]
)
def test_a_429_without_retry_after_holds_the_window_until_its_oldest_call_leaves(
    search: bool, limit: int, window_s: float
) -> None:
    """HubSpot refusing the call that fills our window (another process took a slot) holds the window only until
    our oldest call leaves it, and later calls go out as their slots free, not a whole window after the 429."""
    clock = FakeClock()
    limiter = make_limiter(clock, per_10s=10, search=5)
    gap = window_s / limit
    send(limiter, clock, limit - 1, gap=gap, search=search)  # our calls at 0, gap, ..., up to `limit - 2` gaps
    limiter.acquire(search=search)  # the one HubSpot refuses
    refused_at = clock.now
    guard = min(GUARD_S, window_s * 0.05)
    assert limiter.refused(search=search) == pytest.approx(window_s + guard - refused_at)
    assert send(limiter, clock, 2, search=search) == pytest.approx([window_s + guard, window_s + guard + gap])


@pytest.mark.parametrize(("search", "window_s"), [(False, 10.0), (True, 1.0)], ids=["general", "search"])
def test_a_429_without_retry_after_and_no_call_of_ours_in_the_window_holds_it_a_whole_window(
    search: bool, window_s: float
) -> None:
    """When every call in HubSpot's full window is another process's, nothing tells when one leaves: a window."""
    clock = FakeClock()
    limiter = make_limiter(clock)
    limiter.acquire(search=search)  # the one HubSpot refuses
    span = window_s + min(GUARD_S, window_s * 0.05)
    assert limiter.refused(search=search) == pytest.approx(span)
    assert send(limiter, clock, 1, search=search) == pytest.approx([span])


def test_the_client_retries_a_ten_secondly_429_when_the_oldest_call_leaves_the_window(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """Through the client against the sandbox: a TEN_SECONDLY_ROLLING 429 without `Retry-After` on the call that
    fills the window is retried once the window's oldest call has left it, about a second later, not ten."""
    sandbox.set_faults(rate_429=1.0)  # every call refused, without Retry-After
    clock = FakeClock()
    limiter = make_limiter(clock, per_10s=10)
    settings = settings_for(sandbox, f"sqlite:///{tmp_path / 'unused.db'}", hubspot_max_retries=1)
    client = HubSpotClient(settings.hubspot_config(), limiter=limiter, sleep=clock.sleep)
    send(limiter, clock, 9, gap=1.0)  # nine earlier calls, a second apart: 0 to 8 s; now 9 s
    with pytest.raises(RateLimitedError):
        client.pipelines()
    assert client.stats.faults["429"] == 2  # the call and its one retry
    assert clock.now == pytest.approx(10.0 + GUARD_S)  # the retry went out when the call at 0 s left the window
