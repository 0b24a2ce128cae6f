"""HubSpot's write validation as the adapter reports it: the refused inputs a 400 names, a 207's per-input messages,
and messages made safe to store and show."""

from __future__ import annotations

import pytest

from sandbox.harness import RunningSandbox
from sync.hubspot.client import HubSpotClient, safe_message
from sync.hubspot.errors import VALIDATION_ERROR, RequestError
from tests.helpers import settings_for

PERMISSION = "You do not have permission to edit contacts record {}."


@pytest.mark.parametrize(
    ("message", "safe"),
    [
        ("Property 'industry' is required when lifecyclestage is 'customer'.", None),
        ("hs_lifecyclestage_salesqualifiedlead_date is invalid for record 1234567", None),
        ("token pat-na1-0a1b2c3d-4e5f-6789 was echoed", "token *** was echoed"),
        ("header Authorization: Bearer abc.def.ghi sent", "header Authorization: *** sent"),
        ("value 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b was refused", "value *** was refused"),
        ("two\n  lines", "two lines"),
        ("x" * 300, "x" * 199 + "\u2026"),
        (None, ""),
    ],
)
def test_hubspots_message_is_one_line_without_token_like_text_and_capped(message: str | None, safe: str | None) -> None:
    """Bearer credentials, HubSpot-style keys and long letter-and-digit runs are masked; at most 200 characters."""
    assert safe_message(message) == (message if safe is None else safe)


def _client(sb: RunningSandbox, url: str) -> HubSpotClient:
    return HubSpotClient(settings_for(sb, url, hubspot_max_retries=0).hubspot_config())


def _inputs(sb: RunningSandbox, n: int) -> list[dict[str, object]]:
    ids = [r["id"] for r in sb.export("contacts") if not r.get("archived")][:n]
    return [{"id": i, "properties": {"firstname": "Ada"}} for i in ids]


def test_a_400_validation_error_names_the_refused_inputs_with_their_message(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    """A batch refused whole raises RequestError(VALIDATION_ERROR) whose `refused` maps each named id to its message."""
    inputs = _inputs(sandbox, 5)
    refused = str(inputs[2]["id"])
    sandbox.set_validation(mode="batch", refuse=[{"object": "contacts", "ids": [refused]}])
    with pytest.raises(RequestError) as caught:
        _client(sandbox, sqlite_url).batch_update("contacts", inputs)
    assert (caught.value.status, caught.value.category) == (400, VALIDATION_ERROR)
    assert caught.value.refused == {refused: PERMISSION.format(refused)}


def test_a_207_validation_error_carries_the_message_of_each_refused_input(
    sandbox: RunningSandbox, sqlite_url: str
) -> None:
    """Refused one by one, the inputs come back as per-input errors with HubSpot's message beside the category."""
    inputs = _inputs(sandbox, 5)
    refused = str(inputs[4]["id"])
    sandbox.set_validation(mode="per_input", refuse=[{"object": "contacts", "ids": [refused]}])
    result = _client(sandbox, sqlite_url).batch_update("contacts", inputs)
    assert (result.errors, result.messages) == ({refused: VALIDATION_ERROR}, {refused: PERMISSION.format(refused)})
    assert len(result.accepted) == 4
