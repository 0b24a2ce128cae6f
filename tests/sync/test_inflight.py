"""Requests in flight (`HUBSPOT_MAX_IN_FLIGHT`): one limiter and one daily budget for every thread, no 429 provoked
by the concurrency, the same calls and the same store as one request at a time."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox, run_sandbox
from storage.engine import open_store
from sync import inflight
from sync.config import HubSpotConfig
from sync.hubspot.client import HubSpotClient
from sync.hubspot.ratelimit import RateLimiter
from tests.helpers import RecordingClock, cycle, kpi_mismatches, settings_for, stored, truth

TOKEN = "inflight-token-123"
SCALE = 0.2  # HubSpot's 10 s window shrunk to 2 s: 190 calls need 2 s, more than 8 threads need to send them
PROFESSIONAL = {"throttle": True, "tier": "professional", "time_scale": SCALE}


@pytest.fixture
def throttled() -> Iterator[RunningSandbox]:
    """A small portal enforcing Professional limits (190 calls per window, 5 searches per second), windows
    shrunk to a fifth, answering after a few milliseconds so requests overlap."""
    with run_sandbox(seed=11, size="small", token=TOKEN, index_lag_ms=0, latency_ms=3, **PROFESSIONAL) as sb:
        yield sb


def statuses(sb: RunningSandbox) -> dict[str, int]:
    """HTTP statuses the sandbox answered since its last reset."""
    return dict(sb.stats()["by_status"])


def test_eight_threads_sharing_one_client_stay_within_the_window_as_hubspot_counts_it(
    throttled: RunningSandbox,
) -> None:
    """Eight threads send four windows' worth of calls through one client: the limiter counts each call when it is
    sent, so the sandbox never sees more than 190 in a window (no 429), and counts every call the client counted."""
    config = HubSpotConfig(
        token=SecretStr(throttled.token), base_url=throttled.base_url, max_in_flight=8, max_retries=0
    )
    client = HubSpotClient(config)
    throttled.reset_stats()

    def send() -> None:
        for _ in range(96):
            client.sample_owners()

    threads = [threading.Thread(target=send) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses(throttled).get("429", 0) == 0
    assert client.stats.faults["429"] == 0
    assert throttled.stats()["total"] == client.stats.total == 8 * 96


def test_an_answer_that_travelled_while_others_were_sent_is_not_taken_for_another_process() -> None:
    """HubSpot counts a window when a request arrives; by the time its answer is read, calls sent earlier may have
    left our window. They are ours: the limiter holds no slot for another process, and the next call goes at once."""
    clock = RecordingClock()
    limiter = RateLimiter(190, 5, 1_000_000, clock=clock, sleep=clock.sleep)
    headers = {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Max": "190"}
    for _ in range(189):
        limiter.acquire()
        clock.now += 0.05  # 189 calls over 9.45 s
    clock.now = 10.0
    sent_at = limiter.acquire()  # call 190 arrives at once: HubSpot counts all 190 in its window
    clock.now = 10.6  # its answer is read 0.6 s later, after the first dozen calls left our window
    limiter.observe({**headers, "X-HubSpot-RateLimit-Remaining": "0"}, sent_at=sent_at)
    limiter.acquire()
    assert clock.sleeps == []


def test_a_pull_with_four_in_flight_sends_the_serial_pulls_calls_and_stores_the_same(
    throttled: RunningSandbox, tmp_path: Path
) -> None:
    """A first load with four requests in flight, at Professional limits: requests did overlap (never more than
    four), no 429, every call the serial pull sends (route by route), and a store equal to HubSpot's data."""
    serial_url, parallel_url = f"sqlite:///{tmp_path}/serial.db", f"sqlite:///{tmp_path}/parallel.db"
    calls, peaks = {}, {}
    for url, in_flight in ((serial_url, 1), (parallel_url, 4)):
        settings = settings_for(
            throttled,
            url,
            writeback_enabled=False,
            hubspot_rate_limit_per_10s=190,
            hubspot_search_per_second=5,
            hubspot_max_in_flight=in_flight,
        )
        throttled.reset_stats()
        summary = cycle(open_store(url), settings)
        assert statuses(throttled).get("429", 0) == 0
        calls[in_flight], peaks[in_flight] = throttled.stats()["by_route"], summary.counts.api.peak_in_flight
    assert peaks[1] == 1
    assert 1 < peaks[4] <= 4
    assert calls[4] == calls[1]
    assert stored(open_store(parallel_url)) == stored(open_store(serial_url)) == truth(throttled)


def test_a_write_back_with_four_in_flight_writes_each_contact_once(
    throttled: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A first full write-back with four batch updates in flight: one call per 100 contacts, no 429, and HubSpot
    holds every computed value."""
    settings = settings_for(
        throttled, sqlite_url, hubspot_rate_limit_per_10s=190, hubspot_search_per_second=5, hubspot_max_in_flight=4
    )
    throttled.reset_stats()
    summary = cycle(sqlite_store, settings)
    assert statuses(throttled).get("429", 0) == 0
    assert summary.counts.push.contacts_written > 100
    assert summary.counts.push.write_calls == math.ceil(summary.counts.push.contacts_written / 100)
    computed, mismatched = kpi_mismatches(sqlite_store, throttled)
    assert computed
    assert mismatched == set()


def test_a_slow_write_does_not_hold_up_the_writes_behind_it() -> None:
    """Batches travel on worker threads and are handed back as they complete: while the first call waits on a slow
    answer, the ones after it (up to twice the workers ahead) come back, and every item comes back once."""
    release = threading.Event()

    def send(item: int) -> int:
        if item == 0:
            assert release.wait(10), "the calls behind the slow one never came back"
        return item * 10

    seen: list[int] = []
    for item, result in inflight.mapped(send, range(12), workers=3):
        assert result == item * 10
        seen.append(item)
        if len(seen) == 5:  # five calls behind the slow first one are back: let it answer
            release.set()
    assert 0 not in seen[:5]
    assert sorted(seen) == list(range(12))
