"""Write-back: the KPI values into HubSpot, only what changed, never marking written what HubSpot did not accept.

A ledger (`writeback_ledger`) holds the last value HubSpot accepted per contact and property; each cycle sends the
difference between the computed values and the ledger in batch updates of 100 contacts. A 207's failed contacts
stay pending and are retried next cycle. Contacts HubSpot's validation rules refuse (a 400 or a 207
`VALIDATION_ERROR`) are isolated so that the rest of their batch is written (`Writer.send`), and held back until
their values change or the back-off passes (`sync.refusals`). Per-owner monthly KPIs go to a `sales_kpi_snapshot`
custom object where the portal has custom objects.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import structlog
from sqlalchemy import Connection, Engine, Select, select, update

from storage import repo
from storage import tables as t
from sync import inflight, own_writes, refusals, state_keys
from sync.clock import now_ms
from sync.config import WriteConfig
from sync.hubspot.client import BatchResult, HubSpotClient, safe_message
from sync.hubspot.constants import BATCH_WRITE_SIZE
from sync.hubspot.errors import VALIDATION_ERROR, AuthError, RequestError
from sync.json_fields import counter, messages, texts, whole
from sync.preview import WritePreview
from sync.progress import Progress
from sync.properties import (
    CONTACT_PROPERTIES,
    PROPERTY_GROUP_DEF,
    SNAPSHOT_METRICS,
    SNAPSHOT_OBJECT,
    definitions_hash,
    differences,
    snapshot_schema,
)
from sync.refresh import marks
from sync.refusals import REFUSED_LISTED

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
    would_write_values: int = 0  # a dry run: property values it would have changed
    refused: dict[str, str] = field(default_factory=dict)  # contact id -> HubSpot's message, the first REFUSED_LISTED
    refused_total: int = 0  # contacts HubSpot's validation rules refused in this run
    held: int = 0  # contacts refused earlier, not sent: same values, back-off not passed
    preview: WritePreview = field(default_factory=WritePreview, compare=False)  # a dry run's old -> new, not stored

    def refuse(self, contact_id: str, message: str) -> None:
        """Count one contact HubSpot's validation rules refused; list it while fewer than REFUSED_LISTED are."""
        self.refused_total += 1
        if len(self.refused) < REFUSED_LISTED:
            self.refused[contact_id] = message

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
            "would_write_values": self.would_write_values,
            "refused": dict(self.refused),
            "refused_total": self.refused_total,
            "held": self.held,
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
            would_write_values=whole(data.get("would_write_values")),
            refused=messages(data.get("refused")),
            refused_total=whole(data.get("refused_total")),
            held=whole(data.get("held")),
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
        # Adopted only when it is the property kpi-sync would create, in its own group (another team's
        # `kpi_*` property, or one whose enumeration has other options, is never written).
        if differs := differences(found, definition):
            conflicts.add(name)
            log.warning("property_conflict", property=name, differences=differs)
    stats.conflicts = sorted(conflicts)
    with engine.begin() as conn:
        repo.set_state(conn, state_keys.CONTACT_SCHEMA, {"hash": marker, "conflicts": sorted(conflicts)})
    return conflicts


# -- contact values --------------------------------------------------------------------------------------------
def write_back(
    engine: Engine,
    client: HubSpotClient | None,
    *,
    dry_run: bool = False,
    now_ms: int,
    stats: PushStats | None = None,
    config: WriteConfig | None = None,
    progress: Progress | None = None,
) -> PushStats:
    """Send every pending difference (or, in a dry run, add it to `stats.preview`, old -> new, without sending or
    asking HubSpot anything); contacts whose very values HubSpot refused less than `config.refused_retry_hours` ago
    are held back (still pending). Between batches `progress` hears of each one, and a stop asked for there ends the
    write-back (what was sent is in the ledger)."""
    stats = stats or PushStats()
    progress = progress or Progress()
    retry_ms = (config or WriteConfig()).refused_retry_ms
    if dry_run:
        skip = _known_conflicts(engine)
    else:
        assert client is not None
        skip = ensure_schema(engine, client, stats)
    batches = _batches_to_send(
        engine, skip, stats, dry_run=dry_run, now_ms=now_ms, retry_ms=retry_ms, progress=progress
    )
    if dry_run:
        for inputs, written in batches:
            _preview(stats, inputs, written)
        return stats
    assert client is not None
    writer = Writer(engine, client, now_ms, stats)
    # Up to `max_in_flight` batch updates travel at once; what HubSpot made of each is recorded here, on this thread.
    sends = (inputs for inputs, _ in batches)
    for inputs, outcome in inflight.mapped(writer.call, sends, client.max_in_flight):
        writer.handle(inputs, outcome)
    return stats


