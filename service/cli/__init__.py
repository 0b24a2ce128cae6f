"""The front door: `kpi-sync` commands. Settings are built once here and passed down; exit codes mean something:
0 ok, 1 the work failed (HubSpot, database), 2 bad configuration or usage, 3 stopped early (daily limit, signal).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import structlog

from service.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_STOPPED,
    exit_code,
    graceful_stop,
    objects_option,
    open_store_or_exit,
    requester,
    require_token,
    settings_or_exit,
)
from service.cli.progress import progress_display
from service.dry_run import FORMATS as DRY_RUN_FORMATS
from service.dry_run import headline, render
from service.lock import cycle_lock
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.preview import DEFAULT_LIMIT
from sync.runs import RunOutcome

__all__ = ["exit_code", "main", "settings_or_exit"]  # service.demo runs cycles with these


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="hubspot-kpi-sync", prog_name="kpi-sync", message="%(prog)s %(version)s")
def main() -> None:
    """kpi-sync: HubSpot sales activity in, sales KPIs out, written back into HubSpot."""


@main.command()
@click.option(
    "--dry-run",
    is_flag=True,
    help="Pull and compute, print the values that would change (old -> new); keep nothing, write nothing.",
)
@click.option("--full", is_flag=True, help="Reload the chosen objects in full (list endpoints) instead of searching.")
@click.option("--reconcile", is_flag=True, help="List every record to catch deletions and re-associations.")
@click.option("--objects", default="", callback=objects_option, help="Comma-separated object types (default: all).")
@click.option(
    "--limit",
    type=click.IntRange(min=0),
    default=None,
    help=f"With --dry-run: contacts to show (default {DEFAULT_LIMIT}; 0 shows every one).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(DRY_RUN_FORMATS),
    default=None,
    help="With --dry-run: text (default), json, csv.",
)
def sync(
    *, dry_run: bool, full: bool, reconcile: bool, objects: tuple[str, ...] | None, limit: int | None, fmt: str | None
) -> None:
    """Run one cycle: pull, recompute KPIs, write back."""
    if not dry_run and (limit is not None or fmt is not None):
        click.echo("usage error: --limit and --format go with --dry-run", err=True)
        sys.exit(EXIT_CONFIG)
    settings = settings_or_exit()
    require_token(settings)
    engine = open_store_or_exit(settings)
    shown = DEFAULT_LIMIT if limit is None else (limit or None)
    options = CycleOptions(
        trigger="cli",
        full=full,
        objects=objects,
        reconcile=reconcile,
        dry_run=dry_run,
        requested_by=requester(),
        preview_limit=shown,
    )
    with cycle_lock(engine) as acquired:
        if not acquired:
            click.echo("busy: a worker is running a cycle for this portal; try again later", err=True)
            sys.exit(EXIT_FAILED)
        try:
            with graceful_stop() as stop, progress_display() as show:
                summary = run_cycle(engine, settings.cycle_config(), options, stop=stop, observers=[show])
        except KeyboardInterrupt:  # a second Ctrl-C: the cycle recorded itself as stopped on the way out
            click.echo("stopped at once; the next run resumes from the last committed page", err=True)
            sys.exit(EXIT_STOPPED)
    if dry_run:
        _show_diff(summary, fmt or "text")
    if summary.error:
        click.echo(f"{summary.outcome.value}: {summary.error}", err=True)
    sys.exit(exit_code(summary))


def _show_diff(summary: RunSummary, fmt: str) -> None:
    """A dry run's old -> new values on stdout (the totals also on stderr when stdout is for a program)."""
    if summary.outcome not in (RunOutcome.OK, RunOutcome.PARTIAL) or "push" not in summary.counts.phases:
        click.echo(f"dry run {summary.outcome.value}: no diff to show; nothing was stored or written", err=True)
        return
    click.echo(render(summary.preview, fmt, run_id=summary.run_id))
    if fmt != "text":
        click.echo(headline(summary.preview), err=True)


@main.command()
@click.option("--period", default=None, help="Calendar month YYYY-MM (default: all time).")
@click.option("--all-time", "all_time", is_flag=True, help="All time (the default).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option("--recompute", is_flag=True, help="Recompute every contact and aggregate from the store first.")
@click.option("--chart", type=click.Path(dir_okay=False, path_type=Path), default=None, help="Write a PNG chart.")
def kpis(period: str | None, all_time: bool, fmt: str, recompute: bool, chart: Path | None) -> None:
    """Print the KPI report per owner, team and portal, with the article's benchmarks."""
    from service.report import kpi_chart, kpi_report
    from sync.refresh.contacts import refresh
    from sync.runs import now_ms

    settings = settings_or_exit()
    if period is not None and not _is_month(period):
        click.echo("usage error: --period must look like 2026-10", err=True)
        sys.exit(EXIT_CONFIG)
    engine = open_store_or_exit(settings)
    if recompute:
        stats = refresh(engine, settings.kpi_config(), now_ms(), full=True)
        structlog.get_logger().info("kpis_recomputed", **stats.to_json())
    chosen = None if all_time else period
    click.echo(kpi_report(engine, chosen, fmt))
    if chart is not None:
        chart.write_bytes(kpi_chart(engine, chosen))
        click.echo(f"chart written to {chart}", err=True)


def _is_month(value: str) -> bool:
    year, _, month = value.partition("-")
    return len(year) == 4 and year.isdigit() and month.isdigit() and 1 <= int(month) <= 12 and len(month) == 2


@main.command()
@click.option("--seed", default=42, show_default=True)
@click.option("--keep", is_flag=True, help="Keep the demo database (./data/demo.db) instead of starting fresh.")
def demo(seed: int, keep: bool) -> None:
    """Embedded HubSpot sandbox + SQLite: pull, KPIs, write-back, then an incremental cycle; prints the report."""
    from service.demo import run_demo

    sys.exit(run_demo(seed=seed, keep=keep))


def _attach() -> None:
    """The service commands (run, resync, status, check), the doctor, config and the sandbox live in their own
    modules."""
    from sandbox.cli import sandbox_command
    from service.cli.config import config_command
    from service.cli.doctor import doctor
    from service.cli.worker import COMMANDS

    for command in (*COMMANDS, doctor, config_command, sandbox_command):
        main.add_command(command, command.name)


_attach()

if __name__ == "__main__":  # pragma: no cover
    main()
