"""What HubSpot says in an error is stored and printed only after masking what it may echo back."""

from __future__ import annotations

import pytest

from sync.hubspot.client import safe_message, translate
from sync.hubspot.errors import RequestError


class _RefusalError(Exception):
    """Shaped like the SDK's ApiException: a status and a JSON body."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__("refused")
        self.status, self.body = status, body
        self.headers: dict[str, str] = {}


@pytest.mark.parametrize(
    ("said", "kept", "gone"),
    [
        ("Property values were not valid: jane.doe@example.com", "Property values were not valid", "jane.doe"),
        ("Bearer pat-na1-0123abcd-4567-89ef is not allowed", "is not allowed", "0123abcd"),
        ("token pat-eu1-abcdef-123456 expired", "expired", "abcdef-123456"),
    ],
)
def test_echoed_personal_data_and_tokens_are_masked(said: str, kept: str, gone: str) -> None:
    """E-mail addresses and token-like text in HubSpot's message become ***; the rest of the message stays."""
    shown = safe_message(said)
    assert kept in shown
    assert gone not in shown


def test_a_refused_request_keeps_status_and_category_and_masks_the_message() -> None:
    """A 400 becomes a RequestError with its status and category; the e-mail in HubSpot's message is masked."""
    body = b'{"status":"error","category":"VALIDATION_ERROR","message":"email jane@example.com is invalid"}'
    err = translate(_RefusalError(400, body))
    assert isinstance(err, RequestError)
    assert (err.status, err.category) == (400, "VALIDATION_ERROR")
    assert "jane@example.com" not in str(err)
    assert "is invalid" in str(err)
