"""Contacts whose KPI values HubSpot's write validation refused (hubspot-api.md §0.2), as the store remembers them.

The ledger (`writeback_ledger.refused_at`, `refused_message`, `refused_hash`) keeps when the values were refused,
HubSpot's message and a fingerprint of those values. Such a contact stays pending but is held back until its values
change or the retry back-off passes, so a record only a person can fix costs no call every cycle. The same columns
give the list that `kpi-sync status`, `GET /status` and the admin page show.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Engine, func, select

from storage import repo
from storage import tables as t

REFUSED_LISTED = 50  # refused contacts listed by id (a run's counts, the status document); the total is always kept


def fingerprint(properties: Mapping[str, str]) -> str:
    """A fingerprint of the values sent for one contact (independent of key order)."""
    return hashlib.sha256(orjson.dumps(dict(properties), option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def held_back(
    refused_at: int | None, refused_hash: str | None, values: Mapping[str, str], *, now_ms: int, retry_ms: int
) -> bool:
    """Whether a contact is held back this cycle: HubSpot refused exactly these values, less than the back-off ago."""
    if refused_at is None or refused_hash != fingerprint(values):
        return False
    return now_ms < refused_at + retry_ms


@dataclass(frozen=True)
class Refusal:
    """One contact whose values HubSpot refused: its id, HubSpot's message (made safe) and when."""

    contact_id: int
    message: str
    refused_at: int

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {"contact_id": self.contact_id, "message": self.message, "refused_at": self.refused_at}


@dataclass(frozen=True)
class Refused:
    """The contacts still waiting because HubSpot refused their values: how many, and the first few by id."""

    total: int
    listed: tuple[Refusal, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {"total": self.total, "listed": [r.to_json() for r in self.listed]}


def outstanding(engine: Engine, limit: int = REFUSED_LISTED) -> Refused:
    """Pending contacts whose last write HubSpot's validation rules refused (a later accepted write clears it)."""
    ledger, kpis = repo.table(t.WriteLedger).c, repo.table(t.ContactKpi).c
    waiting = (ledger.refused_at.is_not(None), kpis.push_pending.is_(True))
    joined = repo.table(t.WriteLedger).join(repo.table(t.ContactKpi), kpis.contact_id == ledger.contact_id)
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(joined).where(*waiting)).scalar_one()
        rows = conn.execute(
            select(ledger.contact_id, ledger.refused_message, ledger.refused_at)
            .select_from(joined)
            .where(*waiting)
            .order_by(ledger.contact_id)
            .limit(limit)
        )
        listed = tuple(Refusal(int(r[0]), str(r[1] or ""), int(r[2])) for r in rows)
    return Refused(int(total), listed)
