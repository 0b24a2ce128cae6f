"""Bad input from HubSpot: any JSON a page can carry becomes store rows without raising (property-based).

The contract (sync/records.py, README "Failure model"): a record without a usable id, or whose `properties` is not
an object, is skipped and counted in `skipped_records`; every present value of a KPI property is either stored,
typed, or stored as NULL and counted once under `invalid_values["<object>.<property>"]`, never both and never
silently dropped. Stored values are always ones the store can hold (ids within BIGINT, text without NUL).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from kpi.rows import MAX_MS, MIN_MS, URL_PATTERN
from sandbox.harness import RunningSandbox, run_sandbox
from sandbox.objtypes import STANDARD
from storage import repo
from storage.engine import open_store
from sync.cycle import CycleOptions, run_cycle
from sync.hubspot.constants import MERGEABLE, MERGED_IDS_PROPERTY, OBJECT_TYPES, PROPERTIES
from sync.hubspot.records import ParseStats, Quarantined, inline_links, parse_page, unstorable_json
from sync.pull import spec_for
from tests.helpers import PG_OK, TOKEN, create_pg_database, drop_pg_database, settings_for

BIGINT_MAX = 2**63 - 1

# Store column -> HubSpot property, by how the value is read. `createdate` and `modified_at` fall back to the
# record's `createdAt` / `updatedAt` envelope fields; those are left out of records where the rule is exact.
_COMMON = {"modified_at": "hs_lastmodifieddate"}
TIMES = {
    "contacts": {
        "createdate": "createdate",
        "lead_date": "hs_lifecyclestage_lead_date",
        "sql_date": "hs_lifecyclestage_salesqualifiedlead_date",
        "opportunity_date": "hs_lifecyclestage_opportunity_date",
        "customer_date": "hs_lifecyclestage_customer_date",
        "modified_at": "lastmodifieddate",
    },
    "deals": {"createdate": "createdate", "closedate": "closedate", **_COMMON},
    "calls": {"timestamp": "hs_timestamp", **_COMMON},
    "emails": {"timestamp": "hs_timestamp", **_COMMON},
    "meetings": {"timestamp": "hs_timestamp", **_COMMON},
    "notes": {"timestamp": "hs_timestamp", **_COMMON},
    "tasks": {"timestamp": "hs_timestamp", **_COMMON},
}
TEXTS = {
    "contacts": {"lifecyclestage": "lifecyclestage", "buying_role": "hs_buying_role"},
    "deals": {"pipeline": "pipeline", "dealstage": "dealstage"},
    "calls": {"call_direction": "hs_call_direction", "call_disposition": "hs_call_disposition"},
    "emails": {"email_direction": "hs_email_direction"},
    "meetings": {"meeting_outcome": "hs_meeting_outcome"},
    "notes": {},
    "tasks": {},
}
FLAGS = {"deals": {"is_closed_won": "hs_is_closed_won", "is_closed": "hs_is_closed"}}
OWNER = {"owner_id": "hubspot_owner_id"}
# Email bodies are not stored, only their URLs: a body that is nested JSON (not text) is counted as invalid.
BODIES = {"emails": ("hs_email_html", "hs_email_text")}


def columns(object_type: str) -> dict[str, str]:
    """Every typed column of a row and the property it is read from."""
    return TIMES[object_type] | TEXTS[object_type] | FLAGS.get(object_type, {}) | OWNER


# Values that have broken (or nearly broken) parsers: unicode digits, signs, huge numbers, NUL, boundaries.
NASTY = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "²",
    "①",
    "١٢",
    "--5",
    "-",
    "+12",
    "1_000",
    " 12 ",
    "0",
    "-0",
    "9" * 5_000,
    str(2**63 - 1),
    str(2**63),
    str(2**64),
    "x" * 100_000,
    "true",
    "TRUE",
    "yes",
    "2026-10-05T10:00:00Z",
    "2026-10-05",
    "2026-W40",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59-14:00",
    "2026-13-45T99:99:99Z",
    "ZZZZ",
    "\u202egnp.exe",
    "😀" * 1_000,
    "https://example.com/ebook/x \x00 http://[::1/whitepaper",
]


def json_values(numbers: st.SearchStrategy[Any], max_leaves: int) -> st.SearchStrategy[Any]:
    """Any JSON value: null, booleans, the given numbers, text (the troublemakers too), and lists and objects."""
    scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(), st.sampled_from(NASTY))
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=max_leaves,
    )


junk = json_values(st.one_of(st.integers(), st.integers(MIN_MS - 10, MAX_MS + 10), st.floats()), max_leaves=6)
record_ids = st.one_of(
    st.integers(),
    st.integers(1, 10**6).map(str),
    st.sampled_from(["0", "-1", "007", " 7", "7 ", "+7", "1_0", "١٢", "²", "1e3", "7.0", str(BIGINT_MAX), str(2**63)]),
    st.just(BIGINT_MAX + 1),
    junk,
)


# Half of the values come from the known troublemakers, so that each property meets them often.
values = st.one_of(st.sampled_from(NASTY), junk)


@st.composite
def properties_of(draw: st.DrawFn, object_type: str) -> dict[str, Any]:
    """HubSpot `properties` objects: most of the KPI properties with any value, plus a few unknown names."""
    props = draw(st.dictionaries(st.text(max_size=8), junk, max_size=2))
    for name in PROPERTIES[object_type]:
        if draw(st.integers(0, 3)):  # present three times in four
            props[name] = draw(values)
    return props


association_blocks = st.one_of(
    junk,
    st.fixed_dictionaries(
        {},
        optional={
            "contacts": st.one_of(
                junk,
                st.fixed_dictionaries(
                    {},
                    optional={
                        "results": st.one_of(
                            junk, st.lists(st.one_of(junk, st.fixed_dictionaries({"id": record_ids})), max_size=5)
                        ),
                        "paging": st.one_of(junk, st.fixed_dictionaries({"next": junk})),
                    },
                ),
            )
        },
    ),
)


@st.composite
def records(draw: st.DrawFn, object_type: str, *, envelope_times: bool = True) -> dict[str, Any]:
    """A raw HubSpot record of `object_type` where any field may be missing or of any shape."""
    optional: dict[str, st.SearchStrategy[Any]] = {
        "id": record_ids,
        "properties": properties_of(object_type) | junk,
        "associations": association_blocks,
        "archived": junk,
    }
    if envelope_times:
        optional |= {"createdAt": junk, "updatedAt": junk}
    return draw(st.fixed_dictionaries({}, optional=optional))


object_types = st.sampled_from(OBJECT_TYPES)


def usable_id(value: object) -> int | None:
    """The id a record may be stored under: a positive integer within BIGINT, as a JSON number or digit string."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    text = str(value)
    if not re.fullmatch(r"[0-9]{1,19}", text):
        return None
    number = int(text)
    return number if 0 < number <= BIGINT_MAX else None


