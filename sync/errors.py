"""Errors grouped by what to do next: stop (fatal), wait and retry (retriable), or count and go on (skippable)."""

from __future__ import annotations


class KpiSyncError(Exception):
    """Base of every error this service raises on purpose."""


class FatalError(KpiSyncError):
    """Retrying cannot help: a person must act (token, scope, configuration, a conflicting schema)."""


class ConfigError(FatalError):
    """A setting is missing or invalid; the message names the variable."""


class AuthError(FatalError):
    """HubSpot refused the token (401) or its scopes (403)."""


class RetriableError(KpiSyncError):
    """A transient failure; `wait_seconds` says how long HubSpot asked us to wait, if it did."""

    def __init__(self, message: str, *, status: int | None = None, wait_seconds: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.wait_seconds = wait_seconds


class HubSpotTimeoutError(RetriableError):
    """HubSpot accepted no connection, or sent no answer, within the configured timeout."""


class HubSpotConnectionError(RetriableError):
    """The connection could not be made (refused, unresolvable) or broke mid-answer."""


class RateLimitedError(RetriableError):
    """HTTP 429 with a short policy (rolling ten seconds, per second)."""


class DailyLimitError(FatalError):
    """HTTP 429 DAILY (or our own daily ceiling): stop the run cleanly; resume after `resume_at` (epoch s)."""

    def __init__(self, message: str, *, resume_at: float) -> None:
        super().__init__(message)
        self.resume_at = resume_at


class RequestError(FatalError):
    """A 4xx other than 401/403/429: our request is wrong; retrying would repeat it."""

    def __init__(self, message: str, *, status: int | None = None, category: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.category = category


class MalformedResponseError(RetriableError):
    """HubSpot answered 2xx with a body we cannot parse (truncated JSON, wrong shape)."""


class SkippableError(KpiSyncError):
    """One record is bad; count it, log it without personal data, keep going."""
