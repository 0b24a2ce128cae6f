"""How a cycle that ends by an exception it does not handle is recorded: failed (a bug) or stopped (an interrupt),
in the run history and the summary log line, and the exception still propagates."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest
from sqlalchemy import Engine
from structlog.testing import capture_logs

from sandbox.harness import RunningSandbox
from sync import runs
from sync.config import HubSpotConfig
from sync.cycle import CycleOptions, run_cycle
from sync.hubspot.client import HubSpotClient, Page
from sync.runs import RunOutcome
from tests.helpers import settings_for


class RaisingClient(HubSpotClient):
    """A real client whose owner listing (the first thing a first cycle reads) raises `error`."""

    def __init__(self, config: HubSpotConfig, error: BaseException) -> None:
        super().__init__(config)
        self.error = error

    def owners(self, archived: bool) -> Iterator[Page]:
        raise self.error


def finished_lines(logs: Sequence[Mapping[str, Any]]) -> list[tuple[str, str | None]]:
    return [(e["outcome"], e["error"]) for e in logs if e["event"] == "cycle_finished"]


def test_a_bug_in_the_cycle_is_recorded_as_failed_and_propagates(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """An unknown object type makes the pull raise ValueError: the run is failed, named by the exception's type
    without its message, in the history and the summary line; the ValueError reaches the caller."""
    config = settings_for(sandbox, sqlite_url, writeback_enabled=False).cycle_config()
    with capture_logs() as logs, pytest.raises(ValueError, match="widgets"):
        run_cycle(sqlite_store, config, CycleOptions(objects=("widgets",)))
    (run,) = runs.recent_runs(sqlite_store)
    assert (run.outcome, run.error) == (RunOutcome.FAILED, "crashed: ValueError")
    assert finished_lines(logs) == [("failed", "crashed: ValueError")]


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        (KeyError("contact 17"), (RunOutcome.FAILED, "crashed: KeyError")),
        (KeyboardInterrupt(), (RunOutcome.STOPPED, "interrupted")),
        (SystemExit(1), (RunOutcome.STOPPED, "interrupted")),
    ],
)
def test_an_unhandled_exception_is_recorded_by_its_kind_and_propagates(
    sandbox: RunningSandbox,
    sqlite_store: Engine,
    sqlite_url: str,
    error: BaseException,
    recorded: tuple[RunOutcome, str],
) -> None:
    """A bug's exception fails the run, Ctrl-C or SystemExit stops it ("interrupted"); never recorded as ok, never
    with the exception's message; the exception reaches the caller unchanged."""
    config = settings_for(sandbox, sqlite_url, writeback_enabled=False).cycle_config()
    client = RaisingClient(config.hubspot, error)
    with capture_logs() as logs, pytest.raises(type(error)) as raised:
        run_cycle(sqlite_store, config, CycleOptions(), client=client)
    assert raised.value is error
    (run,) = runs.recent_runs(sqlite_store)
    assert (run.outcome, run.error) == recorded
    assert run.finished_at is not None
    assert finished_lines(logs) == [(recorded[0].value, recorded[1])]
