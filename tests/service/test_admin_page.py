"""The admin page: a public shell without data, and a server-rendered panel that escapes everything it shows."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from service.admin.page import render_panel, shell

STATUS: dict[str, Any] = {
    "ready": True,
    "ready_reason": "ok",
    "last_run": {"id": 7, "kind": "sync", "outcome": "ok"},
    "cursors": [{"object_type": "contacts", "phase": "incremental", "high_water_iso": "2026-11-01T10:00:00+00:00"}],
    "api_budget": {"used_today": 1234, "daily_budget": 500000},
    "schedule": {"interval_minutes": 15.0, "reconcile_cron": "0 3 * * *", "next_run_at": "2026-11-28T03:00:00+00:00"},
    "worker": {"running": {"kind": "resync", "trigger": "page", "objects": ["contacts"]}, "pending": None},
}
RUNS = [
    {
        "id": 7,
        "kind": "sync",
        "trigger": "schedule",
        "outcome": "failed",
        "started_at_iso": "2026-11-28T02:00:00+00:00",
        "duration_s": 12.5,
        "api_calls": 40,
        "pulled": 100,
        "written": 3,
        "error": "<script>alert(1)</script>",
    }
]
REPORT = {
    "period": "all",
    "kpis": {
        "K1": {
            "title": "Contact/reach ratio",
            "benchmark": "350 prospects and 30 opportunities per 1,000 calls",
            "rows": [
                {"scope": "owner", "scope_id": "1", "name": "Ann <b>Bold</b>", "values": {"reach_ratio": 0.25}},
                {"scope": "team", "scope_id": "t", "name": "Team East", "values": {"reach_ratio": 0.2}},
                {"scope": "portal", "scope_id": "portal", "name": "Portal", "values": {"outbound_calls": 1000}},
            ],
        },
        "K4": {"title": "Marketing content use", "benchmark": None, "rows": []},
    },
}


def test_panel_shows_status_runs_and_kpis_per_rep_with_benchmarks() -> None:
    """The panel carries the worker state, the run history and each KPI's reps beside the article's benchmark."""
    html = render_panel(STATUS, RUNS, REPORT)
    assert "resync (page, contacts)" in html
    assert "1234 of 500000" in html
    assert 'data-run-id="7"' in html
    assert "350 prospects and 30 opportunities per 1,000 calls" in html
    assert "25.0 %" in html
    assert "none in the article" in html
    assert "Team East" not in html, "the overview is per rep (and the portal), teams stay in the report"


def test_panel_escapes_everything_it_shows() -> None:
    """Names and errors from HubSpot or the database cannot inject markup."""
    html = render_panel(STATUS, RUNS, REPORT)
    assert "<script>" not in html
    assert "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Ann &lt;b&gt;Bold&lt;/b&gt;" in html


def test_panel_without_data_says_so() -> None:
    """An empty store renders placeholders, not an error."""
    html = render_panel({}, [], {"period": "all", "kpis": {}})
    assert "no runs yet" in html
    assert "no worker in this process" in html


def test_shell_holds_no_data_and_pins_its_script_by_hash() -> None:
    """The public shell has no run or KPI data, stores nothing, and its CSP allows exactly its inline script."""
    page, policy = shell()
    assert "Resync now" in page
    for storage in ("localStorage", "sessionStorage", "document.cookie"):
        assert storage not in page
    assert "prompt(" in page
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script is not None
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in policy
    assert "default-src 'none'" in policy


def test_banner_when_the_last_cycle_failed_or_stopped_or_the_worker_is_paused() -> None:
    """A failed or stopped last cycle (with its error) and a DAILY-limit pause each put a line in the banner."""
    failed = {**STATUS, "last_run": {"id": 9, "kind": "sync", "outcome": "failed", "error": "HubSpot <refused>"}}
    html = render_panel(failed, [], REPORT)
    assert '<div id="banner"' in html
    assert "Last cycle (run #9, sync) failed: HubSpot &lt;refused&gt;" in html
    paused = {**STATUS, "worker": {"paused_until": "2026-11-29T00:05:00+00:00"}}
    html = render_panel(paused, [], REPORT)
    assert "daily API limit" in html
    assert '<time datetime="2026-11-29T00:05:00+00:00">' in html
    assert 'id="banner"' not in render_panel(STATUS, [], REPORT), "a healthy worker shows no banner"


def test_times_are_time_elements_for_the_page_to_show_relative() -> None:
    """Run starts, cursor marks and the next run are `<time datetime>`, which the script shows relative."""
    html = render_panel(STATUS, RUNS, REPORT)
    for iso in ("2026-11-28T02:00:00+00:00", "2026-11-01T10:00:00+00:00", "2026-11-28T03:00:00+00:00"):
        assert f'<time datetime="{iso}">' in html


def test_a_running_run_shows_its_progress_with_an_estimate_and_a_cancel_button() -> None:
    """A running run's row carries its live progress (phase, object, records of HubSpot's total, calls, an estimate
    at the rate so far) and a Cancel button naming the run; an ended run has neither."""
    progress = {
        "phase": "pull",
        "object": "calls",
        "records": 1000,
        "total": 4000,
        "calls": 12,
        "objects": {"pull:calls": {"records": 1000, "pages": 10, "total": 4000, "started_at": 1_000_000}},
        "updated_at": 1_060_000,  # 1,000 records in 60 s: 3,000 more take 180 s
        "updated_at_iso": "2026-11-28T02:01:00+00:00",
    }
    running = {**RUNS[0], "id": 8, "outcome": "running", "progress": progress}
    html = render_panel(STATUS, [running, RUNS[0]], REPORT)
    assert "pull calls, 1,000 of 4,000 records, 12 API calls, about 3 min left" in html
    assert '(as of <time datetime="2026-11-28T02:01:00+00:00">' in html
    assert html.count('data-cancel="8"') == 1
    assert 'data-cancel="7"' not in html, "only a running run can be cancelled"


def test_tables_scroll_inside_their_box_and_the_periods_are_offered() -> None:
    """Every table sits in a scrolling box (a phone scrolls the table, not the page); the KPI section names the
    periods the page's selector offers."""
    html = render_panel(STATUS, RUNS, {**REPORT, "period": "2026-11"}, ["2026-11", "2026-10"])
    assert html.count("<table>") == html.count('<div class="scroll"><table>')
    assert 'data-periods="2026-11,2026-10"' in html
    assert "KPIs per rep (2026-11)" in html
