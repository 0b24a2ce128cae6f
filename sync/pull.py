"""Pulling HubSpot into the store: list passes (first load, reconcile) and incremental search windows.

Every list page and its cursor commit in one transaction; incremental search commits up to five pages (1,000
records, what one v4 association batch read takes) with their contact links and cursor. A killed process resumes
with at most one list page or five search pages re-read.
Incremental search pages by a keyset on `hs_object_id` inside a fixed window [lo, hi) of the modification
property: no offset is ever used, so neither the 10,000-result cap nor thousands of records sharing one
millisecond can lose a record or loop. The window's upper bound is the run's start; records changed during the
run are read next time. Against search-index lag, a change is read once more when settled, by the first run starting
an overlap after it; kpi-sync's own write-back is read only then (`sync.cursor`, `sync.own_writes`). A window reads
its ranges in one request per page, one filter group each.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import structlog
from sqlalchemy import Connection, Engine, or_, select

from storage import repo
from storage import tables as t
from sync import inflight, own_writes, ranges, state_keys
from sync.config import PullConfig
from sync.cursor import Cursor, Phase, Shard, Span
from sync.hubspot.client import HubSpotClient, Page
from sync.hubspot.constants import (
    ASSOC_BATCH_READ_SIZE,
    ENGAGEMENT_TYPES,
    LIST_PAGE_SIZE,
    MODIFIED_PROPERTY,
    OBJECT_TYPES,
    PROPERTIES,
    SEARCH_PAGE_SIZE,
    SINGULAR,
)
from sync.hubspot.decode import Unreadable
from sync.hubspot.errors import HubSpotLoopError
from sync.hubspot.paging import Paging
from sync.hubspot.records import ParseStats, Quarantined, owner_rows, parse_page, stage_rows, valid_id
from sync.json_fields import counter, whole
from sync.progress import Interrupted, Progress
from sync.quarantine import Quarantine
from sync.refresh import marks

log = structlog.get_logger(__name__)

PLURAL = {kind: object_type for object_type, kind in SINGULAR.items()}  # "call" -> "calls"
TOUCH_TYPES = ("call", "email")  # engagement types whose changes move K1 and K4 cells
OWNER_REFRESH_MS = 3_600_000  # owners and pipelines change rarely: refresh hourly, and on every list pass
# Search pages whose records share one association read (and one commit): 5 pages of 200 fill the v4 batch read's
# 1,000 inputs, so links cost one call per 1,000 changed records instead of one per 200.
SEARCH_PAGES_PER_BATCH = ASSOC_BATCH_READ_SIZE // SEARCH_PAGE_SIZE
# A window with more records than this left after its first batch reads the rest in id ranges side by side (one
# chain of search pages, one latency each, manages about four a second at HubSpot's latency; the limit is five), at
# most SEARCH_RANGES_MAX of them; each range is a filter on hs_object_id, so no record can fall between two.
SEARCH_RANGE_SIZE = 2_000
SEARCH_RANGES_MAX = 4
ID_FILTERED_PIECES_MAX = 4  # 4 filters per group with the range's upper bound: 4 groups keep within HubSpot's 18


@dataclass
class PullStats:
    """What a pull did, per object type."""

    pages: Counter[str] = field(default_factory=Counter)
    fetched: Counter[str] = field(default_factory=Counter)
    changed: Counter[str] = field(default_factory=Counter)
    archived: Counter[str] = field(default_factory=Counter)
    relinked: Counter[str] = field(default_factory=Counter)
    merged: Counter[str] = field(default_factory=Counter)  # records archived because HubSpot merged them away
    dirty_contacts: int = 0
    dirty_deals: int = 0
    parse: ParseStats = field(default_factory=ParseStats)

    def to_json(self) -> dict[str, Any]:
        """The `pull` section of a run's stored counts."""
        return {
            "pages": dict(self.pages),
            "fetched": dict(self.fetched),
            "changed": dict(self.changed),
            "archived": dict(self.archived),
            "relinked": dict(self.relinked),
            "merged": dict(self.merged),
            "dirty_contacts": self.dirty_contacts,
            "dirty_deals": self.dirty_deals,
            "skipped_records": self.parse.skipped_records,
            "invalid_values": dict(self.parse.invalid_values),
            "quarantined": dict(self.parse.quarantined),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PullStats:
        """Read back `to_json` (missing or odd entries read as zero)."""
        return cls(
            pages=counter(data.get("pages")),
            fetched=counter(data.get("fetched")),
            changed=counter(data.get("changed")),
            archived=counter(data.get("archived")),
            relinked=counter(data.get("relinked")),
            merged=counter(data.get("merged")),
            dirty_contacts=whole(data.get("dirty_contacts")),
            dirty_deals=whole(data.get("dirty_deals")),
            parse=ParseStats(
                whole(data.get("skipped_records")),
                counter(data.get("invalid_values")),
                counter(data.get("quarantined")),
            ),
        )


@dataclass(frozen=True)
class Spec:
    """How one HubSpot object type maps onto the store."""

    object_type: str
    model: type[Any]
    fields: tuple[str, ...]
    link_model: type[Any] | None
    link_cols: tuple[str, ...]

    @property
    def kind(self) -> str | None:
        """The engagement type stored in `engagements.type`, None for contacts and deals."""
        return SINGULAR.get(self.object_type)

    def key(self, record_id: int) -> tuple[Any, ...]:
        """Primary key of a record of this type."""
        return (self.kind, record_id) if self.kind else (record_id,)


def spec_for(object_type: str) -> Spec:
    """The store mapping of an object type."""
    if object_type == "contacts":
        return Spec(object_type, t.Contact, repo.CONTACT_FIELDS, None, ())
    if object_type == "deals":
        return Spec(object_type, t.Deal, repo.DEAL_FIELDS, t.DealContact, ("deal_id",))
    if object_type in ENGAGEMENT_TYPES:
        return Spec(
            object_type, t.Engagement, repo.ENGAGEMENT_FIELDS, t.EngagementContact, ("engagement_type", "engagement_id")
        )
    raise ValueError(f"unknown object type {object_type!r}")


def page_ids(page: Page) -> list[int]:
    """The usable record ids of a page, those of entries too deep to read included (paging goes past them too)."""
    raw = [r.get("id") for r in page.results if isinstance(r, dict)] + [u.record_id for u in page.unreadable]
    return [i for r in raw if (i := valid_id(r)) is not None]


def edge_probe(direction: str) -> dict[str, Any]:
    """What turns a search into a one-record probe for the lowest (ASCENDING) or highest id it matches."""
    sort = {"propertyName": "hs_object_id", "direction": direction}
    return {"sorts": [sort], "properties": ["hs_object_id"], "limit": 1}


@dataclass(frozen=True)
class Step:
    """What a fetch hands the cycle's thread to commit: a list page (with where its id range stands after it) or a
    batch of search pages (or the end of a window) and the cursor after it."""

    spec: Spec
    cursor: Cursor
    rows: list[dict[str, Any]] = field(default_factory=list)
    links: dict[int, set[int]] | None = None
    merged: dict[int, set[int]] = field(default_factory=dict)
    parse: ParseStats = field(default_factory=ParseStats)
    listing: bool = False  # a list page
    pages: int = 0  # search pages read for this step
    shard: tuple[int, Shard] | None = None  # a list page: its id range (index) and where that range stands after it
    probes: int = 0  # one-record searches spent to cut a window into id ranges
    quarantined: list[Quarantined] = field(default_factory=list)  # records holding a value no store can hold
    unreadable: tuple[Unreadable, ...] = ()  # entries nested too deep to read
    total: int | None = None  # a search's `total` at the step's first page: records left from there on


class Puller:
    """Runs the pull of a cycle: owners and pipelines, then each object type (list pass or incremental)."""

    def __init__(
        self,
        engine: Engine,
        client: HubSpotClient,
        config: PullConfig,
        run_start_ms: int,
        stop: threading.Event | None = None,
        *,
        progress: Progress | None = None,
    ) -> None:
        self.engine, self.client, self.config = engine, client, config
        self.run_start_ms = run_start_ms
        self.stop = stop or threading.Event()
        self.progress = progress or Progress()
        self.stats = PullStats()
        self.quarantine = Quarantine(self.stats.parse)
        self.writes: tuple[Span, ...] = ()  # kpi-sync's own contact write-backs (`sync.own_writes`)
        self._cursors: dict[str, Cursor] = {}  # list passes: each type's cursor as committed (its ranges)

    # -- entry points ------------------------------------------------------------------------------------------
    def run(self, objects: Sequence[str] = OBJECT_TYPES, reconcile: bool = False) -> PullStats:
        """Pull everything asked for; a reconcile (or a first run) lists every record to catch deletions.

        Each object type's pages are fetched by its own producer, up to the client's `max_in_flight` at once on
        worker threads (`sync.inflight`); every commit (a page or batch with its cursor) happens here, on the
        cycle's thread, in the order each type's pages were read."""
        with self.engine.begin() as conn:
            cursors = {o: Cursor.from_row(repo.get_cursor(conn, o)) for o in objects}
            refreshed = (repo.get_state(conn, state_keys.OWNERS_REFRESHED) or {}).get("at", 0)
            self.quarantine.load(conn)
            self.writes = own_writes.load(conn)
        listing = reconcile or any(c.phase is Phase.FULL or c.list_after or c.list_shards for c in cursors.values())
        if listing or self.run_start_ms - int(refreshed) >= OWNER_REFRESH_MS:
            self.progress.phase("pull", "owners")
            self.pull_owners_and_pipelines()
        if reconcile:
            cursors = {o: c.start_listing(self.run_start_ms) for o, c in cursors.items()}
        uncut = [o for o, c in cursors.items() if c.phase is Phase.FULL and not (c.list_after or c.planned)]
        cut = self._cut_by_hubspot(uncut)
        producers: list[tuple[tuple[int, int], Callable[[], Iterable[Step]]]] = []
        for object_type in objects:
            self.progress.phase("pull", object_type)
            spec, cursor = spec_for(object_type), cursors[object_type]
            if not cursor.listing:
                self.reread_quarantined(spec)
                # searches first: they are short, and the long list chains then keep the rate limit busy to the end
                producers.append(((0, 0), partial(self.search_steps, spec, cursor)))
                continue
            # A list pass reads everything as of its start; what changed during it is searched next run (the window
            # starts at the pass's start minus the overlap), so no search is spent now.
            cursor = self._planned(spec, cursor, cut.get(object_type))
            self._cursors[object_type] = cursor
            largest_first = (1, -len(cursor.list_shards))
            producers += [
                (largest_first, partial(self.list_steps, spec, cursor, index))
                for index, shard in enumerate(cursor.list_shards)
                if not shard.done
            ]
        producers.sort(key=lambda p: p[0])
        for step in inflight.merged([p for _, p in producers], self.client.max_in_flight):
            self._check_stop()  # pages fetched ahead are dropped on a stop: the cursor says where to resume
            self._commit(step)
        return self.stats

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise Interrupted

    # -- owners and pipelines ----------------------------------------------------------------------------------
    def pull_owners_and_pipelines(self) -> None:
        """Owners (active and archived, so old activity resolves), stored page by page as they come (memory holds
        one page, however many owners), then deal pipeline stages. After a quarantine they are read again next
        cycle, not an hour later."""
        before = self.stats.parse.quarantined["owners"] + self.stats.parse.quarantined["stages"]
        for archived in (False, True):
            for page in self.client.owners(archived=archived):
                rows, quarantined = owner_rows(page.results, archived, self.stats.parse)
                self.quarantine.page("owners", quarantined, page.unreadable)
                with self.engine.begin() as conn:
                    repo.upsert(conn, repo.table(t.Owner), rows)
                self.stats.fetched["owners"] += len(rows)
                self.progress.page("owners", len(rows))
        stages, quarantined = stage_rows(self.client.pipelines("deals"), self.stats.parse)
        self.quarantine.page("stages", quarantined)
        clean = self.stats.parse.quarantined["owners"] + self.stats.parse.quarantined["stages"] == before
        with self.engine.begin() as conn:
            repo.upsert(conn, repo.table(t.DealStage), stages)
            if clean:
                repo.set_state(conn, state_keys.OWNERS_REFRESHED, {"at": self.run_start_ms})

    # -- list pass ---------------------------------------------------------------------------------------------
    def _cut_by_hubspot(self, object_types: list[str]) -> dict[str, tuple[Shard, ...]]:
        """A first load's ranges of each type not cut yet, found by searches sent side by side."""
        cut: dict[str, tuple[Shard, ...]] = {}
        for object_type, (shards, probes) in inflight.mapped(
            lambda o: self._ranges_from_hubspot(spec_for(o)), object_types, self.client.max_in_flight
        ):
            cut[object_type] = shards
            self.stats.pages[f"probe:{object_type}"] += probes
        return cut

    def _planned(self, spec: Spec, cursor: Cursor, cut: tuple[Shard, ...] | None) -> Cursor:
        """The list pass in progress, or a new one cut into id ranges (`sync.ranges`; a first load's `cut` from
        HubSpot, a reconcile's from the stored ids) and stored before any page is read, so a resumed pass reads the
        same ranges."""
        cursor = cursor.start_listing(self.run_start_ms)
        if cursor.planned:
            return cursor
        if cursor.list_after:  # a pass begun before ranges existed goes on as one range
            shards = ranges.ONE_RANGE
        elif cut is not None:
            shards = cut
        else:
            with self.engine.connect() as conn:
                ids = repo.live_ids(conn, spec.model, spec.kind)
            shards = ranges.by_ids(ids, self.config.list_range_size)
        cursor = cursor.plan(shards)
        with self.engine.begin() as conn:
            self._save(conn, cursor)
        return cursor

    def _ranges_from_hubspot(self, spec: Spec) -> tuple[tuple[Shard, ...], int]:
        """A first load's ranges, and the searches spent: one for the highest id and the total, one more for the
        lowest id when the type is larger than one range (runs on a fetch thread: no store access)."""
        size = self.config.list_range_size
        if size <= 0:
            return ranges.ONE_RANGE, 0
        top, total = self._edge_id(spec, "DESCENDING")
        if top is None or total is None or total <= size:
            return ranges.ONE_RANGE, 1
        low, _ = self._edge_id(spec, "ASCENDING")
        return (ranges.ONE_RANGE if low is None else ranges.by_span(low, top, total, size)), 2

    def _edge_id(self, spec: Spec, direction: str) -> tuple[int | None, int | None]:
        """The lowest or highest id of a type, and how many records it has, by a one-record search."""
        page = self.client.search_page(spec.object_type, {"filterGroups": []} | edge_probe(direction))
        return max(page_ids(page), default=None), page.total

    def list_steps(self, spec: Spec, cursor: Cursor, index: int) -> Iterator[Step]:
        """Read one id range of a list pass, a step per page: the records of the range, and where it stands (runs on
        a fetch thread: no store access). The commit of the pass's last page archives what the pass did not see."""
        shard = cursor.list_shards[index]
        started = cursor.list_started_at
        assert started is not None
        properties = self._properties(spec.object_type)
        associations = ["contacts"] if spec.link_model else []
        paging = Paging(f"list:{spec.object_type}")
        floor = ranges.id_cursor(shard.after or shard.start) or 0
        while True:
            self._check_stop()
            page = self.client.list_page(spec.object_type, properties, associations, after=shard.after or shard.start)
            ids = page_ids(page)
            paging.advance(page.after, ids)
            next_id = ranges.id_cursor(page.after)
            in_order = ids == sorted(set(ids)) and min(ids, default=floor) >= floor
            if shard.end is not None and not (in_order and (page.after is None or next_id is not None)):
                log.warning("list_range_unordered", object_type=spec.object_type, range=index)
                shard = replace(shard, end=None)  # read on to the end of the list: nothing is lost
            end = shard.end
            results, unreadable = page.results, page.unreadable
            if end is not None:
                results = [r for r in results if (i := valid_id(r.get("id"))) is None or i < end]
                unreadable = tuple(u for u in unreadable if (i := valid_id(u.record_id)) is None or i < end)
            floor = max(ids, default=floor) + 1
            done = page.after is None or (end is not None and (floor > end or (next_id or 0) >= end))
            shard = replace(shard, after=page.after, done=done)
            parse = ParseStats()
            parsed = parse_page(
                spec.object_type,
                results,
                parse,
                self.config.extra_for(spec.object_type),
                with_links=bool(associations),
            )
            links = dict(parsed.links)
            links.update(self._read_links(spec, parsed.incomplete_links))
            for row in parsed.rows:
                row["seen_at"] = started
            yield Step(
                spec,
                cursor,
                parsed.rows,
                links if associations else None,
                parsed.merged,
                parse,
                listing=True,
                quarantined=parsed.quarantined,
                unreadable=unreadable,
                shard=(index, shard),
            )
            if done:
                return

    def _archive_unseen(self, conn: Connection, spec: Spec, started: int) -> None:
        tbl = repo.table(spec.model)
        stmt = select(*[tbl.c[c] for c in (["type", "id"] if spec.kind else ["id"])]).where(
            tbl.c.archived.is_(False),
            or_(tbl.c.seen_at.is_(None), tbl.c.seen_at < started),
            or_(tbl.c.modified_at.is_(None), tbl.c.modified_at < started),
        )
        if spec.kind:
            stmt = stmt.where(tbl.c.type == spec.kind)
        held = set(self.quarantine.ids(spec.object_type))  # not seen because it could not be read: not gone
        gone = [tuple(r) for r in conn.execute(stmt) if r[-1] not in held]
        self._archive(conn, spec, gone)

    def _merge_away(
        self, conn: Connection, spec: Spec, merged: dict[int, set[int]], rows: list[dict[str, Any]]
    ) -> None:
        """Records HubSpot merged into a survivor are archived in the same transaction as the survivor, and a merged
        contact's calls, emails, meetings and deals move to the survivor (HubSpot moves them without touching their
        modification dates, so no search would bring them back)."""
        served = {int(r["id"]) for r in rows}  # an id HubSpot still serves was not merged away, whatever it says
        merged = {survivor: away - served for survivor, away in merged.items() if away - served}
        if not merged:
            return
        gone = [(i,) for i in sorted(set().union(*merged.values()))]
        if spec.object_type == "contacts":
            for survivor, away in merged.items():
                self._relink(conn, away, survivor)
        if flipped := self._archive(conn, spec, gone):
            self.stats.merged[spec.object_type] += flipped

    def _relink(self, conn: Connection, away: set[int], survivor: int) -> None:
        """Give the survivor every engagement and deal link of the merged-away contacts."""
        self.stats.dirty_contacts += marks.mark_dirty_contacts(conn, {survivor, *away}, self.run_start_ms)
        for link_spec in (spec_for("deals"), spec_for("calls")):  # one per link table: deals, every engagement type
            assert link_spec.link_model is not None
            owners = repo.linked_keys(conn, link_spec.link_model, link_spec.link_cols, away)
            if not owners:
                continue
            current = repo.links_of(conn, link_spec.link_model, link_spec.link_cols, owners)
            diffs = repo.replace_links(
                conn,
                link_spec.link_model,
                link_spec.link_cols,
                {key: (ids - away) | {survivor} for key, ids in current.items()},
            )
            if link_spec.object_type == "deals":
                self.stats.relinked["deals"] += len(diffs)
                self.stats.dirty_deals += marks.mark_dirty_deals(conn, [k[0] for k in diffs], self.run_start_ms)
                continue
            self.stats.relinked.update(PLURAL[key[0]] for key in diffs)
            touches = [key for key in diffs if key[0] in TOUCH_TYPES]
            marks.mark_dirty_touch_days(conn, marks.touch_marks_of(conn, touches), self.run_start_ms)

    def _archive(self, conn: Connection, spec: Spec, keys: list[tuple[Any, ...]]) -> int:
        """Archive these records (those not archived yet) and queue what they fed; returns how many flipped."""
        flipped = repo.set_archived(conn, spec.model, ["type", "id"] if spec.kind else ["id"], keys, True)
        if not flipped:
            return 0
        self.stats.archived[spec.object_type] += len(flipped)
        if spec.object_type == "contacts":
            self.stats.dirty_contacts += marks.mark_dirty_contacts(conn, [k[0] for k in flipped], self.run_start_ms)
        elif spec.object_type == "deals":
            self.stats.dirty_deals += marks.mark_dirty_deals(conn, [k[0] for k in flipped], self.run_start_ms)
        else:
            assert spec.link_model is not None
            linked = repo.linked_contacts(conn, spec.link_model, spec.link_cols, flipped)
            self.stats.dirty_contacts += marks.mark_dirty_contacts(conn, linked, self.run_start_ms)
            if spec.kind in TOUCH_TYPES:
                marks.mark_dirty_touch_days(conn, marks.touch_marks_of(conn, flipped), self.run_start_ms)
        return len(flipped)

    # -- incremental -------------------------------------------------------------------------------------------
    def search_steps(self, spec: Spec, cursor: Cursor) -> Iterator[Step]:
        """Search every window between the settled mark and the run's start, skipping what needs no reading now
        (`Cursor.next_window`): a step per batch of search pages, and one per closed window (runs on a fetch thread:
        no store access). Consecutive windows of one run continue where the last ended."""
        overlap_ms = self.config.overlap_seconds * 1000
        span_ms = self.config.window_hours * 3_600_000
        writes = self.writes if spec.object_type == "contacts" else ()
        # A window resumed from an earlier run was opened before this run's start: only what lies an overlap before
        # its end is surely read settled.
        settled_by = (cursor.window_hi or 0) - overlap_ms if cursor.searching else self.run_start_ms - overlap_ms
        while True:
            if not cursor.searching:
                opened = cursor.next_window(
                    overlap_ms=overlap_ms, span_ms=span_ms, until_ms=self.run_start_ms, writes=writes
                )
                if opened is None:
                    return
                cursor = opened
            if cursor.pieces:  # a window wholly skipped closes without a request
                if not cursor.window_ranges:
                    step, done = self._search_batch(spec, cursor)
                    if not done:
                        step = self._split(spec, step)
                    cursor = step.cursor
                    yield step
                    if not done and not cursor.window_ranges:
                        continue
                if cursor.window_ranges:
                    cursor = yield from self._ranged(spec, cursor)
            cursor = cursor.close_window(settled_by=settled_by)
            yield Step(spec, cursor)
            if (cursor.high_water or 0) >= self.run_start_ms:
                return
            settled_by = self.run_start_ms - overlap_ms

    def _split(self, spec: Spec, step: Step) -> Step:
        """The first batch of a large window, with the rest of the window cut into id ranges between the last id
        read and the highest id left (one one-record search finds it); a window with little left stays one chain."""
        cursor, key_id = step.cursor, step.cursor.key_id or 0
        left = (step.total or 0) - len(step.rows)
        if left <= SEARCH_RANGE_SIZE or len(cursor.pieces) > ID_FILTERED_PIECES_MAX:
            return step
        probe = self._search_body(spec, cursor, key_id) | edge_probe("DESCENDING")
        top = max(page_ids(self.client.search_page(spec.object_type, probe)), default=key_id)
        count = min(SEARCH_RANGES_MAX, math.ceil(left / SEARCH_RANGE_SIZE))
        cuts = sorted({key_id + (top - key_id) * i // count for i in range(1, count)} - {key_id})
        floors, ends = [key_id, *cuts], [*(c + 1 for c in cuts), None]
        ranged = tuple(Shard(str(lo), end) for lo, end in zip(floors, ends, strict=True))
        return replace(step, cursor=cursor.split(ranged), probes=1)

    def _ranged(self, spec: Spec, cursor: Cursor) -> Generator[Step, None, Cursor]:
        """The window's id ranges read side by side, each a chain of batches; every step carries the whole window's
        cursor (each range's position), and the last one the window read to its end."""
        chains = [
            partial(self._range_chain, spec, cursor, index)
            for index, shard in enumerate(cursor.window_ranges)
            if not shard.done
        ]
        for index, shard, step in inflight.merged(chains, self.client.max_in_flight):
            cursor = cursor.range_searched(index, shard)
            yield replace(step, cursor=cursor, total=None)
        return cursor

    def _range_chain(self, spec: Spec, cursor: Cursor, index: int) -> Iterator[tuple[int, Shard, Step]]:
        shard = cursor.window_ranges[index]
        key_id = int(shard.after or shard.start or 0)
        while True:
            step, done = self._search_batch(spec, cursor, key_id, below=shard.end)
            key_id = step.cursor.key_id or key_id
            shard = replace(shard, after=str(key_id), done=done)
            yield index, shard, step
            if done:
                return

    def _search_batch(
        self, spec: Spec, cursor: Cursor, key_id: int | None = None, *, below: int | None = None
    ) -> tuple[Step, bool]:
        """Up to SEARCH_PAGES_PER_BATCH search pages of the current window (ids above `key_id`, by default the
        cursor's, and below `below`), their contact links read in one batch, as one step (committed with its cursor
        in one transaction); True when the window (or range) is exhausted."""
        rows: list[dict[str, Any]] = []
        merged: dict[int, set[int]] = {}
        parse = ParseStats()
        quarantined: list[Quarantined] = []
        unreadable: list[Unreadable] = []
        total: int | None = None
        key_id, pages, done = (cursor.key_id or 0) if key_id is None else key_id, 0, False
        while not done and pages < SEARCH_PAGES_PER_BATCH:
            self._check_stop()
            page = self.client.search_page(spec.object_type, self._search_body(spec, cursor, key_id, below))
            parsed = parse_page(spec.object_type, page.results, parse, self.config.extra_for(spec.object_type))
            rows += parsed.rows
            merged.update(parsed.merged)
            quarantined += parsed.quarantined
            unreadable += page.unreadable
            total = page.total if pages == 0 else total
            # The keyset advances over every record of the page, also those the parser skipped.
            ids = page_ids(page)
            key_id = max(ids, default=key_id)
            pages += 1
            done = page.after is None or not ids
        links = self._read_links(spec, [r["id"] for r in rows]) if spec.link_model else None
        step = Step(
            spec,
            cursor.searched_to(key_id),
            rows,
            links,
            merged,
            parse,
            pages=pages,
            quarantined=quarantined,
            unreadable=tuple(unreadable),
            total=total,
        )
        return step, done

    # -- commits (the cycle's thread) -------------------------------------------------------------------------
    def _commit(self, step: Step) -> None:
        """One step in one transaction: its records, links and merges, and the cursor after them. The last page of
        a list pass also archives what the pass did not see and turns the type incremental."""
        spec = step.spec
        self.stats.parse.add(step.parse)
        if step.quarantined or step.unreadable or step.rows:
            self.quarantine.page(spec.object_type, step.quarantined, step.unreadable, (r["id"] for r in step.rows))
        cursor = step.cursor
        if step.shard is not None:
            cursor = self._cursors[spec.object_type].shard_read(*step.shard)
        with self.engine.begin() as conn:
            if step.rows or step.pages or step.listing:
                self._apply(conn, spec, step.rows, step.links, listing=step.listing)
                self._merge_away(conn, spec, step.merged, step.rows)
            if cursor.listed:
                assert cursor.list_started_at is not None
                self._archive_unseen(conn, spec, cursor.list_started_at)
                cursor = cursor.finish_listing()
            self._save(conn, cursor)
            self.quarantine.save(conn)
        if step.shard is not None:
            self._cursors[spec.object_type] = cursor
        if step.listing:
            self.stats.pages[f"list:{spec.object_type}"] += 1
        elif step.pages:
            self.stats.pages[f"search:{spec.object_type}"] += step.pages
        if step.probes:
            self.stats.pages[f"probe:{spec.object_type}"] += step.probes
        if step.listing or step.pages:
            self.progress.page(spec.object_type, len(step.rows), total=step.total)
        if not step.pages and (not step.listing or not cursor.listing):
            # the end of a list pass or of a search window: still a boundary observers hear of (a cancel, say)
            self.progress.phase("pull", spec.object_type)

    def reread_quarantined(self, spec: Spec) -> None:
        """Read again, by id, the records of this type held in quarantine (`sync.quarantine`), 100 per batch read;
        each batch stored and released (or held again) in one transaction. Ids HubSpot no longer has are released:
        the next reconcile archives them."""
        held = self.quarantine.ids(spec.object_type)
        properties = self._properties(spec.object_type)
        for start in range(0, len(held), LIST_PAGE_SIZE):
            self._check_stop()
            ids = held[start : start + LIST_PAGE_SIZE]
            page = self.client.read_page(spec.object_type, [str(i) for i in ids], properties)
            extra = self.config.extra_for(spec.object_type)
            parsed = parse_page(spec.object_type, page.results, self.stats.parse, extra)
            links = self._read_links(spec, [r["id"] for r in parsed.rows]) if spec.link_model else None
            self.quarantine.page(spec.object_type, parsed.quarantined, page.unreadable, ids)
            with self.engine.begin() as conn:
                self._apply(conn, spec, parsed.rows, links)
                self.quarantine.save(conn)
            self.stats.pages[f"read:{spec.object_type}"] += 1

    def _search_body(self, spec: Spec, cursor: Cursor, key_id: int, below: int | None = None) -> dict[str, Any]:
        """The next keyset page of the current window: ids above `key_id` (and below `below`), ascending, in any
        range the window reads (one filter group per range, ORed)."""
        modified = MODIFIED_PROPERTY[spec.object_type]
        ids = [{"propertyName": "hs_object_id", "operator": "GT", "value": str(key_id)}]
        if below is not None:
            ids.append({"propertyName": "hs_object_id", "operator": "LT", "value": str(below)})
        return {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": modified, "operator": "GTE", "value": str(lo)},
                        {"propertyName": modified, "operator": "LT", "value": str(hi)},
                        *ids,
                    ]
                }
                for lo, hi in cursor.pieces
            ],
            "sorts": [{"propertyName": "hs_object_id", "direction": "ASCENDING"}],
            "properties": self._properties(spec.object_type),
            "limit": SEARCH_PAGE_SIZE,
        }

    # -- shared ------------------------------------------------------------------------------------------------
    def _properties(self, object_type: str) -> list[str]:
        return list(dict.fromkeys((*PROPERTIES[object_type], *self.config.extra_for(object_type))))

    def _read_links(self, spec: Spec, record_ids: list[int]) -> dict[int, set[int]]:
        """Complete contact links of records through v4 batch reads, following each record's paging."""
        links: dict[int, set[int]] = {i: set() for i in record_ids}
        pending: list[tuple[str, str | None]] = [(str(i), None) for i in record_ids]
        asked: set[tuple[str, str]] = set()  # (record, cursor) pairs followed: one asked twice is HubSpot looping
        while pending:
            self._check_stop()
            batch, pending = pending[:ASSOC_BATCH_READ_SIZE], pending[ASSOC_BATCH_READ_SIZE:]
            for source, linked, after in self.client.association_batch(spec.object_type, "contacts", batch):
                source_id = valid_id(source)
                if source_id is None or source_id not in links:
                    continue
                links[source_id].update(i for x in linked if (i := valid_id(x)) is not None)
                if after:
                    if (source, after) in asked:
                        raise HubSpotLoopError(f"assoc:{spec.object_type}: HubSpot repeated the cursor of {source}")
                    asked.add((source, after))
                    pending.append((source, after))
        return links

    def _apply(
        self,
        conn: Connection,
        spec: Spec,
        rows: list[dict[str, Any]],
        links: dict[int, set[int]] | None,
        *,
        listing: bool = False,
    ) -> None:
        """Upsert one list page or batch of search pages; mark contacts (and deals) whose KPI inputs changed."""
        if spec.kind:
            rows = [{**r, "type": spec.kind} for r in rows]
        changed = repo.upsert_changed(conn, spec.model, rows, spec.fields)
        self.stats.fetched[spec.object_type] += len(rows)
        self.stats.changed[spec.object_type] += len(changed)
        changed_ids = [int(new["id"]) for _, new in changed]
        if spec.object_type == "contacts":
            self.stats.dirty_contacts += marks.mark_dirty_contacts(conn, changed_ids, self.run_start_ms)
            return
        assert spec.link_model is not None
        changed_keys = [spec.key(i) for i in changed_ids]
        affected = repo.linked_contacts(conn, spec.link_model, spec.link_cols, changed_keys)
        diffs = repo.replace_links(
            conn, spec.link_model, spec.link_cols, {spec.key(i): ids for i, ids in (links or {}).items()}
        )
        self.stats.relinked[spec.object_type] += len(diffs)
        for old, new in diffs.values():
            affected |= old ^ new
        affected |= repo.linked_contacts(conn, spec.link_model, spec.link_cols, changed_keys)
        if spec.object_type == "deals":
            deals = set(changed_ids) | {k[0] for k in diffs}
            self.stats.dirty_deals += marks.mark_dirty_deals(conn, deals, self.run_start_ms)
        else:
            self.stats.dirty_contacts += marks.mark_dirty_contacts(conn, affected, self.run_start_ms)
        if spec.kind in TOUCH_TYPES:
            self._mark_touches(conn, spec.kind, rows, changed, {k[1] for k in diffs}, listing=listing)

    def _mark_touches(
        self,
        conn: Connection,
        kind: str,
        rows: list[dict[str, Any]],
        changed: list[tuple[dict[str, Any] | None, dict[str, Any]]],
        relinked: set[int],
        *,
        listing: bool,
    ) -> None:
        """Queue the K1/K4 work of changed calls or emails: a new one is added to its cells as it is; for one that
        changed or was re-linked, the months of its day and owner, before and after the change, are recounted. A
        list pass (a first load: everything is new) marks days and owners only, a few thousand rows instead of one
        per record."""
        added = set() if listing else {int(new["id"]) for old, new in changed if old is None}
        touched = [(r.get("timestamp"), r.get("owner_id")) for r in rows if int(r["id"]) in relinked - added]
        touched += [
            (row.get("timestamp"), row.get("owner_id")) for old, new in changed if old is not None for row in (old, new)
        ]
        marks.mark_dirty_touch_days(conn, touched, self.run_start_ms)
        marks.mark_added_touches(conn, [(kind, i) for i in added], self.run_start_ms)

    def _save(self, conn: Connection, cursor: Cursor) -> None:
        repo.save_cursor(conn, replace(cursor, updated_at=self.run_start_ms).to_row())
