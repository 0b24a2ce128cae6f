"""Merging two records of a type, as HubSpot's merge endpoint does (contacts and deals).

The primary record survives with its id and its values; properties it lacks come from the merged-away record.
Its `hs_merged_object_ids` lists every id merged into it (semicolon-separated, accumulating across merges), its
modification date moves to the merge (incremental search finds it), and it takes over the merged-away record's
associations. The merged-away record leaves lists, search and exports; reads by its id resolve to the survivor
(HubSpot: "fetching any records using the original IDs will return the merged record").

HubSpot's developer changelog ("Updated merge functionality for contacts and companies") says newer merges create
a record with a NEW id that both old ids resolve to; the sandbox keeps the primary's id, as the older behaviour did.
"""

from __future__ import annotations

import orjson

from sandbox.errors import not_found, validation
from sandbox.objtypes import ObjectType
from sandbox.portal import Portal, Row
from sandbox.schema import MERGED_IDS

MERGEABLE = frozenset({"contacts", "deals"})
MERGED_PROPERTY = MERGED_IDS.name


def merge_records(portal: Portal, ot: ObjectType, primary: int, merged: int, now: int) -> Row:
    """Merge record `merged` into `primary` at `now`; return the survivor's row. 400/404 as HubSpot answers."""
    if ot.name not in MERGEABLE:
        raise validation(f"The sandbox merges contacts and deals, not {ot.name}.")
    if primary == merged:
        raise validation(f"Cannot merge {ot.singular} {primary} with itself.")
    rows = portal.rows_by_id(ot, [primary, merged])
    for rid in (primary, merged):
        if rid not in rows or rows[rid][3]:
            raise not_found(f"{ot.singular.capitalize()} {rid} does not exist.")
    kept: dict[str, str] = orjson.loads(rows[primary][5])
    gone: dict[str, str] = orjson.loads(rows[merged][5])
    ids = [*_ids(kept), str(merged), *_ids(gone)]
    portal.update(ot, primary, {**gone, **kept, MERGED_PROPERTY: ";".join(ids)}, now)
    portal.merge_away(ot, merged, primary)
    return portal.rows_by_id(ot, [primary])[primary]


def _ids(props: dict[str, str]) -> list[str]:
    return [i for i in props.get(MERGED_PROPERTY, "").split(";") if i]
