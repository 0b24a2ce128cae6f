"""Raw HubSpot objects (JSON dicts) to store rows: typed, validated value by value, never fatal for one record.

A value that cannot be parsed (or stored: text with NUL, nested JSON) is stored as NULL and counted; a page entry
that is not an object, has no usable id (a positive integer within BIGINT) or no `properties` object is skipped
and counted. Text longer than HubSpot's own maximum is cut to it, and an email's URLs to `MAX_URLS_PER_EMAIL`, both
counted as invalid values. Nothing here logs personal data: callers log counts only.

Quarantine: text that no store can hold (NUL, which PostgreSQL refuses and SQLite is held to as well, so both stores
agree; a lone surrogate, which is also what an invalid UTF-8 byte decodes to) costs only its value, since every
property is optional: stored as NULL, counted as an invalid value, and the record noted in `Parsed.quarantined` (by
id and field, never the value) so the pull counts it, logs it and reads it again next cycle. The same for values
kept in `extra` and for email links. A record nested deeper than `MAX_DEPTH` is skipped whole, quarantined alike.
Owners, teams and stages: see `owner_rows` and `stage_rows`.
"""

from __future__ import annotations

import re
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
from sync.hubspot.decode import MAX_DEPTH, depth_of

_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class ParseStats:
    """Counts of what parsing dropped: skipped records and invalid values by property."""

    skipped_records: int = 0
    invalid_values: Counter[str] = field(default_factory=Counter)
    quarantined: Counter[str] = field(default_factory=Counter)  # records by type with a value no store can hold

    def total_invalid(self) -> int:
        """All invalid values together."""
        return sum(self.invalid_values.values())

    def add(self, other: ParseStats) -> None:
        """Count `other`'s drops here too (a page parsed on a fetch thread, counted into the run's stats)."""
        self.skipped_records += other.skipped_records
        self.invalid_values.update(other.invalid_values)
        self.quarantined.update(other.quarantined)


@dataclass(frozen=True)
class Parsed:
    """A page turned into store rows plus the contact links found inline."""

    rows: list[dict[str, Any]]
    links: dict[int, set[int]]  # record id -> contact ids (only for records whose links are complete)
    incomplete_links: list[int]  # record ids whose inline associations were cut off (more than one page)
    merged: dict[int, set[int]] = field(default_factory=dict)  # survivor id -> ids HubSpot merged into it
    quarantined: list[Quarantined] = field(default_factory=list)


@dataclass(frozen=True)
class Quarantined:
    """A record that held a value no store can hold: its id (None when it had no usable one), where, and why
    ("nul", "surrogate", "nesting"). Never the value."""

    record_id: int | str | None
    field: str
    reason: str

    def to_log(self) -> dict[str, object]:
        """As a log entry."""
        return {
            "id": self.record_id,
            "field": self.field.encode("ascii", "backslashreplace").decode()[:100],
            "reason": self.reason,
        }


def unstorable(text: str) -> str | None:
    """Why `text` cannot be stored: "nul", "surrogate" (lone, or an invalid UTF-8 byte decoded), else None."""
    if "\x00" in text:
        return "nul"
    if not text.isascii() and _SURROGATE.search(text):
        return "surrogate"
    return None


