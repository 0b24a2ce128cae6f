"""Answers' bodies that one hostile record would otherwise make unreadable: invalid UTF-8, lone surrogates, entries
nested deeper than any parser takes; and a body that cannot be read even entry by entry, in one line."""

from __future__ import annotations

import pytest

from sync.hubspot.decode import MAX_DEPTH, Unreadable, decode_body
from sync.hubspot.errors import MalformedResponseError
from sync.hubspot.records import ParseStats, Quarantined, parse_page


def test_invalid_utf8_in_a_body_costs_only_its_values() -> None:
    """Bytes that are not UTF-8 and a lone surrogate escape decode as lone surrogates; the page is read."""
    body = decode_body(b'{"results":[{"id":"1","properties":{"a":"x\xff","b":"\\ud83d"}},{"id":"2"}]}')
    assert body["results"] == [{"id": "1", "properties": {"a": "x\udcff", "b": "\ud83d"}}, {"id": "2"}]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5_000])
def test_an_entry_nested_too_deep_stands_as_unreadable(depth: int) -> None:
    """An entry of `results` nested deeper than the cap, however deep, is cut out by its index and named by id and
    field, when orjson refuses the body; the entries around it are read."""
    deep = b"[" * depth + b"]" * depth
    raw = b'{"results":[{"id":"1"},{"id":"2","properties":{"x":' + deep + b'}},"\xff"],"paging":{"next":{"after":"9"}}}'
    body = decode_body(raw)
    assert body["results"] == [{"id": "1"}, Unreadable("2", "properties.x"), "\udcff"]
    assert body["paging"] == {"next": {"after": "9"}}


def test_a_body_nested_too_deep_outside_its_records_is_malformed_in_one_line() -> None:
    """Nesting beyond what a parser takes outside `results` leaves nothing to read: one line, no RecursionError."""
    with pytest.raises(MalformedResponseError, match="nested too deep to read"):
        decode_body(b'{"paging":' + b"[" * 5_000 + b"]" * 5_000 + b"}")


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 1_000])
def test_a_record_nested_deeper_than_the_cap_is_skipped_and_quarantined(depth: int) -> None:
    """Nesting a parser still reads (orjson takes 1,024 levels) is held to the same cap as what it cannot: the record
    is skipped and quarantined by id, its neighbours parsed."""
    nested: object = []
    for _ in range(depth - 2):  # the record and its properties are two levels
        nested = [nested]
    stats = ParseStats()
    records = [{"id": "1", "properties": {"dealstage": nested}}, {"id": "2", "properties": {"dealstage": "won"}}]
    parsed = parse_page("deals", records, stats)
    assert [row["id"] for row in parsed.rows] == [2]
    assert parsed.quarantined == [Quarantined(1, "record", "nesting")]
    assert (stats.skipped_records, stats.quarantined["deals"]) == (1, 1)
