"""How `kpi-sync sync` shows a cycle's progress: live bars per object with rich on a terminal (records, rate, and
the time left where HubSpot's search answer gives a total); off a terminal, one `sync_progress` log line per object
every few seconds. Both are observers of `sync.progress.Progress`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO, cast

import structlog
from rich.console import Console
from rich.file_proxy import FileProxy
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from sync.progress import Observer, Snapshot

LOG_EVERY_S = 5.0  # off a terminal: at most one progress line per object this often (and one when an object starts)

log = structlog.get_logger(__name__)


class ProgressLog:
    """Logs `sync_progress` (phase, object, records, total, calls) when the cycle reaches a new object, and every
    `every_s` seconds while it stays on one."""

    def __init__(self, every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.every_s, self.clock = every_s, clock
        self._last: tuple[str, str | None] | None = None
        self._at = 0.0

    def __call__(self, snapshot: Snapshot) -> None:
        if snapshot.object_type is None:
            return
        where = (snapshot.phase, snapshot.object_type)
        now = self.clock()
        if where == self._last and now - self._at < self.every_s:
            return
        self._last, self._at = where, now
        log.info(
            "sync_progress",
            phase=snapshot.phase,
            object=snapshot.object_type,
            records=snapshot.records,
            total=snapshot.current.total,
            calls=snapshot.calls,
        )


class ProgressBars:
    """One rich progress bar per phase and object: records so far, records per second, the total and the time left
    where HubSpot gave a total (a spinner where it did not)."""

    def __init__(self, console: Console) -> None:
        self.bars = Progress(
            SpinnerColumn(),
            TextColumn("{task.description:<18}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[calls]} calls"),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}
        self.done: set[str] = set()

    def __call__(self, snapshot: Snapshot) -> None:
        current = f"{snapshot.phase}:{snapshot.object_type}"
        # A phase left behind: its bars fill. Objects of one phase stay open until it ends, since their pages are read
        # side by side (HUBSPOT_MAX_IN_FLIGHT) and each may report again after another has.
        phase = f"{snapshot.phase}:"
        for key in [k for k in self.tasks if not k.startswith(phase) and k not in self.done]:
            records = snapshot.objects[key].records if key in snapshot.objects else 1
            self.bars.update(self.tasks[key], completed=records, total=records)
            self.done.add(key)
        obj = snapshot.objects.get(current)
        if obj is None:
            if snapshot.object_type is None and current not in self.tasks:  # a phase of no object: the KPIs
                self.tasks[current] = self.bars.add_task(snapshot.phase, total=None, rate="", calls="")
            return
        bare = self.tasks.pop(f"{snapshot.phase}:None", None)
        if bare is not None:  # the phase has objects after all: their bars replace its own
            self.bars.remove_task(bare)
        if current not in self.tasks:
            self.tasks[current] = self.bars.add_task(current.replace(":", " "), total=None, rate="", calls=0)
        seconds = max(time.time() - obj.started_at / 1000, 1e-3)
        self.bars.update(
            self.tasks[current],
            completed=obj.records,
            total=max(obj.total, obj.records) if obj.total is not None else None,
            rate=f"{obj.records / seconds:,.0f}/s",
            calls=snapshot.calls,
        )


@contextmanager
def progress_display(stream: TextIO | None = None) -> Iterator[Observer]:
    """The observer that shows a cycle's progress on `stream` (standard error): bars on a terminal, log lines off
    one."""
    out = stream or sys.stderr
    if not out.isatty():
        yield ProgressLog()
        return
    bars = ProgressBars(Console(file=out))
    previous = structlog.get_config()["logger_factory"]
    with bars.bars:
        # Log lines go through the bars' console, above the bars, instead of tearing them.
        structlog.configure(
            logger_factory=structlog.PrintLoggerFactory(file=cast(TextIO, FileProxy(bars.bars.console, out)))
        )
        try:
            yield bars
        finally:
            structlog.configure(logger_factory=previous)
