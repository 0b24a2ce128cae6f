"""Raw HubSpot objects (JSON dicts) to store rows: typed, validated value by value, never fatal for one record.

A value that cannot be parsed (or stored: text with NUL, nested JSON) is stored as NULL and counted; a page entry
that is not an object, has no usable id (a positive integer within BIGINT) or no `properties` object is skipped
and counted. Text longer than HubSpot's own maximum is cut to it, and an email's URLs to `MAX_URLS_PER_EMAIL`, both
counted as invalid values. Nothing here logs personal data: callers log counts only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kpi.rows import extract_urls, parse_timestamp
from sync.hubspot.constants import (
    MAX_TEXT_CHARS,
    MAX_URLS_PER_EMAIL,
    MERGEABLE,
    MERGED_IDS_PROPERTY,
    MODIFIED_PROPERTY,
    SINGULAR,
)


@dataclass
class ParseStats:
    """Counts of what parsing dropped: skipped records and invalid values by property."""

    skipped_records: int = 0
    invalid_values: Counter[str] = field(default_factory=Counter)

    def total_invalid(self) -> int:
        """All invalid values together."""
        return sum(self.invalid_values.values())


@dataclass(frozen=True)
class Parsed:
    """A page turned into store rows plus the contact links found inline."""

    rows: list[dict[str, Any]]
    links: dict[int, set[int]]  # record id -> contact ids (only for records whose links are complete)
    incomplete_links: list[int]  # record ids whose inline associations were cut off (more than one page)
    merged: dict[int, set[int]] = field(default_factory=dict)  # survivor id -> ids HubSpot merged into it


BIGINT_MAX = 2**63 - 1  # ids are BIGINT columns: a larger id could never be stored


def valid_id(value: object) -> int | None:
    """A HubSpot record id as an int: a positive integer within BIGINT, given as a JSON number or digit string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    # ASCII digits only: int() would also take "+7", " 7", "1_0" and other scripts' digits, and raises on
    # "²" or strings of thousands of digits (which cannot be ids anyway).
    if not (len(text) <= 19 and text.isascii() and text.isdigit()):
        return None
    number = int(text)
    return number if 0 < number <= BIGINT_MAX else None


class _Props:
    """Typed access to one record's properties, counting what does not parse."""

    def __init__(self, props: Mapping[str, Any], stats: ParseStats, object_type: str) -> None:
        self.props, self.stats, self.object_type = props, stats, object_type

    def text(self, name: str, *, nul_ok: bool = False) -> str | None:
        """The value as text (a JSON number or boolean as written); nested JSON and NUL characters are invalid.

        NUL cannot be stored in a PostgreSQL text column; `nul_ok` is for email bodies, of which only the URLs are
        kept.
        """
        value = self.props.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, dict | list) or (not nul_ok and isinstance(value, str) and "\x00" in value):
            self.stats.invalid_values[f"{self.object_type}.{name}"] += 1
            return None
        text = value if isinstance(value, str) else str(value)
        if len(text) > MAX_TEXT_CHARS:
            self.stats.invalid_values[f"{self.object_type}.{name}"] += 1  # counted, and kept cut to the maximum
            return text[:MAX_TEXT_CHARS]
        return text

    def time(self, name: str) -> int | None:
        value = self.props.get(name)
        if value is None or value == "":
            return None
        parsed = parse_timestamp(value)
        if parsed is None:
            self.stats.invalid_values[f"{self.object_type}.{name}"] += 1
        return parsed

    def flag(self, name: str) -> bool | None:
        value = self.text(name)
        if value is None:
            return None
        lowered = value.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        self.stats.invalid_values[f"{self.object_type}.{name}"] += 1
        return None

    def owner(self) -> str | None:
        value = self.text("hubspot_owner_id")
        if value is not None and not (value.isascii() and value.isdigit()):
            self.stats.invalid_values[f"{self.object_type}.hubspot_owner_id"] += 1
            return None
        return value


def _fallback(value: int | None, envelope: object) -> int | None:
    """A property's time, or the record envelope's (`createdAt`, `updatedAt`) when the property gave none."""
    return parse_timestamp(envelope) if value is None else value


def _common(record: Mapping[str, Any], p: _Props, object_type: str, extra: Iterable[str]) -> dict[str, Any]:
    modified = _fallback(p.time(MODIFIED_PROPERTY[object_type]), record.get("updatedAt"))
    wanted = list(extra)
    return {
        "modified_at": modified,
        "archived": bool(record.get("archived") is True),
        "extra": {name: p.props.get(name) for name in wanted} if wanted else None,
    }


def contact_row(record: Mapping[str, Any], p: _Props, extra: Iterable[str]) -> dict[str, Any]:
    """A contacts row."""
    return {
        "owner_id": p.owner(),
        "createdate": _fallback(p.time("createdate"), record.get("createdAt")),
        "lifecyclestage": p.text("lifecyclestage"),
        "lead_date": p.time("hs_lifecyclestage_lead_date"),
        "sql_date": p.time("hs_lifecyclestage_salesqualifiedlead_date"),
        "opportunity_date": p.time("hs_lifecyclestage_opportunity_date"),
        "customer_date": p.time("hs_lifecyclestage_customer_date"),
        "buying_role": p.text("hs_buying_role"),
        **_common(record, p, "contacts", extra),
    }


