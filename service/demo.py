"""The demo: an embedded HubSpot sandbox and a SQLite store, one full cycle, an hour of simulated activity, one
incremental cycle, then the KPI report. What a newcomer runs first (`./dev demo`)."""

from __future__ import annotations

import secrets
import time
from pathlib import Path

import click

from sandbox.harness import run_sandbox
from service.cli import exit_code, settings_or_exit
from service.report import kpi_chart, kpi_report
from storage.engine import open_store
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.runs import RunOutcome

DEMO_DB = Path("data/demo.db")
LAG_MS = 500  # the sandbox's search-index lag; the demo waits it out so the incremental cycle sees the activity


def _line(title: str, summary: RunSummary) -> str:
    counts = summary.counts
    return (
        f"{title}: {summary.outcome.value}, {counts.records_pulled} records pulled, "
        f"{counts.kpis.contacts} contacts recomputed, "
        f"{counts.push.contacts_written} contacts written in {counts.push.write_calls} batch calls, "
        f"{summary.api_calls} API calls in {counts.duration_s} s"
    )


def run_demo(seed: int = 42, keep: bool = False) -> int:
    """Run the demo; returns the process exit code."""
    if not keep:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{DEMO_DB}{suffix}").unlink(missing_ok=True)
    service_key = f"demo-{secrets.token_hex(8)}"  # the sandbox's throwaway stand-in for a portal's Service Key
    with run_sandbox(seed=seed, size="small", token=service_key, index_lag_ms=LAG_MS) as sandbox:
        settings = settings_or_exit(
            hubspot_access_token=service_key,
            hubspot_base_url=sandbox.base_url,
            database_url=f"sqlite:///{DEMO_DB}",
            sync_overlap_seconds=5,
        )
        click.echo(
            f"HubSpot sandbox at {sandbox.base_url} (a throwaway Service Key, API {settings.hubspot_api_version}): "
            f"{sandbox.summary()}"
        )
        engine = open_store(settings.database_url)
        first = run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="demo"))
        click.echo(_line("first cycle (full load)", first))
        if first.outcome is not RunOutcome.OK:
            click.echo(f"error: {first.error}", err=True)
            return exit_code(first)
        changes = sandbox.simulate(minutes=60)
        click.echo(f"simulated an hour of sales activity: {_counts(changes)}")
        time.sleep(LAG_MS / 1000 * 2)
        second = run_cycle(engine, settings.cycle_config(), CycleOptions(trigger="demo"))
        click.echo(_line("second cycle (incremental)", second))
        click.echo("")
        click.echo(kpi_report(engine, None, "table"))
        Path("data").mkdir(exist_ok=True)
        Path("data/kpis.png").write_bytes(kpi_chart(engine, None))
        click.echo("chart of the KPIs per rep: data/kpis.png")
        return exit_code(second)


def _counts(changes: dict[str, object]) -> str:
    parts = []
    for verb in ("created", "updated", "archived", "reassociated"):
        group = changes.get(verb)
        if isinstance(group, dict):
            n = sum(len(v) if isinstance(v, list) else int(v) for v in group.values())
            parts.append(f"{n} {verb}")
    return ", ".join(parts)
