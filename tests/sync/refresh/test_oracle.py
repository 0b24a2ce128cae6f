"""The store-backed cell engine (`sync.refresh`) against the oracle (`kpi.oracle`): same facts, same aggregates."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select

from kpi.facts import engagement_facts
from kpi.oracle import aggregate_all
from sandbox.harness import RunningSandbox
from sandbox.simulate import Simulator
from service.report import load_aggregates
from storage import repo
from storage import tables as t
from sync.refresh.cells import facts_from_json
from sync.refresh.inputs import (
    credit_deals,
    deal_facts,
    decision_makers,
    live_contacts,
    load_owners,
    touch_engagements,
)
from tests.helpers import cycle, settings_for

pytestmark = pytest.mark.slow


def _oracle(engine: Engine, store_url: str, sb: RunningSandbox) -> dict[tuple[str, str, str, str], object]:
    config = settings_for(sb, store_url).kpi_config()
    with engine.connect() as conn:
        stored = conn.execute(select(repo.table(t.ContactKpi).c.facts)).scalars()
        contacts = [facts_from_json(values) for values in stored if values]
        live = live_contacts(conn)
        calls, emails = engagement_facts(touch_engagements(conn, live), config)
        deciders = decision_makers(conn, config)
        linked = {d.deal_id: d.contact_ids for d in credit_deals(conn, None, live.__contains__)}
        deals = [d._replace(contact_ids=linked.get(d.deal_id, ())) for d in deal_facts(conn)]
        owners = load_owners(conn)
    return dict(aggregate_all(contacts, calls, emails, deals, owners, config=config, decision_makers=deciders))


def test_a_full_recompute_stores_exactly_the_oracles_aggregates(
    store: Engine, store_url: str, sandbox: RunningSandbox
) -> None:
    """After a first sync, every stored aggregate row equals the oracle's over the facts the store holds."""
    cycle(store, settings_for(sandbox, store_url, writeback_enabled=False))

    assert load_aggregates(store) == _oracle(store, store_url, sandbox)


def test_incremental_refreshes_keep_the_oracles_aggregates(
    store: Engine, store_url: str, sandbox: RunningSandbox
) -> None:
    """After an hour of simulated activity and one incremental cycle, the rows still equal the oracle's."""
    settings = settings_for(sandbox, store_url, writeback_enabled=False)
    cycle(store, settings)
    Simulator(sandbox.portal, 60, seed=7).run()
    cycle(store, settings)

    assert load_aggregates(store) == _oracle(store, store_url, sandbox)
