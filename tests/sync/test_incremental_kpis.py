"""Incremental KPI refresh: after each kind of change HubSpot can make, the aggregates a cycle leaves are the ones a
recompute from scratch gives, and the change did move them.

Each case edits the sandbox portal directly (as a rep or an import would), runs one cycle, and compares the
aggregate rows with `refresh(full=True)` on the same store.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, select
from structlog.testing import capture_logs

from sandbox import content
from sandbox.constants import DISPOSITION_CONNECTED, DISPOSITION_NO_ANSWER
from sandbox.harness import RunningSandbox
from sandbox.objtypes import STANDARD
from sandbox.org import REPS, owner_id
from service.report import load_aggregates as aggregates
from service.settings import Settings
from storage import repo
from storage import tables as t
from sync.cycle import RunSummary
from sync.refresh.contacts import refresh
from tests.helpers import contact_values, cycle, settings_for

DAY_MS = 86_400_000
Rows = dict[tuple[str, str, str, str], dict[str, Any]]


def now_ms() -> int:
    return int(time.time() * 1000)


def props_of(sb: RunningSandbox, name: str, rid: int) -> dict[str, str]:
    props: dict[str, str] = orjson.loads(sb.portal.rows_by_id(STANDARD[name], [rid])[rid][5])
    return props


def edit(sb: RunningSandbox, name: str, rid: int, **changes: str) -> None:
    """Change some properties of a record, bumping its modification date."""
    sb.portal.update(STANDARD[name], rid, {**props_of(sb, name, rid), **changes}, now_ms())


def pick(sb: RunningSandbox, name: str, where: str = "") -> int:
    """The lowest live id of a type matching an SQL condition on its JSON properties."""
    ot = STANDARD[name]
    rows = sb.portal.query(f"SELECT id FROM {ot.table} WHERE archived = 0 {where} ORDER BY id LIMIT 1")
    assert rows, f"no {name} {where}"
    return int(rows[0][0])


def contacts_of(sb: RunningSandbox, name: str, rid: int) -> list[int]:
    return sb.portal.associated(STANDARD[name], [rid], STANDARD["contacts"]).get(rid, [])


def connected_call(sb: RunningSandbox) -> int:
    return pick(
        sb,
        "calls",
        f"AND json_extract(props, '$.hs_call_disposition') = '{DISPOSITION_CONNECTED}'"
        " AND json_extract(props, '$.hs_call_direction') = 'OUTBOUND'"
        " AND json_extract(props, '$.hubspot_owner_id') != ''",
    )


def new_call_to_two_contacts(sb: RunningSandbox) -> tuple[int, list[int]]:
    """A new connected call of the first rep, linked to two live contacts."""
    ot = STANDARD["calls"]
    rid = sb.portal.next_ids(ot, 1)[0]
    props = {
        "hs_timestamp": str(now_ms() - 3_600_000),
        "hs_call_direction": "OUTBOUND",
        "hs_call_disposition": DISPOSITION_CONNECTED,
        "hubspot_owner_id": owner_id(0),
    }
    sb.portal.create(ot, rid, props, now_ms())
    first = pick(sb, "contacts")
    two = [first, pick(sb, "contacts", f"AND id > {first}")]
    for contact in two:
        sb.portal.associate(ot, rid, STANDARD["contacts"], contact)
    return rid, two


# -- the changes --------------------------------------------------------------------------------------------------
def log_a_new_call(sb: RunningSandbox) -> None:
    new_call_to_two_contacts(sb)


def change_a_calls_outcome(sb: RunningSandbox) -> None:
    edit(sb, "calls", connected_call(sb), hs_call_disposition=DISPOSITION_NO_ANSWER)


def move_a_call_to_another_month(sb: RunningSandbox) -> None:
    call = connected_call(sb)
    when = datetime.fromisoformat(props_of(sb, "calls", call)["hs_timestamp"])
    edit(sb, "calls", call, hs_timestamp=(when - timedelta(days=45)).isoformat())


def give_a_call_to_another_rep(sb: RunningSandbox) -> None:
    call = connected_call(sb)
    other = next(
        owner_id(i)
        for i, r in enumerate(REPS)
        if owner_id(i) != props_of(sb, "calls", call)["hubspot_owner_id"] and not r.archived
    )
    edit(sb, "calls", call, hubspot_owner_id=other)


def archive_a_call(sb: RunningSandbox) -> None:
    sb.portal.archive(STANDARD["calls"], [connected_call(sb)], now_ms())


def archive_a_reached_contact(sb: RunningSandbox) -> None:
    sb.portal.archive(STANDARD["contacts"], contacts_of(sb, "calls", connected_call(sb))[:1], now_ms())


def make_a_reached_contact_a_decision_maker(sb: RunningSandbox) -> None:
    contact = contacts_of(sb, "calls", connected_call(sb))[0]
    edit(sb, "contacts", contact, hs_buying_role="DECISION_MAKER")


def move_a_contacts_sql_date(sb: RunningSandbox) -> None:
    contact = pick(sb, "contacts", "AND json_extract(props, '$.hs_lifecyclestage_salesqualifiedlead_date') IS NOT NULL")
    edit(sb, "contacts", contact, hs_lifecyclestage_salesqualifiedlead_date=str(now_ms() - 400 * DAY_MS))


def win_an_open_deal(sb: RunningSandbox) -> None:
    deal = pick(sb, "deals", "AND json_extract(props, '$.hs_is_closed') = 'false'")
    edit(
        sb, "deals", deal, dealstage="closedwon", hs_is_closed="true", hs_is_closed_won="true", closedate=str(now_ms())
    )


def create_a_deal_for_a_reached_contact(sb: RunningSandbox) -> None:
    contact = contacts_of(sb, "calls", connected_call(sb))[0]
    ot = STANDARD["deals"]
    rid = sb.portal.next_ids(ot, 1)[0]
    sb.portal.create(
        ot,
        rid,
        {
            "dealname": "new",
            "pipeline": "default",
            "dealstage": "appointmentscheduled",
            "hubspot_owner_id": owner_id(0),
        },
        now_ms(),
        now_ms(),
    )
    sb.portal.associate(ot, rid, STANDARD["contacts"], contact)


SIMPLE: list[Callable[[RunningSandbox], None]] = [
    log_a_new_call,
    change_a_calls_outcome,
    move_a_call_to_another_month,
    give_a_call_to_another_rep,
    archive_a_call,
    archive_a_reached_contact,
    make_a_reached_contact_a_decision_maker,
    move_a_contacts_sql_date,
    win_an_open_deal,
    create_a_deal_for_a_reached_contact,
]


@pytest.mark.parametrize("change", SIMPLE, ids=lambda f: f.__name__)
def test_one_change_refreshes_to_the_full_recompute(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str, change: Callable[[RunningSandbox], None]
) -> None:
    """After one kind of change and one cycle (reconciling, for what only a list pass sees), the aggregates are
    those of a recompute from scratch, and differ from before the change."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    cycle(sqlite_store, settings)
    before = aggregates(sqlite_store)
    change(sandbox)
    cycle_matches_full_recompute(sqlite_store, settings, before)


