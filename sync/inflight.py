"""Requests in flight: producers (iterators that fetch from HubSpot) run on worker threads, and what they produce is
handed to the caller's thread, which alone writes to the store (SQLite keeps one writer; a page commits with its
cursor as before).

Memory stays bounded: a queue of at most `workers` items between the workers and the caller, and each worker holds
at most the one item it is putting. With one worker nothing runs on a thread: the producers run one after the other
on the caller's thread, exactly as a serial pull did.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")
PUT_POLL_S = 0.1  # how often a worker blocked on a full queue looks whether the caller gave up
AHEAD = 2  # `mapped` submits up to this many times its workers: the next calls wait queued, not behind a slow one


class _DaemonPool:
    """A few daemon threads running submitted calls, each in a copy of the submitter's context (structlog's bound
    run_id and object type stay on every log line). Daemon, and never joined on an error: a request stuck in flight
    (a second Ctrl-C, a page that takes minutes) must not keep the run, or the process at exit, waiting for it; no
    worker touches the store, so nothing is left half-written. (concurrent.futures' executor joins its threads at
    interpreter exit, which is what rules it out here; its Future is used as is.)"""

    def __init__(self, workers: int, name: str) -> None:
        self._jobs: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def _work(self) -> None:
        while (job := self._jobs.get()) is not None:
            job()

    def submit(self, fn: Callable[..., R], *args: object) -> Future[R]:
        """Run `fn(*args)` on a worker; its outcome in the returned future."""
        future: Future[R] = Future()
        context = contextvars.copy_context()

        def job() -> None:
            if not future.set_running_or_notify_cancel():
                return
            try:
                future.set_result(context.run(fn, *args))
            except BaseException as exc:  # handed to whoever reads the future
                future.set_exception(exc)

        self._jobs.put(job)
        return future

    def close(self) -> None:
        """No more work: each worker ends after its current call (not waited for)."""
        for _ in self._threads:
            self._jobs.put(None)


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
    raised here; leaving the loop early (an error, a stop) cancels the producers still running without waiting for
    them (each ends at its next item: at most the requests in flight are lost)."""
    if workers <= 1 or len(producers) <= 1:
        for producer in producers:
            yield from producer()
        return
    feed: _Feed[T] = _Feed(queue.Queue(maxsize=workers), threading.Event())
    pool = _DaemonPool(min(workers, len(producers)), "kpi-sync-fetch")
    try:
        for producer in producers:
            pool.submit(feed.run, producer)
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
        pool.close()


def mapped(fn: Callable[[T], R], items: Iterable[T], workers: int) -> Iterator[tuple[T, R]]:
    """(item, fn(item)) for every item, as each call completes, with `fn` running on up to `workers` threads at
    once (inline, in order, with one). `items` is read on the caller's thread, at most 2 x `workers` ahead of what
    was handed back, so a slow call (HubSpot's latency has a long tail) does not hold up the ones behind it; the
    first error of `fn` is raised here; calls not started by then are cancelled, those in flight are not waited
    for."""
    if workers <= 1:
        for item in items:
            yield item, fn(item)
        return
    pool = _DaemonPool(workers, "kpi-sync-send")
    pending: dict[Future[R], T] = {}
    try:
        for item in items:
            pending[pool.submit(fn, item)] = item
            if len(pending) >= AHEAD * workers:
                yield from _completed(pending)
        while pending:
            yield from _completed(pending)
    finally:
        for future in pending:
            future.cancel()
        pool.close()


def _completed(pending: dict[Future[R], T]) -> Iterator[tuple[T, R]]:
    """Wait for at least one of the pending calls; hand back those done (removed from `pending`)."""
    done, _ = wait(pending, return_when=FIRST_COMPLETED)
    for future in done:
        yield pending.pop(future), future.result()
