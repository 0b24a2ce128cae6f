"""A latency model for API answers: seeded, log-normally distributed delays with a given mean and a tail whose
99th percentile is about four times the mean (off when the mean is 0)."""

from __future__ import annotations

import math
import random
import threading

# For a log-normal delay, p99 / mean = exp(2.326 * sigma - sigma^2 / 2); sigma = 0.702 makes that ratio 4.
SIGMA = 0.702
Z99 = 2.326


class Latency:
    """Draws one delay per request; the same seed gives the same sequence of delays."""

    def __init__(self, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._lock = threading.Lock()

    def delay_ms(self, mean_ms: float) -> float:
        """One delay in milliseconds for a model with this mean (0 when the mean is 0)."""
        if mean_ms <= 0:
            return 0.0
        mu = math.log(mean_ms) - SIGMA**2 / 2  # a log-normal's mean is exp(mu + sigma^2 / 2)
        with self._lock:
            return self._rng.lognormvariate(mu, SIGMA)
