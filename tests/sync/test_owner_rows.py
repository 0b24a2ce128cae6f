"""Owners and pipeline stages from odd HubSpot entries: what the store keeps."""

from __future__ import annotations

from sync.hubspot.records import owner_row, stage_row


def test_owner_keeps_its_primary_team_first_and_drops_teams_without_an_id() -> None:
    """The first team listed is the primary one (K1-K5 team scope); a team with no id cannot be a scope."""
    row = owner_row(
        {"id": "7", "teams": [{"id": "t1", "name": "North"}, {"name": "nameless"}, {"id": "t2", "primary": True}]},
        archived=False,
    )
    assert row["team_ids"] == ["t2", "t1"]
    assert row["team_names"] == ["", "North"]


def test_owner_fields_of_the_wrong_type_are_left_empty() -> None:
    """A numeric e-mail, a name with NUL (PostgreSQL refuses it) or a user id beyond BIGINT is not stored."""
    row = owner_row({"id": 8, "email": 5, "firstName": "A\x00B", "lastName": "Ng", "userId": 2**64}, archived=True)
    assert row == {
        "id": "8",
        "email": None,
        "first_name": None,
        "last_name": "Ng",
        "user_id": None,
        "archived": True,
        "team_ids": [],
        "team_names": [],
    }


def test_stage_probability_and_closed_flag_come_from_its_metadata() -> None:
    """`isClosed` and `probability` arrive as strings; an unparseable probability is unknown, not zero."""
    won = stage_row({"id": "default"}, {"id": "closedwon", "metadata": {"isClosed": "true", "probability": "1.0"}})
    odd = stage_row({"id": "default"}, {"id": "x", "metadata": {"probability": "high"}})
    assert (won["is_closed"], won["probability"]) == (True, 1.0)
    assert (odd["is_closed"], odd["probability"]) == (False, None)