def unstorable_json(value: object) -> tuple[str, str] | None:
    """Why a JSON value cannot be stored, and where in it ("" at the top): nested deeper than `MAX_DEPTH`, or text
    (a key or a value) that `unstorable` refuses."""
    if depth_of(value) > MAX_DEPTH:
        return "", "nesting"
    pending: list[tuple[str, object]] = [("", value)]
    while pending:
        where, item = pending.pop()
        if isinstance(item, str) and (reason := unstorable(item)):
            return where, reason
        if isinstance(item, dict):
            pending.extend((f"{where}.{key}".lstrip("."), key) for key in item)
            pending.extend((f"{where}.{key}".lstrip("."), v) for key, v in item.items())
        elif isinstance(item, list):
            pending.extend((where, v) for v in item)
    return None


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
        self.unstorable: dict[str, str] = {}  # field -> why its value was not stored (NUL, surrogate, nesting)

    def refuse(self, name: str, reason: str) -> None:
        """Count a value of `name` that no store can hold (stored as NULL), and note it for the quarantine."""
        self.stats.invalid_values[f"{self.object_type}.{name}"] += 1
        self.unstorable.setdefault(name, reason)

    def text(self, name: str, *, nul_ok: bool = False) -> str | None:
        """The value as text (a JSON number or boolean as written); nested JSON is invalid, and text no store can
        hold (NUL, lone surrogates) is refused.

        `nul_ok` is for email bodies, of which only the URLs are kept (and checked).
        """
        value = self.props.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, dict | list):
            self.stats.invalid_values[f"{self.object_type}.{name}"] += 1
            return None
        if not nul_ok and isinstance(value, str) and (reason := unstorable(value)):
            self.refuse(name, reason)
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
        "extra": {name: _extra_value(p, name) for name in wanted} if wanted else None,
    }


def _extra_value(p: _Props, name: str) -> Any:
    """An extra property's value as HubSpot sent it, unless no store can hold it (then None, refused)."""
    value = p.props.get(name)
    if (found := unstorable_json(value)) is not None:
        p.refuse(name, found[1])
        return None
    return value


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
    found = extract_urls(p.text("hs_email_html", nul_ok=True), p.text("hs_email_text", nul_ok=True))
    urls = [url for url in found if not unstorable(url)]
    if len(urls) < len(found):
        p.refuse("urls", next(r for url in found if (r := unstorable(url))))
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
    quarantined: list[Quarantined] = []
    for record in records:
        if not isinstance(record, Mapping) or depth_of(record) > MAX_DEPTH:
            stats.skipped_records += 1
            if isinstance(record, Mapping):  # as deep as `sync.hubspot.decode` cuts out what no parser reads
                quarantined.append(Quarantined(valid_id(record.get("id")), "record", "nesting"))
            continue
        record_id = valid_id(record.get("id"))
        props = record.get("properties")
        if record_id is None or not isinstance(props, dict):
            stats.skipped_records += 1
            raw_id = record.get("id")
            if isinstance(raw_id, str) and (reason := unstorable(raw_id)):
                quarantined.append(Quarantined(None, "id", reason))
            continue
        p = _Props(props, stats, object_type)
        row = _row(object_type, record, p, extra)
        rows.append({"id": record_id, **row})
        if p.unstorable:
            reasons = ",".join(sorted(set(p.unstorable.values())))
            quarantined.append(Quarantined(record_id, ",".join(p.unstorable), reasons))
        if object_type in MERGEABLE and (merged_away := merged_ids(p, record_id)):
            merged[record_id] = merged_away
        if with_links:
            ids, complete = inline_links(record)
            if complete:
                links[record_id] = ids
            else:
                incomplete.append(record_id)
    stats.quarantined[object_type] += len(quarantined)
    return Parsed(rows, links, incomplete, merged, quarantined)


def _row(object_type: str, record: Mapping[str, Any], p: _Props, extra: Iterable[str]) -> dict[str, Any]:
    if object_type == "contacts":
        return contact_row(record, p, extra)
    if object_type == "deals":
        return deal_row(record, p, extra)
    return engagement_row(record, p, object_type, extra)


def merged_ids(p: _Props, record_id: int) -> set[int]:
    """The ids HubSpot merged into this record (`hs_merged_object_ids`, semicolon-separated)."""
    text = p.text(MERGED_IDS_PROPERTY) or ""
    return {i for part in text.split(";") if (i := valid_id(part.strip())) is not None and i != record_id}


