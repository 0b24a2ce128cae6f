"""KpiConfig: every configurable default pinned, and validation with clear messages."""

from __future__ import annotations

import re

import pytest

from kpi.config import KpiConfig


def test_every_default_is_pinned() -> None:
    """The defaults are exactly the spec's."""
    config = KpiConfig()
    assert config.connected_dispositions == frozenset({"f240bbac-87c9-4f6e-bf70-924b57d47db7"})
    assert config.decision_maker_roles == frozenset({"DECISION_MAKER", "BUDGET_HOLDER"})
    assert config.content_path_pattern == (
        r"(^|/)(e-?books?|white-?papers?|case-?stud(y|ies)|guides?|webinars?|brochures?|data-?sheets?)(/|-|$)"
    )
    assert config.timezone == "UTC"
    assert config.stale_after_days == 14
    assert config.min_attempts == 5


def test_derived_values_are_built_once() -> None:
    """The pattern is compiled and the zone loaded when the config is built."""
    config = KpiConfig(timezone="Europe/Amsterdam")
    assert isinstance(config.content_re, re.Pattern)
    assert config.tzinfo.key == "Europe/Amsterdam"
    assert config.calendar.tz.key == "Europe/Amsterdam"
    assert config.stale_after_ms == 14 * 86_400_000


def test_collections_are_frozen() -> None:
    """Lists given for the sets are stored as frozensets."""
    config = KpiConfig(connected_dispositions=["a", "b"], decision_maker_roles=())  # type: ignore[arg-type]
    assert config.connected_dispositions == frozenset({"a", "b"})
    assert config.decision_maker_roles == frozenset()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content_path_pattern": "(ebook"}, "content_path_pattern is not a valid regular expression"),
        ({"content_path_pattern": ""}, "content_path_pattern must be a non-empty"),
        ({"timezone": "Mars/Olympus"}, "not a known IANA time zone"),
        ({"timezone": ""}, "timezone must be an IANA time zone name"),
        ({"timezone": "../etc/passwd"}, "not a known IANA time zone"),
        ({"stale_after_days": 0}, "stale_after_days must be a positive whole number"),
        ({"stale_after_days": -3}, "stale_after_days must be a positive whole number"),
        ({"min_attempts": 0}, "min_attempts must be a positive whole number"),
        ({"min_attempts": 2.5}, "min_attempts must be a positive whole number"),
        ({"min_attempts": True}, "min_attempts must be a positive whole number"),
        ({"connected_dispositions": frozenset()}, "connected_dispositions must name at least one value"),
        ({"connected_dispositions": frozenset({" "})}, "connected_dispositions must contain non-empty strings"),
        ({"decision_maker_roles": frozenset({""})}, "decision_maker_roles must contain non-empty strings"),
    ],
)
def test_bad_values_raise_value_error(kwargs: dict[str, object], message: str) -> None:
    """A bad value fails when the config is built, with a message naming the item."""
    with pytest.raises(ValueError, match=re.escape(message)):
        KpiConfig(**kwargs)  # type: ignore[arg-type]


def test_validate_returns_the_config() -> None:
    """validate() on a good config returns it unchanged."""
    config = KpiConfig(min_attempts=3)
    assert config.validate() is config
