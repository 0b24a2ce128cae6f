"""Answers carrying a value no store can hold, as the fault settings ask (`poison_types`, `poison`, `poison_field`):
a NUL, a lone surrogate (sent as the JSON escape `\\ud83d`), bytes that are not UTF-8, or a value nested thousands of
levels deep, in the first record of each answer of the chosen object types (CRM records, "owners", or "pipelines",
whose first stage is the record). JSON cannot carry the last three, so a marker goes into the answer and is swapped
for the raw bytes once it is serialised. The portal's own data is never changed: the record is copied first."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from sandbox.faults import FaultConfig
from sandbox.routing import Request, Route

MARKER = "\u2060kpi-poison\u2060"  # word joiners around a name: never in generated data
NESTED = "\u2060kpi-nested\u2060"
SPOILED = {"nul": b"\\u0000", "surrogate": b"\\ud83d", "utf8": b"\xff\xfe"}


def kind_of(route: Route, req: Request, resolve: Callable[[str], str | None]) -> str | None:
    """The object type an answer holds records of ("contacts", ..., "owners", "pipelines"), or None."""
    template = route.template
    if route.method == "GET" and template.endswith(("/owners", "/owners/{version}")):
        return "owners"
    if route.method == "GET" and "/pipelines/" in template and template.endswith("{objectType}"):
        return "pipelines"
    if "type" in req.params and "/associations/" not in template:
        return resolve(req.params["type"])
    return None


def mark(config: FaultConfig, kind: str | None, body: Any) -> Any:
    """`body` with its first record marked, when `kind` is poisoned (unchanged otherwise)."""
    if kind is None or kind not in config.poison_types or not isinstance(body, dict):
        return body
    results = body.get("results")
    if not isinstance(results, list) or not results or not isinstance(results[0], dict):
        return body
    first = copy.deepcopy(results[0])
    if kind == "pipelines":
        stages = first.get("stages")
        if isinstance(stages, list) and stages and isinstance(stages[0], dict):
            _mark_values(stages[0], config)
    elif kind == "owners":
        _mark_values(first, config)
    elif config.poison_field in (None, "properties") or config.poison_field not in first:
        props = first.get("properties")
        if isinstance(props, dict):
            _mark_values(props, config)
    else:
        _mark_values(first, config)
    return {**body, "results": [first, *results[1:]]}


def _mark_values(holder: dict[str, Any], config: FaultConfig) -> None:
    """Every text value of `holder` (or only `poison_field`) marked."""
    for key, value in holder.items():
        text = isinstance(value, str | int) and not isinstance(value, bool)
        if text and (config.poison_field is None or key == config.poison_field):
            holder[key] = NESTED if config.poison == "nesting" else f"{value}{MARKER}"


def spoil(config: FaultConfig, data: bytes) -> bytes:
    """The serialised answer with each marker replaced by the raw bad bytes."""
    if not config.poison_types:
        return data
    if config.poison == "nesting":
        depth = config.nesting_depth
        return data.replace(f'"{NESTED}"'.encode(), b"[" * depth + b"]" * depth)
    return data.replace(MARKER.encode(), SPOILED[config.poison])
