"""K1-K5 aggregates per owner, team and portal, per month and all time; `only`; affected keys."""

from __future__ import annotations

import pytest

from kpi.config import KpiConfig
from kpi.contact import ContactKpis, compute_contact
from kpi.facts import CallFact, DealFact, EmailFact, call_fact, deal_fact, email_fact, engagement_facts
from kpi.marketing import top_assets
from kpi.oracle import affected_keys, aggregate_all, fact_window, scope_owner_ids
from kpi.rows import Contact, Engagement, Stage, stage_map
from kpi.scopes import AggregateKey, Values
from tests.kpi.kpi_factories import (
    BASE,
    CONNECTED,
    DAY,
    HOUR,
    MIN,
    OCT_2026,
    make_call,
    make_contact,
    make_deal,
    make_email,
    make_lead,
    make_owner,
)

OWNERS = [make_owner("o1", "Anna", ("t1",)), make_owner("o2", "Bob", ("t1", "t2")), make_owner("o3", "Cleo", ("t2",))]
STAGES = stage_map([Stage("default", "closedwon", True, 1.0), Stage("default", "closedlost", True, 0.0)])
NOW = BASE + 60 * DAY
OCT, NOV = "2026-10", "2026-11"


def _aggregate(
    contacts: list[Contact] = (),  # type: ignore[assignment]
    engagements: list[Engagement] = (),  # type: ignore[assignment]
    deals: list[DealFact] = (),  # type: ignore[assignment]
    config: KpiConfig | None = None,
    only: set[AggregateKey] | None = None,
) -> dict[AggregateKey, Values]:
    config = config or KpiConfig()
    facts = _contact_facts(contacts, engagements, config)
    calls, emails = engagement_facts(engagements, config)
    return aggregate_all(facts, calls, emails, deals, OWNERS, config=config, only=only)


def _contact_facts(contacts: list[Contact], engagements: list[Engagement], config: KpiConfig) -> list[ContactKpis]:
    out = []
    for c in contacts:
        kpis = compute_contact(c, [e for e in engagements if c.id in e.contact_ids], config, NOW)
        if kpis is not None:
            out.append(kpis)
    return out


# K1 ---------------------------------------------------------------------------------------------------------------


def test_k1_counts_calls_once_and_ratios() -> None:
    """Outbound calls are counted per call (not per contact); reach ratio = connected / outbound."""
    engagements = [
        make_call(contacts=(1, 2), disposition=CONNECTED),
        make_call(contacts=(1,)),
        make_call(contacts=(2,)),
        make_call(contacts=(3,), direction="INBOUND", disposition=CONNECTED),
    ]
    k1 = _aggregate([make_contact(i) for i in (1, 2, 3)], engagements)[("K1", "owner", "o1", OCT)]
    assert k1["outbound_calls"] == 3
    assert k1["connected_calls"] == 1
    assert k1["reach_ratio"] == pytest.approx(1 / 3)
    assert k1["prospects_reached"] == 2
    assert k1["prospects_per_1000_calls"] == pytest.approx(2000 / 3)


def test_k1_decision_maker_connects() -> None:
    """A connected call with at least one decision maker counts once; its ratio is over outbound calls."""
    contacts = [
        make_contact(1, buying_role="DECISION_MAKER"),
        make_contact(2, buying_role="BUDGET_HOLDER"),
        make_contact(3, buying_role="END_USER"),
    ]
    engagements = [
        make_call(contacts=(1, 2), disposition=CONNECTED),
        make_call(contacts=(3,), disposition=CONNECTED),
        make_call(contacts=(1,)),
        make_call(contacts=(2,)),
    ]
    k1 = _aggregate(contacts, engagements)[("K1", "owner", "o1", OCT)]
    assert (k1["decision_maker_connects"], k1["decision_maker_reach_ratio"]) == (1, 0.25)


def test_k1_distinct_prospects_across_months_and_owners() -> None:
    """prospects_reached is distinct per key: the same contact reached twice counts once in 'all' and the team."""
    engagements = [
        make_call(BASE, contacts=(1,), disposition=CONNECTED),
        make_call(BASE + 30 * DAY, contacts=(1,), disposition=CONNECTED),
        make_call(BASE, contacts=(1,), owner_id="o2", disposition=CONNECTED),
    ]
    out = _aggregate([make_contact(1)], engagements)
    assert out[("K1", "owner", "o1", OCT)]["prospects_reached"] == 1
    assert out[("K1", "owner", "o1", NOV)]["prospects_reached"] == 1
    assert out[("K1", "owner", "o1", "all")]["prospects_reached"] == 1
    assert out[("K1", "team", "t1", OCT)]["prospects_reached"] == 1
    assert out[("K1", "team", "t1", OCT)]["connected_calls"] == 2
    assert out[("K1", "portal", "portal", "all")]["connected_calls"] == 3


