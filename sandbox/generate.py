"""Deterministic generator of a believable B2B sales portal (same seed and anchor -> same portal).

Contacts are generated one by one with their whole history (touches, conversations, deals, lifecycle stages),
and rows are streamed into the portal in batches, so memory stays bounded at any size. Timestamps fall in the
~6 months before the anchor (default: midnight UTC today), so nothing generated lies in the future.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate

import orjson

from sandbox import content
from sandbox.clock import DAY_MS, HOUR_MS, MINUTE_MS, iso, now_ms, start_of_utc_day
from sandbox.constants import (
    DISPOSITION_BUSY,
    DISPOSITION_CONNECTED,
    DISPOSITION_GATEKEEPER,
    DISPOSITION_LIVE_MESSAGE,
    DISPOSITION_NO_ANSWER,
    DISPOSITION_VOICEMAIL,
    DISPOSITION_WRONG_NUMBER,
)
from sandbox.objtypes import STANDARD
from sandbox.org import (
    DEACTIVATED_DAYS_AGO,
    LOST_STAGE,
    OPEN_STAGES,
    RENEWAL_PIPELINE,
    REPS,
    UNKNOWN_OWNER_ID,
    WON_STAGE,
    Rep,
    owner_id,
    owners_json,
    pipelines_json,
)
from sandbox.portal import Portal, Row

SIZES = {"small": (600, 6_000), "medium": (50_000, 500_000), "large": (200_000, 2_000_000)}
CONTACT_ID_BASE = 1_001
DEAL_ID_BASE = 5_000_001
ENGAGEMENT_ID_BASE = 30_000_001
BATCH = 5_000
HISTORY_DAYS = 180
P_OPPORTUNITY = 0.10  # per connected outbound call; ~3% of all outbound calls end up as a deal
NO_OWNER_SHARE = 0.04
FAILED_DISPOSITIONS = (
    (DISPOSITION_NO_ANSWER, 0.35),
    (DISPOSITION_VOICEMAIL, 0.30),
    (DISPOSITION_BUSY, 0.12),
    (DISPOSITION_LIVE_MESSAGE, 0.10),
    (DISPOSITION_GATEKEEPER, 0.09),
    (DISPOSITION_WRONG_NUMBER, 0.04),
)
BAD_TIMESTAMPS = ("2026-02-30T25:61:00Z", "n/a", "yesterday 3pm")
MEETING_OUTCOMES = (
    ("COMPLETED", 0.55),
    ("SCHEDULED", 0.12),
    ("RESCHEDULED", 0.10),
    ("NO_SHOW", 0.10),
    ("CANCELED", 0.13),
)
BUYING_ROLES = (
    ("DECISION_MAKER", 0.2),
    ("BUDGET_HOLDER", 0.1),
    ("CHAMPION", 0.2),
    ("INFLUENCER", 0.25),
    ("END_USER", 0.25),
)


@dataclass(frozen=True)
class GenerateOptions:
    """What to generate: a named size or explicit counts, a seed, and the anchor ("now" of the history)."""

    seed: int = 42
    size: str = "small"
    contacts: int | None = None
    engagements: int | None = None
    anchor_ms: int | None = None

    def counts(self) -> tuple[int, int]:
        """Number of contacts and engagements to generate."""
        contacts, engagements = SIZES[self.size]
        n_contacts = self.contacts if self.contacts is not None else contacts
        if self.engagements is not None:
            return n_contacts, self.engagements
        return n_contacts, engagements * n_contacts // contacts


def _pick(rng: random.Random, table: Sequence[tuple[str, float]]) -> str:
    roll = rng.random() * sum(w for _, w in table)
    for value, weight in table:
        roll -= weight
        if roll <= 0:
            return value
    return table[-1][0]


class _Sink:
    """Collects rows per object type and writes them in batches."""

    def __init__(self, portal: Portal) -> None:
        self.portal = portal
        self.rows: dict[str, list[Row]] = {name: [] for name in STANDARD}
        self.assoc: list[tuple[int, int, int, int]] = []

    def add(self, type_name: str, row: Row) -> None:
        rows = self.rows[type_name]
        rows.append(row)
        if len(rows) >= BATCH:
            self.portal.insert_rows(STANDARD[type_name], rows)
            rows.clear()

    def link(self, a_type: str, a_id: int, b_type: str, b_id: int) -> None:
        self.assoc.append((STANDARD[a_type].code, a_id, STANDARD[b_type].code, b_id))
        if len(self.assoc) >= BATCH * 4:
            self.flush_assoc()

    def flush_assoc(self) -> None:
        self.portal.insert_associations(self.assoc)
        self.assoc.clear()

    def flush(self) -> None:
        for name, rows in self.rows.items():
            if rows:
                self.portal.insert_rows(STANDARD[name], rows)
                rows.clear()
        self.flush_assoc()


@dataclass
class _ContactState:
    """What happened to one contact while its history was generated."""

    cid: int
    rep: Rep | None
    owner: str
    first: str
    t0: int
    last_activity: int = 0
    conversation: int | None = None
    deals: list[tuple[int, int]] = field(default_factory=list)  # (deal id, created)
    opportunity: int | None = None
    customer: int | None = None


class Generator:
    """Generates one portal; `run()` streams everything into the portal."""

    def __init__(self, portal: Portal, options: GenerateOptions) -> None:
        self.portal = portal
        self.rng = random.Random(options.seed)
        self.anchor = options.anchor_ms if options.anchor_ms is not None else start_of_utc_day(now_ms())
        self.n_contacts, self.n_engagements = options.counts()
        self.sink = _Sink(portal)
        self.next_engagement = ENGAGEMENT_ID_BASE
        self.next_deal = DEAL_ID_BASE
        self.deactivated = self.anchor - DEACTIVATED_DAYS_AGO * DAY_MS
        self.bulk_ms = self.anchor - 30 * DAY_MS + 12_345
        self.specials = {self.n_contacts // 3, 2 * self.n_contacts // 3} if self.n_contacts >= 3 else set()
        emails = max(self.n_engagements * 0.35, 1.0)
        self.long_every = max(1, int(emails / min(50, max(3, self.n_engagements // 2_000))))
        self.emails_seen = 0
        self.p_bad_ts = max(0.0005, 4 / max(self.n_engagements, 1))
        self.p_bulk_engagement = min(1.0, max(1_500, self.n_engagements * 0.03) / max(self.n_engagements * 0.8, 1))
        self._plan(random.Random(options.seed * 7919 + 1))

    # -- planning: owners, creation dates and activity quotas -----------------------------------------------

    def _plan(self, rng: random.Random) -> None:
        """Choose each contact's owner, creation time and exact number of activities up front."""
        shares = [(str(i), r.share) for i, r in enumerate(REPS)]
        span = HISTORY_DAYS * DAY_MS
        self.owners: list[int] = []
        self.created: list[int] = []
        weights: list[float] = []
        for _ in range(self.n_contacts):
            created = self.anchor - int(span * rng.random() ** 1.15) - rng.randint(1, HOUR_MS)
            owner = -1 if rng.random() < NO_OWNER_SHARE else int(_pick(rng, shares))
            if owner >= 0 and REPS[owner].archived and created > self.deactivated:
                owner = 0
            self.owners.append(owner)
            self.created.append(created)
            weights.append((REPS[owner].attempts if owner >= 0 else 0.3) * rng.lognormvariate(0, 0.45))
        budget = max(self.n_engagements - len(self.specials), 0)
        total = sum(weights) or 1.0
        bounds = [round(budget * c / total) for c in accumulate(weights)]
        self.quotas = [b - a for a, b in zip([0, *bounds[:-1]], bounds, strict=True)]

    def run(self) -> None:
        """Generate owners, pipelines, contacts with their activities and deals, then build indexes."""
        self.portal.directory.owners = owners_json(self.anchor)
        self.portal.directory.pipelines = pipelines_json(self.anchor)
        for i in range(self.n_contacts):
            self._contact(i)
            if i in self.specials:
                self._mass_email()
        self.sink.flush()
        self.portal.create_indexes(analyze=self.n_engagements > 100_000)

    # -- contacts ---------------------------------------------------------------------------------------------

    def _contact(self, i: int) -> None:
        rng = self.rng
        owner_index = self.owners[i]
        rep = REPS[owner_index] if owner_index >= 0 else None
        created = self.created[i]
        kind = _pick(rng, (("lead", 0.9), ("subscriber", 0.08), ("other", 0.015), ("prospect", 0.005)))
        lead_date = created + rng.randint(0, 5 * MINUTE_MS) if kind == "lead" and rng.random() < 0.9 else None
        state = _ContactState(
            CONTACT_ID_BASE + i,
            rep,
            owner_id(owner_index) if rep else "",
            rng.choice(content.FIRST_NAMES),
            lead_date or created,
            created,
        )
        self._activities(state, self.quotas[i])
        props = self._contact_props(state, kind, created, lead_date)
        updated = min(self.anchor, max(state.last_activity, created) + rng.randint(0, 60_000))
        if updated < self.bulk_ms and created < self.bulk_ms and rng.random() < 0.2:
            updated = self.bulk_ms
        self._emit("contacts", state.cid, created, updated, props, p_archive=0.01)

    def _contact_props(self, s: _ContactState, kind: str, created: int, lead_date: int | None) -> dict[str, str]:
        rng = self.rng
        last = rng.choice(content.LAST_NAMES)
        company = rng.choice(content.COMPANIES)
        domain = company.lower().replace(" ", "").replace("'", "") + ".example"
        props = {
            "firstname": s.first,
            "lastname": last,
            "company": company,
            "jobtitle": rng.choice(content.JOB_TITLES),
            "email": f"{s.first.lower()}.{last.lower().replace(' ', '')}.{s.cid}@{domain}",
            "phone": f"+31 6 {rng.randint(10_000_000, 99_999_999)}",
            "num_employees": str(rng.choice((10, 25, 50, 200, 1000, 5000))),
        }
        if rng.random() < 0.005:
            props["num_employees"] = rng.choice(("fifty", "1,000+", "unknown"))
        if s.owner:
            props["hubspot_owner_id"] = s.owner
            props["hubspot_owner_assigneddate"] = iso(created + rng.randint(0, 2 * MINUTE_MS))
        roles = self._buying_roles()
        if roles:
            props["hs_buying_role"] = roles
        props.update(self._stages(s, kind, created, lead_date))
        return props

    def _buying_roles(self) -> str:
        rng = self.rng
        if rng.random() < 0.35:
            return ""
        roles = {_pick(rng, BUYING_ROLES) for _ in range(1 + (rng.random() < 0.3))}
        return ";".join(sorted(roles))

    def _stages(self, s: _ContactState, kind: str, created: int, lead_date: int | None) -> dict[str, str]:
        """Lifecycle stage and the stage dates consistent with what happened to the contact."""
        rng = self.rng
        if kind != "lead":
            out = {"lifecyclestage": kind}
            if kind == "subscriber":
                out["hs_lifecyclestage_subscriber_date"] = iso(created)
            return out
        dates: dict[str, int] = {}
        if lead_date is not None:
            dates["lead"] = lead_date
        conv = s.conversation
        if conv is not None and rng.random() < 0.7:
            dates["marketingqualifiedlead"] = min(self.anchor, conv + rng.randint(0, HOUR_MS))
        if s.opportunity is not None or (conv is not None and rng.random() < 0.5):
            sql = min(self.anchor, (conv or created) + rng.randint(0, 3 * DAY_MS))
            dates["salesqualifiedlead"] = min(sql, s.opportunity) if s.opportunity else sql
        if s.opportunity is not None:
            dates["opportunity"] = s.opportunity
        if s.customer is not None:
            dates["customer"] = max(s.customer, dates.get("salesqualifiedlead", 0))
            if rng.random() < 0.1:
                dates["evangelist"] = min(self.anchor, dates["customer"] + rng.randint(DAY_MS, 20 * DAY_MS))
        stage = max(dates, key=dates.__getitem__) if dates else "lead"
        out = {"lifecyclestage": stage, "hs_lead_status": "CONNECTED" if conv else "ATTEMPTED_TO_CONTACT"}
        out.update({f"hs_lifecyclestage_{k}_date": iso(v) for k, v in dates.items()})
        return out

    # -- activities -------------------------------------------------------------------------------------------

    def _activities(self, s: _ContactState, quota: int) -> None:
        """Emit `quota` activities on the contact in time order, starting after the rep's response delay."""
        rng = self.rng
        median = s.rep.response_minutes if s.rep else 1_440
        t = min(self.anchor - 1, s.t0 + int(median * MINUTE_MS * math.exp(rng.gauss(0, 0.9))))
        mean_gap = min(2.5 * DAY_MS, max((self.anchor - t) / (quota + 1), MINUTE_MS))
        for k in range(quota):
            self._activity(s, t, k)
            s.last_activity = max(s.last_activity, t)
            gap = rng.randint(5 * MINUTE_MS, 2 * HOUR_MS) if rng.random() < 0.1 else rng.expovariate(1 / mean_gap)
            nxt = t + int(gap)
            t = nxt if nxt < self.anchor else t + int((self.anchor - t) * rng.random())

    def _activity(self, s: _ContactState, t: int, k: int) -> None:
        rng = self.rng
        if s.conversation is None:
            table = (("calls", 0.5), ("emails", 0.33), ("meetings", 0.03), ("notes", 0.08), ("tasks", 0.06))
        else:
            table = (("calls", 0.25), ("emails", 0.35), ("meetings", 0.18), ("notes", 0.12), ("tasks", 0.1))
        kind = _pick(rng, (("calls", 0.55), ("emails", 0.45))) if k == 0 else _pick(rng, table)
        owner = s.owner
        if s.rep is not None and s.rep.archived and t > self.deactivated:
            owner = owner_id(0)
        elif not owner and rng.random() < 0.5:
            owner = owner_id(rng.randrange(len(REPS) - 1))
        props = getattr(self, f"_{kind}")(s, t)
        if owner:
            props["hubspot_owner_id"] = UNKNOWN_OWNER_ID if rng.random() < 0.003 else owner
        self._engagement(kind, s, t, props)

    def _engagement(self, kind: str, s: _ContactState, t: int, props: dict[str, str]) -> None:
        rng = self.rng
        eid = self.next_engagement
        self.next_engagement += 1
        props["hs_timestamp"] = rng.choice(BAD_TIMESTAMPS) if rng.random() < self.p_bad_ts else iso(t)
        created = min(self.anchor, t + rng.randint(0, 5 * MINUTE_MS))
        updated = created
        if rng.random() < 0.15:
            updated = min(self.anchor, created + rng.randint(0, 10 * DAY_MS))
        if created < self.bulk_ms and updated < self.bulk_ms and rng.random() < self.p_bulk_engagement:
            updated = self.bulk_ms
        self._emit(kind, eid, created, updated, props, p_archive=0.005)
        roll = rng.random()
        if roll < 0.01:
            return  # logged against nothing
        self.sink.link(kind, eid, "contacts", s.cid)
        if roll < 0.04:
            for other in {rng.randrange(self.n_contacts) for _ in range(rng.randint(1, 3))}:
                if CONTACT_ID_BASE + other != s.cid:
                    self.sink.link(kind, eid, "contacts", CONTACT_ID_BASE + other)
        for deal_id, deal_created in s.deals:
            if deal_created <= t:
                self.sink.link(kind, eid, "deals", deal_id)

    def _emit(
        self, kind: str, rid: int, created: int, updated: int, props: dict[str, str], *, p_archive: float
    ) -> None:
        archived_at = None
        if self.rng.random() < p_archive:
            archived_at = min(self.anchor, updated + self.rng.randint(0, 5 * DAY_MS))
        row = (rid, created, updated, int(archived_at is not None), archived_at, orjson.dumps(props).decode())
        self.sink.add(kind, row)

    def _calls(self, s: _ContactState, t: int) -> dict[str, str]:
        rng = self.rng
        direction = _pick(rng, (("OUTBOUND", 0.86), ("INBOUND", 0.08), ("", 0.06)))
        rate = 0.9 if direction == "INBOUND" else (s.rep.connect_rate if s.rep else 0.3)
        connected = rng.random() < rate
        disposition = DISPOSITION_CONNECTED if connected else _pick(rng, FAILED_DISPOSITIONS)
        status = {DISPOSITION_NO_ANSWER: "NO_ANSWER", DISPOSITION_BUSY: "BUSY"}.get(disposition, "COMPLETED")
        duration = rng.randint(2 * MINUTE_MS, 25 * MINUTE_MS) if connected else rng.randint(5_000, 40_000)
        props = {
            "hs_call_title": rng.choice(content.CALL_TITLES),
            "hs_call_disposition": disposition,
            "hs_call_status": status,
            "hs_call_duration": str(duration),
            "hs_call_body": f"<p>{rng.choice(content.NOTE_BODIES)}</p>",
            "hs_call_to_number": f"+31 6 {rng.randint(10_000_000, 99_999_999)}",
        }
        if direction:
            props["hs_call_direction"] = direction
        if connected:
            s.conversation = s.conversation or t
            if direction != "INBOUND" and s.rep is not None and rng.random() < P_OPPORTUNITY:
                self._deal(s, t + min(int(rng.expovariate(1 / (7 * DAY_MS))), 89 * DAY_MS))
        return props

    def _emails(self, s: _ContactState, t: int) -> dict[str, str]:
        rng = self.rng
        reply_share = 0.3 if s.conversation else 0.1
        direction = _pick(
            rng, (("EMAIL", 0.95 - reply_share), ("INCOMING_EMAIL", reply_share), ("FORWARDED_EMAIL", 0.05))
        )
        rep_first = s.rep.first if s.rep else "The Acme team"
        if direction == "INCOMING_EMAIL":
            text, html = content.reply_bodies(s.first)
            s.conversation = s.conversation or t
        else:
            share = s.rep.content_rate if s.rep else 0.1
            text, html = content.email_bodies(rng, s.first, rep_first, rng.random() < share)
        self.emails_seen += 1
        if self.emails_seen % self.long_every == self.long_every // 2:
            html = content.long_html(rng, 100_000 + rng.randint(1_000, 60_000))
        return {
            "hs_email_direction": direction,
            "hs_email_status": "SENT",
            "hs_email_text": text,
            "hs_email_html": html,
            "hs_email_subject": rng.choice(content.EMAIL_SUBJECTS),
        }

    def _meetings(self, s: _ContactState, t: int) -> dict[str, str]:
        rng = self.rng
        outcome = _pick(rng, MEETING_OUTCOMES)
        if outcome == "COMPLETED":
            s.conversation = s.conversation or t
        return {
            "hs_meeting_title": rng.choice(content.MEETING_TITLES),
            "hs_meeting_outcome": outcome,
            "hs_meeting_start_time": iso(t),
            "hs_meeting_end_time": iso(t + rng.choice((30, 45, 60)) * MINUTE_MS),
            "hs_meeting_body": "<p>Agenda: goals, current process, next steps.</p>",
        }

    def _notes(self, s: _ContactState, t: int) -> dict[str, str]:
        return {"hs_note_body": f"<p>{self.rng.choice(content.NOTE_BODIES)}</p>"}

    def _tasks(self, s: _ContactState, t: int) -> dict[str, str]:
        rng = self.rng
        status = _pick(rng, (("COMPLETED", 0.6), ("NOT_STARTED", 0.3), ("IN_PROGRESS", 0.05), ("WAITING", 0.05)))
        props = {
            "hs_task_subject": rng.choice(content.TASK_SUBJECTS),
            "hs_task_status": status,
            "hs_task_type": rng.choice(("CALL", "EMAIL", "TODO")),
            "hs_task_priority": rng.choice(("LOW", "MEDIUM", "HIGH")),
        }
        if status == "COMPLETED":
            props["hs_task_completion_date"] = iso(min(self.anchor, t + rng.randint(0, DAY_MS)))
        return props

    def _mass_email(self) -> None:
        """A webinar invitation BCC-logged on more than 250 contacts (exercises association paging)."""
        rng = self.rng
        recipients = rng.sample(range(self.n_contacts), min(self.n_contacts, rng.randint(260, 320)))
        eid = self.next_engagement
        self.next_engagement += 1
        t = self.anchor - rng.randint(DAY_MS, 60 * DAY_MS)
        text, html = content.email_bodies(rng, "there", REPS[0].first, True)
        props = {
            "hs_timestamp": iso(t),
            "hubspot_owner_id": owner_id(0),
            "hs_email_direction": "EMAIL",
            "hs_email_status": "SENT",
            "hs_email_subject": "Webinar invitation",
            "hs_email_text": text,
            "hs_email_html": html,
        }
        self._emit("emails", eid, t, t, props, p_archive=0.0)
        for r in recipients:
            self.sink.link("emails", eid, "contacts", CONTACT_ID_BASE + r)

    # -- deals ------------------------------------------------------------------------------------------------

    def _deal(self, s: _ContactState, created: int) -> None:
        """A deal opened after a connected call; closed won/lost by the rep's strength once its cycle ends."""
        rng = self.rng
        if created >= self.anchor or s.rep is None:
            return
        did = self.next_deal
        self.next_deal += 1
        pipeline = "default" if rng.random() < 0.88 else RENEWAL_PIPELINE
        close = created + rng.randint(12 * DAY_MS, 80 * DAY_MS)
        props = {
            "dealname": f"{rng.choice(content.COMPANIES)} - {rng.choice(('New business', 'Expansion'))}",
            "amount": f"{round(rng.lognormvariate(9.3, 0.8), -1):.2f}",
            "pipeline": pipeline,
            "hubspot_owner_id": s.owner,
            "closedate": iso(close),
            "dealtype": "newbusiness" if pipeline == "default" else "existingbusiness",
        }
        updated = min(self.anchor, created + rng.randint(0, 3 * DAY_MS))
        if close < self.anchor:
            won = rng.random() < s.rep.close_rate
            props["dealstage"] = (WON_STAGE if won else LOST_STAGE)[pipeline]
            props.update(
                {
                    "hs_is_closed": "true",
                    "hs_is_closed_won": str(won).lower(),
                    "hs_is_closed_lost": str(not won).lower(),
                }
            )
            updated = min(self.anchor, close + rng.randint(0, HOUR_MS))
            if won and s.customer is None:
                s.customer = close
        else:
            props["dealstage"] = rng.choice(OPEN_STAGES[pipeline])
            props.update({"hs_is_closed": "false", "hs_is_closed_won": "false", "hs_is_closed_lost": "false"})
        s.opportunity = s.opportunity or created
        s.deals.append((did, created))
        self._emit("deals", did, created, updated, props, p_archive=0.02)
        self.sink.link("deals", did, "contacts", s.cid)


def generate(portal: Portal, options: GenerateOptions) -> Portal:
    """Fill `portal` with a generated history and record how it was made."""
    started = time.perf_counter()
    generator = Generator(portal, options)
    generator.run()
    portal.meta.seed = options.seed
    portal.meta.size = options.size if options.contacts is None and options.engagements is None else "custom"
    portal.meta.anchor_ms = generator.anchor
    portal.meta.generation_seconds = round(time.perf_counter() - started, 3)
    return portal
