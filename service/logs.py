"""structlog set-up, done once by the entry point: JSON off a terminal, readable on one; secrets scrubbed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any

import structlog

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so that any log line containing it is masked (defence in depth)."""
    if value and len(value) >= 6:
        _secrets.add(value)


def _scrub(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if not _secrets:
        return event
    for key, value in list(event.items()):
        if isinstance(value, str):
            clean = value
            for secret in _secrets:
                clean = clean.replace(secret, "***")
            event[key] = clean
    return event


def configure_logging(level: str = "info", fmt: str = "auto", secrets: Iterable[str | None] = ()) -> None:
    """Configure structlog for the process; `fmt` is auto (console on a TTY, else JSON), json or console."""
    for secret in secrets:
        register_secret(secret)
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