@pytest.mark.parametrize(
    ("call_at", "counts"),
    [
        (BASE - 90 * DAY, 1),
        (BASE - 90 * DAY - 1, 0),
        (BASE, 1),
        (BASE + 1, 0),
        (BASE - 10 * DAY, 1),
    ],
    ids=["exactly-90-days-before", "90-days-and-1-ms", "same-ms", "after-createdate", "inside"],
)
def test_k1_opportunity_window(call_at: int, counts: int) -> None:
    """A deal counts for the owner who reached one of its contacts within the 90 days up to its createdate."""
    engagements = [make_call(call_at, contacts=(1,), disposition=CONNECTED)]
    deals = [DealFact(7, "o2", BASE, None, None, (1,))]
    out = _aggregate([make_contact(1)], engagements, deals)
    assert out.get(("K1", "owner", "o1", OCT), {}).get("opportunities", 0) == counts


def test_k1_opportunities_need_a_connected_call_and_distinct_deals() -> None:
    """Unconnected calls make no opportunity; a deal reached through two contacts counts once."""
    engagements = [
        make_call(BASE - DAY, contacts=(1,), disposition=CONNECTED),
        make_call(BASE - DAY, contacts=(2,), disposition=CONNECTED),
        make_call(BASE - DAY, contacts=(3,)),
    ]
    deals = [DealFact(7, None, BASE, None, None, (1, 2)), DealFact(8, None, BASE, None, None, (3,))]
    k1 = _aggregate([make_contact(i) for i in (1, 2, 3)], engagements, deals)[("K1", "owner", "o1", OCT)]
    assert k1["opportunities"] == 1
    assert k1["opportunities_per_1000_calls"] == pytest.approx(1000 / 3)


def test_k1_opportunity_is_in_the_month_of_the_deal() -> None:
    """The deal's createdate month holds the opportunity, even when the call was in the previous month."""
    engagements = [make_call(BASE, contacts=(1,), disposition=CONNECTED)]
    deals = [DealFact(7, None, BASE + 30 * DAY, None, None, (1,))]
    out = _aggregate([make_contact(1)], engagements, deals)
    assert out[("K1", "owner", "o1", OCT)]["opportunities"] == 0
    assert out[("K1", "owner", "o1", NOV)]["opportunities"] == 1
    assert out[("K1", "owner", "o1", NOV)]["opportunities_per_1000_calls"] is None


def test_k1_zero_calls_gives_empty_ratios() -> None:
    """Ratios with a zero denominator are None."""
    out = _aggregate([make_contact(1)], [], [DealFact(7, None, BASE, None, None, (1,))])
    assert ("K1", "owner", "o1", OCT) not in out


# K2 ---------------------------------------------------------------------------------------------------------------


def test_k2_lead_response() -> None:
    """Leads by T0 month; share within 1 h over decided leads; median and mean over responded leads."""
    contacts = [make_lead(1), make_lead(2), make_lead(3), make_lead(4), make_contact(5)]
    engagements = [
        make_call(BASE + HOUR, contacts=(1,)),
        make_call(BASE + 3 * HOUR, contacts=(2,)),
        make_call(BASE + 10 * MIN, contacts=(3,)),
        make_call(BASE, contacts=(5,)),
    ]
    k2 = _aggregate(contacts, engagements)[("K2", "owner", "o1", OCT)]
    assert k2 == {
        "leads": 4,
        "responded": 3,
        "responded_within_1h": 2,
        "share_within_1h": 0.5,
        "median_response_minutes": 60.0,
        "mean_response_minutes": pytest.approx((60 + 180 + 10) / 3),
        "awaiting_response": 1,
    }


def test_k2_undecided_leads_are_not_in_the_share() -> None:
    """A lead still inside its first hour with no touch is awaiting but not in the share's denominator."""
    config = KpiConfig()
    facts = [compute_contact(make_lead(1, BASE), [], config, BASE + MIN)]
    out = aggregate_all([f for f in facts if f], [], [], [], OWNERS, config=config)
    k2 = out[("K2", "owner", "o1", OCT)]
    assert (k2["leads"], k2["awaiting_response"], k2["share_within_1h"], k2["median_response_minutes"]) == (
        1,
        1,
        None,
        None,
    )


