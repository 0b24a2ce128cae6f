"""The admin page: a public shell (no data) and a server-rendered panel that the shell fetches with the token.

The shell at `/` holds no service data; its script asks for the admin token with `prompt()` when a button is
clicked (never on a timer), keeps it in a variable, fetches `/ui/panel` (a banner when the last cycle failed or
stopped or the worker is paused, status, run history, KPI overview per rep with the benchmarks for one period) and
swaps the HTML in. Every value in the panel is escaped here, on the server; times travel as `<time datetime>` that
the script shows relative, in the viewer's time zone. The inline script and style are pinned by hash in the
Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from kpi.report import TABLE_COLUMNS, is_ratio

DOCTOR_CLASSES = {"ok": "ok", "fail": "failed", "skipped": "muted", "info": ""}  # the page's status colours
RUN_COLUMNS = ("id", "kind", "trigger", "outcome", "started", "duration", "API calls", "pulled", "written", "error")
ATTENTION = ("failed", "stopped")  # last-run outcomes that put a banner on top of the panel


class When(str):
    """An ISO 8601 time to show as `<time>` (the page's script makes it relative, exact on hover)."""

    __slots__ = ()


def _when(value: object) -> When | str:
    return When(value) if isinstance(value, str) and value else "-"


@cache
def shell() -> tuple[str, str]:
    """The page shell and its Content-Security-Policy."""
    page = resources.files("service.admin").joinpath("templates/admin.html").read_text(encoding="utf-8")
    hashes = [_sha256(block) for block in re.findall(r"<(?:script|style)>(.*?)</(?:script|style)>", page, re.S)]
    sources = " ".join(f"'{h}'" for h in hashes)
    policy = (
        f"default-src 'none'; script-src {sources}; style-src {sources}; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    return page, policy


def _sha256(block: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()


def render_panel(
    status: Mapping[str, Any],
    runs: Sequence[Mapping[str, Any]],
    report: Mapping[str, Any],
    periods: Sequence[str] = (),
) -> str:
    """The panel's HTML from the status document, run views, the JSON KPI report and the periods it can show."""
    return "\n".join([_banner(status), _status(status), _runs(runs), _kpis(report, periods)])


def _banner(status: Mapping[str, Any]) -> str:
    """What needs attention: a DAILY-limit pause, or a last cycle that failed or stopped (with its error)."""
    worker = status.get("worker") or {}
    last = status.get("last_run") or {}
    notes = []
    if worker.get("paused_until"):
        notes.append(
            "Paused: HubSpot's daily API limit was reached; no cycle before " + _html(_when(worker["paused_until"]))
        )
    if last.get("outcome") in ATTENTION:
        error = f": {escape(str(last['error'])[:300])}" if last.get("error") else ""
        notes.append(
            f"Last cycle (run #{escape(str(last.get('id')))}, {escape(str(last.get('kind')))}) "
            f"{escape(str(last['outcome']))}{error}"
        )
    if not notes:
        return ""
    return f'<div id="banner" class="banner" role="alert">{"<br>".join(notes)}</div>'


def _status(status: Mapping[str, Any]) -> str:
    worker = status.get("worker") or {}
    budget = status.get("api_budget") or {}
    schedule = status.get("schedule") or {}
    last = status.get("last_run") or {}
    rows: list[tuple[str, object]] = [
        ("ready", "yes" if status.get("ready") else f"no: {status.get('ready_reason', '')}"),
        ("running", _request(worker.get("running")) if worker else "no worker in this process"),
        ("queued", _request(worker.get("pending"))),
        ("paused until (daily limit)", _when(worker.get("paused_until"))),
        ("next scheduled run", _when(schedule.get("next_run_at"))),
        ("interval / reconcile", f"{schedule.get('interval_minutes')} min / cron {schedule.get('reconcile_cron')}"),
        ("last run", f"#{last.get('id')} {last.get('kind')} {last.get('outcome')}" if last else "none yet"),
        ("API calls today", f"{budget.get('used_today', 0)} of {budget.get('daily_budget', '?')}"),
    ]
    body = "".join(f"<tr><th>{escape(k)}</th><td>{_html(v)}</td></tr>" for k, v in rows)
    cursors = _table(
        ("object", "phase", "read up to", "updated"),
        [
            (c.get("object_type"), c.get("phase"), _when(c.get("high_water_iso")), _when(c.get("updated_at_iso")))
            for c in status.get("cursors") or []
        ],
    )
    refused = _refused(status.get("refused") or {})
    return (
        f'<section id="status"><h2>Sync status</h2><div class="scroll"><table>{body}</table></div>'
        f"<h3>Cursors</h3>{cursors}{refused}</section>"
    )


def _refused(refused: Mapping[str, Any]) -> str:
    """The contacts HubSpot's validation rules refused: how many, and a small table of the first with the message."""
    total = int(refused.get("total") or 0)
    listed = refused.get("listed") or []
    rows = [(r.get("contact_id"), _when(r.get("refused_at_iso")), r.get("message")) for r in listed]
    more = f'<p class="muted">{total - len(listed)} more not listed</p>' if total > len(listed) else ""
    table = _table(("contact", "refused at", "HubSpot's message"), rows) if total else ""
    return f'<h3 id="refused">Refused by HubSpot ({total})</h3>{table}{more}'


def _request(request: Mapping[str, Any] | None) -> str:
    if not request:
        return "-"
    objects = ",".join(request.get("objects") or []) or "all objects"
    return f"{request.get('kind')} ({request.get('trigger')}, {objects})"


def _runs(runs: Sequence[Mapping[str, Any]]) -> str:
    header = "".join(f"<th>{escape(c)}</th>" for c in RUN_COLUMNS)
    rows = []
    for run in runs:
        outcome = str(run.get("outcome"))
        cells = [
            _td(run.get("id"), num=True),
            _td(run.get("kind")),
            _td(run.get("trigger")),
            f'<td class="{escape(outcome)}">{escape(outcome)}{_running(run)}</td>',
            _td(_when(run.get("started_at_iso"))),
            _td(f"{run['duration_s']:.1f} s" if run.get("duration_s") is not None else "", num=True),
            _td(run.get("api_calls"), num=True),
            _td(run.get("pulled"), num=True),
            _td(run.get("written"), num=True),
            _td((run.get("error") or "")[:200]),
        ]
        rows.append(f'<tr data-run-id="{escape(str(run.get("id")))}" tabindex="0">{"".join(cells)}</tr>')
    body = "".join(rows) or f'<tr><td colspan="{len(RUN_COLUMNS)}">no runs yet</td></tr>'
    return (
        '<section id="runs"><h2>Run history</h2><p class="muted">Click a run for its detail.</p>'
        f'<div class="scroll"><table><tr>{header}</tr>{body}</table></div></section>'
    )


def _running(run: Mapping[str, Any]) -> str:
    """A running run's live progress (the run view's `progress`: phase, object, records of HubSpot's total, calls,
    with an estimate of the time left) and its Cancel button."""
    if run.get("outcome") != "running":
        return ""
    progress = run.get("progress")
    shown = _progress(progress) if isinstance(progress, Mapping) else ""
    live = f'<br><span class="progress">{shown}</span>' if shown else ""
    run_id = escape(str(run.get("id")))
    return f'{live}<br><button type="button" class="cancel" data-cancel="{run_id}">Cancel</button>'


def _progress(progress: Mapping[str, Any]) -> str:
    phase, obj = progress.get("phase"), progress.get("object")
    records, total, calls = progress.get("records"), progress.get("total"), progress.get("calls")
    parts = [" ".join(str(p) for p in (phase, obj) if p)]
    if isinstance(records, int):
        of_total = f" of {total:,}" if isinstance(total, int) and total else ""
        parts.append(f"{records:,}{of_total} records")
    if isinstance(calls, int):
        parts.append(f"{calls:,} API calls")
    left = _time_left(progress)
    if left:
        parts.append(left)
    shown = escape(", ".join(p for p in parts if p))
    updated = progress.get("updated_at_iso")
    return f"{shown} (as of {_html(When(updated))})" if shown and isinstance(updated, str) and updated else shown


def _time_left(progress: Mapping[str, Any]) -> str:
    """About how long the current object has left, at its rate so far (where HubSpot gave a total)."""
    records, total, updated = progress.get("records"), progress.get("total"), progress.get("updated_at")
    current = (progress.get("objects") or {}).get(f"{progress.get('phase')}:{progress.get('object')}") or {}
    started = current.get("started_at") if isinstance(current, Mapping) else None
    if not (isinstance(records, int) and isinstance(total, int) and isinstance(updated, int)):
        return ""
    if not isinstance(started, int) or records <= 0 or updated <= started or total <= records:
        return ""
    seconds = (total - records) * (updated - started) / 1000 / records
    return f"about {max(1, round(seconds / 60))} min left"


def _kpis(report: Mapping[str, Any], periods: Sequence[str]) -> str:
    period = str(report.get("period", "all"))
    choices = escape(",".join(periods))
    parts = [
        f'<section id="kpis" data-period="{escape(period)}" data-periods="{choices}">'
        f"<h2>KPIs per rep ({escape('all time' if period == 'all' else period)})</h2>"
    ]
    for kpi, entry in (report.get("kpis") or {}).items():
        columns = TABLE_COLUMNS.get(kpi, ())
        rows = [r for r in entry.get("rows") or [] if r.get("scope") in ("owner", "portal")]
        table_rows = [(r.get("name"), *(_value(c, (r.get("values") or {}).get(c)) for c in columns)) for r in rows]
        parts.append(f"<h3>{escape(kpi)} {escape(str(entry.get('title', '')))}</h3>")
        parts.append(f'<p class="muted">benchmark: {escape(entry.get("benchmark") or "none in the article")}</p>')
        parts.append(_table(("rep", *(c.replace("_", " ") for c in columns)), table_rows, numeric_from=1))
    parts.append("</section>")
    return "".join(parts)


def _value(metric: str, value: object) -> str:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if is_ratio(metric):
        return f"{value * 100:.1f} %"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[object]], *, numeric_from: int | None = None) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = [_td(v, num=numeric_from is not None and i >= numeric_from) for i, v in enumerate(row)]
        body.append(f"<tr>{''.join(cells)}</tr>")
    content = "".join(body) or f'<tr><td colspan="{len(header)}">no data</td></tr>'
    return f'<div class="scroll"><table><tr>{head}</tr>{content}</table></div>'


def _html(value: object) -> str:
    """A value as escaped HTML; a `When` as a `<time>` element."""
    if isinstance(value, When):
        return f'<time datetime="{escape(value)}">{escape(value)}</time>'
    return escape("" if value is None else str(value))


def _td(value: object, *, num: bool = False) -> str:
    return f'<td class="num">{_html(value)}</td>' if num else f"<td>{_html(value)}</td>"


def render_doctor(report: Mapping[str, Any]) -> str:
    """The connection check's checklist (the JSON of `service.doctor.DoctorReport`): a row per check with its mark,
    the finding and, for a failure, the fix."""
    rows = []
    for check in report.get("checks") or []:
        status = str(check.get("status", ""))
        mark = "FAIL" if status == "fail" else status
        fix = f'<br><span class="muted">fix: {escape(str(check.get("fix")))}</span>' if check.get("fix") else ""
        rows.append(
            f'<tr data-check="{escape(str(check.get("name", "")))}"><td class="{DOCTOR_CLASSES.get(status, "")}">'
            f"{escape(mark)}</td><th>{escape(str(check.get('name', '')))}</th>"
            f"<td>{escape(str(check.get('detail', '')))}{fix}</td></tr>"
        )
    verdict = "ready for the first cycle" if report.get("ok") else "some checks failed"
    calls = escape(str(report.get("hubspot_calls", 0)))
    return (
        f'<section id="doctor-checks"><h2>Connection check</h2><p>{escape(verdict)} ({calls} HubSpot calls)</p>'
        f"<table>{''.join(rows)}</table></section>"
    )
