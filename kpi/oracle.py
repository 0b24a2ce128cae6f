"""The oracle: K1-K5 computed in one pass over plain fact lists, straight from the spec's definitions.

The product computes aggregates with the store-backed cell engine (`sync.refresh`); this whole-portal pass is
what the tests and `bench/kpi_pure.py` check that engine and the per-KPI rules against. `affected_keys` names the
aggregate rows a change of facts moves, and `fact_window` the facts a row needs.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Iterable, Sequence

from kpi.catalog import KPIS
from kpi.config import KpiConfig
from kpi.contact import ContactKpis
from kpi.facts import CallFact, DealFact, EmailFact
from kpi.followup import aggregate_followup
from kpi.marketing import aggregate_marketing
from kpi.periods import ALL_TIME, MS_PER_DAY, Calendar
from kpi.reach import OPPORTUNITY_WINDOW_MS, aggregate_reach
from kpi.response import aggregate_response
from kpi.rows import Owner
from kpi.scopes import PORTAL, AggregateKey, Scopes, Values
from kpi.winrate import aggregate_winrate


def aggregate_all(
    contacts: Iterable[ContactKpis],
    calls: Iterable[CallFact],
    emails: Iterable[EmailFact],
    deals: Iterable[DealFact],
    owners: Iterable[Owner],
    *,
    config: KpiConfig,
    decision_makers: Container[int] | None = None,
    only: Collection[AggregateKey] | None = None,
) -> dict[AggregateKey, Values]:
    """Every K1-K5 aggregate (or only the keys in `only`), keyed (kpi, scope, scope id, period).

    `decision_makers` are the contact ids that are decision makers (D6); by default those of `contacts` whose
    `decision_maker` is set (right when `contacts` holds every contact reached by the calls passed).
    """
    contact_list = contacts if isinstance(contacts, Sequence) else list(contacts)
    deal_list = deals if isinstance(deals, Sequence) else list(deals)
    if decision_makers is None:
        decision_makers = {c.contact_id for c in contact_list if c.decision_maker}
    scopes = Scopes(owners)
    calendar = config.calendar
    wanted = _wanted(only)
    out: dict[AggregateKey, Values] = {}
    if "K1" in wanted:
        out.update(aggregate_reach(calls, deal_list, decision_makers, scopes, calendar, only=only))
    if "K2" in wanted:
        out.update(aggregate_response(contact_list, scopes, calendar, only=only))
    if "K3" in wanted:
        out.update(aggregate_followup(contact_list, scopes, calendar, only=only))
    if "K4" in wanted:
        out.update(aggregate_marketing(emails, scopes, calendar, only=only))
    if "K5" in wanted:
        out.update(aggregate_winrate(contact_list, deal_list, scopes, calendar, only=only))
    return out


def _wanted(only: Collection[AggregateKey] | None) -> set[str]:
    return set(KPIS) if only is None else {key[0] for key in only}


def affected_keys(
    owners: Iterable[Owner],
    config: KpiConfig,
    *,
    contacts: Iterable[ContactKpis] = (),
    calls: Iterable[CallFact] = (),
    emails: Iterable[EmailFact] = (),
    deals: Iterable[DealFact] = (),
) -> set[AggregateKey]:
    """The aggregate keys whose values may change when the given facts change.

    Pass both the old and the new version of every changed fact (a removed fact only in its old version, a new
    one only in its new). A changed contact affects K2 (month of T0), K3 (month of first touch) and K5 (month
    of the SQL date) of its owner, the owner's team and the portal, and "all". A connected call also affects K1
    opportunities of the months up to 90 days after it. A deal affects K5 by its owner (month of closedate) and
    K1 opportunities in the month of its createdate for every known owner and team (which owners reached its
    contacts is not known from the deal alone); an owner that is not among `owners` (an id no Owner row has)
    is only covered through its calls: pass the connected calls of a changed deal's contacts too. Likewise a
    changed decision-maker flag on a contact affects K1 through its connected calls: pass those calls too.
    """
    scopes = Scopes(owners)
    cal = config.calendar
    keys: set[AggregateKey] = set()
    for c in contacts:
        owner = Scopes.owner_key(c.owner_id)
        keys.update(scopes.keys_of("K2", owner, _month(cal, c.t0)) if c.t0 is not None else ())
        keys.update(scopes.keys_of("K3", owner, _month(cal, c.first_touch_at)))
        keys.update(scopes.keys_of("K5", owner, _month(cal, c.sql_date)) if c.sql_date is not None else ())
    for call in calls:
        keys.update(scopes.keys_of("K1", call.owner_id, cal.period(call.timestamp)))
        if call.connected:
            for month in _months_between(cal, call.timestamp, call.timestamp + OPPORTUNITY_WINDOW_MS):
                keys.update(scopes.keys_of("K1", call.owner_id, month))
    for email in emails:
        keys.update(scopes.keys_of("K4", email.owner_id, cal.period(email.timestamp)))
    all_scopes = scopes.all_scopes()
    for deal in deals:
        keys.update(scopes.keys_of("K5", Scopes.owner_key(deal.owner_id), _month(cal, deal.closedate)))
        if deal.createdate is not None:
            month = cal.period(deal.createdate)
            keys.update(("K1", scope, sid, p) for scope, sid in all_scopes for p in (month, ALL_TIME))
    return keys


def fact_window(period: str, config: KpiConfig) -> tuple[int | None, int | None]:
    """The UTC ms range [start, end) of facts needed for a key of `period`; (None, None) for all time.

    For K1 opportunities, connected calls are needed from `start - 90 days` (see `opportunity_call_start`).
    Facts are chosen by their own KPI time (call, email, T0, first touch, SQL date, closedate, createdate).
    """
    if period == ALL_TIME:
        return None, None
    return config.calendar.period_bounds(period)


def opportunity_call_start(period_start_ms: int) -> int:
    """The earliest connected-call time that can make a deal created at or after `period_start_ms` count."""
    return period_start_ms - OPPORTUNITY_WINDOW_MS


def scope_owner_ids(scope: str, scope_id: str, owners: Iterable[Owner]) -> frozenset[str] | None:
    """The owner ids whose facts feed a scope; None for the portal (every owner, including unassigned)."""
    if scope == PORTAL:
        return None
    if scope == "team":
        return frozenset(o.id for o in owners if o.primary_team_id == scope_id)
    return frozenset({scope_id})


def _month(cal: Calendar, ms: int | None) -> str | None:
    return None if ms is None else cal.period(ms)


def _months_between(cal: Calendar, start: int, end: int) -> list[str]:
    months: list[str] = []
    t = start
    while t <= end:
        month = cal.period(t)
        if not months or months[-1] != month:
            months.append(month)
        t += MS_PER_DAY
    last = cal.period(end)
    if months[-1] != last:
        months.append(last)
    return months
