"""The service's wall clock, in epoch milliseconds (HubSpot's modification times are on the same scale)."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds."""
    return int(time.time() * 1000)