def present(value: object) -> bool:
    """HubSpot sends an empty property as null or ""; anything else is a value that must be kept or counted."""
    return value is not None and value != ""


def parse_one(object_type: str, record: object, **kwargs: Any) -> tuple[list[dict[str, Any]], ParseStats]:
    """Rows and counts of a page holding only `record`."""
    stats = ParseStats()
    parsed = parse_page(object_type, [record], stats, **kwargs)
    return parsed.rows, stats


# -- records and ids ---------------------------------------------------------------------------------------------


@st.composite
def pages(draw: st.DrawFn) -> tuple[str, list[Any]]:
    """An object type and a page of its records, some of them not even objects."""
    object_type = draw(object_types)
    return object_type, draw(st.lists(st.one_of(junk, records(object_type)), max_size=6))


@settings(max_examples=60)
@given(pages())
def test_any_page_yields_one_row_or_one_skip_per_record(case: tuple[str, list[Any]]) -> None:
    """Whatever a page holds, parsing never raises and each entry becomes exactly one row or one skipped record."""
    object_type, page = case
    stats = ParseStats()
    parsed = parse_page(object_type, page, stats, extra=("email", "amount"), with_links=True)
    assert len(parsed.rows) + stats.skipped_records == len(page)
    assert set(parsed.links) | set(parsed.incomplete_links) == {row["id"] for row in parsed.rows}


@settings(max_examples=100)
@given(object_type=object_types, record=st.one_of(junk, records("contacts")))
def test_a_record_is_kept_exactly_when_its_id_is_usable_and_its_properties_an_object(
    object_type: str, record: Any
) -> None:
    """A positive BIGINT id (number or digit string) and an object of properties keep a record; else it is skipped."""
    rows, stats = parse_one(object_type, record)
    is_record = isinstance(record, Mapping)
    record_id = usable_id(record.get("id")) if is_record else None
    kept = record_id is not None and isinstance(record.get("properties"), dict)
    assert [row["id"] for row in rows] == ([record_id] if kept else [])
    assert stats.skipped_records == (0 if kept else 1)


