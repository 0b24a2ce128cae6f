"""The store's tables: HubSpot records as the KPIs need them, sync state, KPI results and the write-back ledger.

Times are epoch milliseconds (UTC) in BIGINT columns, as HubSpot reports them; ids of CRM records are integers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Index
from sqlmodel import Field, SQLModel


def _ms(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_type=BigInteger, index=index, nullable=nullable)


class Owner(SQLModel, table=True):
    """A HubSpot owner (sales rep), archived ones included so old activity still resolves."""

    __tablename__ = "owners"
    id: str = Field(primary_key=True)
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    user_id: int | None = Field(default=None, sa_type=BigInteger)
    archived: bool = False
    team_ids: list[str] = Field(default_factory=list, sa_type=JSON)
    team_names: list[str] = Field(default_factory=list, sa_type=JSON)


class DealStage(SQLModel, table=True):
    """A deal pipeline stage with the metadata that says closed and won."""

    __tablename__ = "deal_stages"
    pipeline_id: str = Field(primary_key=True)
    stage_id: str = Field(primary_key=True)
    label: str = ""
    is_closed: bool = False
    probability: float | None = None


class Contact(SQLModel, table=True):
    """A contact with the properties the KPIs read."""

    __tablename__ = "contacts"
    id: int = Field(primary_key=True, sa_type=BigInteger)
    owner_id: str | None = None
    createdate: int | None = _ms()
    lifecyclestage: str | None = None
    lead_date: int | None = _ms()
    sql_date: int | None = _ms()
    opportunity_date: int | None = _ms()
    customer_date: int | None = _ms()
    buying_role: str | None = None
    modified_at: int | None = _ms()
    seen_at: int | None = _ms()  # start of the last list pass that saw this record (deletion reconcile)
    archived: bool = False
    extra: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class Deal(SQLModel, table=True):
    """A deal with owner, dates and stage."""

    __tablename__ = "deals"
    id: int = Field(primary_key=True, sa_type=BigInteger)
    owner_id: str | None = None
    createdate: int | None = _ms()
    closedate: int | None = _ms()
    pipeline: str | None = None
    dealstage: str | None = None
    is_closed_won: bool | None = None
    is_closed: bool | None = None
    modified_at: int | None = _ms()
    seen_at: int | None = _ms()  # start of the last list pass that saw this record (deletion reconcile)
    archived: bool = False
    extra: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class Engagement(SQLModel, table=True):
    """A call, email, meeting, note or task. Email bodies are reduced to the URLs they contain (kpi-spec D7)."""

    __tablename__ = "engagements"
    # The KPI refresh re-reads the calls and emails of the months that changed: (type, timestamp) finds them.
    __table_args__ = (Index("ix_engagements_type_timestamp", "type", "timestamp"),)
    type: str = Field(primary_key=True)  # call | email | meeting | note | task
    id: int = Field(primary_key=True, sa_type=BigInteger)
    timestamp: int | None = _ms()
    owner_id: str | None = None
    call_direction: str | None = None
    call_disposition: str | None = None
    email_direction: str | None = None
    meeting_outcome: str | None = None
    urls: list[str] | None = Field(default=None, sa_type=JSON)
    modified_at: int | None = _ms()
    seen_at: int | None = _ms()  # start of the last list pass that saw this record (deletion reconcile)
    archived: bool = False
    extra: dict[str, Any] | None = Field(default=None, sa_type=JSON)


class EngagementContact(SQLModel, table=True):
    """Association engagement -> contact."""

    __tablename__ = "engagement_contacts"
    # A contact's engagements are found from this index alone (it holds the whole link), then joined by key.
    __table_args__ = (Index("ix_engagement_contacts_contact_link", "contact_id", "engagement_type", "engagement_id"),)
    engagement_type: str = Field(primary_key=True)
    engagement_id: int = Field(primary_key=True, sa_type=BigInteger)
    contact_id: int = Field(primary_key=True, sa_type=BigInteger)


class DealContact(SQLModel, table=True):
    """Association deal -> contact."""

    __tablename__ = "deal_contacts"
    __table_args__ = (Index("ix_deal_contacts_contact", "contact_id"),)
    deal_id: int = Field(primary_key=True, sa_type=BigInteger)
    contact_id: int = Field(primary_key=True, sa_type=BigInteger)


class SyncCursor(SQLModel, table=True):
    """Where the pull of one object type stands; committed with each page so a killed run resumes exactly.

    A list pass (the first full load, later a reconcile) keeps its cursor `list_after` and start `list_started_at`.
    Incremental: every change with modification time < `high_water` has been read (or set aside until it settles:
    kpi-sync's own write-back). A search chain in progress keeps its window (`window_lo`, `window_hi`), the ranges
    inside it not read (`window_skips`) and keyset position (`key_id`); `settled`: every change modified before it
    was read when the search index already held it. A list pass read side by side in id ranges keeps each range's
    position in `list_shards`.
    """

    __tablename__ = "sync_cursors"
    object_type: str = Field(primary_key=True)
    phase: str = "full"  # full | incremental
    list_after: str | None = None
    list_started_at: int | None = _ms()
    high_water: int | None = _ms()
    window_lo: int | None = _ms()
    window_hi: int | None = _ms()
    key_id: int | None = Field(default=None, sa_type=BigInteger)
    settled: int | None = _ms()
    window_skips: list[list[int]] | None = Field(default=None, sa_type=JSON)
    window_ranges: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
    list_shards: list[dict[str, Any]] | None = Field(default=None, sa_type=JSON)
    last_reconciled_at: int | None = _ms()
    updated_at: int | None = _ms()


class DirtyContact(SQLModel, table=True):
    """A contact whose KPI values must be recomputed (its data, or an engagement linked now or before, changed)."""

    __tablename__ = "dirty_contacts"
    contact_id: int = Field(primary_key=True, sa_type=BigInteger)
    marked_at: int | None = _ms()


class DirtyDeal(SQLModel, table=True):
    """A deal that changed since the last KPI refresh (it feeds K1 opportunities and the deal win rate)."""

    __tablename__ = "dirty_deals"
    deal_id: int = Field(primary_key=True, sa_type=BigInteger)
    marked_at: int | None = _ms()


class DirtyTouchDay(SQLModel, table=True):
    """A UTC day (days since 1970-01-01) and an owner with a call or email whose KPI inputs changed since the last
    refresh: that owner's K1 and K4 cells of the months around the day are recounted."""

    __tablename__ = "dirty_touch_days"
    day: int = Field(primary_key=True, sa_type=BigInteger)
    owner_id: str = Field(primary_key=True)
    marked_at: int | None = _ms()


class AddedTouch(SQLModel, table=True):
    """A call or email new to the store since the last KPI refresh: its facts are added to its K1 or K4 cell as they
    are, unless its month is recounted anyway."""

    __tablename__ = "added_touches"
    type: str = Field(primary_key=True)
    id: int = Field(primary_key=True, sa_type=BigInteger)
    marked_at: int | None = _ms()


class SyncRun(SQLModel, table=True):
    """One cycle or reconcile: when, how it ended, what it moved and what it cost."""

    __tablename__ = "sync_runs"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = "sync"  # sync | full | reconcile | dry-run (sync.runs.RunKind; "resync" in old rows)
    trigger: str = "cli"  # cli | schedule | api | page
    started_at: int = Field(sa_type=BigInteger, index=True)
    finished_at: int | None = _ms()
    outcome: str = "running"  # running | ok | partial | failed | stopped (sync.runs.RunOutcome)
    counts: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    api_calls: int = 0
    error: str | None = None
    resume_at: int | None = _ms()
    options: dict[str, Any] | None = Field(default=None, sa_type=JSON)  # what was asked, and by whom (sync.runs)
    progress: dict[str, Any] | None = Field(default=None, sa_type=JSON)  # live counts while running (sync.progress)
    cancel_requested_at: int | None = _ms()  # a cancel asked for (kpi-sync cancel, POST /runs/{id}/cancel)


class ContactKpi(SQLModel, table=True):
    """The latest per-contact KPI values (HubSpot string forms) and the facts the aggregates read."""

    __tablename__ = "contact_kpis"
    # The write-back pages through pending rows in id order: (push_pending, contact_id) serves that without a sort.
    __table_args__ = (Index("ix_contact_kpis_pending", "push_pending", "contact_id"),)
    contact_id: int = Field(primary_key=True, sa_type=BigInteger)
    properties: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    facts: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    recheck_at: int | None = _ms(index=True)
    computed_at: int = Field(sa_type=BigInteger)
    push_pending: bool = False


class KpiAggregate(SQLModel, table=True):
    """One aggregate row: a KPI for one owner, team or the portal, in one period (`2026-10`) or `all`."""

    __tablename__ = "kpi_aggregates"
    kpi: str = Field(primary_key=True)
    scope: str = Field(primary_key=True)  # owner | team | portal
    scope_id: str = Field(primary_key=True)
    period: str = Field(primary_key=True)
    metrics: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    computed_at: int = Field(sa_type=BigInteger)


class KpiCell(SQLModel, table=True):
    """Partial counts of one KPI for one owner in one month, mergeable and, for contact KPIs, subtractable: the
    aggregate rows are merged from these cells, so a refresh recounts only the cells its changes touch."""

    __tablename__ = "kpi_cells"
    kind: str = Field(primary_key=True)  # calls (K1) | response (K2) | followup (K3) | emails (K4) | sqls (K5)
    owner_key: str = Field(primary_key=True)  # owner id, or "unassigned"
    month: str = Field(primary_key=True)  # "YYYY-MM", or "" for facts without a month (counted in "all" only)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class ChangedCell(SQLModel, table=True):
    """A cell whose counts changed since the last refresh of the aggregate rows: only the rows it feeds are merged
    again (kind "deals" is the deal side of K5, kept as cells of its own)."""

    __tablename__ = "changed_cells"
    kind: str = Field(primary_key=True)
    owner_key: str = Field(primary_key=True)
    month: str = Field(primary_key=True)


class DealOutcome(SQLModel, table=True):
    """A closed deal as the deal side of K5 counts it (owner, month of closedate, won or lost): a refresh takes a
    changed deal's old outcome out of its cell before adding the new one."""

    __tablename__ = "deal_outcomes"
    deal_id: int = Field(primary_key=True, sa_type=BigInteger)
    owner_key: str
    month: str  # "YYYY-MM", or "" when the deal has no closedate
    won: bool


class OpportunityCredit(SQLModel, table=True):
    """A deal counted as a K1 opportunity in the month of its createdate, for the owners credited with it."""

    __tablename__ = "opportunity_credits"
    deal_id: int = Field(primary_key=True, sa_type=BigInteger)
    month: str
    owners: list[str] = Field(default_factory=list, sa_type=JSON)


class WriteLedger(SQLModel, table=True):
    """What HubSpot accepted last, per contact: property -> value. Only differences are ever sent."""

    __tablename__ = "writeback_ledger"
    contact_id: int = Field(primary_key=True, sa_type=BigInteger)
    written: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    written_at: int = Field(sa_type=BigInteger)
    last_error: str | None = None
    # HubSpot's validation rules refused the values last sent: when, HubSpot's message, and a fingerprint of those
    # values; the contact is held back until its values change or the retry back-off passes (sync/refusals.py).
    refused_at: int | None = _ms(index=True)  # the status page counts refused contacts off this index
    refused_message: str | None = None
    refused_hash: str | None = None


class SnapshotLedger(SQLModel, table=True):
    """What HubSpot accepted last for one owner's monthly KPI snapshot record."""

    __tablename__ = "snapshot_ledger"
    snapshot_key: str = Field(primary_key=True)  # owner id + period
    written: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    written_at: int = Field(sa_type=BigInteger)


class KeyValue(SQLModel, table=True):
    """Small service state: portal facts learnt at run time (property schema checked, snapshot object id...)."""

    __tablename__ = "service_state"
    key: str = Field(primary_key=True)
    value: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


class LockFence(SQLModel, table=True):
    """The fencing token of a lock: bumped by each new holder, so a holder that lost the lock finds out before it
    commits anything (sync.fence)."""

    __tablename__ = "lock_fences"
    name: str = Field(primary_key=True)
    token: int = Field(default=0, sa_type=BigInteger, nullable=False)
