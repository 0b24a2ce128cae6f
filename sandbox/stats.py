"""Exact counts of every API request the sandbox answered, by route template, status, object type, fault and API
family (numbered `/crm/v3`-style paths against date-versioned `/crm/objects/2026-09`-style ones)."""

from __future__ import annotations

import threading
from typing import Any

FAULT_KINDS = ("429", "5xx", "drop", "slow", "malformed", "partial")
FAMILIES = ("numbered", "dated", "other")


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
            self.by_family = dict.fromkeys(FAMILIES, 0)
            self.by_version: dict[str, int] = {}
            self.numbered_routes: dict[str, int] = {}
            self.validation = {"refused_inputs": 0, "refused_requests": 0}

    def record(
        self,
        route: str,
        status: int | str,
        object_type: str | None,
        *,
        family: str = "other",
        version: str | None = None,
        call: str | None = None,
    ) -> None:
        """Count one answered (or dropped: status "drop") request of an API family (and date version).

        `route` is "METHOD template"; `call` names a numbered call in `numbered_routes` (default: `route`).
        """
        key = str(status)
        with self._lock:
            self.total += 1
            per_route = self.by_route.setdefault(route, {})
            per_route[key] = per_route.get(key, 0) + 1
            _bump(self.by_status, key)
            if object_type:
                _bump(self.by_object, object_type)
            _bump(self.by_family, family)
            if version:
                _bump(self.by_version, version)
            if family == "numbered":
                _bump(self.numbered_routes, call or route)

    def fault(self, kind: str, n: int = 1) -> None:
        """Count an injected fault."""
        with self._lock:
            self.faults[kind] += n

    def refused(self, inputs: int) -> None:
        """Count one write request that validation rules refused `inputs` inputs of."""
        with self._lock:
            self.validation["refused_inputs"] += inputs
            self.validation["refused_requests"] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as JSON."""
        with self._lock:
            return {
                "total": self.total,
                "by_route": {k: dict(v) for k, v in self.by_route.items()},
                "by_status": dict(self.by_status),
                "by_object": dict(self.by_object),
                "faults": dict(self.faults),
                "by_family": dict(self.by_family),
                "by_version": dict(self.by_version),
                "numbered_routes": dict(self.numbered_routes),
                "validation": dict(self.validation),
            }


def _bump(counts: dict[str, int], key: str) -> None:
    counts[key] = counts.get(key, 0) + 1
