"""Write-back: the KPI values into HubSpot, only what changed, never marking written what HubSpot did not accept.

A ledger (`writeback_ledger`) holds the last value HubSpot accepted per contact and property; each cycle sends the
difference between the computed values and the ledger in batch updates of 100 contacts. A 207's failed contacts
stay pending and are retried next cycle. Per-owner monthly KPIs go to a `sales_kpi_snapshot` custom object where
the portal has custom objects.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, Select, select, update

from storage import repo
from storage import tables as t
from sync import state_keys
from sync.hubspot.client import HubSpotClient
from sync.hubspot.constants import BATCH_WRITE_SIZE
from sync.hubspot.errors import AuthError
from sync.json_fields import counter, texts, whole
from sync.properties import (
    CONTACT_PROPERTIES,
    PROPERTY_GROUP_DEF,
    SNAPSHOT_METRICS,
    SNAPSHOT_OBJECT,
    definitions_hash,
    snapshot_schema,
)
from sync.refresh import marks

log = structlog.get_logger(__name__)

CONTACT_KPIS = repo.table(t.ContactKpi)
LEDGER = repo.table(t.WriteLedger)
CONTACTS = repo.table(t.Contact)
UNAVAILABLE_RECHECK_MS = 86_400_000  # a portal without custom objects is asked again once a day


@dataclass
class PushStats:
    """What the write-back did."""

    write_calls: int = 0
    contacts_written: int = 0
    values_written: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    unchanged: int = 0
    created: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    snapshots_written: int = 0
    snapshot_calls: int = 0
    deleted_meanwhile: int = 0
    would_write_contacts: int = 0  # a dry run: contacts it would have written
    preview: list[dict[str, Any]] = field(default_factory=list, compare=False)  # a dry run's inputs, not stored

    def to_json(self) -> dict[str, Any]:
        """The `push` section of a run's stored counts (no preview)."""
        return {
            "write_calls": self.write_calls,
            "contacts_written": self.contacts_written,
            "values_written": self.values_written,
            "failed": dict(self.failed),
            "unchanged": self.unchanged,
            "schema_created": self.created,
            "schema_conflicts": self.conflicts,
            "snapshots_written": self.snapshots_written,
            "snapshot_calls": self.snapshot_calls,
            "deleted_meanwhile": self.deleted_meanwhile,
            "would_write_contacts": self.would_write_contacts,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PushStats:
        """Read back `to_json` (missing or odd entries read as zero)."""
        return cls(
            write_calls=whole(data.get("write_calls")),
            contacts_written=whole(data.get("contacts_written")),
            values_written=whole(data.get("values_written")),
            failed=counter(data.get("failed")),
            unchanged=whole(data.get("unchanged")),
            created=texts(data.get("schema_created")),
            conflicts=texts(data.get("schema_conflicts")),
            snapshots_written=whole(data.get("snapshots_written")),
            snapshot_calls=whole(data.get("snapshot_calls")),
            deleted_meanwhile=whole(data.get("deleted_meanwhile")),
            would_write_contacts=whole(data.get("would_write_contacts")),
        )


# -- schema ----------------------------------------------------------------------------------------------------
def ensure_schema(engine: Engine, client: HubSpotClient, stats: PushStats) -> set[str]:
    """Create the property group and properties that are missing; return the names that conflict (not written).

    Verified definitions are remembered, so a steady cycle spends no call on the schema.
    """
    marker = definitions_hash()
    with engine.connect() as conn:
        state = repo.get_state(conn, state_keys.CONTACT_SCHEMA) or {}
    if state.get("hash") == marker and not state.get("conflicts"):
        return set()
    groups = {g.get("name") for g in client.property_groups("contacts")}
    if PROPERTY_GROUP_DEF["name"] not in groups and client.create_property_group("contacts", PROPERTY_GROUP_DEF):
        stats.created.append(f"group:{PROPERTY_GROUP_DEF['name']}")
    existing = {p.get("name"): p for p in client.properties("contacts")}
    conflicts: set[str] = set()
    for definition in CONTACT_PROPERTIES:
        name = definition["name"]
        found = existing.get(name)
        if found is None:
            if client.create_property("contacts", definition):
                stats.created.append(name)
            continue
        if (found.get("type"), found.get("fieldType")) != (definition["type"], definition["fieldType"]):
            conflicts.add(name)
            log.warning(
                "property_conflict",
                property=name,
                expected=f"{definition['type']}/{definition['fieldType']}",
                found=f"{found.get('type')}/{found.get('fieldType')}",
            )
    stats.conflicts = sorted(conflicts)
    with engine.begin() as conn:
        repo.set_state(conn, state_keys.CONTACT_SCHEMA, {"hash": marker, "conflicts": sorted(conflicts)})
    return conflicts


# -- contact values --------------------------------------------------------------------------------------------
def write_back(
    engine: Engine, client: HubSpotClient | None, *, dry_run: bool = False, now_ms: int, stats: PushStats | None = None
) -> PushStats:
    """Send every pending difference (or, in a dry run, list it without sending)."""
    stats = stats or PushStats()
    skip: set[str] = set()
    if not dry_run:
        assert client is not None
        skip = ensure_schema(engine, client, stats)
    after = -1
    while True:
        with engine.connect() as conn:
            batch = _pending_batch(conn, after)
        if not batch:
            return stats
        after = batch[-1][0]
        inputs, unchanged = _diffs(batch, skip)
        stats.unchanged += len(unchanged)
        if dry_run:
            stats.preview.extend(inputs)
            stats.would_write_contacts += len(inputs)
            continue
        with engine.begin() as conn:
            _mark_done(conn, unchanged)
        if inputs:
            assert client is not None
            _send(engine, client, inputs, now_ms, stats)


def pending_query(after: int) -> Select[tuple[int, Any, Any, bool]]:
    """The next batch of contacts waiting to be written (ids above `after`), with their ledger and archive flag."""
    return (
        select(CONTACT_KPIS.c.contact_id, CONTACT_KPIS.c.properties, LEDGER.c.written, CONTACTS.c.archived)
        .select_from(
            CONTACT_KPIS.outerjoin(LEDGER, LEDGER.c.contact_id == CONTACT_KPIS.c.contact_id).outerjoin(
                CONTACTS, CONTACTS.c.id == CONTACT_KPIS.c.contact_id
            )
        )
        .where(CONTACT_KPIS.c.push_pending.is_(True), CONTACT_KPIS.c.contact_id > after)
        .order_by(CONTACT_KPIS.c.contact_id)
        .limit(BATCH_WRITE_SIZE)
    )


def _pending_batch(conn: Connection, after: int) -> list[tuple[int, dict[str, str], dict[str, str], bool]]:
    return [(r[0], dict(r[1] or {}), dict(r[2] or {}), bool(r[3])) for r in conn.execute(pending_query(after))]


def _diffs(
    batch: list[tuple[int, dict[str, str], dict[str, str], bool]], skip: set[str]
) -> tuple[list[dict[str, Any]], list[int]]:
    inputs: list[dict[str, Any]] = []
    unchanged: list[int] = []
    for contact_id, wanted, written, archived in batch:
        diff = {k: v for k, v in wanted.items() if k not in skip and written.get(k, "") != v}
        if archived or not diff:
            unchanged.append(contact_id)  # nothing to send (or nobody to send it to)
        else:
            inputs.append({"id": str(contact_id), "properties": diff})
    return inputs, unchanged


def _mark_done(conn: Connection, contact_ids: list[int]) -> None:
    if contact_ids:
        conn.execute(update(CONTACT_KPIS).where(CONTACT_KPIS.c.contact_id.in_(contact_ids)).values(push_pending=False))


def _send(engine: Engine, client: HubSpotClient, inputs: list[dict[str, Any]], now_ms: int, stats: PushStats) -> None:
    result = client.batch_update("contacts", inputs)
    stats.write_calls += 1
    accepted = {str(r.get("id")) for r in result.accepted}
    sent = {i["id"]: i["properties"] for i in inputs}
    with engine.begin() as conn:
        ledger = {
            r.contact_id: dict(r.written or {})
            for r in conn.execute(
                select(LEDGER.c.contact_id, LEDGER.c.written).where(LEDGER.c.contact_id.in_([int(i) for i in sent]))
            )
        }
        rows, errors = [], []
        for contact_id, props in sent.items():
            if contact_id in accepted and contact_id not in result.errors:
                merged = ledger.get(int(contact_id), {}) | props
                rows.append(
                    {"contact_id": int(contact_id), "written": merged, "written_at": now_ms, "last_error": None}
                )
                stats.values_written += len(props)
            else:
                category = result.errors.get(contact_id, "NOT_ACCEPTED")
                stats.failed[category] += 1
                errors.append(
                    {
                        "contact_id": int(contact_id),
                        "written": ledger.get(int(contact_id), {}),
                        "written_at": now_ms,
                        "last_error": category,
                    }
                )
        repo.upsert(conn, LEDGER, rows + errors)
        _mark_done(conn, [r["contact_id"] for r in rows])
    stats.contacts_written += len(rows)
    not_found = [cid for cid, category in result.errors.items() if category == "OBJECT_NOT_FOUND" and cid in sent]
    if not_found:
        _forget_deleted(engine, client, not_found, now_ms, stats)


def _forget_deleted(engine: Engine, client: HubSpotClient, ids: list[str], now_ms: int, stats: PushStats) -> None:
    """Contacts a write could not find: those HubSpot really no longer has (deleted or merged away since the last
    pull) are archived here at once, so they are not retried every cycle until the next reconcile; the others
    (a transient refusal) stay pending."""
    gone = sorted(int(i) for i in client.missing_ids("contacts", ids))
    if not gone:
        return
    with engine.begin() as conn:
        repo.set_archived(conn, t.Contact, ["id"], [(i,) for i in gone], True)
        marks.mark_dirty_contacts(conn, gone, now_ms)
        _mark_done(conn, gone)
    stats.deleted_meanwhile += len(gone)


# -- per-owner snapshots ---------------------------------------------------------------------------------------
def write_snapshots(engine: Engine, client: HubSpotClient, now_ms: int, stats: PushStats) -> None:
    """Upsert one `sales_kpi_snapshot` record per owner per month, where the portal has custom objects."""
    object_type = _snapshot_object(engine, client, now_ms)
    if object_type is None:
        return
    records = _snapshot_records(engine)
    with engine.connect() as conn:
        ledger = {r.snapshot_key: dict(r.written) for r in conn.execute(select(repo.table(t.SnapshotLedger)))}
    changed = [r for r in records if ledger.get(r["snapshot_key"]) != r]
    for start in range(0, len(changed), BATCH_WRITE_SIZE):
        part = changed[start : start + BATCH_WRITE_SIZE]
        inputs = [{"id": r["snapshot_key"], "idProperty": "snapshot_key", "properties": r} for r in part]
        result = client.batch_upsert(object_type, inputs)
        stats.snapshot_calls += 1
        failed = set(result.errors)
        done = [r for r in part if r["snapshot_key"] not in failed]
        with engine.begin() as conn:
            repo.upsert(
                conn,
                repo.table(t.SnapshotLedger),
                [{"snapshot_key": r["snapshot_key"], "written": r, "written_at": now_ms} for r in done],
            )
        stats.snapshots_written += len(done)


def _snapshot_object(engine: Engine, client: HubSpotClient, now_ms: int) -> str | None:
    with engine.connect() as conn:
        state = repo.get_state(conn, state_keys.SNAPSHOT_SCHEMA) or {}
    if state.get("object_type"):
        return str(state["object_type"])
    if state.get("unavailable_until", 0) > now_ms:
        return None
    try:
        schemas = client.schemas()
    except AuthError:
        log.info("snapshots_skipped", reason="the portal has no custom objects (schemas API answered 403)")
        with engine.begin() as conn:
            repo.set_state(conn, state_keys.SNAPSHOT_SCHEMA, {"unavailable_until": now_ms + UNAVAILABLE_RECHECK_MS})
        return None
    found = next((s for s in schemas if s.get("name") == SNAPSHOT_OBJECT), None) or client.create_schema(
        snapshot_schema()
    )
    if found is None:  # created concurrently by another worker: read it back
        found = next((s for s in client.schemas() if s.get("name") == SNAPSHOT_OBJECT), None)
    object_type = str((found or {}).get("objectTypeId") or "")
    if not object_type:
        return None
    with engine.begin() as conn:
        repo.set_state(conn, state_keys.SNAPSHOT_SCHEMA, {"object_type": object_type})
    return object_type


def _snapshot_records(engine: Engine) -> list[dict[str, str]]:
    agg = repo.table(t.KpiAggregate).c
    by_owner: dict[tuple[str, str], dict[str, str]] = {}
    with engine.connect() as conn:
        owners = {r.id: r for r in conn.execute(select(repo.table(t.Owner)))}
        rows = conn.execute(
            select(agg.kpi, agg.scope_id, agg.period, agg.metrics).where(agg.scope == "owner", agg.period != "all")
        )
        for kpi, owner_id, period, metrics in rows:
            owner = owners.get(owner_id)
            if owner is None:
                continue
            key = (owner_id, period)
            record = by_owner.setdefault(
                key,
                {
                    "snapshot_key": f"{owner_id}:{period}",
                    "owner_id": owner_id,
                    "period": period,
                    "owner_name": " ".join(p for p in (owner.first_name, owner.last_name) if p) or (owner.email or ""),
                    "team": (owner.team_names or [""])[0],
                },
            )
            for metric_kpi, metric, prop, _ in SNAPSHOT_METRICS:
                if metric_kpi == kpi:
                    value = (metrics or {}).get(metric)
                    record[prop] = "" if value is None else str(round(float(value), 4))
    return [by_owner[k] for k in sorted(by_owner)]
