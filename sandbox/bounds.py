"""Answers that break a client's bounds, as the fault settings ask: a paging cursor that repeats, a page with more
results than its `limit` or in reverse order, huge property values. Applied to the JSON of a successful API answer."""

from __future__ import annotations

from itertools import cycle, islice
from typing import Any

from sandbox.constants import LIST_LIMIT_DEFAULT, OWNERS_LIMIT_DEFAULT
from sandbox.faults import FaultConfig
from sandbox.routing import Request, Route

FIRST_CURSOR = "0"  # a cursor every paged route reads as "from the start"
EMAIL_BODY = "hs_email_text"


def paged_family(route: Route) -> str | None:
    """Which paged family a route belongs to ("objects", "owners", "associations"), or None."""
    template = route.template
    if route.method == "GET" and template.endswith(("/owners", "/owners/{version}")):
        return "owners"
    if route.method == "GET" and template.endswith("/{type}") and "/objects" in template:
        return "objects"
    if route.method == "POST" and "/associations/" in template and template.endswith("/batch/read"):
        return "associations"
    return None


def distort(config: FaultConfig, route: Route, req: Request, body: Any) -> Any:
    """The answer `body` as the bound faults of `config` make it (unchanged when none applies)."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        return body
    family = paged_family(route)
    if family in config.repeat_cursor:
        _repeat_cursor(family, req, body)
    if family in config.oversize_page and family != "associations":
        default = OWNERS_LIMIT_DEFAULT if family == "owners" else LIST_LIMIT_DEFAULT
        body["results"] = list(islice(cycle(body["results"]), req.q_int("limit", default) + 1))
    if family in config.reversed_page and family != "associations":
        body["results"].reverse()
    if (config.huge_values or config.urls_per_email) and body["results"]:
        first, *rest = body["results"]  # one record per answer: enough to test, cheap to send
        body["results"] = [_huge(first, config.huge_values, config.urls_per_email), *rest]
    return body


def _repeat_cursor(family: str, req: Request, body: dict[str, Any]) -> None:
    if family != "associations":
        after = req.q_str("after") or FIRST_CURSOR
        body["paging"] = {"next": {"after": after, "link": f"?after={after}"}}
        return
    asked = {str(i.get("id")): i.get("after") for i in req.json_object().get("inputs", []) if isinstance(i, dict)}
    for entry in body["results"]:
        after = asked.get(str(entry.get("from", {}).get("id"))) or FIRST_CURSOR
        entry["paging"] = {"next": {"after": str(after), "link": None}}


def _huge(record: Any, size: int, urls: int) -> Any:
    props = record.get("properties") if isinstance(record, dict) else None
    if not isinstance(props, dict):
        return record
    padded = {k: _padded(v, size) for k, v in props.items()}
    if urls and EMAIL_BODY in props:
        padded[EMAIL_BODY] = " ".join(f"https://example.com/{i}" for i in range(urls))
    return {**record, "properties": padded}


def _padded(value: Any, size: int) -> Any:
    """Free text padded to `size` characters; ids, numbers, times and flags (all start with a digit, or are
    true/false) and empty values kept, so the record still parses."""
    if not size or not isinstance(value, str) or not value or value[0].isdigit() or value in ("true", "false"):
        return value
    return (value + "x" * size)[:size]
