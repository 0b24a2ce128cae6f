"""Portal activity on demand: `simulate()` advances the portal by N minutes of realistic sales work, and
`bulk_import()` writes N records sharing one modification timestamp.

Activity times (`hs_timestamp`, stage dates, createdate of new leads) are back-dated into the last N minutes;
modification dates are the real wall clock at the moment of each write, as in HubSpot. Re-associating an
engagement changes only its associations, never its modification date.
"""

from __future__ import annotations

import random
from typing import Any

import orjson

from sandbox import content
from sandbox.clock import MINUTE_MS, iso, now_ms
from sandbox.constants import DISPOSITION_CONNECTED, DISPOSITION_NO_ANSWER, DISPOSITION_VOICEMAIL, ENGAGEMENT_TYPES
from sandbox.objtypes import STANDARD, ObjectType
from sandbox.org import LOST_STAGE, OPEN_STAGES, REPS, WON_STAGE, owner_id
from sandbox.portal import Portal, Row

STAGE_ORDER = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer")
ACTIVE_REPS = [i for i, r in enumerate(REPS) if not r.archived]
Summary = dict[str, dict[str, list[str]]]


class Simulator:
    """One simulation run: picks records deterministically from `seed` and writes through the portal."""

    def __init__(
        self, portal: Portal, minutes: float, seed: int, archiving: tuple[str, ...] = ("calls", "emails", "contacts")
    ) -> None:
        self.portal = portal
        self.archiving = archiving  # the object types a few records of which are archived
        self.rng = random.Random(seed)
        self.end = now_ms()
        self.start = self.end - int(minutes * MINUTE_MS)
        self.scale = max(minutes / 60, 0.0)
        self.summary: Summary = {"created": {}, "updated": {}, "archived": {}, "reassociated": {}}

    def _n(self, per_hour: float) -> int:
        return max(1, round(per_hour * self.scale)) if self.scale else 0

    def _when(self, not_before: int | None = None) -> int:
        low = max(self.start, not_before or self.start)
        return self.rng.randint(min(low, self.end), self.end)

    def _note(self, section: str, ot: ObjectType, ids: list[int]) -> None:
        self.summary[section].setdefault(ot.name, []).extend(str(i) for i in ids)

    def _random_live(self, ot: ObjectType, n: int, where: str = "") -> list[Row]:
        """Up to `n` distinct live records picked by id at random (deterministic for a seed)."""
        bounds = self.portal.query(f"SELECT MIN(id), MAX(id) FROM {ot.table} WHERE archived = 0 {where}")[0]
        if bounds[0] is None:
            return []
        picked: dict[int, Row] = {}
        for _ in range(n * 20):
            if len(picked) >= n:
                break
            rid = self.rng.randint(bounds[0], bounds[1])
            rows = self.portal.query(
                f"SELECT id, created, updated, archived, archived_at, props FROM {ot.table}"
                f" WHERE id >= ? AND archived = 0 {where} ORDER BY id LIMIT 1",
                (rid,),
            )
            if rows:
                picked[rows[0][0]] = rows[0]
        return list(picked.values())

    def run(self) -> dict[str, Any]:
        """Create leads and activities, move contacts and deals, re-associate and archive a few records."""
        contacts = STANDARD["contacts"]
        sizes = {name: self.portal.count(STANDARD[name]) for name in ("contacts", "deals", "calls")}
        new_contacts = self._new_contacts(self._n(max(5, sizes["contacts"] / 1_000)))
        targets = new_contacts + self._random_live(contacts, self._n(max(10, sizes["contacts"] / 500)))
        self._new_engagements(targets, self._n(max(30, sizes["calls"] / 500)))
        self._move_contacts(self._random_live(contacts, self._n(max(5, sizes["contacts"] / 500))))
        self._move_deals(self._n(max(3, sizes["deals"] / 100)))
        self._new_deals(targets[: self._n(2)])
        self._reassociate(self._n(4))
        self._archive(self._n(1))
        return {**self.summary, "window": {"from": iso(self.start), "to": iso(self.end)}}

    # -- creations --------------------------------------------------------------------------------------------

    def _new_contacts(self, n: int) -> list[Row]:
        ot = STANDARD["contacts"]
        rows = []
        for rid in self.portal.next_ids(ot, n):
            created = self._when()
            first, last = self.rng.choice(content.FIRST_NAMES), self.rng.choice(content.LAST_NAMES)
            rep = self.rng.choice(ACTIVE_REPS)
            props = {
                "firstname": first,
                "lastname": last,
                "email": f"{first.lower()}.{rid}@newlead.example",
                "lifecyclestage": "lead",
                "hs_lifecyclestage_lead_date": iso(created),
                "hubspot_owner_id": owner_id(rep),
                "hubspot_owner_assigneddate": iso(created),
                "hs_buying_role": self.rng.choice(("DECISION_MAKER", "INFLUENCER", "END_USER", "CHAMPION")),
            }
            rows.append(self.portal.create(ot, rid, props, now_ms(), created))
        self._note("created", ot, [r[0] for r in rows])
        return rows

    def _new_engagements(self, contacts: list[Row], n: int) -> None:
        if not contacts:
            return
        for _ in range(n):
            contact = self.rng.choice(contacts)
            kind = self.rng.choice(("calls", "calls", "emails", "emails", "meetings", "notes", "tasks"))
            ot = STANDARD[kind]
            props = engagement_props(self.rng, kind, self._when(contact[1]))
            owner = orjson.loads(contact[5]).get("hubspot_owner_id")
            if owner:
                props["hubspot_owner_id"] = owner
            rid = self.portal.next_ids(ot, 1)[0]
            self.portal.create(ot, rid, props, now_ms())
            self.portal.associate(ot, rid, STANDARD["contacts"], contact[0])
            self._note("created", ot, [rid])

    def _new_deals(self, contacts: list[Row]) -> None:
        ot = STANDARD["deals"]
        for contact in contacts:
            rid = self.portal.next_ids(ot, 1)[0]
            created = self._when(contact[1])
            props = {
                "dealname": f"{self.rng.choice(content.COMPANIES)} - New business",
                "pipeline": "default",
                "dealstage": "appointmentscheduled",
                "amount": f"{self.rng.randint(20, 400) * 100}.00",
                "closedate": iso(created + 30 * 1_440 * MINUTE_MS),
                "hs_is_closed": "false",
                "hs_is_closed_won": "false",
                "hs_is_closed_lost": "false",
            }
            owner = orjson.loads(contact[5]).get("hubspot_owner_id")
            if owner:
                props["hubspot_owner_id"] = owner
            self.portal.create(ot, rid, props, now_ms(), created)
            self.portal.associate(ot, rid, STANDARD["contacts"], contact[0])
            self._note("created", ot, [rid])

    # -- changes ----------------------------------------------------------------------------------------------

    def _move_contacts(self, rows: list[Row]) -> None:
        ot = STANDARD["contacts"]
        for row in rows:
            props = orjson.loads(row[5])
            stage = props.get("lifecyclestage")
            if self.rng.random() < 0.3 or stage not in STAGE_ORDER[:-1]:
                props["hubspot_owner_id"] = owner_id(self.rng.choice(ACTIVE_REPS))
                props["hubspot_owner_assigneddate"] = iso(self._when())
            else:
                nxt = STAGE_ORDER[STAGE_ORDER.index(stage) + 1]
                props["lifecyclestage"] = nxt
                props[f"hs_lifecyclestage_{nxt}_date"] = iso(self._when(row[1]))
            self.portal.update(ot, row[0], props, now_ms())
            self._note("updated", ot, [row[0]])

    def _move_deals(self, n: int) -> None:
        ot = STANDARD["deals"]
        for row in self._random_live(ot, n, "AND json_extract(props, '$.hs_is_closed') = 'false'"):
            props = orjson.loads(row[5])
            pipeline = props.get("pipeline", "default")
            stages = OPEN_STAGES.get(pipeline, OPEN_STAGES["default"])
            current = props.get("dealstage")
            at = stages.index(current) if current in stages else 0
            if at + 1 < len(stages) and self.rng.random() < 0.6:
                props["dealstage"] = stages[at + 1]
            else:
                won = self.rng.random() < 0.45
                props["dealstage"] = (WON_STAGE if won else LOST_STAGE).get(pipeline, "closedwon")
                props.update(
                    {
                        "hs_is_closed": "true",
                        "hs_is_closed_won": str(won).lower(),
                        "hs_is_closed_lost": str(not won).lower(),
                        "closedate": iso(self._when(row[1])),
                    }
                )
            self.portal.update(ot, row[0], props, now_ms())
            self._note("updated", ot, [row[0]])

    def _reassociate(self, n: int) -> None:
        """Move engagements from one contact to another: associations change, modification dates do not."""
        contacts = STANDARD["contacts"]
        ot = STANDARD["calls"]
        for row in self._random_live(ot, n):
            linked = self.portal.associated(ot, [row[0]], contacts).get(row[0], [])
            others = self._random_live(contacts, 1)
            if not linked or not others or others[0][0] in linked:
                continue
            self.portal.dissociate(ot, row[0], contacts, linked[0])
            self.portal.associate(ot, row[0], contacts, others[0][0])
            self._note("reassociated", ot, [row[0]])

    def _archive(self, n: int) -> None:
        for name in self.archiving:
            ot = STANDARD[name]
            rows = self._random_live(ot, n)
            self.portal.archive(ot, [r[0] for r in rows], now_ms())
            self._note("archived", ot, [r[0] for r in rows])


