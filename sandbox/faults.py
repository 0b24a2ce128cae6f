"""Seeded fault injection for API routes: 429s, 5xx, slow answers, dropped connections, malformed bodies, and
partial failures inside batch writes; and answers that test a client's bounds (a `Retry-After` of any value and
policy, a paging cursor that repeats, pages over their limit, huge values, a body that trickles; values no store can
hold). Operator routes are
never affected."""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any

SERVER_ERRORS = (500, 502, 503, 504)
POISONS = ("nul", "surrogate", "utf8", "nesting")
PAGED_FAMILIES = frozenset({"objects", "owners", "associations"})  # GET list, GET owners, POST v4 batch read


@dataclass(frozen=True)
class FaultConfig:
    """Shares (0..1) of API requests that get each fault; `rate_partial` is per batch-write input."""

    rate_429: float = 0.0
    retry_after: bool = False
    rate_5xx: float = 0.0
    rate_drop: float = 0.0
    rate_slow: float = 0.0
    slow_ms: int = 200
    rate_malformed: float = 0.0
    rate_partial: float = 0.0
    seed: int | None = None
    # The `Retry-After` of injected 429s, sent as is ("1000000000", "inf", "soon"; overrides `retry_after`), and
    # their `policyName` (DAILY, TEN_SECONDLY_ROLLING, SECONDLY, or anything).
    retry_after_value: str | None = None
    policy_429: str = "TEN_SECONDLY_ROLLING"
    # Paged answers of these families whose `paging.next.after` is the cursor they were asked with ("0" for the
    # first page), so a client that follows it never gets further.
    repeat_cursor: tuple[str, ...] = ()
    # Paged answers of these families with one result more than the `limit` asked for.
    oversize_page: tuple[str, ...] = ()
    # Paged answers of these families with their results in reverse order (a portal whose lists stop coming in id
    # order; "associations" is not reordered).
    reversed_page: tuple[str, ...] = ()
    # The first record of each answer with every free-text property padded to this many characters (0: off), and
    # its email text body made of this many distinct URLs (0: off).
    huge_values: int = 0
    urls_per_email: int = 0
    # Every API answer's body sent one byte every `trickle_ms` milliseconds (0: off).
    trickle_ms: int = 0
    # The first record of each answer of these object types ("contacts", "deals", an engagement type, "owners",
    # "pipelines": its first stage) with a value no store can hold (`sandbox.poison`): in every text value of its
    # properties (an owner's or a stage's own fields), or only in `poison_field` (a property, or a record's key such
    # as "id"). `poison` is "nul", "surrogate" (a lone \ud83d), "utf8" (bytes that are not UTF-8) or "nesting" (the
    # value replaced by lists nested `nesting_depth` deep).
    poison_types: tuple[str, ...] = ()
    poison: str = "nul"
    poison_field: str | None = None
    nesting_depth: int = 5_000

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultConfig:
        """Build from the operator API's JSON; ValueError on unknown keys or out-of-range shares."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault setting(s): {sorted(unknown)}")
        listed = ("repeat_cursor", "oversize_page", "reversed_page", "poison_types")
        lists: dict[str, tuple[str, ...]] = {k: tuple(data[k]) for k in listed if k in data}
        config = cls(**{**data, **lists})
        odd = set(config.repeat_cursor + config.oversize_page + config.reversed_page) - PAGED_FAMILIES
        if odd:
            raise ValueError(f"unknown paged family(ies): {sorted(odd)}; known: {sorted(PAGED_FAMILIES)}")
        if min(config.huge_values, config.urls_per_email, config.trickle_ms, config.nesting_depth) < 0:
            raise ValueError("huge_values, urls_per_email, trickle_ms and nesting_depth must be >= 0")
        if config.poison not in POISONS:
            raise ValueError(f"unknown poison {config.poison!r}; known: {list(POISONS)}")
        shares = [config.rate_429, config.rate_5xx, config.rate_drop, config.rate_slow, config.rate_malformed]
        if any(not 0 <= s <= 1 for s in [*shares, config.rate_partial]) or sum(shares) > 1:
            raise ValueError("fault shares must be between 0 and 1 and sum to at most 1")
        return config

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return asdict(self)


class FaultInjector:
    """Decides, per request, which fault (if any) to inject."""

    def __init__(self, config: FaultConfig) -> None:
        self._lock = threading.Lock()
        self.configure(config)

    def configure(self, config: FaultConfig) -> None:
        """Replace the configuration and re-seed."""
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)

    def decide(self) -> str | None:
        """One of "drop", "429", "5xx", "slow", "malformed", or None."""
        c = self.config
        if not (c.rate_drop or c.rate_429 or c.rate_5xx or c.rate_slow or c.rate_malformed):
            return None
        with self._lock:
            roll = self._rng.random()
        for kind, share in (
            ("drop", c.rate_drop),
            ("429", c.rate_429),
            ("5xx", c.rate_5xx),
            ("slow", c.rate_slow),
            ("malformed", c.rate_malformed),
        ):
            if roll < share:
                return kind
            roll -= share
        return None

    def server_error(self) -> int:
        """Which 5xx to answer."""
        with self._lock:
            return self._rng.choice(SERVER_ERRORS)

    def partial_failures(self, n: int) -> set[int]:
        """Indexes of batch-write inputs that fail (and are not applied)."""
        if not self.config.rate_partial:
            return set()
        with self._lock:
            return {i for i in range(n) if self._rng.random() < self.config.rate_partial}