# -- values ------------------------------------------------------------------------------------------------------


@st.composite
def typed_records(draw: st.DrawFn, *, envelope_times: bool = True) -> tuple[str, dict[str, Any]]:
    """An object type and a record of it that is kept (usable id, properties an object), values anything."""
    object_type = draw(object_types)
    record = draw(records(object_type, envelope_times=envelope_times))
    record["id"] = draw(st.integers(1, BIGINT_MAX))
    record["properties"] = draw(properties_of(object_type))
    return object_type, record


@settings(max_examples=80)
@given(typed_records())
def test_stored_values_are_typed_and_storable(case: tuple[str, dict[str, Any]]) -> None:
    """Times are ms within datetime's range, texts non-empty without NUL, owners digit strings, flags booleans."""
    object_type, record = case
    (row,), _ = parse_one(object_type, record, extra=("email",))
    for column in TIMES[object_type]:
        assert row[column] is None or (type(row[column]) is int and MIN_MS <= row[column] <= MAX_MS)
    for column in TEXTS[object_type]:
        assert row[column] is None or (isinstance(row[column], str) and row[column] and "\x00" not in row[column])
    for column in FLAGS.get(object_type, {}):
        assert row[column] in (None, True, False)
    assert row["owner_id"] is None or re.fullmatch(r"[0-9]+", row["owner_id"])
    assert row["archived"] is (record.get("archived") is True)
    email = record["properties"].get("email")
    assert row["extra"] == {"email": None if unstorable_json(email) else email}


@settings(max_examples=80)
@given(typed_records(envelope_times=False))
def test_every_present_value_is_either_stored_or_counted_once(case: tuple[str, dict[str, Any]]) -> None:
    """A non-empty value that is not stored is counted once under its property; a stored one is not counted."""
    object_type, record = case
    (row,), stats = parse_one(object_type, record)
    props = record["properties"]
    for column, name in columns(object_type).items():
        lost = present(props.get(name)) and row[column] is None
        assert stats.invalid_values[f"{object_type}.{name}"] == int(lost), (column, props.get(name))
    for name in BODIES.get(object_type, ()):
        nested = isinstance(props.get(name), dict | list)
        assert stats.invalid_values[f"{object_type}.{name}"] == int(nested), (name, props.get(name))
    merges = (MERGED_IDS_PROPERTY,) if object_type in MERGEABLE else ()  # read to archive merged-away records
    counted = {*columns(object_type).values(), *BODIES.get(object_type, ()), *merges}
    assert set(stats.invalid_values) <= {f"{object_type}.{name}" for name in counted}


@settings(max_examples=60)
@given(typed_records(envelope_times=False), values | st.integers(MIN_MS, MAX_MS), values | st.integers(MIN_MS, MAX_MS))
def test_envelope_times_fill_in_only_for_missing_or_unusable_dates(
    case: tuple[str, dict[str, Any]], created_at: Any, updated_at: Any
) -> None:
    """`createdAt`/`updatedAt` are used only where `createdate`/the modification property gave no time."""
    object_type, record = case
    (bare,), bare_stats = parse_one(object_type, record)
    (row,), stats = parse_one(object_type, record | {"createdAt": created_at, "updatedAt": updated_at})
    assert stats.invalid_values == bare_stats.invalid_values
    if bare["modified_at"] is not None:
        assert row["modified_at"] == bare["modified_at"]
    if "createdate" in TIMES[object_type] and bare["createdate"] is not None:
        assert row["createdate"] == bare["createdate"]
    assert {k: v for k, v in row.items() if k not in ("modified_at", "createdate")} == {
        k: v for k, v in bare.items() if k not in ("modified_at", "createdate")
    }


