"""Write validation on 2026-09 paths (hubspot-api.md §0.2): rules checked on the resulting record, refused as a
whole batch (400) or per input (207), never on numbered paths, switched at run time, counted in stats."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from sandbox.cli import validation_rules
from sandbox.harness import RunningSandbox
from tests.sandbox.wire import assert_lossless, call, sdk_model

Start = Callable[..., AbstractContextManager[RunningSandbox]]
DATED = "/crm/objects/2026-09/contacts"
PROBE = "Validation Probe"
INDUSTRY_RULE = {"object": "contacts", "property": "industry", "when": {"lifecyclestage": "customer"}}


@pytest.fixture
def sb(fresh: Start) -> Iterator[RunningSandbox]:
    """A fresh small sandbox whose contacts are all leads without an industry."""
    with fresh(contacts=120, engagements=100) as running:
        ids = [c["id"] for c in running.export("contacts") if not c["archived"]]
        for start in range(0, len(ids), 100):
            chunk = ids[start : start + 100]
            inputs = [{"id": i, "properties": {"lifecyclestage": "", "industry": ""}} for i in chunk]
            assert call(running, "/crm/v3/objects/contacts/batch/update", {"inputs": inputs})[0] == 200
        yield running


def live_ids(sb: RunningSandbox, n: int) -> list[str]:
    """The first `n` live contact ids."""
    return [c["id"] for c in sb.export("contacts") if not c["archived"]][:n]


def props(sb: RunningSandbox, rid: str) -> dict[str, Any]:
    """A contact's stored properties (ground truth)."""
    return next(c["properties"] for c in sb.export("contacts") if c["id"] == rid)


def three_updates(ids: list[str]) -> dict[str, Any]:
    """A batch whose second input makes a customer without an industry; the others change a job title."""
    return {
        "inputs": [
            {"id": ids[0], "properties": {"jobtitle": PROBE}},
            {"id": ids[1], "properties": {"lifecyclestage": "customer"}},
            {"id": ids[2], "properties": {"jobtitle": PROBE}},
        ]
    }


def test_batch_mode_refuses_the_whole_batch_with_400(sb: RunningSandbox) -> None:
    """In batch mode one violating input answers 400 VALIDATION_ERROR naming it, and no input is written."""
    sb.set_validation(mode="batch", required=[INDUSTRY_RULE])
    ids = live_ids(sb, 3)
    status, body = call(sb, f"{DATED}/batch/update", three_updates(ids))
    assert (status, body["status"], body["category"]) == (400, "error", "VALIDATION_ERROR")
    assert body["correlationId"]
    assert [e["context"] for e in body["errors"]] == [{"ids": [ids[1]]}]
    assert "industry" in body["errors"][0]["message"]
    assert PROBE not in {props(sb, i).get("jobtitle") for i in (ids[0], ids[2])}
    assert props(sb, ids[1]).get("lifecyclestage") is None


def test_per_input_mode_answers_207_and_writes_the_others(sb: RunningSandbox) -> None:
    """In per_input mode the violating input is an error of a 207 COMPLETE; the other inputs are written."""
    sb.set_validation(mode="per_input", required=[INDUSTRY_RULE])
    ids = live_ids(sb, 3)
    status, body = call(sb, f"{DATED}/batch/update", three_updates(ids))
    assert (status, body["status"], body["numErrors"]) == (207, "COMPLETE", 1)
    assert sorted(r["id"] for r in body["results"]) == sorted([ids[0], ids[2]])
    error = body["errors"][0]
    assert (error["status"], error["category"], error["context"]) == ("error", "VALIDATION_ERROR", {"id": [ids[1]]})
    assert_lossless(sdk_model("hubspot.crm.objects", "BatchResponseSimplePublicObjectWithErrors", body), body)
    assert [props(sb, i)["jobtitle"] for i in (ids[0], ids[2])] == [PROBE, PROBE]
    assert props(sb, ids[1]).get("lifecyclestage") is None


def test_the_resulting_record_is_checked_not_the_input(sb: RunningSandbox) -> None:
    """A write of another property is refused when the record it leaves breaks a rule; setting both passes."""
    rid = live_ids(sb, 1)[0]
    call(sb, f"/crm/v3/objects/contacts/{rid}", {"properties": {"lifecyclestage": "customer"}}, "PATCH")
    sb.set_validation(required=[INDUSTRY_RULE])
    assert call(sb, f"{DATED}/{rid}", {"properties": {"jobtitle": "CFO"}}, "PATCH")[0] == 400
    assert call(sb, f"{DATED}/{rid}", {"properties": {"jobtitle": "CFO", "industry": "Retail"}}, "PATCH")[0] == 200


@pytest.mark.parametrize("prefix", ["/crm/v3/objects/contacts", "/crm/objects/2026-03/contacts"])
def test_numbered_and_older_dated_paths_are_not_validated(sb: RunningSandbox, prefix: str) -> None:
    """The same violating batch is written in full on /crm/v3 and on 2026-03."""
    sb.set_validation(mode="batch", required=[INDUSTRY_RULE])
    ids = live_ids(sb, 3)
    assert call(sb, f"{prefix}/batch/update", three_updates(ids))[0] == 200
    assert props(sb, ids[1])["lifecyclestage"] == "customer"
    assert sb.stats()["validation"] == {"refused_inputs": 0, "refused_requests": 0}


