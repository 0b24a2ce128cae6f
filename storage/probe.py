"""Reach the store without changing it, for `kpi-sync doctor`: where it is (password masked), whether it answers and
may be written, and how far its schema is migrated. A failure names its cause by type (socket errors, SQLite's error
code, a second connection that tells a missing database from a refused user), never by the driver's message text,
which PostgreSQL translates into the server's language.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, create_engine, inspect, make_url, text
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from storage.engine import MIGRATIONS, normalise_url

PG_DEFAULT_PORT = 5432
MAINTENANCE_DATABASES = ("postgres", "template1")  # where a refused connection is asked again, to tell why


class StoreProblem(StrEnum):
    """Why the store cannot be used, grouped by what the user does about it."""

    DNS = "dns"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    AUTH = "auth"
    NO_DATABASE = "no_database"
    NO_ACCESS = "no_access"
    UNWRITABLE = "unwritable"
    OTHER = "other"


@dataclass(frozen=True)
class StoreProbe:
    """What the probe found: the URL as shown (password masked), the problem if any, the finding in words, and the
    schema's Alembic revision against the newest one this kpi-sync ships (`revision` None: no schema yet)."""

    url: str
    problem: StoreProblem | None = None
    detail: str = ""
    revision: str | None = None
    head: str | None = None


def masked_url(url: str) -> str:
    """The URL with its password replaced by `***`."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(DATABASE_URL is not a URL)"


def newest_revision() -> str | None:
    """The newest schema revision of this kpi-sync."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


def probe_store(url: str, timeout_s: float = 5.0) -> StoreProbe:
    """Connect to the store at `url`, read its schema revision and check it may be written; change nothing."""
    if url.startswith("sqlite"):
        return _probe_sqlite(url, timeout_s)
    return _probe_postgres(url, timeout_s)


# -- SQLite ----------------------------------------------------------------------------------------------------
def _probe_sqlite(url: str, timeout_s: float) -> StoreProbe:
    shown = masked_url(url)
    raw = url.removeprefix("sqlite:///")
    if not raw or raw == url or ":memory:" in raw:
        return StoreProbe(shown, detail="an in-memory SQLite store: nothing is kept between runs")
    path = Path(raw)
    if not path.exists():
        return _sqlite_to_create(shown, path)
    if not path.is_file():
        return StoreProbe(shown, StoreProblem.UNWRITABLE, f"{path} is not a file")
    # WAL keeps two files beside the database: its folder must be writable as well.
    if not os.access(path, os.R_OK | os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
        return StoreProbe(shown, StoreProblem.UNWRITABLE, f"{path} or its folder is not writable by this user")
    try:
        # mode=rw: an existing file only, never a new one
        with closing(sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=timeout_s)) as conn:
            conn.execute("BEGIN IMMEDIATE")  # takes the write lock: a read-only file or file system refuses it
            conn.rollback()
            revision = _sqlite_revision(conn)
    except sqlite3.Error as exc:
        name = getattr(exc, "sqlite_errorname", type(exc).__name__)
        problem = StoreProblem.UNWRITABLE if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) else None
        return StoreProbe(shown, problem or StoreProblem.OTHER, f"SQLite refused {path} ({name})")
    return StoreProbe(shown, detail=f"SQLite file {path}, writable", revision=revision, head=newest_revision())


def _sqlite_to_create(shown: str, path: Path) -> StoreProbe:
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return StoreProbe(shown, StoreProblem.UNWRITABLE, f"cannot create {path}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        return StoreProbe(shown, StoreProblem.UNWRITABLE, f"cannot create {path}: {folder} is not writable")
    return StoreProbe(shown, detail=f"{path} does not exist yet (a new store)", head=newest_revision())


def _sqlite_revision(conn: sqlite3.Connection) -> str | None:
    found = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone()
    if found is None:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return str(row[0]) if row else None


# -- PostgreSQL ------------------------------------------------------------------------------------------------
def _probe_postgres(url: str, timeout_s: float) -> StoreProbe:
    shown = masked_url(url)
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        return StoreProbe(shown, StoreProblem.OTHER, "DATABASE_URL is not a URL")
    where = f"{parsed.host or 'the local socket'}:{parsed.port or PG_DEFAULT_PORT}"
    if parsed.host and not parsed.host.startswith("/"):
        problem = _reach(parsed.host, parsed.port or PG_DEFAULT_PORT, timeout_s)
        if problem is not None:
            return StoreProbe(shown, problem[0], f"PostgreSQL at {where}: {problem[1]}")
    try:
        with _connect(parsed, timeout_s) as conn:
            revision = _pg_revision(conn)
            may_create = bool(conn.execute(text("SELECT has_schema_privilege(current_schema(), 'CREATE')")).scalar())
    except OperationalError:
        return _why_refused(shown, parsed, where, timeout_s)
    except SQLAlchemyError as exc:
        return StoreProbe(shown, StoreProblem.OTHER, f"PostgreSQL at {where} failed ({type(exc).__name__})")
    if revision is None and not may_create:
        detail = f"user {parsed.username!r} may not create tables in database {parsed.database!r}"
        return StoreProbe(shown, StoreProblem.UNWRITABLE, detail)
    detail = f"PostgreSQL database {parsed.database!r} at {where}, user {parsed.username!r}"
    return StoreProbe(shown, detail=detail, revision=revision, head=newest_revision())


def _reach(host: str, port: int, timeout_s: float) -> tuple[StoreProblem, str] | None:
    """A TCP connection to the server: the failure's cause by the socket error's type."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except socket.gaierror:
        return StoreProblem.DNS, f"the host name {host!r} did not resolve"
    except ConnectionRefusedError:
        return StoreProblem.REFUSED, "connection refused (no server listens on that port)"
    except TimeoutError:
        return StoreProblem.TIMEOUT, f"no answer within {timeout_s:g} s"
    except OSError as exc:
        return StoreProblem.OTHER, f"cannot connect ({type(exc).__name__})"
    return None


def _connect(url: URL, timeout_s: float) -> Connection:
    engine = create_engine(url, poolclass=NullPool, connect_args={"connect_timeout": max(1, round(timeout_s))})
    return engine.connect()


def _why_refused(shown: str, url: URL, where: str, timeout_s: float) -> StoreProbe:
    """The server answers but refused the connection: ask a maintenance database as the same user. If that works,
    the database is missing (or closed to the user); if not, the server refused the user."""
    for maintenance in MAINTENANCE_DATABASES:
        if maintenance == url.database:
            continue
        try:
            with _connect(url.set(database=maintenance), timeout_s) as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": url.database}
                ).first()
        except SQLAlchemyError:
            continue
        if exists is None:
            return StoreProbe(shown, StoreProblem.NO_DATABASE, f"database {url.database!r} does not exist at {where}")
        detail = f"user {url.username!r} may not connect to database {url.database!r} at {where}"
        return StoreProbe(shown, StoreProblem.NO_ACCESS, detail)
    detail = f"PostgreSQL at {where} refused user {url.username!r} (wrong password, unknown user, or pg_hba.conf)"
    return StoreProbe(shown, StoreProblem.AUTH, detail)


def _pg_revision(conn: Connection) -> str | None:
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
