"""The `poison` faults: the first record of each answer of the chosen object types carries a NUL, a lone surrogate,
bytes that are not UTF-8 or nesting thousands of levels deep, as raw bytes on the wire; the other records and the
portal's own data stay clean."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.faults import FaultConfig
from sandbox.harness import RunningSandbox

DEALS = "/crm/objects/2026-09/deals?limit=3&properties=dealstage"


def raw(sb: RunningSandbox, path: str) -> bytes:
    """An answer's body as sent, undecoded."""
    request = urllib.request.Request(sb.base_url + path, headers={"Authorization": f"Bearer {sb.token}"})  # noqa: S310 - local sandbox
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - local sandbox
        return bytes(response.read())


def records(body: bytes) -> list[dict[str, Any]]:
    """The `results` of an answer, surrogates kept and bytes that are not UTF-8 read as lone surrogates."""
    results: list[dict[str, Any]] = json.loads(body.decode("utf-8", errors="surrogateescape"))["results"]
    return results


@pytest.fixture
def poisoned(shared: RunningSandbox) -> Iterator[RunningSandbox]:
    """The shared sandbox, its faults cleared afterwards."""
    yield shared
    shared.set_faults()


@pytest.mark.parametrize(("poison", "sent"), [("nul", "\x00"), ("surrogate", "\ud83d"), ("utf8", "\udcff\udcfe")])
def test_a_text_poison_reaches_every_value_of_the_first_record_only(
    poisoned: RunningSandbox, poison: str, sent: str
) -> None:
    """Every property value of the first deal ends with the bad value; the other deals and the next clean answer
    carry none."""
    clean = raw(poisoned, DEALS)
    poisoned.set_faults(poison_types=["deals"], poison=poison)
    first, *rest = records(raw(poisoned, DEALS))
    assert all(str(v).endswith(sent) for v in first["properties"].values())
    assert not any(sent in str(v) for record in rest for v in record["properties"].values())
    poisoned.set_faults()
    assert raw(poisoned, DEALS) == clean


def test_utf8_poison_sends_bytes_that_are_not_utf8(poisoned: RunningSandbox) -> None:
    """The answer body itself is not valid UTF-8 (strict decoding fails)."""
    poisoned.set_faults(poison_types=["deals"], poison="utf8")
    with pytest.raises(UnicodeDecodeError):
        raw(poisoned, DEALS).decode("utf-8")


def test_nesting_poison_nests_the_chosen_field_that_deep(poisoned: RunningSandbox) -> None:
    """`poison_field` limits the poison to one key; `nesting_depth` is how many lists deep the value goes."""
    poisoned.set_faults(poison_types=["deals"], poison="nesting", poison_field="dealstage", nesting_depth=7)
    body = json.loads(raw(poisoned, DEALS))
    first, second = body["results"][:2]
    assert first["properties"]["dealstage"] == [[[[[[[]]]]]]]
    assert isinstance(first["properties"]["hs_object_id"], str)
    assert isinstance(second["properties"]["dealstage"], str)


@pytest.mark.parametrize(
    ("kind", "path", "where"),
    [
        ("owners", "/crm/owners/2026-09?limit=3", ("id",)),
        ("pipelines", "/crm/pipelines/2026-09/deals", ("stages", 0, "id")),
    ],
)
def test_owners_and_stages_can_be_poisoned_by_field(
    poisoned: RunningSandbox, kind: str, path: str, where: tuple[str | int, ...]
) -> None:
    """An owner's own fields, and a pipeline's first stage's, take the poison; `poison_field` picks one."""
    poisoned.set_faults(poison_types=[kind], poison="nul", poison_field="id")
    value: object = json.loads(raw(poisoned, path))["results"][0]
    for key in where:
        value = value[key]  # type: ignore[index]
    assert isinstance(value, str)
    assert value.endswith("\x00")


def test_unknown_poisons_are_refused() -> None:
    """A poison the sandbox does not know is a ValueError naming the known ones."""
    with pytest.raises(ValueError, match="unknown poison"):
        FaultConfig.from_json({"poison_types": ["deals"], "poison": "arsenic"})
