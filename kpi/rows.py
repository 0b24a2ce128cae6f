"""Plain input rows of the KPI engine: owners, contacts, engagements, deals and pipeline stages.

Times are integers, milliseconds since the epoch (UTC), or None when HubSpot had no usable value. The pull turns
HubSpot's strings into these rows (`parse_timestamp`, `extract_urls` help it); the engine never sees raw JSON.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NamedTuple

# The spec's URL pattern for D7, compiled once.
URL_PATTERN = re.compile(r"""https?://[^\s"'<>]+""")

ENGAGEMENT_TYPES = frozenset({"call", "email", "meeting", "note", "task"})

# datetime's own range: a value outside it cannot be bucketed into a day or month, so it counts as unparseable.
MIN_MS = -62_135_596_800_000  # 0001-01-01T00:00:00Z
MAX_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z


@dataclass(frozen=True, slots=True)
class Owner:
    """A HubSpot owner (a sales rep); the first team is the owner's primary team."""

    id: str
    name: str
    email: str | None
    team_ids: tuple[str, ...]
    team_names: tuple[str, ...]
    archived: bool

    @property
    def primary_team_id(self) -> str | None:
        """The id of the owner's primary (first) team, or None when the owner is in no team."""
        return self.team_ids[0] if self.team_ids else None


@dataclass(frozen=True, slots=True)
class Contact:
    """A contact with the properties the spec reads (D4-D6, K5)."""

    id: int
    owner_id: str | None
    createdate: int | None
    lifecyclestage: str | None
    lead_date: int | None
    sql_date: int | None
    opportunity_date: int | None
    customer_date: int | None
    buying_role: str | None
    archived: bool = False


class Engagement(NamedTuple):
    """A call, email, meeting, note or task (a NamedTuple: built by the million in a full recompute, where a frozen
    dataclass's construction cost more than the KPI rules themselves).

    `contact_ids` are the associated contacts. `urls` are the URLs of the email body, already extracted from
    `hs_email_html` and `hs_email_text` by `extract_urls` (empty for other types), so the body itself need not be
    kept. A `timestamp` of None means `hs_timestamp` was missing or unparseable: the engagement takes part in no
    KPI and is counted as skipped.
    """

    id: int
    type: str
    timestamp: int | None
    owner_id: str | None
    contact_ids: tuple[int, ...]
    call_direction: str | None = None
    call_disposition: str | None = None
    email_direction: str | None = None
    urls: tuple[str, ...] = ()
    meeting_outcome: str | None = None
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Deal:
    """A deal; `is_closed_won`/`is_closed` are None when HubSpot did not return them."""

    id: int
    owner_id: str | None
    createdate: int | None
    closedate: int | None
    pipeline: str | None
    dealstage: str | None
    is_closed_won: bool | None
    is_closed: bool | None
    contact_ids: tuple[int, ...]
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Stage:
    """Pipeline stage metadata: `isClosed` and `probability` (1.0 means won)."""

    pipeline_id: str
    stage_id: str
    is_closed: bool
    probability: float | None


StageMap = Mapping[tuple[str, str], Stage]


def stage_map(stages: list[Stage] | tuple[Stage, ...]) -> dict[tuple[str, str], Stage]:
    """Index stages by (pipeline id, stage id) for `deal_outcome`."""
    return {(s.pipeline_id, s.stage_id): s for s in stages}


def deal_outcome(deal: Deal, stages: StageMap) -> bool | None:
    """Whether the deal is won (True), lost (False) or still open / unknown (None).

    The deal's own `hs_is_closed_won` and `hs_is_closed` win; where one is missing it is derived from the pipeline
    stage's metadata (`isClosed`; won when `probability` == 1.0). A deal that is won counts as won even if
    `hs_is_closed` is missing. A closed deal whose won flag is missing and whose stage is unknown cannot be
    classified and is treated like an open deal (None), as is any deal whose closed state is unknown.
    """
    stage = stages.get((deal.pipeline or "", deal.dealstage or ""))
    won = deal.is_closed_won
    if won is None and stage is not None:
        won = stage.is_closed and stage.probability == 1.0
    closed = deal.is_closed
    if closed is None and stage is not None:
        closed = stage.is_closed
    if won:
        return True
    if closed and won is False:
        return False
    return None


def extract_urls(html: str | None, text: str | None) -> tuple[str, ...]:
    """The URLs in an email's HTML and text bodies by the spec's pattern, in order, each once."""
    found: dict[str, None] = {}
    for body in (html, text):
        if body:
            for url in URL_PATTERN.findall(body):
                found[url] = None
    return tuple(found)


def parse_timestamp(value: object) -> int | None:
    """A HubSpot time (ms epoch as int or digit string, or ISO 8601 text) as int ms UTC; None if unusable.

    Naive ISO text is read as UTC (HubSpot times are UTC). Values outside datetime's range are unusable.
    """
    ms: int | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        ms = value
    elif isinstance(value, str):
        ms = _parse_text_time(value.strip())
    if ms is None or not MIN_MS <= ms <= MAX_MS:
        return None
    return ms


def _parse_text_time(text: str) -> int | None:
    if not text:
        return None
    digits = text.removeprefix("-")
    if digits.isascii() and digits.isdigit():
        # More digits than MAX_MS has cannot be in range; int() would refuse thousands of them anyway.
        return int(text) if len(digits) <= 16 else None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
