"""Invariants of the KPI engine over arbitrary engagement histories (property-based).

Worlds are small (a few owners, contacts, engagements and deals sharing ids, so that collisions are common) but
their values are arbitrary: any time a stored row can hold (datetime's whole range), empty and dangling owners and
contacts, archived rows, every direction/disposition/outcome, and several time zones. Facts are built the way
`sync.recompute` builds them: per contact from its engagements, and calls, emails and deals listing only live
contacts.
"""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.config import KpiConfig
from kpi.contact import ContactKpis, FollowupStatus, compute_contact
from kpi.facts import CallFact, DealFact, EmailFact, deal_fact, engagement_facts
from kpi.oracle import affected_keys, aggregate_all
from kpi.periods import ALL_TIME
from kpi.properties import PROPERTY_NAMES, properties_of
from kpi.rows import ENGAGEMENT_TYPES, MAX_MS, MIN_MS, Contact, Deal, Engagement, Owner, Stage, stage_map
from kpi.scopes import PORTAL, PORTAL_ID, TEAM, AggregateKey, Values
from tests.kpi.kpi_factories import BASE, CONNECTED, DAY, HOUR, OCT_2026, make_contact, make_deal, make_owner

# -- worlds --------------------------------------------------------------------------------------------------------

OWNER_IDS = ("11", "12", "13", "14")  # "14" owns activity but is never among the Owner rows
CONTACT_IDS = (1, 2, 3, 4, 5, 6)
# Engagement keys (type, id): ids repeat across types, as the store's key allows; calls and emails are commoner.
ENGAGEMENT_KEYS = tuple(
    (kind, i) for kind in sorted(ENGAGEMENT_TYPES) for i in range(1, 5 if kind in ("call", "email") else 3)
)
DEAL_IDS = (1, 2, 3, 4)
STAGES = stage_map(
    [
        Stage("default", "closedwon", True, 1.0),
        Stage("default", "closedlost", True, 0.0),
        Stage("default", "open", False, 0.4),
    ]
)
CONFIGS = (
    KpiConfig(),
    KpiConfig(timezone="Europe/Amsterdam"),
    KpiConfig(timezone="Pacific/Kiritimati", stale_after_days=1, min_attempts=2),  # UTC+14
    KpiConfig(timezone="America/St_Johns", decision_maker_roles=frozenset()),  # UTC-3:30, DST
)
URLS = (
    "https://acme.example/ebooks/growth",
    "http://ACME.example/Case-Studies/x/",
    "https://acme.example/whitepaper-2026?utm=1",
    "https://acme.example/pricing",
    "http://[::1/guide",  # unparseable: ignored
)

# Mostly August to December 2026 (collisions, month and day edges, the 1-hour, 14-day and 90-day windows), plus
# edges and anywhere in datetime's range (a stored time can be anything parse_timestamp accepts).
near = st.integers(OCT_2026 - 45 * DAY, OCT_2026 + 75 * DAY)
edges = st.sampled_from(
    [OCT_2026 - 1, OCT_2026, BASE, BASE + HOUR, BASE + HOUR + 1, BASE + 14 * DAY, BASE + 14 * DAY + 1, MIN_MS, MAX_MS]
)
times = st.one_of(near, near, edges, st.integers(MIN_MS, MAX_MS))
maybe_times = st.one_of(st.none(), times)
maybe_owner = st.sampled_from([*OWNER_IDS, None, ""])


def links_to(contact_ids: list[int]) -> st.SearchStrategy[tuple[int, ...]]:
    """Mostly one to three of the given contacts (or contact 7, which does not exist); sometimes none."""
    linkable = [*contact_ids, 7]
    return st.sampled_from([c for n in (1, 2, 3, 0) for c in itertools.combinations(linkable, n)])


