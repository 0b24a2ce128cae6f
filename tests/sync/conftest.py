"""Fixtures for pipeline tests: a sandbox portal, settings pointing at it, and ground truth from the sandbox."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, select

from sandbox.harness import RunningSandbox, run_sandbox
from storage import repo
from storage import tables as t
from sync.config import Settings, load_settings
from sync.cycle import CycleOptions, RunSummary, run_cycle
from sync.hubspot.constants import OBJECT_TYPES, SINGULAR

TOKEN = "pat-na1-test-0000-secret-token"


@pytest.fixture
def sandbox() -> Iterator[RunningSandbox]:
    """A small seeded portal with no search-index lag (tests that need lag set it themselves)."""
    with run_sandbox(seed=7, size="small", token=TOKEN, index_lag_ms=0) as sb:
        yield sb


def settings_for(sb: RunningSandbox, store_url: str, **overrides: Any) -> Settings:
    """Settings of a worker pointed at the sandbox, retrying fast."""
    values: dict[str, Any] = {
        "hubspot_access_token": sb.token,
        "hubspot_base_url": sb.base_url,
        "database_url": store_url,
        "sync_overlap_seconds": 2,
        "hubspot_max_retries": 12,
        "hubspot_rate_limit_per_10s": 250,
        "hubspot_search_per_second": 10,
    }
    return load_settings(**(values | overrides))


def cycle(engine: Engine, settings: Settings, **options: Any) -> RunSummary:
    """Run one cycle and insist it ended well."""
    summary = run_cycle(engine, settings, CycleOptions(**options))
    assert summary.outcome == "ok", summary.error
    return summary


def truth(sb: RunningSandbox) -> dict[str, str]:
    """Checksum per object type of what HubSpot holds: live ids, modification times and contact links."""
    out = {}
    for object_type in OBJECT_TYPES:
        modprop = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
        lines = []
        for rec in sb.export(object_type):
            if rec.get("archived"):
                continue
            links = sorted(int(i) for i in (rec.get("associations") or {}).get("contacts", []))
            lines.append(
                f"{int(rec['id'])}|{rec['properties'].get(modprop)}|{links if object_type != 'contacts' else ''}"
            )
        out[object_type] = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return out


def stored(engine: Engine) -> dict[str, str]:
    """The same checksum over the store."""
    out = {}
    with engine.connect() as conn:
        for object_type in OBJECT_TYPES:
            model = {"contacts": t.Contact, "deals": t.Deal}.get(object_type, t.Engagement)
            tbl = repo.table(model)
            stmt = select(tbl.c.id, tbl.c.modified_at).where(tbl.c.archived.is_(False))
            if object_type in SINGULAR:
                stmt = stmt.where(tbl.c.type == SINGULAR[object_type])
            links: dict[int, list[int]] = {}
            if object_type == "deals":
                dc = repo.table(t.DealContact).c
                for d, c in conn.execute(select(dc.deal_id, dc.contact_id)):
                    links.setdefault(d, []).append(c)
            elif object_type in SINGULAR:
                ec = repo.table(t.EngagementContact).c
                for e, c in conn.execute(
                    select(ec.engagement_id, ec.contact_id).where(ec.engagement_type == SINGULAR[object_type])
                ):
                    links.setdefault(e, []).append(c)
            lines = []
            for rid, modified in conn.execute(stmt):
                iso = _iso(modified)
                link = sorted(links.get(rid, [])) if object_type != "contacts" else ""
                lines.append(f"{rid}|{iso}|{link}")
            out[object_type] = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    return out


def _iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def api_calls(sb: RunningSandbox) -> int:
    """Exact API calls the sandbox counted since its last reset."""
    return int(sb.stats()["total"])
