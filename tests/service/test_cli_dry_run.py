"""`kpi-sync sync --dry-run` through the front door: the diff old -> new with its totals, in text, JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from service.dry_run import render
from sync import runs
from sync.preview import WritePreview
from sync.runs import RunKind, RunOutcome
from tests.helpers import cycle, free_port, sandbox_settings, worker_env

LIMIT = 2


def kpi_sync(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, in a fresh process."""
    return subprocess.run(
        [sys.executable, "-m", "service.cli", *args], env=env, capture_output=True, text=True, timeout=180, check=False
    )


@pytest.fixture
def env(sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str) -> dict[str, str]:
    """A store synced once for real, and a portal that has moved on since."""
    cycle(sqlite_store, sandbox_settings(sandbox, sqlite_url))
    sandbox.simulate(minutes=240, seed=5)
    return worker_env(sandbox, sqlite_url, free_port())


def test_the_json_diff_shows_old_and_new_with_totals(env: dict[str, str], sqlite_store: Engine) -> None:
    """`--format json --limit 2`: two contacts' values old -> new, the totals over every contact, the run id of a
    run recorded as a dry run; the totals also on stderr for a person."""
    result = kpi_sync("sync", "--dry-run", "--format", "json", "--limit", str(LIMIT), env=env)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["dry_run"] is True
    assert document["contacts"] > LIMIT
    assert (document["shown"], document["truncated"]) == (LIMIT, True)
    assert len(document["changes"]) == LIMIT
    values = [v for c in document["changes"] for v in c["properties"].values()]
    assert all(set(v) == {"old", "new"} and v["old"] != v["new"] for v in values)
    assert any(v["old"] is not None for v in values)
    assert f"{LIMIT} of {document['contacts']:,} contacts shown, {document['values']:,} values change" in result.stderr
    recorded = runs.get_run(sqlite_store, document["run_id"])
    assert recorded is not None
    assert (recorded.kind, recorded.outcome) == (RunKind.DRY_RUN, RunOutcome.OK)


def test_the_csv_diff_has_a_row_per_contact_and_property(env: dict[str, str]) -> None:
    """`--format csv`: a header and one row per changed value of the contacts shown, read back by a CSV reader."""
    as_json = json.loads(kpi_sync("sync", "--dry-run", "--format", "json", env=env).stdout)
    result = kpi_sync("sync", "--dry-run", "--format", "csv", env=env)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    expected = [
        {"contact_id": str(c["contact_id"]), "property": p, "old": v["old"] or "", "new": v["new"]}
        for c in as_json["changes"]
        for p, v in c["properties"].items()
    ]
    assert rows == expected
    assert len({r["contact_id"] for r in rows}) == min(as_json["contacts"], 50)


def test_the_text_diff_says_what_it_shows_and_that_nothing_was_kept(env: dict[str, str]) -> None:
    """The default text form starts with the totals and says nothing was stored or written; a table follows with
    the old and new value of each property."""
    result = kpi_sync("sync", "--dry-run", "--limit", "1", env=env)
    assert result.returncode == 0, result.stderr
    headline, header, *rows = result.stdout.splitlines()
    assert headline.startswith("dry run: 1 of ")
    assert headline.endswith("(--limit to show more); nothing was stored or written")
    assert header.split() == ["contact", "property", "old", "new"]
    assert rows
    assert len({row.split()[0] for row in rows}) == 1


def test_limit_and_format_belong_to_a_dry_run(env: dict[str, str]) -> None:
    """`--limit` or `--format` without `--dry-run` is a usage error (exit 2), and no cycle runs."""
    for extra in (["--limit", "3"], ["--format", "csv"]):
        result = kpi_sync("sync", *extra, env=env)
        assert result.returncode == 2
        assert "--dry-run" in result.stderr


@pytest.mark.parametrize(
    ("value", "cell"),
    [('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'), ("@SUM(A1)", "'@SUM(A1)"), ("-12.5", "-12.5")],
)
def test_csv_cells_a_spreadsheet_would_run_are_escaped(value: str, cell: str) -> None:
    """A value starting with =, +, -, @ is written as text (leading apostrophe); a plain number stays a number."""
    preview = WritePreview()
    preview.add(7, {"kpi_status": value}, {"kpi_status": value})
    rows = list(csv.reader(io.StringIO(render(preview, "csv", run_id=1))))
    assert rows[1] == ["7", "kpi_status", cell, cell]


def test_a_dry_run_does_not_hide_a_failed_cycle_from_the_health_check(sqlite_store: Engine, sqlite_url: str) -> None:
    """After a failed cycle, an ok dry run leaves `kpi-sync check` unhealthy: the store is as the failed cycle left
    it."""
    failed = runs.open_run(sqlite_store, RunKind.SYNC, "cli", runs.now_ms())
    runs.close_run(sqlite_store, failed, RunOutcome.FAILED, counts=runs.RunCounts(), error="database error: boom")
    dry = runs.open_run(sqlite_store, RunKind.DRY_RUN, "cli", runs.now_ms())
    runs.close_run(sqlite_store, dry, RunOutcome.OK, counts=runs.RunCounts())
    result = kpi_sync("check", env={"DATABASE_URL": sqlite_url, "PATH": "", "LOG_FORMAT": "json"})
    assert result.returncode == 1
    assert f"last cycle failed (run {failed})" in result.stderr
