"""The latency model (`--latency-ms`): off by default, a seeded log-normal with the given mean and p99 near 4x."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from contextlib import AbstractContextManager

from sandbox.config import Settings
from sandbox.harness import RunningSandbox
from sandbox.latency import Latency

Start = Callable[..., AbstractContextManager[RunningSandbox]]


def test_latency_is_off_by_default() -> None:
    """A sandbox adds no latency unless asked: the default mean is 0 and a 0 mean draws 0."""
    assert Settings().latency_ms == 0
    assert Latency(seed=1).delay_ms(0) == 0


def test_delays_have_the_mean_and_a_tail_near_four_times_it() -> None:
    """20,000 seeded draws at mean 100 ms: mean about 100, median below it, p99 about 400."""
    latency = Latency(seed=7)
    delays = sorted(latency.delay_ms(100) for _ in range(20_000))
    assert 95 <= statistics.fmean(delays) <= 105
    assert 70 <= statistics.median(delays) <= 85
    assert 360 <= delays[int(0.99 * len(delays))] <= 440
    assert min(delays) > 0


def test_the_same_seed_draws_the_same_delays() -> None:
    """Two models with one seed draw the same delays."""
    first, second = Latency(seed=3), Latency(seed=3)
    assert [first.delay_ms(50) for _ in range(5)] == [second.delay_ms(50) for _ in range(5)]


def test_each_api_answer_carries_a_delay_when_on(fresh: Start) -> None:
    """With latency_ms set (here at run time), every API answer is held back; with 0 none is."""
    with fresh(contacts=5, engagements=5) as sb:
        auth = f"Bearer {sb.token}"
        assert sb.app.handle("GET", "/crm/v3/objects/contacts", auth, b"").delay_s == 0
        sb.settings(latency_ms=40)
        delays = [sb.app.handle("GET", "/crm/objects/2026-09/contacts", auth, b"").delay_s for _ in range(20)]
        assert all(d > 0 for d in delays)
        assert len(set(delays)) == 20
