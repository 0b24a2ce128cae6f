"""What HubSpot answered when it did not give us data, as error types grouped by what to do next."""

from __future__ import annotations

from sync.errors import FatalError, RetriableError


class AuthError(FatalError):
    """HubSpot refused the token (401) or its scopes (403); `scopes` are those a 403 MISSING_SCOPES names."""

    def __init__(
        self, message: str, *, status: int | None = None, category: str | None = None, scopes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.scopes = scopes


class RateLimitedError(RetriableError):
    """HTTP 429 with a short policy (rolling ten seconds, per second)."""


class DailyLimitError(FatalError):
    """HTTP 429 DAILY (or our own daily ceiling): stop the run cleanly; resume after `resume_at` (epoch s)."""

    def __init__(self, message: str, *, resume_at: float) -> None:
        super().__init__(message)
        self.resume_at = resume_at


VALIDATION_ERROR = "VALIDATION_ERROR"  # the category of a write HubSpot's validation rules refuse (hubspot-api.md §0.2)


class RequestError(FatalError):
    """A 4xx other than 401/403/429: our request is wrong; retrying would repeat it.

    A 400 `VALIDATION_ERROR` to a batch write may name the inputs it refused: `refused` maps their ids to HubSpot's
    message (trimmed, token-like text masked); empty when it names none.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        refused: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.refused = refused or {}


class MalformedResponseError(RetriableError):
    """HubSpot answered 2xx with a body we cannot parse (truncated JSON, wrong shape)."""


class HubSpotTimeoutError(RetriableError):
    """HubSpot accepted no connection, or sent no answer, within the configured timeout."""


class HubSpotConnectionError(RetriableError):
    """The connection could not be made (refused, unresolvable) or broke mid-answer."""


class HubSpotDnsError(HubSpotConnectionError):
    """The host name of the base URL did not resolve."""


class HubSpotRefusedError(HubSpotConnectionError):
    """The host answered, but nothing listens on the port (connection refused)."""


class HubSpotTlsError(HubSpotConnectionError):
    """The TLS handshake failed: plain HTTP on an https URL, an untrusted certificate, a TLS-intercepting proxy."""


class HubSpotLoopError(FatalError):
    """HubSpot's paging does not advance: a cursor repeated within one paging sequence, or a page's ids no later than
    the page before. Following it would loop forever; retrying would loop again."""
