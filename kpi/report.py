"""Pure formatting of aggregates into a report: a table per KPI (owners, then teams, then the portal).

Formats: `table` (fixed-width text, main metrics), `csv` (every metric; ratios as percentages) and `json` (every metric;
ratios as stored fractions). Each table carries the article's benchmark beside the measured values.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence

from kpi.catalog import BENCHMARKS, KPI_TITLES, KPIS
from kpi.rows import Owner
from kpi.scopes import OWNER, PORTAL, TEAM, UNASSIGNED, AggregateKey, Values

FORMATS = ("table", "json", "csv")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what makes a spreadsheet read a cell as a formula
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")
# The metrics a text table shows per KPI (csv and json carry every metric).
TABLE_COLUMNS: dict[str, tuple[str, ...]] = {
    "K1": (
        "outbound_calls",
        "connected_calls",
        "reach_ratio",
        "decision_maker_reach_ratio",
        "prospects_per_1000_calls",
        "opportunities_per_1000_calls",
    ),
    "K2": (
        "leads",
        "responded",
        "share_within_1h",
        "median_response_minutes",
        "mean_response_minutes",
        "awaiting_response",
    ),
    "K3": (
        "contacts_touched",
        "mean_touches",
        "share_stopped_early",
        "first_conversation_attempt_1",
        "first_conversation_attempt_5_plus",
        "over_contacted",
    ),
    "K4": ("sales_emails", "content_emails", "content_usage_rate", "distinct_assets"),
    "K5": (
        "sqls",
        "customers",
        "sql_to_customer_ratio",
        "median_days_sql_to_customer",
        "deals_won",
        "deals_lost",
        "deal_win_rate",
    ),
}
_SCOPE_ORDER = {OWNER: 0, TEAM: 1, PORTAL: 2}


def is_ratio(metric: str) -> bool:
    """Whether a metric is a fraction (shown as a percentage)."""
    return metric.endswith(("_ratio", "_rate")) or metric.startswith("share_")


def render(
    aggregates: Mapping[AggregateKey, Values],
    owners: Iterable[Owner],
    period: str,
    fmt: str = "table",
    top_assets: Sequence[tuple[str, int]] = (),
) -> str:
    """The report of `period` ("2026-10" or "all") in `fmt` ('table', 'json' or 'csv').

    Rows per KPI: owners by name (unassigned and unknown owners after the known ones), then teams by name,
    then the portal. `top_assets` (from `kpi.marketing.top_assets`) is appended to K4 when given.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    names = display_names(owners)
    tables = {kpi: _rows(aggregates, kpi, period, names) for kpi in KPIS}
    if fmt == "json":
        return _json(tables, period, top_assets)
    if fmt == "csv":
        return _csv(tables)
    return _table(tables, period, top_assets)


def display_names(owners: Iterable[Owner]) -> dict[tuple[str, str], str]:
    """(scope, scope id) -> the name shown in reports, for owners, their teams and the portal."""
    names: dict[tuple[str, str], str] = {(PORTAL, "portal"): "Portal", (OWNER, UNASSIGNED): "(unassigned)"}
    for owner in owners:
        names[(OWNER, owner.id)] = owner.name or owner.email or owner.id
        for team_id, team_name in zip(owner.team_ids, owner.team_names, strict=False):
            names.setdefault((TEAM, team_id), team_name or team_id)
    return names


_Row = tuple[str, str, str, Values]  # (scope, scope id, name, values)


def _rows(
    aggregates: Mapping[AggregateKey, Values], kpi: str, period: str, names: Mapping[tuple[str, str], str]
) -> list[_Row]:
    rows: list[_Row] = []
    for (k, scope, scope_id, p), values in aggregates.items():
        if k == kpi and p == period:
            name = names.get((scope, scope_id), f"(unknown {scope} {scope_id})")
            rows.append((scope, scope_id, name, values))
    rows.sort(key=lambda r: (_SCOPE_ORDER.get(r[0], 3), (r[0], r[1]) not in names or r[1] == UNASSIGNED, r[2]))
    return rows


def _cell(metric: str, value: float | int | None) -> str:
    if value is None:
        return ""
    if is_ratio(metric):
        return f"{value * 100:.1f} %"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _table(tables: Mapping[str, list[_Row]], period: str, top_assets: Sequence[tuple[str, int]]) -> str:
    label = "all time" if period == "all" else period
    out: list[str] = []
    for kpi, rows in tables.items():
        columns = TABLE_COLUMNS[kpi]
        header = ["name", "scope", *columns]
        body = [[name, scope, *(_cell(c, values.get(c)) for c in columns)] for scope, _, name, values in rows]
        out.append(f"{kpi} {KPI_TITLES[kpi]} ({label})")
        out.append(f"benchmark: {BENCHMARKS[kpi] or 'none in the article'}")
        out.extend(_aligned(header, body))
        if kpi == "K4" and top_assets:
            out.append("top assets: " + ", ".join(f"{asset} ({n})" for asset, n in top_assets))
        out.append("")
    return "\n".join(out)


def _aligned(header: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]

    def line(row: list[str]) -> str:
        first = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        rest = [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        return "  ".join(first + rest).rstrip()

    if not body:
        return [line(header), "(no data)"]
    return [line(header), "  ".join("-" * w for w in widths), *(line(row) for row in body)]


def _csv(tables: Mapping[str, list[_Row]]) -> str:
    """One row per (KPI, scope); a column per metric of any KPI (empty where the KPI has no such metric)."""
    metrics: dict[str, None] = {}
    for rows in tables.values():
        for row in rows:
            metrics.update(dict.fromkeys(row[3]))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(
        ["kpi", "scope", "scope_id", "name", *(f"{m} (%)" if is_ratio(m) else m for m in metrics), "benchmark"]
    )
    for kpi, rows in tables.items():
        for scope, scope_id, name, values in rows:
            cells = [_csv_cell(m, values[m]) if m in values else "" for m in metrics]
            writer.writerow([inert(c) for c in (kpi, scope, scope_id, name, *cells, BENCHMARKS[kpi])])
    return buffer.getvalue()


def inert(cell: str) -> str:
    """A cell a spreadsheet will not run: text starting with =, +, -, @ (or a tab or carriage return) gets a leading
    apostrophe (OWASP's CSV injection advice). A plain number such as -3 or -12.50 stays a number."""
    if cell.startswith(FORMULA_STARTS) and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _csv_cell(metric: str, value: float | int | None) -> str:
    if value is None:
        return ""
    if is_ratio(metric):
        return f"{value * 100:.2f}"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _json(tables: Mapping[str, list[_Row]], period: str, top_assets: Sequence[tuple[str, int]]) -> str:
    document: dict[str, object] = {"period": period, "kpis": {}}
    kpis: dict[str, object] = {}
    for kpi, rows in tables.items():
        entry: dict[str, object] = {
            "title": KPI_TITLES[kpi],
            "benchmark": BENCHMARKS[kpi] or None,
            "rows": [{"scope": s, "scope_id": i, "name": n, "values": v} for s, i, n, v in rows],
        }
        if kpi == "K4":
            entry["top_assets"] = [{"asset": a, "emails": n} for a, n in top_assets]
        kpis[kpi] = entry
    document["kpis"] = kpis
    return json.dumps(document, indent=2, sort_keys=False)
