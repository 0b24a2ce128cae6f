"""Exact counts of every API request the sandbox answered, by route template, status, object type and fault."""

from __future__ import annotations

import threading
from typing import Any

FAULT_KINDS = ("429", "5xx", "drop", "slow", "malformed", "partial")


class Stats:
    """Thread-safe request counters for `/_sandbox/stats`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self.total = 0
            self.by_route: dict[str, dict[str, int]] = {}
            self.by_status: dict[str, int] = {}
            self.by_object: dict[str, int] = {}
            self.faults = dict.fromkeys(FAULT_KINDS, 0)

    def record(self, route: str, status: int | str, object_type: str | None) -> None:
        """Count one answered (or dropped: status "drop") request."""
        key = str(status)
        with self._lock:
            self.total += 1
            per_route = self.by_route.setdefault(route, {})
            per_route[key] = per_route.get(key, 0) + 1
            self.by_status[key] = self.by_status.get(key, 0) + 1
            if object_type:
                self.by_object[object_type] = self.by_object.get(object_type, 0) + 1

    def fault(self, kind: str, n: int = 1) -> None:
        """Count an injected fault."""
        with self._lock:
            self.faults[kind] += n

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON."""
        with self._lock:
            return {
                "total": self.total,
                "by_route": {k: dict(v) for k, v in self.by_route.items()},
                "by_status": dict(self.by_status),
                "by_object": dict(self.by_object),
                "faults": dict(self.faults),
            }
