"""What the sandbox knows about each object type: names, ids, table, modified-date property, defaults."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.constants import ENGAGEMENT_TYPES, SINGULAR, STANDARD_TYPES, TYPE_CODES, TYPE_IDS

LIST_DEFAULTS: dict[str, tuple[str, ...]] = {
    "contacts": ("firstname", "lastname", "email"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
}
# Search defaults (§3.3); the created/modified/id properties are added for every type.
SEARCH_DEFAULTS: dict[str, tuple[str, ...]] = {
    "contacts": ("firstname", "lastname", "email"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
}
QUERY_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": ("firstname", "lastname", "email", "company"),
    "deals": ("dealname",),
    "calls": ("hs_call_title", "hs_body_preview"),
    "emails": ("hs_email_subject",),
    "meetings": ("hs_meeting_title", "hs_meeting_body"),
    "notes": ("hs_note_body",),
    "tasks": ("hs_task_body", "hs_task_subject"),
}


@dataclass(frozen=True)
class ObjectType:
    """One CRM object type as stored and served."""

    name: str
    type_id: str
    code: int
    singular: str
    rank: int  # association direction: the higher rank is stored as the "a" side
    custom: bool = False
    fqn: str = ""

    @property
    def table(self) -> str:
        """The SQLite table that holds this type's records."""
        return f"obj_{self.name}" if not self.custom else f"obj_c{self.code}"

    @property
    def modified_prop(self) -> str:
        """The modification-date property (§3.4): contacts keep `lastmodifieddate`."""
        return "lastmodifieddate" if self.name == "contacts" else "hs_lastmodifieddate"

    @property
    def created_prop(self) -> str:
        """The creation-date property."""
        return "createdate" if self.name in ("contacts", "deals") else "hs_createdate"

    def virtual_props(self) -> dict[str, str]:
        """Properties computed from record columns, mapped to the column that holds them."""
        out = {"hs_object_id": "id", self.created_prop: "created", self.modified_prop: "updated"}
        out["hs_lastmodifieddate"] = "updated"
        if self.name in ("contacts", "deals"):
            out["hs_createdate"] = "created"
        return out

    def list_defaults(self) -> tuple[str, ...]:
        """Properties returned by list/get when none are requested."""
        return LIST_DEFAULTS.get(self.name, ())

    def search_defaults(self) -> tuple[str, ...]:
        """Properties returned by search when none are requested."""
        return SEARCH_DEFAULTS.get(self.name, ())


def _rank(name: str) -> int:
    if name in ENGAGEMENT_TYPES:
        return 2
    return 1 if name == "deals" else 0


STANDARD: dict[str, ObjectType] = {
    n: ObjectType(n, TYPE_IDS[n], TYPE_CODES[n], SINGULAR[n], _rank(n)) for n in STANDARD_TYPES
}


def standard_aliases() -> dict[str, ObjectType]:
    """Every accepted spelling of a standard type in a path: plural, singular, and type id."""
    aliases: dict[str, ObjectType] = {}
    for ot in STANDARD.values():
        aliases[ot.name] = ot
        aliases[ot.singular] = ot
        aliases[ot.type_id] = ot
    return aliases
