"""A PNG of the five KPIs per rep against the article's benchmarks, rendered to bytes (no file I/O).

One panel per KPI with a bar per owner and a dashed benchmark line where the article gives one, so a sales
manager sees at a glance who needs coaching on what. Uses matplotlib's Agg canvas directly (no pyplot state).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from kpi.catalog import (
    BENCHMARK_MIN_ATTEMPTS,
    BENCHMARK_PROSPECTS_PER_1000_CALLS,
    BENCHMARK_RESPONSE_MINUTES,
)
from kpi.report import display_names
from kpi.rows import Owner
from kpi.scopes import OWNER, AggregateKey, Values

# (kpi, metric, panel title, scale applied to the value, benchmark line in the shown unit or None)
PANELS: tuple[tuple[str, str, str, float, float | None], ...] = (
    (
        "K1",
        "prospects_per_1000_calls",
        "K1 prospects per 1,000 calls (benchmark 350)",
        1.0,
        float(BENCHMARK_PROSPECTS_PER_1000_CALLS),
    ),
    (
        "K2",
        "median_response_minutes",
        "K2 median lead response, hours (benchmark 1 h)",
        1 / 60,
        BENCHMARK_RESPONSE_MINUTES / 60,
    ),
    ("K3", "mean_touches", "K3 mean touches per contact (benchmark 5 attempts)", 1.0, float(BENCHMARK_MIN_ATTEMPTS)),
    ("K4", "content_usage_rate", "K4 sales emails with marketing content, %", 100.0, None),
    ("K5", "sql_to_customer_ratio", "K5 SQL to customer, %", 100.0, None),
)


def render_chart(aggregates: Mapping[AggregateKey, Values], owners: Iterable[Owner], period: str) -> bytes:
    """The five-panel PNG for `period` ("2026-10" or "all"), one bar per owner; empty values draw no bar."""
    names = display_names(owners)
    owner_ids = sorted(
        {key[2] for key in aggregates if key[1] == OWNER and key[3] == period},
        key=lambda oid: names.get((OWNER, oid), oid),
    )
    labels = [names.get((OWNER, oid), oid) for oid in owner_ids]
    figure = Figure(figsize=(10, 3 * len(PANELS)), dpi=80, layout="constrained")
    FigureCanvasAgg(figure)
    title = "all time" if period == "all" else period
    figure.suptitle(f"Sales KPIs per rep, {title}")
    axes = figure.subplots(len(PANELS), 1)
    for ax, (kpi, metric, panel_title, scale, benchmark) in zip(axes, PANELS, strict=True):
        values = []
        for oid in owner_ids:
            value = aggregates.get((kpi, OWNER, oid, period), {}).get(metric)
            values.append(math.nan if value is None else float(value) * scale)
        ax.bar(range(len(labels)), values, color="#4c72b0")
        if benchmark is not None:
            ax.axhline(benchmark, color="#c44e52", linestyle="--", label="benchmark")
            ax.legend(loc="upper right")
        ax.set_title(panel_title, fontsize=10)
        ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=8)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
