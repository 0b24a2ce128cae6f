"""Cells: the per-owner, per-month partial counts the store keeps. Moving a changed contact's facts out of and into
them gives the cells a count from scratch gives; cells survive their JSON form; multiset medians and means are the
plain ones."""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.contact import ContactKpis
from kpi.followup import FollowupCell, add_followup
from kpi.periods import Calendar
from kpi.reach import ReachCell, call_cells
from kpi.response import ResponseCell, add_response
from kpi.scopes import CellKey, cell_from_json, cell_to_json, is_empty, mean, median, pooled
from kpi.winrate import WinCell, add_sql
from tests.kpi.test_kpi_invariants_hypothesis import World, edited, facts_of, worlds

Adder = Callable[[dict[CellKey, Any], ContactKpis, Calendar, int], None]
ADDERS: dict[str, tuple[Adder, type[Any]]] = {
    "K2": (add_response, ResponseCell),
    "K3": (add_followup, FollowupCell),
    "K5": (add_sql, WinCell),
}


def counted(facts: list[ContactKpis], calendar: Calendar) -> dict[str, dict[CellKey, Any]]:
    """Contact cells counted from scratch."""
    cells: dict[str, dict[CellKey, Any]] = {kpi: {} for kpi in ADDERS}
    for kpi, (add, _) in ADDERS.items():
        for k in facts:
            add(cells[kpi], k, calendar, 1)
    return cells


@settings(max_examples=150)
@given(worlds().flatmap(lambda w: st.tuples(st.just(w), edited(w))))
def test_moving_changed_contacts_gives_the_cells_counted_afresh(pair: tuple[World, World]) -> None:
    """Old cells, minus the old facts of each changed contact plus its new ones, drop the empty cells: the new
    cells (a removed contact has only old facts, a new one only new facts)."""
    before, after = pair
    calendar = after.config.calendar
    old = {k.contact_id: k for k in facts_of(before).contacts}
    new = {k.contact_id: k for k in facts_of(after).contacts}
    cells = counted(list(old.values()), calendar)
    for cid in old.keys() | new.keys():
        if old.get(cid) == new.get(cid):
            continue
        for kpi, (add, _) in ADDERS.items():
            if cid in old:
                add(cells[kpi], old[cid], calendar, -1)
            if cid in new:
                add(cells[kpi], new[cid], calendar, 1)
    moved = {kpi: {key: c for key, c in by_key.items() if not is_empty(c)} for kpi, by_key in cells.items()}
    assert moved == counted(list(new.values()), calendar)


@settings(max_examples=60)
@given(worlds())
def test_cells_survive_their_json_form(w: World) -> None:
    """Every cell, written as JSON text and read back, is the same cell (counter items keep their type)."""
    facts = facts_of(w)
    calendar = w.config.calendar
    cells: list[Any] = [c for by_key in counted(facts.contacts, calendar).values() for c in by_key.values()]
    cells += call_cells(facts.calls, {k.contact_id for k in facts.contacts if k.decision_maker}, calendar)[0].values()
    for cell in cells:
        assert cell_from_json(type(cell), orjson.loads(orjson.dumps(cell_to_json(cell)))) == cell


def test_a_multiset_is_stored_as_its_sorted_items_and_read_back_from_either_form() -> None:
    """Counters are written as sorted items repeated by count; the [item, count] pairs stores kept from earlier
    versions read back as the same cell."""
    cell = ReachCell(outbound_calls=3, reached=Counter({9: 2, 4: 1}), opportunities=Counter({70: 1}))
    assert cell_to_json(cell)["reached"] == [4, 9, 9]
    legacy = {"outbound_calls": 3, "reached": [[9, 2], [4, 1]], "opportunities": [[70, 1]]}
    assert cell_from_json(ReachCell, legacy) == cell == cell_from_json(ReachCell, cell_to_json(cell))


def test_counts_taken_out_again_leave_nothing_behind() -> None:
    """Merging a delta that takes out what a cell held leaves no zero entries and an empty cell."""
    cell = ResponseCell(leads=1, decided=1, minutes=Counter({12: 1}))
    cell.merge(ResponseCell(leads=-1, decided=-1, minutes=Counter({12: -1})))
    followup = FollowupCell(touched=1, statuses={"converted": 1}, attempts=[1, 0, 0, 0, 0])
    followup.merge(FollowupCell(touched=-1, statuses={"converted": -1}, attempts=[-1, 0, 0, 0, 0]))
    assert (cell.minutes, followup.statuses) == (Counter(), {})
    assert is_empty(cell)
    assert is_empty(followup)
    assert is_empty(FollowupCell(statuses={"converted": 0}))  # as stored by earlier versions


def test_an_emptied_cell_is_empty_and_a_counting_one_is_not() -> None:
    """A cell whose every fact was taken out again counts nothing; one reached contact is something."""
    assert is_empty(ReachCell())
    assert is_empty(FollowupCell(statuses={}, attempts=[0, 0, 0, 0, 0]))
    assert not is_empty(ReachCell(reached=Counter({7: 1})))
    assert not is_empty(FollowupCell(attempts=[0, 1, 0, 0, 0]))


@pytest.mark.parametrize(
    "values",
    [[5], [1, 2], [2, 1, 3], [4, 4, 1, 9], [0, 0, 0], [-3, 10, 10, 2, 7, 7], list(range(11)), [1, 1, 2, 2, 2, 3]],
)
def test_pooled_multisets_give_the_median_and_mean_of_the_listed_values(values: list[int]) -> None:
    """Multisets {value: count} split from a list pool back into it, sorted: median and mean equal statistics'."""
    halves = Counter(values[::2]), Counter(values[1::2])
    ordered = pooled(halves)
    assert ordered.tolist() == sorted(values)
    assert median(ordered) == statistics.median(values)
    assert mean(ordered) == sum(values) / len(values)


def test_median_and_mean_of_nothing_are_empty() -> None:
    """No values: no median, no mean (shown empty, never 0)."""
    nothing = pooled([Counter(), Counter()])
    assert nothing.tolist() == []
    assert median(nothing) is None
    assert mean(nothing) is None
