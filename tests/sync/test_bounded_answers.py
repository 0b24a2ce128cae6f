"""Bounded answers: a paging cursor that repeats (list, owners, associations) fails the cycle in one line after a few
calls instead of reading for ever; a page over its limit is malformed; a body that trickles in fails as a timeout
within the request's deadline; huge text values and URL lists are cut and counted. All through the sandbox."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from storage.engine import open_store
from sync.cycle import CycleOptions, run_cycle
from sync.hubspot.client import DEADLINE_FACTOR, HubSpotClient
from sync.hubspot.constants import MAX_TEXT_CHARS, MAX_URLS_PER_EMAIL, PROPERTIES
from sync.hubspot.errors import HubSpotTimeoutError, MalformedResponseError
from sync.hubspot.records import ParseStats, parse_page
from sync.runs import RunOutcome
from tests.helpers import cycle, settings_for

pytestmark = pytest.mark.timeout(60)  # a loop that is not detected would otherwise read until the suite's timeout


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Engine]:
    """A fresh SQLite store."""
    engine = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


@pytest.mark.parametrize(("family", "kind"), [("objects", "list:contacts"), ("owners", "owners")])
def test_a_repeated_cursor_fails_the_first_cycle_after_two_calls(
    sandbox: RunningSandbox, store: Engine, family: str, kind: str
) -> None:
    """A list or owners answer whose `paging.next.after` is the cursor it was asked with: the cycle fails with one
    line naming the loop, the second call of that sequence being the last."""
    sandbox.set_faults(repeat_cursor=[family])
    summary = run_cycle(store, settings_for(sandbox, str(store.url)).cycle_config(), CycleOptions())
    assert summary.outcome is RunOutcome.FAILED
    assert summary.error is not None
    assert "repeated the paging cursor" in summary.error
    assert summary.counts.api.calls[kind] == 2


def test_a_repeated_association_cursor_fails_the_incremental_cycle(sandbox: RunningSandbox, store: Engine) -> None:
    """v4 association reads whose every record's paging repeats its cursor: the incremental cycle fails in one line
    after two reads of that record's links."""
    settings = settings_for(sandbox, str(store.url))
    cycle(store, settings)
    sandbox.simulate(minutes=120, seed=3)
    sandbox.set_faults(repeat_cursor=["associations"])
    summary = run_cycle(store, settings.cycle_config(), CycleOptions())
    assert summary.outcome is RunOutcome.FAILED
    assert summary.error is not None
    assert "repeated the cursor" in summary.error
    assert max(n for k, n in summary.counts.api.calls.items() if k.startswith("assoc:")) <= 2


def test_a_page_over_its_limit_is_malformed(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """A list page with 101 results for a limit of 100: MalformedResponseError naming both numbers."""
    sandbox.set_faults(oversize_page=["objects"])
    client = HubSpotClient(settings_for(sandbox, f"sqlite:///{tmp_path / 'unused.db'}").hubspot_config())
    with pytest.raises(MalformedResponseError, match="101 results for a limit of 100"):
        client.list_page("contacts", ["lifecyclestage"])


def test_a_trickling_body_fails_as_a_timeout_within_the_deadline(sandbox: RunningSandbox, tmp_path: Path) -> None:
    """A body sent one byte every 50 ms never trips the 0.5 s read timeout, but the request ends as a timeout
    within its deadline (twice the read timeout), not when the last byte arrives a minute later."""
    sandbox.set_faults(trickle_ms=50)
    settings = settings_for(
        sandbox, f"sqlite:///{tmp_path / 'unused.db'}", hubspot_timeout_seconds=0.5, hubspot_max_retries=0
    )
    client = HubSpotClient(settings.hubspot_config())
    started = time.monotonic()
    with pytest.raises(HubSpotTimeoutError):
        client.pipelines()
    assert time.monotonic() - started < 0.5 * DEADLINE_FACTOR + 0.5  # a read's worth of slack
    assert client.stats.faults["timeout"] == 1


@pytest.mark.parametrize(
    ("faults", "case"),
    [
        ({"huge_values": 70_000}, ("contacts", "lifecyclestage", MAX_TEXT_CHARS)),
        ({"urls_per_email": 5_000}, ("emails", "urls", MAX_URLS_PER_EMAIL)),
    ],
    ids=["text-70000-chars", "email-5000-urls"],
)
def test_huge_values_are_cut_to_their_maximum_and_counted(
    sandbox: RunningSandbox, tmp_path: Path, faults: dict[str, int], case: tuple[str, str, int]
) -> None:
    """A contact's 70,000-character text keeps HubSpot's maximum of 65,536; an email of 5,000 links keeps 200;
    each cut is counted as an invalid value."""
    object_type, column, kept = case
    sandbox.set_faults(**faults)
    client = HubSpotClient(settings_for(sandbox, f"sqlite:///{tmp_path / 'unused.db'}").hubspot_config())
    stats = ParseStats()
    parsed = parse_page(object_type, client.list_page(object_type, PROPERTIES[object_type]).results, stats)
    assert len(parsed.rows[0][column]) == kept
    assert stats.invalid_values[f"{object_type}.{column}"] == 1