def _ms(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


valid_times = st.one_of(
    st.integers(MIN_MS, MAX_MS).map(lambda ms: (ms, ms)),
    st.integers(MIN_MS, MAX_MS).map(lambda ms: (str(ms), ms)),
    st.datetimes(timezones=st.just(UTC)).map(
        lambda d: (
            d.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            _ms(d.replace(microsecond=d.microsecond // 1000 * 1000)),
        )
    ),
)
valid_texts = st.text(min_size=1).filter(lambda s: "\x00" not in s).map(lambda s: (s, s))
valid_owners = st.integers(1, 10**12).map(lambda n: (str(n), str(n)))
valid_flags = st.sampled_from([("true", True), ("false", False), ("TRUE", True), ("False", False)])


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """An object type, a record with well-formed values for some of its properties, and the expected columns."""
    object_type = draw(object_types)
    props: dict[str, Any] = {}
    expected: dict[str, Any] = {}
    kinds = [(TIMES[object_type], valid_times), (TEXTS[object_type], valid_texts), (OWNER, valid_owners)]
    kinds.append((FLAGS.get(object_type, {}), valid_flags))
    for mapping, values in kinds:
        for column, name in mapping.items():
            if draw(st.booleans()):
                props[name], expected[column] = draw(values)
    return object_type, {"id": draw(st.integers(1, BIGINT_MAX)), "properties": props}, expected


@settings(max_examples=100)
@given(well_formed())
def test_well_formed_values_are_stored_exactly_and_nothing_is_counted(
    case: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    """Epoch ms (number or text), ISO times, digit owner ids, true/false and non-empty text are stored as given."""
    object_type, record, expected = case
    (row,), stats = parse_one(object_type, record)
    assert {column: row[column] for column in expected} == expected
    assert stats.total_invalid() == 0
    assert stats.skipped_records == 0


@settings(max_examples=50)
@given(st.text() | st.sampled_from(NASTY), st.text() | st.sampled_from(NASTY))
def test_email_urls_are_the_links_found_in_either_body(html: str, text: str) -> None:
    """An email keeps the spec's URLs of its HTML and text bodies, each once; other types keep none."""
    record = {"id": 1, "properties": {"hs_email_html": html, "hs_email_text": text}}
    (email,), _ = parse_one("emails", record)
    (call,), _ = parse_one("calls", record)
    assert email["urls"] == list(dict.fromkeys(URL_PATTERN.findall(html) + URL_PATTERN.findall(text)))
    assert call["urls"] is None


# -- associations ------------------------------------------------------------------------------------------------


@settings(max_examples=100)
@given(association_blocks)
def test_inline_links_keep_usable_contact_ids_and_trust_paging(associations: Any) -> None:
    """Inline contact links are the usable ids listed; the list is complete unless paging names a next page."""
    ids, complete = inline_links({"id": 1, "associations": associations})
    block = associations.get("contacts") if isinstance(associations, dict) else None
    block = block if isinstance(block, dict) else {}
    results = block.get("results")
    listed = results if isinstance(results, list) else []
    assert ids == {i for item in listed if isinstance(item, dict) and (i := usable_id(item.get("id"))) is not None}
    paging = block.get("paging")
    assert complete is not (isinstance(paging, dict) and isinstance(paging.get("next"), dict))


# -- end to end: junk served by the sandbox, pulled by a real cycle into a real store ----------------------------

# What the real client can receive: orjson parses integers up to 64 bits and finite floats, and never yields a lone
# surrogate (hypothesis' text() has none).
wire_values = json_values(
    st.one_of(st.integers(-(2**63), 2**64 - 1), st.floats(allow_nan=False, allow_infinity=False)), max_leaves=4
)


# Mostly the known troublemakers: a cycle per example is costly, so few examples must meet them often.
wire_property_values = st.one_of(*[st.sampled_from(NASTY)] * 3, wire_values)


@st.composite
def wire_properties(draw: st.DrawFn, object_type: str) -> dict[str, Any]:
    """Stored properties of a sandbox record: most KPI properties, each with any value the wire can carry."""
    return {name: draw(wire_property_values) for name in PROPERTIES[object_type] if draw(st.integers(0, 3))}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def portal_and_store(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningSandbox, Engine, str]]:
    """A tiny sandbox portal and an empty store, shared by the examples of one dialect (each adds its own ids)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'store.db'}"
    elif PG_OK:
        url = create_pg_database()
    elif os.environ.get("CI"):
        pytest.fail("PostgreSQL is not reachable on 127.0.0.1:5432 (CI must start it: see .ci/run)")
    else:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    with run_sandbox(seed=5, contacts=3, engagements=6, index_lag_ms=0, token=TOKEN) as sb:
        engine = open_store(url)
        yield sb, engine, url
        engine.dispose()
    if request.param == "postgres":
        drop_pg_database(url)


def _stored_rows(engine: Engine, object_type: str, ids: list[int]) -> dict[int, dict[str, Any]]:
    spec = spec_for(object_type)
    tbl = repo.table(spec.model)
    stmt = select(tbl.c.id, *[tbl.c[f] for f in (*spec.fields, "modified_at")]).where(tbl.c.id.in_(ids))
    if spec.kind:
        stmt = stmt.where(tbl.c.type == spec.kind)
    with engine.connect() as conn:
        return {row.id: dict(row._mapping) for row in conn.execute(stmt)}


def _parsed(sb: RunningSandbox, object_type: str, stats: ParseStats) -> dict[int, dict[str, Any]]:
    """Every live record of a type the sandbox holds, parsed as the pull parses it, by id."""
    live = [r for r in sb.export(object_type) if not r.get("archived")]
    return {row["id"]: row for row in parse_page(object_type, live, stats).rows}


def _inject(
    sb: RunningSandbox, object_type: str, properties: list[dict[str, Any]], linked_to: Sequence[int] = ()
) -> list[int]:
    """Create records with the given stored properties in the portal, each associated with the given contacts."""
    ot = STANDARD[object_type]
    made = list(zip(sb.portal.next_ids(ot, len(properties)), properties, strict=True))
    sb.portal.create_many(ot, made, int(time.time() * 1000))
    for rid, _ in made:
        for cid in linked_to:
            sb.portal.associate(ot, rid, STANDARD["contacts"], cid)
    return [rid for rid, _ in made]


def _pull_and_check(sb: RunningSandbox, engine: Engine, url: str, injected: dict[str, list[int]]) -> None:
    """Run a real cycle (list pass of the injected types, KPIs, no write-back) and check what it stored and counted.

    The store must hold exactly what parsing the served records gives, the run must count exactly the invalid values
    that parsing counts, and the KPI recompute must have run over the new contacts.
    """
    summary = run_cycle(
        engine,
        settings_for(sb, url, writeback_enabled=False).cycle_config(),
        CycleOptions(full=True, objects=tuple(injected)),
    )

    assert summary.outcome == "ok", summary.error
    stats = ParseStats()
    for object_type, ids in injected.items():
        parsed = _parsed(sb, object_type, stats)
        stored = _stored_rows(engine, object_type, ids)
        assert set(stored) == set(ids)
        assert stored == {rid: {k: parsed[rid][k] for k in row} for rid, row in stored.items()}
    assert summary.counts.pull.parse.invalid_values == dict(stats.invalid_values)
    assert summary.counts.pull.parse.skipped_records == 0
    assert summary.counts.kpis.contacts >= len(injected["contacts"])


@settings(max_examples=5, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), object_type=st.sampled_from(("deals", "calls", "emails", "meetings", "notes")))
def test_junk_records_pass_through_a_real_cycle_into_the_store(
    portal_and_store: tuple[RunningSandbox, Engine, str], data: st.DataObject, object_type: str
) -> None:
    """Junk values served over HTTP are pulled, stored as parsing says, counted in the run, and the KPIs still run."""
    sb, engine, url = portal_and_store
    contacts = data.draw(st.lists(wire_properties("contacts"), min_size=1, max_size=2))
    others = data.draw(st.lists(wire_properties(object_type), min_size=1, max_size=2))
    contact_ids = _inject(sb, "contacts", contacts)
    _pull_and_check(
        sb, engine, url, {"contacts": contact_ids, object_type: _inject(sb, object_type, others, contact_ids)}
    )


def test_every_troublemaker_passes_through_a_real_cycle_into_the_store(
    portal_and_store: tuple[RunningSandbox, Engine, str],
) -> None:
    """Each known troublemaker, as the value of every property of every object type, is pulled and stored."""
    sb, engine, url = portal_and_store
    contact_ids = _inject(sb, "contacts", [dict.fromkeys(PROPERTIES["contacts"], v) for v in NASTY])
    injected = {"contacts": contact_ids}
    for object_type in OBJECT_TYPES[1:]:
        junk = [dict.fromkeys(PROPERTIES[object_type], v) for v in NASTY]
        injected[object_type] = _inject(sb, object_type, junk, contact_ids[:3])
    _pull_and_check(sb, engine, url, injected)


# -- regressions: examples the properties above found ------------------------------------------------------------


@pytest.mark.parametrize("entry", [None, [], "x", 7, True])
def test_an_entry_that_is_not_an_object_is_skipped_and_counted(entry: object) -> None:
    """A page entry that is not a JSON object is one skipped record (it used to raise AttributeError)."""
    rows, stats = parse_one("contacts", entry)
    assert rows == []
    assert stats.skipped_records == 1


@pytest.mark.parametrize("record_id", [str(2**63), 2**63, "+7", " 7", "1_0", "١٢", "²", "0", -1, True, 7.0])
def test_an_id_the_store_cannot_hold_skips_the_record(record_id: object) -> None:
    """Ids beyond BIGINT (which overflowed the upsert), signed, spaced or non-ASCII digits are not ids."""
    rows, stats = parse_one("calls", {"id": record_id, "properties": {}})
    assert rows == []
    assert stats.skipped_records == 1


@pytest.mark.parametrize("value", ["lead\x00", {"stage": "lead"}, ["lead"]])
def test_text_with_nul_or_nested_json_is_counted_not_stored(value: object) -> None:
    """NUL (which PostgreSQL text refuses) and nested JSON are invalid text, not stored as a Python repr."""
    (row,), stats = parse_one("contacts", {"id": 1, "properties": {"lifecyclestage": value}})
    assert row["lifecyclestage"] is None
    assert stats.invalid_values == {"contacts.lifecyclestage": 1}


@pytest.mark.parametrize(
    ("value", "reason"), [("a\x00b", "nul"), ({"k": ["x\ud83d"]}, "surrogate"), ("x\udcff", "surrogate")]
)
def test_an_extra_value_no_store_can_hold_is_refused_and_quarantined(value: object, reason: str) -> None:
    """A configured extra property with NUL or a lone surrogate anywhere in it (an invalid UTF-8 byte decodes as one)
    is stored as None, counted under its property, and its record noted for the quarantine."""
    stats = ParseStats()
    parsed = parse_page("contacts", [{"id": 1, "properties": {"email": value}}], stats, extra=("email",))
    assert parsed.rows[0]["extra"] == {"email": None}
    assert stats.invalid_values == {"contacts.email": 1}
    assert parsed.quarantined == [Quarantined(1, "email", reason)]


def test_email_bodies_keep_their_links_despite_nul() -> None:
    """Only the URLs of a body are stored, so a NUL elsewhere in it does not cost its links."""
    (row,), stats = parse_one("emails", {"id": 1, "properties": {"hs_email_text": "\x00 https://x.io/ebook/a"}})
    assert row["urls"] == ["https://x.io/ebook/a"]
    assert stats.total_invalid() == 0


@pytest.mark.parametrize("owner", ["²", "١٢"])
def test_an_owner_id_in_other_digits_is_invalid(owner: str) -> None:
    """Owner ids are ASCII digits; str.isdigit() alone let superscripts and other scripts through."""
    (row,), stats = parse_one("deals", {"id": 1, "properties": {"hubspot_owner_id": owner}})
    assert row["owner_id"] is None
    assert stats.invalid_values == {"deals.hubspot_owner_id": 1}


@pytest.mark.parametrize("value", ["²", "--5", "9" * 5_000])
def test_a_broken_number_as_time_is_invalid_not_fatal(value: str) -> None:
    """Digit-like text that int() refuses is an invalid time (it used to raise ValueError and stop the pull)."""
    (row,), stats = parse_one("meetings", {"id": 1, "properties": {"hs_timestamp": value}})
    assert row["timestamp"] is None
    assert stats.invalid_values == {"meetings.hs_timestamp": 1}


def test_epoch_zero_is_a_time_not_a_missing_one() -> None:
    """A date of 0 (1970-01-01) is kept, not replaced by the envelope's createdAt/updatedAt."""
    props = {"createdate": "0", "lastmodifieddate": "0"}
    record = {"id": 1, "properties": props, "createdAt": "2026-10-05T10:00:00Z", "updatedAt": "2026-10-05T10:00:00Z"}
    (row,), _ = parse_one("contacts", record)
    assert (row["createdate"], row["modified_at"]) == (0, 0)


@pytest.mark.parametrize(
    ("contacts", "expected"),
    [
        ({"results": 5}, set()),
        ({"results": "12"}, set()),
        ({"results": {"id": "12"}}, set()),
        ({"results": [{"id": "12"}, {"id": str(2**63)}, {"id": "-3"}, 12, None]}, {12}),
    ],
)
def test_inline_associations_of_odd_shape_give_only_usable_ids(contacts: dict[str, Any], expected: set[int]) -> None:
    """A `results` that is not a list gives no links (5 used to raise TypeError); unusable ids are dropped."""
    assert inline_links({"associations": {"contacts": contacts}}) == (expected, True)
