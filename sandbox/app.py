"""The request pipeline behind the HTTP server: auth, faults, rate limits, routing, error bodies and stats.

It is independent of the socket layer: `handle()` takes a method, target, Authorization header and body and
returns an `Outcome` (status, bytes, headers, or "drop the connection").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from sandbox import bounds, legacy, operator, poison, routes_assoc, routes_meta, routes_objects, routes_schemas
from sandbox.config import SandboxOptions, Settings
from sandbox.context import Context
from sandbox.errors import ApiError, correlation_id, missing_scopes, rate_limit_body, unauthorized
from sandbox.limits import Verdict
from sandbox.portal import Portal
from sandbox.routing import Request, Route, Router, path_family
from sandbox.stats import Stats

ENGAGEMENTS = frozenset({"calls", "emails", "meetings", "notes", "tasks", "communications"})
SCHEMA_SCOPED = frozenset({"contacts", "companies", "deals"})  # objects with their own crm.schemas.* scopes
SERVER_ERROR_BODIES = {
    500: ("INTERNAL_ERROR", "internal error"),
    502: ("BAD_GATEWAY", "Bad Gateway"),
    503: ("SERVICE_UNAVAILABLE", "Service temporarily unavailable"),
    504: ("GATEWAY_TIMEOUT", "Gateway Timeout"),
}


@dataclass
class Outcome:
    """What the server sends: a status with body and headers, optionally late or truncated, or nothing."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay_s: float = 0.0
    trickle_s: float = 0.0  # the body sent one byte at a time, this long apart


def json_outcome(status: int, body: Any, headers: dict[str, str] | None = None) -> Outcome:
    """Serialise a JSON body (204 has none)."""
    data = b"" if body is None else body if isinstance(body, bytes) else orjson.dumps(body)
    return Outcome(status, data, headers or {})


