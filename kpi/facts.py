"""Per-engagement and per-deal facts: the small rows the K1, K4 and K5 aggregates read.

Facts depend only on their own engagement or deal (and the config), so a caller stores them next to the raw row
and rebuilds one only when that row changes. Contact facts are `kpi.contact.ContactKpis`. Facts are NamedTuples:
immutable, hashable (old and new versions compare by value) and cheap to build by the million.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from kpi.config import KpiConfig
from kpi.content import content_assets
from kpi.rows import Deal, Engagement, StageMap, deal_outcome

_OUTBOUND = frozenset({None, "", "OUTBOUND"})  # an empty call direction counts as outbound (D1)


class CallFact(NamedTuple):
    """A call that is a sales touch (D1): owned, outbound or without direction, timed, with contacts.

    `contact_ids` are the associated contacts as given on the engagement; the caller lists only non-archived
    contacts there (archived records are excluded everywhere).
    """

    engagement_id: int
    owner_id: str
    timestamp: int
    connected: bool
    contact_ids: tuple[int, ...]


class EmailFact(NamedTuple):
    """A sales email (an email touch, D1), once per email however many contacts it went to.

    `assets` are its marketing content asset keys (D7); it is a content email when there is at least one.
    """

    engagement_id: int
    owner_id: str
    timestamp: int
    assets: tuple[str, ...]


class DealFact(NamedTuple):
    """A non-archived deal with its outcome: True won, False lost, None open or unknown."""

    deal_id: int
    owner_id: str | None
    createdate: int | None
    closedate: int | None
    won: bool | None
    contact_ids: tuple[int, ...]


def call_fact(engagement: Engagement, config: KpiConfig) -> CallFact | None:
    """The call's fact, or None when it is not a sales touch of any contact (or is archived or untimed)."""
    e = engagement
    if (
        e.type != "call"
        or e.archived
        or e.timestamp is None
        or not e.owner_id
        or not e.contact_ids
        or e.call_direction not in _OUTBOUND
    ):
        return None
    connected = e.call_disposition in config.connected_dispositions
    return CallFact(e.id, e.owner_id, e.timestamp, connected, e.contact_ids)


def email_fact(engagement: Engagement, config: KpiConfig) -> EmailFact | None:
    """The email's fact, or None when it is not a sales email touch (or is archived or untimed)."""
    e = engagement
    if (
        e.type != "email"
        or e.archived
        or e.timestamp is None
        or not e.owner_id
        or not e.contact_ids
        or e.email_direction != "EMAIL"
    ):
        return None
    assets = content_assets(e.urls, config.content_re) if e.urls else ()
    return EmailFact(e.id, e.owner_id, e.timestamp, assets)


def engagement_facts(engagements: Iterable[Engagement], config: KpiConfig) -> tuple[list[CallFact], list[EmailFact]]:
    """`call_fact` and `email_fact` over many engagements in one pass (the full-recompute path)."""
    calls: list[CallFact] = []
    emails: list[EmailFact] = []
    connected_set = config.connected_dispositions
    content_re = config.content_re
    for e in engagements:
        kind = e.type
        if e.archived or e.timestamp is None or not e.owner_id or not e.contact_ids:
            continue
        if kind == "call":
            if e.call_direction in _OUTBOUND:
                connected = e.call_disposition in connected_set
                calls.append(CallFact(e.id, e.owner_id, e.timestamp, connected, e.contact_ids))
        elif kind == "email" and e.email_direction == "EMAIL":
            assets = content_assets(e.urls, content_re) if e.urls else ()
            emails.append(EmailFact(e.id, e.owner_id, e.timestamp, assets))
    return calls, emails


def deal_fact(deal: Deal, stages: StageMap) -> DealFact | None:
    """The deal's fact (outcome resolved with stage metadata, see `kpi.rows.deal_outcome`); None if archived."""
    if deal.archived:
        return None
    return DealFact(
        deal.id, deal.owner_id or None, deal.createdate, deal.closedate, deal_outcome(deal, stages), deal.contact_ids
    )
