"""HubSpot constants in one place: object types, properties we pull, limits, association type ids."""

from __future__ import annotations

from typing import Final

# Objects we pull, in dependency order. Engagement ids are unique within their type.
ENGAGEMENT_TYPES: Final = ("calls", "emails", "meetings", "notes", "tasks")
OBJECT_TYPES: Final = ("contacts", "deals", *ENGAGEMENT_TYPES)
SINGULAR: Final = {"calls": "call", "emails": "email", "meetings": "meeting", "notes": "note", "tasks": "task"}

# The modification property differs: contacts keep `lastmodifieddate` (hubspot-api.md §3.4).
MODIFIED_PROPERTY: Final = dict.fromkeys(OBJECT_TYPES, "hs_lastmodifieddate") | {"contacts": "lastmodifieddate"}

# Only the properties the KPIs need (kpi-spec.md "Inputs"); Settings may add more per object.
PROPERTIES: Final[dict[str, tuple[str, ...]]] = {
    "contacts": (
        "hubspot_owner_id",
        "createdate",
        "lastmodifieddate",
        "lifecyclestage",
        "hs_lifecyclestage_lead_date",
        "hs_lifecyclestage_salesqualifiedlead_date",
        "hs_lifecyclestage_opportunity_date",
        "hs_lifecyclestage_customer_date",
        "hs_buying_role",
        "hs_merged_object_ids",
    ),
    "deals": (
        "hubspot_owner_id",
        "createdate",
        "closedate",
        "pipeline",
        "dealstage",
        "hs_is_closed_won",
        "hs_is_closed",
        "hs_lastmodifieddate",
        "hs_merged_object_ids",
    ),
    "calls": ("hs_timestamp", "hubspot_owner_id", "hs_call_direction", "hs_call_disposition", "hs_lastmodifieddate"),
    "emails": (
        "hs_timestamp",
        "hubspot_owner_id",
        "hs_email_direction",
        "hs_email_html",
        "hs_email_text",
        "hs_lastmodifieddate",
    ),
    "meetings": ("hs_timestamp", "hubspot_owner_id", "hs_meeting_outcome", "hs_lastmodifieddate"),
    "notes": ("hs_timestamp", "hubspot_owner_id", "hs_lastmodifieddate"),
    "tasks": ("hs_timestamp", "hubspot_owner_id", "hs_lastmodifieddate"),
}

# Contacts and deals that HubSpot merged name the merged-away ids here (the survivor's modification date moves).
MERGED_IDS_PROPERTY: Final = "hs_merged_object_ids"
MERGEABLE: Final = ("contacts", "deals")

# Which association each object brings along (to contacts); deals also carry deal->contact.
ASSOCIATED_TO: Final = "contacts"

LIST_PAGE_SIZE: Final = 100  # list endpoints cap `limit` at 100
SEARCH_PAGE_SIZE: Final = 200  # search caps `limit` at 200
SEARCH_RESULT_CAP: Final = 10_000  # paging past 10,000 results answers 400
BATCH_WRITE_SIZE: Final = 100  # every object batch endpoint takes at most 100 inputs
ASSOC_BATCH_READ_SIZE: Final = 1_000  # v4 association batch read takes at most 1,000 inputs
INLINE_ASSOC_LIMIT: Final = 100  # list endpoints inline at most 100 associations per record; more needs v4 paging

# Rolling windows of HubSpot's rate-limit policies (hubspot-api.md §2).
MAX_TEXT_CHARS: Final = 65_536  # HubSpot's own maximum for a property value; a longer one is cut and counted
MAX_URLS_PER_EMAIL: Final = 200  # the KPI needs a few; a body of thousands of links is cut and counted
GENERAL_WINDOW_S: Final = 10.0
SEARCH_WINDOW_S: Final = 1.0
# A short-policy (or 5xx) `Retry-After` longer than two of the longest short window is not HubSpot's to ask: the
# window rolls by then. Larger values (a proxy's, a bug's: 1e9 s is 31 years) are capped, and logged.
RETRY_AFTER_MAX_S: Final = 2 * GENERAL_WINDOW_S
# A DAILY stop resumes at the portal's next midnight; HubSpot's `Retry-After` may move it, but never later than
# that midnight plus this margin (a resume time in year 33715 would otherwise be stored and crash every reader).
DAILY_RESUME_MARGIN_S: Final = 3600.0
