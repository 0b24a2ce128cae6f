"""Bounded waits: whatever `Retry-After` a 429 carries (huge, infinite, negative, not a number), the client waits at
most two windows on a short policy and resumes a DAILY stop no later than the portal's next midnight plus a margin.
Driven through the sandbox's 429 fault, sleeping on a recording clock."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox
from sync.hubspot.client import HubSpotClient
from sync.hubspot.constants import DAILY_RESUME_MARGIN_S, RETRY_AFTER_MAX_S
from sync.hubspot.errors import DailyLimitError, RateLimitedError
from sync.hubspot.ratelimit import GUARD_S, RateLimiter, next_midnight
from tests.helpers import RecordingClock, settings_for

TIMEZONE = "America/Los_Angeles"


def client_on(sandbox: RunningSandbox, tmp_path: Path, clock: RecordingClock) -> HubSpotClient:
    """A client of the sandbox that retries once and sleeps (limiter and retries alike) on `clock`."""
    settings = settings_for(
        sandbox, f"sqlite:///{tmp_path / 'unused.db'}", hubspot_max_retries=1, kpi_timezone=TIMEZONE
    )
    config = settings.hubspot_config()
    limiter = RateLimiter(190, 5, 1_000_000, clock=clock, sleep=clock.sleep, timezone=TIMEZONE)
    return HubSpotClient(config, limiter=limiter, sleep=clock.sleep)


@pytest.mark.parametrize("policy", ["TEN_SECONDLY_ROLLING", "SECONDLY", "SOME_NEW_POLICY"])
def test_a_huge_short_policy_retry_after_waits_at_most_two_windows(
    sandbox: RunningSandbox, tmp_path: Path, policy: str
) -> None:
    """`Retry-After: 1000000000` (31 years) on a short or unknown policy: the retry waits 20 s, and says so."""
    sandbox.set_faults(rate_429=1.0, retry_after_value="1000000000", policy_429=policy)
    clock = RecordingClock()
    client = client_on(sandbox, tmp_path, clock)
    with capture_logs() as logs, pytest.raises(RateLimitedError):
        client.pipelines()
    assert clock.sleeps
    assert max(clock.sleeps) <= RETRY_AFTER_MAX_S
    assert clock.now <= RETRY_AFTER_MAX_S  # the limiter's hold of the window is capped as well
    capped = [e for e in logs if e["event"] == "hubspot_retry_after_capped"]
    assert capped[0]["asked_s"] == 1e9


@pytest.mark.parametrize("value", ["inf", "-inf", "nan", "-5", "soon"])
def test_a_retry_after_that_is_no_wait_falls_back_to_the_limiters_own(
    sandbox: RunningSandbox, tmp_path: Path, value: str
) -> None:
    """A `Retry-After` that is infinite, not a number, negative or text is ignored with a log line: the retry
    waits as the limiter says for a 429 without one (a whole window here: no call of ours is in it)."""
    sandbox.set_faults(rate_429=1.0, retry_after_value=value)
    clock = RecordingClock()
    client = client_on(sandbox, tmp_path, clock)
    with capture_logs() as logs, pytest.raises(RateLimitedError):
        client.pipelines()
    assert client.stats.faults["429"] == 2  # the call and its retry: no crash in between
    assert clock.sleeps[0] == pytest.approx(10.0 + GUARD_S)
    assert any(e["event"] == "hubspot_retry_after_ignored" for e in logs)


def test_a_daily_429_with_a_huge_retry_after_resumes_by_the_portals_next_midnight(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    """A DAILY 429 with `Retry-After: 1e12` (year 33715) resumes no later than midnight in KPI_TIMEZONE plus the
    margin: a time every reader can show."""
    sandbox.set_faults(rate_429=1.0, retry_after_value="1e12", policy_429="DAILY")
    client = client_on(sandbox, tmp_path, RecordingClock())
    with pytest.raises(DailyLimitError) as err:
        client.pipelines()
    now = time.time()
    assert now < err.value.resume_at <= next_midnight(now, TIMEZONE) + DAILY_RESUME_MARGIN_S
    assert client.stats.faults["429"] == 1  # DAILY is never retried


def test_a_daily_429_with_a_short_retry_after_resumes_after_it(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """A DAILY 429 whose `Retry-After` ends before the bound is honoured as HubSpot says."""
    sandbox.set_faults(rate_429=1.0, retry_after_value="60", policy_429="DAILY")
    client = client_on(sandbox, tmp_path, RecordingClock())
    with pytest.raises(DailyLimitError) as err:
        client.pipelines()
    assert err.value.resume_at == pytest.approx(time.time() + 60, abs=5)
