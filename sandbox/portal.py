"""The portal's data: records of every object type, associations, owners, pipelines and property registries.

Records live in SQLite (in memory for small portals, a file for big ones). Each record row also keeps the state
the search index last saw (`s_vis`, `s_updated`, `s_props`), so search serves records as of `now - index lag`
while list/get/batch read serve the current state. All access goes through one connection under one lock.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sandbox.objtypes import STANDARD, ObjectType, standard_aliases
from sandbox.schema import ObjectProperties, builtin_properties

Row = tuple[int, int, int, int, int | None, str]
"""A stored record: (id, created ms, updated ms, archived 0/1, archived_at ms or None, props JSON)."""

ROW_COLUMNS = "id, created, updated, archived, archived_at, props"
SEARCH_COLUMNS = "id, created, s_updated, 0, NULL, COALESCE(s_props, props)"


@dataclass
class PortalMeta:
    """How the portal was made: reported by the operator API."""

    seed: int = 0
    size: str = "empty"
    anchor_ms: int = 0
    generation_seconds: float = 0.0
    path: str = ":memory:"


@dataclass
class PortalDirectory:
    """Non-record data: owners, pipelines, custom object schemas, property registries."""

    owners: list[dict[str, Any]] = field(default_factory=list)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    schemas: dict[str, dict[str, Any]] = field(default_factory=dict)
    properties: dict[str, ObjectProperties] = field(default_factory=dict)


def _number(value: object) -> float | None:
    """SQL helper for number properties: the value as a float, NULL when it is not numeric."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