def test_dropping_one_contact_of_a_call_refreshes_to_the_full_recompute(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """A call that loses one of its two contacts (only the association changes, not the call) stops counting that
    contact as reached, on both databases."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    call, two = new_call_to_two_contacts(sandbox)
    cycle(store, settings)
    before = aggregates(store)
    sandbox.portal.dissociate(STANDARD["calls"], call, STANDARD["contacts"], two[0])
    summary = cycle_matches_full_recompute(store, settings, before)
    assert summary.counts.pull.relinked["calls"] == 1


def test_a_changed_pipeline_stage_moves_the_deals_that_take_their_outcome_from_it(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A deal without closed/won flags takes its outcome from its stage's metadata: when that stage becomes a won
    stage, the deal counts as won at the next cycle although the deal itself did not change."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    deal = pick(sandbox, "deals", "AND json_extract(props, '$.hs_is_closed') = 'false'")
    stage = props_of(sandbox, "deals", deal)["dealstage"]
    edit(sandbox, "deals", deal, hs_is_closed="", hs_is_closed_won="", closedate=str(now_ms()))
    cycle(sqlite_store, settings)
    before = aggregates(sqlite_store)
    for pipeline in sandbox.portal.directory.pipelines:
        for s in pipeline["stages"]:
            if s["id"] == stage:
                s["metadata"] = {"isClosed": "true", "probability": "1.0"}
    cycle_matches_full_recompute(sqlite_store, settings, before)
    assert sum(r["deals_won"] for k, r in aggregates(sqlite_store).items() if k[:2] == ("K5", "portal")) > sum(
        r["deals_won"] for k, r in before.items() if k[:2] == ("K5", "portal")
    )


def test_a_contact_given_to_a_new_rep_and_back_leaves_no_empty_rows(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A rep who held one contact for a while and lost it again has no K2/K3 rows left: the counts taken out of the
    rep's cells leave nothing behind (no rows of zeros), as in a recompute from scratch."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    contact = contacts_of(sandbox, "calls", connected_call(sandbox))[0]
    owner = props_of(sandbox, "contacts", contact).get("hubspot_owner_id", "")
    newcomer = "9999001"  # an owner id that owns nothing
    cycle(sqlite_store, settings)
    edit(sandbox, "contacts", contact, hubspot_owner_id=newcomer)
    cycle(sqlite_store, settings, reconcile=True)
    assert any(key[1:3] == ("owner", newcomer) for key in aggregates(sqlite_store))
    before = aggregates(sqlite_store)
    edit(sandbox, "contacts", contact, hubspot_owner_id=owner)
    cycle_matches_full_recompute(sqlite_store, settings, before)
    assert not any(key[1:3] == ("owner", newcomer) for key in aggregates(sqlite_store))


def cycle_matches_full_recompute(engine: Engine, settings: Settings, before: Rows) -> RunSummary:
    """Run a reconciling cycle; its aggregates must equal a recompute from scratch and differ from `before`."""
    summary = cycle(engine, settings, reconcile=True)
    incremental = aggregates(engine)
    refresh(engine, settings.kpi_config(), now_ms(), full=True)
    assert incremental == aggregates(engine)
    assert incremental != before
    return summary


def send_an_email_with_a_content_link(sb: RunningSandbox) -> None:
    contact = contacts_of(sb, "calls", connected_call(sb))[0]
    text, html = content.email_bodies(random.Random(1), "Ann", "Sanne", True)
    ot = STANDARD["emails"]
    rid = sb.portal.next_ids(ot, 1)[0]
    props = {
        "hs_timestamp": str(now_ms() - 60_000),
        "hs_email_direction": "EMAIL",
        "hs_email_status": "SENT",
        "hs_email_subject": "As promised",
        "hs_email_text": text,
        "hs_email_html": html,
        "hubspot_owner_id": owner_id(0),
    }
    sb.portal.create(ot, rid, props, now_ms())
    sb.portal.associate(ot, rid, STANDARD["contacts"], contact)


def make_a_lead_sales_qualified(sb: RunningSandbox) -> None:
    contact = pick(sb, "contacts", "AND json_extract(props, '$.lifecyclestage') = 'lead'")
    edit(
        sb,
        "contacts",
        contact,
        lifecyclestage="salesqualifiedlead",
        hs_lifecyclestage_salesqualifiedlead_date=str(now_ms() - 60_000),
    )


# Changes the incremental search path sees: the changed record's modification date moves. Archiving a call or a
# contact and dropping a contact from a call are seen by the reconcile only (search never serves archived records,
# and an association change leaves the record's modification date alone), so they are covered above, with one.
SEARCHED: list[Callable[[RunningSandbox], None]] = [
    log_a_new_call,
    give_a_call_to_another_rep,
    send_an_email_with_a_content_link,
    make_a_lead_sales_qualified,
    win_an_open_deal,
]


@pytest.mark.parametrize("change", SEARCHED, ids=lambda f: f.__name__)
def test_one_searched_change_refreshes_to_the_full_recompute_without_a_reconcile(
    sandbox: RunningSandbox, store: Engine, store_url: str, change: Callable[[RunningSandbox], None]
) -> None:
    """After one change that search serves and one plain incremental cycle (no list pass, no recompute in full),
    the aggregates and every contact's values are those of a recompute from scratch, on both databases."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    before = aggregates(store), contact_values(store)
    change(sandbox)
    summary = cycle(store, settings)
    incremental = aggregates(store), contact_values(store)
    assert [k for k in summary.counts.pull.pages if not k.startswith("search:")] == []
    assert summary.counts.redone_in_full is False
    refresh(store, settings.kpi_config(), now_ms(), full=True)
    assert (aggregates(store), contact_values(store)) == incremental
    assert incremental != before


def test_a_changed_kpi_configuration_recounts_everything(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Counting no-answer calls as connected changes every reach figure at the next cycle, with no data change."""
    settings = settings_for(sandbox, sqlite_url, writeback_enabled=False)
    cycle(sqlite_store, settings)
    before = aggregates(sqlite_store)
    wider = settings_for(
        sandbox,
        sqlite_url,
        writeback_enabled=False,
        kpi_connected_dispositions=[DISPOSITION_CONNECTED, DISPOSITION_NO_ANSWER],
    )
    cycle(sqlite_store, wider)
    after = aggregates(sqlite_store)
    portal_all = ("K1", "portal", "portal", "all")
    assert after[portal_all]["connected_calls"] > before[portal_all]["connected_calls"]
    refresh(sqlite_store, wider.kpi_config(), now_ms(), full=True)
    assert aggregates(sqlite_store) == after


def test_a_full_recompute_shared_with_a_second_process_gives_the_same_rows(
    sandbox: RunningSandbox, store: Engine, store_url: str
) -> None:
    """With a spawned helper counting the call and email cells and computing the upper ids' contacts beside this
    process, a full recompute stores the very contact values and aggregate rows a single process does, on both
    databases."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    now = now_ms()
    refresh(store, settings.kpi_config(), now, full=True, parallel_from=10**9)
    alone = aggregates(store), contact_rows(store)
    with capture_logs() as logs:
        refresh(store, settings.kpi_config(), now, full=True, parallel_from=0)
    assert (aggregates(store), contact_rows(store)) == alone
    assert [e for e in logs if e["event"] == "kpi_helper_failed"] == []


def contact_rows(engine: Engine) -> dict[int, tuple[Any, ...]]:
    """Every contact's stored values, facts, recheck time and pending flag."""
    k = repo.table(t.ContactKpi).c
    with engine.connect() as conn:
        rows = conn.execute(select(k.contact_id, k.properties, k.facts, k.recheck_at, k.push_pending))
        return {r[0]: tuple(r[1:]) for r in rows}
