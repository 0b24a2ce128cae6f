"""`kpi-sync doctor`: check the HubSpot connection, key, scopes, properties and the database before the first cycle."""

from __future__ import annotations

import sys

import click
import orjson

from service.cli.common import EXIT_FAILED, EXIT_OK, settings_or_exit
from service.doctor import DEFAULT_TIMEOUT_S, run_doctor


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for each answer (each check is tried once).",
)
def doctor(fmt: str, timeout: float) -> None:
    """Check the HubSpot connection, Service Key, scopes, API version, kpi_* properties, custom objects, rate limits
    and the database, in a few calls; writes nothing. Exit 0 when every check passes, 1 when one fails."""
    settings = settings_or_exit(create_folder=False)
    report = run_doctor(settings, timeout)
    if fmt == "json":
        click.echo(orjson.dumps(report.as_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(report.text())
    sys.exit(EXIT_OK if report.ok else EXIT_FAILED)