class Portal:
    """One HubSpot portal's CRM data, safe to use from several server threads."""

    def __init__(self, path: Path | None = None, index_lag_ms: int = 2000) -> None:
        self.db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False, isolation_level=None)
        self.lock = threading.RLock()
        self.index_lag_ms = index_lag_ms
        self.meta = PortalMeta(path=str(path) if path else ":memory:")
        self.directory = PortalDirectory()
        self._aliases = standard_aliases()
        self._custom: dict[str, ObjectType] = {}
        self._pending_min: dict[int, int] = {}
        self._reserved: dict[int, int] = {}
        self._totals: dict[tuple[Any, ...], int] = {}
        self.version = 0  # bumped by every write: keys the cache of search totals
        self._configure(in_memory=path is None)
        for ot in STANDARD.values():
            self.add_type(ot)

    def _configure(self, in_memory: bool) -> None:
        self.db.create_function("sb_num", 1, _number, deterministic=True)
        # File-backed portals are the big ones: index builds sort on disk so memory stays bounded.
        temp_store = "MEMORY" if in_memory else "FILE"
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"temp_store={temp_store}", "cache_size=-65536"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute(
            "CREATE TABLE assoc (a_type INTEGER, a_id INTEGER, b_type INTEGER, b_id INTEGER,"
            " PRIMARY KEY (a_type, a_id, b_type, b_id)) WITHOUT ROWID"
        )
        self.db.execute(
            "CREATE TABLE pending (code INTEGER, id INTEGER, due INTEGER, PRIMARY KEY (code, id)) WITHOUT ROWID"
        )
        self.db.execute(
            "CREATE TABLE merged (code INTEGER, id INTEGER, survivor INTEGER, PRIMARY KEY (code, id)) WITHOUT ROWID"
        )

    def close(self) -> None:
        """Close the database connection."""
        with self.lock:
            self.db.close()

    # -- types --------------------------------------------------------------------------------------------------

    def add_type(self, ot: ObjectType) -> None:
        """Create the table and property registry of an object type."""
        with self.lock:
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS {ot.table} (id INTEGER PRIMARY KEY, created INTEGER NOT NULL,"
                " updated INTEGER NOT NULL, archived INTEGER NOT NULL DEFAULT 0, archived_at INTEGER,"
                " props TEXT NOT NULL, s_vis INTEGER NOT NULL, s_updated INTEGER NOT NULL, s_props TEXT)"
            )
            self.directory.properties.setdefault(ot.name, builtin_properties(ot.name))
            if ot.custom:
                self._custom[ot.type_id] = ot
                self._aliases.update({ot.type_id: ot, ot.fqn: ot, ot.name: ot, f"p_{ot.name}": ot})
                self.create_indexes([ot])

    def resolve(self, name: str) -> ObjectType | None:
        """Find an object type by plural or singular name, type id, or custom fully qualified name."""
        return self._aliases.get(name) or self._aliases.get(name.lower())

    def types(self) -> list[ObjectType]:
        """Every object type: standard first, then custom ones."""
        return [*STANDARD.values(), *self._custom.values()]

    def custom_types(self) -> list[ObjectType]:
        """Custom object types created through the schemas API."""
        return list(self._custom.values())

    def create_indexes(self, types: Iterable[ObjectType] | None = None, analyze: bool = False) -> None:
        """Create the paging, search and association indexes (after bulk loading: it is faster)."""
        with self.lock:
            for ot in types or self.types():
                t = ot.table
                self.db.execute(f"CREATE INDEX IF NOT EXISTS {t}_arch ON {t}(archived, id)")
                self.db.execute(f"CREATE INDEX IF NOT EXISTS {t}_smod ON {t}(s_vis, s_updated, id)")
                self.db.execute(f"CREATE INDEX IF NOT EXISTS {t}_screated ON {t}(s_vis, created, id)")
            self.db.execute("CREATE INDEX IF NOT EXISTS contacts_email ON obj_contacts(json_extract(props, '$.email'))")
            self.db.execute("CREATE INDEX IF NOT EXISTS assoc_b ON assoc(b_type, b_id, a_type, a_id)")
            if analyze:
                self.db.execute("ANALYZE")

    # -- bulk loading -------------------------------------------------------------------------------------------

    def insert_rows(self, ot: ObjectType, rows: Sequence[Row]) -> None:
        """Insert records that the search index already knows (generated history)."""
        with self.lock:
            self.version += 1
            self.db.executemany(
                f"INSERT INTO {ot.table} (id, created, updated, archived, archived_at, props, s_vis, s_updated)"
                " VALUES (?, ?, ?, ?, ?, ?, 1 - ?4, ?3)",
                rows,
            )

    def insert_associations(self, rows: Sequence[tuple[int, int, int, int]]) -> None:
        """Insert canonical association rows (a_type, a_id, b_type, b_id)."""
        with self.lock:
            self.version += 1
            self.db.executemany("INSERT OR IGNORE INTO assoc VALUES (?, ?, ?, ?)", rows)

    # -- reads --------------------------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Run a read query under the lock."""
        with self.lock:
            return self.db.execute(sql, params).fetchall()

    def count_cached(self, sql: str, params: Sequence[Any]) -> int:
        """COUNT(*) for a search, remembered until the next write (clients page one query many times)."""
        key = (self.version, sql, *params)
        with self.lock:
            total = self._totals.get(key)
            if total is None:
                total = int(self.db.execute(sql, params).fetchone()[0])
                if len(self._totals) > 512:
                    self._totals.clear()
                self._totals[key] = total
            return total

    def list_page(self, ot: ObjectType, after: int, limit: int, archived: bool) -> list[Row]:
        """Records with id >= `after` in id order, archived or not, up to `limit`."""
        return self.query(
            f"SELECT {ROW_COLUMNS} FROM {ot.table} WHERE archived = ? AND id >= ? ORDER BY id LIMIT ?",
            (int(archived), after, limit),
        )

    def rows_by_id(self, ot: ObjectType, ids: Sequence[int]) -> dict[int, Row]:
        """Current rows for `ids` (archived included), keyed by id."""
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.query(f"SELECT {ROW_COLUMNS} FROM {ot.table} WHERE id IN ({marks})", list(ids))
        return {r[0]: r for r in rows}

    def id_by_property(self, ot: ObjectType, name: str, value: str) -> int | None:
        """The id of the live record whose property `name` equals `value`, if any."""
        rows = self.query(
            f"SELECT id FROM {ot.table} WHERE archived = 0 AND json_extract(props, ?) = ? ORDER BY id LIMIT 1",
            (f'$."{name}"', value),
        )
        return int(rows[0][0]) if rows else None

    def count(self, ot: ObjectType, archived: bool | None = None) -> int:
        """Number of records of a type (all, or only archived/live)."""
        where = "" if archived is None else f" WHERE archived = {int(archived)}"
        return int(self.query(f"SELECT COUNT(*) FROM {ot.table}{where}")[0][0])

    def max_id(self, ot: ObjectType) -> int:
        """The highest record id of a type (0 when empty)."""
        return int(self.query(f"SELECT COALESCE(MAX(id), 0) FROM {ot.table}")[0][0])

    # -- associations -------------------------------------------------------------------------------------------

    @staticmethod
    def direction(src: ObjectType, dst: ObjectType) -> tuple[str, str, str, str]:
        """Columns (src type, src id, dst type, dst id) for reading src -> dst."""
        if src.rank > dst.rank or (src.rank == dst.rank and src.code > dst.code):
            return "a_type", "a_id", "b_type", "b_id"
        return "b_type", "b_id", "a_type", "a_id"

    def associated(self, src: ObjectType, ids: Sequence[int], dst: ObjectType) -> dict[int, list[int]]:
        """Associated `dst` ids of each src id, ascending."""
        out: dict[int, list[int]] = {}
        if not ids:
            return out
        st, sid, dt, did = self.direction(src, dst)
        marks = ",".join("?" * len(ids))
        rows = self.query(
            f"SELECT {sid}, {did} FROM assoc WHERE {st} = ? AND {sid} IN ({marks}) AND {dt} = ? ORDER BY {sid}, {did}",
            [src.code, *ids, dst.code],
        )
        for a, b in rows:
            out.setdefault(a, []).append(b)
        return out

    def associated_page(
        self, src: ObjectType, rid: int, dst: ObjectType, after: int, limit: int
    ) -> tuple[list[int], bool]:
        """Up to `limit` dst ids above `after`, and whether more exist."""
        st, sid, dt, did = self.direction(src, dst)
        rows = self.query(
            f"SELECT {did} FROM assoc WHERE {st} = ? AND {sid} = ? AND {dt} = ? AND {did} > ? ORDER BY {did} LIMIT ?",
            (src.code, rid, dst.code, after, limit + 1),
        )
        ids = [r[0] for r in rows]
        return ids[:limit], len(ids) > limit

    def _canon(self, x: ObjectType, xid: int, y: ObjectType, yid: int) -> tuple[int, int, int, int]:
        if self.direction(x, y)[0] == "a_type":
            return x.code, xid, y.code, yid
        return y.code, yid, x.code, xid

    def associate(self, x: ObjectType, xid: int, y: ObjectType, yid: int) -> None:
        """Link two records (association changes never bump modification dates, like HubSpot)."""
        self.insert_associations([self._canon(x, xid, y, yid)])

    def dissociate(self, x: ObjectType, xid: int, y: ObjectType, yid: int) -> None:
        """Remove the link between two records."""
        with self.lock:
            self.version += 1
            self.db.execute(
                "DELETE FROM assoc WHERE a_type = ? AND a_id = ? AND b_type = ? AND b_id = ?",
                self._canon(x, xid, y, yid),
            )

    def merged_into(self, ot: ObjectType, rid: int) -> int | None:
        """The record that record `rid` was merged into (directly or through later merges), if it was."""
        rows = self.query("SELECT survivor FROM merged WHERE code = ? AND id = ?", (ot.code, rid))
        return int(rows[0][0]) if rows else None

    # -- writes -------------------------------------------------------------------------------------------------

    def merge_away(self, ot: ObjectType, rid: int, survivor: int) -> None:
        """Remove record `rid`, merged into `survivor`: its links move to the survivor, its id resolves to it."""
        self.next_ids(ot, 0)  # pins the id counter: a removed top id is never handed out again
        with self.lock:
            self.version += 1
            for kind, key in (("a_type", "a_id"), ("b_type", "b_id")):
                moved = (survivor, ot.code, rid)
                self.db.execute(f"UPDATE OR IGNORE assoc SET {key} = ? WHERE {kind} = ? AND {key} = ?", moved)
                self.db.execute(f"DELETE FROM assoc WHERE {kind} = ? AND {key} = ?", (ot.code, rid))
            self.db.execute(f"DELETE FROM {ot.table} WHERE id = ?", (rid,))
            self.db.execute("DELETE FROM pending WHERE code = ? AND id = ?", (ot.code, rid))
            self.db.execute("UPDATE merged SET survivor = ? WHERE code = ? AND survivor = ?", (survivor, ot.code, rid))
            self.db.execute("INSERT OR REPLACE INTO merged VALUES (?, ?, ?)", (ot.code, rid, survivor))

    def create(self, ot: ObjectType, rid: int, props: dict[str, str], now: int, created: int | None = None) -> Row:
        """Insert a new record modified at `now`; search sees it after the index lag."""
        return self.create_many(ot, [(rid, props)], now, created)[0]

    def create_many(
        self, ot: ObjectType, items: Sequence[tuple[int, dict[str, str]]], now: int, created: int | None = None
    ) -> list[Row]:
        """Insert new records that all share the modification time `now` (a bulk import shares one)."""
        created_ms = now if created is None else created
        rows: list[Row] = [(rid, created_ms, now, 0, None, orjson.dumps(p).decode()) for rid, p in items]
        visible = int(self.index_lag_ms <= 0)
        with self.lock:
            self.version += 1
            self.db.executemany(
                f"INSERT INTO {ot.table} (id, created, updated, archived, archived_at, props, s_vis, s_updated)"
                f" VALUES (?, ?, ?, ?, ?, ?, {visible}, ?3)",
                rows,
            )
            self._mark_pending(ot, [r[0] for r in rows], now)
        return rows

    def update(self, ot: ObjectType, rid: int, props: dict[str, str], now: int) -> None:
        """Replace a record's stored properties and bump its modification date to `now`."""
        self.update_many(ot, [(rid, props)], now)

    def update_many(self, ot: ObjectType, changes: Sequence[tuple[int, dict[str, str]]], now: int) -> None:
        """Replace several records' properties, all modified at `now`."""
        rows = [(orjson.dumps(p).decode(), now, rid) for rid, p in changes]
        with self.lock:
            self.version += 1
            if self.index_lag_ms <= 0:
                self.db.executemany(
                    f"UPDATE {ot.table} SET props = ?, updated = ?2, s_updated = ?2,"
                    " s_props = NULL, s_vis = 1 - archived WHERE id = ?3",
                    rows,
                )
            else:
                self.db.executemany(
                    f"UPDATE {ot.table} SET s_props = COALESCE(s_props, props), props = ?, updated = ? WHERE id = ?",
                    rows,
                )
                self._mark_pending(ot, [rid for rid, _ in changes], now)

    def archive(self, ot: ObjectType, ids: Sequence[int], now: int) -> None:
        """Move records to the recycle bin: gone from lists and search, visible with archived=true."""
        with self.lock:
            self.version += 1
            self.db.executemany(
                f"UPDATE {ot.table} SET archived = 1, archived_at = ? WHERE id = ?", [(now, rid) for rid in ids]
            )
            if self.index_lag_ms <= 0:
                self.db.executemany(f"UPDATE {ot.table} SET s_vis = 0 WHERE id = ?", [(rid,) for rid in ids])
            else:
                self._mark_pending(ot, ids, now)

    def _mark_pending(self, ot: ObjectType, ids: Sequence[int], now: int) -> None:
        if self.index_lag_ms <= 0:
            return
        due = now + self.index_lag_ms
        self.db.executemany("INSERT OR REPLACE INTO pending VALUES (?, ?, ?)", [(ot.code, i, due) for i in ids])
        self._pending_min[ot.code] = min(self._pending_min.get(ot.code, due), due)

    def refresh_index(self, ot: ObjectType, now: int) -> None:
        """Let the search index catch up with every change older than the lag."""
        first_due = self._pending_min.get(ot.code)
        if first_due is None or first_due > now:
            return
        with self.lock:
            self.version += 1
            self.db.execute(
                f"UPDATE {ot.table} SET s_vis = 1 - archived, s_updated = updated, s_props = NULL"
                " WHERE id IN (SELECT id FROM pending WHERE code = ? AND due <= ?)",
                (ot.code, now),
            )
            self.db.execute("DELETE FROM pending WHERE code = ? AND due <= ?", (ot.code, now))
            rest = self.db.execute("SELECT MIN(due) FROM pending WHERE code = ?", (ot.code,)).fetchone()[0]
            if rest is None:
                self._pending_min.pop(ot.code, None)
            else:
                self._pending_min[ot.code] = int(rest)

    def next_ids(self, ot: ObjectType, n: int) -> list[int]:
        """Allocate `n` fresh ids; engagement ids are unique across all engagement types."""
        with self.lock:
            pool = [t for t in STANDARD.values() if t.rank == 2] if ot.rank == 2 else [ot]
            key = -1 if ot.rank == 2 else ot.code
            start = self._reserved.get(key) or max(self.max_id(t) for t in pool) + 1
            self._reserved[key] = start + n
            return list(range(start, start + n))
