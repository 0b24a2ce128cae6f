"""The tools `bench/peer_bench.py` compares, each run as a subprocess against the sandbox: kpi-sync itself and
the two peers through their launchers. Each adapter knows its command, its state between runs and how to read
what it delivered (the peers' RECORD messages, kpi-sync's SQLite store) into one comparable shape.

Runs in the project's virtualenv; only the launchers run inside the peers' own virtualenvs.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

BENCH = Path(__file__).resolve().parent.parent
ROOT = BENCH.parent
PEERS_DIR = BENCH / ".peers"
LAUNCHERS = Path(__file__).resolve().parent

AIRBYTE_STREAMS = {
    "contacts": "contacts",
    "deals": "deals",
    "owners": "owners",
    "engagements_calls": "calls",
    "engagements_emails": "emails",
    "engagements_meetings": "meetings",
}
SINGER_STREAMS = ("contacts", "deals", "owners", "engagements")
SINGER_ENGAGEMENT_TYPES = {
    "CALL": "calls",
    "EMAIL": "emails",
    "INCOMING_EMAIL": "emails",
    "FORWARDED_EMAIL": "emails",
    "MEETING": "meetings",
    "NOTE": "notes",
    "TASK": "tasks",
}
KPI_ENGAGEMENT_TYPES = {"call": "calls", "email": "emails", "meeting": "meetings", "note": "notes", "task": "tasks"}
ENGAGEMENT_TYPES = ("calls", "emails", "meetings", "notes", "tasks")
SCRUBBED_ENV = (
    "HUBSPOT_",
    "KPI_",
    "SYNC_",
    "DATABASE_URL",
    "WRITEBACK_",
    "RECONCILE_",
    "ADMIN_",
    "SANDBOX_URL",
    "PEER_",
)
SAMPLE_EVERY_S = 0.02
# Request paths and kpi-sync call kinds -> the stream they serve ("shared": schemas, properties, pipelines).
ENTITY_STREAMS = {
    "contact": "contacts",
    "contacts": "contacts",
    "deal": "deals",
    "deals": "deals",
    "calls": "calls",
    "emails": "emails",
    "meetings": "meetings",
    "notes": "notes",
    "tasks": "tasks",
}
PEER_PATH_STREAMS = (
    (re.compile(r"^/crm/v3/objects/([a-z_]+)"), None),
    (re.compile(r"^/crm/v4/associations/([a-z_]+)/"), None),
    (re.compile(r"^/properties/v2/([a-z_]+)/properties"), None),
    (re.compile(r"^/deals/v1/"), "deals"),
    (re.compile(r"^/engagements/v1/"), "engagements"),
    (re.compile(r"^/crm/v3/owners"), "owners"),
)


def to_ms(value: Any) -> int | None:
    """ms epoch from an int, a digit string or an ISO-8601 string; None otherwise."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None


@dataclass
class Rec:
    """What a tool holds for one record: its modification time, contact ids (when it has them), archived."""

    updated: int | None
    contacts: tuple[str, ...] | None = None
    archived: bool = False


@dataclass
class Delivery:
    """Records a run delivered (latest per id) and how many RECORD messages (or changed rows) per type."""

    records: dict[str, dict[str, Rec]] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    duplicates: int = 0

    def add(self, object_type: str, rid: str, rec: Rec) -> None:
        """Count one delivered record; the last one per id wins; a repeated id counts as a duplicate."""
        held = self.records.setdefault(object_type, {})
        self.duplicates += rid in held
        held[rid] = rec
        self.messages[object_type] = self.messages.get(object_type, 0) + 1

    def merged(self, newer: Delivery) -> Delivery:
        """This view updated by a later run's records."""
        out = Delivery({t: dict(r) for t, r in self.records.items()}, {}, list(newer.errors))
        for object_type, recs in newer.records.items():
            out.records.setdefault(object_type, {}).update(recs)
        return out


