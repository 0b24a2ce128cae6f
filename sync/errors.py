"""Errors grouped by what to do next: stop (fatal), wait and retry (retriable), or count and go on (skippable)."""

from __future__ import annotations


class KpiSyncError(Exception):
    """Base of every error this service raises on purpose."""


class FatalError(KpiSyncError):
    """Retrying cannot help: a person must act (token, scope, configuration, a conflicting schema)."""


class ConfigError(FatalError):
    """A setting is missing or invalid; the message names the variable."""


class RetriableError(KpiSyncError):
    """A transient failure; `wait_seconds` says how long HubSpot asked us to wait, if it did."""

    def __init__(self, message: str, *, status: int | None = None, wait_seconds: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.wait_seconds = wait_seconds


class LostLockError(KpiSyncError):
    """The cycle lock was lost (its session ended, or another holder took it): the cycle must stop before it commits
    anything more."""

    def __init__(self) -> None:
        super().__init__("lost the cycle lock")
