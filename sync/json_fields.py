"""Tolerant readers of stored JSON (a run's counts): a value that is missing or of the wrong type reads as zero or
empty, so rows written by older versions (or edited by hand) load instead of breaking a status page."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any


def section(data: object, key: str) -> Mapping[str, Any]:
    """`data[key]` when both are JSON objects, else an empty one."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def whole(value: object) -> int:
    """An integer count (a bool or a float is not one: 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def real(value: object) -> float:
    """A number of seconds or megabytes (anything else: 0.0)."""
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def counter(value: object) -> Counter[str]:
    """Counts by name; entries that are not integer counts are dropped."""
    if not isinstance(value, Mapping):
        return Counter()
    return Counter({str(k): whole(n) for k, n in value.items() if whole(n)})


def texts(value: object) -> list[str]:
    """A list of strings; anything else in it is dropped."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def messages(value: object) -> dict[str, str]:
    """Text by name (an id's message); entries whose value is not text are dropped."""
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, str)}
