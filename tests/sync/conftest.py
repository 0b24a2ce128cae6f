"""Fixtures for pipeline tests: a sandbox portal, settings pointing at it, and ground truth from the sandbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sandbox.harness import RunningSandbox, run_sandbox
from tests.helpers import TOKEN


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A small seeded portal with no search-index lag (tests that need lag set it themselves)."""
    with run_sandbox(seed=7, size="small", token=TOKEN, index_lag_ms=0) as sb:
        yield sb
