"""Write validation from API version 2026-09 on (hubspot-api.md §0.2): admin-configured rules that refuse writes.

Rules are checked against a record's properties as they would be AFTER the write, like HubSpot checks the
resulting record, and only on date-versioned paths from 2026-09 on, never on the numbered ones. Two kinds:

- required-when: `{"object": "contacts", "property": "industry", "when": {"lifecyclestage": "customer"}}`:
  the record must have a non-empty `industry` whenever `lifecyclestage` is `customer`;
- refuse: `{"object": "contacts", "ids": ["101"], "share": 0.01, "seed": 7}`: writes to these existing
  records are refused (user-level permissions, in HubSpot's terms); `share` picks that share of all ids by a
  seeded hash, so the same records are refused on every run.

HubSpot does not say whether one violating input fails the whole batch or only itself, so `mode` picks:
"batch" (400, nothing of the batch written) or "per_input" (207 with one error per refused input).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MODES = ("batch", "per_input")
FIRST_VALIDATED_VERSION = "2026-09"


@dataclass(frozen=True)
class RequiredWhen:
    """`property` must be set whenever every `when` property has its given value."""

    object: str
    property: str
    when: Mapping[str, str]

    def violation(self, props: Mapping[str, Any]) -> str | None:
        """Why these resulting properties break the rule, or None."""
        if any(props.get(name) != value for name, value in self.when.items()):
            return None
        if props.get(self.property) not in (None, ""):
            return None
        condition = " and ".join(f"{name} is '{value}'" for name, value in self.when.items())
        return f"Property '{self.property}' is required when {condition}."

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {"object": self.object, "property": self.property, "when": dict(self.when)}


@dataclass(frozen=True)
class Refuse:
    """Writes to these existing records are refused: listed `ids`, plus a seeded `share` of all ids."""

    object: str
    ids: frozenset[str] = frozenset()
    share: float = 0.0
    seed: int = 0

    def refuses(self, rid: int) -> bool:
        """Whether writes to record `rid` are refused (the share by a hash of seed and id, not by chance)."""
        if str(rid) in self.ids:
            return True
        digest = hashlib.sha256(f"{self.seed}:{self.object}:{rid}".encode()).digest()
        return int.from_bytes(digest[:8], "big") < self.share * 2**64

    def to_json(self) -> dict[str, Any]:
        """As JSON."""
        return {"object": self.object, "ids": sorted(self.ids, key=int), "share": self.share, "seed": self.seed}


@dataclass(frozen=True)
class ValidationRules:
    """The rules in force and how a violation is answered; no rules means nothing is refused."""

    mode: str = "batch"
    required: tuple[RequiredWhen, ...] = ()
    refuse: tuple[Refuse, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ValidationRules:
        """Build from `{"mode", "required": [...], "refuse": [...]}`; ValueError naming what is wrong."""
        unknown = set(data) - {"mode", "required", "refuse"}
        if unknown:
            raise ValueError(f"unknown validation setting(s): {sorted(unknown)}")
        mode = str(data.get("mode", "batch"))
        if mode not in MODES:
            raise ValueError(f"validation mode must be one of {list(MODES)}, not '{mode}'")
        required = tuple(_required(r) for r in data.get("required") or [])
        refuse = tuple(_refuse(r) for r in data.get("refuse") or [])
        return cls(mode, required, refuse)

    def to_json(self) -> dict[str, Any]:
        """As JSON (the shape `from_json` reads)."""
        return {
            "mode": self.mode,
            "required": [r.to_json() for r in self.required],
            "refuse": [r.to_json() for r in self.refuse],
        }

    def violations(self, object_type: str, rid: int | None, props: Mapping[str, Any]) -> list[str]:
        """Why a write that leaves record `rid` (None: a new record) with `props` is refused; empty if it is not."""
        found = [v for r in self.required if r.object == object_type and (v := r.violation(props))]
        if rid is not None and any(r.object == object_type and r.refuses(rid) for r in self.refuse):
            found.append(f"You do not have permission to edit {object_type} record {rid}.")
        return found


def _required(data: Any) -> RequiredWhen:
    if not isinstance(data, Mapping) or not isinstance(data.get("when"), Mapping) or not data["when"]:
        raise ValueError('a required rule is {"object", "property", "when": {property: value}}')
    when = {str(k): str(v) for k, v in data["when"].items()}
    return RequiredWhen(str(data["object"]), str(data["property"]), when)


def _refuse(data: Any) -> Refuse:
    if not isinstance(data, Mapping) or "object" not in data:
        raise ValueError('a refuse rule is {"object", "ids"?: [...], "share"?: 0..1, "seed"?: n}')
    share = float(data.get("share", 0.0))
    if not 0 <= share <= 1:
        raise ValueError("a refuse rule's share must be between 0 and 1")
    ids = frozenset(str(i) for i in data.get("ids") or [])
    return Refuse(str(data["object"]), ids, share, int(data.get("seed", 0)))


def validated(version: str | None) -> bool:
    """Whether writes on this API version are validated: dated paths from 2026-09 on, never numbered ones."""
    return version is not None and version >= FIRST_VALIDATED_VERSION