def _batches_to_send(
    engine: Engine,
    skip: set[str],
    stats: PushStats,
    *,
    dry_run: bool,
    now_ms: int,
    retry_ms: int,
    progress: Progress,
) -> Iterator[tuple[list[dict[str, Any]], dict[int, Mapping[str, str]]]]:
    """The pending contacts' inputs, a batch at a time, with what the ledger says HubSpot was last given; contacts
    with nothing to send are marked done (not in a dry run), those held back after a refusal stay pending. Read on
    the cycle's thread: between batches `progress` hears of each one and may stop the write-back."""
    after = -1
    while True:
        progress.boundary()
        with engine.connect() as conn:
            batch = _pending_batch(conn, after)
        if not batch:
            return
        after = batch[-1].contact_id
        inputs, unchanged, held = _diffs(batch, skip, now_ms=now_ms, retry_ms=retry_ms)
        stats.unchanged += len(unchanged)
        stats.held += held
        progress.page("contacts", len(batch))
        if not dry_run:
            with engine.begin() as conn:
                _mark_done(conn, unchanged)
        if inputs:
            yield inputs, {row.contact_id: row.written for row in batch}


def _known_conflicts(engine: Engine) -> set[str]:
    """The properties the last real write-back found held by other definitions (a dry run does not ask HubSpot)."""
    with engine.connect() as conn:
        state = repo.get_state(conn, state_keys.CONTACT_SCHEMA) or {}
    return set(texts(state.get("conflicts")))


def _preview(stats: PushStats, inputs: list[dict[str, Any]], written: Mapping[int, Mapping[str, str]]) -> None:
    """A dry run's batch: each input's values against what the ledger says HubSpot was last given."""
    for item in inputs:
        contact_id = int(item["id"])
        stats.preview.add(contact_id, item["properties"], written[contact_id])
        stats.would_write_contacts += 1
        stats.would_write_values += len(item["properties"])


class Pending(NamedTuple):
    """A contact waiting to be written: its computed values, the ledger's, and the ledger's last refusal."""

    contact_id: int
    wanted: dict[str, str]
    written: dict[str, str]
    archived: bool
    refused_at: int | None
    refused_hash: str | None


def pending_query(after: int) -> Select[tuple[int, Any, Any, bool, int | None, str | None]]:
    """The next batch of contacts waiting to be written (ids above `after`), with their ledger and archive flag."""
    return (
        select(
            CONTACT_KPIS.c.contact_id,
            CONTACT_KPIS.c.properties,
            LEDGER.c.written,
            CONTACTS.c.archived,
            LEDGER.c.refused_at,
            LEDGER.c.refused_hash,
        )
        .select_from(
            CONTACT_KPIS.outerjoin(LEDGER, LEDGER.c.contact_id == CONTACT_KPIS.c.contact_id).outerjoin(
                CONTACTS, CONTACTS.c.id == CONTACT_KPIS.c.contact_id
            )
        )
        .where(CONTACT_KPIS.c.push_pending.is_(True), CONTACT_KPIS.c.contact_id > after)
        .order_by(CONTACT_KPIS.c.contact_id)
        .limit(BATCH_WRITE_SIZE)
    )


