"""Answers' bodies to JSON, so that one hostile record costs that record and not its page.

The fast path is orjson. It refuses a whole body for one invalid UTF-8 byte, one lone surrogate (`\\ud83d`) or
nesting deeper than 1,024 levels; then the body is decoded again: bytes as UTF-8 with `surrogateescape` (an invalid
byte becomes a lone surrogate, which the record checks in `sync.hubspot.records` then refuse to store, value by value)
and parsed by the standard library, which takes lone surrogates. Before that parse, each entry of the top-level
`results` list nested deeper than `MAX_DEPTH` is cut out (the parsers recurse and stop near 1,000 levels), and put
back as an `Unreadable` in its place, so the rest of the page is read and the entry counted. A body whose envelope
itself cannot be read is malformed, in one line. (ijson, the streaming parser, was tried: its C backend turns a lone
surrogate into "?" and its Python backend refuses invalid UTF-8, so neither keeps the page.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from sync.hubspot.errors import MalformedResponseError

MAX_DEPTH = 64  # HubSpot's records are 4-5 levels deep (record, properties or associations, results, link)
# Tokens that matter for structure: strings (skipped whole, so brackets inside them do not count) and punctuation.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},:]', re.DOTALL)
_ID = re.compile(r'"id"\s*:\s*"?([0-9]{1,19})')


@dataclass(frozen=True)
class Unreadable:
    """A `results` entry that could not be read: its id where one was found near its start, and where it went wrong
    (the key under which nesting went too deep)."""

    record_id: str | None
    field: str
    reason: str = "nesting"


def decode_body(raw: bytes) -> Any:
    """The body as JSON, each `results` entry too deep to read replaced by its `Unreadable` (not a dict, so readers
    of `results` pass over it); MalformedResponseError (one line) when the body is not JSON even entry by entry."""
    if not raw:
        return {}
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    text = raw.decode("utf-8", errors="surrogateescape")
    text, cut = _cut_deep_results(text)
    try:
        body = json.loads(text)
    except RecursionError as exc:
        raise MalformedResponseError("HubSpot sent a body nested too deep to read, outside its records") from exc
    except ValueError as exc:
        raise MalformedResponseError("HubSpot sent a truncated or invalid JSON body") from exc
    for index, entry in cut.items():
        body["results"][index] = entry
    return body


def depth_of(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deep `value` nests (a scalar is 0), counted without recursion and no further than `limit` + 1."""
    deepest = 0
    stack: list[Iterator[Any]] = [iter((value,))]  # one iterator per open container: the stack's height is the depth
    while stack:
        for child in stack[-1]:
            if isinstance(child, dict | list):
                stack.append(iter(child.values() if isinstance(child, dict) else child))
                break
        else:
            stack.pop()
            continue
        deepest = max(deepest, len(stack) - 1)
        if deepest > limit:
            return deepest
    return deepest


def _cut_deep_results(text: str) -> tuple[str, dict[int, Unreadable]]:
    """`text` with each top-level `results` entry nested deeper than `MAX_DEPTH` replaced by `null`, and those
    entries by their index in `results`."""
    scan = _Scan(text)
    for token in _TOKEN.finditer(text):
        scan.take(token)
    return _without(text, scan.cuts), scan.found


class _Scan:
    """Where the `results` entries of a JSON text start and end, and which nest too deep. Depth 1 is the envelope,
    2 the `results` list, 3 an entry."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.cuts: list[tuple[int, int]] = []
        self.found: dict[int, Unreadable] = {}
        self.depth, self.in_results, self.index, self.start, self.deep = 0, False, 0, -1, ""
        self.keys = ["", "", "", "", ""]  # the last key seen at each depth up to 4 (an entry's key, a property's)

    def take(self, token: re.Match[str]) -> None:
        kind = token.group()
        if kind[0] == '"':
            self._key(token)
        elif kind == "," and self.in_results and self.depth == 2:
            self.index += 1
        elif kind in "[{":
            self._open(token)
        elif kind in "]}":
            self._close(token)

    def _key(self, token: re.Match[str]) -> None:
        if self.depth <= 4 and self.text[token.end() : token.end() + 64].lstrip()[:1] == ":":
            self.keys[self.depth] = token.group()[1:-1][:64]
            if self.depth == 3:
                self.keys[4] = ""

    def _open(self, token: re.Match[str]) -> None:
        self.depth += 1
        if self.depth == 2 and token.group() == "[" and self.keys[1] == "results":
            self.in_results = True
        elif self.in_results and self.depth == 3:
            self.start, self.deep = token.start(), ""
        elif self.in_results and self.depth > MAX_DEPTH + 2 and self.start >= 0 and not self.deep:
            self.deep = ".".join(k for k in self.keys[3:] if k) or "?"

    def _close(self, token: re.Match[str]) -> None:
        self.depth -= 1
        if self.in_results and self.depth == 2 and self.start >= 0:
            if self.deep:
                self.cuts.append((self.start, token.end()))
                match = _ID.search(self.text, self.start, min(token.end(), self.start + 4096))
                self.found[self.index] = Unreadable(match.group(1) if match else None, self.deep)
            self.start = -1
        elif self.depth == 1:
            self.in_results = False


def _without(text: str, cuts: list[tuple[int, int]]) -> str:
    """`text` with each cut span (a list entry) replaced by `null`."""
    if not cuts:
        return text
    parts, position = [], 0
    for start, end in cuts:
        parts += [text[position:start], "null"]
        position = end
    parts.append(text[position:])
    return "".join(parts)
