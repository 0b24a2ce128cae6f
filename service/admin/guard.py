"""The admin API's token, checked from the request's headers before anything reads its body.

FastAPI reads and parses a body before it runs a route's dependencies, so the token dependency alone let anyone make
the worker buffer any body. `TokenFirst` is plain ASGI middleware in front of the app: a request for one of the
protected router's routes without the right token is answered 401 (403 while no token is configured) from its
headers alone, and the connection is closed so the unread body is never received. The requests that pass have their
body capped at MAX_BODY_BYTES by Starlette's RequestBodyLimitMiddleware, placed inside this one (413: at once when
Content-Length is over the cap, else as soon as the chunks pass it).
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_BODY_BYTES = 64 * 1024  # the largest legitimate body (a resync request) is well under 1 KiB
BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def token_refusal(expected: bytes, authorization: str | None) -> HTTPException | None:
    """Why a request with this Authorization header may not use the admin endpoints, or None when it may.

    403 while no token is configured (the endpoints are disabled, never open); 401 for a missing, malformed or wrong
    bearer token, compared in constant time.
    """
    if not expected.strip():
        return HTTPException(403, "admin API disabled: set KPI_SYNC_ADMIN_TOKEN to enable it")
    scheme, _, credentials = (authorization or "").partition(" ")
    given = credentials.strip().encode() if scheme.lower() == "bearer" else b""
    if not hmac.compare_digest(given, expected):
        return HTTPException(401, "missing or wrong bearer token", headers=BEARER_CHALLENGE)
    return None


class TokenFirst:
    """ASGI middleware: the routes of `protected` are refused without the right token before their body is read."""

    def __init__(self, app: ASGIApp, *, expected_token: bytes, protected: APIRouter) -> None:
        self.app = app
        self.expected_token = expected_token
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and any(r.matches(scope)[0] is Match.FULL for r in self.protected.routes):
            authorization = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k.lower() == b"authorization"), None
            )
            refusal = token_refusal(self.expected_token, authorization)
            if refusal is not None:
                headers = {**(refusal.headers or {}), "Connection": "close"}
                await JSONResponse({"detail": refusal.detail}, refusal.status_code, headers)(scope, receive, send)
                return
        await self.app(scope, receive, send)