@pytest.mark.parametrize("mode", ["batch", "per_input"])
def test_one_record_writes_are_refused_with_400(sb: RunningSandbox, mode: str) -> None:
    """PATCH of one record and POST create answer 400 on a violation, whatever the mode."""
    sb.set_validation(mode=mode, required=[INDUSTRY_RULE])
    rid = live_ids(sb, 1)[0]
    status, body = call(sb, f"{DATED}/{rid}", {"properties": {"lifecyclestage": "customer"}}, "PATCH")
    assert (status, body["errors"][0]["context"]) == (400, {"ids": [rid]})
    created = {"properties": {"email": "new@x.example", "lifecyclestage": "customer"}}
    assert call(sb, DATED, created)[0] == 400
    assert not [c for c in sb.export("contacts") if c["properties"].get("email") == "new@x.example"]


def test_batch_create_per_input_names_the_refused_input_by_trace_id(sb: RunningSandbox) -> None:
    """A refused create is named by its objectWriteTraceId; the valid creates are made (207)."""
    sb.set_validation(mode="per_input", required=[INDUSTRY_RULE])
    inputs = [
        {"properties": {"email": "a@x.example", "lifecyclestage": "customer", "industry": "Retail"}},
        {"properties": {"email": "b@x.example", "lifecyclestage": "customer"}, "objectWriteTraceId": "t-b"},
    ]
    status, body = call(sb, f"{DATED}/batch/create", {"inputs": inputs})
    assert (status, [e["context"] for e in body["errors"]]) == (207, [{"id": ["t-b"]}])
    assert [r["properties"]["email"] for r in body["results"]] == ["a@x.example"]


def test_batch_upsert_per_input_refuses_by_the_upsert_key(sb: RunningSandbox) -> None:
    """An upsert that would leave a customer without an industry is refused by its key; the other is written."""
    sb.set_validation(mode="per_input", required=[INDUSTRY_RULE])
    inputs = [
        {"id": "u1@x.example", "idProperty": "email", "properties": {"lifecyclestage": "customer"}},
        {"id": "u2@x.example", "idProperty": "email", "properties": {"lifecyclestage": "lead"}},
    ]
    status, body = call(sb, f"{DATED}/batch/upsert", {"inputs": inputs})
    assert (status, [e["context"] for e in body["errors"]]) == (207, [{"id": ["u1@x.example"]}])
    assert [(r["properties"]["email"], r["new"]) for r in body["results"]] == [("u2@x.example", True)]


def test_listed_ids_are_refused(sb: RunningSandbox) -> None:
    """A refuse rule with ids refuses writes to those contacts only."""
    refused, allowed = live_ids(sb, 2)
    sb.set_validation(refuse=[{"object": "contacts", "ids": [refused]}])
    assert call(sb, f"{DATED}/{refused}", {"properties": {"jobtitle": "x"}}, "PATCH")[0] == 400
    assert call(sb, f"{DATED}/{allowed}", {"properties": {"jobtitle": "x"}}, "PATCH")[0] == 200


def _refused_by_share(sb: RunningSandbox, ids: list[str], seed: int) -> set[str]:
    sb.set_validation(mode="per_input", refuse=[{"object": "contacts", "share": 0.2, "seed": seed}])
    inputs = [{"id": i, "properties": {"jobtitle": "x"}} for i in ids]
    _, body = call(sb, f"{DATED}/batch/update", {"inputs": inputs})
    return {e["context"]["id"][0] for e in body.get("errors", [])}


def test_a_share_of_contacts_is_refused_deterministically(sb: RunningSandbox) -> None:
    """share=0.2 refuses about a fifth of 100 contacts, the same ones on every call with one seed."""
    ids = live_ids(sb, 100)
    first = _refused_by_share(sb, ids, seed=7)
    assert 8 <= len(first) <= 35
    assert _refused_by_share(sb, ids, seed=7) == first
    assert _refused_by_share(sb, ids, seed=8) != first


def test_rules_switch_on_and_off_at_run_time_and_refusals_are_counted(sb: RunningSandbox) -> None:
    """Rules set through the operator API apply at once, clearing them lifts them, and stats count refusals."""
    ids = live_ids(sb, 3)
    sb.reset_stats()
    sb.set_validation(mode="batch", required=[INDUSTRY_RULE])
    assert call(sb, f"{DATED}/batch/update", three_updates(ids))[0] == 400
    assert sb.stats()["validation"] == {"refused_inputs": 1, "refused_requests": 1}
    assert sb.set_validation() == {"mode": "batch", "required": [], "refuse": []}
    assert call(sb, f"{DATED}/batch/update", three_updates(ids))[0] == 200


def test_rules_can_be_given_at_start(fresh: Start) -> None:
    """run_sandbox(validation=...) starts with the rules in force."""
    rules = {"mode": "per_input", "required": [INDUSTRY_RULE], "refuse": []}
    with fresh(contacts=5, engagements=0, validation=rules) as sb:
        assert sb.validation() == rules
        assert call(sb, DATED, {"properties": {"lifecyclestage": "customer"}})[0] == 400


def test_bad_rules_are_refused_by_the_operator_api(sb: RunningSandbox) -> None:
    """An unknown mode is a 400 from the operator API and leaves the rules unchanged."""
    with pytest.raises(OSError, match="400"):
        sb.set_validation(mode="sometimes")
    assert sb.validation()["mode"] == "batch"


def test_cli_options_become_rules() -> None:
    """--require-when, --refuse-ids and --refuse-share read as the operator API's rules."""
    rules = validation_rules(
        "per_input", ["contacts:industry:lifecyclestage=customer"], ["contacts:1,2"], ["contacts:0.01"], 5
    )
    assert rules == {
        "mode": "per_input",
        "required": [INDUSTRY_RULE],
        "refuse": [{"object": "contacts", "ids": ["1", "2"]}, {"object": "contacts", "share": 0.01, "seed": 5}],
    }
