"""Report rendering (table, csv, json) and the PNG chart."""

from __future__ import annotations

import csv
import io
import json

import pytest

from kpi.chart import render_chart
from kpi.report import render
from kpi.scopes import AggregateKey, Values
from tests.kpi.kpi_factories import make_owner

OWNERS = [make_owner("o1", "Anna", ("t1",)), make_owner("o2", "Bob", ("t1",))]
K1: Values = {
    "outbound_calls": 1000,
    "connected_calls": 350,
    "reach_ratio": 0.35,
    "decision_maker_connects": 10,
    "decision_maker_reach_ratio": 0.01,
    "prospects_reached": 300,
    "opportunities": 30,
    "prospects_per_1000_calls": 300.0,
    "opportunities_per_1000_calls": 30.0,
}
EMPTY_K1: Values = {**K1, "outbound_calls": 0, "reach_ratio": None, "prospects_per_1000_calls": None}
AGGREGATES: dict[AggregateKey, Values] = {
    ("K1", "portal", "portal", "2026-10"): K1,
    ("K1", "owner", "o2", "2026-10"): K1,
    ("K1", "owner", "o1", "2026-10"): EMPTY_K1,
    ("K1", "team", "t1", "2026-10"): K1,
    ("K1", "owner", "unassigned", "2026-10"): K1,
    ("K1", "owner", "o1", "all"): K1,
}


def test_table_rows_owners_then_teams_then_portal() -> None:
    """Owners by name (unassigned last), then teams, then the portal, with the benchmark."""
    text = render(AGGREGATES, OWNERS, "2026-10", "table")
    k1 = text.split("\n\n")[0].splitlines()
    assert k1[0] == "K1 Contact/reach ratio (2026-10)"
    assert k1[1] == "benchmark: 350 prospects and 30 opportunities per 1,000 calls"
    assert [line.split()[0] for line in k1[4:]] == ["Anna", "Bob", "(unassigned)", "T1", "Portal"]
    assert "35.0 %" in k1[5]


def test_table_shows_empty_ratio_as_blank_and_kpis_without_data() -> None:
    """A None ratio is blank; a KPI with no rows says so."""
    text = render(AGGREGATES, OWNERS, "2026-10", "table")
    anna = next(line for line in text.splitlines() if line.startswith("Anna"))
    assert anna.count("%") == 1  # only the decision-maker ratio; the empty reach ratio is blank
    assert "(no data)" in text.split("\n\n")[1]


def test_json_keeps_fractions() -> None:
    """JSON carries every metric as stored: fractions, None as null."""
    document = json.loads(render(AGGREGATES, OWNERS, "2026-10", "json", top_assets=[("a.io/ebook", 3)]))
    rows = document["kpis"]["K1"]["rows"]
    assert rows[1]["name"] == "Bob"
    assert rows[1]["values"]["reach_ratio"] == 0.35
    assert rows[0]["values"]["reach_ratio"] is None
    assert document["kpis"]["K4"]["top_assets"] == [{"asset": "a.io/ebook", "emails": 3}]
    assert document["kpis"]["K4"]["benchmark"] is None


def test_csv_shows_percentages() -> None:
    """CSV has a row per scope with every metric; ratios as percentages with (%) in the header."""
    rows = list(csv.DictReader(io.StringIO(render(AGGREGATES, OWNERS, "2026-10", "csv"))))
    bob = next(r for r in rows if r["name"] == "Bob")
    assert bob["reach_ratio (%)"] == "35.00"
    assert bob["outbound_calls"] == "1000"
    assert bob["benchmark"].startswith("350")
    assert len(rows) == 5


@pytest.mark.parametrize(
    ("name", "cell"),
    [
        ('=HYPERLINK("http://evil.example","x")', '\'=HYPERLINK("http://evil.example","x")'),
        ("+1-555-0100", "'+1-555-0100"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\tAnna", "'\tAnna"),
        ("-3", "-3"),
        ("-12.50", "-12.50"),
        ("Anna-Lena", "Anna-Lena"),
    ],
)
def test_csv_cells_a_spreadsheet_would_run_start_with_an_apostrophe(name: str, cell: str) -> None:
    """An owner named like a formula (=, +, -, @, tab) is written as text; a plain negative number stays a number."""
    owners = [make_owner("o1", "Anna", ("t1",)), make_owner("o2", name, ("t1",))]
    rows = list(csv.DictReader(io.StringIO(render(AGGREGATES, owners, "2026-10", "csv"))))
    assert [r["name"] for r in rows if r["scope_id"] == "o2"] == [cell]


def test_csv_keeps_a_negative_metric_a_number() -> None:
    """A metric below zero (a correction) is written as -3, not as text."""
    negative = {**K1, "opportunities": -3}
    rows = list(
        csv.DictReader(io.StringIO(render({("K1", "owner", "o2", "2026-10"): negative}, OWNERS, "2026-10", "csv")))
    )
    assert rows[0]["opportunities"] == "-3"


def test_all_time_period() -> None:
    """period 'all' selects the all-time keys."""
    text = render(AGGREGATES, OWNERS, "all", "table")
    assert text.startswith("K1 Contact/reach ratio (all time)")
    assert [line.split()[0] for line in text.split("\n\n")[0].splitlines()[4:]] == ["Anna"]


def test_unknown_format() -> None:
    """An unknown format is a ValueError naming the choices."""
    with pytest.raises(ValueError, match="table, json, csv"):
        render(AGGREGATES, OWNERS, "2026-10", "xml")


def test_chart_is_a_png() -> None:
    """render_chart returns PNG bytes, also with no data at all."""
    assert render_chart(AGGREGATES, OWNERS, "2026-10").startswith(b"\x89PNG\r\n\x1a\n")
    assert render_chart({}, [], "2026-10").startswith(b"\x89PNG")
