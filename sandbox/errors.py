"""HubSpot's error envelopes (hubspot-api.md §1, §2.4, §8, §11) raised by handlers and rendered by the server."""

from __future__ import annotations

import uuid
from typing import Any

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can "
    "find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
SCOPES_MESSAGE = "This app hasn't been granted all required scopes to make this call."


def correlation_id() -> str:
    """A fresh correlation id, as HubSpot puts on every error."""
    return str(uuid.uuid4())


class ApiError(Exception):
    """An error answer: HTTP status plus HubSpot's v3 error body."""

    def __init__(
        self,
        status: int,
        category: str,
        message: str,
        *,
        sub_category: str | None = None,
        context: dict[str, list[str]] | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.message = message
        self.sub_category = sub_category
        self.context = context
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body HubSpot sends with this error."""
        out: dict[str, Any] = {
            "status": "error",
            "message": self.message,
            "correlationId": correlation_id(),
            "category": self.category,
        }
        if self.sub_category:
            out["subCategory"] = self.sub_category
        if self.context:
            out["context"] = self.context
        if self.errors is not None:
            out["errors"] = self.errors
        return out


def validation(message: str, **kw: Any) -> ApiError:
    """400 VALIDATION_ERROR."""
    return ApiError(400, "VALIDATION_ERROR", message, **kw)


def not_found(message: str = "resource not found") -> ApiError:
    """404 OBJECT_NOT_FOUND."""
    return ApiError(404, "OBJECT_NOT_FOUND", message)


def unauthorized() -> ApiError:
    """401 INVALID_AUTHENTICATION with HubSpot's message."""
    return ApiError(401, "INVALID_AUTHENTICATION", AUTH_MESSAGE)


def missing_scopes(scope: str) -> ApiError:
    """403 MISSING_SCOPES naming the granular scope the call needs."""
    return ApiError(
        403,
        "MISSING_SCOPES",
        SCOPES_MESSAGE,
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": [scope]},
            }
        ],
    )


def conflict(message: str, category: str = "OBJECT_ALREADY_EXISTS") -> ApiError:
    """409 with HubSpot's body."""
    return ApiError(409, category, message)


def standard_error(
    category: str, message: str, context: dict[str, list[str]], sub_category: str | None = None
) -> dict[str, Any]:
    """One entry of a batch 207 `errors[]` (StandardError)."""
    out: dict[str, Any] = {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }
    if sub_category:
        out["subCategory"] = sub_category
    return out


def rate_limit_body(policy: str) -> dict[str, Any]:
    """The 429 body (§2.4): `errorType` and `policyName` instead of `category`."""
    names = {"DAILY": "daily", "TEN_SECONDLY_ROLLING": "ten_secondly_rolling", "SECONDLY": "secondly"}
    return {
        "status": "error",
        "message": f"You have reached your {names.get(policy, policy.lower())} limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": correlation_id(),
        "policyName": policy,
        "requestId": correlation_id(),
    }
