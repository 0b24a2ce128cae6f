"""Other teams' `kpi_*` properties are never taken over: kpi-sync adopts only the property it would create."""

from __future__ import annotations

import time

import orjson
from sqlalchemy import Engine

from sandbox.harness import RunningSandbox
from sandbox.objtypes import STANDARD
from sync.cycle import CycleOptions, run_cycle
from sync.hubspot.client import HubSpotClient
from sync.properties import CONTACT_PROPERTIES
from sync.runs import RunOutcome
from tests.helpers import cycle, settings_for

SALES_OPS = {"name": "sales_ops", "label": "Sales Ops", "displayOrder": 5}


def _definition(name: str) -> dict[str, object]:
    return next(dict(p) for p in CONTACT_PROPERTIES if p["name"] == name)


def _set_everywhere(sb: RunningSandbox, name: str, value: str) -> None:
    """Give every contact in HubSpot this value (as Sales Ops' own process would)."""
    contacts = STANDARD["contacts"]
    ids = [int(r[0]) for r in sb.portal.query(f"SELECT id FROM {contacts.table} WHERE archived = 0")]
    now = int(time.time() * 1000)
    for rid, row in sb.portal.rows_by_id(contacts, ids).items():
        sb.portal.update(contacts, rid, {**orjson.loads(row[5]), name: value}, now)


def _values(sb: RunningSandbox, name: str) -> set[str | None]:
    return {r["properties"].get(name) for r in sb.export("contacts") if not r.get("archived")}


def test_a_same_typed_property_of_another_group_keeps_its_values(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Sales Ops' own `kpi_sales_touches` (a number in their group) is not written; the run says so, partial."""
    settings = settings_for(sandbox, sqlite_url)
    client = HubSpotClient(settings.hubspot_config())
    client.create_property_group("contacts", SALES_OPS)
    client.create_property("contacts", _definition("kpi_sales_touches") | {"groupName": "sales_ops"})
    _set_everywhere(sandbox, "kpi_sales_touches", "777")

    summary = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions())

    assert _values(sandbox, "kpi_sales_touches") == {"777"}
    assert summary.counts.push.conflicts == ["kpi_sales_touches"]
    assert summary.outcome is RunOutcome.PARTIAL
    assert "kpi_sales_touches" in (summary.error or "")
    assert len(_values(sandbox, "kpi_outbound_calls")) > 2  # the other eleven are written as usual


def test_an_enumeration_with_other_options_is_never_written(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """A `kpi_followup_status` whose options are not kpi-sync's would refuse every write: it is left alone."""
    settings = settings_for(sandbox, sqlite_url)
    client = HubSpotClient(settings.hubspot_config())
    options = [
        {"label": "Hot", "value": "hot", "displayOrder": 0},
        {"label": "Cold", "value": "cold", "displayOrder": 1},
    ]
    client.create_property_group("contacts", SALES_OPS)
    client.create_property(
        "contacts", _definition("kpi_followup_status") | {"groupName": "sales_ops", "options": options}
    )

    summary = run_cycle(sqlite_store, settings.cycle_config(), CycleOptions())

    assert _values(sandbox, "kpi_followup_status") <= {None, ""}
    assert summary.counts.push.conflicts == ["kpi_followup_status"]
    assert summary.counts.push.failed == {}
    assert summary.outcome is RunOutcome.PARTIAL


def test_kpi_syncs_own_properties_are_adopted_by_a_second_install(
    sandbox: RunningSandbox, sqlite_store: Engine, sqlite_url: str
) -> None:
    """Properties exactly as kpi-sync creates them (its group, type and options) are its own: written, run ok."""
    settings = settings_for(sandbox, sqlite_url)
    cycle(sqlite_store, settings)  # creates the group and the twelve
    summary = cycle(sqlite_store, settings)

    assert summary.counts.push.conflicts == []
    assert summary.outcome is RunOutcome.OK
