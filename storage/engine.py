"""Engine creation and automatic Alembic migrations for SQLite and PostgreSQL (psycopg 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event

from storage.locks import waiting_lock

log = structlog.get_logger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = "cycle"  # migrations run under the cycle lock: never beside a cycle, never twice at once
MIGRATION_WAIT_S = 600.0  # how long a start waits for a running cycle or another replica's migration
# libpq TCP keepalives: a connection whose peer vanished (failover, a NAT or load balancer that dropped it) is found
# dead within about a minute instead of the kernel's two hours; the cycle lock's connection relies on it.
PG_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever driver the URL names."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def _sqlite_pragmas(dbapi_conn: Any, _: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    # KPI recomputes join engagements by key at random: a page cache of up to 64 MB instead of SQLite's 2 MB default
    # cuts the join's time by more than half. (Memory-mapped reads would save another ~15 % of CPU, but they put the
    # whole database file into the worker's resident memory, which would then grow with the portal.)
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine for the store; SQLite gets WAL and a busy timeout so a reader never blocks the worker."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and ":memory:" not in path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            json_deserializer=orjson.loads,
            json_serializer=_json_text,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, **PG_KEEPALIVES},
        json_deserializer=orjson.loads,
        json_serializer=_json_text,
    )


def _json_text(value: object) -> str:
    """JSON columns' text, by orjson: the standard library's encoder cost seconds per 100k KPI rows."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def migrate(engine: Engine, *, wait_s: float = MIGRATION_WAIT_S) -> bool:
    """Bring the schema to the newest Alembic revision (runs on every start); returns whether it migrated.

    Only when a migration is pending does it take the cycle lock, waiting up to `wait_s` (raises
    storage.locks.LockTimeoutError after that), and look again under it: of several processes starting on an empty
    database at once, one migrates and the others wait, then find the schema current.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = set(ScriptDirectory.from_config(config).get_heads())
    if _current(engine) == head:
        return False
    with waiting_lock(engine, MIGRATION_LOCK, wait_s):
        if _current(engine) == head:
            return False
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    log.info("store_migrated", revision=",".join(sorted(head)))
    return True


def _current(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return set(MigrationContext.configure(conn).get_current_heads())


def open_store(url: str) -> Engine:
    """Engine plus migrations: what every command that touches the store calls first."""
    engine = make_engine(url)
    migrate(engine)
    return engine
