"""Fixtures for sandbox tests: a shared read-only sandbox, fresh sandboxes for writes, SDK clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from hubspot import HubSpot

from sandbox.harness import RunningSandbox, run_sandbox

ANCHOR_MS = 1_790_000_000_000  # a fixed "now" for generated history: exports are comparable across runs


def make_client(sb: RunningSandbox, token: str | None = None) -> HubSpot:
    """A hubspot-api-client 12 client pointed at the sandbox."""
    return HubSpot(access_token=token or sb.token, host=sb.base_url)


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


def assert_lossless(model: Any, raw: Any, path: str = "$") -> None:
    """Every key of the raw JSON is an attribute of the SDK model (nothing dropped when deserialising)."""
    if isinstance(raw, list):
        for i, (m, r) in enumerate(zip(model, raw, strict=True)):
            assert_lossless(m, r, f"{path}[{i}]")
        return
    if not isinstance(raw, dict) or not hasattr(model, "attribute_map"):
        return
    by_json = {json_key: attr for attr, json_key in model.attribute_map.items()}
    for key, value in raw.items():
        assert key in by_json, f"{path}.{key} is not in {type(model).__name__}"
        inner = getattr(model, by_json[key])
        if isinstance(inner, dict):
            for k, v in value.items():
                assert_lossless(inner[k], v, f"{path}.{key}.{k}")
        else:
            assert_lossless(inner, value, f"{path}.{key}")
