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