def _pending_batch(conn: Connection, after: int) -> list[Pending]:
    return [
        Pending(r[0], dict(r[1] or {}), dict(r[2] or {}), bool(r[3]), r[4], r[5])
        for r in conn.execute(pending_query(after))
    ]


def _diffs(
    batch: list[Pending], skip: set[str], *, now_ms: int, retry_ms: int
) -> tuple[list[dict[str, Any]], list[int], int]:
    """The inputs to send, the contacts with nothing to send, and how many were held back after a refusal."""
    inputs: list[dict[str, Any]] = []
    unchanged: list[int] = []
    held = 0
    for row in batch:
        diff = {k: v for k, v in row.wanted.items() if k not in skip and row.written.get(k, "") != v}
        if row.archived or not diff:
            unchanged.append(row.contact_id)  # nothing to send (or nobody to send it to)
        elif refusals.held_back(row.refused_at, row.refused_hash, diff, now_ms=now_ms, retry_ms=retry_ms):
            held += 1  # still pending: sent again once its values change or the back-off passes
        else:
            inputs.append({"id": str(row.contact_id), "properties": diff})
    return inputs, unchanged, held


def _mark_done(conn: Connection, contact_ids: list[int]) -> None:
    if contact_ids:
        conn.execute(update(CONTACT_KPIS).where(CONTACT_KPIS.c.contact_id.in_(contact_ids)).values(push_pending=False))


def split(inputs: list[dict[str, Any]], named: Mapping[str, str]) -> tuple[list[dict[str, Any]], list[list[Any]]]:
    """How a batch that HubSpot refused whole (400 VALIDATION_ERROR) is taken apart: (the inputs now known to be
    refused, the batches to send next). A single input is refused; inputs the answer names are refused and the rest
    is sent again as one batch; when it names none of them, the batch is cut in halves."""
    if len(inputs) == 1:
        return inputs, []
    refused = [i for i in inputs if i["id"] in named]
    if refused:
        rest = [i for i in inputs if i["id"] not in named]
        return refused, [rest] if rest else []
    half = (len(inputs) + 1) // 2
    return [], [inputs[:half], inputs[half:]]


