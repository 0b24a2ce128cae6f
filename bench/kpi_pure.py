"""Timing of the pure KPI engine over synthetic in-memory rows (no database).

Usage: .venv/bin/python bench/kpi_pure.py [--contacts 200000] [--engagements 2000000] [--timezone UTC]
Prints the time of each stage of a full recompute and of an incremental recompute after a 1 % change.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from typing import TypeVar

from kpi.config import CONNECTED_DISPOSITION, KpiConfig
from kpi.contact import ContactKpis, compute_contact
from kpi.facts import CallFact, DealFact, EmailFact, deal_fact, engagement_facts
from kpi.oracle import affected_keys, aggregate_all
from kpi.rows import Contact, Deal, Engagement, Owner, Stage, stage_map

T = TypeVar("T")
START = 1_735_689_600_000  # 2025-01-01T00:00:00Z
SPAN = 2 * 365 * 86_400_000
STAGES = ("lead", "marketingqualifiedlead", "salesqualifiedlead", "subscriber", "opportunity", "customer")


def timed(label: str, fn: Callable[[], T]) -> T:
    """Run fn, print its wall time, return its result."""
    begin = time.perf_counter()
    result = fn()
    print(f"{label:<44} {time.perf_counter() - begin:7.2f} s")
    return result


def make_owners(n: int) -> list[Owner]:
    """n owners in four teams."""
    return [
        Owner(str(100 + i), f"Rep {i}", f"rep{i}@example.com", (f"t{i % 4}",), (f"Team {i % 4}",), False)
        for i in range(n)
    ]


def make_contacts(rng: random.Random, n: int, owners: list[Owner]) -> list[Contact]:
    """n contacts with a mix of lifecycle stages and dates."""
    rows = []
    for i in range(n):
        created = START + rng.randrange(SPAN)
        sql = created + rng.randrange(30 * 86_400_000) if rng.random() < 0.2 else None
        customer = sql + rng.randrange(90 * 86_400_000) if sql and rng.random() < 0.3 else None
        rows.append(
            Contact(
                id=i,
                owner_id=rng.choice(owners).id if rng.random() < 0.95 else None,
                createdate=created,
                lifecyclestage=rng.choice(STAGES),
                lead_date=created if rng.random() < 0.5 else None,
                sql_date=sql,
                opportunity_date=None,
                customer_date=customer,
                buying_role="DECISION_MAKER;INFLUENCER" if rng.random() < 0.2 else None,
            )
        )
    return rows


def make_engagements(rng: random.Random, n: int, contacts: list[Contact], owners: list[Owner]) -> list[Engagement]:
    """n engagements, mostly calls and emails, 10 % with two contacts."""
    rows = []
    dispositions = (CONNECTED_DISPOSITION, "busy", "no-answer", "left-voicemail")
    kinds = ("call", "call", "call", "email", "email", "meeting", "note", "task")
    for i in range(n):
        contact = contacts[rng.randrange(len(contacts))]
        ids = (contact.id,) if rng.random() < 0.9 else (contact.id, rng.randrange(len(contacts)))
        kind = rng.choice(kinds)
        ts = (contact.createdate or START) + rng.randrange(60 * 86_400_000) if rng.random() > 0.001 else None
        urls = ("https://example.com/resources/ebooks/sales-guide?utm=1",) if rng.random() < 0.1 else ()
        rows.append(
            Engagement(
                id=i,
                type=kind,
                timestamp=ts,
                owner_id=rng.choice(owners).id,
                contact_ids=ids,
                call_direction="OUTBOUND" if kind == "call" else None,
                call_disposition=rng.choice(dispositions) if kind == "call" else None,
                email_direction=rng.choice(("EMAIL", "EMAIL", "INCOMING_EMAIL")) if kind == "email" else None,
                urls=urls if kind == "email" else (),
                meeting_outcome=rng.choice(("COMPLETED", "SCHEDULED", "CANCELED")) if kind == "meeting" else None,
            )
        )
    return rows


def make_deals(rng: random.Random, n: int, contacts: list[Contact], owners: list[Owner]) -> list[Deal]:
    """n deals, a third without won/closed flags (stage metadata decides)."""
    rows = []
    for i in range(n):
        created = START + rng.randrange(SPAN)
        flags = rng.random() < 0.66
        rows.append(
            Deal(
                id=i,
                owner_id=rng.choice(owners).id,
                createdate=created,
                closedate=created + rng.randrange(60 * 86_400_000),
                pipeline="default",
                dealstage=rng.choice(("closedwon", "closedlost", "open")),
                is_closed_won=rng.random() < 0.3 if flags else None,
                is_closed=True if flags else None,
                contact_ids=(rng.randrange(len(contacts)),),
            )
        )
    return rows


def group(engagements: list[Engagement]) -> dict[int, list[Engagement]]:
    """Engagements per associated contact (what the store's association query gives)."""
    by_contact: dict[int, list[Engagement]] = {}
    for e in engagements:
        for c in e.contact_ids:
            by_contact.setdefault(c, []).append(e)
    return by_contact


def main() -> None:
    """Generate, then time a full and an incremental recompute."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=200_000)
    parser.add_argument("--engagements", type=int, default=2_000_000)
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--timezone", default="UTC")
    args = parser.parse_args()
    rng = random.Random(7)
    config = KpiConfig(timezone=args.timezone)
    now = START + SPAN
    owners = make_owners(40)
    contacts = make_contacts(rng, args.contacts, owners)
    engagements = timed("generate engagements", lambda: make_engagements(rng, args.engagements, contacts, owners))
    deals = make_deals(rng, args.deals, contacts, owners)
    stages = stage_map(
        [
            Stage("default", "closedwon", True, 1.0),
            Stage("default", "closedlost", True, 0.0),
            Stage("default", "open", False, 0.2),
        ]
    )
    by_contact = timed("group engagements by contact", lambda: group(engagements))
    begin = time.perf_counter()

    def per_contact() -> dict[int, ContactKpis]:
        out = {}
        for c in contacts:
            kpis = compute_contact(c, by_contact.get(c.id, ()), config, now)
            if kpis is not None:
                out[c.id] = kpis
        return out

    facts = timed("per-contact values (compute_contact)", per_contact)
    calls, emails = timed("call and email facts (engagement_facts)", lambda: engagement_facts(engagements, config))
    deal_facts = timed("deal facts", lambda: [f for d in deals if (f := deal_fact(d, stages))])
    aggregates = timed(
        "aggregate_all (K1-K5, all keys)",
        lambda: aggregate_all(facts.values(), calls, emails, deal_facts, owners, config=config),
    )
    print(f"{'full recompute (excluding generation/grouping)':<44} {time.perf_counter() - begin:7.2f} s")
    print(
        f"  {len(facts)} qualifying contacts, {len(calls)} call facts, {len(emails)} email facts, "
        f"{len(aggregates)} aggregate keys"
    )
    incremental(
        rng,
        contacts=contacts,
        by_contact=by_contact,
        facts=facts,
        calls=calls,
        emails=emails,
        deals=deal_facts,
        owners=owners,
        config=config,
        now=now,
    )


def incremental(
    rng: random.Random,
    *,
    contacts: list[Contact],
    by_contact: dict[int, list[Engagement]],
    facts: dict[int, ContactKpis],
    calls: list[CallFact],
    emails: list[EmailFact],
    deals: list[DealFact],
    owners: list[Owner],
    config: KpiConfig,
    now: int,
) -> None:
    """Recompute 1 % of the contacts and the keys they affect (facts already in memory)."""
    begin = time.perf_counter()
    changed = rng.sample(contacts, len(contacts) // 100)
    old = [facts[c.id] for c in changed if c.id in facts]
    new = [k for c in changed if (k := compute_contact(c, by_contact.get(c.id, ()), config, now + 1))]
    keys = affected_keys(owners, config, contacts=old + new)
    contact_keys = {k for k in keys if k[0] in ("K2", "K3", "K5")}
    aggregate_all(facts.values(), calls, emails, deals, owners, config=config, only=contact_keys)
    print(f"{'incremental: 1 % contacts + affected keys':<44} {time.perf_counter() - begin:7.2f} s  ({len(keys)} keys)")


if __name__ == "__main__":
    main()
