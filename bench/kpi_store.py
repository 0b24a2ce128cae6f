"""KPI recompute over the store (SQLite or PostgreSQL): full, then incremental after a 1 % change.

    .venv/bin/python bench/kpi_store.py --size medium            # or large; --database-url postgresql://...
    .venv/bin/python bench/kpi_store.py --size large --reuse /tmp/large.db   # keep the filled portal for next time

Fills a fresh store with a synthetic portal of the sandbox's sizes (rows written straight into the tables, as
a finished pull leaves them), then times `kpi-sync kpis --recompute` (refresh(full=True)) twice and an
incremental refresh after 1 % of the contacts changed (their lifecycle dates moved and one new call each, as the
pull would mark them, and the new calls as new), three times over (another 1 % each time; the median round is
reported, as a share of the faster full recompute), then checks that a third full recompute leaves every
aggregate row as the incremental rounds left it. Prints the figures and writes
bench/results/kpi-store-<size>[-<db>].json. CPU seconds are printed beside wall seconds (this process and the full
recompute's helper process together): on a shared machine they are the steadier figure (SQLite runs in these
processes; a PostgreSQL server's CPU is not counted).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import resource
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from kpi_pure import START, make_contacts, make_deals, make_engagements, make_owners  # bench/ is on sys.path
from sqlalchemy import Engine, func, select

from kpi.config import KpiConfig
from kpi.rows import Contact, Deal, Engagement, Owner
from storage import repo
from storage import tables as t
from storage.engine import open_store
from sync.refresh import marks
from sync.refresh.contacts import refresh

C = repo.table(t.Contact)
SIZES = {"small": (600, 6_000), "medium": (50_000, 500_000), "large": (200_000, 2_000_000)}
SPAN = 2 * 365 * 86_400_000
BATCH = 20_000
ROUNDS = 3  # incremental refreshes, each after its own 1 % change; the median one is reported


def _batches(rows: Sequence[dict[str, Any]]) -> Iterator[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), BATCH):
        yield rows[start : start + BATCH]


def _insert(engine: Engine, model: type[Any], rows: Sequence[dict[str, Any]]) -> None:
    for part in _batches(rows):
        with engine.begin() as conn:
            repo.insert_ignore(conn, repo.table(model), part)


def _owner_row(o: Owner) -> dict[str, Any]:
    first, _, last = o.name.partition(" ")
    return {
        "id": o.id,
        "email": o.email,
        "first_name": first,
        "last_name": last,
        "archived": False,
        "team_ids": list(o.team_ids),
        "team_names": list(o.team_names),
    }


def _contact_row(c: Contact) -> dict[str, Any]:
    return {**dataclasses.asdict(c), "modified_at": START}


def _engagement_row(e: Engagement) -> dict[str, Any]:
    return {
        "type": e.type,
        "id": e.id,
        "timestamp": e.timestamp,
        "owner_id": e.owner_id,
        "call_direction": e.call_direction,
        "call_disposition": e.call_disposition,
        "email_direction": e.email_direction,
        "meeting_outcome": e.meeting_outcome,
        "urls": list(e.urls) or None,
        "modified_at": START,
        "archived": False,
    }


def _deal_row(d: Deal) -> dict[str, Any]:
    return {
        "id": d.id,
        "owner_id": d.owner_id,
        "createdate": d.createdate,
        "closedate": d.closedate,
        "pipeline": d.pipeline,
        "dealstage": d.dealstage,
        "is_closed_won": d.is_closed_won,
        "is_closed": d.is_closed,
        "modified_at": START,
        "archived": False,
    }


def fill(engine: Engine, contacts_n: int, engagements_n: int, rng: random.Random) -> None:
    """Write a synthetic portal into the store."""
    owners = make_owners(40)
    contacts = make_contacts(rng, contacts_n, owners)
    engagements = make_engagements(rng, engagements_n, contacts, owners)
    deals = make_deals(rng, contacts_n // 10, contacts, owners)
    _insert(engine, t.Owner, [_owner_row(o) for o in owners])
    _insert(
        engine,
        t.DealStage,
        [
            {"pipeline_id": "default", "stage_id": s, "label": s, "is_closed": s != "open", "probability": p}
            for s, p in (("closedwon", 1.0), ("closedlost", 0.0), ("open", 0.2))
        ],
    )
    _insert(engine, t.Contact, [_contact_row(c) for c in contacts])
    _insert(engine, t.Deal, [_deal_row(d) for d in deals])
    _insert(engine, t.DealContact, [{"deal_id": d.id, "contact_id": c} for d in deals for c in d.contact_ids])
    _insert(engine, t.Engagement, [_engagement_row(e) for e in engagements])
    _insert(
        engine,
        t.EngagementContact,
        [
            {"engagement_type": e.type, "engagement_id": e.id, "contact_id": c}
            for e in engagements
            for c in set(e.contact_ids)
        ],
    )


def change_one_percent(engine: Engine, rng: random.Random, now: int, round_no: int = 0) -> int:
    """Move 1 % of the contacts' SQL dates and log one new connected call each (ids of its own per round), marked
    dirty as the pull does."""
    with engine.connect() as conn:
        contacts = list(conn.execute(select(C.c.id, C.c.createdate, C.c.owner_id).order_by(C.c.id)))
    changed = rng.sample(contacts, max(1, len(contacts) // 100))
    base = 10_000_000_000 + round_no * 10_000_000
    with engine.begin() as conn:
        for c in changed:
            new_sql = (c.createdate or START) + rng.randrange(20 * 86_400_000)
            conn.execute(C.update().where(C.c.id == c.id).values(sql_date=new_sql, lifecyclestage="salesqualifiedlead"))
        calls = [
            {
                "type": "call",
                "id": base + i,
                "timestamp": now - rng.randrange(30 * 86_400_000),
                "owner_id": c.owner_id or "100",
                "call_direction": "OUTBOUND",
                "call_disposition": "connected",
                "email_direction": None,
                "meeting_outcome": None,
                "urls": None,
                "modified_at": now,
                "archived": False,
            }
            for i, c in enumerate(changed)
        ]
        repo.insert_ignore(conn, repo.table(t.Engagement), calls)
        repo.insert_ignore(
            conn,
            repo.table(t.EngagementContact),
            [{"engagement_type": "call", "engagement_id": base + i, "contact_id": c.id} for i, c in enumerate(changed)],
        )
        marks.mark_dirty_contacts(conn, [c.id for c in changed], now)
        marks.mark_added_touches(conn, [("call", base + i) for i in range(len(calls))], now)
    return len(changed)


def _aggregates(engine: Engine) -> dict[tuple[str, ...], Any]:
    a = repo.table(t.KpiAggregate).c
    with engine.connect() as conn:
        return {tuple(r[:4]): r[4] for r in conn.execute(select(a.kpi, a.scope, a.scope_id, a.period, a.metrics))}


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu() -> float:
    """CPU seconds of this process and of its finished children (the full recompute's helper process)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="medium")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file in a temp dir")
    parser.add_argument(
        "--reuse",
        type=Path,
        default=None,
        help="SQLite only: keep the filled portal in this file and start from a copy of it next time",
    )
    args = parser.parse_args()
    contacts_n, engagements_n = SIZES[args.size]
    rng = random.Random(7)
    now = START + SPAN
    config = KpiConfig()
    with tempfile.TemporaryDirectory() as tmp:
        if args.reuse and args.database_url:
            parser.error("--reuse keeps a SQLite file; it does not go with --database-url")
        if args.reuse and args.reuse.exists():
            shutil.copyfile(args.reuse, f"{tmp}/kpi.db")
        engine = open_store(args.database_url or f"sqlite:///{tmp}/kpi.db")
        begin = time.perf_counter()
        reused = bool(args.reuse and args.reuse.exists())
        if not reused:
            fill(engine, contacts_n, engagements_n, rng)
            if args.reuse:
                engine.dispose()
                shutil.copyfile(f"{tmp}/kpi.db", args.reuse)
        fill_s = time.perf_counter() - begin
        begin, cpu = time.perf_counter(), _cpu()
        first = refresh(engine, config, now, full=True)
        full_s, full_cpu = time.perf_counter() - begin, _cpu() - cpu
        begin, cpu = time.perf_counter(), _cpu()
        again = refresh(engine, config, now, full=True)
        full2_s, full2_cpu = time.perf_counter() - begin, _cpu() - cpu
        rounds = []
        for i in range(ROUNDS):  # each round changes another 1 % (the changes cost about the same every round)
            changed = change_one_percent(engine, random.Random(11 + i), now, i)
            begin, cpu = time.perf_counter(), _cpu()
            inc = refresh(engine, config, now)
            rounds.append((time.perf_counter() - begin, _cpu() - cpu, inc))
        inc_s, inc_cpu, inc = sorted(rounds, key=lambda r: r[0])[len(rounds) // 2]  # the median round
        incremental = _aggregates(engine)
        begin = time.perf_counter()
        refresh(engine, config, now, full=True)
        full3_s = time.perf_counter() - begin
        same = _aggregates(engine) == incremental
        with engine.connect() as conn:
            links = conn.execute(select(func.count()).select_from(repo.table(t.EngagementContact))).scalar()
        engine.dispose()
    figures = {
        "portal": {
            "contacts": contacts_n,
            "engagements": engagements_n,
            "engagement_links": links,
            "deals": contacts_n // 10,
            "owners": 40,
        },
        "database": (args.database_url or "sqlite").split(":")[0],
        "fill_seconds": None if reused else round(fill_s, 1),  # None: the portal came from --reuse
        "full_recompute": {
            "seconds": round(full_s, 2),
            "cpu_seconds": round(full_cpu, 2),
            "contacts": first.contacts,
            "aggregates": first.aggregates,
        },
        "full_recompute_again": {
            "seconds": round(full2_s, 2),
            "cpu_seconds": round(full2_cpu, 2),
            "changed": again.changed,
        },
        "incremental_after_1_percent": {
            "contacts_changed": changed,
            "rounds": ROUNDS,
            "seconds_each_round": [round(r[0], 3) for r in rounds],
            "seconds": round(inc_s, 2),  # the median round's
            "cpu_seconds": round(inc_cpu, 2),
            "contacts_recomputed": inc.contacts,
            "aggregates": inc.aggregates,
            # of the faster full run: the stricter ratio on a noisy machine
            "share_of_full": round(inc_s / min(full_s, full2_s), 3),
            # a third full recompute after the rounds: the rows must not move
            "equals_full_recompute": same,
            "full_recompute_after_seconds": round(full3_s, 2),
        },
        "peak_rss_mb": _rss_mb(),  # of this process, generating the portal included
    }
    print(json.dumps(figures, indent=2))
    suffix = "" if figures["database"] == "sqlite" else f"-{figures['database']}"
    out = Path("bench/results") / f"kpi-store-{args.size}{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