@dataclass
class ProcResult:
    """How a tool's process ended, how long it took and its peak memory."""

    returncode: int | None
    wall_s: float
    peak_rss_mb: float
    timed_out: bool
    command: str
    last_call_s: float | None = None  # seconds from start to the last API call the probe saw (None: no probe)


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_process(
    argv: list[str],
    env: dict[str, str],
    workdir: Path,
    name: str,
    timeout_s: float,
    *,
    probe: Callable[[], int] | None = None,
) -> ProcResult:
    """Run a command, sampling its process tree's RSS (and `probe`, the sandbox's call count, to time the last
    API call); kill its process group after `timeout_s`."""
    with open(workdir / f"{name}.out", "wb") as out, open(workdir / f"{name}.err", "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, cwd=workdir, start_new_session=True)
        watched = psutil.Process(proc.pid)
        peak, returncode, timed_out = 0, None, False
        calls, last_call = (probe(), None) if probe else (0, None)
        while True:
            if probe and (now_calls := probe()) != calls:
                calls, last_call = now_calls, time.monotonic() - started
            # The child's own ru_maxrss is not used: it includes the fork before exec, i.e. this process's RSS.
            pid, status = os.waitpid(proc.pid, os.WNOHANG)
            if pid:
                returncode = os.waitstatus_to_exitcode(status)
                break
            peak = max(peak, _tree_rss(watched))
            if time.monotonic() - started > timeout_s:
                os.killpg(proc.pid, signal.SIGKILL)
                os.waitpid(proc.pid, 0)
                timed_out = True
                break
            time.sleep(SAMPLE_EVERY_S)
        proc.returncode = returncode if returncode is not None else -9
    return ProcResult(returncode, time.monotonic() - started, peak / 2**20, timed_out, " ".join(argv), last_call)


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without any HubSpot/kpi-sync/peer settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(SCRUBBED_ENV)}
    env.update(extra)
    return env


