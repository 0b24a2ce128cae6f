"""Request/response values and the route table that maps HubSpot paths (as templates) to handlers."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from sandbox.context import Context
from sandbox.errors import validation


@dataclass
class Request:
    """One parsed HTTP request."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, method: str, target: str, body: bytes, headers: dict[str, str]) -> Request:
        """Split the request target into path and query."""
        path, _, qs = target.partition("?")
        return cls(method, path, parse_qs(qs, keep_blank_values=True) if qs else {}, body, headers)

    def json(self) -> Any:
        """The body as JSON; 400 when it is not JSON."""
        try:
            return orjson.loads(self.body) if self.body else {}
        except orjson.JSONDecodeError as exc:
            raise validation(f"Invalid input JSON on line 1: {exc}") from exc

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 400 otherwise."""
        body = self.json()
        if not isinstance(body, dict):
            raise validation("Invalid input JSON: expected an object.")
        return body

    def q_list(self, name: str) -> list[str] | None:
        """A list parameter, sent repeated or comma-separated; None when absent."""
        if name not in self.query:
            return None
        return [p for value in self.query[name] for p in value.split(",") if p]

    def q_str(self, name: str) -> str | None:
        """The first value of a parameter."""
        values = self.query.get(name)
        return values[0] if values else None

    def q_bool(self, name: str, default: bool = False) -> bool:
        """A boolean parameter, case-insensitive (the SDK sends `False`/`True`)."""
        value = self.q_str(name)
        return default if value is None else value.lower() == "true"

    def q_int(self, name: str, default: int) -> int:
        """An integer parameter; 400 when not an integer."""
        value = self.q_str(name)
        if value is None or value == "":
            return default
        try:
            return int(value)
        except ValueError as exc:
            raise validation(f"Invalid value for '{name}': {value}") from exc


@dataclass
class Response:
    """A handler's answer: status, a JSON-able body (or raw bytes), extra headers."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Context, Request], Response]


@dataclass(frozen=True)
class Route:
    """A method + path template, e.g. `GET /crm/v3/objects/{type}`."""

    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]
    kind: str  # "api", "search" or "operator"


def compile_template(template: str) -> re.Pattern[str]:
    """Turn `/crm/v3/objects/{type}/{id}` into a regex with named groups."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return re.compile(f"^{regex}/?$")


class Router:
    """First-match route table."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, method: str, template: str, handler: Handler, kind: str = "api") -> None:
        """Register a handler for a method and path template."""
        self.routes.append(Route(method, template, handler, compile_template(template), kind))

    def match(self, method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
        """The route for a request, its path parameters, and whether the path exists with another method."""
        path_known = False
        for route in self.routes:
            found = route.pattern.match(path)
            if found:
                if route.method == method:
                    return route, {k: unquote(v) for k, v in found.groupdict().items()}, True
                path_known = True
        return None, {}, path_known