@dataclass
class Writer:
    """Sends batches of contact values and records what HubSpot made of each call, in the ledger, at once, with
    the interval its writes moved contacts' modification times in (`sync.own_writes`)."""

    engine: Engine
    client: HubSpotClient
    now_ms: int
    stats: PushStats
    first_sent: int | None = None  # when the first batch update left (epoch ms)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def send(self, inputs: list[dict[str, Any]], *, trust_names: bool = True) -> None:
        """One batch update, and what it takes to write every input HubSpot's validation rules do not refuse.

        A 400 VALIDATION_ERROR refuses the whole batch. When it names the refused inputs (`errors[].context.ids`),
        the batch is sent again without them: at most 1 extra call per refused batch. When it names none of them,
        or the batch sent again is refused too (then names are no longer trusted), the batch is bisected down to
        single inputs: with r refused inputs among n, each level of halving sends at most 2r batches, so at most
        2·r·⌈log2 n⌉ extra calls (14·r for n = 100; plus the resend it follows, if any), and never more than
        2n - 2. A 207 refuses inputs one by one: no extra call. Any other 4xx raises as before.
        """
        self.handle(inputs, self.call(inputs), trust_names=trust_names)

    def call(self, inputs: list[dict[str, Any]]) -> BatchResult | RequestError:
        """The batch update itself (safe on a sending thread: no store access): HubSpot's result, or the
        VALIDATION_ERROR that refused the whole batch; any other error raises."""
        sent = now_ms()
        with self._lock:  # batches leave from several threads: the earliest counts
            self.first_sent = sent if self.first_sent is None else min(self.first_sent, sent)
        try:
            return self.client.batch_update("contacts", inputs)
        except RequestError as err:
            if err.category != VALIDATION_ERROR:
                raise
            return err

    def handle(
        self, inputs: list[dict[str, Any]], outcome: BatchResult | RequestError, *, trust_names: bool = True
    ) -> None:
        """Record what HubSpot made of one batch update (`call`'s outcome), on the thread that owns the store."""
        self.stats.write_calls += 1
        if isinstance(outcome, RequestError):
            self._isolate(inputs, outcome, trust_names=trust_names)
            return
        result = outcome
        accepted = {str(r.get("id")) for r in result.accepted} - set(result.errors)
        refused = {i: result.messages.get(i, "") for i, c in result.errors.items() if c == VALIDATION_ERROR}
        failed = {i: c for i, c in result.errors.items() if c != VALIDATION_ERROR}
        self._record(inputs, accepted, refused, failed)
        sent = {i["id"] for i in inputs}
        not_found = [i for i, category in failed.items() if category == "OBJECT_NOT_FOUND" and i in sent]
        if not_found:
            _forget_deleted(self.engine, self.client, not_found, self.now_ms, self.stats)

    def _isolate(self, inputs: list[dict[str, Any]], err: RequestError, *, trust_names: bool) -> None:
        refused, parts = split(inputs, err.refused if trust_names else {})
        fallback = safe_message(err)  # a 400 that names no input: its own message
        self._record(refused, set(), {i["id"]: err.refused.get(i["id"]) or fallback for i in refused}, {})
        for part in parts:
            self.send(part, trust_names=False)

    def _record(
        self, inputs: list[dict[str, Any]], accepted: set[str], refused: Mapping[str, str], failed: Mapping[str, str]
    ) -> None:
        """Ledger rows for the inputs of one call: accepted values merged in; refused ones remembered with HubSpot's
        message and their values' fingerprint (held back, still pending); other errors by category (retried next
        cycle)."""
        if not inputs:
            return
        sent = {i["id"]: i["properties"] for i in inputs}
        done: list[int] = []
        with self.engine.begin() as conn:
            ids = [int(i) for i in sent]
            ledger = {r.contact_id: r for r in conn.execute(select(LEDGER).where(LEDGER.c.contact_id.in_(ids)))}
            rows = []
            for contact_id, props in sent.items():
                old = ledger.get(int(contact_id))
                row = _ledger_row(int(contact_id), old, self.now_ms)
                if contact_id in accepted:
                    row["written"] |= props
                    self.stats.values_written += len(props)
                    done.append(int(contact_id))
                elif contact_id in refused:
                    row |= _refusal(refused[contact_id], props, self.now_ms)
                    self.stats.refuse(contact_id, refused[contact_id])
                else:
                    row["last_error"] = failed.get(contact_id, "NOT_ACCEPTED")
                    row |= _kept_refusal(old)
                    self.stats.failed[row["last_error"]] += 1
                rows.append(row)
            repo.upsert(conn, LEDGER, rows)
            _mark_done(conn, done)
            assert self.first_sent is not None  # a call's outcome is recorded after the call
            own_writes.record(conn, self.first_sent, now_ms())
        self.stats.contacts_written += len(done)


def _ledger_row(contact_id: int, old: Any, now_ms: int) -> dict[str, Any]:
    """A contact's ledger row after a call, before its outcome is known: the values HubSpot holds, no error."""
    written = dict(old.written or {}) if old is not None else {}
    return {"contact_id": contact_id, "written": written, "written_at": now_ms, "last_error": None} | _kept_refusal(
        None
    )


def _refusal(message: str, props: Mapping[str, str], now_ms: int) -> dict[str, Any]:
    fields = {"refused_at": now_ms, "refused_message": message, "refused_hash": refusals.fingerprint(props)}
    return {"last_error": VALIDATION_ERROR} | fields


def _kept_refusal(old: Any) -> dict[str, Any]:
    """The refusal an earlier call recorded (none for a new row): a transient error does not forget it."""
    return {name: getattr(old, name, None) for name in ("refused_at", "refused_message", "refused_hash")}


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
