"""structlog set-up, done once by the entry point: JSON off a terminal, readable on one; secrets scrubbed."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

_secrets: set[str] = set()
_PLAIN = (int, float, bool, type(None))


def register_secret(value: str | None) -> None:
    """Remember a secret so that any log line containing it is masked (defence in depth)."""
    if value and len(value) >= 6:
        _secrets.add(value)


def _mask(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "***")
    return text


def _clean(value: Any) -> Any:
    """`value` with every registered secret masked, at any depth: strings, mapping keys and values, list, tuple
    and set items, exceptions (as their text); any other object only when its repr, which a renderer would
    print, carries a secret."""
    if isinstance(value, str):
        return _mask(value)
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_clean(v) for v in value)
    if isinstance(value, BaseException):
        return _mask(f"{type(value).__name__}: {value}")
    text = repr(value)
    clean = _mask(text)
    return value if clean == text else clean


def _scrub(logger: Any, name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask registered secrets anywhere in the event. An `exc_info` is rendered to the `exception` text first, so
    that a traceback's messages (and a pretty renderer's local variables) never reach the output unscrubbed."""
    if event.get("exc_info"):
        event = structlog.processors.format_exc_info(logger, name, event)
    if not _secrets:
        return event
    for key, value in list(event.items()):
        event[key] = _clean(value)
    return event


def configure_logging(
    level: str = "info", fmt: str = "auto", secrets: Iterable[str | None] = (), stream: TextIO | None = None
) -> None:
    """Configure structlog for the process; `fmt` is auto (console on a TTY, else JSON), json or console. Lines go
    to `stream` (standard error by default)."""
    for secret in secrets:
        register_secret(secret)
    out = stream or sys.stderr
    use_console = fmt == "console" or (fmt == "auto" and out.isatty())
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
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
