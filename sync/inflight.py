"""Requests in flight: producers (iterators that fetch from HubSpot) run on worker threads, and what they produce is
handed to the caller's thread, which alone writes to the store (SQLite keeps one writer; a page commits with its
cursor as before).

Memory stays bounded: a queue of at most `workers` items between the workers and the caller, and each worker holds
at most the one item it is putting. With one worker nothing runs on a thread: the producers run one after the other
on the caller's thread, exactly as a serial pull did. Work on a worker thread runs in a copy of the caller's
context variables, so its log lines carry the run's bound context.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
PUT_POLL_S = 0.1  # how often a worker blocked on a full queue looks whether the caller gave up


@dataclass(frozen=True)
class _Done:
    """A producer finished (its error, if it failed)."""

    error: BaseException | None = None


class _CancelledError(Exception):
    """The caller stopped consuming: the worker drops what it has and ends."""


@dataclass
class _Feed(Generic[T]):
    items: queue.Queue[T | _Done]
    cancelled: threading.Event

    def put(self, item: T | _Done) -> None:
        while not self.cancelled.is_set():
            try:
                self.items.put(item, timeout=PUT_POLL_S)
                return
            except queue.Full:
                continue
        raise _CancelledError

    def run(self, producer: Callable[[], Iterable[T]]) -> None:
        try:
            for item in producer():
                self.put(item)
        except _CancelledError:
            return
        except BaseException as exc:  # handed to the caller's thread, which raises it
            self._finish(_Done(exc))
            return
        self._finish(_Done())

    def _finish(self, done: _Done) -> None:
        try:
            self.put(done)
        except _CancelledError:
            return


def merged(producers: Sequence[Callable[[], Iterable[T]]], workers: int) -> Iterator[T]:
    """Every item of every producer, on the caller's thread: each producer's items in its order, producers
    interleaved as their items arrive, at most `workers` producers running at once. The first producer error is
    raised here; leaving the loop early (an error, a stop) cancels the producers still running and waits for them
    (each ends at its next item: at most the requests in flight are lost)."""
    if workers <= 1 or len(producers) <= 1:
        for producer in producers:
            yield from producer()
        return
    feed: _Feed[T] = _Feed(queue.Queue(maxsize=workers), threading.Event())
    pool = ThreadPoolExecutor(max_workers=min(workers, len(producers)), thread_name_prefix="kpi-sync-fetch")
    try:
        for producer in producers:
            # The caller's context travels with the work (structlog's bound run_id and object type in every line).
            pool.submit(contextvars.copy_context().run, feed.run, producer)
        running = len(producers)
        while running:
            item = feed.items.get()
            if isinstance(item, _Done):
                running -= 1
                if item.error is not None:
                    raise item.error
                continue
            yield item
    finally:
        feed.cancelled.set()
        pool.shutdown(wait=True, cancel_futures=True)


def mapped(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) for every item, in the items' order, with `fn` running on up to `workers` threads at once
    (inline with one). `items` is read on the caller's thread, at most `workers` ahead of what was handed back; the
    first error of `fn` is raised here, after the calls already in flight end."""
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kpi-sync-send") as pool:
        pending: list[tuple[T, Future[R]]] = []
        try:
            for item in items:
                pending.append((item, pool.submit(contextvars.copy_context().run, fn, item)))
                if len(pending) >= workers:
                    first, future = pending.pop(0)
                    yield first, future.result()
            for item, future in pending:
                yield item, future.result()
        finally:
            for _, future in pending:
                future.cancel()