class Tool(ABC):
    """One tool under test."""

    name: str
    types: tuple[str, ...]
    streams_note: str

    def __init__(self, workdir: Path, token: str, start_date: str) -> None:
        self.workdir = workdir
        self.token = token
        self.start_date = start_date
        workdir.mkdir(parents=True, exist_ok=True)

    def prepare(self, base_url: str) -> None:  # noqa: B027 - optional hook, most tools need nothing
        """One-off setup against a sandbox (catalogs), not measured."""

    def seed_state(self, cursor_ms: int) -> None:
        """Write the state a full sync ending at `cursor_ms` would have left (for a tool whose full sync of a big
        portal does not finish in time); only tools whose state is a plain cursor can."""
        raise NotImplementedError(f"{self.name} cannot start from a seeded state")

    @abstractmethod
    def begin(self) -> None:
        """Forget all state: the next run is a first full sync."""

    @abstractmethod
    def command(self, base_url: str, time_scale: float, extra: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
        """The argv and environment of one sync run."""

    @abstractmethod
    def collect(self, run_name: str) -> Delivery:
        """What the run delivered; also keeps the state the next run needs."""

    def run(
        self,
        base_url: str,
        run_name: str,
        timeout_s: float,
        time_scale: float = 1.0,
        extra: tuple[str, ...] = (),
        *,
        probe: Callable[[], int] | None = None,
    ) -> tuple[ProcResult, Delivery]:
        """One sync run: process, then what it delivered."""
        argv, env = self.command(base_url, time_scale, extra)
        result = run_process(argv, env, self.workdir, run_name, timeout_s, probe=probe)
        return result, self.collect(run_name)

    @abstractmethod
    def calls_by_stream(self, run_name: str) -> dict[str, int]:
        """The run's API calls per stream (object type, "owners", or "shared" for schemas/properties/pipelines)."""


class KpiSync(Tool):
    """kpi-sync's `sync` command with a fresh SQLite store; write-back off unless asked (peers only read)."""

    name = "kpi-sync"
    types = ("contacts", "deals", "owners", *ENGAGEMENT_TYPES)
    streams_note = "contacts, deals, owners, calls, emails, meetings, notes, tasks"

    env_overrides: dict[str, str] = {}  # noqa: RUF012 - a class-level default, replaced by variants

    def __init__(self, workdir: Path, token: str, start_date: str, writeback: bool = False) -> None:
        super().__init__(workdir, token, start_date)
        self.writeback = writeback
        self.db = workdir / "kpi-sync.sqlite3"
        self.previous: dict[str, dict[str, Rec]] = {}

    def begin(self) -> None:
        """Delete the store."""
        self.db.unlink(missing_ok=True)
        self.previous = {}

    def command(self, base_url: str, time_scale: float, extra: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
        """`kpi-sync sync` pointed at the sandbox through its documented environment variables."""
        env = clean_env(
            HUBSPOT_BASE_URL=base_url,
            HUBSPOT_ACCESS_TOKEN=self.token,
            DATABASE_URL=f"sqlite:///{self.db}",
            WRITEBACK_ENABLED=str(self.writeback).lower(),
            **self.env_overrides,
        )
        return [str(ROOT / ".venv" / "bin" / "kpi-sync"), "sync", *extra], env

    def last_run_counts(self) -> dict[str, Any]:
        """`counts` of the newest row in the store's run history (API calls by kind, limiter waits)."""
        if not self.db.exists():
            return {}
        con = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            row = con.execute("SELECT counts FROM sync_runs ORDER BY id DESC LIMIT 1").fetchone()
        except sqlite3.Error:
            return {}
        finally:
            con.close()
        counts = json.loads(row[0]) if row and row[0] else {}
        return counts if isinstance(counts, dict) else {}

    def calls_by_stream(self, run_name: str) -> dict[str, int]:
        """From the run history: kinds `list:T`, `search:T`, `assoc:T->U`, `owners`, `pipelines` (deal stages,
        counted to deals); the rest (properties, schemas) is shared."""
        out: Counter[str] = Counter()
        for kind, n in (self.last_run_counts().get("api", {}).get("calls") or {}).items():
            head, _, rest = kind.partition(":")
            if kind in ("owners", "pipelines"):
                out["owners" if kind == "owners" else "deals"] += n
            elif head in ("list", "search", "assoc") and rest:
                out[ENTITY_STREAMS.get(rest.split("->")[0], rest)] += n
            else:
                out["shared"] += n
        return dict(out)

    def collect(self, run_name: str) -> Delivery:
        """Rows in the store; `messages` counts rows that are new or changed by this run."""
        current = read_kpi_store(self.db)
        delivery = Delivery()
        for object_type, recs in current.items():
            before = self.previous.get(object_type, {})
            delivery.records[object_type] = dict(recs)
            delivery.messages[object_type] = sum(1 for rid, rec in recs.items() if before.get(rid) != rec)
        self.previous = current
        err = (self.workdir / f"{run_name}.err").read_text(errors="replace")
        delivery.errors = [line for line in err.splitlines() if '"level": "error"' in line or "Traceback" in line][:5]
        return delivery


class KpiSyncAtLimit(KpiSync):
    """kpi-sync with its ceilings pinned at HubSpot's Professional limits (190 per 10 s, search 5 per s): the
    defaults since fe09915, which were 150 and 4 when the published runs were made."""

    name = "kpi-sync-190"
    env_overrides = {"HUBSPOT_RATE_LIMIT_PER_10S": "190", "HUBSPOT_SEARCH_PER_SECOND": "5"}  # noqa: RUF012


def read_kpi_store(db: Path) -> dict[str, dict[str, Rec]]:
    """Every record in a kpi-sync SQLite store, with contact associations and archived flags."""
    out: dict[str, dict[str, Rec]] = {}
    if not db.exists():
        return out
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        links: dict[tuple[str, int], list[str]] = {}
        rows = con.execute("SELECT engagement_type, engagement_id, contact_id FROM engagement_contacts")
        for etype, eid, cid in rows:
            links.setdefault((KPI_ENGAGEMENT_TYPES.get(etype, etype), eid), []).append(str(cid))
        for did, cid in con.execute("SELECT deal_id, contact_id FROM deal_contacts"):
            links.setdefault(("deals", did), []).append(str(cid))
        for rid, modified, archived in con.execute("SELECT id, modified_at, archived FROM contacts"):
            out.setdefault("contacts", {})[str(rid)] = Rec(modified, None, bool(archived))
        for rid, modified, archived in con.execute("SELECT id, modified_at, archived FROM deals"):
            out.setdefault("deals", {})[str(rid)] = Rec(
                modified, tuple(sorted(links.get(("deals", rid), []))), bool(archived)
            )
        for etype, rid, modified, archived in con.execute("SELECT type, id, modified_at, archived FROM engagements"):
            object_type = KPI_ENGAGEMENT_TYPES.get(etype, etype)
            out.setdefault(object_type, {})[str(rid)] = Rec(
                modified, tuple(sorted(links.get((object_type, rid), []))), bool(archived)
            )
        for rid, archived in con.execute("SELECT id, archived FROM owners"):
            out.setdefault("owners", {})[str(rid)] = Rec(None, None, bool(archived))
    except sqlite3.Error:
        return out
    finally:
        con.close()
    return out


def stream_of_path(path: str) -> str:
    """The stream a peer's request serves, from its path."""
    for pattern, stream in PEER_PATH_STREAMS:
        match = pattern.match(path)
        if match:
            return stream or ENTITY_STREAMS.get(match.group(1), "shared")
    return "shared"


class Peer(Tool):
    """A Singer/Airbyte-protocol peer run through its launcher in its own virtualenv; state kept between runs."""

    venv: str
    launcher: str

    def __init__(self, workdir: Path, token: str, start_date: str) -> None:
        super().__init__(workdir, token, start_date)
        self.state = workdir / "state.json"
        self.config = workdir / "config.json"
        self.catalog = workdir / "catalog.json"
        self.request_log: Path | None = None

    @property
    def python(self) -> str:
        """The peer's virtualenv interpreter."""
        return str(PEERS_DIR / self.venv / "bin" / "python")

    def begin(self) -> None:
        """Drop the saved state."""
        self.state.unlink(missing_ok=True)

    def env(self, base_url: str, time_scale: float) -> dict[str, str]:
        """Launcher environment: where the sandbox is, how to scale the peer's sleeps, where to log requests."""
        extra = {"PEER_REQUEST_LOG": str(self.request_log)} if self.request_log else {}
        return clean_env(SANDBOX_URL=base_url, PEER_TIME_SCALE=str(time_scale), **extra)

    def run(
        self,
        base_url: str,
        run_name: str,
        timeout_s: float,
        time_scale: float = 1.0,
        extra: tuple[str, ...] = (),
        *,
        probe: Callable[[], int] | None = None,
    ) -> tuple[ProcResult, Delivery]:
        """One run, logging every request the peer sends to `<run_name>.requests.jsonl`."""
        self.request_log = self.workdir / f"{run_name}.requests.jsonl"
        self.request_log.unlink(missing_ok=True)
        try:
            return super().run(base_url, run_name, timeout_s, time_scale, extra, probe=probe)
        finally:
            self.request_log = None

    def calls_by_stream(self, run_name: str) -> dict[str, int]:
        """Requests in the run's log, attributed to streams by path (schemas and the like are "shared")."""
        out: Counter[str] = Counter()
        log = self.workdir / f"{run_name}.requests.jsonl"
        if not log.exists():
            return {}
        for line in log.read_text(errors="replace").splitlines():
            try:
                path = str(json.loads(line)["p"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue
            out[stream_of_path(path)] += 1
        return dict(out)

    def collect(self, run_name: str) -> Delivery:
        """Parse RECORD/STATE/TRACE messages from the run's stdout."""
        delivery = Delivery()
        states: list[Any] = []
        with open(self.workdir / f"{run_name}.out", encoding="utf-8", errors="replace") as out:
            for line in out:
                if not line.startswith("{"):
                    continue
                try:
                    message = json.loads(line)
                except json.JSONDecodeError:
                    continue
                self.read_message(message, delivery, states)
        self.save_state(states)
        return delivery

    @abstractmethod
    def read_message(self, message: dict[str, Any], delivery: Delivery, states: list[Any]) -> None:
        """Account for one output message."""

    @abstractmethod
    def save_state(self, states: list[Any]) -> None:
        """Write the state file the next run starts from (unchanged when the run emitted none)."""


class Airbyte(Peer):
    """airbyte-source-hubspot 5.7.0: `read` with a configured catalog (incremental) and the previous state."""

    name = "airbyte"
    venv = "airbyte"
    launcher = "launch_airbyte.py"
    types = ("contacts", "deals", "owners", "calls", "emails", "meetings")
    streams_note = "contacts, deals, owners, engagements_calls, engagements_emails, engagements_meetings"

    def prepare(self, base_url: str) -> None:
        """Write config and build the configured catalog from the connector's own `discover`."""
        self.config.write_text(
            json.dumps(
                {
                    "credentials": {"credentials_title": "Private App Credentials", "access_token": self.token},
                    "start_date": self.start_date,
                }
            )
        )
        argv = [self.python, str(LAUNCHERS / self.launcher), "discover", "--config", str(self.config)]
        result = run_process(argv, self.env(base_url, 1.0), self.workdir, "discover", 600)
        catalog = None
        for line in (self.workdir / "discover.out").read_text().splitlines():
            if line.startswith("{") and '"CATALOG"' in line:
                catalog = json.loads(line)["catalog"]
        if catalog is None:
            raise RuntimeError(f"airbyte discover failed (exit {result.returncode}); see {self.workdir}/discover.*")
        streams = [
            {
                "stream": s,
                "sync_mode": "incremental",
                "destination_sync_mode": "append",
                "cursor_field": s.get("default_cursor_field", []),
                "primary_key": s.get("source_defined_primary_key", []),
            }
            for s in catalog["streams"]
            if s["name"] in AIRBYTE_STREAMS
        ]
        self.catalog.write_text(json.dumps({"streams": streams}))

    def seed_state(self, cursor_ms: int) -> None:
        """Every stream's `updatedAt` cursor at `cursor_ms`, in the per-stream state format its STATE messages use."""
        when = datetime.fromtimestamp(cursor_ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.state.write_text(
            json.dumps(
                [
                    {
                        "type": "STREAM",
                        "stream": {"stream_descriptor": {"name": name}, "stream_state": {"updatedAt": when}},
                    }
                    for name in AIRBYTE_STREAMS
                ]
            )
        )

    def command(self, base_url: str, time_scale: float, extra: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
        """`launch_airbyte.py read --config --catalog [--state]`."""
        argv = [
            self.python,
            str(LAUNCHERS / self.launcher),
            "read",
            "--config",
            str(self.config),
            "--catalog",
            str(self.catalog),
        ]
        if self.state.exists():
            argv += ["--state", str(self.state)]
        return argv, self.env(base_url, time_scale)

    def read_message(self, message: dict[str, Any], delivery: Delivery, states: list[Any]) -> None:
        """RECORD: one record of a stream; STATE: per-stream state; TRACE ERROR: a failure."""
        kind = message.get("type")
        if kind == "RECORD":
            record = message["record"]
            object_type = AIRBYTE_STREAMS.get(record["stream"])
            if object_type:
                data = record["data"]
                contacts = data.get("contacts") if object_type != "contacts" else None
                delivery.add(
                    object_type,
                    str(data.get("id")),
                    Rec(
                        to_ms(data.get("updatedAt")),
                        tuple(sorted(map(str, contacts))) if contacts is not None else None,
                    ),
                )
        elif kind == "STATE" and message["state"].get("type") == "STREAM":
            states.append(message["state"])
        elif kind == "TRACE" and message["trace"].get("type") == "ERROR":
            error = message["trace"]["error"]
            delivery.errors.append(str(error.get("internal_message") or error.get("message"))[:300])

    def save_state(self, states: list[Any]) -> None:
        """Keep the last state of each stream, merged over the previous run's."""
        if not states:
            return
        merged: dict[str, Any] = {}
        if self.state.exists():
            for entry in json.loads(self.state.read_text()):
                merged[entry["stream"]["stream_descriptor"]["name"]] = entry
        for entry in states:
            merged[entry["stream"]["stream_descriptor"]["name"]] = entry
        self.state.write_text(json.dumps(list(merged.values())))


class Singer(Peer):
    """tap-hubspot 4.5.0: a catalog of its four shared streams, all fields selected, and the last STATE."""

    name = "singer"
    venv = "singer"
    launcher = "launch_singer.py"
    types = ("contacts", "deals", "owners", *ENGAGEMENT_TYPES)
    streams_note = "contacts, deals, owners, engagements (calls, emails, meetings, notes and tasks in one stream)"

    def prepare(self, base_url: str) -> None:
        """Write config and build the catalog with the tap's own discovery functions."""
        self.config.write_text(
            json.dumps({"api_key": self.token, "start_date": self.start_date, "request_timeout": 300})
        )
        argv = [self.python, str(LAUNCHERS / self.launcher), "catalog", "--config", str(self.config), *SINGER_STREAMS]
        result = run_process(argv, self.env(base_url, 1.0), self.workdir, "catalog", 600)
        if result.returncode != 0:
            raise RuntimeError(f"singer catalog failed (exit {result.returncode}); see {self.workdir}/catalog.*")
        self.catalog.write_text((self.workdir / "catalog.out").read_text())

    def command(self, base_url: str, time_scale: float, extra: tuple[str, ...]) -> tuple[list[str], dict[str, str]]:
        """`launch_singer.py --config --properties [--state]`."""
        argv = [
            self.python,
            str(LAUNCHERS / self.launcher),
            "--config",
            str(self.config),
            "--properties",
            str(self.catalog),
        ]
        if self.state.exists():
            argv += ["--state", str(self.state)]
        return argv, self.env(base_url, time_scale)

    def read_message(self, message: dict[str, Any], delivery: Delivery, states: list[Any]) -> None:
        """RECORD of contacts/deals/owners/engagements; STATE values."""
        kind = message.get("type")
        if kind == "STATE":
            states.append(message["value"])
        elif kind == "RECORD":
            self._record(message["stream"], message["record"], delivery)

    @staticmethod
    def _record(stream: str, data: dict[str, Any], delivery: Delivery) -> None:
        if stream == "engagements":
            engagement = data.get("engagement") or {}
            object_type = SINGER_ENGAGEMENT_TYPES.get(str(engagement.get("type")), "other")
            contacts = (data.get("associations") or {}).get("contactIds") or []
            delivery.add(
                object_type,
                str(engagement.get("id")),
                Rec(to_ms(engagement.get("lastUpdated")), tuple(sorted(map(str, contacts)))),
            )
        elif stream == "deals":
            modified = ((data.get("properties") or {}).get("hs_lastmodifieddate") or {}).get("value")
            vids = (data.get("associations") or {}).get("associatedVids") or []
            delivery.add("deals", str(data.get("dealId")), Rec(to_ms(modified), tuple(sorted(map(str, vids)))))
        elif stream in ("contacts", "owners"):
            delivery.add(stream, str(data.get("id")), Rec(to_ms(data.get("updatedAt"))))

    def save_state(self, states: list[Any]) -> None:
        """Keep the last STATE value."""
        if states:
            self.state.write_text(json.dumps(states[-1]))

    def collect(self, run_name: str) -> Delivery:
        """Messages from stdout; CRITICAL log lines from stderr as errors."""
        delivery = super().collect(run_name)
        err = (self.workdir / f"{run_name}.err").read_text(errors="replace")
        delivery.errors += [line[:300] for line in err.splitlines() if line.startswith("CRITICAL")][:5]
        return delivery