class SandboxApp:
    """The request pipeline over one `Context`: the API route table and the operator route table."""

    def __init__(self, portal: Portal, options: SandboxOptions) -> None:
        self.context = Context(portal, options)
        self.router = Router()
        for module in (routes_objects, routes_assoc, routes_meta, routes_schemas, legacy):
            module.register(self.router)
        self.operator = Router()
        operator.register(self.operator)

    @property
    def portal(self) -> Portal:
        """The portal being served."""
        return self.context.portal

    @property
    def options(self) -> SandboxOptions:
        """The start-up options."""
        return self.context.options

    @property
    def settings(self) -> Settings:
        """The run-time settings."""
        return self.context.settings

    @property
    def stats(self) -> Stats:
        """The request counters."""
        return self.context.stats

    # -- pipeline ---------------------------------------------------------------------------------------------

    def handle(self, method: str, target: str, authorization: str | None, body: bytes) -> Outcome:
        """Answer one HTTP request."""
        req = Request.parse(method, target, body, {"authorization": authorization or ""})
        if req.path.startswith("/_sandbox/"):
            return self._operator(req)
        route, params, path_known = self.router.match(req.method, req.path)
        req.params = params
        outcome = self._answer(route, path_known, req)
        outcome.delay_s += self.context.latency.delay_ms(self.settings.latency_ms) / 1000
        template = f"{method} {route.template}" if route else f"{method} (unmatched)"
        ot = self.portal.resolve(params["type"]) if "type" in params else None
        family, version = path_family(req.path)
        status = "drop" if outcome.drop else outcome.status
        call = template if route else f"{method} {req.path}"
        self.stats.record(template, status, ot.name if ot else None, family=family, version=version, call=call)
        return outcome

    def _authenticate(self, req: Request) -> None:
        header = req.headers["authorization"]
        if header == f"Bearer {self.options.token}":
            granted = self.settings.granted_scopes
            missing = [s for s in self.scopes_for(req) if s not in granted] if granted is not None else []
            if missing:
                raise missing_scopes(missing[0])
            return
        limited = self.options.limited_token
        if limited and header == f"Bearer {limited}":
            raise missing_scopes(self.scopes_for(req)[0])
        raise unauthorized()

    def scopes_for(self, req: Request) -> tuple[str, ...]:
        """The granular scopes a call needs, all of them (a 403 names the first one not granted).

        Engagements (calls, emails, meetings, notes, tasks) are read and written with the contacts scope, as
        HubSpot's engagements documentation says; reading emails needs `sales-email-read` as well. (HubSpot documents
        that without it email content is redacted; the sandbox refuses instead, so a missing grant is visible.)
        Properties need the schema scope of their object, pipelines the deals scope."""
        access = "read" if req.method == "GET" or req.path.endswith(("/search", "/batch/read")) else "write"
        path, params = req.path, req.params
        if "/properties" in path:
            kind = self._scope_kind(params.get("type", "contacts"))
            return (f"crm.schemas.{kind if kind in SCHEMA_SCOPED else 'contacts'}.{access}",)
        for part, scope in (
            ("/owners", "crm.objects.owners.read"),
            ("/schemas", f"crm.schemas.custom.{access}"),
            ("/pipelines", "crm.objects.deals.read"),
        ):
            if part in path:
                return (scope,)
        named = [params[k] for k in ("type", "fromType", "toType", "objectType") if k in params] or ["contacts"]
        scopes = [f"crm.objects.{self._scope_kind(n)}.{access}" for n in named]
        if access == "read" and "emails" in {self._object_name(n) for n in named}:
            scopes.append("sales-email-read")
        return tuple(dict.fromkeys(scopes))

    def _object_name(self, name: str) -> str:
        ot = self.portal.resolve(name)
        return ot.name if ot is not None else name

    def _scope_kind(self, name: str) -> str:
        """The object part of a scope: engagements ride on contacts, custom objects share one scope."""
        ot = self.portal.resolve(name)
        if ot is not None and ot.custom:
            return "custom"
        resolved = ot.name if ot is not None else name
        return "contacts" if resolved in ENGAGEMENTS else resolved

    def _answer(self, route: Route | None, path_known: bool, req: Request) -> Outcome:
        fault: str | None = None
        verdict = Verdict()
        try:
            self._authenticate(req)
            if route is None:
                raise ApiError(
                    405 if path_known else 404,
                    "OBJECT_NOT_FOUND" if not path_known else "VALIDATION_ERROR",
                    f"Unable to route {req.method} {req.path}",
                )
            fault = self.context.faults.decide()
            if fault:
                self.stats.fault(fault)
            injected = self._inject(fault)
            if injected is not None:
                return injected
            verdict = self.context.limiter.check(route.kind == "search")
            if verdict.policy:
                return self._rate_limited(verdict)
            response = route.handler(self.context, req)
            config = self.context.faults.config
            body = bounds.distort(config, route, req, response.body)
            body = poison.mark(config, poison.kind_of(route, req, self._type_name), body)
            outcome = json_outcome(response.status, body, {**verdict.headers, **response.headers})
            outcome.body = poison.spoil(config, outcome.body)
        except ApiError as err:
            outcome = json_outcome(err.status, err.body(), {**verdict.headers, **err.headers})
        if fault == "slow":
            outcome.delay_s = self.context.faults.config.slow_ms / 1000
        elif fault == "malformed" and outcome.body:
            outcome.body = outcome.body[: max(1, len(outcome.body) // 2)]
        outcome.trickle_s = self.context.faults.config.trickle_ms / 1000
        return outcome

    def _type_name(self, name: str) -> str | None:
        ot = self.portal.resolve(name)
        return ot.name if ot is not None else None

    def _inject(self, fault: str | None) -> Outcome | None:
        if fault == "drop":
            return Outcome(0, drop=True)
        if fault == "429":
            config = self.context.faults.config
            headers = {"Retry-After": "1"} if config.retry_after else {}
            if config.retry_after_value is not None:
                headers["Retry-After"] = config.retry_after_value
            return json_outcome(429, rate_limit_body(config.policy_429), headers)
        if fault == "5xx":
            status = self.context.faults.server_error()
            category, message = SERVER_ERROR_BODIES[status]
            return json_outcome(
                status, {"status": "error", "message": message, "correlationId": correlation_id(), "category": category}
            )
        return None

    def _rate_limited(self, verdict: Verdict) -> Outcome:
        assert verdict.policy is not None
        headers = dict(verdict.headers)
        if self.settings.retry_after and verdict.retry_after_s is not None:
            headers["Retry-After"] = str(verdict.retry_after_s)
        return json_outcome(429, rate_limit_body(verdict.policy), headers)

    def _operator(self, req: Request) -> Outcome:
        route, params, path_known = self.operator.match(req.method, req.path)
        if route is None:
            return json_outcome(405 if path_known else 404, {"error": f"no operator route {req.method} {req.path}"})
        req.params = params
        try:
            response = route.handler(self.context, req)
        except (ValueError, TypeError, KeyError) as exc:
            return json_outcome(400, {"error": str(exc)})
        except ApiError as err:
            return json_outcome(err.status, err.body())
        return json_outcome(response.status, response.body, response.headers)