def test_k2_uses_the_contact_owner_and_month_in_time_zone() -> None:
    """K2 is by the contact's owner, in the T0 month of the configured zone."""
    config = KpiConfig(timezone="Europe/Amsterdam")
    t0 = OCT_2026 - HOUR  # 23:00Z Sep 30 = 01:00 Oct 1 in Amsterdam
    contacts = [make_lead(1, t0, owner_id="o3")]
    out = _aggregate(contacts, [make_call(t0 + MIN, owner_id="o1")], config=config)
    assert out[("K2", "owner", "o3", OCT)]["leads"] == 1
    assert ("K2", "owner", "o1", OCT) not in out
    assert _aggregate(contacts, [make_call(t0 + MIN)])[("K2", "owner", "o3", "2026-09")]["leads"] == 1


# K3 ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("touches_before", "bucket"),
    [(0, "1"), (1, "2"), (2, "3"), (3, "4"), (4, "5_plus"), (7, "5_plus")],
)
def test_k3_first_conversation_attempt_buckets(touches_before: int, bucket: str) -> None:
    """attempt = touches before the first conversation + 1, bucketed 1, 2, 3, 4, 5+."""
    engagements = [make_call(BASE + i * HOUR) for i in range(touches_before)]
    engagements.append(make_call(BASE + touches_before * HOUR, disposition=CONNECTED))
    k3 = _aggregate([make_lead(1)], engagements)[("K3", "owner", "o1", OCT)]
    buckets = {b: k3[f"first_conversation_attempt_{b}"] for b in ("1", "2", "3", "4", "5_plus")}
    assert buckets == {b: (1 if b == bucket else 0) for b in buckets}


def test_k3_statuses_shares_and_means() -> None:
    """Status counts, share stopped early = stopped / (stopped + exhausted), mean touches over touched."""
    contacts = [make_lead(i) for i in range(1, 6)]
    engagements = [
        make_call(BASE, contacts=(1,)),  # stopped_early (1 touch)
        *[make_call(BASE + i * DAY, contacts=(2,)) for i in range(5)],  # exhausted
        *[make_call(BASE + i * HOUR, contacts=(3,)) for i in range(3)],  # over-contacted, stopped early
        make_call(BASE, contacts=(4,), disposition=CONNECTED),  # in conversation
    ]  # contact 5: not started
    out = _aggregate(contacts, engagements)
    month, total = out[("K3", "owner", "o1", OCT)], out[("K3", "owner", "o1", "all")]
    assert month["contacts_touched"] == 4
    assert month["mean_touches"] == 10 / 4
    assert (month["status_stopped_early"], month["status_exhausted"], month["status_in_conversation"]) == (2, 1, 1)
    assert month["share_stopped_early"] == pytest.approx(2 / 3)
    assert month["status_not_started"] == 0
    assert total["status_not_started"] == 1
    assert month["over_contacted"] == 1


def test_k3_zero_denominators_are_none() -> None:
    """No touched contacts and no given-up contacts: mean and share are None."""
    k3 = _aggregate([make_lead(1)], [])[("K3", "owner", "o1", "all")]
    assert (k3["contacts_touched"], k3["mean_touches"], k3["share_stopped_early"]) == (0, None, None)


def test_k3_month_of_first_touch() -> None:
    """A contact counts in the month of its first sales touch."""
    engagements = [make_call(BASE + 30 * DAY), make_call(BASE)]
    out = _aggregate([make_lead(1)], engagements)
    assert out[("K3", "owner", "o1", OCT)]["contacts_touched"] == 1
    assert ("K3", "owner", "o1", NOV) not in out


# K4 ---------------------------------------------------------------------------------------------------------------


def test_k4_counts_each_email_once() -> None:
    """An email to three contacts is one sales email; content usage and distinct assets per key."""
    engagements = [
        make_email(contacts=(1, 2, 3), urls=("https://a.io/ebook/x",)),
        make_email(contacts=(1,), urls=("https://a.io/ebook/x?utm=1", "https://a.io/guide")),
        make_email(contacts=(2,)),
        make_email(contacts=(2,), direction="INCOMING_EMAIL", urls=("https://a.io/ebook/y",)),
        make_email(contacts=(2,), owner_id="o3", urls=("https://a.io/webinar",)),
    ]
    out = _aggregate([make_contact(i) for i in (1, 2, 3)], engagements)
    k4 = out[("K4", "owner", "o1", OCT)]
    assert k4 == {"sales_emails": 3, "content_emails": 2, "content_usage_rate": 2 / 3, "distinct_assets": 2}
    assert out[("K4", "portal", "portal", OCT)]["distinct_assets"] == 3


