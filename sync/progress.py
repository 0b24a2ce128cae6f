"""Live progress of a cycle, and how it is stopped between pages.

The cycle owns one `Progress`. The puller and the write-back report to it at page boundaries (phase, object,
records so far, HubSpot's `total` where a search answer gives one); it hands an immutable `Snapshot` to each
observer: the run's row (`sync.runs.LiveRow`), the CLI's display, the worker's metrics. `RunStop` is the event the
pull checks between pages: set when the caller asks (a signal, the worker shutting down) or the run is cancelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sync.json_fields import section, whole


class Interrupted(Exception):  # noqa: N818 - a signal, not an error
    """A graceful stop was requested; the last page committed and the cursor says where to resume."""


class RunStop(threading.Event):
    """Set when this run must stop after the page in flight: by its own `set` (a cancel) or by the caller's event
    (Ctrl-C, SIGTERM, a worker shutting down), which it reads but never sets, so a cancel stops one run only."""

    def __init__(self, outer: threading.Event | None = None) -> None:
        super().__init__()
        self.outer = outer

    def is_set(self) -> bool:
        """Whether this run or its caller asked to stop."""
        return super().is_set() or (self.outer is not None and self.outer.is_set())


@dataclass(frozen=True)
class ObjectProgress:
    """One object type's progress in this run: records read (or contacts written, in the push), pages, the number
    HubSpot's search answer lets us expect (None where no answer says), and when the run reached it."""

    records: int = 0
    pages: int = 0
    total: int | None = None
    started_at: int = 0  # epoch ms

    def to_json(self) -> dict[str, Any]:
        """One entry of a snapshot's `objects`."""
        return {"records": self.records, "pages": self.pages, "total": self.total, "started_at": self.started_at}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ObjectProgress:
        """Read back `to_json`."""
        total = data.get("total")
        return cls(
            whole(data.get("records")),
            whole(data.get("pages")),
            total if isinstance(total, int) and not isinstance(total, bool) else None,
            whole(data.get("started_at")),
        )


@dataclass(frozen=True)
class Snapshot:
    """Where a running cycle is: its phase (pull, kpis, push), the object it works on, the API calls sent so far,
    and each object's progress, keyed `phase:object` (`pull:contacts`, `push:contacts`)."""

    phase: str = "starting"
    object_type: str | None = None
    calls: int = 0
    objects: Mapping[str, ObjectProgress] = field(default_factory=dict)
    updated_at: int = 0  # epoch ms

    @property
    def current(self) -> ObjectProgress:
        """The progress of the object being worked on (empty between objects)."""
        return self.objects.get(f"{self.phase}:{self.object_type}", ObjectProgress())

    @property
    def records(self) -> int:
        """Records of the current object so far."""
        return self.current.records

    def to_json(self) -> dict[str, Any]:
        """The stored form (`sync_runs.progress`, and `progress` in the runs API)."""
        return {
            "phase": self.phase,
            "object": self.object_type,
            "records": self.records,
            "total": self.current.total,
            "calls": self.calls,
            "objects": {key: value.to_json() for key, value in self.objects.items()},
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: object) -> Snapshot | None:
        """Read back `to_json` (None for a row without progress)."""
        if not isinstance(data, Mapping) or not data:
            return None
        objects = section(data, "objects")
        obj = data.get("object")
        return cls(
            phase=str(data.get("phase") or "starting"),
            object_type=str(obj) if obj is not None else None,
            calls=whole(data.get("calls")),
            objects={str(k): ObjectProgress.from_json(section(objects, k)) for k in objects},
            updated_at=whole(data.get("updated_at")),
        )


Observer = Callable[[Snapshot], None]


def _now_ms() -> int:
    return int(time.time() * 1000)


class Progress:
    """What the cycle reports as it goes; each report makes a snapshot and hands it to every observer, in order.
    Observers run in the cycle's thread at page boundaries, so they must be quick (the run row throttles itself)."""

    def __init__(
        self,
        observers: Sequence[Observer] = (),
        *,
        calls: Callable[[], int] = lambda: 0,
        stop: threading.Event | None = None,
    ) -> None:
        self.observers = list(observers)
        self.calls = calls
        self.stop = stop or threading.Event()
        self.snapshot = Snapshot()

    def phase(self, name: str, object_type: str | None = None) -> None:
        """The cycle entered a phase (and, within it, an object type)."""
        key = f"{name}:{object_type}"
        objects = dict(self.snapshot.objects)
        if object_type is not None and key not in objects:
            objects[key] = ObjectProgress(started_at=_now_ms())
        self._publish(replace(self.snapshot, phase=name, object_type=object_type, objects=objects))

    def page(self, object_type: str, records: int, *, total: int | None = None) -> None:
        """One page of `object_type` done in the current phase: `records` in it, and HubSpot's `total` for the query
        that answered it (the records left from this page on), where the answer gave one."""
        if self.snapshot.object_type != object_type:
            self.phase(self.snapshot.phase, object_type)
        key = f"{self.snapshot.phase}:{object_type}"
        before = self.snapshot.objects.get(key, ObjectProgress(started_at=_now_ms()))
        expected = before.records + total if total is not None else before.total
        after = replace(before, records=before.records + records, pages=before.pages + 1, total=expected)
        self._publish(replace(self.snapshot, objects={**self.snapshot.objects, key: after}))

    def boundary(self) -> None:
        """A page boundary where stopping loses nothing: raises Interrupted when the run was asked to stop."""
        if self.stop.is_set():
            raise Interrupted

    def _publish(self, snapshot: Snapshot) -> None:
        self.snapshot = replace(snapshot, calls=self.calls(), updated_at=_now_ms())
        for observer in self.observers:
            observer(self.snapshot)