def choices(**fields: list[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Every combination of the given field values, as one draw (a draw per field makes examples several times
    slower to generate, and generation is most of these tests' time)."""
    names = list(fields)
    return st.sampled_from([dict(zip(names, combo, strict=True)) for combo in itertools.product(*fields.values())])


@st.composite
def owners(draw: st.DrawFn) -> list[Owner]:
    """Owner rows for some of the first three owner ids, each in no, one or two teams (the first is primary)."""
    rows = []
    for oid in OWNER_IDS[:3]:
        if draw(st.integers(0, 3)):
            teams = draw(st.sampled_from([("t1",), ("t2",), ("t1", "t2"), ("t2", "t1"), ()]))
            rows.append(make_owner(oid, f"Owner {oid}", teams))
    return rows


CONTACT_FIELDS = choices(
    lifecyclestage=[None, "", "lead", "subscriber", "salesqualifiedlead", "customer", "other"],
    buying_role=[None, "", "DECISION_MAKER", "CHAMPION;BUDGET_HOLDER", " BUDGET_HOLDER ;X", "x"],
    archived=[False, False, False, True],
)
ENGAGEMENT_FIELDS = choices(
    call_direction=[None, "", "OUTBOUND", "INBOUND"],
    call_disposition=[CONNECTED, None, "73a0d17f-1163-4015-bdd5-ec830791da20"],
    email_direction=[None, "EMAIL", "EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"],
    urls=[(), URLS[:1], URLS[1:3], URLS[3:], URLS],
    meeting_outcome=[None, "COMPLETED", "CANCELED", "SCHEDULED", "NO_SHOW"],
    archived=[False, False, False, True],
)
DEAL_FIELDS = choices(
    won=[None, True, False],
    closed=[None, True, False],
    stage=[None, "closedwon", "closedlost", "open", "gone"],
    archived=[False, False, False, True],
)


@st.composite
def contact(draw: st.DrawFn, cid: int) -> Contact:
    """A contact with any lead/lifecycle dates, stage, buying role and owner."""
    return make_contact(
        cid,
        owner_id=draw(maybe_owner),
        createdate=draw(maybe_times),
        lead_date=draw(maybe_times),
        sql_date=draw(maybe_times),
        opportunity_date=draw(maybe_times),
        customer_date=draw(maybe_times),
        **draw(CONTACT_FIELDS),
    )


@st.composite
def engagement(draw: st.DrawFn, key: tuple[str, int], links: st.SearchStrategy[tuple[int, ...]]) -> Engagement:
    """An engagement with any time (or none), owner, linked contacts and every field any type may read."""
    timestamp = draw(st.one_of(times, times, st.none()))
    return Engagement(key[1], key[0], timestamp, draw(maybe_owner), draw(links), **draw(ENGAGEMENT_FIELDS))


@st.composite
def deal(draw: st.DrawFn, did: int, links: st.SearchStrategy[tuple[int, ...]]) -> Deal:
    """A deal with any dates, owner, stage and flags (missing flags are resolved from the stage)."""
    created, closed = draw(maybe_times), draw(maybe_times)
    return make_deal(
        did, owner_id=draw(maybe_owner), createdate=created, closedate=closed, contacts=draw(links), **draw(DEAL_FIELDS)
    )


@dataclass(frozen=True)
class World:
    """Everything the KPI engine reads, and the moment it computes at."""

    owners: list[Owner]
    contacts: list[Contact]
    engagements: list[Engagement]
    deals: list[Deal]
    config: KpiConfig
    now: int


def _some(draw: st.DrawFn, keys: tuple[Any, ...]) -> list[Any]:
    # Each key in two draws of three: distinct keys without drawing-until-unique, which discards most draws.
    return [key for key in keys if draw(st.integers(0, 2))]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    """Owners and about two thirds of the contact, engagement and deal ids, linked mostly to the world's contacts."""
    contacts = [draw(contact(cid)) for cid in _some(draw, CONTACT_IDS)]
    links = links_to([c.id for c in contacts])
    return World(
        draw(owners()),
        contacts,
        [draw(engagement(key, links)) for key in _some(draw, ENGAGEMENT_KEYS)],
        [draw(deal(did, links)) for did in _some(draw, DEAL_IDS)],
        draw(st.sampled_from(CONFIGS)),
        draw(st.one_of(near, times)),
    )


@dataclass(frozen=True)
class Facts:
    """What the aggregates read, built as sync.refresh.contacts builds it."""

    contacts: list[ContactKpis]
    calls: list[CallFact]
    emails: list[EmailFact]
    deals: list[DealFact]


def facts_of(w: World) -> Facts:
    """Per-contact values of every qualifying contact; call, email and deal facts listing only live contacts."""
    live = {c.id for c in w.contacts if not c.archived}
    linked: dict[int, list[Engagement]] = {c.id: [] for c in w.contacts}
    for e in w.engagements:
        for cid in e.contact_ids:
            if cid in linked:
                linked[cid].append(e)
    kpis = [compute_contact(c, linked[c.id], w.config, w.now) for c in w.contacts]
    shown = [e._replace(contact_ids=tuple(i for i in e.contact_ids if i in live)) for e in w.engagements]
    calls, emails = engagement_facts(shown, w.config)
    deals = [deal_fact(replace(d, contact_ids=tuple(i for i in d.contact_ids if i in live)), STAGES) for d in w.deals]
    return Facts([k for k in kpis if k is not None], calls, emails, [d for d in deals if d is not None])


def aggregates(w: World, facts: Facts, only: set[AggregateKey] | None = None) -> dict[AggregateKey, Values]:
    """Every aggregate of a world (or only some keys)."""
    return aggregate_all(facts.contacts, facts.calls, facts.emails, facts.deals, w.owners, config=w.config, only=only)


# -- per-contact values --------------------------------------------------------------------------------------------


@settings(max_examples=60)
@given(worlds())
def test_per_contact_counts_are_non_negative_and_consistent(w: World) -> None:
    """Counts are >= 0; connected <= calls <= touches; first <= last touch; response and SQL days never negative."""
    for k in facts_of(w).contacts:
        assert 0 <= k.connected_calls <= k.outbound_calls <= k.sales_touches
        assert 0 <= k.content_shares <= k.sales_touches
        assert (k.max_touches_per_day == 0) == (k.sales_touches == 0)
        assert k.max_touches_per_day <= k.sales_touches
        assert k.skipped_engagements >= 0
        assert (k.first_touch_at is None) == (k.last_touch_at is None) == (k.sales_touches == 0)
        if k.first_touch_at is not None and k.last_touch_at is not None:
            assert k.first_touch_at <= k.last_touch_at
        if k.touches_before_conversation is not None:
            assert 0 <= k.touches_before_conversation <= k.sales_touches
        assert k.lead_response_minutes is None or k.lead_response_minutes >= 0
        assert k.days_sql_to_customer is None or k.days_sql_to_customer >= 0
        if k.followup_status is FollowupStatus.NOT_STARTED:
            assert k.sales_touches == 0
        assert tuple(properties_of(k)) == PROPERTY_NAMES


@settings(max_examples=100)
@given(worlds(), st.randoms(use_true_random=False))
def test_per_contact_values_ignore_order_and_repetition_of_engagements(w: World, rnd: random.Random) -> None:
    """A contact's values are the same whatever the order of its engagements and if one is listed twice."""
    for c in w.contacts:
        mine = [e for e in w.engagements if c.id in e.contact_ids]
        shuffled = [*mine, *mine[:1]]
        rnd.shuffle(shuffled)
        assert compute_contact(c, shuffled, w.config, w.now) == compute_contact(c, mine, w.config, w.now)


@settings(max_examples=60)
@given(worlds(), st.integers(0, 30 * DAY))
def test_values_change_with_the_clock_exactly_at_next_change_at(w: World, wait: int) -> None:
    """Nothing a contact shows changes before its next_change_at (always after now), and something does at it."""
    for c in w.contacts:
        mine = [e for e in w.engagements if c.id in e.contact_ids]
        k = compute_contact(c, mine, w.config, w.now)
        if k is None:
            continue
        due = k.next_change_at
        assert due is None or due > w.now
        later = w.now + wait if due is None else min(w.now + wait, due - 1)
        assert _shown(compute_contact(c, mine, w.config, later)) == _shown(k)
        if due is not None:
            assert _shown(compute_contact(c, mine, w.config, due)) != _shown(k)


def _shown(k: ContactKpis | None) -> dict[str, str]:
    assert k is not None
    return properties_of(k)


# -- aggregates ----------------------------------------------------------------------------------------------------

# ratio metric -> (numerator, denominator) metrics: the ratio is empty exactly when the denominator is 0.
RATIOS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reach_ratio": ("connected_calls", ("outbound_calls",)),
    "decision_maker_reach_ratio": ("decision_maker_connects", ("outbound_calls",)),
    "content_usage_rate": ("content_emails", ("sales_emails",)),
    "sql_to_customer_ratio": ("customers", ("sqls",)),
    "deal_win_rate": ("deals_won", ("deals_won", "deals_lost")),
    "share_stopped_early": ("status_stopped_early", ("status_stopped_early", "status_exhausted")),
}
# metric -> the metric it can never exceed
AT_MOST = {
    "connected_calls": "outbound_calls",
    "decision_maker_connects": "connected_calls",
    "responded": "leads",
    "awaiting_response": "leads",
    "content_emails": "sales_emails",
    "customers": "sqls",
    "over_contacted": "contacts_touched",
}
# Counts that add up: over owners to their team and the portal, and (where every fact has a month) over months.
ADDITIVE = {
    "K1": ("outbound_calls", "connected_calls", "decision_maker_connects"),
    "K2": ("leads", "responded", "responded_within_1h", "awaiting_response"),
    "K3": ("contacts_touched", *(f"status_{s.value}" for s in FollowupStatus), "over_contacted"),
    "K4": ("sales_emails", "content_emails"),
    "K5": ("sqls", "customers", "deals_won", "deals_lost"),
}
EVERY_FACT_HAS_A_MONTH = ("K1", "K2", "K4")  # K3 contacts without a touch and K5 deals without closedate: "all" only


@settings(max_examples=60)
@given(worlds())
def test_counts_are_non_negative_and_ratios_are_fractions_or_empty(w: World) -> None:
    """Every count is >= 0, every ratio within [0, 1], and a ratio is empty exactly when its denominator is 0."""
    for key, values in aggregates(w, facts_of(w)).items():
        for name, value in values.items():
            assert value is None or value >= 0, (key, name)
            if name.endswith(("_ratio", "_rate")) or name.startswith("share_"):
                assert value is None or value <= 1, (key, name)
        for name, (numerator, denominator) in RATIOS.items():
            if name in values:
                total = sum(int(values[d] or 0) for d in denominator)
                assert values[name] == (None if total == 0 else int(values[numerator] or 0) / total), (key, name)
        for name, bound in AT_MOST.items():
            if name in values:
                assert int(values[name] or 0) <= int(values[bound] or 0), (key, name)
        if "responded" in values:
            assert values["responded"] == int(values["leads"] or 0) - int(values["awaiting_response"] or 0)
        if values.get("mean_touches") is not None:
            assert float(values["mean_touches"] or 0) >= 1


@settings(max_examples=50)
@given(worlds())
def test_owners_add_up_to_their_team_and_to_the_portal(w: World) -> None:
    """Each owner counts in its primary team only: team and portal counts are sums over their owners."""
    results = aggregates(w, facts_of(w))
    teams = {o.id: o.primary_team_id for o in w.owners}
    sums: dict[tuple[str, str, str, str], Counter[str]] = {}
    for (kpi, scope, sid, period), values in results.items():
        if scope != "owner":
            continue
        team = teams.get(sid)
        for target in [(kpi, PORTAL, PORTAL_ID, period)] + ([(kpi, TEAM, team, period)] if team else []):
            sums.setdefault(target, Counter()).update({m: int(values[m] or 0) for m in ADDITIVE[kpi]})
    for key, values in results.items():
        if key[1] in (PORTAL, TEAM):
            assert {m: int(values[m] or 0) for m in ADDITIVE[key[0]]} == {
                m: sums.get(key, Counter())[m] for m in ADDITIVE[key[0]]
            }, key


@settings(max_examples=50)
@given(worlds())
def test_all_time_is_the_sum_of_the_months(w: World) -> None:
    """The "all" period holds every month's counts (K1, K2, K4 exactly; K3 and K5 also facts without a month)."""
    results = aggregates(w, facts_of(w))
    months: dict[tuple[str, str, str], Counter[str]] = {}
    for (kpi, scope, sid, period), values in results.items():
        if period != ALL_TIME:
            months.setdefault((kpi, scope, sid), Counter()).update({m: int(values[m] or 0) for m in ADDITIVE[kpi]})
    for (kpi, scope, sid, period), values in results.items():
        if period == ALL_TIME:
            total = months.get((kpi, scope, sid), Counter())
            for m in ADDITIVE[kpi]:
                if kpi in EVERY_FACT_HAS_A_MONTH:
                    assert values[m] == total[m], (kpi, scope, sid, m)
                else:
                    assert int(values[m] or 0) >= total[m], (kpi, scope, sid, m)


@settings(max_examples=40)
@given(worlds(), st.randoms(use_true_random=False))
def test_aggregates_ignore_the_order_of_their_inputs(w: World, rnd: random.Random) -> None:
    """The same facts in any order give the very same aggregates."""
    facts = facts_of(w)
    shuffled = Facts(
        rnd.sample(facts.contacts, len(facts.contacts)),
        rnd.sample(facts.calls, len(facts.calls)),
        rnd.sample(facts.emails, len(facts.emails)),
        rnd.sample(facts.deals, len(facts.deals)),
    )
    assert aggregates(w, shuffled) == aggregates(w, facts)


@settings(max_examples=40)
@given(worlds(), st.data())
def test_only_gives_exactly_the_requested_keys_with_full_values(w: World, data: st.DataObject) -> None:
    """aggregate_all(only=keys) returns those of the keys that exist, valued as in the full computation."""
    facts = facts_of(w)
    full = aggregates(w, facts)
    absent = ("K1", "owner", "99", "2026-10")
    keys = data.draw(st.sets(st.sampled_from([*full, absent]), max_size=8)) if full else {absent}
    assert aggregates(w, facts, only=set(keys)) == {k: full[k] for k in keys if k in full}


# -- incremental = full --------------------------------------------------------------------------------------------


@st.composite
def edited(draw: st.DrawFn, w: World) -> World:
    """The world after one to three edits, each replacing, removing or adding a contact, engagement or deal."""
    contacts = {c.id: c for c in w.contacts}
    engagements = {(e.type, e.id): e for e in w.engagements}
    deals = {d.id: d for d in w.deals}
    links = links_to(list(contacts))
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["contact", "engagement", "engagement", "deal", "deal"]))
        rows: dict[Any, Any]
        key: Any
        if kind == "contact":
            rows, key = contacts, draw(st.sampled_from(CONTACT_IDS))
            new: Any = contact(key)
        elif kind == "engagement":
            rows, key = engagements, draw(st.sampled_from(ENGAGEMENT_KEYS))
            new = engagement(key, links)
        else:
            rows, key = deals, draw(st.sampled_from(DEAL_IDS))
            new = deal(key, links)
        if key in rows and draw(st.booleans()):
            del rows[key]
        else:
            rows[key] = draw(new)
    return replace(
        w, contacts=list(contacts.values()), engagements=list(engagements.values()), deals=list(deals.values())
    )