def test_k4_top_assets_portal_wide() -> None:
    """Top assets by number of emails, most first, ties by key, filtered by period."""
    config = KpiConfig()
    engagements = [
        make_email(BASE, owner_id="o1", urls=("https://a.io/guide",)),
        make_email(BASE, owner_id="o3", urls=("https://a.io/guide", "https://a.io/ebook")),
        make_email(BASE + 30 * DAY, urls=("https://a.io/brochure",)),
    ]
    emails = [f for e in engagements if (f := email_fact(e, config))]
    assert top_assets(emails, config.calendar) == [("a.io/guide", 2), ("a.io/brochure", 1), ("a.io/ebook", 1)]
    assert top_assets(emails, config.calendar, OCT, limit=1) == [("a.io/guide", 2)]


# K5 ---------------------------------------------------------------------------------------------------------------


def test_k5_sql_to_customer() -> None:
    """SQLs by SQL month; customers have a customer date at or after it; median days over customers."""
    contacts = [
        make_lead(1, sql_date=BASE, customer_date=BASE + 10 * DAY),
        make_lead(2, sql_date=BASE, customer_date=BASE + 20 * DAY),
        make_lead(3, sql_date=BASE, customer_date=BASE - DAY),
        make_lead(4, sql_date=BASE),
        make_lead(5, customer_date=BASE),
    ]
    k5 = _aggregate(contacts)[("K5", "owner", "o1", OCT)]
    assert (k5["sqls"], k5["customers"], k5["sql_to_customer_ratio"], k5["median_days_sql_to_customer"]) == (
        4,
        2,
        0.5,
        15.0,
    )


def test_k5_deal_win_rate_by_deal_owner_and_closedate() -> None:
    """Won / (won + lost) by deal owner in the closedate month; stage metadata fills missing flags."""
    deals = [
        make_deal(1, owner_id="o2", closedate=BASE, won=True, closed=True),
        make_deal(2, owner_id="o2", closedate=BASE, stage="closedlost"),
        make_deal(3, owner_id="o2", closedate=BASE, stage="closedwon"),
        make_deal(4, owner_id="o2", closedate=BASE, stage="open"),
        make_deal(5, owner_id="o2", closedate=BASE + 30 * DAY, won=False, closed=True),
    ]
    facts = [f for d in deals if (f := deal_fact(d, STAGES))]
    out = _aggregate([], [], facts)
    k5 = out[("K5", "owner", "o2", OCT)]
    assert (k5["deals_won"], k5["deals_lost"]) == (2, 1)
    assert k5["deal_win_rate"] == pytest.approx(2 / 3)
    assert (k5["sqls"], k5["sql_to_customer_ratio"]) == (0, None)
    assert out[("K5", "owner", "o2", "all")]["deals_lost"] == 2


def test_archived_deal_has_no_fact() -> None:
    """Archived deals are excluded."""
    assert deal_fact(make_deal(archived=True, won=True, closed=True), STAGES) is None


# Scopes, only, affected keys -------------------------------------------------------------------------------------


def test_teams_use_the_primary_team_and_portal_sums() -> None:
    """Each owner feeds its primary team only; the portal holds everything, including unassigned contacts."""
    contacts = [
        make_lead(1, owner_id="o1"),
        make_lead(2, owner_id="o2"),
        make_lead(3, owner_id="o3"),
        make_lead(4, owner_id=None),
        make_lead(5, owner_id="o9"),
    ]
    out = _aggregate(contacts)
    leads = {(k[1], k[2]): v["leads"] for k, v in out.items() if k[0] == "K2" and k[3] == OCT}
    assert leads == {
        ("owner", "o1"): 1,
        ("owner", "o2"): 1,
        ("owner", "o3"): 1,
        ("owner", "unassigned"): 1,
        ("owner", "o9"): 1,
        ("team", "t1"): 2,
        ("team", "t2"): 1,
        ("portal", "portal"): 5,
    }


