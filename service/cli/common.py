"""What every `kpi-sync` command shares: the exit codes, Settings built once (with logging and its secrets set up),
the store, and the one parser of an object list (also used by the admin API).

Exit codes: 0 ok (or partial: contacts refused by HubSpot's validation rules), 1 the work failed (HubSpot,
database), 2 bad configuration or usage, 3 stopped early (daily limit, signal).
"""

from __future__ import annotations

import getpass
import signal
import socket
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import NoReturn, TextIO

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from service.logs import configure_logging
from service.settings import Settings, load_settings
from storage.engine import open_store
from storage.locks import LockTimeoutError
from sync.cycle import RunSummary
from sync.errors import ConfigError
from sync.hubspot.constants import OBJECT_TYPES
from sync.runs import RunOutcome

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_STOPPED = 0, 1, 2, 3


def fail(message: str, code: int) -> NoReturn:
    """One line on standard error, then exit with `code`."""
    click.echo(message, err=True)
    sys.exit(code)


def configure_service_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Logging as the service runs it: level and format from Settings, both tokens registered as secrets; lines go
    to `stream` (standard error by default)."""
    secrets = [settings.hubspot_access_token, settings.kpi_sync_admin_token]
    configure_logging(
        settings.log_level,
        settings.log_format,
        secrets=[s.get_secret_value() for s in secrets if s is not None],
        stream=stream,
    )


def settings_or_exit(*, config_exit: int = EXIT_CONFIG, create_folder: bool = True, **overrides: object) -> Settings:
    """Build Settings once and configure logging; a bad value prints one line naming the variable and exits
    `config_exit` (2; `check` asks for 1, since Docker reserves 2 in health checks). `create_folder` makes the
    folder of a SQLite store (`doctor` asks not to: it changes nothing, and reports a folder it could not create)."""
    try:
        settings = load_settings(**overrides)
    except ConfigError as err:
        fail(f"configuration error: {err}", config_exit)
    configure_service_logging(settings)
    path = settings.sqlite_path()
    if path is not None and create_folder:
        path.parent.mkdir(parents=True, exist_ok=True)
    return settings


def require_token(settings: Settings) -> None:
    """Exit 2 with one line naming HUBSPOT_ACCESS_TOKEN when the HubSpot settings are incomplete."""
    try:
        settings.hubspot_config()
    except ConfigError as err:
        fail(f"configuration error: {err}", EXIT_CONFIG)


def open_store_or_exit(settings: Settings) -> Engine:
    """The migrated store; an unreachable database is one line and exit 1."""
    try:
        return open_store(settings.database_url)
    except LockTimeoutError as err:  # a migration is pending and the cycle lock stayed taken
        fail(f"database error: migrations not run: {err}", EXIT_FAILED)
    except SQLAlchemyError as err:
        fail(f"database error: cannot open DATABASE_URL ({type(err).__name__})", EXIT_FAILED)


def requester() -> str | None:
    """Who runs this command, where: `user@host` (None when the system cannot say), stored with the run."""
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):  # no passwd entry for the uid (a container's arbitrary user)
        return None


def exit_code(summary: RunSummary) -> int:
    """0 ok, 0 partial too (the run completed; what HubSpot's validation refused needs a fix in HubSpot, not a
    re-run: the run's error line and `kpi-sync status` say which contacts), 3 stopped (daily limit or signal),
    1 failed."""
    codes = {RunOutcome.OK: EXIT_OK, RunOutcome.PARTIAL: EXIT_OK, RunOutcome.STOPPED: EXIT_STOPPED}
    return codes.get(summary.outcome, EXIT_FAILED)


def parse_objects(value: str | Iterable[str]) -> tuple[str, ...] | None:
    """`"contacts, deals"` (or several such items) -> ("contacts", "deals"), first occurrence kept; nothing ->
    None (all). ValueError naming the unknown and the valid object types otherwise."""
    items = [value] if isinstance(value, str) else list(value)
    names = tuple(dict.fromkeys(p.strip() for item in items for p in item.split(",") if p.strip()))
    unknown = [n for n in names if n not in OBJECT_TYPES]
    if unknown:
        raise ValueError(f"unknown object(s) {', '.join(unknown)}; choose from {', '.join(OBJECT_TYPES)}")
    return names or None


def objects_option(_: click.Context, __: click.Parameter, value: str) -> tuple[str, ...] | None:
    """Click callback of `--objects`: the parsed list, or a usage error (exit 2) naming the valid objects."""
    try:
        return parse_objects(value)
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


@contextmanager
def graceful_stop() -> Iterator[threading.Event]:
    """While inside: the first Ctrl-C or SIGTERM asks the cycle to stop after the page in flight (the event is set);
    a second Ctrl-C stops at once (KeyboardInterrupt; the run is still recorded as stopped and the next resumes)."""
    stop = threading.Event()

    def handle(signum: int, _: FrameType | None) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()
        click.echo("stopping after the page in flight (Ctrl-C again to stop at once)", err=True)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