def changed_keys(before: World, after: World) -> set[AggregateKey]:
    """The keys to recompute, found as a caller does: affected_keys over the old and new versions of changed facts.

    As `affected_keys` asks, the contacts of a changed deal and the contacts whose decision-maker flag changed
    bring their connected calls along.
    """
    old, new = facts_of(before), facts_of(after)
    contacts = set(old.contacts) ^ set(new.contacts)
    deals = set(old.deals) ^ set(new.deals)
    deciders_before = {k.contact_id for k in old.contacts if k.decision_maker}
    deciders_after = {k.contact_id for k in new.contacts if k.decision_maker}
    related = (deciders_before ^ deciders_after) | {cid for d in deals for cid in d.contact_ids}
    calls = set(old.calls) ^ set(new.calls)
    calls |= {c for c in (*old.calls, *new.calls) if c.connected and related & set(c.contact_ids)}
    return affected_keys(
        after.owners,
        after.config,
        contacts=contacts,
        calls=calls,
        emails=set(old.emails) ^ set(new.emails),
        deals=deals,
    )


@settings(max_examples=120)
@given(worlds().flatmap(lambda w: st.tuples(st.just(w), edited(w))))
def test_recomputing_the_affected_keys_equals_a_full_recompute(pair: tuple[World, World]) -> None:
    """After a change, the old aggregates with the affected keys recomputed (only=) are the full new aggregates."""
    before, after = pair
    keys = changed_keys(before, after)
    old = aggregates(before, facts_of(before))
    patched = {k: v for k, v in old.items() if k not in keys} | aggregates(after, facts_of(after), only=keys)
    assert patched == aggregates(after, facts_of(after))


