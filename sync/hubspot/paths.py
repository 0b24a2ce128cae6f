"""HubSpot's date-versioned request paths (hubspot-api.md §0.1): the one place that spells an endpoint's path.

Every request kpi-sync sends is built here from the configured API version (`2026-09` by default). Bodies and
answers are the same as on the numbered paths (`/crm/v3`, `/crm/v4`), which HubSpot stops supporting in 2027.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import quote

API_VERSIONS: Final = ("2026-03", "2026-09")  # the versions kpi-sync is built and tested against
DEFAULT_API_VERSION: Final = "2026-09"

# A numbered path (`/crm/v3/...`, `/crm/v4/...`, `/crm-object-schemas/v3/...`): legacy, to be counted and named.
_NUMBERED = re.compile(r"^/[a-z-]+/v\d+(/|$)")
_DATED = re.compile(r"^/[a-z-]+/[a-z-]*/?(\d{4}-\d{2})(/|$)")


def _seg(value: str) -> str:
    return quote(str(value), safe="")


@dataclass(frozen=True)
class Paths:
    """The paths of one API version."""

    version: str = DEFAULT_API_VERSION

    def objects(self, object_type: str) -> str:
        """List, and create, records of a type."""
        return f"/crm/objects/{self.version}/{_seg(object_type)}"

    def search(self, object_type: str) -> str:
        """The search endpoint of a type."""
        return f"{self.objects(object_type)}/search"

    def batch(self, object_type: str, operation: str) -> str:
        """A batch endpoint: read, update, upsert, create."""
        return f"{self.objects(object_type)}/batch/{operation}"

    def merge(self, object_type: str) -> str:
        """Merge two records of a type."""
        return f"{self.objects(object_type)}/merge"

    def association_batch_read(self, from_type: str, to_type: str) -> str:
        """Links from records of one type to another, paged per record with `after`."""
        return f"/crm/associations/{self.version}/{_seg(from_type)}/{_seg(to_type)}/batch/read"

    def owners(self) -> str:
        """The portal's owners."""
        return f"/crm/owners/{self.version}"

    def pipelines(self, object_type: str) -> str:
        """The pipelines (with their stages) of a type."""
        return f"/crm/pipelines/{self.version}/{_seg(object_type)}"

    def properties(self, object_type: str) -> str:
        """Property definitions of a type (GET lists, POST creates)."""
        return f"/crm/properties/{self.version}/{_seg(object_type)}"

    def property_groups(self, object_type: str) -> str:
        """Property groups of a type (GET lists, POST creates)."""
        return f"{self.properties(object_type)}/groups"

    def schemas(self) -> str:
        """Custom object schemas (GET lists, POST creates)."""
        return f"/crm-object-schemas/{self.version}/schemas"


def version_of(path: str) -> str:
    """The API version a path is on: its date (`2026-09`), or `numbered` for a `/v1`-`/v4` path."""
    if _NUMBERED.match(path):
        return "numbered"
    found = _DATED.match(path)
    return found.group(1) if found else "other"