def deal_row(record: Mapping[str, Any], p: _Props, extra: Iterable[str]) -> dict[str, Any]:
    """A deals row."""
    return {
        "owner_id": p.owner(),
        "createdate": _fallback(p.time("createdate"), record.get("createdAt")),
        "closedate": p.time("closedate"),
        "pipeline": p.text("pipeline"),
        "dealstage": p.text("dealstage"),
        "is_closed_won": p.flag("hs_is_closed_won"),
        "is_closed": p.flag("hs_is_closed"),
        **_common(record, p, "deals", extra),
    }


def engagement_row(record: Mapping[str, Any], p: _Props, object_type: str, extra: Iterable[str]) -> dict[str, Any]:
    """An engagements row; email bodies are reduced to their URLs."""
    kind = SINGULAR[object_type]
    row: dict[str, Any] = {
        "type": kind,
        "timestamp": p.time("hs_timestamp"),
        "owner_id": p.owner(),
        "call_direction": p.text("hs_call_direction") if kind == "call" else None,
        "call_disposition": p.text("hs_call_disposition") if kind == "call" else None,
        "email_direction": p.text("hs_email_direction") if kind == "email" else None,
        "meeting_outcome": p.text("hs_meeting_outcome") if kind == "meeting" else None,
        "urls": _urls(p) if kind == "email" else None,
    }
    return row | _common(record, p, object_type, extra)


def _urls(p: _Props) -> list[str]:
    urls = extract_urls(p.text("hs_email_html", nul_ok=True), p.text("hs_email_text", nul_ok=True))
    if len(urls) > MAX_URLS_PER_EMAIL:
        p.stats.invalid_values[f"{p.object_type}.urls"] += 1
    return list(urls[:MAX_URLS_PER_EMAIL])


def inline_links(record: Mapping[str, Any]) -> tuple[set[int], bool]:
    """Contact ids listed inline under `associations.contacts`, and whether that list is complete."""
    assoc = record.get("associations")
    block = assoc.get("contacts") if isinstance(assoc, dict) else None
    if not isinstance(block, dict):
        return set(), True
    results = block.get("results")
    ids = {
        contact_id
        for item in (results if isinstance(results, list) else ())
        if isinstance(item, dict) and (contact_id := valid_id(item.get("id"))) is not None
    }
    paging = block.get("paging")
    complete = not (isinstance(paging, dict) and isinstance(paging.get("next"), dict))
    return ids, complete


def parse_page(
    object_type: str,
    records: Iterable[object],
    stats: ParseStats,
    extra: Iterable[str] = (),
    with_links: bool = False,
) -> Parsed:
    """Turn one page of raw records into rows (and inline contact links when asked).

    An entry that is not an object, has no usable id or whose `properties` is not an object is skipped and counted.
    """
    extra = tuple(extra)
    rows: list[dict[str, Any]] = []
    links: dict[int, set[int]] = {}
    incomplete: list[int] = []
    merged: dict[int, set[int]] = {}
    for record in records:
        if not isinstance(record, Mapping):
            stats.skipped_records += 1
            continue
        record_id = valid_id(record.get("id"))
        props = record.get("properties")
        if record_id is None or not isinstance(props, dict):
            stats.skipped_records += 1
            continue
        p = _Props(props, stats, object_type)
        if object_type == "contacts":
            row = contact_row(record, p, extra)
        elif object_type == "deals":
            row = deal_row(record, p, extra)
        else:
            row = engagement_row(record, p, object_type, extra)
        rows.append({"id": record_id, **row})
        if object_type in MERGEABLE and (merged_away := merged_ids(p, record_id)):
            merged[record_id] = merged_away
        if with_links:
            ids, complete = inline_links(record)
            if complete:
                links[record_id] = ids
            else:
                incomplete.append(record_id)
    return Parsed(rows, links, incomplete, merged)


def merged_ids(p: _Props, record_id: int) -> set[int]:
    """The ids HubSpot merged into this record (`hs_merged_object_ids`, semicolon-separated)."""
    text = p.text(MERGED_IDS_PROPERTY) or ""
    return {i for part in text.split(";") if (i := valid_id(part.strip())) is not None and i != record_id}


def owner_row(owner: dict[str, Any], archived: bool) -> dict[str, Any]:
    """An owner row from a v3 owners entry (teams primary first; a team without an id is dropped)."""
    teams = [tm for tm in owner.get("teams") or [] if isinstance(tm, dict)]
    teams.sort(key=lambda tm: not tm.get("primary", False))  # the primary team first
    user = owner.get("userId") if owner.get("userId") is not None else owner.get("userIdIncludingInactive")
    return {
        "id": str(owner.get("id") or ""),
        "email": _text_or_none(owner.get("email")),
        "first_name": _text_or_none(owner.get("firstName")),
        "last_name": _text_or_none(owner.get("lastName")),
        "user_id": valid_id(user) if isinstance(user, int) else None,
        "archived": archived or bool(owner.get("archived")),
        "team_ids": [str(tm["id"]) for tm in teams if tm.get("id") is not None],
        "team_names": [str(tm.get("name") or "") for tm in teams if tm.get("id") is not None],
    }


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and "\x00" not in value else None


def stage_row(pipeline: dict[str, Any], stage: dict[str, Any]) -> dict[str, Any]:
    """A deal stage row from a pipeline and one of its stages (closed flag and probability from its metadata)."""
    raw_meta = stage.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    try:
        probability: float | None = float(meta["probability"])
    except (KeyError, TypeError, ValueError):
        probability = None
    return {
        "pipeline_id": str(pipeline.get("id") or ""),
        "stage_id": str(stage.get("id") or ""),
        "label": str(stage.get("label") or ""),
        "is_closed": str(meta.get("isClosed", "false")).lower() == "true",
        "probability": probability,
    }