def engagement_props(rng: random.Random, kind: str, when: int) -> dict[str, str]:
    """Properties of a new engagement of `kind` that happened at `when`."""
    props = {"hs_timestamp": iso(when)}
    if kind == "calls":
        connected = rng.random() < 0.35
        props.update(
            {
                "hs_call_direction": "OUTBOUND",
                "hs_call_title": rng.choice(content.CALL_TITLES),
                "hs_call_status": "COMPLETED",
                "hs_call_disposition": DISPOSITION_CONNECTED
                if connected
                else rng.choice((DISPOSITION_NO_ANSWER, DISPOSITION_VOICEMAIL)),
            }
        )
    elif kind == "emails":
        text, html = content.email_bodies(rng, rng.choice(content.FIRST_NAMES), "Sanne", rng.random() < 0.3)
        props.update(
            {
                "hs_email_direction": "EMAIL",
                "hs_email_status": "SENT",
                "hs_email_text": text,
                "hs_email_html": html,
                "hs_email_subject": rng.choice(content.EMAIL_SUBJECTS),
            }
        )
    elif kind == "meetings":
        props.update(
            {
                "hs_meeting_title": rng.choice(content.MEETING_TITLES),
                "hs_meeting_outcome": "COMPLETED",
                "hs_meeting_start_time": iso(when),
            }
        )
    elif kind == "notes":
        props["hs_note_body"] = rng.choice(content.NOTE_BODIES)
    else:
        props.update({"hs_task_subject": rng.choice(content.TASK_SUBJECTS), "hs_task_status": "NOT_STARTED"})
    return props


