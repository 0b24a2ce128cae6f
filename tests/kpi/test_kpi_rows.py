"""Input rows: deal outcome from flags or stage metadata, and timestamp parsing for the pull."""

from __future__ import annotations

import pytest

from kpi.rows import Stage, deal_outcome, parse_timestamp, stage_map
from tests.kpi.kpi_factories import make_deal, make_owner

STAGES = stage_map(
    [
        Stage("default", "closedwon", True, 1.0),
        Stage("default", "closedlost", True, 0.0),
        Stage("default", "open", False, 0.4),
        Stage("default", "closed-nop", True, None),
    ]
)


@pytest.mark.parametrize(
    ("won", "closed", "stage", "outcome"),
    [
        (True, True, "open", True),
        (False, True, "closedwon", False),
        (False, False, "closedwon", None),
        (None, None, "closedwon", True),
        (None, None, "closedlost", False),
        (None, None, "open", None),
        (None, None, "closed-nop", False),
        (None, True, "closedwon", True),
        (None, True, "closedlost", False),
        (True, None, "unknown", True),
        (False, None, "closedlost", False),
        (None, None, "unknown", None),
        (None, True, "unknown", None),
        (False, None, "unknown", None),
    ],
    ids=[
        "flags-won",
        "flags-lost",
        "flags-open",
        "stage-won",
        "stage-lost",
        "stage-open",
        "stage-no-probability",
        "won-from-stage",
        "lost-from-stage",
        "won-flag-only",
        "lost-closed-from-stage",
        "nothing-known",
        "closed-won-unknown",
        "not-won-closed-unknown",
    ],
)
def test_deal_outcome(won: bool | None, closed: bool | None, stage: str, outcome: bool | None) -> None:
    """Deal flags win; missing ones come from stage metadata (isClosed; probability 1.0 = won)."""
    deal = make_deal(won=won, closed=closed, stage=stage)
    assert deal_outcome(deal, STAGES) is outcome


def test_stage_of_another_pipeline_is_not_used() -> None:
    """Stage metadata is looked up by (pipeline, stage)."""
    deal = make_deal(pipeline="other", stage="closedwon")
    assert deal_outcome(deal, STAGES) is None


@pytest.mark.parametrize(
    ("value", "ms"),
    [
        (1_791_194_400_000, 1_791_194_400_000),
        ("1791194400000", 1_791_194_400_000),
        ("2026-10-05T10:00:00Z", 1_791_194_400_000),
        ("2026-10-05T10:00:00.123Z", 1_791_194_400_123),
        ("2026-10-05T12:00:00+02:00", 1_791_194_400_000),
        ("2026-10-05T10:00:00", 1_791_194_400_000),
        (None, None),
        ("", None),
        ("not a date", None),
        (True, None),
        (10**20, None),
        (1.5, None),
    ],
)
def test_parse_timestamp(value: object, ms: int | None) -> None:
    """ms epoch ints/strings and ISO text become int ms UTC; anything else is unusable (None)."""
    assert parse_timestamp(value) == ms


def test_primary_team_is_the_first() -> None:
    """An owner's primary team is its first team; none without teams."""
    assert make_owner(teams=("t2", "t1")).primary_team_id == "t2"
    assert make_owner(teams=()).primary_team_id is None