def owner_rows(
    owners: Iterable[object], archived: bool, stats: ParseStats
) -> tuple[list[dict[str, Any]], list[Quarantined]]:
    """Owner rows of one owners page, and the owners quarantined: one whose id no store can hold is dropped (the id
    is its key); other such values (names, e-mail, a team's name) are left empty and a team with such an id dropped,
    by `owner_row`. Both counted under `owners`."""
    rows: list[dict[str, Any]] = []
    quarantined: list[Quarantined] = []
    for owner in owners:
        if not isinstance(owner, dict):
            continue
        row = owner_row(owner, archived)
        if reason := unstorable(row["id"]):
            quarantined.append(Quarantined(None, "id", reason))
            continue
        if (found := unstorable_json({k: owner.get(k) for k in OWNER_TEXTS})) is not None:
            quarantined.append(Quarantined(row["id"], found[0], found[1]))
        if row["id"]:
            rows.append(row)
    stats.quarantined["owners"] += len(quarantined)
    return list({row["id"]: row for row in rows}.values()), quarantined  # one row per id: an upsert takes each once


OWNER_TEXTS = ("email", "firstName", "lastName", "teams")  # what an owner row keeps, besides its id


def owner_row(owner: dict[str, Any], archived: bool) -> dict[str, Any]:
    """An owner row from a v3 owners entry (teams primary first; a team without an id is dropped, so is one whose
    id no store can hold; a name no store can hold is left empty)."""
    teams = [tm for tm in owner.get("teams") or [] if isinstance(tm, dict) and _text_or_none(str(tm.get("id")))]
    teams.sort(key=lambda tm: not tm.get("primary", False))  # the primary team first
    user = owner.get("userId") if owner.get("userId") is not None else owner.get("userIdIncludingInactive")
    return {
        "id": _key(owner.get("id")),
        "email": _text_or_none(owner.get("email")),
        "first_name": _text_or_none(owner.get("firstName")),
        "last_name": _text_or_none(owner.get("lastName")),
        "user_id": valid_id(user) if isinstance(user, int) else None,
        "archived": archived or bool(owner.get("archived")),
        "team_ids": [str(tm["id"]) for tm in teams if tm.get("id") is not None],
        "team_names": [_text_or_none(str(tm.get("name") or "")) or "" for tm in teams if tm.get("id") is not None],
    }


def _key(value: object) -> str:
    """An id or label as text: a JSON string or integer as written; anything else (nested JSON, a boolean) is ""."""
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else ""


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and not unstorable(value) else None


def stage_rows(pipelines: Iterable[object], stats: ParseStats) -> tuple[list[dict[str, Any]], list[Quarantined]]:
    """Stage rows of deal pipelines, and the stages quarantined: one whose id (or its pipeline's) no store can hold
    is dropped; a label no store can hold is stored cleaned (NUL removed, lone surrogates as U+FFFD), so the stage,
    and the deals in it, keep their place. Both counted under `stages`."""
    rows: list[dict[str, Any]] = []
    quarantined: list[Quarantined] = []
    for pipeline in pipelines:
        if not isinstance(pipeline, dict) or not isinstance(pipeline.get("stages"), list):
            continue
        for stage in pipeline["stages"]:
            if not isinstance(stage, dict):
                continue
            row = stage_row(pipeline, stage)
            bad = {k: r for k in ("pipeline_id", "stage_id", "label") if (r := unstorable(row[k]))}
            if bad:
                key = None if "stage_id" in bad else row["stage_id"]
                quarantined.append(Quarantined(key, ",".join(bad), ",".join(sorted(set(bad.values())))))
            if "label" in bad:
                row["label"] = _SURROGATE.sub("\ufffd", row["label"].replace("\x00", ""))
            if row["stage_id"] and not bad.keys() & {"pipeline_id", "stage_id"}:
                rows.append(row)
    stats.quarantined["stages"] += len(quarantined)
    return rows, quarantined


def stage_row(pipeline: dict[str, Any], stage: dict[str, Any]) -> dict[str, Any]:
    """A deal stage row from a pipeline and one of its stages (closed flag and probability from its metadata)."""
    raw_meta = stage.get("metadata")
    meta: dict[str, Any] = raw_meta if isinstance(raw_meta, dict) else {}
    try:
        probability: float | None = float(meta["probability"])
    except (KeyError, TypeError, ValueError):
        probability = None
    return {
        "pipeline_id": _key(pipeline.get("id")),
        "stage_id": _key(stage.get("id")),
        "label": _key(stage.get("label")),
        "is_closed": str(meta.get("isClosed", "false")).lower() == "true",
        "probability": probability,
    }
