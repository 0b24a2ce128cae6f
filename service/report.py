"""The KPI report from the store: aggregates read back and rendered by `kpi.report` (table, json, csv, chart)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from kpi.report import render
from storage import repo
from storage import tables as t
from sync import state_keys
from sync.refresh.inputs import load_owners


def load_aggregates(engine: Engine) -> dict[tuple[str, str, str, str], dict[str, Any]]:
    """Every stored aggregate, keyed (kpi, scope, scope id, period)."""
    agg = repo.table(t.KpiAggregate).c
    with engine.connect() as conn:
        rows = conn.execute(select(agg.kpi, agg.scope, agg.scope_id, agg.period, agg.metrics))
        return {(r[0], r[1], r[2], r[3]): dict(r[4] or {}) for r in rows}


def available_periods(engine: Engine) -> list[str]:
    """The months (`YYYY-MM`) the stored aggregates cover, newest first (`all` is always there besides)."""
    agg = repo.table(t.KpiAggregate).c
    with engine.connect() as conn:
        found = conn.execute(select(agg.period).distinct()).scalars()
        return sorted((str(p) for p in found if p != "all"), reverse=True)


def kpi_report(engine: Engine, period: str | None, fmt: str = "table") -> str:
    """The report of one period (`YYYY-MM`) or all time (`all`, the default when period is None)."""
    with engine.connect() as conn:
        owners = load_owners(conn)
        top = (repo.get_state(conn, state_keys.TOP_ASSETS) or {}).get("assets", [])
    return render(load_aggregates(engine), owners, period or "all", fmt, top_assets=[(str(a), int(n)) for a, n in top])


def kpi_chart(engine: Engine, period: str | None) -> bytes:
    """A PNG of the five KPIs per rep against the article's benchmarks."""
    from kpi.chart import render_chart  # matplotlib costs seconds at import: only when a chart is asked for

    with engine.connect() as conn:
        owners = load_owners(conn)
    return render_chart(load_aggregates(engine), owners, period or "all")