# -- regressions: examples the properties above found ------------------------------------------------------------


def test_a_call_and_an_email_sharing_an_id_are_two_engagements() -> None:
    """Engagements are keyed by type and id: an email with a call's id is not a duplicate of the call."""
    call = Engagement(5, "call", BASE, "11", (1,), call_direction="OUTBOUND")
    email = Engagement(5, "email", BASE + HOUR, "11", (1,), email_direction="EMAIL")
    for history in ([call, email], [email, call]):
        kpis = compute_contact(make_contact(1), history, KpiConfig(), BASE + DAY)
        assert kpis is not None
        assert (kpis.sales_touches, kpis.outbound_calls) == (2, 1)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: c.timezone)
def test_times_at_the_ends_of_datetimes_range_are_bucketed_not_fatal(config: KpiConfig) -> None:
    """A call at 9999-12-31 or 0001-01-01 (any time parse_timestamp accepts) counts in the last or first month."""
    calls = [CallFact(1, "11", MAX_MS, True, (1,)), CallFact(2, "11", MIN_MS, True, (1,))]
    out = aggregate_all([], calls, [], [], [], config=config)
    assert {k[3] for k in out} == {"9999-12", "0001-01", ALL_TIME}
    assert ("K1", "owner", "11", "9999-12") in affected_keys([], config, calls=calls)
    kpis = compute_contact(make_contact(1), [Engagement(3, "call", MAX_MS, "11", (1,))], config, BASE)
    assert kpis is not None
    assert kpis.max_touches_per_day == 1


def test_a_deal_reaches_owners_without_an_owner_row_through_their_calls() -> None:
    """K1 opportunities of an owner no Owner row names are covered once the deal's contacts' calls are passed."""
    owners, config = [make_owner("11", "Anna", ("t1",))], KpiConfig()
    call, deal = CallFact(1, "14", BASE, True, (1,)), DealFact(7, "11", BASE + DAY, None, None, (1,))
    before = aggregate_all([], [call], [], [], owners, config=config)
    after = aggregate_all([], [call], [], [deal], owners, config=config)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    assert ("K1", "owner", "14", "2026-10") in changed
    assert not changed <= affected_keys(owners, config, deals=[deal])
    assert changed <= affected_keys(owners, config, deals=[deal], calls=[call])
