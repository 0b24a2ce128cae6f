"""HubSpot facts the sandbox reproduces: object type ids, association type ids, dispositions, limits, tiers.

Sources are the sections of /work/shared/hubspot-api.md named beside each value.
"""

from __future__ import annotations

from typing import Final

ENGAGEMENT_TYPES: Final = ("calls", "emails", "meetings", "notes", "tasks")
STANDARD_TYPES: Final = ("contacts", "deals", *ENGAGEMENT_TYPES)

# Object type ids (§4.1).
TYPE_IDS: Final = {
    "contacts": "0-1",
    "deals": "0-3",
    "calls": "0-48",
    "emails": "0-49",
    "meetings": "0-47",
    "notes": "0-46",
    "tasks": "0-27",
}
SINGULAR: Final = {
    "contacts": "contact",
    "deals": "deal",
    "calls": "call",
    "emails": "email",
    "meetings": "meeting",
    "notes": "note",
    "tasks": "task",
}
# Small integer codes used in the association table instead of names.
TYPE_CODES: Final = {"contacts": 1, "deals": 3, "calls": 48, "emails": 49, "meetings": 47, "notes": 46, "tasks": 27}

# HUBSPOT_DEFINED default association type ids (§8.2), keyed (from, to).
ASSOCIATION_TYPE_IDS: Final = {
    ("calls", "contacts"): 194,
    ("contacts", "calls"): 193,
    ("emails", "contacts"): 198,
    ("contacts", "emails"): 197,
    ("meetings", "contacts"): 200,
    ("contacts", "meetings"): 199,
    ("notes", "contacts"): 202,
    ("contacts", "notes"): 201,
    ("tasks", "contacts"): 204,
    ("contacts", "tasks"): 203,
    ("calls", "deals"): 206,
    ("deals", "calls"): 205,
    ("emails", "deals"): 210,
    ("deals", "emails"): 209,
    ("meetings", "deals"): 212,
    ("deals", "meetings"): 211,
    ("notes", "deals"): 214,
    ("deals", "notes"): 213,
    ("tasks", "deals"): 216,
    ("deals", "tasks"): 215,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
}

# Built-in call outcomes (§4.3) plus two custom ones a real portal typically adds.
DISPOSITION_BUSY: Final = "9d9162e7-6cf3-4944-bf63-4dff82258764"
DISPOSITION_CONNECTED: Final = "f240bbac-87c9-4f6e-bf70-924b57d47db7"
DISPOSITION_LIVE_MESSAGE: Final = "a4c4c377-d246-4b32-a13b-75a56a4cd0ff"
DISPOSITION_VOICEMAIL: Final = "b2cf5968-551e-4856-9783-52b3da59a7d0"
DISPOSITION_NO_ANSWER: Final = "73a0d17f-1163-4015-bdd5-ec830791da20"
DISPOSITION_WRONG_NUMBER: Final = "17b47fee-58de-441e-a44c-c6300d46f273"
DISPOSITION_GATEKEEPER: Final = "3c7e5b1a-2f4d-4e8b-9a61-0d5c2e7f9b34"
DISPOSITIONS: Final = (
    (DISPOSITION_BUSY, "Busy"),
    (DISPOSITION_CONNECTED, "Connected"),
    (DISPOSITION_LIVE_MESSAGE, "Left live message"),
    (DISPOSITION_VOICEMAIL, "Left voicemail"),
    (DISPOSITION_NO_ANSWER, "No answer"),
    (DISPOSITION_WRONG_NUMBER, "Wrong number"),
    (DISPOSITION_GATEKEEPER, "Gatekeeper"),
)

# Limits (§2, §3, §8).
LIST_LIMIT_MAX: Final = 100
LIST_LIMIT_DEFAULT: Final = 10
SEARCH_LIMIT_MAX: Final = 200
SEARCH_LIMIT_DEFAULT: Final = 10
SEARCH_RESULT_CAP: Final = 10_000
SEARCH_BODY_MAX_CHARS: Final = 3_000
SEARCH_MAX_GROUPS: Final = 5
SEARCH_MAX_FILTERS_PER_GROUP: Final = 6
SEARCH_MAX_FILTERS: Final = 18
BATCH_MAX_INPUTS: Final = 100
V4_BATCH_READ_MAX_INPUTS: Final = 1_000
V4_PAGE_SIZE: Final = 500
INLINE_ASSOCIATIONS_PAGE: Final = 100
OWNERS_LIMIT_DEFAULT: Final = 100
OWNERS_LIMIT_MAX: Final = 500

# Rate-limit tiers for a private app (§2.1): (requests per rolling 10 s, requests per day).
TIERS: Final = {
    "free": (100, 250_000),
    "starter": (100, 250_000),
    "professional": (190, 650_000),
    "enterprise": (190, 1_000_000),
    "api_add_on": (250, 1_650_000),
}
TEN_SECONDS_MS: Final = 10_000
SEARCH_PER_SECOND: Final = 5

PORTAL_ID: Final = 24_861_337
CONTENT_TYPE: Final = "application/json;charset=utf-8"

# Date-versioned API (hubspot-api.md §0.1): the versions HubSpot serves today, and each numbered prefix with its
# dated counterpart (`{version}` stands for the version segment). Bodies are the same on both families.
API_VERSIONS: Final = ("2025-09", "2026-03", "2026-09")
DATED_PREFIXES: Final = (
    ("/crm/v3/objects/", "/crm/objects/{version}/"),
    ("/crm/v4/objects/", "/crm/objects/{version}/"),
    ("/crm/v4/associations/", "/crm/associations/{version}/"),
    ("/crm/v3/owners", "/crm/owners/{version}"),
    ("/crm/v3/pipelines/", "/crm/pipelines/{version}/"),
    ("/crm/v3/properties/", "/crm/properties/{version}/"),
    ("/crm-object-schemas/v3/", "/crm-object-schemas/{version}/"),
)
# One record's associations by GET (`/crm/objects/{version}/{type}/{id}/associations/{toType}`) is gone in 2026-09:
# page a record's links with the associations batch read's `after` instead.
RECORD_LIST_VERSIONS: Final = ("2025-09", "2026-03")

# The read scopes the sandbox's routes ask for (SandboxApp.scopes_for): granting all of them (setting
# `granted_scopes`) grants every read kpi-sync makes. Engagements need the contacts scope, emails
# `sales-email-read` as well.
READ_SCOPES: Final = (
    "crm.objects.contacts.read",
    "sales-email-read",
    "crm.objects.deals.read",
    "crm.objects.owners.read",
    "crm.schemas.contacts.read",
    "crm.schemas.custom.read",
)
