"""Request/response values and the route table that maps HubSpot paths (as templates) to handlers."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from sandbox.clock import iso, now_ms
from sandbox.constants import API_VERSIONS, DATED_PREFIXES
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


def batch_inputs(body: dict[str, Any], limit: int) -> list[Any]:
    """A batch body's `inputs`: 400 when it is not a list or holds more than `limit` entries."""
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise validation("Invalid input JSON: 'inputs' must be a list.")
    if len(inputs) > limit:
        raise validation(
            f"Batch input limit exceeded: {len(inputs)} inputs, at most {limit} are allowed.",
            context={"inputs": [str(len(inputs))]},
        )
    return inputs


def batch_response(results: list[dict[str, Any]], errors: list[dict[str, Any]], ok: int = 200) -> Response:
    """The batch envelope; 207 with `numErrors`/`errors` when some inputs failed."""
    stamp = iso(now_ms())
    body: dict[str, Any] = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
    if errors:
        body.update({"numErrors": len(errors), "errors": errors})
        return Response(207, body)
    return Response(ok, body)


Handler = Callable[[Context, Request], Response]


@dataclass(frozen=True)
class Route:
    """A method + path template, e.g. `GET /crm/v3/objects/{type}` or `GET /crm/objects/{version}/{type}`."""

    method: str
    template: str
    handler: Handler
    pattern: re.Pattern[str]
    kind: str  # "api", "search" or "operator"


def compile_template(template: str, only: Mapping[str, Iterable[str]] | None = None) -> re.Pattern[str]:
    """Turn `/crm/v3/objects/{type}/{id}` into a regex with named groups; `only` limits a group to given values."""
    regex = template
    for name in re.findall(r"\{(\w+)\}", template):
        choice = "|".join(sorted(map(re.escape, only[name]))) if only and name in only else "[^/]+"
        regex = regex.replace(f"{{{name}}}", f"(?P<{name}>{choice})")
    return re.compile(f"^{regex}/?$")


def dated(template: str) -> str:
    """The date-versioned template of a numbered one (`/crm/v3/owners` -> `/crm/owners/{version}`)."""
    for numbered, versioned in DATED_PREFIXES:
        if template.startswith(numbered):
            return versioned + template[len(numbered) :]
    raise ValueError(f"no date-versioned path for {template}")


NUMBERED_PATH = re.compile(r"/v[1-4](/|$)")
DATED_PATH = re.compile(r"/(\d{4}-\d{2}(?:-beta)?)(/|$)")


def path_family(path: str) -> tuple[str, str | None]:
    """Which API family a request path belongs to: ("numbered", None), ("dated", version) or ("other", None)."""
    found = DATED_PATH.search(path)
    if found:
        return "dated", found.group(1)
    return ("numbered", None) if NUMBERED_PATH.search(path) else ("other", None)


class Router:
    """First-match route table."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(
        self,
        method: str,
        template: str,
        handler: Handler,
        kind: str = "api",
        *,
        only: Mapping[str, Iterable[str]] | None = None,
        first: bool = False,
    ) -> None:
        """Register a handler for a method and path template (`first` puts it ahead of the routes so far)."""
        route = Route(method, template, handler, compile_template(template, only), kind)
        if first:
            self.routes.insert(0, route)
        else:
            self.routes.append(route)

    def api(
        self,
        method: str,
        template: str,
        handler: Handler,
        kind: str = "api",
        *,
        versions: Iterable[str] = API_VERSIONS,
        only: Mapping[str, Iterable[str]] | None = None,
        first: bool = False,
    ) -> None:
        """Register a numbered CRM route and its date-versioned twin (answering only for `versions`)."""
        self.add(method, template, handler, kind, only=only, first=first)
        self.add(method, dated(template), handler, kind, only={**(only or {}), "version": versions}, first=first)

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
