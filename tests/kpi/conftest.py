"""Fixtures of the KPI engine tests: the default config and a fixed now."""

from __future__ import annotations

import pytest

from kpi.config import KpiConfig
from tests.kpi.kpi_factories import BASE, DAY


@pytest.fixture
def config() -> KpiConfig:
    """The config with every default."""
    return KpiConfig()


@pytest.fixture
def now() -> int:
    """A now well after BASE (so time-dependent values are decided)."""
    return BASE + 30 * DAY