def simulate(portal: Portal, minutes: float, seed: int = 0) -> dict[str, Any]:
    """Advance the portal by `minutes` of activity; returns the created/updated/archived/re-associated ids."""
    return Simulator(portal, minutes, seed).run()


def bulk_import(portal: Portal, object_name: str, count: int, mode: str = "create", seed: int = 0) -> dict[str, Any]:
    """Create (or update) `count` records that all share one modification timestamp, like an import."""
    ot = portal.resolve(object_name)
    if ot is None or ot.custom:
        raise ValueError(f"unknown object type '{object_name}'")
    rng = random.Random(seed)
    stamp = now_ms()
    if mode == "update":
        rows = portal.list_page(ot, 0, count, archived=False)
        portal.update_many(ot, [(r[0], {**orjson.loads(r[5]), **_import_marker(ot)}) for r in rows], stamp)
        ids = [r[0] for r in rows]
    elif mode == "create":
        ids = portal.next_ids(ot, count)
        items = [(rid, _import_props(rng, ot, rid, stamp)) for rid in ids]
        for start in range(0, len(items), 5_000):
            portal.create_many(ot, items[start : start + 5_000], stamp)
    else:
        raise ValueError("mode must be 'create' or 'update'")
    return {
        "object": ot.name,
        "mode": mode,
        "count": len(ids),
        "timestamp": iso(stamp),
        "timestamp_ms": stamp,
        "first_id": str(ids[0]) if ids else None,
        "last_id": str(ids[-1]) if ids else None,
    }


def _import_marker(ot: ObjectType) -> dict[str, str]:
    return {"hs_lead_status": "OPEN"} if ot.name == "contacts" else {}


def _import_props(rng: random.Random, ot: ObjectType, rid: int, stamp: int) -> dict[str, str]:
    if ot.name == "contacts":
        first, last = rng.choice(content.FIRST_NAMES), rng.choice(content.LAST_NAMES)
        return {
            "firstname": first,
            "lastname": last,
            "email": f"import.{rid}@list.example",
            "lifecyclestage": "subscriber",
            "hs_lifecyclestage_subscriber_date": iso(stamp),
        }
    if ot.name in ENGAGEMENT_TYPES:
        return engagement_props(rng, ot.name, stamp - rng.randint(0, 30 * 1_440 * MINUTE_MS))
    return {"dealname": f"Imported deal {rid}", "pipeline": "default", "dealstage": "appointmentscheduled"}
