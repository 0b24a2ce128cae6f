"""What a dry run would write back: per contact and property, the value kpi-sync last gave HubSpot (old) and the one
the write-back would send now (new), with totals over every contact and the changes of the first contacts only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_LIMIT = 50  # contacts whose changes a dry run keeps and shows, unless asked otherwise


@dataclass(frozen=True)
class ValueChange:
    """One property of one contact that a write-back would change."""

    contact_id: int
    property: str
    old: str | None  # what HubSpot last accepted from kpi-sync (the ledger); None: never written
    new: str

    def to_json(self) -> dict[str, Any]:
        """A flat row (the CSV's and the JSON's)."""
        return {"contact_id": self.contact_id, "property": self.property, "old": self.old, "new": self.new}


@dataclass
class WritePreview:
    """Totals over every contact a write-back would write, and the changes of the first `limit` of them (by id)."""

    limit: int | None = DEFAULT_LIMIT  # None: keep every contact's changes
    contacts: int = 0  # contacts that would be written
    values: int = 0  # property values that would change
    shown: int = 0  # contacts whose changes are kept in `changes`
    changes: list[ValueChange] = field(default_factory=list)

    def add(self, contact_id: int, new: Mapping[str, str], old: Mapping[str, str]) -> None:
        """Count one contact's values to send (`new`) against the ledger's (`old`); keep them while within limit."""
        self.contacts += 1
        self.values += len(new)
        if self.limit is not None and self.shown >= self.limit:
            return
        self.shown += 1
        self.changes.extend(ValueChange(contact_id, name, old.get(name), new[name]) for name in sorted(new))

    @property
    def truncated(self) -> bool:
        """Whether some contacts that would be written are not shown."""
        return self.shown < self.contacts

    def headline(self) -> str:
        """The totals in words: '50 of 601 contacts shown, 1,843 values change'."""
        noun = "value changes" if self.values == 1 else "values change"
        return f"{self.shown:,} of {self.contacts:,} contacts shown, {self.values:,} {noun}"

    def to_json(self) -> dict[str, Any]:
        """Totals, and the kept changes grouped per contact: {property: {old, new}}."""
        contacts: dict[int, dict[str, dict[str, str | None]]] = {}
        for change in self.changes:
            contacts.setdefault(change.contact_id, {})[change.property] = {"old": change.old, "new": change.new}
        return {
            "contacts": self.contacts,
            "values": self.values,
            "shown": self.shown,
            "truncated": self.truncated,
            "changes": [{"contact_id": cid, "properties": props} for cid, props in contacts.items()],
        }
