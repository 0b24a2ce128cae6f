"""The front door: `kpi-sync` commands. Settings are built once here and passed down; exit codes mean something:
0 ok, 1 the work failed (HubSpot, database), 2 bad configuration or usage, 3 stopped early (daily limit, signal).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
import structlog
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.lock import cycle_lock
from service.logs import configure_logging
from service.settings import Settings, load_settings
from storage.engine import open_store
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.errors import ConfigError
from sync.runs import RunOutcome

EXIT_FAILED, EXIT_CONFIG, EXIT_STOPPED = 1, 2, 3
EXIT_CODES = {RunOutcome.OK: 0, RunOutcome.STOPPED: EXIT_STOPPED}  # any other outcome: EXIT_FAILED


def settings_or_exit(**overrides: object) -> Settings:
    """Build Settings once; a bad value prints one line naming the variable and exits 2."""
    try:
        settings = load_settings(**overrides)
    except ConfigError as err:
        click.echo(f"configuration error: {err}", err=True)
        sys.exit(EXIT_CONFIG)
    secrets = [settings.hubspot_access_token, settings.kpi_sync_admin_token]
    configure_logging(
        settings.log_level, settings.log_format, secrets=[s.get_secret_value() for s in secrets if s is not None]
    )
    path = settings.sqlite_path()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return settings


def open_store_or_exit(settings: Settings) -> Engine:
    """The migrated store; an unreachable database is one line and exit 1."""
    try:
        return open_store(settings.database_url)
    except SQLAlchemyError as err:
        click.echo(f"database error: cannot open DATABASE_URL ({type(err).__name__})", err=True)
        sys.exit(EXIT_FAILED)


def exit_code(summary: RunSummary) -> int:
    """0 ok, 3 stopped (daily limit or signal), 1 failed."""
    return EXIT_CODES.get(summary.outcome, EXIT_FAILED)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """kpi-sync: HubSpot sales activity in, sales KPIs out, written back into HubSpot."""


@main.command()
@click.option("--dry-run", is_flag=True, help="Pull and compute, print what would be written, write nothing.")
@click.option("--full", is_flag=True, help="Reload the chosen objects in full (list endpoints) instead of searching.")
@click.option("--reconcile", is_flag=True, help="List every record to catch deletions and re-associations.")
@click.option("--objects", default="", help="Comma-separated object types (default: all).")
def sync(dry_run: bool, full: bool, reconcile: bool, objects: str) -> None:
    """Run one cycle: pull, recompute KPIs, write back."""
    settings = settings_or_exit()
    try:
        settings.hubspot_config()
    except ConfigError as err:
        click.echo(f"configuration error: {err}", err=True)
        sys.exit(EXIT_CONFIG)
    engine = open_store_or_exit(settings)
    chosen = tuple(o.strip() for o in objects.split(",") if o.strip()) or None
    options = CycleOptions(trigger="cli", full=full, objects=chosen, reconcile=reconcile, dry_run=dry_run)
    with cycle_lock(engine) as acquired:
        if not acquired:
            click.echo("busy: a worker is running a cycle for this portal; try again later", err=True)
            sys.exit(EXIT_FAILED)
        summary = run_cycle(engine, settings.cycle_config(), options)
    if dry_run:
        click.echo(
            orjson.dumps(
                {"would_write": summary.preview[:50], "contacts": len(summary.preview)}, option=orjson.OPT_INDENT_2
            ).decode()
        )
    if summary.error:
        click.echo(f"{summary.outcome.value}: {summary.error}", err=True)
    sys.exit(exit_code(summary))


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
    """The service commands (run, resync, status, check) and the sandbox live in their own modules."""
    from sandbox.cli import sandbox_command
    from service.cli.worker import COMMANDS

    for command in (*COMMANDS, sandbox_command):
        main.add_command(command, command.name)


_attach()

if __name__ == "__main__":  # pragma: no cover
    main()
