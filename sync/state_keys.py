"""Every key of the `service_state` table (`repo.get_state` / `repo.set_state`), with what its value holds.

One module, so a key is never spelt twice and a newcomer sees the whole table's contents in one place. (Migrations
name `kpi_cells` in SQL of their own: they stay as written when they ran.)
"""

from __future__ import annotations

# {"running": bool}: true while a KPI recompute may be half committed; found true, the next one redoes everything.
KPI_RECOMPUTE = "kpi_recompute"
# {"at": epoch ms}: when owners and deal pipelines were last pulled (refreshed hourly and on every list pass).
OWNERS_REFRESHED = "owners_refreshed"
# {"config": signature of the KPI rules the cells were counted with, "stale": aggregates need merging again}.
KPI_CELLS = "kpi_cells"
# {"signature": the deal pipeline stages the deal side of K5 was counted with}.
DEAL_STAGES = "deal_stages"
# {"signature": the owners and teams the aggregate rows were rolled up with}.
AGGREGATE_OWNERS = "aggregate_owners"
# {"assets": [[url, shares], ...]}: the most shared marketing content, for the KPI report.
TOP_ASSETS = "top_assets"
# {"hash": the contact property definitions verified in HubSpot, "conflicts": property names not ours to write}.
CONTACT_SCHEMA = "contact_schema"
# {"object_type": the snapshot custom object's type id} or {"unavailable_until": epoch ms}: no custom objects.
SNAPSHOT_SCHEMA = "snapshot_schema"
# {object_type: [record ids]}: records that held a value no store can hold (stored without it, or not at all), read
# again at the start of the next incremental pass of their type until they come clean (at most `QUARANTINE_HELD`).
QUARANTINE = "quarantine"
# {"intervals": [[lo, hi], ...]}: kpi-sync's own contact write-backs, as ranges of `lastmodifieddate` (epoch ms); the
# pull reads each once settled (`sync.own_writes`), pruned once below the contacts cursor's settled mark.
OWN_WRITES = "own_writes"
