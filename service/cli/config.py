"""`kpi-sync config`: the effective settings, as this process would run with them, secrets masked."""

from __future__ import annotations

import click
import orjson

from service.cli.common import settings_or_exit
from service.settings import effective


@click.command("config")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def config_command(fmt: str) -> None:
    """Print the effective configuration (environment, .env and *_FILE secrets), secrets masked."""
    shown = effective(settings_or_exit(create_folder=False))
    if fmt == "json":
        click.echo(orjson.dumps(shown, option=orjson.OPT_INDENT_2).decode())
        return
    width = max(len(name) for name in shown)
    for name, value in shown.items():
        click.echo(f"{name.ljust(width)}  {'' if value is None else value}")