def test_only_computes_the_requested_keys_with_the_same_values() -> None:
    """aggregate_all(only=keys) returns exactly those keys, equal to the full computation."""
    contacts = [make_lead(1), make_lead(2, owner_id="o3", sql_date=BASE)]
    engagements = [make_call(BASE + HOUR, contacts=(1, 2), disposition=CONNECTED), make_email(contacts=(2,))]
    full = _aggregate(contacts, engagements)
    keys = {("K1", "team", "t1", OCT), ("K2", "portal", "portal", "all"), ("K5", "owner", "o3", OCT)}
    assert _aggregate(contacts, engagements, only=keys) == {k: full[k] for k in keys}


def test_affected_keys_cover_every_changed_aggregate() -> None:
    """Recomputing only the affected keys after a change gives the full result."""
    config = KpiConfig()
    contacts = [make_lead(1), make_lead(2, owner_id="o3")]
    before_eng = [make_call(BASE + HOUR, contacts=(1,))]
    after_eng = [*before_eng, make_call(BASE + 2 * HOUR, contacts=(2,), owner_id="o2", disposition=CONNECTED)]
    deals = [DealFact(7, "o3", BASE + 40 * DAY, BASE + 50 * DAY, True, (2,))]
    before = _aggregate(contacts, before_eng, deals)
    after = _aggregate(contacts, after_eng, deals)
    old_facts = _contact_facts(contacts, before_eng, config)
    new_facts = _contact_facts(contacts, after_eng, config)
    changed_contacts = set(old_facts) ^ set(new_facts)
    new_calls = [f for e in after_eng if (f := call_fact(e, config))]
    old_calls = [f for e in before_eng if (f := call_fact(e, config))]
    keys = affected_keys(OWNERS, config, contacts=changed_contacts, calls=set(old_calls) ^ set(new_calls))
    changed = {k for k in after.keys() | before.keys() if after.get(k) != before.get(k)}
    assert changed <= keys
    assert ("K1", "owner", "o2", NOV) in keys  # a connected call feeds opportunities up to 90 days later
    recomputed = _aggregate(contacts, after_eng, deals, only=keys)
    assert {**{k: v for k, v in before.items() if k not in keys}, **recomputed} == after


def test_affected_keys_of_deals_and_emails() -> None:
    """A deal affects K5 of its owner's close month and K1 of its create month; an email K4 of its month."""
    config = KpiConfig()
    deal = DealFact(7, "o3", BASE, BASE + 30 * DAY, True, (1,))
    email = EmailFact(1, "o1", BASE, ())
    keys = affected_keys(OWNERS, config, deals=[deal], emails=[email])
    assert {
        ("K5", "owner", "o3", NOV),
        ("K5", "team", "t2", "all"),
        ("K1", "owner", "o1", OCT),
        ("K1", "portal", "portal", OCT),
        ("K4", "team", "t1", OCT),
    } <= keys
    assert ("K5", "owner", "o3", OCT) not in keys


def test_fact_window_and_scope_owners() -> None:
    """fact_window names the UTC range of a period; scope_owner_ids the owners feeding a scope."""
    config = KpiConfig()
    assert fact_window(OCT, config) == (OCT_2026, 1_793_491_200_000)
    assert fact_window("all", config) == (None, None)
    assert scope_owner_ids("team", "t1", OWNERS) == frozenset({"o1", "o2"})
    assert scope_owner_ids("owner", "o3", OWNERS) == frozenset({"o3"})
    assert scope_owner_ids("portal", "portal", OWNERS) is None


@pytest.mark.parametrize(
    ("engagement", "is_call_fact"),
    [
        (make_call(), True),
        (make_call(direction=None), True),
        (make_call(direction="INBOUND"), False),
        (make_call(owner_id=None), False),
        (make_call(None), False),
        (make_call(contacts=()), False),
        (make_call(archived=True), False),
        (make_email(), False),
    ],
)
def test_call_fact(engagement: Engagement, is_call_fact: bool) -> None:
    """A call fact exists exactly for calls that are sales touches of some contact."""
    fact = call_fact(engagement, KpiConfig())
    assert (fact is not None) is is_call_fact
    assert (engagement_facts([engagement], KpiConfig())[0] == [fact]) is is_call_fact


def test_email_fact_keeps_assets() -> None:
    """An email fact carries its content asset keys."""
    fact = email_fact(make_email(urls=("https://a.io/ebook/x?u=1", "https://a.io/about")), KpiConfig())
    assert fact is not None
    assert fact.assets == ("a.io/ebook/x",)
    assert isinstance(fact, EmailFact)
    assert not isinstance(fact, CallFact)
