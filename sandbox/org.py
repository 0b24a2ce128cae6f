"""The seeded sales organisation: teams, reps with distinct working styles, owners and deal pipelines.

Reps differ on purpose so every KPI in kpi-spec.md separates them: response speed, persistence, connect rate,
use of marketing content and closing strength.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.clock import DAY_MS, iso

TEAMS = (("368389", "Inside Sales"), ("368390", "Field Sales"), ("368391", "SDR Team"))


@dataclass(frozen=True)
class Rep:
    """One sales rep: an owner plus the habits the generator gives their activity."""

    first: str
    last: str
    team: int
    response_minutes: float  # median minutes from lead creation to the first touch
    attempts: float  # relative number of activities per contact (persistence)
    connect_rate: float  # share of outbound calls that connect
    content_rate: float  # share of sales emails with a marketing-content link
    close_rate: float  # share of closed deals won
    share: float  # relative share of contacts owned
    archived: bool = False


REPS = (
    Rep("Sanne", "de Vries", 0, 9, 1.6, 0.42, 0.55, 0.62, 1.2),
    Rep("Daan", "Jansen", 0, 2_400, 0.45, 0.30, 0.04, 0.18, 1.0),
    Rep("Emma", "Bakker", 0, 45, 1.2, 0.36, 0.30, 0.45, 1.0),
    Rep("Lucas", "Visser", 1, 600, 0.8, 0.33, 0.70, 0.55, 0.9),
    Rep("Julia", "Smit", 1, 25, 1.4, 0.39, 0.12, 0.30, 1.0),
    Rep("Milan", "Meijer", 1, 3_900, 0.5, 0.28, 0.20, 0.70, 0.8),
    Rep("Tess", "de Boer", 2, 4, 1.9, 0.37, 0.45, 0.35, 1.3),
    Rep("Sem", "Mulder", 2, 180, 0.6, 0.34, 0.08, 0.50, 1.1),
    Rep("Noor", "de Groot", 2, 70, 1.0, 0.31, 0.25, 0.40, 1.0),
    Rep("Bram", "Bos", 0, 300, 1.0, 0.35, 0.15, 0.45, 0.7, archived=True),
)
OWNER_ID_BASE = 41_629_700
USER_ID_BASE = 9_586_500
DEACTIVATED_DAYS_AGO = 100  # the archived rep left this many days before the anchor
UNKNOWN_OWNER_ID = "77777777"  # owner id found on a few engagements that no owner has


def owner_id(index: int) -> str:
    """The owner id of rep `index`."""
    return str(OWNER_ID_BASE + index * 13)


def owners_json(anchor_ms: int) -> list[dict[str, Any]]:
    """The owners API records (§7): active reps, plus the deactivated one with `userId: null`."""
    out = []
    for i, rep in enumerate(REPS):
        team_id, team_name = TEAMS[rep.team]
        created = iso(anchor_ms - 400 * DAY_MS + i * 3_600_000)
        updated = iso(anchor_ms - DEACTIVATED_DAYS_AGO * DAY_MS) if rep.archived else created
        user_id = USER_ID_BASE + i * 7
        out.append(
            {
                "id": owner_id(i),
                "email": f"{rep.first.lower()}.{rep.last.lower().replace(' ', '')}@acme-example.com",
                "type": "PERSON",
                "firstName": rep.first,
                "lastName": rep.last,
                "userId": None if rep.archived else user_id,
                "userIdIncludingInactive": user_id,
                "createdAt": created,
                "updatedAt": updated,
                "archived": rep.archived,
                "teams": [{"id": team_id, "name": team_name, "primary": True}],
            }
        )
    return out


DEFAULT_STAGES = (
    ("appointmentscheduled", "Appointment Scheduled", "0.2", "false"),
    ("qualifiedtobuy", "Qualified To Buy", "0.4", "false"),
    ("presentationscheduled", "Presentation Scheduled", "0.6", "false"),
    ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8", "false"),
    ("contractsent", "Contract Sent", "0.9", "false"),
    ("closedwon", "Closed Won", "1.0", "true"),
    ("closedlost", "Closed Lost", "0.0", "true"),
)
RENEWAL_PIPELINE = "75114261"
RENEWAL_STAGES = (
    ("75114262", "Renewal Due", "0.5", "false"),
    ("75114263", "Negotiation", "0.8", "false"),
    ("75114264", "Renewed", "1.0", "true"),
    ("75114265", "Churned", "0.0", "true"),
)
OPEN_STAGES = {"default": [s[0] for s in DEFAULT_STAGES[:5]], RENEWAL_PIPELINE: [s[0] for s in RENEWAL_STAGES[:2]]}
WON_STAGE = {"default": "closedwon", RENEWAL_PIPELINE: "75114264"}
LOST_STAGE = {"default": "closedlost", RENEWAL_PIPELINE: "75114265"}


def _pipeline(
    pid: str, label: str, order: int, stages: tuple[tuple[str, str, str, str], ...], created: str
) -> dict[str, Any]:
    return {
        "id": pid,
        "label": label,
        "displayOrder": order,
        "createdAt": created,
        "updatedAt": created,
        "archived": False,
        "stages": [
            {
                "id": sid,
                "label": slabel,
                "displayOrder": i,
                "metadata": {"isClosed": closed, "probability": prob},
                "createdAt": created,
                "updatedAt": created,
                "archived": False,
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for i, (sid, slabel, prob, closed) in enumerate(stages)
        ],
    }


def pipelines_json(anchor_ms: int) -> list[dict[str, Any]]:
    """The deal pipelines (§6): the default one (created at epoch 0) and a custom renewals pipeline."""
    return [
        _pipeline("default", "Sales Pipeline", 0, DEFAULT_STAGES, iso(0)),
        _pipeline(RENEWAL_PIPELINE, "Renewals", 1, RENEWAL_STAGES, iso(anchor_ms - 300 * DAY_MS)),
    ]
