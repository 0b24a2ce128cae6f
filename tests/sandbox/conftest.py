"""Fixtures for sandbox tests: a shared read-only sandbox, fresh sandboxes for writes, SDK clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from hubspot import HubSpot

from sandbox.harness import RunningSandbox, run_sandbox
from tests.sandbox.wire import make_client


@pytest.fixture(scope="module")
def shared() -> Iterator[RunningSandbox]:
    """One small sandbox per module for read-only tests (no index lag)."""
    with run_sandbox(seed=42, index_lag_ms=0) as sb:
        yield sb


@pytest.fixture
def fresh() -> Callable[..., AbstractContextManager[RunningSandbox]]:
    """Start a sandbox of its own: `with fresh(contacts=200) as sb:`; small and lag-free unless told."""

    def start(**options: Any) -> AbstractContextManager[RunningSandbox]:
        defaults: dict[str, Any] = {"contacts": 200, "engagements": 1_500, "index_lag_ms": 0}
        return run_sandbox(**{**defaults, **options})

    return start


@pytest.fixture
def client(shared: RunningSandbox) -> HubSpot:
    """An SDK client on the shared sandbox."""
    return make_client(shared)
